"""Behaviours that follow the claimed SDK version on the wire (simulator/sdk_features.py): the
personalize query flags, the 1 s debounce, what is stored of a personalize, client-side validation."""

from __future__ import annotations

import pytest
from simhelpers import START, sent, targets

from simulator import ClientValidationError, UsageError, VirtualDevice

PERSONALIZE = "/mobile/1/appinstance/REG-1/personalize"
ANSWER = {"externalUserId": "ana", "firstName": "Ana", "lastName": "FromServer"}


@pytest.fixture
def on(make, router):
    """``on(platform, sdk)``: a device claiming ``sdk``, launched and registered as REG-1."""

    def factory(platform: str, sdk: str) -> VirtualDevice:
        device = make(platform)
        device.update_app(device.profile.app_version, sdk)
        device.start()
        assert device.reg_id == "REG-1" and device.profile.sdk_version == sdk, device.last_error
        router.post(PERSONALIZE).respond(200, json=ANSWER)
        router.post("/mobile/1/appinstance/REG-1").respond(200)  # Android's PATCH (an app update's system data)
        router.calls.clear()
        return device

    return factory


@pytest.mark.parametrize(("platform", "sdk", "query"), [
    ("android", "15.0.0", "?setDeviceAsPrimary=false&keepAsLead=true&forceDepersonalize=false"),
    ("android", "14.16.0", "?keepAsLead=true&forceDepersonalize=false"),
    ("android", "13.1.0", "?keepAsLead=true&forceDepersonalize=false"),
    ("android", "13.0.3", "?forceDepersonalize=false"),
    ("huawei", "8.11.1", "?keepAsLead=true&forceDepersonalize=false"),
    ("huawei", "6.8.0", "?keepAsLead=true&forceDepersonalize=false"),
    ("huawei", "6.7.1", "?forceDepersonalize=false"),
    ("ios", "15.5.0", "?forceDepersonalize=0&keepAsLead=1&setDeviceAsPrimary=0"),
    ("ios", "15.4.0", "?forceDepersonalize=0&keepAsLead=1"),
    ("ios", "12.14.0", "?forceDepersonalize=0&keepAsLead=1"),
    ("ios", "12.13.2", "?forceDepersonalize=0"),
])  # fmt: skip
def test_the_personalize_query_has_the_flags_of_the_version(on, router, platform, sdk, query):
    device = on(platform, sdk)
    device.personalize({"externalUserId": "ana"}, keep_as_lead=device.sdk.keep_as_lead)
    (request,) = [s for s in sent(router) if s.target.startswith(PERSONALIZE)]
    assert request.target == PERSONALIZE + query


@pytest.mark.parametrize(("platform", "sdk", "option"), [
    ("android", "14.16.0", "set_as_primary"), ("huawei", "8.11.1", "set_as_primary"),
    ("ios", "15.4.0", "set_as_primary"),
    ("android", "13.0.3", "keep_as_lead"), ("ios", "12.13.2", "keep_as_lead"), ("huawei", "6.7.1", "keep_as_lead"),
])  # fmt: skip
def test_an_option_the_version_lacks_is_a_usage_error_before_anything_is_sent(on, router, platform, sdk, option):
    device = on(platform, sdk)
    with pytest.raises(UsageError, match=f"SDK {sdk} has no personalize option"):
        device.personalize({"externalUserId": "ana"}, **{option: True})
    assert targets(router) == []


@pytest.mark.parametrize(("platform", "sdk", "requests"), [
    ("android", "14.14.0", 1), ("android", "14.13.0", 2), ("huawei", "8.11.0", 1), ("huawei", "8.10.0", 2),
    ("ios", "15.5.2", 2),
])  # fmt: skip
def test_an_identical_personalize_within_a_second_is_dropped_by_the_versions_that_debounce(
    on, router, clock, platform, sdk, requests
):
    device = on(platform, sdk)
    device.personalize({"externalUserId": "ana"})
    clock.advance(0.999)
    device.personalize({"externalUserId": "ana"})
    assert sum(1 for s in sent(router) if s.target.startswith(PERSONALIZE)) == requests


def test_the_debounce_window_is_one_second(on, router, clock):
    device = on("android", "15.0.0")
    device.personalize({"externalUserId": "ana"})
    clock.advance(1.0)
    device.personalize({"externalUserId": "ana"})
    assert sum(1 for s in sent(router) if s.target.startswith(PERSONALIZE)) == 2


@pytest.mark.parametrize(("platform", "sdk", "stored"), [
    ("android", "14.7.2", "FromServer"), ("android", "14.7.1", None), ("huawei", "8.11.0", "FromServer"),
    ("huawei", "8.10.0", None), ("ios", "12.13.2", "FromServer"),
])  # fmt: skip
def test_what_is_stored_of_a_personalize(on, platform, sdk, stored):
    device = on(platform, sdk)
    user = device.personalize({"externalUserId": "ana"}, {"firstName": "Ana"})
    assert device.user.get("lastName") == stored and user.get("lastName") == stored
    assert device.user["externalUserId"] == "ana" and device.user["firstName"] == "Ana"


@pytest.mark.parametrize(("platform", "sdk", "validates"), [
    ("android", "14.7.2", True), ("android", "14.7.1", False), ("ios", "14.1.2", True), ("ios", "14.1.1", False),
    ("huawei", "8.11.0", True), ("huawei", "8.10.0", False),
])  # fmt: skip
def test_user_data_is_checked_before_sending_from_the_versions_that_validate(on, router, platform, sdk, validates):
    device = on(platform, sdk)
    router.post("/mobile/1/appinstance/REG-1/user").respond(
        400, json={"requestError": {"serviceException": {"messageId": "USER_DATA_INVALID", "text": "too long"}}}
    )
    router.patch("/mobile/1/appinstance/REG-1/user").respond(
        400, json={"requestError": {"serviceException": {"messageId": "USER_DATA_INVALID", "text": "too long"}}}
    )
    with pytest.raises(Exception) as raised:
        device.save_user(firstName="x" * 256)
    sent_user = [s for s in sent(router) if s.target.startswith("/mobile/1/appinstance/REG-1/user")]
    if validates:
        assert isinstance(raised.value, ClientValidationError) and sent_user == []
    else:
        assert not isinstance(raised.value, ClientValidationError) and len(sent_user) == 1


def test_a_version_update_changes_the_behaviour_at_the_next_start(on, router):
    device = on("android", "14.7.1")
    device.update_app(device.profile.app_version, "15.0.0")
    device.start()
    router.calls.clear()
    device.personalize({"externalUserId": "ana"}, set_as_primary=True)
    assert any(s.target.startswith(PERSONALIZE + "?setDeviceAsPrimary=true") for s in sent(router))


def test_an_event_without_properties_leaves_the_key_out_and_an_empty_map_sends_it() -> None:
    from simulator.events import event_body, stored_event

    body = event_body(
        [stored_event("a", None, START), stored_event("b", {}, START), stored_event("c", {"n": 1}, START)]
    )
    assert body == {"events": [
        {"definitionId": "a", "date": "2024-05-01T10:00:00Z"},
        {"definitionId": "b", "date": "2024-05-01T10:00:00Z", "properties": {}},
        {"definitionId": "c", "date": "2024-05-01T10:00:00Z", "properties": {"n": 1}},
    ]}  # fmt: skip
