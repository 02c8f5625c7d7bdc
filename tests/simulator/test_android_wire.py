"""The Android dialect, request by request (Android and Huawei platforms)."""

from __future__ import annotations

import hashlib
import re
from datetime import date

import httpx
import pytest
import respx
from simhelpers import BASE, CODE, START, sent, targets

from simulator import RegistrationGoneError, ServerError, VirtualClock
from simulator.errors import ApiError, DepersonalizationInProgressError

FCM = re.compile(r"^[A-Za-z0-9_-]{22}:APA91b[A-Za-z0-9_-]{134}$")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SYSTEM_ORDER = [
    "notificationsEnabled",
    "sdkVersion",
    "appVersion",
    "os",
    "osVersion",
    "deviceManufacturer",
    "deviceModel",
    "deviceSecure",
    "language",
    "deviceTimezoneOffset",
    "deviceName",
]


def error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"requestError": {"serviceException": {"messageId": code, "text": code}}})


def test_first_launch_creates_the_registration_and_the_next_sync_the_rest(make, router):
    device = make("android")
    device.start()
    # the base-URL check first (the SDK's default URL; an app-given one switches it off, 12.5.0),
    # then the create alone: the session report and the messages sync found no registration id
    assert targets(router) == ["GET /mobile/1/baseurl", "POST /mobile/1/appinstance?ri=true"]
    device.sync()
    assert targets(router)[2:] == ["POST /mobile/1/appinstance/REG-1/user/events/session",
                                   "POST /mobile/5/messages?platformType=GCM"]  # fmt: skip
    check, create, session, messages = sent(router)
    assert session.body["sessionStarts"] == ["2024-05-01T10:00:00Z"] and session.body["sessionBounds"] == {}
    assert check.headers["Authorization"] == f"App {CODE}" and check.raw == b""
    assert create.headers["Authorization"] == f"App {CODE}"
    assert create.headers["applicationcode"] == hashlib.sha256(CODE.encode()).hexdigest()[:10]
    assert create.headers["User-Agent"].startswith("Infobip Mobile API Client/15.0.0(S;12;arm64-v8a;M2101K6G;Xiaomi;")
    assert create.headers["User-Agent"].count(";") == 13
    assert UUID4.match(create.headers["installationid"])
    assert "pushregistrationid" not in create.headers and "sessionId" not in create.headers
    assert create.headers["foreground"] == "true"
    assert create.headers["Content-Type"] == create.headers["Accept"] == "application/json"
    assert list(create.body) == [*SYSTEM_ORDER, "pushServiceType", "pushServiceToken"]
    assert create.body["os"] == "Android" and create.body["pushServiceType"] == "Firebase"
    assert FCM.match(create.body["pushServiceToken"])
    assert messages.raw == b"" and "Content-Type" not in messages.headers
    assert messages.headers["pushregistrationid"] == "REG-1"
    assert messages.headers["sessionId"] == f"REG-1_{int(START * 1000)}"


def test_huawei_speaks_android_with_hms(make, router):
    device = make("huawei")
    device.start()
    check, create = sent(router)[:2]
    assert (check.target, create.target) == ("/mobile/1/baseurl", "/mobile/1/appinstance?ri=true")
    assert create.body["pushServiceType"] == "HMS" and create.body["deviceManufacturer"] == "HUAWEI"
    assert re.fullmatch(r"IQAAAACy0[A-Za-z0-9_-]{121}", create.body["pushServiceToken"])
    assert ";HUAWEI;" in create.headers["User-Agent"]


def test_patch_is_post_with_override_and_keeps_nulls(started, router):
    device = started("android")
    router.post("/mobile/1/appinstance/REG-1").respond(200)
    device.save_installation(customAttributes={"plan": "gold", "old": None})
    (patch,) = sent(router)
    assert (patch.method, patch.target) == ("POST", "/mobile/1/appinstance/REG-1")
    assert patch.headers["X-HTTP-Method-Override"] == "PATCH"
    assert patch.raw == b'{"customAttributes":{"plan":"gold","old":null}}'
    assert device.installation["customAttributes"] == {"plan": "gold"}


