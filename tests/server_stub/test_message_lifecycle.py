"""A message's life after the send: sync answers per platform, delivery reports, seen, the open and the
conversion, scheduling and expiry, the Push API's reports and logs, MO reports, campaign metrics."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from pushkit import PushApi, assert_api_error, assert_api_exception, device, reg
from starlette.testclient import TestClient
from stubkit import APP_CODE, OTHER_APP, Clock, Device, Inspector, MakeDevice, assert_empty_ok, ts

from contract import Dialect, Platform
from contract.messages import Message, apns_payload, parse_sync_payload, sync_payload
from server_stub.rules import Caller
from server_stub.rules.messages import now_ms, session_started

START_MS = 1714564800000


def row(app: FastAPI, message_id: str) -> dict[str, Any]:
    """The stored message (a test's look inside the store)."""
    with app.state.profiles.store.transaction() as db:
        found = db.execute("SELECT * FROM messages WHERE message_id=?", (message_id,)).fetchone()
    assert found is not None
    return dict(found)


def payload_ids(found: Device, body: dict[str, Any] | None = None) -> list[str]:
    response = found.sync(body if body is not None else {})
    assert response.status_code == 200, response.text
    platform = Platform.IOS if found.dialect is Dialect.IOS else Platform.ANDROID
    messages = [parse_sync_payload(platform, p) for p in response.json()["payloads"]]
    assert all(m is not None for m in messages), response.json()
    return [m.message_id for m in messages if m is not None]


def seen(found: Device, *items: tuple[str, int]) -> None:
    body = {"messages": [{"messageId": m, "timestampDelta": delta} for m, delta in items]}
    assert_empty_ok(found.call("seen_messages", body=body))


# ---------------------------------------------------------------------------------------------
# sync answers


@pytest.mark.parametrize("platform", list(Platform), ids=str)
def test_the_sync_answer_is_in_the_platforms_shape(push: PushApi, client: TestClient, platform: Platform) -> None:
    found = device(client, platform)
    (message_id,) = push.ids([reg(found)], schedule={"bulkId": "shape"})
    (payload,) = found.sync({}).json()["payloads"]
    expected = Message(message_id=message_id, text="A message for you", title="Hello", send_date_time=START_MS,
                       bulk_id="shape")  # fmt: skip
    assert payload == sync_payload(expected, platform)
    if platform is Platform.IOS:
        assert payload == apns_payload(expected) and "aps" in payload
    else:  # Huawei syncs with the Android SDK's code: the flat gcm.notification shape
        assert payload["gcm.notification.messageId"] == message_id and "aps" not in payload


def test_sync_leaves_out_mids_and_delivered_messages(push: PushApi, app: FastAPI, new_device: MakeDevice) -> None:
    phone = new_device(Dialect.ANDROID)
    first, second, third = (push.ids([reg(phone)])[0] for _ in range(3))
    assert payload_ids(phone) == [first, second, third]
    assert payload_ids(phone, {"mIDs": [first]}) == [second, third]
    assert row(app, first)["status"] == "PENDING"  # an archived id is not a delivery report
    assert payload_ids(phone, {"drIDs": [second], "mIDs": [second]}) == [first, third]
    assert row(app, second)["status"] == "DELIVERED" and row(app, second)["delivered_at"] == START_MS
    assert payload_ids(phone, {}) == [first, third]
    assert phone.sync(None).json()["payloads"] != []  # an empty body (Android with nothing to say)


def test_drids_deliver_only_the_callers_messages(push: PushApi, app: FastAPI, new_device: MakeDevice) -> None:
    phone, other = new_device(Dialect.ANDROID), new_device(Dialect.ANDROID)
    (mine,) = push.ids([reg(phone)])
    assert payload_ids(other, {"drIDs": [mine, "unknown-id"]}) == []
    assert row(app, mine)["status"] == "PENDING"
    assert payload_ids(phone) == [mine]
    payload_ids(phone, {"drIDs": [mine]})
    assert row(app, mine)["status"] == "DELIVERED"


def test_ios_delivery_reports(push: PushApi, app: FastAPI, new_device: MakeDevice) -> None:
    iphone, ipad = new_device(Dialect.IOS), new_device(Dialect.IOS)
    foreign = new_device(Dialect.IOS, app_code=OTHER_APP)
    a, b = push.ids([reg(iphone)])[0], push.ids([reg(iphone)])[0]
    assert_empty_ok(ipad.delivery_report([a]))  # another registration's header: not its message
    assert row(app, a)["status"] == "PENDING"
    foreign.reg_id = None
    assert_empty_ok(foreign.delivery_report([a]))  # the extension without a registration, another app
    assert row(app, a)["status"] == "PENDING"
    assert_empty_ok(iphone.delivery_report([a]))
    nse = Device(iphone.client, Dialect.IOS)  # the extension without a registration in its keychain
    assert_empty_ok(nse.delivery_report([b]))
    assert (row(app, a)["status"], row(app, b)["status"]) == ("DELIVERED", "DELIVERED")
    assert payload_ids(iphone) == []


def test_a_scheduled_message_is_not_answered_before_its_time(
    push: PushApi, clock: Clock, new_device: MakeDevice
) -> None:
    phone = new_device(Dialect.IOS)
    (later,) = push.ids([reg(phone)], sendAt="2024-05-01T13:00:00.000+0000")
    (schedule,) = push.ids([reg(phone)], schedule={"sendAt": "2024-05-01T12:30:00.000+0000"})
    (past,) = push.ids([reg(phone)], sendAt="2024-05-01T11:00:00.000+0000")  # in the past: now
    assert payload_ids(phone) == [past]
    assert_empty_ok(phone.delivery_report([later]))  # cannot be delivered before it was sent
    clock.advance(30 * 60 - 0.001)
    assert payload_ids(phone) == [past]
    clock.advance(0.001)
    assert payload_ids(phone) == [past, schedule]
    clock.advance(30 * 60)
    assert payload_ids(phone) == [past, schedule, later]
    (payload,) = [p for p in phone.sync({}).json()["payloads"] if p["messageId"] == later]
    assert payload["internalData"]["sendDateTime"] == START_MS + 3_600_000


# ---------------------------------------------------------------------------------------------
# expiry


@pytest.mark.parametrize(
    ("validity", "seconds"),
    [({"amount": 30, "timeUnit": "SECONDS"}, 30), ({"amount": 2}, 120), ({"amount": 3, "timeUnit": "HOURS"}, 10800),
     ({"amount": 100, "timeUnit": "HOURS"}, 48 * 3600), (None, 48 * 3600)],
    ids=["30-seconds", "minutes-by-default", "hours", "capped-at-48h", "48h-by-default"],
)  # fmt: skip
def test_a_message_expires_after_its_validity(
    push: PushApi, app: FastAPI, clock: Clock, new_device: MakeDevice, validity: dict[str, Any] | None, seconds: int
) -> None:
    phone = new_device(Dialect.ANDROID)
    options = {"validityPeriod": validity} if validity else {}
    (message_id,) = push.ids([reg(phone)], **options)
    assert row(app, message_id)["expires_at"] == START_MS + seconds * 1000
    clock.advance(seconds - 0.001)
    assert payload_ids(phone) == [message_id]
    assert push.reports() == []
    clock.advance(0.001)
    assert payload_ids(phone, {"drIDs": [message_id]}) == []  # a report after the validity is ignored
    (report,) = push.reports()
    assert (report["status"]["name"], report["status"]["groupName"]) == ("EXPIRED_EXPIRED", "EXPIRED")
    assert report["doneAt"] == push_time(START_MS + seconds * 1000)
    assert row(app, message_id)["delivered_at"] is None


def push_time(epoch_ms: int) -> str:
    from contract.push_api import format_push_time

    return format_push_time(epoch_ms)


# ---------------------------------------------------------------------------------------------
# seen, opened, converted


def test_seen_keeps_the_first_moment_of_the_callers_messages(
    push: PushApi, app: FastAPI, clock: Clock, new_device: MakeDevice
) -> None:
    phone, other = new_device(Dialect.ANDROID), new_device(Dialect.IOS)
    a, b, c = (push.ids([reg(phone)])[0] for _ in range(3))
    clock.advance(100)
    seen(other, (a, 1))  # not its message: ignored
    assert row(app, a)["seen_at"] is None
    seen(phone, (a, 30), ("unknown-id", 1), (b, -5), (c, 10**12))
    assert row(app, a)["seen_at"] == START_MS + 70_000  # now minus timestampDelta seconds
    assert row(app, b)["seen_at"] == START_MS + 100_000  # a negative delta is now
    assert row(app, c)["seen_at"] == START_MS  # never before the message was sent
    clock.advance(50)
    seen(phone, (a, 0))
    assert row(app, a)["seen_at"] == START_MS + 70_000  # only the first seen counts


@pytest.fixture
def opened_after(push: PushApi, app: FastAPI, clock: Clock, new_device: MakeDevice) -> Any:
    """``opened_after(gap, session_first)``: whether a session start ``gap`` seconds after the seen
    moment (negative: before it) opens the message, reported before or after the seen report."""

    def check(gap: int, session_first: bool) -> bool:
        phone = new_device(Dialect.IOS)
        (message_id,) = push.ids([reg(phone)])
        clock.now = clock.now.replace(hour=13, minute=0, second=0)  # the seen moment is 13:00:00...
        moment = clock.now
        start = (moment.timestamp() + gap) - START_MS / 1000

        def report_session() -> None:
            assert phone.session([ts(start)]).status_code == 200

        if session_first:
            report_session()
        clock.advance(5)
        seen(phone, (message_id, 5))  # ...seen 5 seconds ago
        if not session_first:
            report_session()
        stored = row(app, message_id)
        assert stored["seen_at"] == int(moment.timestamp() * 1000)
        clock.now = clock.now.replace(day=clock.now.day + 1)
        return stored["opened_at"] is not None

    return check


@pytest.mark.parametrize("session_first", [False, True], ids=["seen-then-session", "session-then-seen"])
@pytest.mark.parametrize(("gap", "opened"), [(0, True), (60, True), (61, False), (-60, True), (-61, False)])
def test_opened_is_seen_and_a_session_within_60_seconds(
    opened_after: Any, gap: int, opened: bool, session_first: bool
) -> None:
    assert opened_after(gap, session_first) is opened


def test_the_open_rule_over_the_store(app: FastAPI, push: PushApi, new_device: MakeDevice) -> None:
    """The session hook as a plain rule: it opens only seen messages of that installation."""
    phone, other = new_device(Dialect.ANDROID), new_device(Dialect.ANDROID)
    (mine,) = push.ids([reg(phone)])
    (theirs,) = push.ids([reg(other)])
    seen(phone, (mine, 0))
    server = app.state.profiles
    caller = Caller(app_code=APP_CODE, account="default", reg_id=phone.reg_id)
    assert server.run(caller, now_ms) == START_MS
    server.run(caller, session_started, phone.reg_id, ts(60))
    server.run(caller, session_started, other.reg_id, ts(0))
    assert row(app, mine)["opened_at"] == START_MS
    assert row(app, theirs)["opened_at"] is None


@pytest.mark.parametrize(
    ("event_at", "converted"),
    [(0, True), (86_400, True), (86_401, False), (-1, False)],
    ids=["at-the-open", "24h-after", "24h-and-1s-after", "before"],
)
def test_a_conversion_is_a_custom_event_within_24_hours_after_the_open(
    push: PushApi, clock: Clock, inspector: Inspector, new_device: MakeDevice, event_at: int, converted: bool
) -> None:
    inspector.define("purchase", [{"name": "amount", "type": "Numeric"}])
    phone, bystander = new_device(Dialect.IOS), new_device(Dialect.IOS)
    answer = push.send([reg(phone), reg(bystander)])
    mine, theirs = (m["messageId"] for m in answer["messages"])
    clock.advance(10)
    assert phone.session([ts(10)]).status_code == 200
    seen(phone, (mine, 0))  # opened at START + 10 s
    clock.advance(2 * 86_400)
    event = {"definitionId": "purchase", "date": ts(10 + event_at), "properties": {"amount": 3}}
    assert phone.events([event], validate=True).status_code == 200
    assert bystander.events([{**event, "date": ts(20)}], validate=True).status_code == 200  # not opened
    campaign = push.campaign(answer["bulkId"])
    assert (campaign["seen"], campaign["opened"], campaign["converted"]) == (1, 1, int(converted))
    assert theirs


# ---------------------------------------------------------------------------------------------
# reports and logs


def test_reports_are_returned_once(push: PushApi, clock: Clock, new_device: MakeDevice) -> None:
    phone, tablet = new_device(Dialect.ANDROID), new_device(Dialect.IOS)
    first = push.send([reg(phone), reg(tablet)], schedule={"bulkId": "b1"})
    second = push.send([reg(phone)], schedule={"bulkId": "b2"}, campaignReferenceId="summer",
                       platform={"entityId": "e1", "applicationId": "a1"})  # fmt: skip
    assert push.reports() == []  # nothing final yet
    ids = [m["messageId"] for m in first["messages"]] + [second["messages"][0]["messageId"]]
    clock.advance(2)
    payload_ids(phone, {"drIDs": [ids[0], ids[2]]})
    assert_empty_ok(tablet.delivery_report([ids[1]]))
    assert [r["messageId"] for r in push.reports(bulkId="b2")] == [ids[2]]
    assert [r["messageId"] for r in push.reports(messageId=ids[1])] == [ids[1]]
    (report,) = push.reports(limit=1)
    assert report == {
        "to": phone.reg_id,
        "bulkId": "b1",
        "messageId": ids[0],
        "sender": APP_CODE,
        "sentAt": "2024-05-01T12:00:00.000+0000",
        "doneAt": "2024-05-01T12:00:02.000+0000",
        "messageCount": 1,
        "price": {"pricePerMessage": 0, "currency": "EUR"},
        "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
                   "description": "Message delivered to handset"},
        "error": {"groupId": 0, "groupName": "OK", "id": 0, "name": "NO_ERROR", "description": "No Error",
                  "permanent": False},
    }  # fmt: skip
    assert push.reports() == []


