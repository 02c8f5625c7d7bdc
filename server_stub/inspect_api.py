"""The inspection API (``/inspect/...``): applications, event definitions, persons, installations,
events, counts, a reset and the uninstall a push provider's feedback would report.

It is for tests, conformance checks, demos and people; the SDKs never call it. Every call takes an
optional ``account`` (default ``default``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Path, Query, Request
from starlette.responses import Response

from contract import ErrorCode
from contract.secrets import mask

from . import inspection, rules
from .errors import ApiError
from .http import json_response, read_json
from .jwt_keys import jwt_key
from .rules import Caller, Context
from .server import DEFAULT_ACCOUNT, ProfileServer
from .store import Store

__all__ = ["PREFIX", "inspect_router", "read"]

T = TypeVar("T")

PREFIX = "/inspect"
Account = Annotated[str, Query(max_length=100, description="the account (an account holds applications)")]
Page = Annotated[int, Query(ge=0, le=1_000_000)]
Limit = Annotated[int, Query(ge=1, le=1000)]
PersonId = Annotated[int, Path(ge=1, le=inspection.ID_MAX, description="a person id")]


def _server(request: Request) -> ProfileServer:
    server: ProfileServer = request.app.state.profiles
    return server


async def read(server: ProfileServer, caller: Caller, rule: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a read-only inspection rule on the store's read path (:meth:`Store.read`: on a file in a
    worker thread, beside the writes; within the query time budget)."""
    return await server.store.read(lambda db: rule(Context(db, caller, server.clock), *args, **kwargs))


router = APIRouter(prefix=PREFIX, tags=["Inspection"])


@router.get("/applications", summary="List applications and their codes")
async def list_applications(request: Request) -> Response:
    return json_response({"applications": await _server(request).applications_async()})


@router.post("/applications", summary="Create an application: {name?, code?, account?}")
async def create_application(request: Request) -> Response:
    payload = await read_json(request)
    code, name, account = payload.get("code"), payload.get("name"), payload.get("account", DEFAULT_ACCOUNT)
    for key, value in (("code", code), ("name", name)):
        if value is not None and not isinstance(value, str):
            raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"{key} must be a string")
    if not isinstance(account, str) or not 1 <= len(account) <= 100:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "account must be a string of 1 to 100 characters")
    app = await _server(request).add_application_async(code, name=name, account=account)
    return json_response(app, status=201)


@router.get("/event-definitions", summary="List event definitions")
async def list_definitions(request: Request, account: Account = DEFAULT_ACCOUNT) -> Response:
    server = _server(request)
    return json_response({"definitions": await read(server, server.admin(account), rules.list_definitions)})


@router.post(
    "/event-definitions",
    summary="Create an event definition: {definitionId, title?, description?, fields: [{name, type}]}",
)
async def create_definition(request: Request, account: Account = DEFAULT_ACCOUNT) -> Response:
    server = _server(request)
    payload = await read_json(request)
    return json_response(await server.execute(server.admin(account), rules.create_definition, payload), status=201)


@router.get("/persons", summary="List persons, or find one by identifier and type")
async def list_persons(
    request: Request,
    account: Account = DEFAULT_ACCOUNT,
    page: Page = 0,
    limit: Limit = 20,
    identifier: Annotated[str | None, Query(max_length=300)] = None,
    type: Annotated[str, Query(description="ID, EXTERNAL_ID, PHONE, EMAIL or PUSH")] = "EXTERNAL_ID",
) -> Response:
    server = _server(request)
    caller = server.admin(account)
    if identifier is not None:
        return json_response(await read(server, caller, inspection.person_by_identifier, identifier, type))
    return json_response(await read(server, caller, inspection.list_persons, page=page, limit=limit))


@router.get("/persons/{person_id}", summary="A person with installations, attributes, tags, events and sessions")
async def get_person(request: Request, person_id: PersonId, account: Account = DEFAULT_ACCOUNT) -> Response:
    server = _server(request)
    return json_response(await read(server, server.admin(account), inspection.person_detail, person_id))


@router.get("/installations", summary="List installations")
async def list_installations(
    request: Request,
    account: Account = DEFAULT_ACCOUNT,
    application: Annotated[str | None, Query(max_length=200)] = None,
    state: Annotated[str | None, Query(pattern="^(active|deleted|uninstalled)$")] = None,
    page: Page = 0,
    limit: Limit = 20,
) -> Response:
    server = _server(request)
    result = await read(
        server,
        server.admin(account),
        inspection.list_installations,
        application=application,
        state=state,
        page=page,
        limit=limit,
    )
    return json_response(result)


