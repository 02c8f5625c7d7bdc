"""Whole lives of devices against the reference server, in process (no socket, virtual time).

The server's inspection API (`/inspect/...`) shows what the devices' traffic did: persons,
installations, App Launch events by the 30 s rule, custom events.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from simhelpers import START

from simulator import AppConfig, VirtualClock, VirtualDevice

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

from server_stub import create_app

CODE = "LIFECYCLE-APP"


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def server(clock: VirtualClock) -> Iterator[TestClient]:
    app = create_app(memory=True, app_codes=[CODE], clock=lambda: datetime.fromtimestamp(clock.now(), UTC))
    with TestClient(app) as client:
        yield client


@pytest.fixture
def device(server: TestClient, clock: VirtualClock) -> Callable[..., VirtualDevice]:
    config = AppConfig(CODE, base_url=str(server.base_url))

    def factory(platform: str, seed: int) -> VirtualDevice:
        made = VirtualDevice.create(platform, config, seed=seed, transport=server, clock=clock)
        return made

    return factory


def inspect(server: TestClient, path: str, **params: Any) -> Any:
    response = server.get(f"/inspect/{path}", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def launches(server: TestClient, reg_id: str) -> int:
    events = inspect(server, "events", limit=1000)["events"]
    return sum(1 for e in events if e["definitionId"] == "AppLaunch" and e["pushRegId"] == reg_id)


def session(device: VirtualDevice, clock: VirtualClock, seconds: float, away: float) -> None:
    """Use the app for `seconds`, then leave it for `away` seconds."""
    device.foreground()
    device.advance(seconds)
    device.background()
    device.advance(away)


@pytest.mark.parametrize("platform", ["ios", "android", "huawei"])
def test_install_and_anonymous_launches_follow_the_30_second_rule(server, device, clock, platform):
    phone = device(platform, 11)
    session(phone, clock, 20, 45)  # launch 1 (install)
    session(phone, clock, 20, 10)  # launch 2: 45 s away
    session(phone, clock, 20, 45)  # same session as launch 2: back within 10 s
    session(phone, clock, 5, 0)  # launch 3
    phone.advance(60)
    phone.foreground()  # reports what is still unreported
    assert phone.last_error is None, phone.last_error
    installation = inspect(server, f"installations/{phone.reg_id}")
    assert installation["state"] == "active" and installation.get("personId") is None
    assert launches(server, phone.reg_id) == 4  # the last foreground is a 4th launch


def test_personalize_share_attributes_move_primary_depersonalize(server, device, clock):
    android, ios = device("android", 21), device("ios", 22)
    for phone in (android, ios):
        phone.start()
    android.personalize({"externalUserId": "ana-1"}, {"firstName": "Ana", "customAttributes": {"tier": "gold"}})
    ios.personalize({"externalUserId": "ana-1"})
    user = ios.fetch_user()
    assert user["firstName"] == "Ana" and user["customAttributes"] == {"tier": "gold"}
    assert {i["pushRegId"] for i in user["instances"]} == {android.reg_id, ios.reg_id}

    android.set_primary()  # own installation
    ios.advance(2)
    ios.set_primary(android.reg_id, False)  # another installation of the same person
    ios.set_primary()
    rows = {i["pushRegId"]: i for i in inspect(server, "installations")["installations"]}
    assert rows[ios.reg_id]["isPrimary"] is True and rows[android.reg_id]["isPrimary"] is False

    person = inspect(server, "persons", identifier="ana-1")
    assert {i["pushRegId"] for i in person["installations"]} == {android.reg_id, ios.reg_id}
    android.depersonalize()
    assert not android.depersonalize_pending and android.last_error is None
    person = inspect(server, "persons", identifier="ana-1")
    assert {i["pushRegId"] for i in person["installations"]} == {ios.reg_id}
    rows = {i["pushRegId"]: i for i in inspect(server, "installations")["installations"]}
    assert rows[android.reg_id].get("personId") is None
    assert rows[android.reg_id]["pushServiceToken"] == android.push_token  # the re-issued token went out


def test_remote_logout_of_another_installation(server, device):
    android, ios = device("android", 31), device("ios", 32)
    for phone in (android, ios):
        phone.start()
        phone.personalize({"externalUserId": "bo-2"})
    ios.depersonalize_installation(android.reg_id)
    person = inspect(server, "persons", identifier="bo-2")
    assert {i["pushRegId"] for i in person["installations"]} == {ios.reg_id}


def test_ios_reinstall_deletes_the_old_registration_android_cannot(server, device, clock):
    ios, android = device("ios", 41), device("android", 42)
    for phone in (ios, android):
        phone.start()
    old_ios, old_android = ios.reg_id, android.reg_id
    for phone in (ios, android):
        phone.reinstall()
        phone.start()
    assert ios.reg_id != old_ios and android.reg_id != old_android
    assert inspect(server, f"installations/{old_ios}")["state"] == "deleted"
    assert inspect(server, f"installations/{old_android}")["state"] == "active"
    assert inspect(server, f"installations/{ios.reg_id}")["state"] == "active"


def test_uninstall_sends_nothing(server, device):
    phone = device("android", 51)
    phone.start()
    before = inspect(server, "stats")
    phone.uninstall()
    assert inspect(server, "stats") == before


def test_events_batched_and_validated(server, device, clock):
    created = server.post(
        "/inspect/event-definitions",
        json={"definitionId": "purchase", "fields": [{"name": "amount", "type": "Decimal"}]},
    )
    assert created.status_code == 201, created.text
    ios, android = device("ios", 61), device("android", 62)
    for phone in (ios, android):
        phone.start()
        phone.submit_event("purchase", {"amount": 12.5})
        phone.submit_event("purchase", {"amount": 3.0}, validate=True)
        phone.advance(10)
        assert phone.last_error is None and phone.state.events is None
    counts = inspect(server, "event-counts")["counts"]
    assert counts["purchase"] == 4
