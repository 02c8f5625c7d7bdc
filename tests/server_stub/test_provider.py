"""The simulated push provider: due messages by token route and shard, latency, long-polling, and the
``mobsim serve`` options that set the Push API key and the latency."""

from __future__ import annotations

import asyncio
import random
import statistics
import warnings
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from pushkit import API_KEY, PushApi, device, reg
from starlette.testclient import TestClient
from stubkit import APP_CODE, OTHER_APP, Clock, MakeDevice, assert_error

from contract import Dialect, Platform
from contract.messages import parse_push, push_payload
from mobsim.cli import build_parser
from server_stub import create_app
from server_stub.messaging import PushLatency
from server_stub.serve import ServeConfig, build_server


def test_only_due_messages_with_a_route_of_the_callers_app_are_handed(
    push: PushApi, client: TestClient, new_device: MakeDevice
) -> None:
    routed = device(client, Platform.ANDROID, route=7)
    unrouted = new_device(Dialect.ANDROID)  # a token without a route: a standalone or real device
    theirs = device(client, Platform.IOS, route=8, app_code=OTHER_APP)
    (mine,) = push.ids([reg(routed)])
    push.ids([reg(unrouted)])
    push.ids([reg(theirs)], sender=OTHER_APP)
    (delivery,) = push.deliveries()
    assert list(delivery) == ["messageId", "platform", "pushToken", "route", "payload"]
    assert (delivery["messageId"], delivery["platform"], delivery["pushToken"], delivery["route"]) == (
        mine, "android", routed.token, 7)  # fmt: skip
    assert push.deliveries() == []  # handed once
    assert [d["route"] for d in push.deliveries(app_code=OTHER_APP)] == [8]


@pytest.mark.parametrize("platform", list(Platform), ids=str)
def test_the_payload_is_the_push_the_platform_delivers(push: PushApi, client: TestClient, platform: Platform) -> None:
    found = device(client, platform, route=3)
    (message_id,) = push.ids([reg(found)], schedule={"bulkId": "p"}, customPayload={"k": "v"})
    (delivery,) = push.deliveries()
    message = parse_push(platform, delivery["payload"])
    assert message is not None
    assert (message.message_id, message.text, message.title, message.bulk_id) == (
        message_id, "A message for you", "Hello", "p")  # fmt: skip
    assert message.custom_payload == {"k": "v"}
    assert delivery["payload"] == push_payload(message, platform)
    assert delivery["platform"] == platform.value


def test_shards_split_the_devices_by_route(push: PushApi, client: TestClient) -> None:
    devices = {route: device(client, Platform.IOS, route=route) for route in range(1, 8)}
    push.send([reg(d) for d in devices.values()])
    got = {shard: sorted(d["route"] for d in push.deliveries(shard=shard, of=3)) for shard in range(3)}
    assert got == {0: [1, 4, 7], 1: [2, 5], 2: [3, 6]}
    assert push.deliveries(shard=0, of=1) == []


def test_limit_caps_an_answer(push: PushApi, client: TestClient) -> None:
    found = device(client, Platform.ANDROID, route=1)
    sent = [push.ids([reg(found)])[0] for _ in range(5)]
    assert [d["messageId"] for d in push.deliveries(limit=2)] == sent[:2]
    assert [d["messageId"] for d in push.deliveries(limit=1000)] == sent[2:]


def test_a_message_is_handed_after_its_latency(app: FastAPI, push: PushApi, client: TestClient, clock: Clock) -> None:
    messaging = app.state.profiles.messaging
    messaging.latency = PushLatency(300, 1500)
    messaging.rng = random.Random(7)
    draws = [PushLatency(300, 1500).sample_ms(rng) for rng in [random.Random(7)] for _ in range(3)]
    assert len(set(draws)) == 3
    found = device(client, Platform.ANDROID, route=1)
    sent = [push.ids([reg(found)])[0] for _ in range(3)]
    start = clock.now
    for latency, message_id in sorted(zip(draws, sent, strict=True)):
        clock.now = start + timedelta(milliseconds=latency - 1)
        assert message_id not in [d["messageId"] for d in push.deliveries()]
        clock.now = start + timedelta(milliseconds=latency)
        assert [d["messageId"] for d in push.deliveries()] == [message_id]


def test_a_scheduled_expired_or_delivered_message_is_not_handed(
    push: PushApi, client: TestClient, clock: Clock
) -> None:
    found = device(client, Platform.ANDROID, route=2)
    (scheduled,) = push.ids([reg(found)], sendAt="2024-05-01T12:10:00.000+0000")
    (expiring,) = push.ids([reg(found)], validityPeriod={"amount": 30, "timeUnit": "SECONDS"})
    (synced,) = push.ids([reg(found)])
    assert found.sync({"drIDs": [synced]}).status_code == 200  # delivered through a sync first
    clock.advance(30)
    assert push.deliveries() == []  # the one of 30 seconds expired; the scheduled one is not due
    clock.advance(570 - 0.001)
    assert push.deliveries() == []
    clock.advance(0.001)
    assert [d["messageId"] for d in push.deliveries()] == [scheduled]
    assert expiring


@pytest.mark.parametrize(
    ("query", "text"),
    [
        ("shard=3&of=3", "shard: an integer from 0 to 2"),
        ("of=0", "of: an integer from 1"),
        ("shard=-1", "shard: an integer from 0 to 0"),
        ("limit=0", "limit: an integer from 1 to 1000"),
        ("limit=1001", "limit: an integer from 1 to 1000"),
        ("wait=6", "wait: a number from 0 to 5"),
        ("wait=nan", "wait: a number"),
        ("wait=inf", "wait: a number"),
        ("of=" + "9" * 400, "of: an integer"),
        ("limit=1.5", "limit: an integer"),
    ],
)
def test_bad_queries_are_400(push: PushApi, client: TestClient, query: str, text: str) -> None:
    response = client.get(f"/provider/1/deliveries?{query}", headers={"Authorization": f"App {APP_CODE}"})
    assert_error(response, 400, "REQUEST_FORMAT_INVALID", text)


