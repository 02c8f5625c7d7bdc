"""The reference server configured to send through the loopback providers (``--providers``), on real
sockets: a campaign goes out through FCM, HMS and APNs (HTTP/2 + TLS), the journal holds one send per
device, the devices take the pushes from the providers' feed and report their delivery back to the
server; a token the provider knows is gone uninstalls its installation; the built-in feed hands
nothing out. One stack and one server for the module (a few seconds)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract.headers import inspection_headers
from providers.stack import ProviderStack, StackOptions
from scenarios import EVERYONE, send_campaign
from server_stub.messaging import PushLatency
from server_stub.serve import BackgroundServer, ServeConfig
from simulator import AppConfig, VirtualDevice

APP = "RELAY-TEST-APP"
KEY = "relay-test-key"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ProviderStack, BackgroundServer]]:
    folder = tmp_path_factory.mktemp("providers")
    with ProviderStack(StackOptions(folder=Path(folder), latency=PushLatency(0, 0))) as stack:
        config = ServeConfig(port=0, app_codes=[APP], api_keys=[KEY], relay=stack.targets)
        with BackgroundServer(config) as server:
            yield stack, server


def _until(check: Any, seconds: float = 10.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s: {check}")


def _devices(server: BackgroundServer, first_route: int) -> list[VirtualDevice]:
    config = AppConfig(APP, base_url=server.url)
    devices = []
    for offset, platform in enumerate(("android", "huawei", "ios")):
        device = VirtualDevice.create(platform, config, seed=first_route + offset, route=first_route + offset)
        device.start()
        assert device.reg_id and device.push_token, device.last_error
        device.background()
        devices.append(device)
    return devices


def _feed(stack: ProviderStack, want: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []

    def more() -> bool:
        found.extend(httpx.get(stack.feed_url, params={"limit": 1000}).json()["deliveries"])
        return len(found) >= want

    _until(more)
    return found


def test_a_campaign_goes_through_fcm_hms_and_apns_and_the_devices_report_delivery(
    world: tuple[ProviderStack, BackgroundServer],
) -> None:
    stack, server = world
    devices = _devices(server, 1)
    record = send_campaign(server.url, APP, KEY, EVERYONE, "relay-1")
    assert record.get("messages") == 3, record
    deliveries = _feed(stack, 3)
    by_token = {d["pushToken"]: d for d in deliveries}
    assert set(by_token) == {d.push_token for d in devices}
    assert {d["platform"] for d in deliveries} == {"android", "huawei", "ios"}
    summary = stack.journal.summary()
    assert {p: summary["providers"][p]["accepted"] for p in ("fcm", "hms", "apns")} == {"fcm": 1, "hms": 1, "apns": 1}
    assert stack.journal.verify([d.push_token for d in devices]) == []
    for device in devices:
        assert device.receive_push(by_token[device.push_token]["payload"]) is not None, device.last_error
    funnel = httpx.get(f"{server.url}/inspect/campaigns/relay-1", headers=inspection_headers()).json()
    assert funnel["sent"] == 3 and funnel["delivered"] == 3, funnel
    relay = httpx.get(f"{server.url}/inspect/relay", headers=inspection_headers()).json()
    assert all(relay["providers"][p]["sent"] >= 1 for p in ("fcm", "hms", "apns")), relay


def test_the_built_in_feed_hands_nothing_out_while_the_server_relays(
    world: tuple[ProviderStack, BackgroundServer],
) -> None:
    _, server = world
    answer = httpx.get(f"{server.url}/provider/1/deliveries", headers={"Authorization": f"App {APP}"})
    assert answer.status_code == 404
    assert "through push providers" in answer.json()["requestError"]["serviceException"]["text"]


@pytest.mark.parametrize("provider", ["fcm", "hms", "apns"])
def test_a_token_the_provider_knows_is_gone_uninstalls_its_installation(
    world: tuple[ProviderStack, BackgroundServer], provider: str
) -> None:
    stack, server = world
    first = {"fcm": 10, "hms": 20, "apns": 30}[provider]
    devices = _devices(server, first)
    target = devices[("fcm", "hms", "apns").index(provider)]
    stack.journal.uninstall(provider, target.push_token)  # type: ignore[arg-type]
    bulk = f"relay-gone-{provider}"
    destination = {"type": "REGISTRATION", "pushRegistrationId": target.reg_id}
    content = {"text": "hello", "type": "TEXT"}
    body = {"messages": [{"sender": APP, "destinations": [destination], "content": content}],
            "options": {"schedule": {"bulkId": bulk}}}  # fmt: skip
    sent = httpx.post(f"{server.url}/push/3/messages", json=body, headers={"Authorization": f"App {KEY}"})
    assert sent.status_code == 200, sent.text

    def uninstalled() -> bool:
        found = httpx.get(f"{server.url}/inspect/installations/{target.reg_id}", headers=inspection_headers())
        return found.json().get("state") == "uninstalled"

    _until(uninstalled)
    report = httpx.get(f"{server.url}/push/3/reports", params={"bulkId": bulk}, headers={"Authorization": f"App {KEY}"})
    results = report.json()["results"]
    assert [(r["status"]["groupName"], r["error"]["name"]) for r in results] == [
        ("UNDELIVERABLE", "EC_DEVICE_APP_UNINSTALL")
    ]