def test_report_filters_and_the_48_hour_window(push: PushApi, clock: Clock, new_device: MakeDevice) -> None:
    phone = new_device(Dialect.ANDROID)
    tagged = push.ids([reg(phone)], campaignReferenceId="summer", platform={"entityId": "e1", "applicationId": "a1"})
    plain = push.ids([reg("nobody")])  # undeliverable: final at once
    old = push.ids([reg("nobody-either")])
    payload_ids(phone, {"drIDs": tagged})
    assert push.reports(entityId="e2") == []
    (report,) = push.reports(entityId="e1", applicationId="a1", campaignReferenceId="summer")
    assert report["messageId"] == tagged[0]
    assert (report["platform"], report["campaignReferenceId"]) == ({"entityId": "e1", "applicationId": "a1"}, "summer")
    clock.advance(48 * 3600)
    assert [r["messageId"] for r in push.reports(messageId=plain[0])] == plain  # 48 h: still there
    clock.advance(0.001)
    assert push.reports() == []  # older than 48 h
    assert old


def test_a_callback_data_is_in_the_report(push: PushApi) -> None:
    webhooks = {"callbackData": "order-7", "delivery": {"url": "https://x"}}
    body = {"messages": [{**push.message([reg("nobody")]), "webhooks": webhooks}]}
    assert push.call("POST", "/push/3/messages", json=body).status_code == 200
    (report,) = push.reports()
    assert report["callbackData"] == "order-7"


