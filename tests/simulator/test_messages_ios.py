"""The iOS SDK's message lifecycle on a virtual clock.

Pinned from the wire: the Notification Service Extension's delivery report (its own headers and
User-Agent, any answer counts as reported since 15.0.0, only a 2xx before), what the app handles
itself (foreground and silent pushes) and what it picks up from the extension at its next start,
the messages sync (``drIDs`` unreported, ``mIDs`` reported of 7 days newest first), chained syncs
for answers (at most two more), seen on tap at once and `setSeen` after 2 s, UUID-shaped ids of
any case never seen-reported, and a suspended handler (push registration disabled, logout pending).
"""

from __future__ import annotations

import json

import httpx
import pytest
from simhelpers import START, sent, targets

from contract.dialect import Platform
from contract.messages import Message, apns_payload, sync_payload
from simulator import SimulatorError, VirtualDevice

SYNC = "POST /mobile/5/messages?platformType=APNS"
DLR = "POST /mobile/1/messages/deliveryreport"
SEEN = "POST /mobile/2/messages/seen"
SESSION = "POST /mobile/1/appinstance/REG-1/user/events/session"
DAY = 86_400


def msg(message_id: str = "MSG-1", **fields: object) -> Message:
    return Message(message_id=message_id, text=fields.pop("text", "Hello"),
                   send_date_time=int(fields.pop("sent", START) * 1000), **fields)  # type: ignore[arg-type]  # fmt: skip


def push(device: VirtualDevice, message: Message) -> str | None:
    return device.receive_push(apns_payload(message))


@pytest.fixture
def ios(started, router):
    router.post("/mobile/1/messages/deliveryreport").respond(200)
    router.post("/mobile/2/messages/seen").respond(200)
    device = started("ios")
    return device


def test_an_alert_push_to_a_closed_app_is_reported_by_the_extension_alone(ios, router):
    ios.background()
    ios._kill_process()
    assert push(ios, msg()) == "MSG-1"
    assert targets(router) == [DLR]
    (dlr,) = sent(router)
    assert dlr.body == {"dlrIds": ["MSG-1"]}
    assert dlr.headers["foreground"] == "false" and "sessionId" not in dlr.headers
    assert dlr.headers["pushregistrationid"] == "REG-1"
    ua = dlr.headers["User-Agent"]
    assert ua.startswith(f"MobileMessaging/{ios.profile.sdk_version}(iOS;") and ".NotificationServiceExtension;" in ua
    assert ua.endswith(";;;)") and "iPhone" in ua.split(";")[3] and "," in ua.split(";")[3]  # raw machine id
    assert ios.notifications == ["MSG-1"] and ios.messages[0]["deliveryReported"] is True


def test_the_next_start_picks_up_what_the_extension_stored_and_archives_it(ios, router, clock):
    ios.background()
    ios._kill_process()
    push(ios, msg())
    router.calls.clear()
    clock.set(START + 120)
    ios.start()
    syncs = [s for s in sent(router) if s.target.startswith("/mobile/5/messages")]
    assert syncs and all(s.body == {"mIDs": ["MSG-1"]} for s in syncs)
    assert len(syncs) == 2  # the local fetch's sync, then the start's own


def test_since_15_any_answer_counts_as_reported_before_only_a_2xx(ios, router, clock):
    router.post("/mobile/1/messages/deliveryreport").respond(500)
    ios.background()
    push(ios, msg("NEW"))
    assert ios.messages[-1]["deliveryReported"] is True
    ios.update_app("4.8.0", "13.11.1")
    push(ios, msg("OLD"))
    assert ios.messages[-1]["deliveryReported"] is False
    old_dlr = sent(router)[-1]
    # the full SDK in the extension: the app's User-Agent (marketing model name, carrier fields)
    # with the extension's bundle id; before 13.12.1 neither pushregistrationid nor installationid
    old_ua = old_dlr.headers["User-Agent"]
    assert (
        old_ua.startswith("MobileMessaging/13.11.1(")
        and ";com.infobip.mobsim.demo.NotificationServiceExtension;" in old_ua
    )
    assert old_ua.split(";")[3] == ios.system_data()["deviceModel"]  # the model name, not the raw machine id
    assert "pushregistrationid" not in old_dlr.headers and "installationid" not in old_dlr.headers
    router.calls.clear()
    clock.set(START + 60)
    ios.start()
    sync, *later = [s for s in sent(router) if s.target.startswith("/mobile/5/messages")]
    assert sync.body == {"drIDs": ["OLD"], "mIDs": ["NEW"]}
    assert later[-1].body == {"mIDs": ["NEW", "OLD"]}
    assert sync.raw.index(b'"drIDs"') < sync.raw.index(b'"mIDs"')  # sorted keys


