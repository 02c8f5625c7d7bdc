"""Malformed input is a client's mistake, answered 400 (or 413), never 500 (issue 13): JSON nested
at any depth, NaN and Infinity (which Python's json reads by default), numbers that overflow a
double or do not fit SQLite's 64-bit integers, bodies over each API's limit; and timestamps at the
edges of the calendar (years 0001 and 9999) are stored and read back as sent.

The fuzzer (test_fuzz.py) draws bodies from the schema, which never holds these; the cases here
are targeted instead, on every route that reads a JSON body."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pushkit import API_KEY, PushApi
from stubkit import APP_CODE, Device, Inspector, MakeDevice, assert_error

from contract import ENDPOINTS, Dialect, endpoint
from contract.codec import MAX_JSON_DEPTH
from server_stub import create_app
from server_stub.http import MAX_BODY, PUSH_MAX_BODY

NOW = "2024-05-01T12:00:00Z"
FIRST, LAST = "0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z"
"""The first and the last instant a timestamp can name (UTC, whole seconds)."""


def nested(depth: int, inner: str = "1") -> str:
    """``inner`` inside ``depth`` arrays and objects in turn."""
    opening = "".join('{"a":' if level % 2 else "[" for level in range(depth))
    closing = "".join("}" if level % 2 else "]" for level in reversed(range(depth)))
    return opening + inner + closing


HOSTILE: dict[str, str] = {
    "100,000 nested arrays": "[" * 100_000 + "]" * 100_000,
    "100,000 nested objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "nested one level too deep": nested(MAX_JSON_DEPTH),  # inside the body's own object: one too many
    "NaN": "NaN",
    "Infinity": "Infinity",
    "-Infinity": "-Infinity",
    "NaN in a list": "[1, NaN]",
    "1e400 (a double's infinity)": "1e400",
    "-1.5E+999": "-1.5E+999",
    "5,000 digits (over Python's int conversion limit)": "9" * 5000,
}
"""Literals no SDK sends, each in a member of an otherwise valid body."""

SDK_BODIES: dict[str, tuple[str, dict[str, bool] | None, dict[str, Any]]] = {
    "create_installation": ("create_installation", None, {"pushServiceType": "APNS", "pushServiceToken": "t" * 64}),
    "patch_installation": ("patch_installation", None, {"deviceName": "x"}),
    "patch_user": ("patch_user", None, {"firstName": "Ana"}),
    "personalize": ("personalize", None, {"userIdentity": {"externalUserId": "ana"}}),
    "repersonalize": ("repersonalize", None, {"userIdentity": {"externalUserId": "ana"}}),
    "session_report": ("session_report", None, {"sessionStarts": [NOW], "sessionBounds": {NOW: NOW}}),
    "custom_events validate=true": ("custom_events", {"validate": True}, {"events": []}),
    "custom_events validate=false": ("custom_events", {"validate": False}, {"events": []}),
    "sync_messages": ("sync_messages", None, {"mIDs": ["m-1"]}),
    "seen_messages": ("seen_messages", None, {"messages": []}),
    "send_mo": ("send_mo", None, {"messages": []}),
    "delivery_report": ("delivery_report", None, {"dlrIds": []}),
}
"""A valid body of every Mobile API route that reads one."""


def with_member(body: dict[str, Any], literal: str, name: str = "zz") -> bytes:
    """``body`` with one more member whose value is the raw JSON ``literal`` (a key no model knows)."""
    text = json.dumps(body)
    return (text[:-1] + (", " if body else "") + f'"{name}": {literal}}}').encode()


def send_raw(device: Device, name: str, content: bytes, flags: dict[str, bool] | None = None) -> httpx.Response:
    """The route as ``device``'s SDK calls it (method, query, headers), with ``content`` as the body."""
    ep = endpoint(name)
    params = {"pushRegId": device.reg_id or "none"} if "{pushRegId}" in ep.template else None
    wire = ep.build(device.dialect, path_params=params, flags=flags, body={})
    return device.client.request(
        wire.method, wire.target, headers={**device.headers(with_body=True), **wire.headers}, content=content
    )


def test_every_route_that_reads_a_body_is_covered() -> None:
    assert {name for name, _, _ in SDK_BODIES.values()} == {ep.name for ep in ENDPOINTS if ep.request is not None}


@pytest.fixture
def caller(new_device: MakeDevice) -> Device:
    return new_device(Dialect.IOS)


