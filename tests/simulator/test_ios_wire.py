"""The iOS dialect, request by request."""

from __future__ import annotations

import json
import re

import httpx
import pytest
from simhelpers import START, sent, targets

from simulator import RegistrationGoneError, ServerError
from simulator.errors import DepersonalizationInProgressError

APNS = re.compile(r"^[0-9a-f]{64}$")


def error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"requestError": {"serviceException": {"messageId": code, "text": code}}})


def test_first_launch_registers_and_reports_the_session(make, router):
    router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    device = make("ios")
    device.start()
    # the base-URL check (the SDK's default URL, 12.6.1), then the create alone: the messages sync
    # and the user ran at start, before the token, and found no registration
    assert targets(router) == ["GET /mobile/1/baseurl", "POST /mobile/1/appinstance?rt=1"]
    device.advance(4.999)
    assert len(sent(router)) == 2  # the session timer first fires 5 s after the SDK's start
    device.advance(0.001)
    assert targets(router)[2:] == ["POST /mobile/1/appinstance/REG-1/user/events/session"]
    check, create, session = sent(router)
    assert "pushregistrationid" not in check.headers and check.body is None
    assert create.raw == json.dumps(create.body, sort_keys=True, separators=(",", ":")).encode()
    p = device.profile
    assert create.headers["User-Agent"] == (
        f"MobileMessaging/{p.sdk_version}(iOS;{p.os_version};;{device.system_data()['deviceModel']};;"
        f"com.infobip.mobsim.demo;{p.app_version};{p.device_name};--;65535;65535)"
    )
    assert create.body["customAttributes"] == {} and create.body["isPrimary"] is False
    assert create.body["regEnabled"] is True and create.body["notificationsEnabled"] is True
    assert create.body["pushServiceType"] == "APNS" and create.body["os"] == "iOS"
    assert APNS.match(create.body["pushServiceToken"])
    assert create.body["deviceTimezoneOffset"] == "GMT+02:00"
    assert session.body["sessionStarts"] == ["2024-05-01T10:00:05Z"] and "sessionBounds" not in session.body
    assert list(session.body) == ["sessionStarts", "systemData"]  # empty members left out, keys sorted
    assert session.headers["sessionId"] == f"REG-1_{int(START * 1000) + 5000}"


def test_a_launch_shorter_than_five_seconds_records_no_session(make, router):
    device = make("ios")
    device.start()
    device.advance(4.9)
    device.background()
    device.advance(120)
    assert device.state.sessions is None
    assert not any(t.endswith("/user/events/session") for t in targets(router))


def test_next_launch_patches_full_system_data_with_a_real_patch(started, router):
    device = started("ios")
    router.patch("/mobile/1/appinstance/REG-1").respond(200)
    router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    device.update_app("4.13.0", "15.6.0")
    device.advance(3600 * 24)
    device.start()
    patch = next(s for s in sent(router) if s.method == "PATCH")
    assert (patch.method, patch.target) == ("PATCH", "/mobile/1/appinstance/REG-1?rt=0")
    assert patch.body["appVersion"] == "4.13.0" and patch.body["sdkVersion"] == "15.6.0"
    assert "pushServiceToken" not in patch.body
    assert patch.headers["User-Agent"].startswith("MobileMessaging/15.6.0(iOS;")


def test_query_booleans_are_1_and_0_in_sorted_order(started, router):
    device = started("ios")
    router.post("/mobile/1/appinstance/REG-1/personalize").respond(200, json={"externalUserId": "u1"})
    router.get("/mobile/1/appinstance/REG-1/user").respond(200, json={"externalUserId": "u1"})
    router.patch("/mobile/1/appinstance/REG-1/user").respond(200)
    router.post("/mobile/1/appinstance/REG-1/user/events/custom").respond(200)
    device.personalize({"externalUserId": "u1"}, keep_as_lead=True)
    device.fetch_user()
    device.save_user(tags=["a", "b"])
    device.submit_event("now", validate=True)
    assert targets(router) == [
        "POST /mobile/1/appinstance/REG-1/personalize?forceDepersonalize=0&keepAsLead=1&setDeviceAsPrimary=0",
        "GET /mobile/1/appinstance/REG-1/user?ri=1&rt=0",
        "PATCH /mobile/1/appinstance/REG-1/user?ri=0&rt=0",
        "POST /mobile/1/appinstance/REG-1/user/events/custom?validate=1",
    ]
    get = sent(router)[1]
    assert get.headers["Content-Type"] == "application/json" and get.raw == b""


def test_user_patch_is_the_delta_against_acknowledged_data(started, router):
    device = started("ios")
    router.post("/mobile/1/appinstance/REG-1/personalize").respond(
        200, json={"externalUserId": "u1", "firstName": "Ana", "customAttributes": {"a": 1, "b": 2}}
    )
    patch = router.patch("/mobile/1/appinstance/REG-1/user").respond(200)
    device.personalize({"externalUserId": "u1"})
    device.save_user(firstName="Ana", lastName="Horvat", customAttributes={"a": 1, "b": None})
    assert json.loads(patch.calls.last.request.content) == {"customAttributes": {"b": None}, "lastName": "Horvat"}
    assert device.user == {
        "externalUserId": "u1",
        "firstName": "Ana",
        "lastName": "Horvat",
        "customAttributes": {"a": 1},
    }


