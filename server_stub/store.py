"""The embedded store: one SQLite database, in a file (durable) or in memory (throwaway).

Every request runs its rules atomically (a savepoint) in one thread, so concurrent requests are
serialised: two personalizations of one identity cannot both create a person, and the unique keys
below back that up even across processes sharing a file. Requests that arrive together share one
``BEGIN IMMEDIATE`` transaction (group commit), and none is answered before that transaction has
committed: a client never sees a write, its own or another's, that could still be lost. The file runs in WAL mode with
``synchronous=NORMAL``: an acknowledged write survives a crash or restart of the server process
(an operating-system crash may lose the last commits; README, "Choices").
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

__all__ = ["SCHEMA_VERSION", "Store"]

T = TypeVar("T")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS applications (
    code TEXT PRIMARY KEY, name TEXT NOT NULL, account TEXT NOT NULL, created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS installations (
    reg_id TEXT PRIMARY KEY,
    app_code TEXT NOT NULL,
    person_id INTEGER,
    state TEXT NOT NULL DEFAULT 'active',
    platform TEXT NOT NULL,
    installation_id TEXT,
    is_primary INTEGER NOT NULL DEFAULT 0,
    data TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS installations_person ON installations (person_id);
CREATE INDEX IF NOT EXISTS installations_app ON installations (app_code);
CREATE TABLE IF NOT EXISTS persons (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS persons_account ON persons (account, id);
CREATE TABLE IF NOT EXISTS identities (
    account TEXT NOT NULL,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    person_id INTEGER NOT NULL,
    display TEXT NOT NULL,
    UNIQUE (account, kind, value)
);
CREATE INDEX IF NOT EXISTS identities_person ON identities (person_id);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    person_id INTEGER,
    reg_id TEXT,
    app_code TEXT,
    definition_id TEXT NOT NULL,
    occurred TEXT NOT NULL,
    properties TEXT,
    received TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_person ON events (person_id);
CREATE INDEX IF NOT EXISTS events_reg ON events (reg_id);
CREATE INDEX IF NOT EXISTS events_definition ON events (account, definition_id);
CREATE TABLE IF NOT EXISTS sessions (
    reg_id TEXT NOT NULL, start TEXT NOT NULL, "end" TEXT,
    PRIMARY KEY (reg_id, start)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS event_definitions (
    account TEXT NOT NULL,
    definition_id TEXT NOT NULL,
    key TEXT NOT NULL,
    title TEXT,
    description TEXT,
    fields TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (account, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rejected_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    account TEXT NOT NULL,
    reg_id TEXT,
    definition_id TEXT,
    reason TEXT NOT NULL,
    received TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS attribute_types (
    account TEXT NOT NULL, scope TEXT NOT NULL, name TEXT NOT NULL, type TEXT NOT NULL,
    PRIMARY KEY (account, scope, name)
) WITHOUT ROWID;
"""

_TABLES = (
    "applications",
    "installations",
    "persons",
    "identities",
    "events",
    "sessions",
    "event_definitions",
    "rejected_events",
    "attribute_types",
)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Store:
    """A SQLite connection with the schema, a re-entrant lock and one-transaction-per-call helpers."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else ":memory:"
        self.durable = path is not None
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.row_factory = sqlite3.Row
        if self.durable:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            # Fewer, larger WAL checkpoints and a page cache that holds the working set: the file
            # store then costs little more per request than the memory one (bench/server.py).
            self.db.execute("PRAGMA wal_autocheckpoint=10000")
            self.db.execute("PRAGMA cache_size=-65536")
        self.db.execute("PRAGMA foreign_keys=OFF")
        self.db.executescript(_SCHEMA)
        self._check_version()
        self._lock = threading.RLock()
        self._depth = 0
        self._batch: asyncio.Future[None] | None = None

    def _check_version(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} holds schema version {row[0]}; this mobsim reads version {SCHEMA_VERSION}. "
                "Start with a new --db file or --memory."
            )

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit: committed when the block ends, rolled back when it raises."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self.db
                finally:
                    self._depth -= 1
                return
            self.db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            else:
                self.db.execute("COMMIT")
            finally:
                self._depth = 0

    async def atomic(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` atomically in the current group-commit batch; return once the batch committed.

        ``work`` runs at once, under a savepoint: if it raises, only its own changes are undone and
        the exception propagates without waiting. The batch commits on the next turn of the event
        loop, after every request that was ready in this turn has run.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._batch is None:
                self.db.execute("BEGIN IMMEDIATE")
                self._depth = 1
                self._batch = loop.create_future()
                loop.call_soon(self._commit_batch)
            batch = self._batch
            self.db.execute("SAVEPOINT request")
            try:
                result = work(self.db)
            except BaseException:
                self.db.execute("ROLLBACK TO request")
                self.db.execute("RELEASE request")
                raise
            self.db.execute("RELEASE request")
        await asyncio.shield(batch)
        return result

    def _commit_batch(self) -> None:
        with self._lock:
            batch, self._batch = self._batch, None
            assert batch is not None
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.db.in_transaction:
                    self.db.execute("ROLLBACK")
                batch.set_exception(exc)
            else:
                batch.set_result(None)
            finally:
                self._depth = 0

    @staticmethod
    def clear(db: sqlite3.Connection) -> None:
        """Delete every profile, event and definition; applications stay."""
        for table in _TABLES[1:]:
            db.execute(f"DELETE FROM {table}")

    def reset(self) -> None:
        with self.transaction() as db:
            self.clear(db)

    def close(self) -> None:
        self.db.close()