@pytest.fixture
def callers(new_device: MakeDevice) -> dict[Dialect, Device]:
    return {dialect: new_device(dialect) for dialect in (Dialect.IOS, Dialect.ANDROID)}


def caller_of(callers: dict[Dialect, Device], name: str) -> Device:
    """A device of a platform whose SDK makes the call (repersonalize: Android; the delivery report: iOS)."""
    return callers[Dialect.IOS if Dialect.IOS in endpoint(name).dialects else Dialect.ANDROID]


@pytest.mark.parametrize("route", list(SDK_BODIES))
def test_a_valid_body_with_one_more_member_is_accepted(callers: dict[Dialect, Device], route: str) -> None:
    """The control: each template is accepted, so a 400 below is the literal's doing."""
    name, flags, body = SDK_BODIES[route]
    caller = caller_of(callers, name)
    if name == "send_mo":
        body = {**body, "from": caller.reg_id}
    response = send_raw(caller, name, with_member(body, '{"n": [1, 2.5, "x", null, true]}'), flags)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_json_on_every_mobile_route_is_400(callers: dict[Dialect, Device], kind: str) -> None:
    """Deep nesting, NaN, Infinity, overflowing numbers: 400 ``REQUEST_FORMAT_INVALID`` on each
    route, even in a member the models ignore (accepted with 200 before: `extra="ignore"`)."""
    for route, (name, flags, body) in SDK_BODIES.items():
        response = send_raw(caller_of(callers, name), name, with_member(body, HOSTILE[kind]), flags)
        text = assert_error(response, 400, "REQUEST_FORMAT_INVALID")
        assert "JSON" in text or "nested" in text, (route, text)


def test_the_text_says_what_is_wrong(caller: Device) -> None:
    def text(literal: str) -> str:
        return assert_error(send_raw(caller, "patch_installation", with_member({}, literal)), 400,
                            "REQUEST_FORMAT_INVALID")  # fmt: skip

    assert "NaN or Infinity, which are not JSON numbers" in text("NaN")
    assert "NaN or Infinity, which are not JSON numbers" in text("-Infinity")
    assert "too large" in text("1e400")
    assert f"more than {MAX_JSON_DEPTH} levels" in text("[" * 300 + "]" * 300)
    assert "line 1 column" in text("[1,,]")


def test_nan_in_an_event_refuses_the_batch_in_both_modes(caller: Device, inspector: Inspector) -> None:
    """A known member names itself (the model judges first); with ``validate=false`` the batch is
    refused too, not kept with the item rejected: neither SDK's serializer writes NaN (Gson throws
    without ``serializeSpecialFloatingPointValues``, `JSONSerialization` throws), so no SDK re-sends
    such a batch."""
    inspector.define("purchase", [{"name": "amount", "type": "Numeric"}])
    good = {"definitionId": "purchase", "date": NOW, "properties": {"amount": 1}}
    bad = {"definitionId": "purchase", "date": NOW, "properties": {"amount": float("nan")}}
    assert_error(caller.events([good, bad], validate=True), 400, "REQUEST_FORMAT_INVALID", "events.1.properties")
    assert_error(caller.events([good, bad], validate=False), 400, "REQUEST_FORMAT_INVALID", "not JSON numbers")
    assert inspector.counts()["rejected"] == 0
    assert "purchase" not in inspector.counts()["counts"]


def test_nesting_up_to_the_limit_is_read(caller: Device) -> None:
    """An MO's ``customPayload`` is free-form: the body (1), ``messages`` (2), the message (3),
    ``customPayload`` (4) and what is nested inside it up to ``MAX_JSON_DEPTH`` levels in all."""
    assert caller.reg_id is not None

    def body(depth: int) -> bytes:
        payload = '{"p":' + nested(depth - 4) + "}"
        message = f'{{"messageId": "mo-{depth}", "customPayload": {payload}}}'
        return f'{{"from": "{caller.reg_id}", "messages": [{message}]}}'.encode()

    assert send_raw(caller, "send_mo", body(MAX_JSON_DEPTH)).status_code == 200
    assert_error(send_raw(caller, "send_mo", body(MAX_JSON_DEPTH + 1)), 400, "REQUEST_FORMAT_INVALID")