@pytest.mark.parametrize(
    ("path", "query", "where", "text"),
    [
        ("/push/3/reports", "limit=0", "limit", "an integer from 1 to 1000"),
        ("/push/3/reports", "limit=1001", "limit", "an integer from 1 to 1000"),
        ("/push/3/reports", "limit=ten", "limit", "an integer from 1 to 1000"),
        ("/push/3/reports", "bulkId=a&bulkId=b", "bulkId", "give it once"),
        ("/push/3/logs", "limit=-1", "limit", "an integer"),
        ("/push/3/logs", "generalStatus=SENT", "generalStatus", "one of ACCEPTED, PENDING"),
        ("/push/3/logs", "sentSince=yesterday", "sentSince", "not a date-time"),
        ("/push/3/logs", "sentUntil=2024-05-01T12:00:00", "sentUntil", "no time zone"),
        ("/push/3/logs", "useCursor=maybe", "useCursor", "maybe"),
        ("/push/3/logs", "useCursor=true&cursor=bm9wZQ", "cursor", "not a cursor this server gave"),
        ("/push/3/logs", "useCursor=true&cursor=%00%ff", "cursor", "not a cursor this server gave"),
        ("/push/3/logs", "bulkId=" + "b" * 2049, "bulkId", "at most 2048 characters"),
    ],
)
def test_bad_report_and_log_queries_are_400(push: PushApi, path: str, query: str, where: str, text: str) -> None:
    assert_api_error(push.call("GET", f"{path}?{query}"), 400, (where, text))