@pytest.mark.parametrize("authorization", [None, f"App {API_KEY}", "App unknown"], ids=["none", "api-key", "unknown"])
def test_the_provider_takes_an_application_code(push: PushApi, client: TestClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.get("/provider/1/deliveries?of=0", headers=headers)  # the code is checked first
    assert_error(response, 401, "INVALID_APPLICATION_CODE")


# ---------------------------------------------------------------------------------------------
# long-polling, on a clock the test moves (no sleeping)


def test_a_long_poll_returns_when_a_message_is_due(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock
) -> None:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    messaging = app.state.profiles.messaging
    messaging.sleep = sleep
    messaging.latency = PushLatency(1200, 1200)
    found = device(client, Platform.IOS, route=1)
    (message_id,) = push.ids([reg(found)])
    assert [d["messageId"] for d in push.deliveries(wait=5)] == [message_id]
    assert round(sum(slept), 3) == 1.2 and max(slept) <= 0.05  # looked until it was due, then answered
    slept.clear()
    assert push.deliveries(wait=2) == []  # nothing more: the whole wait
    assert round(sum(slept), 3) == 2.0
    slept.clear()
    assert push.deliveries(wait=0) == [] and slept == []  # no wait: at once


def test_a_send_wakes_a_long_poll(app: FastAPI, push: PushApi, client: TestClient) -> None:
    """A poller waiting (the clock stands still) answers the message a send creates meanwhile."""
    messaging = app.state.profiles.messaging
    found = device(client, Platform.ANDROID, route=4)
    looks = 0

    async def sleep(seconds: float) -> None:
        nonlocal looks
        looks += 1
        await asyncio.sleep(0)

    messaging.sleep = sleep

    async def scenario() -> None:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            poll = asyncio.create_task(
                http.get("/provider/1/deliveries?wait=5", headers={"Authorization": f"App {APP_CODE}"})
            )
            while looks < 3:
                await asyncio.sleep(0)
            assert not poll.done()
            body = {"messages": [push.message([reg(found)])]}
            sent = await http.post("/push/3/messages", json=body, headers={"Authorization": f"App {API_KEY}"})
            answer = await poll
            assert [d["messageId"] for d in answer.json()["deliveries"]] == [sent.json()["messages"][0]["messageId"]]

    asyncio.run(scenario())


# ---------------------------------------------------------------------------------------------
# latency


def test_the_latency_is_lognormal_with_the_median_and_95th_percentile() -> None:
    latency = PushLatency(300, 1500)
    rng = random.Random(1)
    samples = sorted(latency.sample_ms(rng) for _ in range(20_000))
    assert abs(statistics.median(samples) - 300) < 15
    assert abs(samples[int(0.95 * len(samples))] - 1500) < 100
    assert min(samples) > 0
    assert [PushLatency(300, 1500).sample_ms(random.Random(5)) for _ in range(2)] == [
        PushLatency(300, 1500).sample_ms(random.Random(5)) for _ in range(2)
    ]  # the same seed, the same draws
    assert PushLatency(0, 0).sample_ms(rng) == 0 and PushLatency(250, 250).sample_ms(rng) == 250


@pytest.mark.parametrize(
    ("text", "median", "p95"),
    [("300:1500", 300, 1500), ("300", 300, 1500), ("0", 0, 0), ("50:50", 50, 50), (" 10.5:20 ", 10.5, 20)],
)
def test_the_latency_option_parses(text: str, median: float, p95: float) -> None:
    assert PushLatency.parse(text) == PushLatency(median, p95)


@pytest.mark.parametrize("text", ["", "fast", "300:100", "-1", "1:inf", "nan", "300:1500:9"])
def test_a_bad_latency_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="MEDIAN_MS"):
        PushLatency.parse(text)
    with pytest.raises(SystemExit), warnings.catch_warnings():
        build_parser().parse_args(["serve", "--push-latency", text])


# ---------------------------------------------------------------------------------------------
# mobsim serve --api-key / --push-latency


def test_serve_takes_api_keys_and_a_latency() -> None:
    args = build_parser().parse_args(["serve", "--memory", "--api-key", "K1", "--api-key", "K2",
                                      "--push-latency", "100:400"])  # fmt: skip
    assert (args.api_key, args.push_latency) == (["K1", "K2"], "100:400")
    server, _ = build_server(ServeConfig(api_keys=["K1", "K2"], push_latency=PushLatency(100, 400)))
    try:
        assert server.messaging.api_keys() == ["K1", "K2"]
        assert server.messaging.latency == PushLatency(100, 400)
    finally:
        server.store.close()


def test_serve_creates_a_key_once_and_keeps_it_in_the_file(tmp_path: Path) -> None:
    db = tmp_path / "keys.db"
    first, _ = build_server(ServeConfig(db=db))
    (key,) = first.messaging.api_keys()
    first.store.close()
    again, _ = build_server(ServeConfig(db=db))
    assert again.messaging.api_keys() == [key]
    client = TestClient(create_app(server=again))
    assert client.get("/push/3/logs", headers={"Authorization": f"App {key}"}).status_code == 200
    again.store.close()
    with pytest.raises(RuntimeError, match="--api-key '…': an API key is 1 to 200 printable ASCII"):
        build_server(ServeConfig(api_keys=["bad key"]))