@router.get("/installations/{push_reg_id}", summary="One installation, any state, with its sessions and revivals")
async def get_installation(request: Request, push_reg_id: str) -> Response:
    server = _server(request)
    return json_response(await read(server, server.admin(), inspection.installation, push_reg_id))


@router.post("/installations/{push_reg_id}/uninstall", summary="Report the app uninstalled (push feedback)")
async def uninstall(request: Request, push_reg_id: str) -> Response:
    server = _server(request)
    # one unit: the installation's application is looked up where the uninstall runs
    return json_response(await server.execute(server.admin(), inspection.uninstall, push_reg_id))


@router.get("/events", summary="Events, filtered by person, installation or definition")
async def list_events(
    request: Request,
    account: Account = DEFAULT_ACCOUNT,
    personId: Annotated[int | None, Query(ge=1, le=inspection.ID_MAX)] = None,
    pushRegId: Annotated[str | None, Query(max_length=200)] = None,
    definitionId: Annotated[str | None, Query(max_length=100)] = None,
    page: Page = 0,
    limit: Limit = 100,
) -> Response:
    server = _server(request)
    result = await read(
        server,
        server.admin(account),
        inspection.list_events,
        person_id=personId,
        reg_id=pushRegId,
        definition_id=definitionId,
        page=page,
        limit=limit,
    )
    return json_response(result)


@router.get("/event-counts", summary="Events per definition, and the rejected count")
async def event_counts(request: Request, account: Account = DEFAULT_ACCOUNT) -> Response:
    server = _server(request)
    return json_response(await read(server, server.admin(account), inspection.event_counts))


@router.get("/rejected-events", summary="Custom events dropped by validate=false batches, with reasons")
async def rejected_events(
    request: Request, account: Account = DEFAULT_ACCOUNT, page: Page = 0, limit: Limit = 100
) -> Response:
    server = _server(request)
    return json_response(await read(server, server.admin(account), inspection.rejected_events, page=page, limit=limit))


@router.get("/stats", summary="Counts of persons, installations per platform and state, and events")
async def stats(request: Request, account: Account = DEFAULT_ACCOUNT) -> Response:
    server = _server(request)
    return json_response(await read(server, server.admin(account), inspection.stats))


@router.post("/reset", summary="Delete all persons, installations, events and definitions (applications stay)")
async def reset(request: Request) -> Response:
    await _server(request).store.atomic(Store.clear)
    return json_response({"reset": True})


def _jwt_application(server: ProfileServer, code: str) -> str:
    if server.account_of(code) is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no application {mask(code)}; list them at GET {PREFIX}/applications")
    return code


@router.get("/applications/{code}/jwt-keys", summary="An application's user-JWT keys (secrets masked)")
async def list_jwt_keys(request: Request, code: str) -> Response:
    server = _server(request)
    keys = server.jwt_keys.of(_jwt_application(server, code))
    return json_response({"keys": [key.describe() for key in keys]})


@router.post(
    "/applications/{code}/jwt-keys",
    summary="Give an application a user-JWT key: {kid, secret (hex)}; it then takes user JWTs",
)
async def add_jwt_key(request: Request, code: str) -> Response:
    server = _server(request)
    payload = await read_json(request)
    kid, secret = payload.get("kid"), payload.get("secret")
    if not isinstance(kid, str) or not isinstance(secret, str):
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, 'send {"kid": "<key id>", "secret": "<hex digits>"}')
    try:
        key = jwt_key(_jwt_application(server, code), kid, secret)
    except ValueError as exc:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, str(exc)) from None
    replaced = server.add_jwt_key(key)
    return json_response({**key.describe(), "replaced": replaced}, status=200 if replaced else 201)


@router.delete("/applications/{code}/jwt-keys/{kid}", summary="Remove a user-JWT key")
async def remove_jwt_key(request: Request, code: str, kid: str) -> Response:
    server = _server(request)
    if not server.jwt_keys.remove(_jwt_application(server, code), kid):
        raise ApiError(ErrorCode.NOT_FOUND, f"application {mask(code)} has no JWT key {kid[:40]!r}")
    return json_response({"removed": kid, "keys": len(server.jwt_keys.of(code))})


@router.get("/relay", summary="What the push providers answered this server's sends (mobsim serve --providers)")
def relay(request: Request) -> Response:
    relayed = _server(request).messaging.relay
    if relayed is None:
        raise ApiError(ErrorCode.NOT_FOUND, "this server hands its pushes out itself (GET /provider/1/deliveries); "
                       "start it with --providers to send them through FCM, HMS and APNs")  # fmt: skip
    return json_response(relayed.snapshot())


def inspect_router() -> APIRouter:
    return router
