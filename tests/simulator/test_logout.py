"""What each SDK wipes locally on depersonalize, and what a pending logout holds back
(Android `MobileMessagingCore.depersonalizeCurrentInstallation`; iOS `DepersonalizeOperation`)."""

from __future__ import annotations

import pytest
from simhelpers import START, sent

from contract.dialect import Platform
from contract.messages import Message, push_payload
from simulator import ApiError, DepersonalizationInProgressError, VirtualDevice

DEPERSONALIZE = "/mobile/1/appinstance/REG-1/depersonalize"


def push_of(message_id: str, platform: Platform, *, silent: bool = False) -> object:
    return push_payload(Message(message_id=message_id, text="Hi", silent=silent, send_date_time=int(START * 1000)),
                        platform)  # fmt: skip


def logged_in(started, router, platform: str, *, push: str | None = None) -> VirtualDevice:
    """A device with a user, installation data and unreported installation edits (and a push taken)."""
    router.post("/mobile/1/appinstance/REG-1").respond(200)  # Android's PATCH
    router.post("/mobile/1/messages/deliveryreport").respond(200)
    device = started(platform)
    if push is not None:
        device.background()
        assert device.receive_push(push_of(push, device.platform, silent=True)) == push
    st = device.state
    st.user = {"externalUserId": "ana", "firstName": "Ana"}
    st.installation = {"customAttributes": {"plan": "gold"}, "applicationUserId": "app-ana", "isPrimary": True,
                       "regEnabled": True}  # fmt: skip
    st.installation_dirty = {"isPrimary": False, "customAttributes": {"plan": "silver"}, "applicationUserId": "x"}
    return device


def test_android_wipes_user_installation_data_unreported_primary_and_messages(started, router):
    device = logged_in(started, router, "android", push="M-1")
    assert device.messages
    router.post(DEPERSONALIZE).respond(200)
    device.depersonalize()
    st = device.state
    assert st.user is None and device.user == {}
    assert st.installation == {"isPrimary": True, "regEnabled": True}  # the stored primary value stays
    assert st.installation_dirty is None  # IS_PRIMARY_UNREPORTED cleared with the rest
    assert device.messages == [] and device.notifications == []


def test_ios_keeps_the_application_user_id_and_drops_unreported_installation_edits(started, router):
    device = logged_in(started, router, "ios")
    router.post(DEPERSONALIZE).respond(200)
    device.depersonalize()
    st = device.state
    assert st.user is None
    assert st.installation == {"applicationUserId": "app-ana", "isPrimary": False, "regEnabled": True}
    assert st.installation_dirty is None


def test_ios_keeps_its_messages(started, router):
    device = logged_in(started, router, "ios", push="M-1")
    router.post(DEPERSONALIZE).respond(200)
    device.depersonalize()
    assert [m["messageId"] for m in device.messages] == ["M-1"]


def test_android_sends_batched_events_while_a_logout_is_pending(started, router, clock):
    device = logged_in(started, router, "android")
    router.post(DEPERSONALIZE).respond(500)
    events = router.post("/mobile/1/appinstance/REG-1/user/events/custom").respond(200)
    with pytest.raises(ApiError):
        device.depersonalize()
    assert device.depersonalize_pending
    device.submit_event("screenView", {"screen": "home"})
    clock.set(START + 60)
    device.advance(10)
    assert events.called
    assert [s.body for s in sent(router) if s.target.startswith("/mobile/1/appinstance/REG-1/user/events/custom")][-1][
        "events"
    ][0]["definitionId"] == "screenView"


def test_android_refuses_an_immediate_event_while_a_logout_is_pending(started, router):
    device = logged_in(started, router, "android")
    router.post(DEPERSONALIZE).respond(500)
    with pytest.raises(ApiError):
        device.depersonalize()
    with pytest.raises(DepersonalizationInProgressError):
        device.submit_event("purchase", {"total": 1}, validate=True)
