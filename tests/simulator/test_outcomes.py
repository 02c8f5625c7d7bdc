"""What a device counts as acknowledged (``AppConfig(observer=...)``) and as pending
(``simulator.outcomes.pending``), per platform, against the reference server in process and on a
virtual clock: the counts equal what the server stored, and nothing refused is counted."""

from __future__ import annotations

import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from simhelpers import START

from simulator import AppConfig, DeviceState, VirtualClock, VirtualDevice
from simulator.outcomes import ACK_KINDS, pending

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from server_stub import create_app

CODE = "OUTCOMES-APP"
PLATFORMS = ("ios", "android", "huawei")


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def server(clock: VirtualClock) -> Iterator[TestClient]:
    app = create_app(memory=True, app_codes=[CODE], clock=lambda: datetime.fromtimestamp(clock.now(), UTC))
    with TestClient(app) as client:
        for definition in ("screenView",):
            client.post("/inspect/event-definitions", json={"definitionId": definition, "fields": []})
        yield client


def stored(server: TestClient) -> Counter[str]:
    answer = server.get("/inspect/event-counts")
    assert answer.status_code == 200
    return Counter(answer.json()["counts"])


def make(server: TestClient, clock: VirtualClock, platform: str, seed: int) -> tuple[VirtualDevice, Counter[str]]:
    acks: Counter[str] = Counter()
    config = AppConfig(CODE, base_url=str(server.base_url), observer=lambda kind, n: acks.update({kind: n}))
    return VirtualDevice.create(platform, config, seed=seed, transport=server, clock=clock), acks


def test_the_kinds_are_what_the_report_reconciles() -> None:
    assert ACK_KINDS == (
        "installs", "launches", "personalizations", "repersonalizations", "depersonalizations", "user_updates",
        "events", "messages_synced", "deliveries", "seen", "mo",
    )  # fmt: skip


@pytest.mark.parametrize("platform", PLATFORMS)
def test_acknowledged_counts_equal_what_the_server_stored(
    server: TestClient, clock: VirtualClock, platform: str
) -> None:
    phone, acks = make(server, clock, platform, 41)
    phone.start()
    phone.advance(10)
    phone.personalize({"externalUserId": f"out-{platform}"}, {"firstName": "Ana"})
    phone.save_user(customAttributes={"tier": "gold"})
    for k in range(3):
        phone.submit_event("screenView", {})
        phone.advance(1 + k)
    phone.background()
    phone.advance(40)
    for _ in range(2):  # two more launches, 40 s apart (each a new App Launch)
        phone.foreground()
        phone.advance(8)
        phone.background()
        phone.advance(40)
    phone.foreground()  # reports what is still unreported
    phone.advance(10)
    phone.depersonalize()
    phone.advance(30)
    assert phone.last_error is None, phone.last_error
    counts = stored(server)
    assert acks["installs"] == counts["Install"] == 1
    assert acks["launches"] == counts["AppLaunch"] >= 3
    assert acks["personalizations"] == counts["Personalize"] == 1
    assert acks["depersonalizations"] == counts["Depersonalize"] == 1
    assert acks["events"] == counts["screenView"] == 3
    assert acks["user_updates"] == 1
    assert pending(phone.state) == {}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_refused_and_unsent_work_counts_nothing_and_stays_pending(
    server: TestClient, clock: VirtualClock, platform: str
) -> None:
    owner, _ = make(server, clock, platform, 51)
    owner.start()
    owner.personalize({"externalUserId": "taken"}, None)
    phone, acks = make(server, clock, platform, 52)
    phone.start()
    phone.personalize({"externalUserId": "mine"}, None)
    before = dict(acks)
    with pytest.raises(Exception, match="PERSONALIZATION_IMPOSSIBLE"):
        phone.personalize({"externalUserId": "taken"}, None)  # another person's, without force
    assert acks == before  # refused: not a personalization
    phone.submit_event("screenView", {})  # batched, not sent yet (iOS waits 2 s, Android has just sent)
    held = pending(phone.state)
    if platform == "ios":
        assert held.get("events") == 1
    assert acks["events"] + held.get("events", 0) == 1


def test_pending_reads_the_parked_state() -> None:
    state = DeviceState.unpack(b'["a",7,0,1,1,"r",4,0,0,[[1000,2000,0],[90000,95000,1]],null,null,null,null,{"x":1},'
                               b'[["e",1,{}],["f",2,{}]]]')  # fmt: skip
    # Flag 4 is a pending depersonalize; one unreported start; two stored events; dirty user data.
    assert pending(state) == {"launches": 1, "events": 2, "depersonalizations": 1, "user_updates": 1}
    state.set(2)  # uninstalled: the app's data went with it
    assert pending(state) == {}


def test_the_observer_is_not_part_of_the_app_config_identity() -> None:
    seen: list[Any] = []
    assert AppConfig("X", observer=seen.append) == AppConfig("X")
