"""The embedded store: one SQLite database, in a file (durable) or in memory (throwaway).

Every request runs its rules atomically (a savepoint) in one thread, so concurrent requests are
serialised: two personalizations of one identity cannot both create a person, and the unique keys
(server_stub/schema.py) back that up. Requests that arrive together share one ``BEGIN IMMEDIATE``
transaction (group commit), and none is answered before that transaction has committed: a client
never sees a write, its own or another's, that could still be lost. The file runs in WAL mode with
``synchronous=NORMAL``: an acknowledged write survives a crash or restart of the server process
(an operating-system crash may lose the last commits; README, "Choices"). One server holds a file
at a time (``F.lock``, server_stub/storage.py); closing the store checkpoints the WAL into the file,
so that a copy of the ``.db`` alone holds everything.

Every read and every write goes through the store's API: :meth:`Store.atomic` for request
handlers on the event loop, :meth:`Store.read` for the inspection API's read-only queries,
:meth:`Store.transaction` for synchronous callers (start-up, tools, tests). Nothing else uses the
connections (``tests/server_stub/test_store_layers.py`` checks every inspection route with a
connection that refuses to be used outside these methods).

Reads of :meth:`atomic` join the group-commit batch, as writes do. Such a read runs under its
savepoint in the open batch (so it may see that batch's writes) and, like a write, is answered only
once the batch has committed; if the commit fails, the read fails with it. An error answer
(``NOT_FOUND``, a refused type...) waits for the commit too, since it may depend on another
request's write in the batch. So no answer, read or write, success or error, shows a write that
could still be lost. Joining costs a savepoint, and the read is answered with the writes that
arrived with it.

:meth:`read` is for the inspection API's queries, which may be heavy (a person query over the
whole audience). On a file it runs in a worker thread on a read-only connection of its own, in one
read transaction: the event loop, and every other request, go on while it runs. That read sees
exactly the committed writes, and every answered write has committed (answers wait for their
commit), so a read started after an answer shows that answer's write, and it never shows a write
of a batch that has not committed: the rule above holds without joining the batch. (On one
connection it could not: while a batch is open that connection sees the batch's uncommitted
writes.) A ``:memory:`` database cannot have a second connection, so in memory :meth:`read` joins
the batch like :meth:`atomic`, on the event loop; its bounds are the query limits
(server_stub/segment_query.py) and the time budget. Every :meth:`read` has a time budget
(``query_budget``, 2 s): SQLite's progress handler stops a statement over it, and the request is
answered 422 (:class:`~server_stub.storage.QueryTooExpensive`).

A storage error (a full disk, an I/O error, a read-only file) answers 503 with ``Retry-After``
(:class:`~server_stub.storage.StorageUnavailable`) and nothing of that request is kept. When SQLite
has rolled the whole batch back (it does on a full disk), every request of the batch gets that
answer, and the next request starts a new batch. ``failure`` says what failed until a write
commits again (``GET /health`` shows it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from contract.codec import compact_encoder

from .schema import SCHEMA, SCHEMA_VERSION, TABLES
from .storage import (
    FileLock,
    QueryTooExpensive,
    StorageUnavailable,
    StoreUnusable,
    error_code,
    is_storage_error,
    unusable,
)

__all__ = ["QUERY_BUDGET", "READERS", "SCHEMA_VERSION", "Store", "dumps"]

T = TypeVar("T")
log = logging.getLogger("mobsim.server")

QUERY_BUDGET = 2.0
"""Seconds an inspection query (:meth:`Store.read`) may run before SQLite stops it."""
READERS = 4
"""Worker threads (each with its read-only connection) for :meth:`Store.read` on a file."""


_ENCODE = compact_encoder()


def dumps(value: Any) -> str:
    """Compact JSON (``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``'s text) with
    the encoder built once: a row's data is written on most Mobile API calls."""
    return _ENCODE(value)


class Store:
    """A SQLite connection with the schema, a re-entrant lock and one-transaction-per-call helpers.

    ``db`` is the connection. Only the store's methods use it while the server runs (tools may read
    it, e.g. a PRAGMA, once nothing is running); everything else hands ``work`` to :meth:`atomic`
    or :meth:`read`, or opens :meth:`transaction`, and gets a connection there.

    A file that cannot serve (held by another server, read-only, not a database, a newer schema)
    raises :class:`~server_stub.storage.StoreUnusable` (a ``RuntimeError``) with a one-line text.
    """

    hold: asyncio.Event | None = None
    """Test seam: while this is an :class:`asyncio.Event` that is not set, the open group-commit
    batch does not commit (requests keep joining it and none is answered); it commits once the
    event is set. ``None`` (the default) costs one attribute read per batch."""

    progress_steps = 1000
    """SQLite virtual-machine steps between two looks at the budget."""

    def __init__(self, path: str | Path | None = None, *, query_budget: float = QUERY_BUDGET) -> None:
        self.path = str(path) if path is not None else ":memory:"
        self.durable = path is not None
        self.query_budget = query_budget
        """Seconds a :meth:`read` may run (SQLite stops it then: 422)."""
        self.clock: Callable[[], float] = time.monotonic
        """The clock of the query budget, read by SQLite's progress handler in the thread running the
        query (test seam: a clock that jumps ends a query; one that blocks makes it slow)."""
        self.failure: str | None = None
        """The last storage error, until a write commits again (``GET /health`` answers 503 meanwhile)."""
        self._file_lock = FileLock(self.path) if self.durable else None
        try:
            self.db = self._open()
        except BaseException:
            if self._file_lock is not None:
                self._file_lock.release()
            raise
        self._lock = threading.RLock()
        self._idle = threading.Condition(self._lock)
        """Notified when a batch has committed (a synchronous transaction waits for that)."""
        self._owner: int | None = None
        """The thread inside a unit of work (it holds the lock), else None."""
        self._batch: asyncio.Future[None] | None = None
        self._batch_thread: int | None = None
        self._wrote = False
        """Whether a unit of the open batch changed rows (its commit then ends a ``failure``)."""
        self._held: asyncio.Task[None] | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self._readers_lock = threading.Lock()
        self._closed = False

    # --- opening ------------------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        """The connection with the schema, after the start-up checks (one-line refusals)."""
        try:
            db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise unusable(self.path, exc) from None
        try:
            db.row_factory = sqlite3.Row
            if self.durable:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                # Fewer, larger WAL checkpoints and a page cache that holds the working set: the file
                # store then costs little more per request than the memory one (bench/server.py).
                db.execute("PRAGMA wal_autocheckpoint=10000")
                db.execute("PRAGMA cache_size=-65536")
            db.execute("PRAGMA foreign_keys=OFF")
            self._check_version(db)
            db.executescript(SCHEMA)
            db.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            if self.durable:  # a write, so that a file that cannot take one is refused now
                db.execute("BEGIN IMMEDIATE")
                db.execute("UPDATE meta SET value=value WHERE key='schema_version'")
                db.execute("COMMIT")
        except sqlite3.Error as exc:
            db.close()
            raise unusable(self.path, exc) from None
        except BaseException:
            db.close()
            raise
        return db

    def _check_version(self, db: sqlite3.Connection) -> None:
        """Refuse a file of another schema version before the schema script touches it."""
        if db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'").fetchone() is None:
            return
        row = db.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
        if row is not None and str(row[0]) != str(SCHEMA_VERSION):
            raise StoreUnusable(
                f"{self.path} holds schema version {str(row[0])[:20]}; this mobsim reads version {SCHEMA_VERSION}: "
                "start with a new --db file or --memory, or use the mobsim that wrote it"
            )

    def holds_connection(self) -> bool:
        """Whether the calling thread is inside one of the store's units of work (the only place the
        connection may be used; a test guard asks this)."""
        return self._owner == threading.get_ident()

    # --- synchronous callers -----------------------------------------------------------------
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
                    if self.db.in_transaction:  # SQLite may have rolled back itself (a full disk)
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

    # --- request handlers: the group-commit batch ---------------------------------------------
    async def atomic(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` atomically in the current group-commit batch; return once the batch committed.

        Reads and writes alike. ``work`` runs at once, under a savepoint: if it raises, only its own
        changes are undone, and the exception propagates once the batch has committed (an error may
        depend on another request's write in the batch). The batch commits on the next turn of the
        event loop, after every request that was ready in this turn has run; if that commit fails,
        every request of the batch gets the commit's error instead of its answer (a storage error:
        :class:`~server_stub.storage.StorageUnavailable`, 503).
        """
        loop = asyncio.get_running_loop()
        failure: Exception | None = None
        with self._lock:
            outer, self._owner = self._owner, threading.get_ident()
            try:
                batch = self._join(loop)
                try:
                    before = self.db.total_changes
                    self.db.execute("SAVEPOINT request")
                    try:
                        result = work(self.db)
                    except BaseException as exc:
                        self._undo(batch, exc)
                        if not isinstance(exc, Exception):
                            raise
                        failure = exc
                    else:
                        self.db.execute("RELEASE request")
                        self._wrote = self._wrote or self.db.total_changes != before
                except sqlite3.Error as exc:  # the savepoint itself failed: the batch cannot be trusted
                    self._abandon(batch, exc)
            finally:
                self._owner = outer
        await asyncio.shield(batch)
        if failure is not None:
            raise self._failed(failure)
        return result

    def _join(self, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """The open batch, begun now if there is none (a storage error there: 503)."""
        if self._batch is None:
            try:
                self.db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._failed(exc) from None
            self._batch = loop.create_future()
            self._batch_thread = self._owner
            self._wrote = False
            loop.call_soon(self._commit_batch, self._batch)
        return self._batch

    def _undo(self, batch: asyncio.Future[None], exc: BaseException) -> None:
        """Undo one unit's changes; if SQLite rolled the whole batch back (a full disk), end the batch."""
        if not self.db.in_transaction:
            self._abandon(batch, exc)
            return
        try:
            self.db.execute("ROLLBACK TO request")
            self.db.execute("RELEASE request")
        except sqlite3.Error as error:
            self._abandon(batch, error)

    def _abandon(self, batch: asyncio.Future[None], exc: BaseException) -> None:
        """The batch's transaction is gone (or must go): roll back, and fail every request of it."""
        if self.db.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                self.db.execute("ROLLBACK")
        if self._batch is batch:
            self._batch = self._batch_thread = None
            self._wrote = False
            self._idle.notify_all()
        if not batch.done():
            error = self._failed(exc) if isinstance(exc, Exception) else exc
            if not isinstance(error, StorageUnavailable):
                error = RuntimeError(f"a request's batch was rolled back: {type(exc).__name__}: {exc}")
            batch.set_exception(error)

    def _commit_batch(self, batch: asyncio.Future[None]) -> None:
        if self._batch is not batch:
            return  # abandoned: its requests have their answer
        hold = self.hold
        if hold is not None and not hold.is_set():
            self._held = asyncio.get_running_loop().create_task(self._commit_when(hold, batch))
            return
        with self._idle:
            self._owner = threading.get_ident()
            self._batch = None
            wrote, self._wrote = self._wrote, False
            try:
                self.db.execute("COMMIT")
            except sqlite3.Error as exc:
                if self.db.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        self.db.execute("ROLLBACK")
                batch.set_exception(self._failed(exc))
            else:
                if wrote and self.failure is not None:
                    log.warning("the store writes again (after: %s)", self.failure)
                    self.failure = None
                batch.set_result(None)
            finally:
                self._owner = self._batch_thread = None
                self._idle.notify_all()

    async def _commit_when(self, hold: asyncio.Event, batch: asyncio.Future[None]) -> None:
        await hold.wait()
        self._commit_batch(batch)

    def _failed(self, exc: Exception) -> Exception:
        """A storage error as the 503 a client gets (and noted in ``failure``); others as they are."""
        if not is_storage_error(exc):
            return exc
        if self.failure is None:  # the first failure is kept, with its time
            log.error("the store cannot use %s: %s", self.path, exc)
            name = getattr(exc, "sqlite_errorname", "")
            self.failure = f"{exc} ({name}) since {datetime.now(UTC).isoformat(timespec='seconds')}"
        assert isinstance(exc, sqlite3.Error)
        return StorageUnavailable(exc)

    # --- the inspection API's queries ---------------------------------------------------------
    async def read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run read-only ``work`` within the time budget (over it: ``QueryTooExpensive``, 422).

        On a file: in a worker thread, on a read-only connection, in one read transaction that sees
        every committed write (the event loop goes on meanwhile). In memory: as :meth:`atomic`.
        """
        if not self.durable:
            return await self.atomic(lambda db: self._budgeted(db, work))
        pool = self._pool or self._start_readers()
        return await asyncio.get_running_loop().run_in_executor(pool, self._read, work)

    def _start_readers(self) -> ThreadPoolExecutor:
        with self._readers_lock:
            if self._closed:
                raise RuntimeError(f"the store of {self.path} is closed")
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=READERS, thread_name_prefix="mobsim-read")
            return self._pool

    def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        db = self._reader()
        try:
            db.execute("BEGIN")
            return self._budgeted(db, work)
        except sqlite3.Error as exc:
            if error_code(exc) == sqlite3.SQLITE_READONLY:
                raise  # a write on the read path: a bug, not the disk
            raise self._failed(exc) from None
        finally:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")

    def _reader(self) -> sqlite3.Connection:
        """This worker thread's read-only connection."""
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            uri = f"{Path(self.path).resolve().as_uri()}?mode=ro"
            db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            with self._readers_lock:
                self._readers.append(db)
            self._local.db = db
        return db

    def _budgeted(self, db: sqlite3.Connection, work: Callable[[sqlite3.Connection], T]) -> T:
        budget = self.query_budget
        clock = self.clock
        deadline = clock() + budget
        db.set_progress_handler(lambda: clock() > deadline, self.progress_steps)
        try:
            return work(db)
        except sqlite3.OperationalError as exc:
            if error_code(exc) == sqlite3.SQLITE_INTERRUPT:
                raise QueryTooExpensive(budget) from None
            raise
        finally:
            db.set_progress_handler(None, 0)

    # --- maintenance --------------------------------------------------------------------------
    @staticmethod
    def clear(db: sqlite3.Connection) -> None:
        """Delete every profile, event and definition; applications stay."""
        for table in TABLES[1:]:
            db.execute(f"DELETE FROM {table}")

    def reset(self) -> None:
        with self.transaction() as db:
            self.clear(db)

    def close(self) -> None:
        """Finish the queries under way, checkpoint the WAL into the file (a copy of the ``.db``
        alone then holds everything), close every connection and release the file's lock."""
        with self._readers_lock:
            if self._closed:
                return
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True)
        for reader in self._readers:
            reader.close()
        with self._lock:
            self._owner = threading.get_ident()
            try:
                if self.durable:
                    try:
                        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    except sqlite3.Error as exc:
                        log.warning("could not checkpoint %s on close: %s", self.path, exc)
                self.db.close()
            finally:
                self._owner = None
                if self._file_lock is not None:
                    self._file_lock.release()