def test_personalize_query_spelling_order_and_body(started, router):
    device = started("android")
    user = {"externalUserId": "u1", "firstName": "Ana", "instances": [{"pushRegId": "REG-1", "isPrimary": True}]}
    router.post("/mobile/1/appinstance/REG-1/personalize").respond(200, json=user)
    answer = device.personalize(
        {"externalUserId": "u1", "emails": ["ana@example.com"]},
        {"firstName": "Ana", "birthday": date(1990, 1, 2), "customAttributes": {"since": date(2020, 1, 1), "x": None}},
        set_as_primary=True,
    )
    (call,) = sent(router)
    assert call.target == (
        "/mobile/1/appinstance/REG-1/personalize?setDeviceAsPrimary=true&keepAsLead=false&forceDepersonalize=false"
    )
    assert call.body == {
        "userIdentity": {"externalUserId": "u1", "emails": [{"address": "ana@example.com"}]},
        "userAttributes": {"firstName": "Ana", "birthday": "1990-01-02", "customAttributes": {"since": "2020-01-01"}},
    }
    assert answer == user
    assert device.installation["isPrimary"] is True
    assert device.user == {"externalUserId": "u1", "firstName": "Ana"}


def test_gson_escapes_html_characters(started, router):
    device = started("android")
    router.post("/mobile/1/appinstance/REG-1/user").respond(200)
    device.save_user(firstName="<Ana & 'Bo'>", lastName=None)
    assert sent(router)[0].raw == b'{"firstName":"\\u003cAna \\u0026 \\u0027Bo\\u0027\\u003e","lastName":null}'


def test_depersonalize_has_no_body_and_reissues_the_token(started, router):
    device = started("android")
    old_token = device.push_token
    router.post("/mobile/1/appinstance/REG-1/depersonalize").respond(200)
    router.post("/mobile/1/appinstance/REG-1").respond(200)
    device.advance(1)  # past the 1 s messages-sync throttle of the start's sync
    device.depersonalize()
    assert targets(router) == [
        "POST /mobile/1/appinstance/REG-1/depersonalize",
        "POST /mobile/1/appinstance/REG-1",
        "POST /mobile/5/messages?platformType=GCM",
    ]
    depersonalize, patch, _ = sent(router)
    assert depersonalize.raw == b"" and "Content-Type" not in depersonalize.headers
    assert patch.body == {"pushServiceType": "Firebase", "pushServiceToken": device.push_token}
    assert device.push_token != old_token and not device.depersonalize_pending


def test_sessions_30_second_rule_and_reports(make, router, clock):
    device = make("android")
    device.start()  # the create alone: the session's start waits for the next sync
    router.calls.clear()
    route = router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    device.advance(20)
    device.background()
    device.advance(25)
    device.foreground()  # 25 s away: same session, its start is reported now
    assert route.calls.last.request.content.startswith(b'{"systemData":{"notificationsEnabled"')
    first = sent(router)[0].body
    assert first["sessionStarts"] == ["2024-05-01T10:00:00Z"] and first["sessionBounds"] == {}
    assert list(first["systemData"]) == SYSTEM_ORDER
    device.advance(10)
    device.background()
    device.advance(31)
    router.calls.clear()
    device.foreground()  # 31 s away: the foreground sync, then the tick's new session and its report
    (report,) = [s for s in sent(router) if s.target.endswith("/user/events/session")]
    assert report.body["sessionStarts"] == ["2024-05-01T10:01:26Z"]
    assert report.body["sessionBounds"] == {"2024-05-01T10:00:00Z": "2024-05-01T10:00:55Z"}
    assert report.headers["sessionId"] == f"REG-1_{int((START + 86) * 1000)}"


def test_foreground_sync_is_throttled_to_10_seconds(started, router):
    device = started("android")
    device.background()
    device.advance(3)
    device.foreground()
    assert targets(router) == []


def test_batched_events_go_through_the_5_second_reporter(started, router, clock):
    device = started("android")
    route = router.post("/mobile/1/appinstance/REG-1/user/events/custom").respond(200)
    device.submit_event("first", {"n": 1})
    clock.advance(1)
    device.submit_event("second", {"when": date(2024, 1, 2)})
    clock.advance(1)
    device.submit_event("third")
    assert route.call_count == 1
    device.advance(3)
    assert route.call_count == 2
    last = sent(router)[-1]
    assert last.target.endswith("/user/events/custom?validate=false")
    assert last.body == {
        "events": [
            {"definitionId": "second", "date": "2024-05-01T10:00:01Z", "properties": {"when": "2024-01-02T00:00:00Z"}},
            {"definitionId": "third", "date": "2024-05-01T10:00:02Z"},  # no properties: the key is left out
        ]
    }


