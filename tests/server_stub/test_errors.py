"""Every error code with its status, the exact ``requestError.serviceException`` envelope and a
Content-Length; bad input of every kind gets a clear 4xx, never a 500."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi import FastAPI
from starlette.testclient import TestClient
from stubkit import (
    APP_CODE,
    OTHER_APP,
    Device,
    Inspector,
    MakeDevice,
    assert_error,
)

from contract import ENDPOINTS, Dialect
from server_stub.http import MAX_BODY
from simulator.jwt import JWT_ENDPOINTS

# One call of each endpoint, in a dialect that makes it, with a body the server would accept.
BODIES: dict[str, dict[str, Any] | None] = {
    "create_installation": {"pushServiceType": "APNS"},
    "patch_installation": {"appVersion": "2"},
    "patch_user": {"firstName": "A"},
    "personalize": {"userIdentity": {"externalUserId": "x"}},
    "repersonalize": {"userIdentity": {"externalUserId": "x"}},
    "session_report": {"sessionStarts": ["2024-05-01T10:00:00Z"]},
    "custom_events": {"events": []},
    "sync_messages": {},
    "seen_messages": {"messages": []},
    "send_mo": {"messages": []},
    "delivery_report": {"dlrIds": ["m"]},
}
CALLS = [(ep.name, Dialect.IOS if Dialect.IOS in ep.dialects else Dialect.ANDROID) for ep in ENDPOINTS]
REG_CALLS = [
    (name, dialect) for name, dialect in CALLS if "{pushRegId}" in next(e for e in ENDPOINTS if e.name == name).template
]


def call(device: Device, name: str, target: str | None = None) -> Any:
    return device.call(name, target=target, body=BODIES.get(name))


# ---------------------------------------------------------------------------------------------
# 401 INVALID_APPLICATION_CODE


@pytest.mark.parametrize(("name", "dialect"), CALLS, ids=[n for n, _ in CALLS])
@pytest.mark.parametrize(
    "authorization",
    [None, "App unknown-code", "App", "Basic c3R1Yi10ZXN0LWFwcC1jb2Rl", f"Bearer {APP_CODE}", f"App{APP_CODE}"],
    ids=["none", "unknown", "empty", "basic", "bearer-code", "no-space"],
)
def test_every_endpoint_needs_a_known_app_code(
    new_device: MakeDevice, name: str, dialect: Dialect, authorization: str | None
) -> None:
    device = new_device(dialect)
    device.authorization = authorization or " "
    if authorization == f"Bearer {APP_CODE}" and name in JWT_ENDPOINTS:  # read as a user JWT (jwt_keys.py)
        assert_error(call(device, name), 401, "UNAUTHORIZED", "three base64url parts")
        return
    assert_error(call(device, name), 401, "INVALID_APPLICATION_CODE", "Authorization: App <code>")


def test_app_code_is_checked_before_anything_else(client: TestClient) -> None:
    response = client.post("/mobile/1/appinstance/nobody/personalize", content=b"{not json")
    assert_error(response, 401, "INVALID_APPLICATION_CODE")


# ---------------------------------------------------------------------------------------------
# 404 NO_REGISTRATION


@pytest.mark.parametrize(("name", "dialect"), REG_CALLS, ids=[n for n, _ in REG_CALLS])
def test_unknown_registration(new_device: MakeDevice, name: str, dialect: Dialect) -> None:
    device = new_device(dialect, register=False)  # no pushregistrationid header: the path names the caller
    assert_error(call(device, name, target="no-such-registration"), 404, "NO_REGISTRATION", "no-such-registration")


@pytest.mark.parametrize(("name", "dialect"), REG_CALLS, ids=[n for n, _ in REG_CALLS])
@pytest.mark.parametrize("end", ["deleted", "uninstalled"])
def test_deleted_and_uninstalled_registrations(
    new_device: MakeDevice, inspector: Inspector, name: str, dialect: Dialect, end: str
) -> None:
    gone = new_device(dialect)
    if end == "deleted":
        assert new_device(Dialect.IOS).delete(gone.reg_id or "").status_code == 200
    else:
        inspector.post(f"/installations/{gone.reg_id}/uninstall")
    assert_error(call(gone, name), 404, "NO_REGISTRATION", "no registration")


@pytest.mark.parametrize(("name", "dialect"), REG_CALLS, ids=[n for n, _ in REG_CALLS])
def test_a_registration_of_another_application_is_unknown(new_device: MakeDevice, name: str, dialect: Dialect) -> None:
    theirs = new_device(dialect, app_code=OTHER_APP)
    ours = new_device(dialect, register=False)
    assert_error(call(ours, name, target=theirs.reg_id), 404, "NO_REGISTRATION")


@pytest.mark.parametrize("name", ["sync_messages", "seen_messages", "send_mo"])
def test_message_calls_need_a_registration_header(new_device: MakeDevice, name: str) -> None:
    device = new_device(Dialect.ANDROID, register=False)
    assert_error(call(device, name), 404, "NO_REGISTRATION", "pushregistrationid")
    device.reg_id = "unknown-caller"
    assert_error(call(device, name), 404, "NO_REGISTRATION", "unknown-caller")


def test_an_unknown_caller_is_no_registration(new_device: MakeDevice) -> None:
    target = new_device(Dialect.IOS)
    stranger = new_device(Dialect.IOS, register=False)
    stranger.reg_id = "forgotten"
    assert_error(stranger.get(target.reg_id), 404, "NO_REGISTRATION", "forgotten")
    assert_error(stranger.delivery_report(["m"]), 404, "NO_REGISTRATION", "forgotten")


# ---------------------------------------------------------------------------------------------
# 400 validation codes


@pytest.mark.parametrize(
    ("identity", "code", "text"),
    [
        ({}, "USER_IDENTITY_INVALID", "needs an externalUserId, a phone or an email"),
        ({"phones": [], "emails": []}, "USER_IDENTITY_INVALID", "needs an externalUserId"),
        ({"externalUserId": "   "}, "USER_IDENTITY_INVALID", "externalUserId is blank"),
        ({"externalUserId": "x" * 257}, "USER_IDENTITY_INVALID", "externalUserId is 257 characters"),
        ({"emails": [{"address": "not-an-email"}]}, "EMAIL_INVALID", "'not-an-email' is not a valid address"),
        ({"emails": [{"address": f"u{i}@example.com"} for i in range(101)]}, "EMAIL_INVALID", "101 emails"),
        ({"phones": [{"number": "12ab"}]}, "PHONE_INVALID", "'12ab' is not an international number"),
        ({"phones": [{"number": "+1 23"}]}, "PHONE_INVALID", "6 to 15 digits"),
        ({"phones": [{"number": str(38591000000 + i)} for i in range(101)]}, "PHONE_INVALID", "101 phones"),
    ],
)
def test_personalize_identity_validation(
    device: Device, inspector: Inspector, identity: dict[str, Any], code: str, text: str
) -> None:
    assert_error(device.personalize(identity), 400, code, text)
    assert inspector.persons() == []


@pytest.mark.parametrize(
    ("attributes", "text"),
    [
        ({"firstName": "f" * 256}, "firstName is 256 characters"),
        ({"middleName": "m" * 51}, "middleName is 51 characters"),
        ({"birthday": "1990-13-01"}, "birthday '1990-13-01' is not a yyyy-MM-dd date"),
        ({"gender": "MALE"}, "userAttributes.gender"),
        ({"tags": ["ok", ""]}, "a tag is blank"),
        ({"customAttributes": {"a": "v" * 4097}}, "is 4097 characters; the limit is 4096"),
        ({"customAttributes": {"a{": 1}}, "without {}[]"),
        ({"customAttributes": {"a": {"nested": 1}}}, "userAttributes.customAttributes.a"),
        ({"customAttributes": {"a": 2**63}}, "numbers are"),
    ],
)
def test_personalize_attribute_validation(
    device: Device, inspector: Inspector, attributes: dict[str, Any], text: str
) -> None:
    assert_error(device.personalize({"externalUserId": "valid"}, attributes), 400, "REQUEST_FORMAT_INVALID", text)
    # all or nothing: no person, no identity
    assert inspector.persons() == []
    assert device.user().json()["instances"][0]["pushRegId"] == device.reg_id


@pytest.mark.parametrize(
    ("body", "code", "text"),
    [
        ({"emails": [{"address": "@nope"}]}, "EMAIL_INVALID", "not a valid address"),
        ({"phones": [{"number": "phone"}]}, "PHONE_INVALID", "not an international number"),
        ({"externalUserId": None}, "USER_IDENTITY_INVALID", "must keep an externalUserId, a phone or an email"),
        ({"externalUserId": ""}, "USER_IDENTITY_INVALID", "externalUserId is blank"),
        ({"birthday": "01.02.1990"}, "REQUEST_FORMAT_INVALID", "not a yyyy-MM-dd date"),
        ({"tags": "vip"}, "REQUEST_FORMAT_INVALID", "invalid User: tags"),
    ],
)
def test_user_patch_validation(device: Device, body: dict[str, Any], code: str, text: str) -> None:
    device.personalize({"externalUserId": "patch-me"}, {"firstName": "Kept"})
    assert_error(device.patch_user(body), 400, code, text)
    user = device.user_json()
    assert (user["externalUserId"], user["firstName"]) == ("patch-me", "Kept")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (b"{not json", "Invalid JSON"),
        (b"", "a JSON body (Installation) is required"),
        (b"   ", "a JSON body (Installation) is required"),
        (b"[]", "Input should be an object"),
        (b"null", "Input should be an object"),
        (b'"text"', "Input should be an object"),
        (b"\xff\xfe{}", "Invalid JSON"),
        (b'{"isPrimary":"true"}', "isPrimary: Input should be a valid boolean"),
        (b'{"regEnabled":1}', "regEnabled: Input should be a valid boolean"),
        (b'{"appVersion":3.1}', "appVersion: Input should be a valid string"),
        (b'{"pushServiceType":"FCM"}', "pushServiceType"),
        (b'{"customAttributes":[1]}', "customAttributes"),
        (b'{"customAttributes":{"a":NaN}}', "customAttributes.a"),
        (b'{"customAttributes":{"a":1e999}}', "customAttributes.a"),
        (b'{"sdkVersion":"' + b"9" * 1025 + b'"}', "sdkVersion: String should have at most 1024 characters"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "Invalid JSON"),
        (b'{"deviceName":"\\ud800"}', "Invalid JSON"),
    ],
)
def test_malformed_bodies_are_request_format_invalid(device: Device, raw: bytes, text: str) -> None:
    headers = device.headers(with_body=True)
    if device.dialect is Dialect.ANDROID:
        headers["X-HTTP-Method-Override"] = "PATCH"
    method = "PATCH" if device.dialect is Dialect.IOS else "POST"
    response = device.client.request(method, f"/mobile/1/appinstance/{device.reg_id}", headers=headers, content=raw)
    assert_error(response, 400, "REQUEST_FORMAT_INVALID", text)


@pytest.mark.parametrize(
    ("body", "text"),
    [
        ({"sessionStarts": ["2024-05-01T10:00:00"]}, "has no time zone"),
        ({"sessionStarts": ["0001-01-01T00:00:00+01:00"]}, "is out of range in UTC"),
        ({"sessionStarts": ["2024-02-30T10:00:00Z"]}, "is not an ISO-8601 timestamp"),
        ({"sessionStarts": [1714557600]}, "sessionStarts.0"),
        ({"sessionBounds": {"2024-05-01T10:00:00Z": "2024-05-01T09:00:00Z"}}, "ends (2024-05-01T09:00:00Z) before"),
        ({"sessionBounds": ["2024-05-01T10:00:00Z"]}, "sessionBounds"),
        ({"systemData": {"deviceSecure": "yes"}}, "systemData.deviceSecure"),
    ],
)
def test_session_report_validation(device: Device, inspector: Inspector, body: dict[str, Any], text: str) -> None:
    assert_error(device.call("session_report", body=body), 400, "REQUEST_FORMAT_INVALID", text)
    assert inspector.names(definitionId="AppLaunch") == []


@pytest.mark.parametrize("value", ["yes", "2", "truee", "on"])
@pytest.mark.parametrize("flag", ["forceDepersonalize", "keepAsLead", "setDeviceAsPrimary"])
def test_bad_query_booleans(device: Device, flag: str, value: str) -> None:
    response = device.call(
        "personalize", body={"userIdentity": {"externalUserId": "q"}}, query=f"{flag}={value}"
    )  # the later value of a repeated key wins
    assert_error(response, 400, "REQUEST_FORMAT_INVALID", f"query parameter {flag}: {value!r} is not a boolean")


def test_bad_validate_and_rt_flags(device: Device) -> None:
    assert_error(
        device.call("custom_events", body={"events": []}, query="validate=maybe"), 400, "REQUEST_FORMAT_INVALID"
    )
    assert_error(device.call("get_installation", query="rt=x"), 400, "REQUEST_FORMAT_INVALID", "query parameter rt")
    assert_error(device.call("get_user", query="ri=-"), 400, "REQUEST_FORMAT_INVALID", "query parameter ri")


def test_version_platform_type(client: TestClient) -> None:
    response = client.get("/mobile/3/version?platformType=WEB", headers={"Authorization": f"App {APP_CODE}"})
    assert_error(response, 400, "REQUEST_FORMAT_INVALID", "platformType must be APNS or GCM")


# ---------------------------------------------------------------------------------------------
# 409 conflicts


def test_ambiguous_candidates(new_device: MakeDevice, inspector: Inspector) -> None:
    new_device().personalize({"externalUserId": "ann", "emails": [{"address": "ann@example.com"}]})
    new_device().personalize({"externalUserId": "bob", "phones": [{"number": "385911111111"}]})
    third = new_device()
    response = third.personalize({"emails": [{"address": "ANN@example.com"}], "phones": [{"number": "+385911111111"}]})
    assert_error(response, 409, "AMBIGUOUS_PERSONALIZE_CANDIDATES", "points to 2 different persons")
    assert len(inspector.persons()) == 2


def test_personalization_impossible(device: Device, new_device: MakeDevice) -> None:
    new_device(device.dialect).personalize({"externalUserId": "owner"})
    device.personalize({"externalUserId": "me"})
    text = assert_error(device.personalize({"externalUserId": "owner"}), 409, "PERSONALIZATION_IMPOSSIBLE")
    assert "forceDepersonalize=true" in text


def test_user_merge_interrupted(device: Device, new_device: MakeDevice) -> None:
    new_device(device.dialect).personalize({"externalUserId": "taken", "emails": [{"address": "taken@example.com"}]})
    device.personalize({"externalUserId": "mine"})
    assert_error(
        device.patch_user({"externalUserId": "taken"}), 409, "USER_MERGE_INTERRUPTED", "belongs to another person"
    )
    assert_error(device.patch_user({"emails": [{"address": "TAKEN@example.com"}]}), 409, "USER_MERGE_INTERRUPTED")
    assert device.user_json()["externalUserId"] == "mine"


# ---------------------------------------------------------------------------------------------
# 403 calls on another installation that the SDK never makes


@pytest.fixture
def strangers(new_device: MakeDevice) -> tuple[Device, Device]:
    """Two personalized devices of different persons."""
    mine, theirs = new_device(Dialect.IOS), new_device(Dialect.IOS)
    mine.personalize({"externalUserId": "mine"})
    theirs.personalize({"externalUserId": "theirs"})
    return mine, theirs


@pytest.mark.parametrize(
    ("name", "body"),
    [
        ("get_installation", None),
        ("get_user", None),
        ("patch_user", {"firstName": "Hijack"}),
        ("personalize", {"userIdentity": {"externalUserId": "mine"}}),
        ("session_report", {"sessionStarts": ["2024-05-01T10:00:00Z"]}),
        ("custom_events", {"events": []}),
    ],
)
def test_own_installation_calls_on_another_are_forbidden(
    new_device: MakeDevice, strangers: tuple[Device, Device], name: str, body: dict[str, Any] | None
) -> None:
    mine, theirs = strangers
    sibling = new_device(Dialect.IOS)
    sibling.personalize({"externalUserId": "mine"})
    for target in (theirs, sibling):  # even a sibling: the SDK makes these calls only on itself
        response = mine.call(name, target=target.reg_id, body=body)
        assert_error(response, 403, "FORBIDDEN", "the SDK makes it only on its own installation")


def test_primary_flag_and_depersonalize_only_within_the_person(strangers: tuple[Device, Device]) -> None:
    mine, theirs = strangers
    assert_error(mine.patch({"isPrimary": True}, target=theirs.reg_id), 403, "FORBIDDEN", "does not belong")
    assert_error(mine.depersonalize(target=theirs.reg_id), 403, "FORBIDDEN", "only a sibling can be logged out")
    assert theirs.user_json()["externalUserId"] == "theirs"


def test_a_sibling_patch_carries_only_the_primary_flag(new_device: MakeDevice) -> None:
    a, b = new_device(Dialect.ANDROID), new_device(Dialect.ANDROID)
    a.personalize({"externalUserId": "same"})
    b.personalize({"externalUserId": "same"})
    for body in ({"isPrimary": True, "appVersion": "1"}, {"appVersion": "1"}, {"isPrimary": None}, {}):
        assert_error(a.patch(body, target=b.reg_id), 403, "FORBIDDEN", '{"isPrimary": true|false}')


def test_anonymous_devices_cannot_touch_others(new_device: MakeDevice) -> None:
    a, b = new_device(), new_device()
    assert_error(a.patch({"isPrimary": True}, target=b.reg_id), 403, "FORBIDDEN")
    assert_error(a.depersonalize(target=b.reg_id), 403, "FORBIDDEN")


# ---------------------------------------------------------------------------------------------
# transport: unknown paths, methods, sizes


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/index.html"),  # "/" is the web page (server_stub/web/)
        ("GET", "/nope"),
        ("POST", "/mobile/9/appinstance"),
        ("GET", "/mobile/1/appinstance/x/user/extra"),
        ("POST", "/mobile/1/appinstance//personalize"),
        ("GET", "/inspect/nothing"),
    ],
)
def test_unknown_paths(client: TestClient, method: str, path: str) -> None:
    response = client.request(method, path, headers={"Authorization": f"App {APP_CODE}"})
    assert_error(response, 404, "NOT_FOUND", f"no route {method} {path}")


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/mobile/1/appinstance/x", "DELETE, GET, PATCH, POST"),
        ("GET", "/mobile/1/appinstance/x/personalize", "POST"),
        ("DELETE", "/mobile/1/appinstance", "POST"),
        ("PATCH", "/mobile/1/appinstance/x/depersonalize", "POST"),
        ("POST", "/mobile/3/version", "GET"),
        ("DELETE", "/inspect/persons", "GET"),
    ],
)
def test_wrong_methods(client: TestClient, method: str, path: str, allow: str) -> None:
    response = client.request(method, path, headers={"Authorization": f"App {APP_CODE}"})
    assert_error(response, 405, "METHOD_NOT_ALLOWED", f"no route {method} {path}")
    assert response.headers["allow"] == allow


@pytest.mark.parametrize("suffix", ["", "/user"])
def test_post_without_the_override_is_not_a_patch(device: Device, suffix: str) -> None:
    sent = device.headers(with_body=True)
    for override in (None, "PUT", "DELETE"):
        headers = {**sent, **({"X-HTTP-Method-Override": override} if override else {})}
        response = device.client.request(
            "POST", f"/mobile/1/appinstance/{device.reg_id}{suffix}", headers=headers, json={}
        )
        assert_error(response, 405, "METHOD_NOT_ALLOWED", "X-HTTP-Method-Override: PATCH")
    headers = {**sent, "X-HTTP-Method-Override": "patch"}
    response = device.client.request("POST", f"/mobile/1/appinstance/{device.reg_id}{suffix}", headers=headers, json={})
    assert response.status_code == 200


def test_oversize_bodies(device: Device, client: TestClient) -> None:
    big = json.dumps({"customAttributes": {"a": "x" * (MAX_BODY + 1)}}).encode()
    response = device.client.request(
        "POST",
        f"/mobile/1/appinstance/{device.reg_id}",
        headers={**device.headers(with_body=True), "X-HTTP-Method-Override": "PATCH"},
        content=big,
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE", f"the limit is {MAX_BODY}")
    response = client.post("/inspect/event-definitions", content=big)
    assert_error(response, 413, "PAYLOAD_TOO_LARGE")
    # without a Content-Length (chunked): counted while read
    response = client.post(
        "/mobile/1/appinstance?rt=1",
        headers={"Authorization": f"App {APP_CODE}"},
        content=iter([b'{"deviceName":"', b"x" * MAX_BODY, b'"}']),
    )
    assert_error(response, 413, "PAYLOAD_TOO_LARGE", f"over the {MAX_BODY}-byte limit")


def test_a_body_at_the_limit_is_read(client: TestClient) -> None:
    padding = MAX_BODY - len(b'{"deviceName":"x","pad":""}')
    body = b'{"deviceName":"x","pad":"' + b" " * padding + b'"}'
    assert len(body) == MAX_BODY
    response = client.post("/mobile/1/appinstance", headers={"Authorization": f"App {APP_CODE}"}, content=body)
    assert response.status_code == 200
    assert response.json()["deviceName"] == "x"


# ---------------------------------------------------------------------------------------------
# the inspection API's errors


@pytest.mark.parametrize(
    ("method", "path", "payload", "status", "code"),
    [
        ("GET", "/inspect/persons/12345", None, 404, "NOT_FOUND"),
        ("GET", "/inspect/persons/0", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/persons/9223372036854775808", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/persons/abc", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/persons?identifier=99999999999999999999999&type=ID", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/persons?identifier=%D9%A3&type=ID", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/persons?identifier=x&type=NAME", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/persons?identifier=nobody", None, 404, "NOT_FOUND"),
        ("GET", "/inspect/persons?identifier=12ab&type=PHONE", None, 400, "PHONE_INVALID"),
        ("GET", "/inspect/persons?limit=0", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/persons?limit=1001", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/persons?page=-1", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/events?personId=9223372036854775808", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/installations?state=gone", None, 400, "REQUEST_FORMAT_INVALID"),
        ("GET", "/inspect/installations/none", None, 404, "NOT_FOUND"),
        ("POST", "/inspect/installations/none/uninstall", None, 404, "NOT_FOUND"),
        ("POST", "/inspect/applications", b"[1]", 400, "REQUEST_FORMAT_INVALID"),
        ("POST", "/inspect/applications", b'{"code":5}', 400, "REQUEST_FORMAT_INVALID"),
        ("POST", "/inspect/applications", b'{"code":""}', 400, "REQUEST_FORMAT_INVALID"),
        ("POST", "/inspect/applications", b'{"code":"has space"}', 400, "REQUEST_FORMAT_INVALID"),
        ("POST", "/inspect/applications", b'{"code":"caf\\u00e9"}', 400, "REQUEST_FORMAT_INVALID"),
        ("POST", "/inspect/applications", b'{"account":""}', 400, "REQUEST_FORMAT_INVALID"),
        ("POST", "/inspect/applications", b'{"name":"\\ud800"}', 400, "REQUEST_FORMAT_INVALID"),
        ("POST", "/inspect/applications", b"[" * 100_000 + b"]" * 100_000, 400, "REQUEST_FORMAT_INVALID"),
        ("POST", "/inspect/event-definitions", b"{bad", 400, "REQUEST_FORMAT_INVALID"),
        ("POST", "/inspect/event-definitions", b"\xc3\x28", 400, "REQUEST_FORMAT_INVALID"),
    ],
)
def test_inspection_errors(
    client: TestClient, method: str, path: str, payload: bytes | None, status: int, code: str
) -> None:
    assert_error(client.request(method, path, content=payload), status, code)


# ---------------------------------------------------------------------------------------------
# a server failure still answers the envelope (with a Content-Length), and never for bad input


def test_an_unexpected_failure_is_a_500_envelope(
    app: FastAPI, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from server_stub import rules

    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(rules, "get_installation", broken)
    device = Device(client, Dialect.IOS)
    device.register()
    assert_error(device.get(), 500, "INTERNAL_ERROR", "internal error: RuntimeError")


R = "REQUEST_FORMAT_INVALID"
HOSTILE: list[tuple[str, str, bytes, int, str | None]] = [
    ("PATCH", "/user", b'{"customAttributes":{"n":123456789012345678901234567890}}', 400, R),
    ("PATCH", "/user", b'{"customAttributes":{"d":-1e308,"e":1e308}}', 400, R),
    ("PATCH", "/user", b'{"customAttributes":{"l":[{"a":NaN}]}}', 400, R),
    ("PATCH", "/user", b'{"tags":[' + b'"t",' * 5000 + b'"t"]}', 400, R),
    ("PATCH", "/user", b'{"customAttributes":{' + b",".join(b'"k%d":%d' % (i, i) for i in range(999)) + b"}}", 400, R),
    ("PATCH", "/user", b'{"firstName":"\\u0000\\u0001"}', 200, None),
    ("POST", "/personalize", b'{"userIdentity":{"externalUserId":"\\udfff"}}', 400, R),
    ("POST", "/personalize", b'{"userIdentity":null}', 400, R),
    (
        "POST",
        "/personalize",
        b'{"userIdentity":{"phones":[{"number":"\\u0663\\u0668\\u0665\\u0669\\u0661\\u0661"}]}}',
        400,
        "PHONE_INVALID",
    ),
    ("POST", "/personalize", b'{"userIdentity":{"emails":[{"address":"a@b.c\\n"}]}}', 200, None),
    ("POST", "/user/events/session", b'{"sessionStarts":["9999-12-31T23:59:59-23:59"]}', 400, R),
    ("POST", "/user/events/session", b'{"sessionBounds":{"x":"y"}}', 400, R),
    # without validate (false): the batch is accepted, a malformed item is rejected on its own
    ("POST", "/user/events/custom", b'{"events":[{"definitionId":"d","date":"0000-01-01T00:00:00Z"}]}', 200, None),
    ("POST", "/user/events/custom", b'{"events":[{"definitionId":"d","properties":{"p":{"q":1}}}]}', 200, None),
    ("POST", "/user/events/custom?validate=1", b'{"events":[{"definitionId":"d","properties":{"p":{"q":1}}}]}', 400, R),
    ("POST", "/user/events/custom", b'{"events":{"definitionId":"d"}}', 400, R),
    ("POST", "/user/events/custom", b'{"events":[{"definitionId":"\\u0000"}]}', 200, None),  # validate=false: counted
]


@pytest.mark.parametrize(
    ("method", "suffix", "raw", "status", "code"), HOSTILE, ids=[f"{m} {s} {i}" for i, (m, s, *_) in enumerate(HOSTILE)]
)
def test_hostile_input(
    device: Device, inspector: Inspector, method: str, suffix: str, raw: bytes, status: int, code: str | None
) -> None:
    device.personalize({"externalUserId": "target"})
    headers = device.headers(with_body=True)
    if method == "PATCH" and device.dialect is Dialect.ANDROID:
        method, headers = "POST", {**headers, "X-HTTP-Method-Override": "PATCH"}
    url = f"/mobile/1/appinstance/{device.reg_id}{suffix}"
    response = device.client.request(method, url, headers=headers, content=raw)
    if code is None:
        assert response.status_code == status, response.text
    else:
        assert_error(response, status, code)
    # whatever was stored can be answered as JSON again
    assert device.user().status_code == 200
    assert inspector.person_of(device.reg_id or "")["externalUserId"] == "target"
    assert json.loads(device.client.get("/inspect/events", params={"limit": 1000}).content)


def test_hostile_timestamps_in_events(device: Device) -> None:
    bad = {"events": [{"definitionId": "d", "date": "2024-05-01T10:00:00+99:00"}]}
    assert_error(device.call("custom_events", body=bad, flags={"validate": True}), 400, "REQUEST_FORMAT_INVALID")
