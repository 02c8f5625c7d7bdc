"""What each SDK does after `NO_REGISTRATION` (docs/reference: iOS `InstallationDataService.recoverRegistration`
on any call's error; Android `MobileMessagingCore.handleNoRegistrationError` on the calls that handle it)."""

from __future__ import annotations

import httpx
import pytest
from simhelpers import START, sent, targets

from simulator import ApiError, RegistrationGoneError
from simulator.state import Flag

CREATE = "POST /mobile/1/appinstance?rt=1"


def gone() -> httpx.Response:
    return httpx.Response(404, json={"requestError": {"serviceException": {"messageId": "NO_REGISTRATION",
                                                                           "text": "gone"}}})  # fmt: skip


@pytest.fixture
def ios(started, router):
    router.post("/mobile/1/messages/deliveryreport").respond(200)
    return started("ios")


def creates(router) -> int:
    return targets(router).count(CREATE)


def test_ios_registers_anew_after_a_messages_sync_answered_no_registration(ios, router):
    router.post("/mobile/5/messages").mock(side_effect=[gone(), httpx.Response(200, json={"payloads": []})])
    router.post("/mobile/1/appinstance").respond(200, json={"pushRegId": "REG-2"})
    with pytest.raises(RegistrationGoneError):
        ios._sync_messages()
    assert creates(router) == 1 and ios.reg_id == "REG-2"


def test_ios_registers_anew_after_a_seen_report_or_an_mo_answered_no_registration(ios, router, clock):
    router.post("/mobile/1/appinstance").respond(200, json={"pushRegId": "REG-2"})
    router.post("/mobile/1/messages/mo").mock(return_value=gone())
    with pytest.raises(RegistrationGoneError):
        ios.send_mo("hello")
    assert creates(router) == 1 and ios.reg_id == "REG-2"


def test_ios_recovers_once_per_answer(ios, router):
    """The flow that handles the error itself (a user PATCH) does not register a second time."""
    router.post("/mobile/1/appinstance").respond(200, json={"pushRegId": "REG-2"})
    router.patch("/mobile/1/appinstance/REG-1/user").mock(return_value=gone())
    with pytest.raises(RegistrationGoneError):
        ios.save_user(firstName="Ana")
    assert creates(router) == 1


def test_ios_a_call_about_another_installation_answered_no_registration_resets_its_own(ios, router):
    router.post("/mobile/1/appinstance").respond(200, json={"pushRegId": "REG-2"})
    router.patch("/mobile/1/appinstance/OTHER").mock(return_value=gone())
    with pytest.raises(RegistrationGoneError):
        ios.set_primary("OTHER")
    assert ios.reg_id == "REG-2"


def test_android_ignores_no_registration_from_a_messages_sync(started, router, clock):
    device = started("android")
    router.post("/mobile/5/messages").mock(return_value=gone())
    device.advance(2)
    with pytest.raises(RegistrationGoneError):
        device._sync_messages()
    assert not device.state.has(Flag.REPERSONALIZE) and device.reg_id == "REG-1"
    assert "POST /mobile/1/appinstance?ri=true" not in targets(router)


def test_android_a_sibling_answered_no_registration_marks_its_own_for_recovery(started, router):
    device = started("android")
    router.post("/mobile/1/appinstance/OTHER").mock(return_value=gone())
    with pytest.raises(RegistrationGoneError):
        device.set_primary("OTHER")
    assert device.state.has(Flag.REPERSONALIZE) and device.reg_id == "REG-1"


def test_android_an_anonymous_device_patches_again_and_keeps_its_token(started, router, clock):
    device = started("android")
    router.post("/mobile/1/appinstance/REG-1/user/events/session").mock(return_value=gone())
    patch = router.post("/mobile/1/appinstance/REG-1").respond(200)
    token = device.push_token
    device.background()
    clock.set(START + 60)
    device.foreground()  # the session report is answered NO_REGISTRATION (a background call)
    assert isinstance(device.last_error, RegistrationGoneError)
    assert device.state.has(Flag.REPERSONALIZE)
    router.calls.clear()
    device.advance(2)
    device.sync()
    assert patch.called and device.push_token == token
    assert not any(t.endswith("/repersonalize") for t in targets(router))
    assert device.state.has(Flag.REPERSONALIZE)  # nothing to repersonalize with: the flag stays


def test_android_repersonalizes_with_the_unreported_user_changes(started, router, clock):
    device = started("android")
    router.post("/mobile/1/appinstance/REG-1/personalize").respond(200, json={"externalUserId": "u1"})
    device.personalize({"externalUserId": "u1"})
    router.post("/mobile/1/appinstance/REG-1/user").respond(503)  # retried later: the change stays unreported
    with pytest.raises(ApiError):
        device.save_user(firstName="Ana")
    router.post("/mobile/1/appinstance/REG-1/user/events/session").mock(return_value=gone())
    router.post("/mobile/1/appinstance/REG-1").respond(200)
    reperso = router.post("/mobile/1/appinstance/REG-1/repersonalize").respond(200)
    device.background()
    clock.set(START + 60)
    device.foreground()  # the session report is answered NO_REGISTRATION (a background call)
    assert isinstance(device.last_error, RegistrationGoneError)
    device.advance(2)
    device.sync()
    assert reperso.called
    body = [s.body for s in sent(router) if s.target.endswith("/repersonalize")][-1]
    assert body == {"userIdentity": {"externalUserId": "u1"}, "userAttributes": {"firstName": "Ana"}}


def test_android_recovers_in_the_next_sync_not_the_one_that_was_answered(make, router, clock):
    device = make("android")
    device.start()  # the create alone: the first session's start is still unreported
    router.post("/mobile/1/appinstance/REG-1/personalize").respond(200, json={"externalUserId": "u1"})
    device.personalize({"externalUserId": "u1"})
    router.post("/mobile/1/appinstance/REG-1/user/events/session").mock(return_value=gone())
    patch = router.post("/mobile/1/appinstance/REG-1").respond(200)
    reperso = router.post("/mobile/1/appinstance/REG-1/repersonalize").respond(200)
    router.calls.clear()
    device.advance(2)
    device.sync()  # its session report is answered NO_REGISTRATION: the rest was decided before
    assert not patch.called and not reperso.called and device.state.has(Flag.REPERSONALIZE)
    device.advance(2)
    device.sync()
    assert patch.called and reperso.called
