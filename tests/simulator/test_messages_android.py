"""The Android SDK's message lifecycle on a virtual clock (Android with FCM and Huawei with HMS).

Each rule is pinned from the side the SDK shows on the wire: `MobileMessageHandler` (drop rules,
the archive as duplicate check), `setMessagesDelivered` → a required sync whose messages sync
carries ``drIDs``, `MessagesSynchronizer` (``mIDs`` archive of 7 days, the 1 s throttle, answers
taken like pushes), `SeenStatusReporter` (5 s batches, lower-case UUIDs never reported),
`NotificationTapReceiverActivity` (seen on tap, then the app's foreground).
"""

from __future__ import annotations

import json

import httpx
import pytest
import respx
from simhelpers import START, sent, targets

from contract.dialect import Platform
from contract.messages import Message, fcm_data, hms_data, push_payload, sync_payload
from simulator import SimulatorError, VirtualDevice

SYNC = "POST /mobile/5/messages?platformType=GCM"
SEEN = "POST /mobile/2/messages/seen"
DAY = 86_400


def msg(message_id: str = "MSG-1", **fields: object) -> Message:
    return Message(message_id=message_id, text=fields.pop("text", "Hello"), send_date_time=int(START * 1000),
                   **fields)  # type: ignore[arg-type]  # fmt: skip


@pytest.fixture(params=["android", "huawei"])
def platform(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def push(device: VirtualDevice, message: Message) -> str | None:
    return device.receive_push(push_payload(message, device.platform))


def test_a_push_is_stored_shown_and_its_delivery_reported_in_the_next_messages_sync(started, router, platform):
    device = started(platform)
    device.advance(1)
    assert push(device, msg()) == "MSG-1"
    assert targets(router) == [SYNC]
    (sync,) = sent(router)
    assert sync.raw == b'{"mIDs":["MSG-1"],"drIDs":["MSG-1"]}'
    assert sync.headers["Content-Type"] == "application/json"
    assert device.notifications == ["MSG-1"]
    assert device.messages[0]["deliveryReported"] is True
    router.calls.clear()
    device.advance(1)
    device.sync()
    assert sent(router)[-1].raw == b'{"mIDs":["MSG-1"]}'  # reported: archive only


def test_the_hms_payload_is_a_json_string_with_a_nested_object_and_fcm_a_string_value():
    message = msg()
    fcm, hms = fcm_data(message), hms_data(message)
    assert isinstance(fcm["org_ib_d"], str) and json.loads(fcm["org_ib_d"])["messageId"] == "MSG-1"
    assert isinstance(json.loads(hms)["org_ib_d"], dict)


def test_each_platform_drops_the_other_platforms_payload(started, router):
    android, huawei = started("android"), started("huawei", seed=2)
    assert android.receive_push(hms_data(msg())) is None
    assert huawei.receive_push(fcm_data(msg())) is None


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"org_ib_d": "not json"},
        {"org_ib_d": json.dumps({"messageId": "", "text": "x", "notification": {}})},
        {"org_ib_d": json.dumps({"messageId": "M", "text": "", "notification": {}})},
        {"org_ib_d": json.dumps({"messageId": "M", "text": "x"})},  # no notification object
    ],
)
def test_payloads_the_sdk_cannot_read_are_dropped_without_a_request(started, router, data):
    device = started("android")
    assert device.receive_push(data) is None
    assert targets(router) == [] and device.messages == []


def test_a_duplicate_push_is_dropped_by_the_archive_until_it_is_older_than_seven_days(started, router, clock):
    device = started("android")
    assert push(device, msg()) == "MSG-1"
    router.calls.clear()
    clock.set(clock.now() + 7 * DAY)
    assert push(device, msg()) is None  # exactly 7 days: still archived
    assert targets(router) == []
    clock.set(clock.now() + 0.001)
    assert push(device, msg()) == "MSG-1"


def test_a_silent_push_is_reported_but_not_shown(started, router):
    device = started("android")
    device.advance(1)
    assert push(device, msg(silent=True)) == "MSG-1"
    assert device.notifications == [] and targets(router) == [SYNC]
    assert device.messages[0]["silent"] is True


def test_disabled_push_registration_drops_pushes_and_skips_the_messages_sync(started, router):
    device = started("android")
    router.post("/mobile/1/appinstance/REG-1").respond(200)
    device.save_installation(regEnabled=False)
    router.calls.clear()
    device.advance(2)
    assert push(device, msg()) is None
    device.sync()
    assert SYNC not in targets(router)


