"""The deliveries feed: ``GET /provider/1/deliveries`` in the reference server's shape
(server_stub/provider.py), so :class:`scenarios.PushReceiver` hands what the providers accepted to
the virtual devices. Each accepted send becomes due ``latency`` (sampled) after its acceptance."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import math
import random
import threading
import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contract.dialect import Platform
from server_stub.messaging import PushLatency

from .common import campaign_of, json_answer, route_of
from .fcm import NOTIFICATION_KEY
from .journal import Accepted, Journal

__all__ = ["MAX_WAIT", "DeliveryFeed", "delivery_of", "feed_routes"]

MAX_WAIT = 5.0
_PLATFORM = {"fcm": Platform.ANDROID, "hms": Platform.HUAWEI, "apns": Platform.IOS}


def delivery_of(entry: Accepted) -> dict[str, Any] | None:
    """The feed's entry for an accepted send; None when the token carries no device route, or for an
    FCM notification message (the system shows it; the SDK never sees it: reference §4.1)."""
    platform = _PLATFORM[entry.provider]
    route = route_of(platform, entry.token)
    if route is None or (platform is Platform.ANDROID and NOTIFICATION_KEY in entry.payload):
        return None
    payload: Any = entry.payload.get("data", "") if platform is Platform.HUAWEI else entry.payload
    _, message_id = campaign_of(platform, payload)
    return {
        "messageId": message_id or entry.message_id,
        "platform": platform.value,
        "pushToken": entry.token,
        "route": route,
        "payload": payload,
    }


class DeliveryFeed:
    """Accepted sends waiting for their hand-off time, by route; thread-safe."""

    def __init__(self, journal: Journal, latency: PushLatency | None = None, rng: random.Random | None = None) -> None:
        self.journal = journal
        self.latency = latency or PushLatency()
        self.rng = rng or random.Random()
        self._heap: list[tuple[float, int, dict[str, Any]]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def _intake(self) -> None:
        while batch := self.journal.due(1000):
            for entry in batch:
                delivery = delivery_of(entry)
                if delivery is not None:
                    at = entry.received_at + self.latency.sample_ms(self.rng) / 1000
                    heapq.heappush(self._heap, (at, next(self._seq), delivery))

    def claim(self, *, shard: int = 0, of: int = 1, limit: int = 100) -> list[dict[str, Any]]:
        """The due deliveries of routes with ``(route - 1) % of == shard``, at most ``limit``, handed once."""
        now = self.journal.clock()
        found: list[dict[str, Any]] = []
        kept: list[tuple[float, int, dict[str, Any]]] = []
        with self._lock:
            self._intake()
            while self._heap and self._heap[0][0] <= now and len(found) < limit:
                item = heapq.heappop(self._heap)
                if (item[2]["route"] - 1) % of == shard:
                    found.append(item[2])
                else:
                    kept.append(item)
            for item in kept:
                heapq.heappush(self._heap, item)
        return found


def _number(request: Request, name: str, default: float, low: float, high: float) -> float:
    text = request.query_params.get(name)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"query parameter {name}: a number from {low:g} to {high:g}")
    return value


async def deliveries(request: Request) -> Response:
    feed: DeliveryFeed = request.app.state.feed
    try:
        of = int(_number(request, "of", 1, 1, 1_000_000))
        shard = int(_number(request, "shard", 0, 0, of - 1))
        limit = int(_number(request, "limit", 100, 1, 1000))
        wait = _number(request, "wait", 0, 0, MAX_WAIT)
    except ValueError as exc:
        return json_answer({"requestError": {"serviceException": {"messageId": "REQUEST_FORMAT_INVALID",
                                                                  "text": str(exc)}}}, 400)  # fmt: skip
    started = time.monotonic()
    while True:
        found = feed.claim(shard=shard, of=of, limit=limit)
        if found or time.monotonic() - started >= wait:
            return json_answer({"deliveries": found})
        await asyncio.sleep(0.05)


def feed_routes() -> list[Route]:
    """The feed route; the app's ``state.feed`` holds a :class:`DeliveryFeed`."""
    return [Route("/provider/1/deliveries", deliveries, methods=["GET"])]