def test_numbers_inside_strings_and_big_integers_are_the_models_business(caller: Device) -> None:
    """Only the literals are refused: ``"NaN"`` as a string, ``1e300``, an integer beyond 64 bits
    in a member no model reads, all pass the parsing layer (the models judge known members)."""
    body = with_member({"deviceName": "NaN Infinity 1e400 99999999999999999999"}, "[1e300, -1e-400, " + "9" * 40 + "]")
    assert send_raw(caller, "patch_installation", body).status_code == 200
    assert caller.installation_json()["deviceName"] == "NaN Infinity 1e400 99999999999999999999"


INSPECTION_BODIES: dict[str, tuple[str, str, int]] = {
    # path, a valid body with @ where the literal goes, the status of the valid body
    "persons/query": ("/inspect/persons/query", '{"filter": {"customAttributes.n": @}}', 200),
    "segments": ("/inspect/segments", '{"name": "s-%d", "query": {"filter": {"customAttributes.n": @}}}', 201),
    "applications": ("/inspect/applications", '{"name": "app-%d", "zz": @}', 201),
    "event-definitions": ("/inspect/event-definitions", '{"definitionId": "d%d", "fields": [], "title": "t", '
                          '"description": "d", "zz": @}', 201),
}  # fmt: skip


@pytest.mark.parametrize("route", list(INSPECTION_BODIES))
def test_hostile_json_on_the_inspection_api_is_400(client: httpx.Client, route: str) -> None:
    path, template, status = INSPECTION_BODIES[route]
    for n, literal in enumerate(["1", *HOSTILE.values()]):
        response = client.post(path, content=(template % n if "%d" in template else template).replace("@", literal))
        if literal == "1":
            assert response.status_code == status, response.text
        else:
            assert_error(response, 400, "REQUEST_FORMAT_INVALID")


PERSON_QUERIES: dict[str, str] = {
    "NaN": '{"filter": {"customAttributes.n": NaN}}',
    "Infinity": '{"filter": {"customAttributes.n": {"#gt": Infinity}}}',
    "-Infinity in #in": '{"filter": {"customAttributes.n": {"#in": [1, -Infinity]}}}',
    "1e400": '{"filter": {"customAttributes.n": 1e400}}',
    "-1e400": '{"filter": {"#lt": {"customAttributes.n": -1e400}}}',
    "2^63": '{"filter": {"customAttributes.n": 9223372036854775808}}',
    "-2^63 - 1": '{"filter": {"customAttributes.n": {"#gte": -9223372036854775809}}}',
    "40 digits": '{"filter": {"customAttributes.n": {"#lt": ' + "9" * 40 + "}}}",
    "5,000 digits": '{"filter": {"customAttributes.n": ' + "9" * 5000 + "}}",
    "page of 31 digits": '{"page": 1000000000000000000000000000000}',
    "limit Infinity": '{"limit": Infinity}',
    "deep": '{"filter": ' + '{"#and": [' * 150 + "{}" + "]}" * 150 + "}",
}
"""The person-query bodies the attack answered 500 (or 200 with non-JSON in the answer)."""


@pytest.mark.parametrize("kind", list(PERSON_QUERIES))
def test_malformed_person_queries_are_400(client: httpx.Client, new_device: MakeDevice, kind: str) -> None:
    new_device(Dialect.IOS).personalize({"externalUserId": "q"}, {"customAttributes": {"n": 3}})
    assert_error(client.post("/inspect/persons/query", content=PERSON_QUERIES[kind]), 400, "REQUEST_FORMAT_INVALID")


def test_the_64_bit_integer_bounds_are_read(client: httpx.Client, new_device: MakeDevice) -> None:
    new_device(Dialect.IOS).personalize({"externalUserId": "q"}, {"customAttributes": {"n": 3}})
    query = '{"filter": {"customAttributes.n": {"#lte": 9223372036854775807, "#gte": -9223372036854775808}}}'
    response = client.post("/inspect/persons/query", content=query)
    assert response.status_code == 200, response.text
    assert response.json()["total"] == 1


def test_a_saved_segment_never_holds_infinity(client: httpx.Client) -> None:
    """It was saved (201) and answered back as ``Infinity``, which no JSON parser reads."""
    body = '{"name": "inf", "query": {"filter": {"customAttributes.n": {"#gt": Infinity}}}}'
    assert_error(client.post("/inspect/segments", content=body), 400, "REQUEST_FORMAT_INVALID")
    listed = client.get("/inspect/segments")
    json.loads(listed.content, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))


# ---------------------------------------------------------------------------------------------
# the Push API: its own envelopes, its own body limit


