"""``POST /inspect/persons/query`` (persons by a People-style filter and segment event conditions,
:mod:`server_stub.segments`) and the saved segments under ``/inspect/segments``
(:mod:`server_stub.saved_segments`; docs/segments.md).

A query body is at most :data:`~server_stub.segment_query.LIMITS` ``.body`` bytes, checked before
it is parsed; the queries run on :meth:`~server_stub.store.Store.read` (a worker thread on a file,
within the time budget)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response
from starlette.types import Message

from contract import ErrorCode

from .errors import ApiError
from .http import json_response, read_json
from .inspect_api import PREFIX, read
from .saved_segments import (
    NAME_MAX,
    create_segment,
    delete_segment,
    get_segment,
    list_segments,
    segment_count,
    segment_members,
)
from .segment_query import LIMITS
from .segments import query_persons
from .server import DEFAULT_ACCOUNT, ProfileServer

__all__ = ["segments_router"]

router = APIRouter(prefix=PREFIX, tags=["Inspection"])
PAGE_MAX = 1_000_000


async def _query_body(request: Request) -> dict[str, Any]:
    """The JSON object of a query body of at most ``LIMITS.body`` bytes (over it: 400 naming the limit)."""
    limit = LIMITS.body
    too_large = ApiError(
        ErrorCode.REQUEST_FORMAT_INVALID,
        f"a query body is at most {limit} bytes: narrow the query (an #in list of many values is a segment to save)",
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    body = b"".join(chunks)

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return await read_json(Request(request.scope, replay))


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
    query = await _query_body(request)
    page = query.pop("page", page)
    limit = query.pop("limit", limit)
    whole = all(isinstance(n, int) and not isinstance(n, bool) for n in (page, limit))
    if not whole or not 0 <= page <= PAGE_MAX or not 1 <= limit <= 1000:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"page must be 0 to {PAGE_MAX} and limit 1 to 1000")
    result = await read(server, server.admin(account), query_persons, query, page=page, limit=limit)
    return json_response(result)


Account = Annotated[str, Query(max_length=100, description="the account (an account holds applications)")]
Name = Annotated[str, Path(min_length=1, max_length=NAME_MAX, description="the segment's name (case-insensitive)")]


def _server(request: Request) -> ProfileServer:
    server: ProfileServer = request.app.state.profiles
    return server


@router.post("/segments", summary="Save a segment: {name, query: {filter?, events?}} (docs/segments.md)")
async def create(request: Request, account: Account = DEFAULT_ACCOUNT) -> Response:
    server = _server(request)
    payload = await _query_body(request)
    return json_response(await server.execute(server.admin(account), create_segment, payload), status=201)


@router.get("/segments", summary="The predefined and the saved segments")
async def listing(request: Request, account: Account = DEFAULT_ACCOUNT) -> Response:
    server = _server(request)
    return json_response(await read(server, server.admin(account), list_segments))


@router.get("/segments/{name}", summary="One segment: its name and query")
async def one(request: Request, name: Name, account: Account = DEFAULT_ACCOUNT) -> Response:
    server = _server(request)
    return json_response(await read(server, server.admin(account), get_segment, name))


@router.delete("/segments/{name}", summary="Delete a saved segment (the predefined ones stay)")
async def delete(request: Request, name: Name, account: Account = DEFAULT_ACCOUNT) -> Response:
    server = _server(request)
    return json_response(await server.execute(server.admin(account), delete_segment, name))


@router.get("/segments/{name}/count", summary="How many persons match and how many installations it reaches")
async def count(
    request: Request,
    name: Name,
    account: Account = DEFAULT_ACCOUNT,
    application: Annotated[str | None, Query(max_length=200, description="count this app's installations")] = None,
) -> Response:
    server = _server(request)
    return json_response(await read(server, server.admin(account), segment_count, name, app_code=application))


@router.get(
    "/segments/{name}/members",
    summary="A page of the persons matching (id order), or with of=installations of the installations reached",
)
async def members(
    request: Request,
    name: Name,
    account: Account = DEFAULT_ACCOUNT,
    page: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
    after: Annotated[
        str | None, Query(max_length=200, description="the previous page's next: a person id (a regId with of)")
    ] = None,
    of: Annotated[str, Query(pattern="^(persons|installations)$")] = "persons",
) -> Response:
    server = _server(request)
    if of == "installations":
        result = await read(
            server, server.admin(account), segment_members, name, limit=limit, installations=True, after_reg_id=after
        )
        return json_response(result)
    person: int | None = None
    if after is not None:
        if not after.isdigit() or not 0 <= int(after) <= 2**63 - 1:
            raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "after: the person id of the previous page's next")
        person = int(after)
    result = await read(server, server.admin(account), segment_members, name, limit=limit, page=page, after=person)
    return json_response(result)


def segments_router() -> APIRouter:
    return router
