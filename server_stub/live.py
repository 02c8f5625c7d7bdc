"""Live counters of a running server: requests, App Launches and custom events per second, over the
last minute (the web page's ``/ui/live``, server_stub/web/).

:class:`LiveCounters` keeps a ring buffer of one slot per second: counting is a clock read and an
integer add, with no lock (the requests and the rules that record events all run on the event loop
thread). :class:`LiveCounting`, a pure-ASGI middleware, counts each request to ``/mobile`` and
``/push`` and makes the server's counters the current ones while the request runs, so that
:func:`count` (called by ``Context.record_event``, server_stub/rules/context.py) adds the App
Launches and custom events that request records. Events recorded outside a request (tools, tests
calling the rules directly) are not counted; a request whose writes the store rolls back afterwards
(a 503) has been counted all the same: these are live figures, not the store's.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["EVENTS", "KINDS", "LAUNCHES", "REQUESTS", "WINDOW", "LiveCounters", "LiveCounting", "count", "counters_of"]

WINDOW = 60
"""Seconds kept."""
REQUESTS, LAUNCHES, EVENTS = 0, 1, 2
KINDS = ("requests", "launches", "events")
"""What is counted, by index: requests to /mobile and /push, App Launches, custom events."""
_COUNTED = ("/mobile/", "/push/")

_current: ContextVar[LiveCounters | None] = ContextVar("mobsim_live_counters", default=None)


class LiveCounters:
    """Per-second counts of the last :data:`WINDOW` seconds, and totals since the start."""

    __slots__ = ("_counts", "_current", "_second", "_stamps", "clock", "started", "totals")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        """Seconds, monotonic (test seam: a fixed clock puts every count in one second)."""
        self.started = clock()
        self._stamps = [-1] * WINDOW
        """The second each slot counts (a slot of an older second is stale: zero)."""
        self._counts = [[0, 0, 0] for _ in range(WINDOW)]
        self._second = -1
        self._current = self._counts[0]
        """The slot of ``_second``, the second counted last."""
        self.totals = [0, 0, 0]

    def add(self, kind: int, amount: int = 1) -> None:
        second = int(self.clock())
        if second != self._second:
            slot = second % WINDOW
            self._second = self._stamps[slot] = second
            self._current = self._counts[slot] = [0, 0, 0]
        self._current[kind] += amount
        self.totals[kind] += amount

    def snapshot(self) -> dict[str, Any]:
        """Each kind's counts of the last :data:`WINDOW` seconds, oldest first (the last one is the
        current, partial, second), the last whole second, the mean per second over the window (or
        since the start, when that is shorter) and the totals."""
        now = int(self.clock())
        seconds = range(now - WINDOW + 1, now + 1)
        series = {
            name: [self._counts[s % WINDOW][kind] if self._stamps[s % WINDOW] == s else 0 for s in seconds]
            for kind, name in enumerate(KINDS)
        }
        uptime = max(0, now - int(self.started))
        elapsed = max(1, min(WINDOW - 1, uptime))
        return {
            "window": WINDOW,
            "uptimeSeconds": uptime,
            "series": series,
            "lastSecond": {name: values[-2] for name, values in series.items()},
            "perSecond": {name: round(sum(values[-1 - elapsed : -1]) / elapsed, 2) for name, values in series.items()},
            "totals": dict(zip(KINDS, self.totals, strict=True)),
        }


_by_server: weakref.WeakKeyDictionary[Any, LiveCounters] = weakref.WeakKeyDictionary()


def counters_of(server: Any) -> LiveCounters:
    """The live counters of a server (a :class:`~server_stub.server.ProfileServer`), made on first use:
    every app serving that server counts into the same ones."""
    found = _by_server.get(server)
    if found is None:
        found = _by_server[server] = LiveCounters()
    return found


def count(kind: int) -> None:
    """Count one ``kind`` for the server answering the current request (none: not counted)."""
    counters = _current.get()
    if counters is not None:
        counters.add(kind)


class LiveCounting:
    """Counts the requests to ``/mobile`` and ``/push``; while such a request runs, its server's
    counters are the current ones (for :func:`count`)."""

    def __init__(self, app: ASGIApp, counters: LiveCounters) -> None:
        self.app = app
        self.counters = counters

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(_COUNTED):
            await self.app(scope, receive, send)
            return
        self.counters.add(REQUESTS)
        token = _current.set(self.counters)
        try:
            await self.app(scope, receive, send)
        finally:
            _current.reset(token)