def test_batched_events_debounce_2_seconds_and_flush_on_foreground(started, router, clock):
    device = started("ios")
    route = router.post("/mobile/1/appinstance/REG-1/user/events/custom")
    route.side_effect = [httpx.Response(500, json={}), httpx.Response(200)]
    router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    device.submit_event("a")
    device.advance(1.5)
    device.submit_event("b", {"n": 2})
    device.advance(1.9)
    assert route.call_count == 0
    device.advance(0.2)
    assert route.call_count == 1
    first = json.loads(route.calls.last.request.content)
    assert route.calls.last.request.url.query == b"validate=0"
    assert [e["definitionId"] for e in first["events"]] == ["a", "b"]
    assert first["events"][0] == {"date": "2024-05-01T10:00:00Z", "definitionId": "a"}  # no properties: left out
    assert first["events"][1]["properties"] == {"n": 2}
    device.advance(30)
    assert route.call_count == 1  # iOS does not retry
    device.background()
    device.advance(5)
    device.foreground()
    assert route.call_count == 2 and device.state.events is None


def test_no_retry_and_resync_on_next_foreground(started, router):
    device = started("ios")
    route = router.patch("/mobile/1/appinstance/REG-1/user")
    route.side_effect = [httpx.Response(503, json={}), httpx.Response(200)]
    router.patch("/mobile/1/appinstance/REG-1").respond(200)
    router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    with pytest.raises(ServerError) as caught:
        device.save_user(firstName="Ana")
    assert not caught.value.will_retry
    device.advance(60)
    assert route.call_count == 1
    device.background()
    device.advance(60)
    device.foreground()
    assert route.call_count == 2 and device.state.user_dirty is None


def test_depersonalize_gives_up_after_three_failures(started, router):
    device = started("ios")
    route = router.post("/mobile/1/appinstance/REG-1/depersonalize").respond(500, json={})
    session = router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    reported = session.call_count
    with pytest.raises(ServerError):
        device.depersonalize()
    assert device.depersonalize_pending and device.state.depersonalize_failures == 1
    with pytest.raises(DepersonalizationInProgressError):
        device.fetch_user()
    device.background()
    device.advance(60)
    device.foreground()
    assert device.state.depersonalize_failures == 2 and device.depersonalize_pending
    assert session.call_count == reported  # session reports are blocked while pending
    device.background()
    device.advance(60)
    device.foreground()
    assert device.state.depersonalize_failures == 3 and not device.depersonalize_pending
    assert route.call_count == 3 and session.call_count == reported + 1
    device.background()
    device.advance(60)
    device.foreground()
    assert route.call_count == 3


def test_no_registration_registers_anew(started, router):
    device = started("ios")
    router.post("/mobile/1/appinstance").respond(200, json={"pushRegId": "REG-2"})
    router.patch("/mobile/1/appinstance/REG-1/user").mock(return_value=error(404, "NO_REGISTRATION"))
    with pytest.raises(RegistrationGoneError):
        device.save_user(firstName="Ana")
    assert targets(router) == ["PATCH /mobile/1/appinstance/REG-1/user?ri=0&rt=0", "POST /mobile/1/appinstance?rt=1"]
    assert device.reg_id == "REG-2" and device.state.keychain_reg_id == "REG-2"


def test_reinstall_deletes_the_stale_registration_from_the_keychain(started, router):
    device = started("ios")
    before = (device.installation_id, device.push_token)
    device.reinstall()
    router.post("/mobile/1/appinstance").respond(200, json={"pushRegId": "REG-2"})
    delete = router.delete("/mobile/1/appinstance/REG-1").respond(200)
    router.post("/mobile/1/appinstance/REG-2/user/events/session").respond(200)
    device.start()
    assert targets(router)[:3] == ["GET /mobile/1/baseurl", "POST /mobile/1/appinstance?rt=1",
                                   "DELETE /mobile/1/appinstance/REG-1"]  # fmt: skip
    assert delete.calls.last.request.headers["pushregistrationid"] == "REG-2"
    assert (device.installation_id, device.push_token) != before
    assert sent(router)[1].headers["installationid"] == device.installation_id


def test_android_reinstall_deletes_nothing(started, router):
    device = started("android")
    device.reinstall()
    router.post("/mobile/1/appinstance").respond(200, json={"pushRegId": "REG-2"})
    device.start()
    assert targets(router) == ["GET /mobile/1/baseurl", "POST /mobile/1/appinstance?ri=true"]


def test_notifications_enabled_is_true_for_the_first_hour(started, router):
    device = started("ios")
    patch = router.patch("/mobile/1/appinstance/REG-1").respond(200)
    router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    device.set_notifications_enabled(False)
    device.background()
    device.advance(600)
    device.foreground()
    assert json.loads(patch.calls.last.request.content)["notificationsEnabled"] is True
    device.background()
    device.advance(3600)
    device.foreground()
    assert json.loads(patch.calls.last.request.content)["notificationsEnabled"] is False


def test_session_id_header_follows_the_current_session(started, router):
    router.post("/mobile/1/appinstance/REG-1/user/events/custom").respond(200)
    ios, android = started("ios"), started("android", seed=2)
    ios.advance(5)  # the first tick opens iOS's session [START + 5 s, START + 10 s]
    router.calls.clear()
    for device in (ios, android):
        device.background()
    ios.advance(10)
    ios.submit_event("bg", validate=True)
    android.submit_event("bg", validate=True)
    ios_call, android_call = sent(router)
    assert ios_call.headers["sessionId"] == f"REG-1_{int(START * 1000) + 5000}"
    assert ios_call.headers["foreground"] == "false"
    assert "sessionId" not in android_call.headers
    ios.advance(60)
    ios.submit_event("later", validate=True)
    assert "sessionId" not in sent(router)[-1].headers