def test_logs_page_newest_first_with_a_cursor(push: PushApi, new_device: MakeDevice) -> None:
    phone = new_device(Dialect.ANDROID)
    sent = [push.ids([reg(phone)])[0] for _ in range(5)]
    assert "cursor" not in push.logs()
    assert [r["messageId"] for r in push.logs(limit=2)["results"]] == sent[:-3:-1]  # no cursor: the latest
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 2, "useCursor": "true"}
        if cursor:
            params["cursor"] = cursor
        body = push.logs(**params)
        pages.append([r["messageId"] for r in body["results"]])
        assert body["cursor"]["limit"] == 2
        cursor = body["cursor"].get("nextCursor")
        if cursor is None:
            break
    assert pages == [sent[4:2:-1], sent[2:0:-1], sent[:1]]
    assert len(push.logs(limit=1000)["results"]) == 5  # reading logs consumes nothing
    assert len(push.logs(limit=1000)["results"]) == 5


def test_log_filters(push: PushApi, clock: Clock, new_device: MakeDevice) -> None:
    phone, tablet = new_device(Dialect.ANDROID), new_device(Dialect.IOS, app_code=OTHER_APP)
    a = push.send([reg(phone)], schedule={"bulkId": "A"}, campaignReferenceId="c1")["messages"][0]["messageId"]
    clock.advance(3600)
    image = {"type": "IMAGE", "text": "pic", "url": "https://x/i.png"}
    b = push.send([reg(tablet)], schedule={"bulkId": "B"}, sender=OTHER_APP, content=image)["messages"][0]["messageId"]
    c = push.send([reg("nobody")], schedule={"bulkId": "C"}, campaignReferenceId="c2")["messages"][0]["messageId"]
    payload_ids(phone, {"drIDs": [a]})

    def ids(query: str) -> list[str]:
        response = push.call("GET", f"/push/3/logs?{query}")
        assert response.status_code == 200, response.text
        return [r["messageId"] for r in response.json()["results"]]

    assert ids("") == [c, b, a]
    assert ids("bulkId=A,C") == ids("bulkId=A&bulkId=C") == [c, a]
    assert ids(f"messageId={a},{b}") == [b, a]
    assert ids(f"sender={OTHER_APP}") == [b]
    assert ids(f"destination={phone.reg_id}") == [a]
    assert ids("generalStatus=DELIVERED") == [a]
    assert ids("generalStatus=UNDELIVERABLE") == [c]
    assert ids("generalStatus=PENDING") == [b]
    assert ids("generalStatus=REJECTED") == []
    assert ids("campaignReferenceId=c1,c2") == [c, a]
    # the document's format with an offset; an unencoded '+' arrives as a space
    assert ids("sentSince=2024-05-01T13:30:00.000+01:00") == [c, b]
    assert ids("sentUntil=2024-05-01T12:00:00.000+0000") == [a]
    assert ids("sentSince=2024-05-01T13:00:00.000%2B0000&sentUntil=2024-05-01T13:00:00.000Z") == [c, b]
    log = push.logs(messageId=b)["results"][0]
    assert log["content"] == {"type": "IMAGE", "text": "pic", "url": "https://x/i.png"}
    assert (log["destination"], log["sender"], log["status"]["name"]) == (tablet.reg_id, OTHER_APP, "PENDING_ACCEPTED")
    assert "doneAt" not in log
    clock.advance(48 * 3600 - 3600 + 0.001)
    assert ids("") == [c, b]  # the last 48 hours