@pytest.mark.parametrize(("sdk", "headers"), [("13.12.0", False), ("13.12.1", True), ("14.4.3", True)])
def test_the_extension_names_the_registration_since_13_12_1(ios, router, sdk, headers):
    ios.update_app("4.9.3", sdk)
    ios.start()
    ios.background()
    ios._kill_process()
    router.calls.clear()
    assert push(ios, msg("M")) == "M"
    (dlr,) = sent(router)
    assert ("pushregistrationid" in dlr.headers, "installationid" in dlr.headers) == (headers, headers)
    assert ".NotificationServiceExtension;" in dlr.headers["User-Agent"]


def test_a_silent_push_wakes_the_app_which_stores_it_and_reports_it_in_a_sync(ios, router):
    ios.background()
    assert push(ios, msg(silent=True)) == "MSG-1"
    assert targets(router) == [SYNC]
    assert sent(router)[0].body == {"drIDs": ["MSG-1"]}
    assert ios.notifications == [] and ios.messages[0]["deliveryReported"] is True


def test_a_foreground_alert_push_is_reported_by_the_extension_and_archived_by_the_app(ios, router):
    assert push(ios, msg()) == "MSG-1"
    assert targets(router) == [DLR, SYNC]
    assert sent(router)[1].body == {"mIDs": ["MSG-1"]}


@pytest.mark.parametrize("how", ["regEnabled", "logout"])
def test_a_suspended_handler_drops_what_the_app_would_handle_but_the_extension_still_reports(ios, router, how):
    if how == "regEnabled":
        router.patch("/mobile/1/appinstance/REG-1").respond(200)
        ios.save_installation(regEnabled=False)
    else:
        router.post("/mobile/1/appinstance/REG-1/depersonalize").respond(500)
        with pytest.raises(SimulatorError):
            ios.depersonalize()
    router.calls.clear()
    assert push(ios, msg(silent=True)) is None  # the app itself is suspended
    assert push(ios, msg("ALERT")) == "ALERT"  # the extension knows nothing of either
    assert targets(router) == [DLR]
    ios.set_seen("ALERT")
    ios.advance(3)
    assert SEEN not in targets(router)


def test_sync_answers_chain_at_most_two_more_syncs(ios, router):
    answers = [httpx.Response(200, json={"payloads": [sync_payload(msg(f"P{n}"), Platform.IOS)]}) for n in range(5)]
    router.post("/mobile/5/messages").mock(side_effect=answers)
    ios.background()
    push(ios, msg("S", silent=True))
    syncs = [s.body for s in sent(router) if s.target.startswith("/mobile/5/messages")]
    assert syncs == [{"drIDs": ["S"]}, {"drIDs": ["P0"], "mIDs": ["S"]}, {"drIDs": ["P1"], "mIDs": ["S", "P0"]}]
    assert ios.notifications == ["P0", "P1", "P2"]  # pulled messages become local notifications
    assert ios.messages[-1]["deliveryReported"] is False  # P2 waits for the next sync


def test_messages_of_sync_answers_are_acknowledged_and_a_push_is_not(started, router):
    seen: dict[str, int] = {}
    router.post("/mobile/1/messages/deliveryreport").respond(200)
    ios = started("ios", observer=lambda kind, n: seen.__setitem__(kind, seen.get(kind, 0) + n))
    answers = [httpx.Response(200, json={"payloads": [sync_payload(msg(f"P{n}"), Platform.IOS)]}) for n in range(3)]
    router.post("/mobile/5/messages").mock(side_effect=answers)
    ios.background()
    base = dict(seen)
    assert push(ios, msg("S", silent=True)) == "S"
    assert ios.notifications == ["P0", "P1", "P2"]
    assert seen.get("messages_synced", 0) - base.get("messages_synced", 0) == 3  # the three answers' messages
    assert "pushes" not in seen


