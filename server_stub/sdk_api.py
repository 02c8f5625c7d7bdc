"""The SDK-facing Mobile API (``/mobile/...``) in both dialects, thin over the profile rules.

Android PATCHes arrive as POST with ``X-HTTP-Method-Override: PATCH``; iOS sends a real PATCH.
Query booleans are read in either spelling. Every route is described in the served OpenAPI with
its body model from :mod:`contract.models`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError
from starlette.responses import Response

from contract import ErrorCode, endpoint, headers, models, parse_query_bool

from . import rules
from .errors import ApiError
from .http import describe, empty, json_response, parse_body
from .rules import messages
from .server import ProfileServer

__all__ = ["BODY_MODELS", "fast_routes", "sdk_router"]

SDK_VERSION = {"APNS": "15.5.2", "GCM": "15.0.0"}
UPDATE_URL = {
    "APNS": "https://github.com/infobip/mobile-messaging-sdk-ios/releases",
    "GCM": "https://github.com/infobip/mobile-messaging-sdk-android/releases",
}

Handler = Callable[..., Awaitable[Response]]
M = TypeVar("M", bound=BaseModel)


def _flag(request: Request, name: str, default: bool = False) -> bool:
    try:
        return parse_query_bool(request.query_params.get(name), default=default)
    except ValueError as exc:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"query parameter {name}: {exc}") from None


def _server(request: Request) -> ProfileServer:
    server: ProfileServer = request.app.state.profiles
    return server


def _require_patch_override(request: Request) -> None:
    override = request.headers.get(headers.METHOD_OVERRIDE, "")
    if request.method == "POST" and override.upper() != "PATCH":
        raise ApiError(
            ErrorCode.METHOD_NOT_ALLOWED,
            f"{request.url.path} takes PATCH, or POST with '{headers.METHOD_OVERRIDE}: PATCH' (Android)",
        )


def _caller_registration(server: ProfileServer, request: Request, *, bearer: bool = False) -> rules.Caller:
    """The caller, which must name its registration (``pushregistrationid``). That registration is
    checked by the rule itself (``Context.installation``, first thing, in the rule's one unit of work)."""
    caller = server.authenticate(request, bearer=bearer)
    if caller.reg_id is None:
        raise ApiError(ErrorCode.NO_REGISTRATION, f"send the '{headers.PUSH_REGISTRATION_ID}' header of a registration")
    return caller


async def _body_of_registered(
    server: ProfileServer, request: Request, caller: rules.Caller, model: type[M], *, required: bool = True
) -> M | None:
    """The body of a call whose rule checks the caller's registration first. A body the server
    refuses is answered ``NO_REGISTRATION`` instead when the registration is gone (the registration
    is judged before the body, as the SDK expects: it re-registers on that code)."""
    try:
        return await parse_body(request, model, required=required)
    except ApiError:
        if caller.reg_id is not None:
            await server.execute(caller, rules.Context.installation, caller.reg_id)
        raise


async def create_installation(request: Request) -> Response:
    server = _server(request)
    caller = server.authenticate(request)
    body = await parse_body(request, models.Installation)
    result = await server.execute(caller, rules.create_installation, body, with_token=_flag(request, "rt"))
    return json_response(result)


async def patch_installation(request: Request) -> Response:
    pushRegId = request.path_params["pushRegId"]
    _require_patch_override(request)
    server = _server(request)
    caller = server.authenticate(request)
    body = await parse_body(request, models.Installation)
    await server.execute(caller, rules.patch_installation, pushRegId, body)
    return empty()


async def get_installation(request: Request) -> Response:
    pushRegId = request.path_params["pushRegId"]
    server = _server(request)
    caller = server.authenticate(request)
    return json_response(
        await server.execute(caller, rules.get_installation, pushRegId, with_token=_flag(request, "rt"))
    )


async def delete_installation(request: Request) -> Response:
    pushRegId = request.path_params["pushRegId"]
    server = _server(request)
    await server.execute(server.authenticate(request), rules.delete_installation, pushRegId)
    return empty()


async def get_user(request: Request) -> Response:
    pushRegId = request.path_params["pushRegId"]
    server = _server(request)
    caller = server.authenticate(request, bearer=True)
    return json_response(await server.execute(caller, rules.get_user, pushRegId, with_instances=_flag(request, "ri")))


async def patch_user(request: Request) -> Response:
    pushRegId = request.path_params["pushRegId"]
    _require_patch_override(request)
    server = _server(request)
    caller = server.authenticate(request, bearer=True)
    body = await parse_body(request, models.User)
    await server.execute(caller, rules.patch_user, pushRegId, body)
    return empty()


async def personalize(request: Request) -> Response:
    pushRegId = request.path_params["pushRegId"]
    server = _server(request)
    caller = server.authenticate(request, bearer=True)
    body = await parse_body(request, models.PersonalizeBody)
    result = await server.execute(
        caller,
        rules.personalize,
        pushRegId,
        body,
        force=_flag(request, "forceDepersonalize"),
        keep_as_lead=_flag(request, "keepAsLead"),
        set_as_primary=_flag(request, "setDeviceAsPrimary"),
    )
    return json_response(result)


async def repersonalize(request: Request) -> Response:
    """Android's recovery after ``NO_REGISTRATION``: re-link the device, keep the person's type."""
    pushRegId = request.path_params["pushRegId"]
    server = _server(request)
    caller = server.authenticate(request, bearer=True)
    body = await parse_body(request, models.PersonalizeBody)
    await server.execute(caller, rules.personalize, pushRegId, body, force=True, keep_as_lead=True)
    return empty()


async def depersonalize(request: Request) -> Response:
    pushRegId = request.path_params["pushRegId"]
    server = _server(request)
    await server.execute(server.authenticate(request), rules.depersonalize, pushRegId)
    return empty()


async def session_report(request: Request) -> Response:
    pushRegId = request.path_params["pushRegId"]
    server = _server(request)
    caller = server.authenticate(request)
    body = await parse_body(request, models.SessionReport)
    await server.execute(caller, rules.session_report, pushRegId, body)
    return empty()


async def custom_events(request: Request) -> Response:
    pushRegId = request.path_params["pushRegId"]
    server = _server(request)
    caller = server.authenticate(request)
    validate = _flag(request, "validate")
    if validate:
        body = await parse_body(request, models.CustomEventsBody)
        assert body is not None
        items: list[models.CustomEvent | rules.MalformedEvent] = list(body.events)
    else:
        # validate=false accepts the batch (iOS keeps and re-sends a batch that fails): an item that
        # is not a custom event is rejected with its reason, the others are checked and kept.
        batch = await parse_body(request, CustomEventsBatch)
        assert batch is not None
        items = [_event_item(raw) for raw in batch.events]
    await server.execute(caller, rules.custom_events, pushRegId, items, validate=validate)
    return empty()


class CustomEventsBatch(BaseModel):
    """A ``validate=false`` body: a list of items, each checked on its own."""

    events: Annotated[list[Any], Field(max_length=1000)]


def _event_item(raw: Any) -> models.CustomEvent | rules.MalformedEvent:
    try:
        return models.CustomEvent.model_validate(raw)
    except ValidationError as exc:
        definition_id = raw.get("definitionId") if isinstance(raw, dict) else None
        shown = definition_id[:1024] if isinstance(definition_id, str) else None
        return rules.MalformedEvent(shown, f"not a custom event: {describe(exc)}")


async def sync_messages(request: Request) -> Response:
    server = _server(request)
    caller = _caller_registration(server, request)
    body = await _body_of_registered(server, request, caller, models.SyncMessagesBody, required=False)
    assert caller.reg_id is not None
    return json_response(await server.execute(caller, messages.sync, caller.reg_id, body))


async def seen_messages(request: Request) -> Response:
    server = _server(request)
    caller = _caller_registration(server, request)
    body = await _body_of_registered(server, request, caller, models.SeenMessagesBody)
    assert caller.reg_id is not None and body is not None
    await server.execute(caller, messages.seen, caller.reg_id, body)
    return empty()


async def send_mo(request: Request) -> Response:
    server = _server(request)
    caller = _caller_registration(server, request)
    body = await _body_of_registered(server, request, caller, models.MoRequest)
    assert caller.reg_id is not None and body is not None
    return json_response(await server.execute(caller, messages.store_mo, caller.reg_id, body))


async def delivery_report(request: Request) -> Response:
    """iOS's Notification Service Extension: it sends ``pushregistrationid`` only when it has one
    (``MMNSEDeliveryReporter.report``); without it the ids are matched in the caller's application."""
    server = _server(request)
    caller = server.authenticate(request)
    body = await _body_of_registered(server, request, caller, models.DeliveryReportBody)
    assert body is not None
    await server.execute(caller, messages.delivered, caller.reg_id, body.dlrIds)
    return empty()


async def version(request: Request) -> Response:
    _server(request).authenticate(request)
    platform = request.query_params.get("platformType", "GCM")
    if platform not in SDK_VERSION:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "platformType must be APNS or GCM")
    return json_response(
        {"platformType": platform, "libraryVersion": SDK_VERSION[platform], "updateUrl": UPDATE_URL[platform]}
    )