# ---------------------------------------------------------------------------------------------
# MO


def test_mo_messages_are_kept_and_reported_once(push: PushApi, new_device: MakeDevice) -> None:
    phone = new_device(Dialect.ANDROID)
    response = phone.mo([{"destination": "shop", "text": "hi", "customPayload": {"k": 1}},
                         {"messageId": "mo-2", "text": "yes", "initialMessageId": "mt-1", "bulkId": "b"}])  # fmt: skip
    assert [m["status"] for m in response.json()["messages"]] == ["SUCCESS", "SUCCESS"]
    first = push.call("GET", "/push/1/inbox/reports?limit=1")
    assert first.status_code == 200, first.text
    assert first.json() == {
        "results": [{"messageId": f"{phone.reg_id}-mo-0", "from": phone.reg_id, "to": "shop",
                     "applicationCode": APP_CODE, "receivedAt": "2024-05-01T12:00:00.000+0000", "text": "hi",
                     "cleanText": "hi", "customPayload": {"k": 1}}],
        "messageCount": 1,
        "pendingMessageCount": 1,
    }  # fmt: skip
    (second,) = push.call("GET", "/push/1/inbox/reports").json()["results"]
    assert (second["to"], second["initialMessageId"], second["pairedMessageId"]) == (APP_CODE, "mt-1", "mt-1")
    assert push.call("GET", "/push/1/inbox/reports").json() == {"results": [], "messageCount": 0,
                                                                 "pendingMessageCount": 0}  # fmt: skip
    assert_api_exception(push.call("GET", "/push/1/inbox/reports?limit=0"), 400, "BAD_REQUEST", "limit")


