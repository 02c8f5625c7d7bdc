"""``POST /inspect/persons/query``: persons by a People-style filter and segment event conditions
(:mod:`server_stub.segments`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from contract import ErrorCode

from .errors import ApiError
from .http import json_response, read_json
from .inspect_api import PREFIX
from .segments import query_persons
from .server import DEFAULT_ACCOUNT, ProfileServer

__all__ = ["segments_router"]

router = APIRouter(prefix=PREFIX, tags=["Inspection"])


@router.post(
    "/persons/query",
    summary="Persons matching {filter?, events?}: the People filter language and segment event conditions",
)
async def persons_query(
    request: Request,
    account: Annotated[str, Query(max_length=100)] = DEFAULT_ACCOUNT,
    page: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> Response:
    server: ProfileServer = request.app.state.profiles
    query = await read_json(request)
    page = query.pop("page", page)
    limit = query.pop("limit", limit)
    if not isinstance(page, int) or not isinstance(limit, int) or page < 0 or not 1 <= limit <= 1000:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "page must be ≥ 0 and limit 1 to 1000")
    result = await server.execute(server.admin(account), query_persons, query, page=page, limit=limit)
    return json_response(result)


def segments_router() -> APIRouter:
    return router
