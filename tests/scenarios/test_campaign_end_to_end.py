"""A campaign end to end, per platform, on one virtual clock and no socket: the Push API sends,
the simulated provider hands the pushes to a population's parked devices, their SDKs report
delivery, a tap opens the app and reports seen, and the reports and campaign metrics say so."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from scenarios import Population, Tally
from scenarios._personas import Session, no_expectations
from scenarios._pushes import DELIVERIES_PATH, OpenPolicy, PushReceiver, open_session
from server_stub.inprocess import InProcessServer
from simulator import AppConfig, VirtualClock
from simulator.transport import InProcessTransport

APP = "APP-E2E-0001"
KEY = "push-key-e2e"
START = 1_764_590_400.0  # 2025-12-01T12:00:00Z


def call(server: InProcessServer, method: str, path: str, auth: str, body: Any = None, query: str = "") -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"authorization": f"App {auth}", "content-type": "application/json"}
    status, _, raw = server.request(method, path, query, headers, data)
    assert status < 300, (status, raw[:300])
    return json.loads(raw) if raw else None


@pytest.fixture(params=["android", "ios", "huawei"])
def world(request: pytest.FixtureRequest) -> Any:
    clock = VirtualClock(START)
    server = InProcessServer(APP, clock=clock)
    server.profiles.messaging.add_api_key(KEY)
    transport = InProcessTransport(server)
    pop = Population(12, 5, AppConfig(APP, base_url="http://mobsim.inprocess"), clock=clock,
                     personas={"browser": 1}, platforms={request.param: 1})  # fmt: skip
    regs = []
    for _ in range(12):
        got = pop.checkout("browser", transport)
        assert got is not None
        index, device = got
        device.start()
        assert device.reg_id, device.last_error
        regs.append(device.reg_id)
        device.background()
        pop.park(index, device)
    clock.set(START + 120)
    yield clock, server, transport, pop, regs
    server.close()


def test_a_campaign_is_delivered_reported_once_opened_and_counted(world: Any) -> None:
    clock, server, transport, pop, regs = world
    destinations = [{"type": "REGISTRATION", "pushRegistrationId": reg} for reg in regs[:10]]
    sent = call(server, "POST", "/push/3/messages", KEY, {"messages": [
        {"sender": APP, "destinations": destinations, "content": {"title": "Sale", "text": "30% off", "type": "TEXT"}}],
        "options": {"schedule": {"bulkId": "BULK-E2E"}}})  # fmt: skip
    assert sent["bulkId"] == "BULK-E2E" and len(sent["messages"]) == 10

    clock.set(START + 180)  # past the provider's latency
    answer = call(server, "GET", DELIVERIES_PATH, APP, query="shard=0&of=1&limit=1000")
    assert len(answer["deliveries"]) == 10
    assert call(server, "GET", DELIVERIES_PATH, APP, query="shard=0&of=1")["deliveries"] == []  # handed once

    tally, planned = Tally(), []
    receiver = PushReceiver(pop, transport, tally, random.Random(2), OpenPolicy(scale=0.0),
                            lambda *a: planned.append(a))  # fmt: skip
    assert receiver.handle(answer["deliveries"]) == 10
    assert tally.counts["pushes_received"] == 10

    reports = call(server, "GET", "/push/3/reports", KEY, query="bulkId=BULK-E2E")["results"]
    assert len(reports) == 10 and {r["status"]["groupName"] for r in reports} == {"DELIVERED"}
    assert call(server, "GET", "/push/3/reports", KEY, query="bulkId=BULK-E2E")["results"] == []  # once

    index = 0  # the first device checked out: regs[0], one of the ten
    device = pop.wake(index, transport)
    assert device is not None and device.notifications
    clock.set(START + 600)
    session = Session(device, index, pop, random.Random(1), device.advance, tally, no_expectations)
    assert open_session(session, device.notifications[-1], OpenPolicy(), "browser")
    pop.put_back(index, device)

    funnel = server.get("/inspect/campaigns/BULK-E2E")
    assert (funnel["sent"], funnel["handed"], funnel["delivered"]) == (10, 10, 10)
    assert funnel["seen"] == 1 and funnel["opened"] == 1
