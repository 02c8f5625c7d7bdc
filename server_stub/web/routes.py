"""The web page's routes: ``/`` and ``/ui/...`` (HTML; a refused request is an HTML page too), the
live counters as JSON for the page's script, and the page's own assets under ``/ui/static/``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from contract import ErrorCode

from ..errors import ApiError
from ..http import json_response
from ..live import counters_of
from ..server import DEFAULT_ACCOUNT, ProfileServer
from . import views
from .pages import STATIC, error_page, render

__all__ = ["web_router"]

View = Callable[..., Awaitable[dict[str, Any]]]
_ASSETS = {
    "mobsim.css": "text/css; charset=utf-8",
    "mobsim.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
_FILES = {name: (STATIC / name).read_bytes() for name in _ASSETS}
"""The page's own assets, read once: nothing else is served from the folder."""

router = APIRouter(include_in_schema=False)


def _server(request: Request) -> ProfileServer:
    server: ProfileServer = request.app.state.profiles
    return server


def _account(request: Request) -> str:
    account = request.query_params.get("account", DEFAULT_ACCOUNT)
    if not 1 <= len(account) <= 100:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "account: 1 to 100 characters")
    return account


async def _page(request: Request, template: str, section: str, view: View, *args: Any, **kwargs: Any) -> Response:
    account = DEFAULT_ACCOUNT
    try:
        account = _account(request)
        context = await view(_server(request), account, request.query_params, *args, **kwargs)
    except ApiError as exc:
        answer = error_page(exc.status, exc.text, account)
        answer.headers.update(exc.headers)
        return answer
    return render(template, {**context, "account": account, "section": section})


@router.get("/")
@router.get("/ui")
@router.get("/ui/")
async def home(request: Request) -> Response:
    strict = getattr(request.app.state, "strict", None) is not None
    return await _page(request, "home.html", "home", views.home, strict=strict)


@router.get("/ui/persons")
async def persons(request: Request) -> Response:
    return await _page(request, "persons.html", "persons", views.persons)


@router.get("/ui/persons/{person_id}")
async def person(request: Request, person_id: str) -> Response:
    return await _page(request, "person.html", "persons", views.person, person_id)


@router.get("/ui/installations/{reg_id}")
async def installation(request: Request, reg_id: str) -> Response:
    return await _page(request, "installation.html", "persons", views.installation, reg_id)


@router.get("/ui/segments")
async def segments(request: Request) -> Response:
    return await _page(request, "segments.html", "segments", views.segments)


@router.get("/ui/segments/{name}")
async def segment(request: Request, name: str) -> Response:
    return await _page(request, "segment.html", "segments", views.segment, name)


@router.get("/ui/campaigns")
async def campaigns(request: Request) -> Response:
    return await _page(request, "campaigns.html", "campaigns", views.campaigns)


@router.get("/ui/campaigns/{bulk_id}")
async def campaign(request: Request, bulk_id: str) -> Response:
    return await _page(request, "campaign.html", "campaigns", views.campaign, bulk_id)


@router.get("/ui/violations")
async def violations(request: Request) -> Response:
    recorder = getattr(request.app.state, "strict", None)
    return await _page(request, "violations.html", "violations", views.violations, recorder=recorder)


@router.get("/ui/live")
async def live(request: Request) -> Response:
    return await _page(request, "live.html", "live", views.live)


@router.get("/ui/live.json")
async def live_json(request: Request) -> Response:
    answer = json_response(counters_of(_server(request)).snapshot())
    answer.headers["Cache-Control"] = "no-store"
    return answer


def _asset(name: str) -> Response:
    return Response(_FILES[name], media_type=_ASSETS[name],
                    headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"})  # fmt: skip


@router.get("/ui/static/{name}")
async def static(request: Request, name: str) -> Response:
    if name not in _FILES:
        return error_page(404, f"no asset {name[:80]!r}")
    return _asset(name)


@router.get("/favicon.ico")
async def favicon(request: Request) -> Response:
    """Browsers ask for it on their own: the page's icon (SVG), never a 404."""
    return _asset("favicon.svg")


@router.get("/ui/{rest:path}")
async def unknown(request: Request, rest: str) -> Response:
    return error_page(404, f"no page {request.url.path[:200]!r}: the navigation above lists every page")


def web_router() -> APIRouter:
    return router