def test_failed_batch_waits_for_the_next_submit(started, router, clock):
    device = started("android")
    route = router.post("/mobile/1/appinstance/REG-1/user/events/custom")
    route.side_effect = [httpx.Response(500, json={}), httpx.Response(200)]
    device.submit_event("first")
    device.advance(60)
    assert route.call_count == 1  # no retry, no flush by timers or syncs
    device.submit_event("second")
    assert [e["definitionId"] for e in sent(router)[-1].body["events"]] == ["first", "second"]
    assert device.state.events is None


def test_immediate_event_returns_the_servers_verdict(started, router):
    device = started("android")
    router.post("/mobile/1/appinstance/REG-1/user/events/custom", params={"validate": "true"}).mock(
        return_value=error(400, "9")
    )
    with pytest.raises(ApiError) as caught:
        device.submit_event("unknown", {"a": 1}, validate=True)
    assert caught.value.code == "9" and caught.value.status == 400 and not caught.value.will_retry
    device.advance(60)
    assert len(router.calls) == 1


def test_retry_schedule_is_2_8_18_seconds(started, router, clock):
    device = started("android")
    moments: list[float] = []

    def fail(request: httpx.Request) -> httpx.Response:
        moments.append(clock.now() - START)
        return httpx.Response(500, json={})

    router.post("/mobile/1/appinstance/REG-1/personalize").mock(side_effect=fail)
    with pytest.raises(ServerError) as caught:
        device.personalize({"externalUserId": "u1"})
    assert caught.value.code == "-2" and caught.value.will_retry
    device.advance(120)
    assert moments == [0, 2, 10, 28]


@pytest.mark.parametrize(
    "response",
    [
        error(500, "INTERNAL_ERROR"),  # 5xx with a serviceException
        httpx.Response(503, content=b""),  # no readable body: code -1
        error(409, "PERSONALIZATION_IMPOSSIBLE"),
        error(200, "USER_IDENTITY_INVALID"),  # 2xx carrying an invalid-parameter error
    ],
)
def test_errors_the_sdk_does_not_retry(started, router, response):
    device = started("android")
    route = router.post("/mobile/1/appinstance/REG-1/personalize").mock(return_value=response)
    with pytest.raises(ApiError) as caught:
        device.personalize({"externalUserId": "u1"})
    assert not caught.value.will_retry
    device.advance(60)
    assert route.call_count == 1


def test_a_2xx_carrying_a_backend_error_is_retried(started, router):
    device = started("android")
    route = router.post("/mobile/1/appinstance/REG-1/personalize").mock(return_value=error(200, "SOMETHING"))
    with pytest.raises(ServerError):
        device.personalize({"externalUserId": "u1"})
    device.advance(60)
    assert route.call_count == 4


def test_identical_calls_within_one_second_are_debounced(started, router, clock):
    device = started("android")
    route = router.post("/mobile/1/appinstance/REG-1/personalize").respond(200, json={"externalUserId": "u1"})
    fetch = router.get("/mobile/1/appinstance/REG-1/user", params={"ri": "true"}).respond(200, json={})
    device.personalize({"externalUserId": "u1"})
    clock.advance(0.5)
    device.personalize({"externalUserId": "u1"})
    assert route.call_count == 1
    clock.advance(1)
    device.personalize({"externalUserId": "u1"})
    assert route.call_count == 2
    device.fetch_user()
    device.fetch_user()
    assert fetch.call_count == 1


