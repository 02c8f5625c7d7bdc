"""``GET /inspect/campaigns`` and ``/inspect/campaigns/{bulk_id}``: what became of each bulk of messages
(:func:`server_stub.rules.reports.campaigns`: sent, handed, delivered, seen, opened, converted...)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from .http import json_response
from .inspect_api import PREFIX
from .rules import reports
from .server import DEFAULT_ACCOUNT, ProfileServer

__all__ = ["campaigns_router"]

router = APIRouter(prefix=PREFIX, tags=["Inspection"])
Account = Annotated[str, Query(max_length=100, description="the account (an account holds applications)")]


def _server(request: Request) -> ProfileServer:
    server: ProfileServer = request.app.state.profiles
    return server


@router.get("/campaigns", summary="Bulks of messages, newest first, with their delivery and engagement counts")
async def list_campaigns(
    request: Request,
    account: Account = DEFAULT_ACCOUNT,
    page: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> Response:
    server = _server(request)
    return json_response(await server.execute(server.admin(account), reports.campaigns, page=page, limit=limit))


@router.get("/campaigns/{bulk_id}", summary="One bulk: sent, handed, delivered, seen, opened, converted, expired")
async def get_campaign(
    request: Request, bulk_id: Annotated[str, Path(max_length=200)], account: Account = DEFAULT_ACCOUNT
) -> Response:
    server = _server(request)
    return json_response(await server.execute(server.admin(account), reports.campaign, bulk_id))


def campaigns_router() -> APIRouter:
    return router
