"""Which connection each attempt of a request went out on, in a geventhttpclient pool.

The SDKs' HTTP clients send a request again, once, when the *reused* keep-alive connection it went
out on broke before any answer (OkHttp's ``retryOnConnectionFailure``; URLSession for idempotent
methods): the server closed an idle connection just as the request was written. To do the same,
the Locust transport must know whether the connection was a pooled one, which geventhttpclient does
not say. :class:`ConnectionWatch` wraps one pool's ``get_socket`` and ``_create_socket`` (on that
instance only) and records, per greenlet, for each attempt of the request in progress whether its
socket was taken from the pool or newly connected.

geventhttpclient itself makes a second attempt at an idempotent request whose connection closed
before any answer, on any connection and up to the pool's size + 1 times. While a request is
watched, that second attempt raises :class:`AnotherAttempt` (a ``HTTPConnectionClosed``) instead,
so the transport's one rule decides for every method. Requests sent outside
:meth:`ConnectionWatch.begin` / :meth:`ConnectionWatch.end` are left as geventhttpclient sends them.
"""

from __future__ import annotations

import logging
from typing import Any

import gevent
from geventhttpclient.response import HTTPConnectionClosed

__all__ = ["AnotherAttempt", "ConnectionWatch", "watch_of"]

log = logging.getLogger("mobsim.scenarios")
_WARNED: list[str] = []


class AnotherAttempt(HTTPConnectionClosed):
    """geventhttpclient was about to send a watched request again after its connection closed
    before any answer: the first attempt's failure, handed to the transport instead."""


class ConnectionWatch:
    """Per greenlet, for the request in progress: one flag per attempt, True when its socket was
    newly connected, False when it came from the pool (a reused keep-alive connection)."""

    __slots__ = ("_attempts",)

    def __init__(self, pool: Any) -> None:
        self._attempts: dict[Any, list[bool]] = {}
        get_socket, create_socket = pool.get_socket, pool._create_socket

        def watched_get_socket() -> Any:
            attempts = self._attempts.get(gevent.getcurrent())
            if attempts is not None:
                if attempts:
                    raise AnotherAttempt("connection closed.")
                attempts.append(False)
            return get_socket()

        def watched_create_socket() -> Any:
            attempts = self._attempts.get(gevent.getcurrent())
            if attempts:
                attempts[-1] = True
            return create_socket()

        pool.get_socket = watched_get_socket
        pool._create_socket = watched_create_socket

    def begin(self) -> None:
        """This greenlet's next request attempt starts now."""
        self._attempts[gevent.getcurrent()] = []

    def end(self) -> bool:
        """The attempt is over: True when it went out on a reused connection."""
        attempts = self._attempts.pop(gevent.getcurrent(), None)
        return attempts is not None and bool(attempts) and not attempts[0]


def watch_of(client: Any) -> ConnectionWatch | None:
    """The watch on a geventhttpclient ``HTTPClient``'s pool (made on first use, shared by every
    transport on that client), or None, with one warning, when the pool is not as expected (the
    retry on a stale connection is then off: requests are sent once)."""
    pool = getattr(client, "_connection_pool", None)
    watch = getattr(pool, "_mobsim_watch", None)
    if isinstance(watch, ConnectionWatch):
        return watch
    if not (callable(getattr(pool, "get_socket", None)) and callable(getattr(pool, "_create_socket", None))):
        if not _WARNED:
            _WARNED.append(type(client).__name__)
            log.warning(
                "%s has no geventhttpclient connection pool (_connection_pool.get_socket, _create_socket): "
                "requests are not sent again after a reused connection broke",
                type(client).__name__,
            )
        return None
    watch = ConnectionWatch(pool)
    pool._mobsim_watch = watch  # type: ignore[union-attr]  # checked above: a pool
    return watch