def push_body(**extra: Any) -> dict[str, Any]:
    message = {"sender": APP_CODE, "destinations": [{"type": "EXTERNAL_USER_ID", "externalUserId": "nobody"}],
               "content": {"type": "TEXT", "text": "Hi"}}  # fmt: skip
    return {"messages": [message], **extra}


def test_hostile_json_on_the_push_api_is_400(push: PushApi) -> None:
    """In each version's envelope: ``ApiError`` (``E400``) on /push/3, ``ApiException`` on /push/2."""
    single = {"from": APP_CODE, "to": {"externalUserId": "nobody"}, "text": "Hi"}
    assert push.call("POST", "/push/3/messages", content=with_member(push_body(), "1")).status_code == 200
    assert push.call("POST", "/push/2/message/single", content=with_member(single, "1")).status_code == 200
    for literal in HOSTILE.values():
        response = push.call("POST", "/push/3/messages", content=with_member(push_body(), literal))
        assert response.status_code == 400, response.text
        assert response.json()["errorCode"] == "E400"
        response = push.call("POST", "/push/2/message/single", content=with_member(single, literal))
        assert response.status_code == 400, response.text
        assert response.json()["requestError"]["serviceException"]["messageId"] == "BAD_REQUEST"


def largest_push_message() -> bytes:
    """One message to the 10,000 destinations the contract allows, each with a 200-character
    ``externalUserId`` and ``messageId`` (contract/push_api.py: ``Id``, ``destinations``)."""
    destinations = [
        {"type": "EXTERNAL_USER_ID", "externalUserId": f"{n:0200d}", "messageId": f"m{n:0199d}"} for n in range(10_000)
    ]
    message = {**push_body()["messages"][0], "destinations": destinations}
    return json.dumps({"messages": [message]}, separators=(",", ":")).encode()


def test_the_push_limit_fits_the_largest_message_the_contract_allows() -> None:
    size = len(largest_push_message())
    assert MAX_BODY < size < PUSH_MAX_BODY, size


def padded(body: dict[str, Any], size: int) -> bytes:
    """``body`` as JSON with whitespace before its end, exactly ``size`` bytes."""
    raw = json.dumps(body).encode()
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def test_a_push_body_at_its_limit_is_read_one_byte_more_is_413(push: PushApi) -> None:
    response = push.call("POST", "/push/3/messages", content=padded(push_body(), PUSH_MAX_BODY))
    assert response.status_code == 200, response.text[:300]
    response = push.call("POST", "/push/3/messages", content=padded(push_body(), PUSH_MAX_BODY + 1))
    assert response.status_code == 413, response.text[:300]
    assert f"the limit is {PUSH_MAX_BODY}" in response.text
    chunked = iter([padded(push_body(), PUSH_MAX_BODY)[:-1], b" }"])  # no Content-Length: counted
    response = push.call("POST", "/push/3/messages", content=chunked)
    assert response.status_code == 413, response.text[:300]
    assert f"over the {PUSH_MAX_BODY}-byte limit" in response.text


def test_the_mobile_and_inspection_limit_is_1_mib(client: httpx.Client, caller: Device) -> None:
    assert MAX_BODY == 1024 * 1024
    at = padded({"deviceName": "x"}, MAX_BODY)
    assert send_raw(caller, "patch_installation", at).status_code == 200
    assert_error(send_raw(caller, "patch_installation", padded({"deviceName": "x"}, MAX_BODY + 1)), 413,
                 "PAYLOAD_TOO_LARGE", f"the limit is {MAX_BODY}")  # fmt: skip
    definition = {"definitionId": "padded", "fields": []}
    assert client.post("/inspect/event-definitions", content=padded(definition, MAX_BODY)).status_code == 201
    assert_error(client.post("/inspect/event-definitions", content=padded(definition, MAX_BODY + 1)), 413,
                 "PAYLOAD_TOO_LARGE", f"the limit is {MAX_BODY}")  # fmt: skip