def test_a_pending_logout_drops_pushes(started, router):
    device = started("android")
    router.post("/mobile/1/appinstance/REG-1/depersonalize").respond(500)
    with pytest.raises(SimulatorError):
        device.depersonalize()
    assert device.depersonalize_pending
    router.calls.clear()
    assert push(device, msg()) is None
    assert SYNC not in targets(router)


def test_without_delivery_ids_a_messages_sync_goes_out_at_most_once_a_second(started, router, clock):
    device = started("android")  # synced at START
    device.sync()
    assert SYNC not in targets(router)
    clock.set(START + 0.999)
    device.sync()
    assert SYNC not in targets(router)
    clock.set(START + 1.0)
    device.sync()
    assert targets(router) == [SYNC]


def test_delivery_ids_bypass_the_one_second_throttle(started, router):
    device = started("android")
    assert push(device, msg()) == "MSG-1"  # same moment as the start's sync
    assert targets(router) == [SYNC]


def test_messages_of_a_sync_answer_are_taken_like_pushes_each_with_its_own_report(started, router, platform):
    device = started(platform)
    answer = {"payloads": [sync_payload(msg("A-1"), Platform(platform)), sync_payload(msg("A-2"), Platform(platform))]}
    route = router.post("/mobile/5/messages").mock(
        side_effect=[httpx.Response(200, json=answer)] + [httpx.Response(200, json={"payloads": []})] * 5
    )
    device.advance(1)
    device.sync()
    bodies = [s.body for s in sent(router) if s.target.startswith("/mobile/5/messages")]
    assert route.called
    assert bodies == [None, {"mIDs": ["A-1"], "drIDs": ["A-1"]}, {"mIDs": ["A-1", "A-2"], "drIDs": ["A-2"]}]
    assert device.notifications == ["A-1", "A-2"]


def test_a_failed_messages_sync_keeps_the_delivery_ids_for_the_next_one(started, router, clock):
    device = started("android")
    route = router.post("/mobile/5/messages").mock(
        side_effect=[httpx.Response(400), httpx.Response(200, json={"payloads": []})]
    )
    assert push(device, msg()) == "MSG-1"
    assert device.messages[0]["deliveryReported"] is False
    clock.set(START + 10)
    device.sync()
    assert json.loads(route.calls.last.request.content)["drIDs"] == ["MSG-1"]
    assert device.messages[0]["deliveryReported"] is True


def test_a_5xx_without_service_exception_retries_the_messages_sync_after_2_seconds(started, router, clock):
    device = started("android")
    route = router.post("/mobile/5/messages").mock(
        side_effect=[httpx.Response(503, json={"error": "busy"}), httpx.Response(200, json={"payloads": []})]
    )
    before = route.call_count  # the start's sync
    assert push(device, msg()) == "MSG-1"
    device.advance(1.999)
    assert route.call_count == before + 1
    device.advance(0.001)
    assert route.call_count == before + 2 and device.messages[0]["deliveryReported"] is True


def test_the_archive_sends_messages_of_the_last_seven_days_the_newest_hundred(started, router, clock):
    device = started("android")
    for n in range(105):
        assert push(device, msg(f"M{n:03}")) is not None
        clock.set(clock.now() + 1)
    router.calls.clear()
    device.sync()
    body = sent(router)[-1].body
    assert body["mIDs"] == [f"M{n:03}" for n in range(5, 105)] and "drIDs" not in body
    clock.set(START + 7 * DAY + 50)  # M000..M049 are older than 7 days; M050 is exactly 7 days old
    device.sync()
    assert sent(router)[-1].body["mIDs"] == [f"M{n:03}" for n in range(50, 105)]


def test_a_tap_marks_seen_and_opens_the_app_with_a_new_session(started, router, clock):
    device = started("android")
    router.post("/mobile/2/messages/seen").respond(200)
    router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    assert push(device, msg("MSG-7")) == "MSG-7"
    device.background()
    clock.set(START + 100)
    device._kill_process()
    router.calls.clear()
    assert device.tap() == "MSG-7"
    assert device.notifications == []
    assert SEEN in targets(router)
    seen = next(s for s in sent(router) if s.target == "/mobile/2/messages/seen")
    assert seen.body == {"messages": [{"messageId": "MSG-7", "timestampDelta": 0}]}
    assert "POST /mobile/1/appinstance/REG-1/user/events/session" in targets(router)
    assert device.messages[0]["seenReported"] is True and device.messages[0]["tapped"] is True


def test_tapping_a_message_that_is_not_on_screen_does_nothing(started, router):
    device = started("android")
    assert device.tap() is None and device.tap("nope") is None
    assert targets(router) == []


