"""What the FCM and HMS imitations accept reaches a population's devices through the existing
PushReceiver, one virtual clock, no socket: the loop of issue 14 on the device side."""

from __future__ import annotations

import random
from typing import Any

import pytest
from providerkit import T0, World, message

from contract.dialect import Platform
from contract.messages import fcm_data, hms_data
from scenarios import OpenPolicy, Population, PushReceiver, Tally
from server_stub.inprocess import InProcessServer
from server_stub.messaging import PushLatency
from simulator import AppConfig, VirtualClock
from simulator.transport import InProcessTransport

APP = "APP-PROV-0001"


@pytest.mark.parametrize("platform", ["android", "huawei"])
def test_accepted_sends_are_received_by_the_devices_holding_the_tokens(platform: str) -> None:
    clock = VirtualClock(1_764_590_400.0)
    server = InProcessServer(APP, clock=clock)
    transport = InProcessTransport(server)
    pop = Population(4, 5, AppConfig(APP, base_url="http://mobsim.inprocess"), clock=clock,
                     personas={"browser": 1}, platforms={platform: 1})  # fmt: skip
    tokens: list[str] = []
    for _ in range(4):
        got = pop.checkout("browser", transport)
        assert got is not None
        index, device = got
        device.start()
        assert device.push_token, device.last_error
        tokens.append(device.push_token)
        device.background()
        pop.park(index, device)
    world = World(latency=PushLatency(0, 0))
    sent: Any
    if platform == "android":
        auth = {"Authorization": f"Bearer {world.fcm_token()}"}
        for n, token in enumerate(tokens[:3]):
            data = fcm_data(message(bulk="B-1", mid=f"m-{n}"))
            sent = world.client.post("/v1/projects/p/messages:send", json={"message": {"token": token, "data": data}},
                                     headers=auth)  # fmt: skip
            assert sent.status_code == 200, sent.text
    else:
        body = {"message": {"token": tokens[:3], "data": hms_data(message(bulk="B-1"))}}
        sent = world.client.post("/v1/101234567/messages:send", json=body,
                                 headers={"Authorization": f"Bearer {world.hms_token()}"})  # fmt: skip
        assert sent.json()["code"] == "80000000"
    world.clock.now = T0 + 1
    deliveries = world.client.get("/provider/1/deliveries?limit=1000").json()["deliveries"]
    assert {d["platform"] for d in deliveries} == {Platform(platform).value} and len(deliveries) == 3
    tally: Tally = Tally()
    receiver = PushReceiver(pop, transport, tally, random.Random(2), OpenPolicy(scale=0.0), lambda *a: None)
    assert receiver.handle(deliveries) == 3
    assert tally.counts["pushes_received"] == 3
    assert world.journal.verify(tokens[:3]) == [] and world.journal.verify(tokens) != []
    server.close()


def test_a_push_to_a_device_that_dropped_its_token_is_noted_for_the_providers() -> None:
    clock = VirtualClock(1_764_590_400.0)
    server = InProcessServer(APP, clock=clock)
    transport = InProcessTransport(server)
    pop = Population(2, 5, AppConfig(APP, base_url="http://mobsim.inprocess"), clock=clock,
                     personas={"browser": 1}, platforms={"android": 1})  # fmt: skip
    tokens = []
    for _ in range(2):
        got = pop.checkout("browser", transport)
        assert got is not None
        index, device = got
        device.start()
        tokens.append((index, device.push_token))
        if index == 0:
            device.uninstall()  # the app is gone: FCM learns it when it next tries this token
        else:
            device.background()
        pop.park(index, device)
    tally: Tally = Tally()
    receiver = PushReceiver(pop, transport, tally, random.Random(2), OpenPolicy(scale=0.0), lambda *a: None)
    deliveries = [{"route": index + 1, "platform": "android", "pushToken": token,
                   "payload": fcm_data(message(mid=f"m-{index}"))} for index, token in tokens]  # fmt: skip
    assert receiver.handle(deliveries) == 1
    assert receiver.gone == [("android", tokens[0][1])] and tally.counts["pushes_stale"] == 1
    server.close()
