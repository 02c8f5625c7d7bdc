"""The deliveries feed (the reference server's shape, for PushReceiver) and the journal endpoints."""

from __future__ import annotations

import json

from providerkit import T0, World, fcm_body, hms_body, message, token_of

from contract.dialect import Platform
from contract.messages import apns_payload, parse_push
from providers.fcm import NOTIFICATION_KEY
from providers.feed import delivery_of
from providers.journal import Accepted
from server_stub.messaging import PushLatency

FCM = "/v1/projects/demo/messages:send"
HMS = "/v1/101234567/messages:send"


def test_accepted_sends_become_due_after_the_latency_in_the_platform_form() -> None:
    world = World(latency=PushLatency(1000, 1000))
    android, huawei = token_of(Platform.ANDROID, 5), token_of(Platform.HUAWEI, 6)
    world.client.post(FCM, json=fcm_body(android), headers={"Authorization": f"Bearer {world.fcm_token()}"})
    world.client.post(HMS, json=hms_body([huawei]), headers={"Authorization": f"Bearer {world.hms_token()}"})
    world.clock.now = T0 + 0.999
    assert world.client.get("/provider/1/deliveries").json() == {"deliveries": []}
    world.clock.now = T0 + 1.0
    found = world.client.get("/provider/1/deliveries").json()["deliveries"]
    assert [(d["platform"], d["pushToken"], d["route"], d["messageId"]) for d in found] == [
        ("android", android, 5, "m-1"),
        ("huawei", huawei, 6, "m-1"),
    ]
    assert isinstance(found[0]["payload"], dict) and isinstance(found[1]["payload"], str)
    for d in found:  # what the device's SDK parses
        message = parse_push(Platform(d["platform"]), d["payload"])
        assert message is not None and message.bulk_id == "bulk-1"
    assert world.client.get("/provider/1/deliveries").json() == {"deliveries": []}  # handed once


def test_an_fcm_notification_message_is_journaled_but_never_handed_to_the_sdk() -> None:
    world = World(latency=PushLatency(0, 0))
    auth = {"Authorization": f"Bearer {world.fcm_token()}"}
    shown = fcm_body(token_of(Platform.ANDROID, 1), notification={"title": "Hi"})
    inner = fcm_body(token_of(Platform.ANDROID, 2), android={"notification": {"body": "Yo"}})
    plain = fcm_body(token_of(Platform.ANDROID, 3))
    for body in (shown, inner, plain):
        assert world.client.post(FCM, json=body, headers=auth).status_code == 200
    assert [a.payload.get(NOTIFICATION_KEY) for a in world.journal.accepted] == [{"title": "Hi"}, {"body": "Yo"}, None]
    assert [d["route"] for d in world.client.get("/provider/1/deliveries").json()["deliveries"]] == [3]


def test_shards_split_by_route_and_limit_caps_an_answer() -> None:
    world = World(latency=PushLatency(0, 0))
    tokens = [token_of(Platform.HUAWEI, route) for route in range(1, 7)]
    world.client.post(HMS, json=hms_body(tokens), headers={"Authorization": f"Bearer {world.hms_token()}"})
    odd = world.client.get("/provider/1/deliveries?shard=0&of=2&limit=2").json()["deliveries"]
    assert [d["route"] for d in odd] == [1, 3]
    even = world.client.get("/provider/1/deliveries?shard=1&of=2").json()["deliveries"]
    assert [d["route"] for d in even] == [2, 4, 6]
    assert [d["route"] for d in world.client.get("/provider/1/deliveries?of=2").json()["deliveries"]] == [5]


def test_bad_feed_parameters_are_400() -> None:
    world = World()
    for query in ("limit=0", "limit=1001", "shard=2&of=2", "wait=6", "of=x"):
        assert world.client.get(f"/provider/1/deliveries?{query}").status_code == 400, query


def test_an_apns_acceptance_is_delivered_to_its_ios_device_verbatim() -> None:
    payload = apns_payload(message())
    token = token_of(Platform.IOS, 9)
    entry = Accepted("apns", token, "apns-id", payload, 10, T0, "bulk-1")
    assert delivery_of(entry) == {"messageId": "m-1", "platform": "ios", "pushToken": token, "route": 9,
                                  "payload": payload}  # fmt: skip
    assert delivery_of(Accepted("apns", token_of(Platform.IOS, 0), "x", payload, 10, T0, None)) is None


def test_the_journal_endpoints_show_the_summary_the_entries_and_the_checks() -> None:
    world = World()
    access = {"Authorization": f"Bearer {world.fcm_token()}"}
    device = token_of(Platform.ANDROID, 2)
    world.client.post(FCM, json=fcm_body(device), headers=access)
    journal = world.client.get("/journal?entries=5").json()
    assert journal["summary"]["campaigns"] == {"bulk-1": {"messages": 1, "tokens": 1}}
    assert journal["accepted"][0]["token"] == device and journal["rejected"] == []
    assert world.client.get("/journal/verify").json()["ok"] is True
    missing = token_of(Platform.ANDROID, 3)
    verdict = world.client.get(f"/journal/verify?expected={device}&expected={missing}").json()
    assert verdict["ok"] is False and "1 expected token(s) got no message" in verdict["problems"][0]
    world.client.post(FCM, json=fcm_body(device), headers=access)
    assert "got 2 messages" in world.client.get("/journal/verify").json()["problems"][0]


def test_uninstall_through_the_api_makes_later_sends_unregistered() -> None:
    world = World()
    device = token_of(Platform.ANDROID, 2)
    answer = world.client.post("/journal/uninstall", json={"provider": "fcm", "token": device})
    assert answer.status_code == 200 and answer.json()["uninstalled_at"] == T0
    sent = world.client.post(FCM, json=fcm_body(device), headers={"Authorization": f"Bearer {world.fcm_token()}"})
    assert sent.status_code == 404
    for bad in ({"provider": "gcm", "token": device}, {"provider": "fcm"}, "x"):
        assert world.client.post("/journal/uninstall", content=json.dumps(bad)).status_code == 400