async def base_url(request: Request) -> Response:
    _server(request).authenticate(request)
    return json_response({"baseUrl": str(request.base_url).rstrip("/")})


async def health(request: Request) -> Response:
    """Liveness: a static answer with no store access (also the ceiling in bench/server.py); 503
    ``unhealthy`` while the store cannot write (``Store.failure``: until a write commits again)."""
    failure = _server(request).store.failure
    if failure is not None:
        return json_response({"status": "unhealthy", "service": "mobsim-reference-server", "store": failure}, 503)
    return json_response({"status": "ok", "service": "mobsim-reference-server"})


_QUERY_SCHEMAS: dict[str, dict[str, Any]] = {"platformType": {"type": "string", "enum": ["APNS", "GCM"]}}
_BOOLEAN_QUERY = {"type": "string", "enum": ["true", "false", "1", "0"]}


def _openapi(name: str, extra_query: tuple[str, ...] = (), method: str | None = None) -> dict[str, Any]:
    ep = endpoint(name)
    spec: dict[str, Any] = {"parameters": []}
    if "{pushRegId}" in ep.template:
        spec["parameters"].append({"name": "pushRegId", "in": "path", "required": True, "schema": {"type": "string"}})
    for flag in (*ep.flags, *extra_query):
        schema = _QUERY_SCHEMAS.get(flag, _BOOLEAN_QUERY)
        spec["parameters"].append({"name": flag, "in": "query", "required": False, "schema": schema})
    if method == "POST" and ep.method == "PATCH":
        spec["parameters"].append(
            {"name": headers.METHOD_OVERRIDE, "in": "header", "required": True, "schema": {"enum": ["PATCH"]}}
        )
    for header in (headers.PUSH_REGISTRATION_ID, headers.INSTALLATION_ID):
        spec["parameters"].append({"name": header, "in": "header", "required": False, "schema": {"type": "string"}})
    if ep.request is not None:
        spec["requestBody"] = {
            "required": name not in ("sync_messages",),
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ep.request.__name__}"}}},
        }
    return spec