def test_seen_reports_are_batched_five_seconds_and_carry_seconds_since_seen(started, router, clock):
    device = started("android")
    route = router.post("/mobile/2/messages/seen").respond(200)
    for name in ("S-1", "S-2"):
        push(device, msg(name))
    clock.set(START + 10)
    device.set_seen("S-1")  # lazy sync (last sync 10 s ago): the seen report goes out now
    assert route.call_count == 1
    clock.set(START + 12)
    device.set_seen("S-2")  # a sync ran 2 s ago: lazy sync skipped, the report waits for a sync
    assert route.call_count == 1
    clock.set(START + 13)
    device.sync()  # BatchReporter: last run 3 s ago, scheduled at last + 5 s
    assert route.call_count == 1
    device.advance(1.999)
    assert route.call_count == 1
    device.advance(0.001)
    assert route.call_count == 2
    assert json.loads(route.calls.last.request.content) == {"messages": [{"messageId": "S-2", "timestampDelta": 3}]}


@pytest.mark.parametrize(("message_id", "reported"), [
    ("2f1e7b0c-1d2e-4f3a-9b8c-7d6e5f4a3b2c", False),  # lower-case UUID: taken for a generated id
    ("2F1E7B0C-1D2E-4F3A-9B8C-7D6E5F4A3B2C", True),
    ("2f1e7b0c-1d2e-4f3a-9b8c-7d6e5f4a3b2", True),
])  # fmt: skip
def test_lower_case_uuid_ids_are_never_seen_reported(started, router, clock, message_id, reported):
    device = started("android")
    route = router.post("/mobile/2/messages/seen").respond(200)
    push(device, msg(message_id))
    clock.set(START + 10)
    device.set_seen(message_id)
    assert route.call_count == int(reported)


def test_mo_goes_out_with_a_local_lower_case_uuid(started, router):
    device = started("android")
    route = router.post("/mobile/1/messages/mo").respond(200, json={"messages": []})
    device.send_mo("hi", destination="shop")
    assert targets(router) == ["POST /mobile/1/messages/mo?platformType=GCM"]
    body = json.loads(route.calls.last.request.content)
    assert body["from"] == "REG-1" and list(body["messages"][0]) == ["messageId", "destination", "text"]
    assert body["messages"][0]["messageId"] == body["messages"][0]["messageId"].lower()


def test_an_uninstalled_app_takes_no_push(started, router):
    device = started("android")
    device.uninstall()
    assert push(device, msg()) is None


def test_parked_messages_survive_resume(started, router, client, clock):
    device = started("android")
    push(device, msg())
    resumed = VirtualDevice.resume(device.park(), device.config, transport=client, clock=clock)
    assert resumed.notifications == ["MSG-1"] and resumed.messages == device.messages


def test_acknowledgements_are_counted_by_kind_and_a_push_or_a_tap_is_none(make, router, clock):
    seen: dict[str, int] = {}
    device = make("android", observer=lambda kind, n: seen.__setitem__(kind, seen.get(kind, 0) + n))
    device.start()
    router.post("/mobile/2/messages/seen").respond(200)
    router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    base = dict(seen)
    assert push(device, msg()) == "MSG-1"  # taken; its delivery report goes in the sync answered 200
    clock.set(START + 60)
    assert device.tap() == "MSG-1"
    assert {k: seen.get(k, 0) - base.get(k, 0) for k in ("messages_synced", "deliveries", "seen")} == {
        "messages_synced": 0, "deliveries": 1, "seen": 1}  # fmt: skip
    assert "pushes" not in seen and "opens" not in seen
    answer = {"payloads": [sync_payload(msg("S-1"), Platform.ANDROID)]}
    router.post("/mobile/5/messages").mock(
        side_effect=[httpx.Response(200, json=answer)] + [httpx.Response(200, json={"payloads": []})] * 3
    )
    clock.set(START + 70)
    device.sync()
    assert seen.get("messages_synced", 0) - base.get("messages_synced", 0) == 1


def test_a_message_of_a_sync_answer_the_sdk_drops_is_not_counted(make, router, clock):
    seen: dict[str, int] = {}
    device = make("android", observer=lambda kind, n: seen.__setitem__(kind, seen.get(kind, 0) + n))
    device.start()
    assert push(device, msg()) == "MSG-1"
    answer = {"payloads": [sync_payload(msg(), Platform.ANDROID)]}  # the one it has already
    router.post("/mobile/5/messages").mock(return_value=httpx.Response(200, json=answer))
    clock.set(START + 10)
    device.sync()
    assert seen.get("messages_synced", 0) == 0


def test_respx_router_fixture_is_strict(router: respx.Router) -> None:
    assert router._assert_all_mocked  # an unexpected request fails the test