class CountingReceive:
    """An ASGI ``receive`` that hands out ``chunks`` of a body and counts how many were taken."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunk, self.left, self.taken = chunk, count, 0

    async def __call__(self) -> dict[str, Any]:
        if self.left == 0:
            return {"type": "http.disconnect"}
        self.left -= 1
        self.taken += 1
        return {"type": "http.request", "body": self.chunk, "more_body": self.left > 0}


def asgi_post(app: FastAPI, path: str, receive: CountingReceive, headers: dict[str, str]) -> tuple[int, bytes]:
    import asyncio

    answer: dict[str, Any] = {"status": 0, "body": b""}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 50000),
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}  # fmt: skip
    asyncio.run(app(scope, receive, send))  # type: ignore[arg-type]
    return answer["status"], answer["body"]


@pytest.mark.parametrize("strict", [False, True], ids=["plain", "strict"])
@pytest.mark.parametrize("path", ["/mobile/1/appinstance", "/inspect/event-definitions", "/push/3/messages"])
def test_an_oversized_body_is_refused_before_it_is_read(path: str, strict: bool) -> None:
    """A declared Content-Length over the limit: 413 without one chunk taken; a body without one
    (chunked): 413 once the count passes the limit, the rest never read."""
    app = create_app(memory=True, app_codes=[APP_CODE], api_keys=[API_KEY], strict=strict)
    limit = PUSH_MAX_BODY if path.startswith("/push/") else MAX_BODY
    auth = {"authorization": f"App {API_KEY if path.startswith('/push/') else APP_CODE}"}
    declared = CountingReceive(b"x" * 65536, 1000)
    status, body = asgi_post(app, path, declared, {**auth, "content-length": str(limit + 1)})
    assert status == 413 and declared.taken == 0, (status, body[:200], declared.taken)
    streamed = CountingReceive(b" " * 65536, 1000)  # 64 MB, if it were all read
    status, body = asgi_post(app, path, streamed, auth)
    assert status == 413, body[:200]
    assert streamed.taken == limit // 65536 + 1, streamed.taken


# ---------------------------------------------------------------------------------------------
# the edges of the calendar


@pytest.mark.parametrize("dialect", [Dialect.IOS, Dialect.ANDROID], ids=str)
def test_years_0001_and_9999_are_stored_and_read_back(
    new_device: MakeDevice, inspector: Inspector, dialect: Dialect
) -> None:
    """A session, an event, a birthday and date-time attributes at the first and the last instant:
    stored with four-digit years (year 1 was written ``1-01-01...``, which no parser reads, and the
    person's inspection answered 500 for good), read back as sent, inspection answers 200."""
    inspector.define("edge", [{"name": "at", "type": "DateTime"}])
    device = new_device(dialect)
    assert device.reg_id is not None
    attributes = {"birthday": "0001-01-01", "customAttributes": {"since": FIRST, "until": LAST}}
    assert device.personalize({"externalUserId": f"edge-{dialect}"}, attributes).status_code == 200
    assert device.session([FIRST, LAST], {FIRST: "0001-01-01T00:00:30Z", LAST: LAST}).status_code == 200
    events = [{"definitionId": "edge", "date": FIRST, "properties": {"at": LAST}},
              {"definitionId": "edge", "date": LAST, "properties": {"at": FIRST}}]  # fmt: skip
    assert device.events(events, validate=True).status_code == 200
    assert device.patch_user({"birthday": "9999-12-31"}).status_code == 200
    # an offset that lands on the first instant in UTC is that instant; one before it is 400
    assert device.session(["0001-01-01T01:00:00+01:00"]).status_code == 200
    assert_error(device.session(["0001-01-01T00:59:59+01:00"]), 400, "REQUEST_FORMAT_INVALID", "out of range")
    assert_error(device.session(["9999-12-31T23:00:00-01:00"]), 400, "REQUEST_FORMAT_INVALID", "out of range")

    user = device.user_json()
    assert user["birthday"] == "9999-12-31"
    assert user["customAttributes"] == {"since": FIRST, "until": LAST}
    person = inspector.person(inspector.person_of(device.reg_id)["id"])
    assert person["birthday"] == "9999-12-31"
    assert [(s["start"], s["end"]) for s in person["sessions"]] == [(FIRST, "0001-01-01T00:00:30Z"), (LAST, LAST)]
    launches = sorted(e["occurred"] for e in person["events"] if e["definitionId"] == "AppLaunch")
    assert launches == [FIRST, LAST]
    edges = sorted((e["occurred"], e["properties"]["at"]) for e in person["events"] if e["definitionId"] == "edge")
    assert edges == [(FIRST, LAST), (LAST, FIRST)]
    assert [s["start"] for s in inspector.installation(device.reg_id)["sessions"]] == [FIRST, LAST]
    assert sorted(e["occurred"] for e in inspector.events(definitionId="edge")) == [FIRST, LAST]
