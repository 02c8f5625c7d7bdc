"""Pushes reach the population: routes in tokens, parked devices woken, busy ones served after
their session, stale tokens and other slices' routes refused, and who opens."""

from __future__ import annotations

import random

import httpx
import pytest
import respx

from contract.messages import Message, push_payload, token_route
from scenarios import Population, Slice, Tally
from scenarios._personas import Session, no_expectations
from scenarios._pushes import OpenPolicy, PushReceiver, open_session
from simulator import AppConfig, VirtualClock

BASE = "http://testserver"
START = 1_714_557_600.0


@pytest.fixture
def router() -> respx.Router:
    mock = respx.Router(base_url=BASE, assert_all_mocked=True, assert_all_called=False)
    mock.post("/mobile/1/appinstance").mock(
        side_effect=lambda request: httpx.Response(200, json={"pushRegId": f"REG-{len(mock.calls)}"})
    )
    mock.post(url__regex=r"/mobile/5/messages.*").respond(200, json={"payloads": []})
    mock.post(url__regex=r"/mobile/1/messages/deliveryreport").respond(200)
    mock.post(url__regex=r"/mobile/2/messages/seen").respond(200)
    mock.route(url__regex=r"/mobile/1/appinstance/REG-\d+.*").respond(200)
    return mock


@pytest.fixture
def client(router: respx.Router) -> httpx.Client:
    return httpx.Client(transport=httpx.MockTransport(router.handler))


def population(clock: VirtualClock, **kw: object) -> Population:
    return Population(40, 11, AppConfig("CODE", base_url=BASE), clock=clock, **kw)  # type: ignore[arg-type]


def install(pop: Population, client: httpx.Client, persona: str = "browser") -> int:
    got = pop.checkout(persona, client)
    assert got is not None
    index, device = got
    device.start()
    device.background()
    pop.park(index, device)
    return index


def delivery(pop: Population, index: int, client: httpx.Client, message_id: str = "M-1") -> dict[str, object]:
    device = pop.wake(index, client)
    assert device is not None
    token, platform = device.push_token, device.platform
    pop.put_back(index, device)
    assert token is not None and token_route(platform, token) == index + 1
    message = Message(message_id, "Sale!", send_date_time=int(START * 1000))
    return {"messageId": message_id, "platform": platform.value, "pushToken": token, "route": index + 1,
            "payload": push_payload(message, platform)}  # fmt: skip


def receiver(pop: Population, client: httpx.Client, tally: Tally, **kw: object) -> PushReceiver:
    return PushReceiver(pop, client, tally, random.Random(3), **kw)  # type: ignore[arg-type]


def test_a_parked_device_is_woken_takes_the_push_and_is_parked_with_it(client, router):
    clock = VirtualClock(START)
    pop, tally = population(clock), Tally()
    index = install(pop, client)
    router.calls.clear()
    assert receiver(pop, client, tally).handle([delivery(pop, index, client)]) == 1
    assert any("/mobile/" in str(call.request.url) for call in router.calls)  # its delivery report went out
    woken = pop.wake(index, client)
    assert woken is not None and woken.notifications == ["M-1"] and pop.busy(index)
    pop.put_back(index, woken)
    assert tally.counts["pushes_received"] == 1 and not pop.busy(index)


def test_a_device_in_a_session_gets_the_push_when_the_session_parks_it(client):
    clock = VirtualClock(START)
    pop, tally = population(clock), Tally()
    index = install(pop, client)
    push = delivery(pop, index, client)
    got = pop.checkout(pop.persona_of(index), client)
    while got is not None and got[0] != index:  # take the device out as a session would
        pop.park(*got)
        got = pop.checkout(pop.persona_of(index), client)
    assert got is not None and pop.busy(index)
    assert receiver(pop, client, tally).handle([push]) == 0
    assert tally.counts["pushes_held"] == 1 and got[1].notifications == []
    pop.park(*got)
    woken = pop.wake(index, client)
    assert woken is not None and woken.notifications == ["M-1"]


