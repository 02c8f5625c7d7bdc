"""One ASGI app serving FCM, HMS, the deliveries feed and the journal (``GET /journal``,
``GET /journal/verify``, ``POST /journal/uninstall``) on one loopback listener; with a fault registry,
faults on demand (server_stub/faults.py) and ``/inspect/faults``."""

from __future__ import annotations

from dataclasses import asdict
from functools import cached_property
from typing import Any

from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from contract.dialect import Platform
from server_stub.errors import ApiError
from server_stub.fault_spec import RequestFacts
from server_stub.faults import FaultMiddleware, FaultRegistry, faults_router
from server_stub.http import error_response
from server_stub.messaging import PushLatency

from .common import json_answer, read_json
from .fcm import FcmConfig, fcm_routes
from .feed import DeliveryFeed, feed_routes
from .hms import HmsConfig, hms_routes
from .journal import PROVIDERS, Journal

__all__ = ["create_providers_app"]

_ENTRIES_MAX = 10_000


class _ProviderFacts(RequestFacts):
    """A request to the providers' app as the faults' filters see it: ``platform=android`` is FCM
    (its send and token endpoints), ``platform=huawei`` HMS; the feed and the journal have none."""

    @cached_property
    def platform(self) -> Platform | None:
        path = self.path
        if path.startswith("/v1/projects/") or path == "/token":
            return Platform.ANDROID
        if path == "/oauth2/v3/token" or (path.startswith("/v1/") and path.endswith("/messages:send")):
            return Platform.HUAWEI
        return None


async def journal_json(request: Request) -> Response:
    """The summary; with ``?entries=N`` also the last N accepted and rejected sends."""
    journal: Journal = request.app.state.journal
    body: dict[str, Any] = {"summary": journal.summary()}
    text = request.query_params.get("entries")
    if text is not None:
        count = int(text) if text.isdigit() else 0
        count = min(max(count, 0), _ENTRIES_MAX)
        body["accepted"] = [asdict(a) for a in journal.accepted[-count:]] if count else []
        body["rejected"] = [asdict(r) for r in journal.rejected[-count:]] if count else []
    return json_answer(body)


async def journal_verify(request: Request) -> Response:
    """``{"ok": …, "problems": […], "summary": …}``; ``?expected=TOKEN`` (repeatable): tokens to reach."""
    journal: Journal = request.app.state.journal
    expected = request.query_params.getlist("expected") or None
    problems = journal.verify(expected)
    return json_answer({"ok": not problems, "problems": problems, "summary": journal.summary()})


async def journal_uninstall(request: Request) -> Response:
    """``{"provider": "fcm"|"apns"|"hms", "token": "…"}``: later sends to the token get the "gone" answer."""
    journal: Journal = request.app.state.journal
    body, _, problem = await read_json(request)
    name = body.get("provider") if isinstance(body, dict) else None
    token = body.get("token") if isinstance(body, dict) else None
    provider = next((p for p in PROVIDERS if p == name), None)
    if problem or provider is None or not isinstance(token, str) or not token:
        return json_answer({"error": 'give {"provider": "fcm" | "apns" | "hms", "token": "<device token>"}'}, 400)
    journal.uninstall(provider, token)
    at = journal.is_uninstalled(provider, token)
    return json_answer({"provider": provider, "token": token, "uninstalled_at": at})


_INSPECT = "/inspect"


async def _api_error(request: Request, exc: Exception) -> Response:
    """``/inspect/faults``' errors (a bad spec, an unknown id) in the reference server's envelope."""
    assert isinstance(exc, ApiError)
    return error_response(exc.code, exc.text, exc.status)


class _Unmounted:
    """Serves a FastAPI app under ``Mount(_INSPECT)`` with the mount's prefix given back: its routes
    (faults_router's ``/inspect/faults``) carry the full path, and FastAPI routes run only inside FastAPI."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        root: str = scope.get("root_path", "")
        scope = {**scope, "root_path": root.removesuffix(_INSPECT)}
        await self.app(scope, receive, send)


def _inspect_app(faults: FaultRegistry) -> ASGIApp:
    inspect = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
    inspect.include_router(faults_router(faults))
    inspect.add_exception_handler(ApiError, _api_error)
    return _Unmounted(inspect)


def create_providers_app(
    journal: Journal | None = None,
    *,
    latency: PushLatency | None = None,
    fcm_quota: int | None = None,
    fcm_quota_seconds: float = 60.0,
    hms_clients: dict[str, str] | None = None,
    fcm_keys: dict[str, bytes] | None = None,
    faults: FaultRegistry | None = None,
) -> Starlette:
    """The providers' app; its ``state`` holds ``journal``, ``fcm``, ``hms``, ``feed`` and ``faults``.
    With ``faults``, every request but ``/inspect/*`` passes the ``FaultMiddleware`` first, and
    ``/inspect/faults`` adds, lists and deletes them (docs/providers.md, docs/faults.md)."""
    journal = journal or Journal()
    routes: list[BaseRoute] = [
        *fcm_routes(),
        *hms_routes(),
        *feed_routes(),
        Route("/journal", journal_json, methods=["GET"]),
        Route("/journal/verify", journal_verify, methods=["GET"]),
        Route("/journal/uninstall", journal_uninstall, methods=["POST"]),
    ]
    if faults is not None:
        routes.append(Mount(_INSPECT, app=_inspect_app(faults)))
    app = Starlette(routes=routes)
    if faults is not None:
        app.add_middleware(FaultMiddleware, registry=faults, facts=_ProviderFacts)
    app.state.faults = faults
    app.state.journal = journal
    app.state.fcm = FcmConfig(journal, quota=fcm_quota, quota_seconds=fcm_quota_seconds, keys=dict(fcm_keys or {}))
    app.state.hms = HmsConfig(journal, clients=hms_clients)
    app.state.feed = DeliveryFeed(journal, latency)
    return app