def test_the_archive_holds_reported_messages_of_seven_days_newest_first_by_send_time(ios, router, clock):
    ios.background()
    push(ios, msg("OLDER", silent=True, sent=START - 100))
    push(ios, msg("NEWER", silent=True, sent=START - 50))
    router.calls.clear()
    clock.set(START - 100 + 7 * DAY - 0.001)
    ios.sync()
    assert sent(router)[-1].body == {"mIDs": ["NEWER", "OLDER"]}
    clock.set(START - 100 + 7 * DAY)  # OLDER was sent exactly 7 days ago: out of the archive
    ios.sync()
    assert sent(router)[-1].body == {"mIDs": ["NEWER"]}


def test_a_message_sent_more_than_14_days_ago_is_never_stored(ios, router):
    ios.background()
    assert push(ios, msg("STALE", silent=True, sent=START - 14 * DAY - 1)) is None
    assert push(ios, msg("EDGE", silent=True, sent=START - 14 * DAY)) == "EDGE"


def test_a_tap_opens_the_app_then_reports_seen_at_once_and_syncs(ios, router, clock):
    router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    ios.background()
    ios._kill_process()
    push(ios, msg("T-1"))
    clock.set(START + 300)
    router.calls.clear()
    assert ios.tap() == "T-1"  # a cold start: the session goes out at the timer's first tick
    ios.advance(5)
    names = targets(router)
    assert SESSION in names and names.count(SEEN) == 1
    seen_at = names.index(SEEN)
    assert names[seen_at + 1] == SYNC  # handleAction: seen, then the sync
    assert sent(router)[seen_at].body == {"messages": [{"messageId": "T-1", "timestampDelta": 0}]}


def test_set_seen_waits_two_seconds_after_the_last_call(ios, router, clock):
    ios.background()
    push(ios, msg("A", silent=True))
    push(ios, msg("B", silent=True))
    router.calls.clear()
    ios.set_seen("A")
    ios.advance(1)
    ios.set_seen("B")
    ios.advance(1.999)
    assert SEEN not in targets(router)
    ios.advance(0.001)
    (seen,) = [s for s in sent(router) if s.target == "/mobile/2/messages/seen"]
    assert seen.body == {"messages": [{"messageId": "A", "timestampDelta": 3}, {"messageId": "B", "timestampDelta": 2}]}


@pytest.mark.parametrize("message_id", ["2f1e7b0c-1d2e-4f3a-9b8c-7d6e5f4a3b2c", "2F1E7B0C-1D2E-4F3A-9B8C-7D6E5F4A3B2C"])
def test_uuid_shaped_ids_of_any_case_are_never_seen_reported(ios, router, message_id):
    ios.background()
    push(ios, msg(message_id, silent=True))
    ios.set_seen(message_id)
    ios.advance(3)
    assert SEEN not in targets(router)


def test_a_failed_seen_report_is_sent_again_with_the_next_sync(ios, router, clock):
    route = router.post("/mobile/2/messages/seen").mock(side_effect=[httpx.Response(500), httpx.Response(200)])
    ios.background()
    push(ios, msg("A", silent=True))
    ios.set_seen("A")
    ios.advance(2)
    assert route.call_count == 1 and ios.messages[0]["seenReported"] is False
    clock.set(clock.now() + 10)
    ios.foreground()
    assert route.call_count == 2 and ios.messages[0]["seenReported"] is True
    assert json.loads(route.calls.last.request.content)["messages"][0]["timestampDelta"] == 12


def test_mo_carries_an_upper_case_uuid_and_sorted_keys(ios, router):
    route = router.post("/mobile/1/messages/mo").respond(200, json={"messages": []})
    ios.send_mo("hi", destination="shop", custom_payload={"k": 1})
    raw = route.calls.last.request.content
    body = json.loads(raw)
    assert raw.startswith(b'{"from":"REG-1","messages":[{"customPayload"')
    assert body["messages"][0]["messageId"] == body["messages"][0]["messageId"].upper()
