"""``Messaging.wait_for_send``: the one wait of the feed's long-poll and the relay's idle time
ends on a send, on the due time or deadline by the server's clock, or on real time; it never
sleeps past the nearest of those times."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from server_stub import Store
from server_stub.messaging import Messaging

START = datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
START_MS = int(START.timestamp() * 1000)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now


def setup(*, moves: bool, bump_after: int | None = None) -> tuple[Messaging, Clock, list[float]]:
    """A Messaging whose sleep records each nap, moves the clock by it (or not: a frozen clock), and
    bumps the version (a send) after ``bump_after`` naps."""
    messaging, clock, naps = Messaging(Store(None)), Clock(), []

    async def sleep(seconds: float) -> None:
        naps.append(seconds)
        if moves:
            clock.now += timedelta(seconds=seconds)
        if bump_after is not None and len(naps) >= bump_after:
            messaging.version += 1
        await asyncio.sleep(0)

    messaging.sleep = sleep
    return messaging, clock, naps


@pytest.mark.parametrize(("due", "until", "slept"), [(START_MS + 120, None, 0.12), (None, START_MS + 90, 0.09),
                                                     (START_MS + 120, START_MS + 90, 0.09),
                                                     (START_MS + 70, START_MS + 90, 0.07)])  # fmt: skip
def test_it_ends_at_the_nearest_of_the_due_time_and_the_deadline_never_sleeping_past_it(
    due: int | None, until: int | None, slept: float
) -> None:
    messaging, clock, naps = setup(moves=True)
    asyncio.run(messaging.wait_for_send(messaging.version, clock, due=due, until=until, seconds=60, look=0.05))
    assert round(sum(naps), 6) == slept and max(naps) <= 0.05
    assert (clock.now - START) == timedelta(seconds=slept)


def test_a_time_already_passed_ends_it_at_once() -> None:
    messaging, clock, naps = setup(moves=True)
    asyncio.run(messaging.wait_for_send(0, clock, due=START_MS, seconds=60, look=0.05))
    asyncio.run(messaging.wait_for_send(0, clock, due=None, until=START_MS - 1, seconds=60, look=0.05))
    assert naps == []


def test_a_send_ends_it() -> None:
    messaging, clock, naps = setup(moves=False, bump_after=3)
    asyncio.run(messaging.wait_for_send(messaging.version, clock, due=None, seconds=60, look=0.05))
    assert naps == [0.05, 0.05, 0.05]


def test_a_version_already_behind_ends_it_before_any_nap() -> None:
    messaging, clock, naps = setup(moves=False)
    messaging.version = 7
    asyncio.run(messaging.wait_for_send(6, clock, due=None, seconds=60, look=0.05))
    assert naps == []


def test_real_time_ends_it_on_a_frozen_clock() -> None:
    messaging, clock, _ = setup(moves=False)
    messaging.sleep = asyncio.sleep  # real naps, the server's clock stands still
    wait = messaging.wait_for_send(0, clock, due=START_MS + 10_000, seconds=0.05, look=0.01)
    asyncio.run(asyncio.wait_for(wait, timeout=5))  # a wait that ignored real time would time out here
    assert clock.now == START