# ---------------------------------------------------------------------------------------------
# campaign metrics


def test_campaign_metrics_count_each_step(
    push: PushApi, app: FastAPI, client: TestClient, clock: Clock, inspector: Inspector
) -> None:
    inspector.define("purchase", [])
    devices = [device(client, Platform.ANDROID, route=n) for n in range(1, 6)]
    answer = push.send([reg(d) for d in devices] + [reg("nobody")], schedule={"bulkId": "spring"},
                       validityPeriod={"amount": 1, "timeUnit": "HOURS"})  # fmt: skip
    ids = [m["messageId"] for m in answer["messages"]]
    assert len(push.deliveries(limit=4)) == 4  # handed to four devices
    for found, message_id in zip(devices[:3], ids, strict=False):
        payload_ids(found, {"drIDs": [message_id]})
    clock.advance(30)
    seen(devices[0], (ids[0], 0))
    seen(devices[1], (ids[1], 0))
    assert devices[0].session([ts(30)]).status_code == 200
    assert devices[0].events([{"definitionId": "purchase", "date": ts(40)}], validate=True).status_code == 200
    assert push.campaign("spring") | {"target": None} == {
        "bulkId": "spring", "application": APP_CODE, "created": "2024-05-01T12:00:00Z",
        "sendAt": "2024-05-01T12:00:00Z", "expiresAt": "2024-05-01T13:00:00Z", "target": None,
        "sent": 5, "handed": 4, "delivered": 3, "seen": 2, "opened": 1, "converted": 1, "expired": 0,
        "undeliverable": 1, "pending": 2,
    }  # fmt: skip
    clock.advance(3600)
    later = push.campaign("spring")
    assert (later["expired"], later["pending"], later["delivered"]) == (2, 0, 3)
    push.send([reg(devices[0])], schedule={"bulkId": "summer"})
    listed = client.get("/inspect/campaigns", params={"limit": 1}).json()
    assert (listed["total"], [c["bulkId"] for c in listed["campaigns"]]) == (2, ["summer"])
    assert [
        c["bulkId"] for c in client.get("/inspect/campaigns", params={"page": 1, "limit": 1}).json()["campaigns"]
    ] == ["spring"]
    assert client.get("/inspect/campaigns", params={"account": "other"}).json()["total"] == 0
    missing = client.get("/inspect/campaigns/none")
    assert (missing.status_code, missing.json()["requestError"]["serviceException"]["messageId"]) == (404, "NOT_FOUND")
    assert row(app, ids[0])["handed_at"] == START_MS


