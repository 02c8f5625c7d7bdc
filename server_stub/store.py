"""The embedded store: one SQLite database, in a file (durable) or in memory (throwaway).

Every request runs its rules atomically (a savepoint) in one thread, so concurrent requests are
serialised: two personalizations of one identity cannot both create a person, and the unique keys
below back that up even across processes sharing a file. Requests that arrive together share one
``BEGIN IMMEDIATE`` transaction (group commit), and none is answered before that transaction has
committed: a client never sees a write, its own or another's, that could still be lost. The file runs in WAL mode with
``synchronous=NORMAL``: an acknowledged write survives a crash or restart of the server process
(an operating-system crash may lose the last commits; README, "Choices").

Every read and every write goes through the store's API: :meth:`Store.atomic` for request
handlers on the event loop, :meth:`Store.transaction` for synchronous callers (start-up, tools,
tests). Nothing else uses the connection (``tests/server_stub/test_store_layers.py`` checks every
inspection route with a connection that refuses to be used outside these methods).

Reads join the group-commit batch, as writes do. A read runs under its savepoint in the open
batch (so it may see that batch's writes) and, like a write, is answered only once the batch has
committed; if the commit fails, the read fails with it. An error answer (``NOT_FOUND``, a refused
type...) waits for the commit too, since it may depend on another request's write in the batch.
So no answer, read or write, success or error, shows a write that could still be lost. The
alternative, a read in its own read transaction after the commits it must see, does not fit one
connection: while a batch is open that connection sees the batch's uncommitted writes, a
``:memory:`` database cannot have a second connection, and a read that waits for a commit can be
overtaken by the next batch. Joining costs a savepoint, and the read is answered with the
writes that arrived with it.
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
-- segments (server_stub/saved_segments.py, segments_sql.py): saved segments, the person tags
-- kept by triggers for tag conditions, App Launch windows, platform conditions
CREATE TABLE IF NOT EXISTS segments (
    account TEXT NOT NULL, key TEXT NOT NULL, name TEXT NOT NULL, query TEXT NOT NULL, created TEXT NOT NULL,
    PRIMARY KEY (account, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS person_tags (
    tag TEXT NOT NULL, person_id INTEGER NOT NULL, PRIMARY KEY (tag, person_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS person_tags_person ON person_tags (person_id);
CREATE TRIGGER IF NOT EXISTS person_tags_insert AFTER INSERT ON persons BEGIN
    INSERT OR IGNORE INTO person_tags SELECT value, new.id FROM json_each(new.data, '$.tags') WHERE type = 'text';
END;
CREATE TRIGGER IF NOT EXISTS person_tags_update AFTER UPDATE OF data ON persons
WHEN json_extract(old.data, '$.tags') IS NOT json_extract(new.data, '$.tags') BEGIN
    DELETE FROM person_tags WHERE person_id = old.id;
    INSERT OR IGNORE INTO person_tags SELECT value, new.id FROM json_each(new.data, '$.tags') WHERE type = 'text';
END;
CREATE TRIGGER IF NOT EXISTS person_tags_delete AFTER DELETE ON persons BEGIN
    DELETE FROM person_tags WHERE person_id = old.id;
END;
INSERT OR IGNORE INTO person_tags SELECT j.value, p.id FROM persons p, json_each(p.data, '$.tags') j
    WHERE j.type = 'text' AND NOT EXISTS (SELECT 1 FROM meta WHERE key = 'person_tags');
INSERT OR IGNORE INTO meta VALUES ('person_tags', 'filled');
CREATE INDEX IF NOT EXISTS events_segments ON events (account, lower(definition_id), person_id, occurred);
CREATE INDEX IF NOT EXISTS installations_platform ON installations (platform, state, person_id, app_code);
CREATE INDEX IF NOT EXISTS installations_segments ON installations (person_id, state, app_code);
-- messaging (server_stub/rules/messages.py): times are epoch milliseconds
CREATE TABLE IF NOT EXISTS api_keys (key TEXT PRIMARY KEY, account TEXT NOT NULL, created TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS bulks (
    bulk_id TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    app_code TEXT,
    created INTEGER NOT NULL,
    send_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    request TEXT NOT NULL,
    target TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS bulks_account ON bulks (account, created);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL UNIQUE,
    bulk_id TEXT NOT NULL,
    account TEXT NOT NULL,
    app_code TEXT NOT NULL,
    reg_id TEXT,
    platform TEXT,
    push_token TEXT,
    route INTEGER,
    person_id INTEGER,
    destination TEXT NOT NULL,
    payload TEXT NOT NULL,
    extra TEXT NOT NULL,
    created INTEGER NOT NULL,
    send_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    deliver_at INTEGER NOT NULL,
    handed_at INTEGER,
    delivered_at INTEGER,
    seen_at INTEGER,
    opened_at INTEGER,
    done_at INTEGER,
    status TEXT NOT NULL,
    error TEXT,
    reported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_queue ON messages (app_code, deliver_at)
    WHERE status='PENDING' AND handed_at IS NULL AND route IS NOT NULL;
CREATE INDEX IF NOT EXISTS messages_reg ON messages (reg_id, send_at);
CREATE INDEX IF NOT EXISTS messages_bulk ON messages (bulk_id);
CREATE INDEX IF NOT EXISTS messages_account ON messages (account);
CREATE INDEX IF NOT EXISTS messages_pending ON messages (expires_at) WHERE status='PENDING';
CREATE INDEX IF NOT EXISTS messages_reports ON messages (account, done_at) WHERE reported=0 AND done_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS mo_messages (
    seq INTEGER PRIMARY KEY,
    account TEXT NOT NULL,
    app_code TEXT NOT NULL,
    reg_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    received INTEGER NOT NULL,
    reported INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS mo_pending ON mo_messages (account, seq) WHERE reported=0;
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
    "segments",
    "person_tags",
    "bulks",
    "messages",
    "mo_messages",
)


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


class Store:
    """A SQLite connection with the schema, a re-entrant lock and one-transaction-per-call helpers.

    ``db`` is the connection. Only the store's methods use it while the server runs (tools may read
    it, e.g. a PRAGMA, once nothing is running); everything else hands ``work`` to :meth:`atomic`
    or opens :meth:`transaction`, and gets the connection there.
    """

    hold: asyncio.Event | None = None
    """Test seam: while this is an :class:`asyncio.Event` that is not set, the open group-commit
    batch does not commit (requests keep joining it and none is answered); it commits once the
    event is set. ``None`` (the default) costs one attribute read per batch."""

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
        self._idle = threading.Condition(self._lock)
        """Notified when a batch has committed (a synchronous transaction waits for that)."""
        self._owner: int | None = None
        """The thread inside a unit of work (it holds the lock), else None."""
        self._batch: asyncio.Future[None] | None = None
        self._batch_thread: int | None = None
        self._held: asyncio.Task[None] | None = None

    def _check_version(self) -> None:
        row = self.db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is None:
            self.db.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise RuntimeError(
                f"{self.path} holds schema version {row[0]}; this mobsim reads version {SCHEMA_VERSION}. "
                "Start with a new --db file or --memory."
            )

    def holds_connection(self) -> bool:
        """Whether the calling thread is inside one of the store's units of work (the only place the
        connection may be used; a test guard asks this)."""
        return self._owner == threading.get_ident()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit for synchronous callers: committed when the block ends, rolled back when it raises.

        Inside another unit of this thread (a transaction, or the work of :meth:`atomic`) it joins
        that unit. Otherwise it first waits for an open group-commit batch to commit, so it never
        sees a write that could still be lost; on the event loop that owns the batch it cannot
        wait, and raises ``RuntimeError`` (use :meth:`atomic` there).
        """
        me = threading.get_ident()
        with self._idle:
            if self._owner == me:
                yield self.db
                return
            while self._batch is not None:
                if self._batch_thread == me:
                    raise RuntimeError("a group-commit batch is open on this thread's event loop: use Store.atomic")
                self._idle.wait()
            self._owner = me
            try:
                self.db.execute("BEGIN IMMEDIATE")
                try:
                    yield self.db
                except BaseException:
                    self.db.execute("ROLLBACK")
                    raise
                try:
                    self.db.execute("COMMIT")
                except sqlite3.Error:
                    if self.db.in_transaction:
                        self.db.execute("ROLLBACK")
                    raise
            finally:
                self._owner = None

    async def atomic(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` atomically in the current group-commit batch; return once the batch committed.

        Reads and writes alike. ``work`` runs at once, under a savepoint: if it raises, only its own
        changes are undone, and the exception propagates once the batch has committed (an error may
        depend on another request's write in the batch). The batch commits on the next turn of the
        event loop, after every request that was ready in this turn has run; if that commit fails,
        every request of the batch gets the commit's error instead of its answer.
        """
        loop = asyncio.get_running_loop()
        failure: Exception | None = None
        with self._lock:
            outer, self._owner = self._owner, threading.get_ident()
            try:
                if self._batch is None:
                    self.db.execute("BEGIN IMMEDIATE")
                    self._batch = loop.create_future()
                    self._batch_thread = self._owner
                    loop.call_soon(self._commit_batch)
                batch = self._batch
                self.db.execute("SAVEPOINT request")
                try:
                    result = work(self.db)
                except BaseException as exc:
                    self.db.execute("ROLLBACK TO request")
                    self.db.execute("RELEASE request")
                    if not isinstance(exc, Exception):
                        raise
                    failure = exc
                else:
                    self.db.execute("RELEASE request")
            finally:
                self._owner = outer
        await asyncio.shield(batch)
        if failure is not None:
            raise failure
        return result

    def _commit_batch(self) -> None:
        hold = self.hold
        if hold is not None and not hold.is_set():
            self._held = asyncio.get_running_loop().create_task(self._commit_when(hold))
            return
        with self._idle:
            self._owner = threading.get_ident()
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
                self._owner = self._batch_thread = None
                self._idle.notify_all()

    async def _commit_when(self, hold: asyncio.Event) -> None:
        await hold.wait()
        self._commit_batch()

    @staticmethod
    def clear(db: sqlite3.Connection) -> None:
        """Delete every profile, event and definition; applications stay."""
        for table in _TABLES[1:]:
            db.execute(f"DELETE FROM {table}")

    def reset(self) -> None:
        with self.transaction() as db:
            self.clear(db)

    def close(self) -> None:
        with self._lock:
            self._owner = threading.get_ident()
            try:
                self.db.close()
            finally:
                self._owner = None