def test_a_woken_device_is_not_checked_out_by_a_session(client):
    clock = VirtualClock(START)
    pop = population(clock, personas={"browser": 1})
    index = install(pop, client)
    woken = pop.wake(index, client)
    assert woken is not None
    seen = []
    while (got := pop.checkout("browser", client)) is not None:
        seen.append(got[0])
    assert index not in seen and len(seen) == 39
    pop.put_back(index, woken)


def test_routes_of_another_slice_stale_tokens_and_unknown_routes_are_refused(client, router):
    clock = VirtualClock(START)
    whole = population(clock)
    index = install(whole, client)
    push = delivery(whole, index, client)
    other = population(clock, slice_=Slice(1 - index % 2, 2))
    tally = Tally()
    assert receiver(other, client, tally).handle([push]) == 0
    assert receiver(whole, client, tally).handle([{**push, "route": 41}, {**push, "route": "x"}]) == 0
    assert tally.counts["pushes_unroutable"] == 3
    assert receiver(whole, client, tally).handle([{**push, "pushToken": "old-token"}]) == 0
    assert tally.counts["pushes_stale"] == 1


def test_a_never_installed_device_has_no_token_to_push_to(client):
    pop, tally = population(VirtualClock(START)), Tally()
    assert (
        receiver(pop, client, tally).handle([{"route": 5, "platform": "android", "pushToken": "t", "payload": {}}]) == 0
    )
    assert tally.counts["pushes_unroutable"] == 1


@pytest.mark.parametrize(("scale", "opens"), [(0.0, 0), (100.0, 1)])
def test_shown_notifications_are_opened_by_a_share_after_a_delay(client, scale, opens):
    clock = VirtualClock(START)
    pop, tally = population(clock), Tally()
    index = install(pop, client)
    planned: list[tuple[float, int, str]] = []
    rec = receiver(pop, client, tally, policy=OpenPolicy(scale=scale),
                   schedule_open=lambda *a: planned.append(a))  # fmt: skip
    rec.handle([delivery(pop, index, client)])
    assert len(planned) == opens
    if opens:
        delay, where, message_id = planned[0]
        assert where == index and message_id == "M-1" and 0 < delay <= 900


def test_nobody_opens_a_silent_push(client):
    clock = VirtualClock(START)
    pop, tally = population(clock), Tally()
    index = install(pop, client)
    push = delivery(pop, index, client)
    device = pop.wake(index, client)
    assert device is not None
    push["payload"] = push_payload(Message("S-1", "x", silent=True), device.platform)
    pop.put_back(index, device)
    planned: list[object] = []
    receiver(pop, client, tally, policy=OpenPolicy(scale=100.0), schedule_open=lambda *a: planned.append(a)).handle(
        [push]
    )
    assert planned == [] and tally.counts["pushes_received"] == 1


def test_open_share_is_lower_at_night():
    policy, rng = OpenPolicy(), random.Random(5)
    day = sum(policy.open_delay("shopper", 12, rng) is not None for _ in range(20_000))
    night = sum(policy.open_delay("shopper", 3, rng) is not None for _ in range(20_000))
    assert day / 20_000 == pytest.approx(0.14, abs=0.01) and night / 20_000 == pytest.approx(0.035, abs=0.006)
    hours = {h: OpenPolicy(scale=100).open_delay("login", h, random.Random(1)) is not None for h in (6, 7, 22, 23)}
    assert hours == {6: True, 7: True, 22: True, 23: True}  # scale 100: everybody, day or night


def test_the_open_session_taps_opens_the_app_and_may_convert(client, router):
    clock = VirtualClock(START)
    pop, tally = population(clock), Tally()
    index = install(pop, client)
    receiver(pop, client, tally).handle([delivery(pop, index, client)])
    device = pop.wake(index, client)
    assert device is not None
    session = Session(device, index, pop, random.Random(1), lambda s: device.advance(s), tally, no_expectations)
    always = OpenPolicy()
    assert open_session(session, "M-1", always, "shopper") is True
    assert tally.counts["opens"] == 1 and device.messages[0]["tapped"] is True
    assert device.messages[0]["seenReported"] is True
    assert open_session(session, "M-1", always, "shopper") is False  # the notification is gone
    assert tally.counts["opens_missed"] == 1
    pop.put_back(index, device)
