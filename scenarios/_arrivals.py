"""The open model: app sessions start at a rate, whatever the response times (k6's
``constant-arrival-rate``; Locust has no such mode).

A scheduler greenlet issues one ticket per session at its due time into a queue; Locust users are
the pool that serves them. A ticket that waits longer than ``tolerance`` seconds for a free user
is dropped and counted: the generator could not hold the rate (too few users, or the target is so
slow that sessions pile up). The achieved rate is the sessions actually started per second.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import gevent
from gevent.queue import Empty, Queue

__all__ = ["Arrivals"]


class Arrivals:
    def __init__(
        self,
        rate: Callable[[float], float],
        *,
        tolerance: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.rate = rate
        self.tolerance = tolerance
        self.clock = clock
        self.queue: Queue[float] = Queue()
        self.scheduled = 0
        self.started = 0
        self.dropped = 0
        self.began: float | None = None
        self.ended: float | None = None
        """When scheduling stopped: the achieved rate is measured over ``[began, ended]``."""
        self._greenlet: gevent.Greenlet[..., None] | None = None

    def start(self) -> None:
        if self._greenlet is None:
            self.began = self.clock()
            self._greenlet = gevent.spawn(self._schedule)

    def stop(self) -> None:
        if self.began is not None and self.ended is None:
            self.ended = self.clock()
        if self._greenlet is not None:
            self._greenlet.kill(block=False)
            self._greenlet = None

    def _schedule(self) -> None:
        assert self.began is not None
        due = self.began
        while True:
            rate = self.rate(due - self.began)
            if rate <= 0:
                gevent.sleep(0.1)
                due = self.clock()
                continue
            delay = due - self.clock()
            if delay > 0:
                gevent.sleep(delay)
            self.queue.put(due)
            self.scheduled += 1
            due += 1.0 / rate

    def take(self, timeout: float = 1.0) -> bool:
        """Wait for a ticket: True to start a session now; False when none came or it was late."""
        try:
            due = self.queue.get(timeout=timeout)
        except Empty:
            return False
        if self.clock() - due > self.tolerance:
            self.dropped += 1
            return False
        self.started += 1
        return True

    def drain_late(self) -> None:
        """Count tickets still queued past their tolerance at the end as dropped."""
        now = self.clock()
        while not self.queue.empty():
            due = self.queue.get_nowait()
            if now - due > self.tolerance:
                self.dropped += 1

    def snapshot(self) -> dict[str, float]:
        end = self.ended if self.ended is not None else self.clock()
        elapsed = (end - self.began) if self.began is not None else 0.0
        return {
            "scheduled": self.scheduled,
            "started": self.started,
            "dropped": self.dropped,
            "seconds": elapsed,
        }