def test_campaigns_are_listed_by_application_and_by_creation_time(
    push: PushApi, client: TestClient, clock: Clock
) -> None:
    mine, theirs = device(client, Platform.ANDROID, route=1), device(client, Platform.IOS, route=2, app_code=OTHER_APP)
    push.send([reg(mine)], schedule={"bulkId": "mine-early"})
    clock.advance(10)
    push.send([reg(theirs)], sender=OTHER_APP, schedule={"bulkId": "theirs"})
    body = {"messages": [push.message([reg(mine)]), push.message([reg(theirs)], sender=OTHER_APP)],
            "options": {"schedule": {"bulkId": "both"}}}  # fmt: skip
    assert push.call("POST", "/push/3/messages", json=body).status_code == 200  # two senders: no app of its own

    def listed(**params: Any) -> list[str]:
        answer = client.get("/inspect/campaigns", params=params)
        assert answer.status_code == 200, answer.text
        return [c["bulkId"] for c in answer.json()["campaigns"]]

    assert listed() == ["both", "theirs", "mine-early"]
    assert listed(applicationCode=APP_CODE) == ["both", "mine-early"]
    assert listed(applicationCode=OTHER_APP) == ["both", "theirs"]
    assert listed(applicationCode="NONE") == []
    assert listed(since=ts(10)) == ["both", "theirs"]  # at or after: the boundary is in
    assert listed(since="2024-05-01T12:00:10.001Z") == []
    assert listed(applicationCode=APP_CODE, since=ts(10)) == ["both"]
    assert client.get("/inspect/campaigns", params={"applicationCode": APP_CODE}).json()["total"] == 2
    bad = client.get("/inspect/campaigns", params={"since": "yesterday"})
    assert bad.status_code == 400 and "since" in bad.text


def test_a_reset_forgets_messages_but_keeps_api_keys(
    push: PushApi, inspector: Inspector, new_device: MakeDevice
) -> None:
    phone = new_device(Dialect.ANDROID)
    push.send([reg(phone)])
    phone.mo([{"text": "hi"}])
    inspector.post("/reset")
    assert push.logs()["results"] == []
    assert push.call("GET", "/push/1/inbox/reports").json()["results"] == []
    assert inspector.get("/campaigns")["total"] == 0
    assert push.call("GET", "/push/3/reports").status_code == 200  # the key still works
