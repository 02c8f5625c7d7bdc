"""The ASGI application: the Mobile API, the inspection API, one error envelope for everything."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.telemetry import TelemetryConfig
from fastapi_offline import FastAPIOffline
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract import ErrorCode

from .campaigns_api import campaigns_router
from .docs_pages import redoc_router
from .errors import ApiError
from .fastpath import MobileFastPath
from .faults import FaultRegistry, faults_router
from .http import error_response
from .inspect_api import inspect_router
from .live import LiveCounting, counters_of
from .messaging import PushLatency
from .provider import provider_router
from .push_api import PUSH_MODELS, push_router
from .sdk_api import BODY_MODELS, fast_routes, sdk_router
from .segments_api import segments_router
from .server import ProfileServer, utcnow
from .store import Store
from .web import web_router

__all__ = ["create_app"]

log = logging.getLogger("mobsim.server")

_HTTP_CODES = {404: ErrorCode.NOT_FOUND, 405: ErrorCode.METHOD_NOT_ALLOWED}


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    response = error_response(exc.code, exc.text, exc.status)
    response.headers.update(exc.headers)
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.REQUEST_FORMAT_INVALID)
    text = f"no route {request.method} {request.url.path}" if exc.status_code in _HTTP_CODES else str(exc.detail)
    response = error_response(code, text, exc.status_code)
    if exc.status_code == 405:
        response.headers["Allow"] = ", ".join(_allowed_methods(request))
    return response


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on this path (Starlette names only the first route's)."""
    routes = request.app.router.routes
    return [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]]
    return error_response(ErrorCode.REQUEST_FORMAT_INVALID, "; ".join(parts), 400)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %r", request.method, request.url.path[:300])
    return error_response(ErrorCode.INTERNAL_ERROR, f"internal error: {type(exc).__name__}", 500)


class ContainErrors:
    """A bug answers ``500`` with the error envelope and the connection stays open.

    Starlette's outermost middleware sends the ``Exception`` handler's answer and then raises the
    exception again, for the server to log, and uvicorn then closes the connection: a client's next
    request on that kept-alive connection could race the close and fail with no answer. This
    middleware, inside it, answers and returns instead. An answer already under way when the error
    came cannot be finished, and that connection does close.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if started:
                raise
            response = await _unexpected(Request(scope), exc)
            await response(scope, receive, send)


_OTEL_SWITCHES = ("OTEL_", "FASTAPI_OTEL_")


def _off() -> TelemetryConfig:
    return {"tracing": False, "metrics": False, "logs": False}


def telemetry_config(environ: Mapping[str, str] = os.environ, *, on: bool | None = None) -> TelemetryConfig:
    """FastAPI's native OpenTelemetry (``create_app(telemetry=...)``): ``on`` True keeps FastAPI's
    defaults, False turns it off; None (the default) decides by the environment: on when it
    configures OpenTelemetry (any ``OTEL_*`` or ``FASTAPI_OTEL_*`` variable, as
    ``opentelemetry-instrument`` and an OTLP exporter need), unless ``OTEL_SDK_DISABLED=true``.
    Off, no request asks OpenTelemetry's global providers whether one was set (FastAPI asks on
    every request: about 9 µs; docs/performance.md)."""
    if on is not None:
        return {} if on else _off()
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return _off()
    if any(name.startswith(_OTEL_SWITCHES) for name in environ):
        return {}
    return _off()


def _openapi_with_models(app: FastAPI, models: Iterable[type[BaseModel]]) -> Callable[[], dict[str, Any]]:
    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                full = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(full.pop("$defs", {}))
                components[model.__name__] = full
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


DOCS_ASSETS = "/docs/static"
"""Swagger UI's and ReDoc's files (guarded with /docs)."""


def create_app(
    *,
    db: str | Path | None = None,
    memory: bool = False,
    app_codes: Iterable[str] = (),
    clock: Callable[[], datetime] = utcnow,
    server: ProfileServer | None = None,
    strict: bool = False,
    api_keys: Iterable[str] = (),
    push_latency: PushLatency | None = None,
    faults: FaultRegistry | None = None,
    telemetry: bool | None = None,
) -> FastAPI:
    """The reference profile server as an ASGI app.

    ``db`` is a SQLite file (kept across restarts); ``memory=True`` (or no ``db``) keeps everything
    in memory. ``app_codes`` are registered in the default account. Pass ``server`` to share state.
    ``strict=True`` records every protocol violation clients make (``/inspect/violations``).
    ``api_keys`` are accepted by the Push API (default account); ``push_latency`` is the simulated
    provider's hand-off latency (default 300:1500 ms; docs/push-api.md). ``faults``: serve
    ``/inspect/faults`` over this registry (the ``FaultMiddleware`` around the app injects them;
    docs/faults.md). ``telemetry``: FastAPI's native OpenTelemetry on (True), off (False), or as
    the environment says (None: :func:`telemetry_config`).
    """
    if server is None:
        if db is not None and memory:
            raise ValueError("choose a database file or memory, not both")
        server = ProfileServer(Store(None if memory else db), clock=clock)
    for code in app_codes:
        server.add_application(code)
    for key in api_keys:
        server.messaging.add_api_key(key)
    if push_latency is not None:
        server.messaging.latency = push_latency
    # /docs and /redoc with Swagger UI's and ReDoc's files served by this server (fastapi-offline
    # ships them; FastAPI's own pages load them from a CDN and are blank offline), under the guard.
    app = FastAPIOffline(
        telemetry=telemetry_config(on=telemetry),
        static_url=DOCS_ASSETS,
        redoc_url=None,  # server_stub/docs_pages.py: ReDoc with no request to Redocly's CDN
        title="mobsim reference profile server",
        version="0.1.0",
        description="The Infobip Mobile Messaging SDK's Mobile API (both dialects) with the People profile "
        "rules, and an inspection API. See the project README.",
    )
    app.state.profiles = server
    app.include_router(redoc_router(app.title, DOCS_ASSETS))  # /redoc (server_stub/docs_pages.py)
    app.include_router(sdk_router())
    app.include_router(inspect_router())
    app.include_router(segments_router())  # POST /inspect/persons/query (server_stub/segments.py)
    app.include_router(campaigns_router())  # /inspect/campaigns (server_stub/rules/reports.py)
    app.include_router(push_router())  # /push/... (server_stub/push_api.py)
    app.include_router(provider_router())  # /provider/1/deliveries (server_stub/provider.py)
    app.include_router(web_router())  # the web page: / and /ui/... (server_stub/web/, docs/web.md)
    if faults is not None:
        app.include_router(faults_router(faults))  # /inspect/faults (server_stub/faults.py)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)
    app.add_middleware(MobileFastPath, routes=fast_routes())
    app.add_middleware(ContainErrors)  # outside the fast path: its errors too
    app.add_middleware(LiveCounting, counters=counters_of(server))  # /ui/live (server_stub/live.py)
    app.openapi = _openapi_with_models(app, (*BODY_MODELS, *PUSH_MODELS))  # type: ignore[method-assign]
    if strict:  # outermost: it sees each request before the fast path (server_stub/strict.py)
        from .strict_api import install_strict

        install_strict(app, server)
    return app
