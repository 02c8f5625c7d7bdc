"""Infobip's Push API (``/push/...``): send, delivery reports, logs and MO reports, thin over the rules.

Authentication is ``Authorization: App <API key>`` with a key of the server (``mobsim serve
--api-key``); an application code is not an API key (it goes in ``sender``/``from``). Errors are
the document's envelopes: ``ApiError`` on ``/push/3/...``, ``ApiException`` on ``/push/1`` and
``/push/2``; a client's mistake is a 4xx that names the property, never a 500. The request
bodies are :mod:`contract.push_api`; what the server does with them is
:mod:`server_stub.rules.messages` and :mod:`server_stub.rules.reports` (docs/push-api.md).
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from pydantic import BaseModel, ValidationError
from starlette.responses import Response, StreamingResponse

from contract import headers, parse_query_bool
from contract import push_api as pa

from .errors import ApiError
from .http import _body, json_response
from .rules import Caller, Context, sending
from .rules.messages import DAY_MS, Violation, epoch_ms
from .rules.reports import LogQuery, logs, mo_reports, reports
from .rules.sending import SEND_CHUNK, BulkResult, Outgoing, SendPlan, Sent, Target
from .server import ProfileServer

__all__ = ["PUSH_MODELS", "push_router"]

PUSH_MODELS: tuple[type[BaseModel], ...] = (pa.PushUnificationRequest, pa.PushRequest, pa.PushRequestMulti)
M = TypeVar("M", bound=BaseModel)
Handler = Callable[[Request], Awaitable[Response]]

_UNITS_MS = {"SECONDS": 1000, "MINUTES": 60_000, "HOURS": 3_600_000}
_MIN_VALIDITY_MS = 30_000


class Unauthorized(Exception):
    """No API key the server knows: why, for the 401."""


class _Invalid(Violation):
    """A body that breaks its model: every violation found (up to 10)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__(*problems[0])
        self.problems = problems


# -- envelopes -----------------------------------------------------------------------------------


def _v3(status: int, violations: Sequence[tuple[str, str]]) -> Response:
    return json_response(pa.api_error(status, violations), status)


