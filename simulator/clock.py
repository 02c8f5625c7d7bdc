"""Clocks: real time for load, a virtual clock that tests and backfills move by hand.

A device never sleeps. It keeps due times (heartbeat, event debounce, retries) and processes what
is due when asked (`VirtualDevice.run_due`, `VirtualDevice.advance`), reading the time from its
clock. All times are UTC epoch seconds as floats.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Protocol

__all__ = ["Clock", "RealClock", "VirtualClock"]


class Clock(Protocol):
    """Anything with `now()` returning UTC epoch seconds."""

    def now(self) -> float: ...


class RealClock:
    """Wall-clock time (`time.time`)."""

    __slots__ = ()

    def now(self) -> float:
        return time.time()

    def __repr__(self) -> str:
        return "RealClock()"


class VirtualClock:
    """A clock that only moves when told to: `advance(seconds)` or `set(moment)`.

    Several devices may share one virtual clock; `VirtualDevice.advance` moves it forward step by
    step through the device's due times.
    """

    __slots__ = ("_now",)

    def __init__(self, start: float | datetime = 1_714_557_600.0) -> None:
        self._now = _epoch(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> float:
        if seconds < 0:
            raise ValueError("a virtual clock does not go backwards")
        self._now += seconds
        return self._now

    def set(self, moment: float | datetime) -> None:
        value = _epoch(moment)
        if value < self._now:
            raise ValueError("a virtual clock does not go backwards")
        self._now = value

    def __repr__(self) -> str:
        return f"VirtualClock({datetime.fromtimestamp(self._now, UTC).isoformat()})"


def _epoch(moment: float | datetime) -> float:
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            raise ValueError("naive datetime: pass an aware datetime (UTC)")
        return moment.timestamp()
    return float(moment)
