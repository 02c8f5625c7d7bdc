"""The simulated push provider (a mobsim extension): ``GET /provider/1/deliveries``.

A real backend hands pushes to FCM, HMS or APNs; mobsim's devices have no such service, so the
server holds each message until its provider hand-off time (send time plus a sampled latency,
:class:`server_stub.messaging.PushLatency`) and a load scenario fetches the due ones and gives each
to the virtual device whose push token carries its route (:func:`contract.messages.token_route`).

``?shard=I&of=N`` splits the devices between pollers: shard ``I`` gets the messages whose route
satisfies ``(route - 1) % N == I``. ``limit`` (1 to 1000, default 100) caps one answer; ``wait``
(0 to 5 seconds, default 0) long-polls when nothing is due: the request returns as soon as
something is (a new send wakes it up) or when the time is up. Authentication is the application's
``Authorization: App <code>``; errors are the Mobile API's envelope. A server that sends through
push providers (``mobsim serve --providers``, server_stub/relay/) answers 404: the providers hand the
pushes out then.
"""

from __future__ import annotations

import math
import time
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from contract import ErrorCode

from .errors import ApiError
from .http import json_response
from .rules.messages import claim_deliveries, epoch_ms
from .server import ProfileServer

__all__ = ["MAX_WAIT", "provider_router"]

MAX_WAIT = 5.0
SLICE = 0.05
"""Seconds between looks at the queue's state while long-polling (no store access in between)."""


def _number(request: Request, name: str, default: float, low: float, high: float, *, integer: bool) -> float:
    text = request.query_params.get(name)
    if text is None:
        return default
    value: float | None = None
    if len(text) <= 20:
        try:
            value = int(text) if integer else float(text)
        except ValueError:
            value = None
    if value is None or not (math.isfinite(value) and low <= value <= high):
        kind = "an integer" if integer else "a number"
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"query parameter {name}: {kind} from {low:g} to {high:g}")
    return value


async def deliveries(request: Request) -> Response:
    """The caller application's due messages of one shard, marked handed; long-polls up to ``wait``."""
    server: ProfileServer = request.app.state.profiles
    caller = server.authenticate(request)
    if server.messaging.relay is not None:
        text = "this server sends its pushes through push providers (--providers): take them from their feed"
        raise ApiError(ErrorCode.NOT_FOUND, text + ", GET /provider/1/deliveries on the providers' port")
    of = int(_number(request, "of", 1, 1, 1_000_000, integer=True))
    shard = int(_number(request, "shard", 0, 0, of - 1, integer=True))
    limit = int(_number(request, "limit", 100, 1, 1000, integer=True))
    wait = _number(request, "wait", 0, 0, MAX_WAIT, integer=False)
    messaging = server.messaging
    started = time.monotonic()
    until = epoch_ms(server.clock()) + round(wait * 1000)
    while True:
        version = messaging.version
        found, next_due = await server.execute(caller, claim_deliveries, shard=shard, of=of, limit=limit)
        if found or not _left(server, started, wait, until):
            return json_response({"deliveries": found})
        left = wait - (time.monotonic() - started)
        await messaging.wait_for_send(version, server.clock, due=next_due, until=until, seconds=left, look=SLICE)


def _left(server: ProfileServer, started: float, wait: float, until: int) -> bool:
    """Time is left by the server's clock and by the real one (a frozen test clock cannot hang it)."""
    return epoch_ms(server.clock()) < until and time.monotonic() - started < wait


def _openapi() -> dict[str, Any]:
    query = [
        ("shard", "integer", "this poller's shard, 0 to of-1 (default 0)"),
        ("of", "integer", "the number of shards (default 1)"),
        ("limit", "integer", "at most this many deliveries (1 to 1000, default 100)"),
        ("wait", "number", "seconds to long-poll when nothing is due (0 to 5, default 0)"),
    ]
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": kind}}
        for name, kind, text in query
    ]
    parameters.append({"name": "Authorization", "in": "header", "required": True,
                       "schema": {"type": "string", "example": "App <application code>"}})  # fmt: skip
    return {"parameters": parameters}


def provider_router() -> APIRouter:
    router = APIRouter(tags=["Push provider (mobsim)"])
    router.add_api_route(
        "/provider/1/deliveries",
        deliveries,
        methods=["GET"],
        summary="Due pushes of the caller's application for one shard of devices (long-poll with wait)",
        openapi_extra=_openapi(),
        response_class=Response,
    )
    return router