_V2_CODES = {400: "BAD_REQUEST", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND", 413: "BAD_REQUEST"}


def _v2(status: int, violations: Sequence[tuple[str, str]]) -> Response:
    text = "; ".join(f"{where}: {what}" if where else what for where, what in violations[:3])
    if status == 401:
        text = f"Unauthorized: {violations[0][1]}" if violations else "Unauthorized"
    body = pa.api_exception(_V2_CODES.get(status, "BAD_REQUEST"), text or "Bad request")
    if status == 400 and violations:
        errors: dict[str, list[str]] = {}
        for where, what in violations:
            errors.setdefault(where or "body", []).append(what)
        body["requestError"]["serviceException"]["validationErrors"] = errors
    return json_response(body, status)


def _answers(envelope: Callable[[int, Sequence[tuple[str, str]]], Response]) -> Callable[[Handler], Handler]:
    """Turn every refusal of a handler into ``envelope``'s 4xx."""

    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def wrapped(request: Request) -> Response:
            try:
                return await handler(request)
            except Unauthorized as exc:
                return envelope(401, [("Authorization", str(exc))])
            except _Invalid as exc:
                return envelope(400, exc.problems)
            except Violation as exc:
                return envelope(400, [(exc.where, exc.violation)])
            except ApiError as exc:
                if exc.status >= 500:
                    raise  # the store's 503 (server_stub/storage.py): the app answers it, with Retry-After
                return envelope(exc.status, [("", exc.text)])

        return wrapped

    return decorate


# -- requests in ---------------------------------------------------------------------------------


def _server(request: Request) -> ProfileServer:
    server: ProfileServer = request.app.state.profiles
    return server


def authenticate(server: ProfileServer, request: Request) -> Caller:
    """The account of the request's API key, or :class:`Unauthorized` saying what is wrong."""
    value = request.headers.get(headers.AUTHORIZATION)
    if not value or not value.strip():
        raise Unauthorized("send 'Authorization: App <API key>' (mobsim serve prints the key; --api-key sets it)")
    key = headers.parse_app_authorization(value)
    if key is None:
        raise Unauthorized("the reference server takes API keys only: 'Authorization: App <API key>'")
    account = server.messaging.account_of_key(key)
    if account is None and server.account_of(key) is not None:
        raise Unauthorized(
            "that is an application code, not an API key: send the API key (mobsim serve prints it) and name "
            "the application in 'sender' ('from' on /push/2)"
        )
    if account is None:
        raise Unauthorized("unknown API key (mobsim serve prints the keys it accepts; --api-key adds one)")
    return Caller(app_code="", account=account)


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


async def _parse(request: Request, model: type[M]) -> M:
    raw = await _body(request)
    if not raw.strip():
        raise Violation("", f"a JSON body ({model.__name__}) is required")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        problems = [
            (_path(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors(include_url=False)[:10]
        ]
        raise _Invalid(problems) from None


def _validity(amount: int | None, unit: str | None, *, default_unit: str, cap_hours: int, where: str) -> int:
    if amount is None:
        return 2 * DAY_MS
    validity = amount * _UNITS_MS[unit or default_unit]
    if validity < _MIN_VALIDITY_MS:
        raise Violation(where, "the validity period is at least 30 seconds")
    return min(validity, cap_hours * 3_600_000)


def _action(action: pa.PrimaryButtonAction | None, internal: dict[str, Any]) -> str | None:
    """The tap action: a deep link (returned), or a web view / browser URL (in ``internal``)."""
    if action is None or not action.resource:
        return None
    if action.type == "DEEP_LINK":
        return action.resource
    if action.type in ("WEB_VIEW_URL", "OPEN_URL_IN_BROWSER"):
        internal["webViewUrl" if action.type == "WEB_VIEW_URL" else "browserUrl"] = action.resource
    return None


def _content(
    text: str,
    title: str | None,
    opts: pa.MessageOptions | pa.NotificationOptions,
    custom_payload: dict[str, Any] | None,
    *,
    in_app: bool,
    deeplink: str | None,
    internal: dict[str, Any],
) -> dict[str, Any]:
    """The :class:`contract.messages.Message` fields of a v3 or v2 message (its options share the
    sound, vibration, silent and category fields)."""
    return {
        "text": text,
        "title": title,
        "silent": bool(opts.isSilent),
        "sound": (opts.soundName or "default") if opts.soundEnabled else None,
        "vibrate": opts.vibrationEnabled is not False,
        "category": opts.category,
        "custom_payload": custom_payload or None,
        "in_app": in_app,
        "deeplink": deeplink,
        "extra_internal": internal,
    }


def _target(destination: pa.Destination, where: str) -> Target:
    return Target(
        type=destination.type,
        address=destination.address,
        where=where,
        message_id=destination.messageId if destination.type != "MULTIPLE" else None,
        primary_only=bool(destination.targetOnlyPrimaryDevices),
        any_of=tuple(destination.or_ or ()),
        all_of=tuple(destination.and_ or ()),
    )


def outgoing_v3(body: pa.PushUnificationRequest) -> list[Outgoing]:
    """The messages of a ``POST /push/3/messages`` body."""
    schedule = body.options.schedule if body.options else None
    result = []
    for n, message in enumerate(body.messages):
        where = f"messages[{n}]"
        opts = message.options or pa.MessageOptions()
        internal: dict[str, Any] = {}
        if message.content.type == "IMAGE":
            internal["atts"] = [{"t": "image", "url": message.content.url}]
        deeplink = _action(opts.onTapButtonAction, internal)
        mirrored = bool(opts.showMirroredPush)
        if mirrored and opts.mirroredPushStyle == "BANNER":
            internal["inAppStyle"] = "BANNER"
        for key, value in (("inAppDismissTitle", opts.mirroredPushDismissTitle),
                           ("inAppOpenTitle", opts.mirroredPushOpenTitle)):  # fmt: skip
            if mirrored and value is not None:
                internal[key] = value
        content = _content(message.content.text, message.content.title, opts, opts.customPayload,
                           in_app=mirrored and opts.mirroredPushStyle != "BANNER", deeplink=deeplink,
                           internal=internal)  # fmt: skip
        extra: dict[str, Any] = {"content": message.content.model_dump(mode="json", exclude_none=True)}
        if message.webhooks is not None and message.webhooks.callbackData is not None:
            extra["callbackData"] = message.webhooks.callbackData
        if opts.campaignReferenceId is not None:
            extra["campaignReferenceId"] = opts.campaignReferenceId
        if opts.platform is not None:
            extra["platform"] = opts.platform.model_dump(mode="json", exclude_none=True)
        validity = opts.validityPeriod
        send_at = opts.sendAt or (schedule.sendAt if schedule else None)
        result.append(
            Outgoing(
                sender=message.sender,
                targets=[_target(d, f"{where}.destinations[{i}]") for i, d in enumerate(message.destinations)],
                content=content,
                where=where,
                send_at=pa.parse_push_time(send_at) if send_at else None,
                validity_ms=_validity(
                    validity.amount if validity else None,
                    validity.timeUnit if validity else None,
                    default_unit="MINUTES",  # ValidityPeriod.amount: "If timeUnit is not set, ... MINUTES"
                    cap_hours=48,
                    where=f"{where}.options.validityPeriod",
                ),
                extra=extra,
            )
        )
    return result


_ADDRESSES = {"pushRegistrationId": "REGISTRATION", "externalUserId": "EXTERNAL_USER_ID", "email": "EMAIL",
              "phoneNumber": "PHONE_NUMBER", "segment": "SEGMENT"}  # fmt: skip


def _v2_target(to: dict[str, Any], primary: bool, where: str) -> Target:
    """A v2 ``to``: one address key (``pushRegistrationId``, ``externalUserId``, ``email``,
    ``phoneNumber``, mobsim's ``segment``), or filters (``$or``, ``$and``, other keys: all hold)."""
    if len(to) == 1 and next(iter(to)) in _ADDRESSES:
        key, value = next(iter(to.items()))
        if not isinstance(value, str) or not value:
            raise Violation(f"{where}.{key}", "an address is a non-empty string")
        return Target(type=_ADDRESSES[key], address=value, where=where, primary_only=primary)
    filters: dict[str, list[dict[str, Any]]] = {}
    for key in ("$or", "$and"):
        value = to.get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise Violation(f"{where}.{key}", "a list of filter objects")
        filters[key] = value
    rest = {k: v for k, v in to.items() if k not in ("$or", "$and")}
    all_of = [rest, *filters["$and"]] if rest else filters["$and"]
    if not all_of and not filters["$or"]:
        raise Violation(where, "name a destination (e.g. externalUserId) or filters ($or, $and)")
    return Target(type="MULTIPLE", address="MULTIPLE", where=where, primary_only=primary,
                  any_of=tuple(filters["$or"]), all_of=tuple(all_of))  # fmt: skip


def outgoing_v2(message: pa.PushRequest, where: str) -> Outgoing:
    """One message of ``POST /push/2/message/single`` or ``multi``."""
    opts = message.notificationOptions or pa.NotificationOptions()
    internal: dict[str, Any] = {}
    if opts.contentUrl:
        internal["atts"] = [{"t": "image", "url": opts.contentUrl}]
    deeplink = _action(opts.primaryButtonAction, internal)
    in_app = bool(opts.showInApp)
    if in_app and opts.inAppStyle == "BANNER":
        internal["inAppStyle"] = "BANNER"
    for key, value in (("inAppDismissTitle", opts.inAppDismissTitle), ("inAppOpenTitle", opts.inAppOpenTitle)):
        if in_app and value is not None:
            internal[key] = value
    content = _content(message.text, opts.title, opts, message.customPayload,
                       in_app=in_app and opts.inAppStyle != "BANNER", deeplink=deeplink, internal=internal)  # fmt: skip
    shown: dict[str, Any] = {"type": "IMAGE" if opts.contentUrl else "TEXT", "text": message.text}
    if opts.title is not None:
        shown["title"] = opts.title
    if opts.contentUrl:
        shown["url"] = opts.contentUrl
    extra: dict[str, Any] = {"content": shown}
    if message.callbackData is not None:
        extra["callbackData"] = message.callbackData
    return Outgoing(
        sender=message.sender,
        targets=[_v2_target(message.to, bool(message.targetOnlyPrimaryDevices), f"{where}.to")],
        content=content,
        where=where,
        send_at=pa.parse_push_time(message.sendAt) if message.sendAt else None,
        validity_ms=_validity(
            message.validityPeriod,
            message.validityPeriodTimeUnit,
            default_unit="HOURS",
            cap_hours=72,
            where=f"{where}.validityPeriod",
        ),
        extra=extra,
    )


Bulks = list[tuple[str | None, Sequence[Outgoing], dict[str, Any]]]
_log = logging.getLogger("mobsim.serve")


def _plan(
    ctx: Context, bulks: Bulks, *, latency: Callable[[], int], **kw: Any
) -> tuple[SendPlan, list[tuple[int, Sent]]]:
    """Check and plan the send; a plan of at most ``SEND_CHUNK`` installations is written at once
    (one unit: all or nothing), a larger one later, chunk by chunk (:func:`_chunks`)."""
    planned = sending.plan(ctx, bulks, latency=latency, **kw)
    return planned, sending.write(ctx, planned) if planned.installations <= SEND_CHUNK else []


async def _start(
    server: ProfileServer, caller: Caller, bulks: Bulks, **kw: Any
) -> tuple[SendPlan, list[tuple[int, Sent]]]:
    planned, first = await server.execute(caller, _plan, bulks, latency=server.messaging.sample_latency_ms, **kw)
    server.messaging.version += 1  # committed: long-polling providers look again
    return planned, first


async def _chunks(server: ProfileServer, caller: Caller, planned: SendPlan) -> AsyncIterator[list[tuple[int, Sent]]]:
    """The rest of a large send, one unit of work per chunk: other requests are answered between
    them and the provider hands each chunk as soon as it is committed."""
    while not planned.finished:
        yield await server.execute(caller, sending.write, planned, budget=SEND_CHUNK)
        server.messaging.version += 1


_WRITERS: set[asyncio.Task[None]] = set()
"""The large sends being written (a task holds a reference until it is done)."""


def _write_rest(
    server: ProfileServer, caller: Caller, planned: SendPlan, out: Callable[[list[tuple[int, Sent]] | None], None]
) -> asyncio.Task[None]:
    """Write the rest of ``planned`` in a task of the server's own, whatever becomes of the request
    that asked (a client that hangs up does not stop a send half-way): each chunk's entries go to
    ``out``, then None; a failure is logged (what was committed stays sent) and raised to the awaiter."""

    async def run() -> None:
        try:
            async for entries in _chunks(server, caller, planned):
                out(entries)
        except Exception:
            _log.exception("a send to bulk %r stopped after some of its messages were written", planned.bulk_ids[0])
            raise
        finally:
            out(None)

    task = asyncio.get_running_loop().create_task(run())
    _WRITERS.add(task)
    task.add_done_callback(_WRITERS.discard)
    task.add_done_callback(lambda done: done.cancelled() or done.exception())  # logged in run()
    return task


async def _send(server: ProfileServer, caller: Caller, bulks: Bulks, **kw: Any) -> list[BulkResult]:
    """The whole send, then its results (the ``/push/2`` answers count messages: nothing to stream)."""
    planned, first = await _start(server, caller, bulks, **kw)
    results = [BulkResult(bulk_id, []) for bulk_id in planned.bulk_ids]
    entries = list(first)
    if not planned.finished:
        await asyncio.shield(_write_rest(server, caller, planned, lambda part: entries.extend(part or ())))
    for bulk, entry in entries:
        results[bulk].sent.append(entry)
    return results


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _entry(sent: Sent) -> dict[str, Any]:
    return {"messageId": sent.message_id, "status": sent.status.json(), "destination": sent.destination}


def _encode(entries: list[tuple[int, Sent]], statuses: dict[str, str]) -> bytes:
    parts = []
    for _, sent in entries:
        status = statuses.get(sent.status.name)
        if status is None:  # a status's JSON, encoded once (a million entries share four)
            status = statuses[sent.status.name] = _compact(sent.status.json())
        parts.append(f'{{"messageId":{_compact(sent.message_id)},"status":{status},'
                     f'"destination":{_compact(sent.destination)}}}')  # fmt: skip
    return ",".join(parts).encode("utf-8")


async def _streamed(server: ProfileServer, caller: Caller, planned: SendPlan) -> AsyncIterator[bytes]:
    """A large send's ``/push/3`` answer, written as its chunks commit (the same JSON as a small
    one's). The writing is a task of its own (:func:`_write_rest`): if the client goes away, it
    goes on, and only the answer is dropped."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue()
    statuses: dict[str, str] = {}
    listening = [True]

    def out(entries: list[tuple[int, Sent]] | None) -> None:
        if entries is None:
            queue.put_nowait(None)
        elif entries and listening[0]:
            queue.put_nowait(_encode(entries, statuses))

    task = _write_rest(server, caller, planned, out)
    try:
        yield b'{"bulkId":' + json.dumps(planned.bulk_ids[0]).encode() + b',"messages":['
        comma = b""
        while (part := await queue.get()) is not None:
            yield comma + part
            comma = b","
        await task  # a failure cuts the answer (the client sees a broken body): it has started as 200
        yield b"]}"
    finally:
        listening[0] = False


# -- routes --------------------------------------------------------------------------------------


@_answers(_v3)
async def send_v3(request: Request) -> Response:
    server = _server(request)
    caller = authenticate(server, request)
    body = await _parse(request, pa.PushUnificationRequest)
    bulk_id = body.options.schedule.bulkId if body.options and body.options.schedule else None
    dumped = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    planned, first = await _start(server, caller, [(bulk_id, outgoing_v3(body), dumped)])
    if not planned.finished:  # a large send: the answer streams as the chunks are written
        return StreamingResponse(_streamed(server, caller, planned), media_type="application/json")
    return json_response({"bulkId": planned.bulk_ids[0], "messages": [_entry(s) for _, s in first]})


def _bulks_v2(messages: Sequence[pa.PushRequest], results: Sequence[BulkResult]) -> Response:
    bulks = []
    for message, result in zip(messages, results, strict=True):
        count = result.count(0)
        status = pa.PENDING_ACCEPTED if count else pa.UNDELIVERABLE_NO_DESTINATION
        bulks.append({"to": message.to, "status": status.json(), "messageCount": count, "bulkId": result.bulk_id})
    return json_response({"bulks": bulks})


@_answers(_v2)
async def send_v2_single(request: Request) -> Response:
    server = _server(request)
    caller = authenticate(server, request)
    body = await _parse(request, pa.PushRequest)
    dumped = body.model_dump(mode="json", by_alias=True, exclude_none=True)
    results = await _send(server, caller, [(None, [outgoing_v2(body, "")], dumped)])
    return _bulks_v2([body], results)


@_answers(_v2)
async def send_v2_multi(request: Request) -> Response:
    server = _server(request)
    caller = authenticate(server, request)
    body = await _parse(request, pa.PushRequestMulti)
    bulks: list[tuple[str | None, Sequence[Outgoing], dict[str, Any]]] = [
        (None, [outgoing_v2(m, f"messages[{n}]")], m.model_dump(mode="json", by_alias=True, exclude_none=True))
        for n, m in enumerate(body.messages)
    ]
    return _bulks_v2(body.messages, await _send(server, caller, bulks))


def _query(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    if len(values) > 1:
        raise Violation(name, "give it once")
    if values and len(values[0]) > 2048:
        raise Violation(name, "at most 2048 characters")
    return values[0] if values else None


def _limit(request: Request, default: int = 50) -> int:
    text = _query(request, "limit")
    if text is None:
        return default
    if not text.strip().isdigit() or not 1 <= int(text) <= 1000:
        raise Violation("limit", f"an integer from 1 to 1000, got {text[:20]!r}")
    return int(text)


def _list(request: Request, name: str) -> list[str]:
    """A list parameter: repeated and/or comma-separated values (at most 2048 characters)."""
    values = request.query_params.getlist(name)
    if sum(len(v) for v in values) > 2048:
        raise Violation(name, "at most 2048 characters")
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _time(request: Request, name: str) -> int | None:
    text = _query(request, name)
    if text is None:
        return None
    try:  # a '+' in an unencoded query string arrives as a space
        moment = pa.parse_push_time(text.strip().replace(" ", "+"))
    except ValueError as exc:
        raise Violation(name, str(exc)) from None
    return epoch_ms(moment)


@_answers(_v3)
async def get_reports(request: Request) -> Response:
    server = _server(request)
    caller = authenticate(server, request)
    result = await server.execute(
        caller,
        reports,
        limit=_limit(request),
        bulk_id=_query(request, "bulkId"),
        message_id=_query(request, "messageId"),
        entity_id=_query(request, "entityId"),
        application_id=_query(request, "applicationId"),
        campaign_reference_id=_query(request, "campaignReferenceId"),
    )
    return json_response(result)


@_answers(_v3)
async def get_logs(request: Request) -> Response:
    server = _server(request)
    caller = authenticate(server, request)
    status = _query(request, "generalStatus")
    if status is not None and status not in pa.GENERAL_STATUSES:
        raise Violation("generalStatus", f"one of {', '.join(pa.GENERAL_STATUSES)}")
    try:
        use_cursor = parse_query_bool(_query(request, "useCursor"), default=False)
    except ValueError as exc:
        raise Violation("useCursor", str(exc)) from None
    query = LogQuery(
        sender=_query(request, "sender"),
        destination=_query(request, "destination"),
        bulk_ids=_list(request, "bulkId"),
        message_ids=_list(request, "messageId"),
        general_status=status,
        sent_since=_time(request, "sentSince"),
        sent_until=_time(request, "sentUntil"),
        limit=_limit(request),
        entity_id=_query(request, "entityId"),
        application_id=_query(request, "applicationId"),
        campaign_reference_ids=_list(request, "campaignReferenceId"),
        use_cursor=use_cursor,
        cursor=_query(request, "cursor"),
    )
    return json_response(await server.execute(caller, logs, query))


@_answers(_v2)
async def get_mo_reports(request: Request) -> Response:
    server = _server(request)
    caller = authenticate(server, request)
    return json_response(await server.execute(caller, mo_reports, limit=_limit(request, default=100)))


def _parameters(*names: str) -> dict[str, Any]:
    return {"parameters": [{"name": n, "in": "query", "required": False, "schema": {"type": "string"}} for n in names]}


def _body_spec(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


ROUTES: tuple[tuple[str, str, Handler, str, dict[str, Any]], ...] = (
    ("POST", "/push/3/messages", send_v3, "Send Push notifications", _body_spec(pa.PushUnificationRequest)),
    ("POST", "/push/2/message/single", send_v2_single, "Send single Push notification (deprecated)",
     _body_spec(pa.PushRequest)),
    ("POST", "/push/2/message/multi", send_v2_multi, "Send multiple Push notifications (deprecated)",
     _body_spec(pa.PushRequestMulti)),
    ("GET", "/push/3/reports", get_reports, "Get Push delivery reports (each returned once)",
     _parameters("bulkId", "messageId", "limit", "entityId", "applicationId", "campaignReferenceId")),
    ("GET", "/push/3/logs", get_logs, "Get Push message logs",
     _parameters("sender", "destination", "bulkId", "messageId", "generalStatus", "sentSince", "sentUntil", "limit",
                 "entityId", "applicationId", "campaignReferenceId", "useCursor", "cursor")),
    ("GET", "/push/1/inbox/reports", get_mo_reports, "Receive MO Push messages (each returned once)",
     _parameters("limit")),
)  # fmt: skip


def push_router() -> APIRouter:
    router = APIRouter(tags=["Push API (Infobip)"])
    for method, path, handler, summary, spec in ROUTES:
        security = {"parameters": [*spec.get("parameters", []), {"name": "Authorization", "in": "header",
                    "required": True, "schema": {"type": "string", "example": "App <API key>"}}]}  # fmt: skip
        router.add_api_route(path, handler, methods=[method], summary=summary,
                             openapi_extra={**spec, **security}, response_class=Response)  # fmt: skip
    return router
