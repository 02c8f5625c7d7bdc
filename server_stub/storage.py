"""What can go wrong with the database file, and what the server says then (server_stub/store.py).

- **At start** a file that cannot serve is refused with one line naming the file and the fix
  (:class:`StoreUnusable`, a ``RuntimeError``: ``mobsim serve`` prints it and exits 2): another
  server holds it (:class:`FileLock` on ``F.lock``), it or its directory is read-only, it is not
  a database or is damaged, or it holds a newer schema.
- **While serving** a storage error (a full disk, an I/O error, a read-only file, a lock held by
  another program) answers 503 with ``Retry-After`` and the SDKs' error envelope
  (:class:`StorageUnavailable`): nothing of the request was kept, and the device keeps its data
  and sends it again (docs/serve.md, "Storage failures").
- An inspection query over its time budget answers 422 (:class:`QueryTooExpensive`).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
from pathlib import Path

from contract import ErrorCode

from .errors import ApiError

__all__ = [
    "RETRY_AFTER",
    "FileLock",
    "QueryTooExpensive",
    "StorageUnavailable",
    "StoreUnusable",
    "error_code",
    "is_storage_error",
    "unusable",
]

RETRY_AFTER = 5
"""Seconds a client is asked to wait after a 503 (``Retry-After``)."""

_STORAGE = frozenset(
    {
        sqlite3.SQLITE_PERM,
        sqlite3.SQLITE_BUSY,
        sqlite3.SQLITE_LOCKED,
        sqlite3.SQLITE_NOMEM,
        sqlite3.SQLITE_READONLY,
        sqlite3.SQLITE_IOERR,
        sqlite3.SQLITE_CORRUPT,
        sqlite3.SQLITE_FULL,
        sqlite3.SQLITE_CANTOPEN,
        sqlite3.SQLITE_PROTOCOL,
        sqlite3.SQLITE_NOTADB,
    }
)
"""Primary result codes that are about the file, the disk or the machine, not about a statement."""


class StoreUnusable(RuntimeError):
    """The database file cannot serve: the text is one line naming the file and the fix."""


class StorageUnavailable(ApiError):
    """A storage error while serving: 503, ``Retry-After``, the SDKs' envelope (``INTERNAL_ERROR``).

    Both SDKs read any status from 500 on as the server's failure and keep what they could not
    report (docs/serve.md, "Storage failures")."""

    def __init__(self, exc: sqlite3.Error) -> None:
        name = getattr(exc, "sqlite_errorname", None) or type(exc).__name__
        super().__init__(
            ErrorCode.INTERNAL_ERROR,
            f"the server cannot use its database now ({exc}, {name}); nothing of this request was kept: "
            f"send it again in {RETRY_AFTER} s",
            status=503,
        )
        self.headers["Retry-After"] = str(RETRY_AFTER)


class QueryTooExpensive(ApiError):
    """An inspection query stopped at its time budget: 422 with how to narrow it."""

    def __init__(self, budget: float) -> None:
        super().__init__(
            ErrorCode.REQUEST_FORMAT_INVALID,
            f"the query ran over its {budget:g} s budget and was stopped: narrow it (fewer conditions and "
            "#or branches; a condition on externalUserId, tags, platform or a saved segment's attribute, which "
            "have indexes; shorter event windows) or ask for fewer at a time (limit)",
            status=422,
        )


def error_code(exc: BaseException) -> int | None:
    """SQLite's primary result code of an error raised by the sqlite3 module (None for others)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def is_storage_error(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) and error_code(exc) in _STORAGE


def unusable(path: str, exc: sqlite3.Error) -> StoreUnusable:
    """The start-up refusal for an error opening ``path``: what is wrong and what to do."""
    code = error_code(exc)
    if code in (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_CANTOPEN):
        return StoreUnusable(
            f"cannot write the database {path} ({exc}): make the file and its directory writable (SQLite "
            f"keeps {Path(path).name}-wal and -shm beside it), or start with another --db file"
        )
    if code in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return StoreUnusable(
            f"{path} is not a usable database ({exc}): move it away and start with a new --db file "
            "(or repair a copy with the sqlite3 shell's .recover)"
        )
    if code == sqlite3.SQLITE_FULL:
        return StoreUnusable(f"the disk of {path} is full: free some space, or start with --db on another disk")
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreUnusable(f"{path} is locked by another program ({exc}): stop it, or start with another --db file")
    return StoreUnusable(f"cannot open the database {path}: {exc}")


class FileLock:
    """An exclusive ``flock`` on ``<database>.lock``, held while a store has the file open.

    A second server on the same file is refused at start; the lock goes with the process (a crash
    releases it too), and tools that read the file (the sqlite3 shell, a copy, a second Store once
    the server stopped) never take it. ``F.lock`` (not ``F`` itself): closing any descriptor of the
    database file would drop SQLite's own POSIX locks of this process, and flock on NFS is emulated
    with the same byte-range locks SQLite uses. The lock file stays on disk (removing it would let
    two processes lock two different files of one name); it holds the owner's process id.
    """

    def __init__(self, database: str) -> None:
        self.path = f"{database}.lock"
        try:
            self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreUnusable(
                f"cannot create the lock file {self.path} ({exc.strerror}): make the directory of {database} "
                "writable, or start with another --db file"
            ) from None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.pread(self._fd, 32, 0).decode("ascii", "replace").strip()
            os.close(self._fd)
            self._fd = None
            held = f" (process {owner})" if owner.isdigit() else ""
            raise StoreUnusable(
                f"{database} is in use by another mobsim server{held}: stop that server first, or start this "
                "one with another --db file (two servers on one file would disagree about what it holds)"
            ) from None
        with contextlib.suppress(OSError):
            os.ftruncate(self._fd, 0)
            os.pwrite(self._fd, f"{os.getpid()}\n".encode("ascii"), 0)

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the only descriptor releases the flock
            self._fd = None
