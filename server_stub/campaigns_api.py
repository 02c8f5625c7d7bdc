"""``GET /inspect/campaigns`` and ``/inspect/campaigns/{bulk_id}``: what became of each bulk of messages
(:func:`server_stub.rules.reports.campaigns`: sent, handed, delivered, seen, opened, converted...)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from contract import ErrorCode, parse_datetime

from .errors import ApiError
from .http import json_response
from .inspect_api import PREFIX
from .rules import reports
from .rules.messages import epoch_ms
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
    application_code: Annotated[
        str | None, Query(alias="applicationCode", max_length=200, description="only bulks with a message from it")
    ] = None,
    since: Annotated[
        str | None, Query(max_length=64, description="only bulks created at or after it (ISO 8601 date-time)")
    ] = None,
) -> Response:
    server = _server(request)
    since_ms = None
    if since is not None:
        try:
            since_ms = epoch_ms(parse_datetime(since))
        except ValueError:
            raise ApiError(
                ErrorCode.REQUEST_FORMAT_INVALID, f"since: {since!r} is not an ISO 8601 date-time with a zone"
            ) from None
    found = await server.execute(
        server.admin(account), reports.campaigns, page=page, limit=limit, app_code=application_code, since=since_ms
    )
    return json_response(found)


@router.get("/campaigns/{bulk_id}", summary="One bulk: sent, handed, delivered, seen, opened, converted, expired")
async def get_campaign(
    request: Request, bulk_id: Annotated[str, Path(max_length=200)], account: Account = DEFAULT_ACCOUNT
) -> Response:
    server = _server(request)
    return json_response(await server.execute(server.admin(account), reports.campaign, bulk_id))


def campaigns_router() -> APIRouter:
    return router