def test_pending_depersonalize_blocks_and_is_replayed(started, router, make, client, clock):
    device = started("android")
    route = router.post("/mobile/1/appinstance/REG-1/depersonalize")
    route.side_effect = [
        error(400, "REQUEST_FORMAT_INVALID"),
        error(400, "REQUEST_FORMAT_INVALID"),
        httpx.Response(200),
    ]
    router.post("/mobile/1/appinstance/REG-1").respond(200)
    user_patch = router.post("/mobile/1/appinstance/REG-1/user").respond(200)
    with pytest.raises(ApiError):
        device.depersonalize()
    assert device.depersonalize_pending
    with pytest.raises(DepersonalizationInProgressError):
        device.save_user(firstName="Kept")
    for blocked in (device.fetch_user, lambda: device.submit_event("e", validate=True)):
        with pytest.raises(DepersonalizationInProgressError):
            blocked()
    # the flag is persisted: a parked and resumed device still replays
    from simulator import VirtualDevice

    device = VirtualDevice.resume(device.park(), device.config, transport=client, clock=clock)
    router.calls.clear()
    device.sync()
    assert targets(router) == ["POST /mobile/1/appinstance/REG-1/depersonalize"]
    device.sync()
    assert targets(router)[1:] == [
        "POST /mobile/1/appinstance/REG-1/depersonalize",
        "POST /mobile/1/appinstance/REG-1",
        "POST /mobile/1/appinstance/REG-1/user",
        "POST /mobile/5/messages?platformType=GCM",
    ]
    assert user_patch.calls.last.request.content == b'{"firstName":"Kept"}'
    assert not device.depersonalize_pending


def test_no_registration_recovery_patches_the_same_id_then_repersonalizes(started, router):
    device = started("android")
    router.post("/mobile/1/appinstance/REG-1/personalize").respond(
        200, json={"externalUserId": "u1", "firstName": "Ana"}
    )
    device.personalize({"externalUserId": "u1"}, {"firstName": "Ana"})
    router.post("/mobile/1/appinstance/REG-1/user").mock(return_value=error(404, "NO_REGISTRATION"))
    with pytest.raises(RegistrationGoneError):
        device.save_user(lastName="Horvat")
    patch = router.post("/mobile/1/appinstance/REG-1").respond(200)
    reperso = router.post("/mobile/1/appinstance/REG-1/repersonalize").respond(200)
    router.calls.clear()
    device.advance(1)  # past the 1 s messages-sync throttle
    device.sync()
    assert targets(router) == [
        "POST /mobile/1/appinstance/REG-1",
        "POST /mobile/1/appinstance/REG-1/repersonalize",
        "POST /mobile/5/messages?platformType=GCM",
    ]
    body = sent(router)[0].body
    assert body["isPrimary"] is True and body["regEnabled"] is True
    assert body["pushServiceToken"] == device.push_token and body["pushServiceType"] == "Firebase"
    assert set(SYSTEM_ORDER) <= set(body)
    assert (
        reperso.calls.last.request.content
        == b'{"userIdentity":{"externalUserId":"u1"},"userAttributes":{"firstName":"Ana"}}'
    )
    assert patch.call_count == 1 and device.reg_id == "REG-1"


def test_new_base_url_moves_the_device(make):
    router = respx.Router(assert_all_mocked=True)
    router.get(f"{BASE}/mobile/1/baseurl").respond(200, json={"baseUrl": BASE})
    router.post(f"{BASE}/mobile/1/appinstance").respond(
        200, json={"pushRegId": "REG-1"}, headers={"New-Base-URL": "https://eu.example.com/"}
    )
    moved = router.post("https://eu.example.com/mobile/5/messages").respond(200, json={"payloads": []})
    client = httpx.Client(transport=httpx.MockTransport(router.handler))
    from simulator import VirtualDevice

    device = VirtualDevice.create("android", CODE, seed=1, transport=client, clock=VirtualClock(START))
    device.start()
    assert device.base_url == "https://eu.example.com"
    router.post("https://eu.example.com/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    device.sync()
    assert moved.called


def test_two_failures_in_a_row_reset_the_base_url(started, router):
    device = started("android")
    device.state.base_url = "https://elsewhere.example.com"
    router.post("https://elsewhere.example.com/mobile/1/appinstance/REG-1/personalize").mock(
        return_value=error(400, "USER_IDENTITY_INVALID")
    )
    for _ in range(2):
        with pytest.raises(ApiError):
            device.personalize({"externalUserId": f"u{_}"})
    assert device.base_url == BASE


def test_notification_permission_goes_out_with_the_next_foreground_sync(started, router):
    device = started("android")
    router.post("/mobile/1/appinstance/REG-1").respond(200)
    router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    device.background()
    device.set_notifications_enabled(False)
    device.advance(60)
    device.foreground()
    patch = next(s for s in sent(router) if s.target == "/mobile/1/appinstance/REG-1")
    assert list(patch.body) == SYSTEM_ORDER and patch.body["notificationsEnabled"] is False