ROUTES: tuple[tuple[str, Handler, tuple[str, ...], tuple[str, ...]], ...] = (
    ("create_installation", create_installation, ("POST",), ("rt", "ri")),
    ("patch_installation", patch_installation, ("PATCH", "POST"), ("rt",)),
    ("get_installation", get_installation, ("GET",), ("rt",)),
    ("delete_installation", delete_installation, ("DELETE",), ()),
    ("get_user", get_user, ("GET",), ("ri", "rt")),
    ("patch_user", patch_user, ("PATCH", "POST"), ("ri", "rt")),
    ("personalize", personalize, ("POST",), ()),
    ("repersonalize", repersonalize, ("POST",), ()),
    ("depersonalize", depersonalize, ("POST",), ()),
    ("session_report", session_report, ("POST",), ()),
    ("custom_events", custom_events, ("POST",), ()),
    ("sync_messages", sync_messages, ("POST",), ("platformType",)),
    ("seen_messages", seen_messages, ("POST",), ()),
    ("send_mo", send_mo, ("POST",), ("platformType",)),
    ("delivery_report", delivery_report, ("POST",), ()),
    ("version", version, ("GET",), ("platformType",)),
    ("base_url", base_url, ("GET",), ()),
)

BODY_MODELS: tuple[type[BaseModel], ...] = tuple(
    {ep.request for name, *_ in ROUTES if (ep := endpoint(name)).request is not None}
)


def fast_routes() -> list[tuple[str, str, Handler]]:
    """(method, path template, handler) of every SDK route, for :class:`MobileFastPath`."""
    routes = [(method, endpoint(name).template, handler) for name, handler, methods, _ in ROUTES for method in methods]
    return [*routes, ("GET", "/health", health)]


def sdk_router() -> APIRouter:
    router = APIRouter(tags=["Mobile API (SDK-facing)"])
    router.add_api_route("/health", health, methods=["GET"], summary="Liveness", tags=["Service"])
    for name, handler, methods, query in ROUTES:
        ep = endpoint(name)
        for method in methods:
            router.add_api_route(
                ep.template,
                handler,
                methods=[method],
                name=f"{name}_{method.lower()}" if len(methods) > 1 else name,
                summary=f"{ep.method} {ep.template}"
                + (" (Android: POST + X-HTTP-Method-Override)" if method == "POST" and ep.method == "PATCH" else ""),
                openapi_extra=_openapi(name, query, method),
                response_class=Response,
            )
    return router
