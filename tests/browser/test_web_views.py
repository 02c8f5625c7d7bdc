"""The reference server's web page in Chromium (docs/web.md): each view loads with nothing failing
(no console error, no failed request, no 4xx: every asset is the server's own), a person is found
by search and followed to a device and its timeline, the live counters move while traffic flows.

One strict server for the module, its audience made by virtual devices through the Mobile API: a
person on two phones (Android, iOS), a third phone (Huawei) anonymous, a custom event, a saved
segment, a campaign delivered to every phone and seen on one, and a protocol violation."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from browserkit import screenshot

from contract.headers import inspection_headers
from scenarios import EVENT_DEFINITIONS, EVERYONE, send_campaign
from server_stub.messaging import PushLatency
from server_stub.serve import BackgroundServer, ServeConfig
from simulator import AppConfig, VirtualDevice

APP, KEY = "WEB-VIEWS-APP", "web-views-key"
PERSON = {"externalUserId": "ada-lovelace", "emails": ["ada@example.com"], "phones": ["385911111111"]}


class Audience:
    def __init__(self, server: BackgroundServer) -> None:
        self.server = server
        config = AppConfig(APP, base_url=server.url)
        self.devices = [VirtualDevice.create(p, config, seed=n, route=n)
                        for n, p in enumerate(("android", "ios", "huawei"), start=1)]  # fmt: skip
        with httpx.Client(base_url=server.url, headers=inspection_headers()) as inspect:
            for definition in EVENT_DEFINITIONS:
                inspect.post("/inspect/event-definitions", json=definition)
            saved = inspect.post("/inspect/segments", json={"name": "Android phones",
                                                             "query": {"filter": {"platform": "android"}}})  # fmt: skip
            assert saved.status_code == 201, saved.text
        for device in self.devices:
            device.start()
            assert device.reg_id, device.last_error
        phone, tablet, _ = self.devices
        phone.personalize(PERSON, {"firstName": "Ada", "lastName": "Lovelace"})
        phone.save_user(tags=["vip", "beta"])
        tablet.personalize(PERSON)
        phone.submit_event("screenView", {"screen": "home"}, validate=True)
        for device in self.devices:
            device.background()
        record = send_campaign(server.url, APP, KEY, EVERYONE, "web-campaign")
        assert record.get("messages") == 3, record
        feed = httpx.get(f"{server.url}/provider/1/deliveries", params={"limit": 100},
                         headers={"Authorization": f"App {APP}"}).json()["deliveries"]  # fmt: skip
        by_token = {d["pushToken"]: d for d in feed}
        for device in self.devices:
            assert device.receive_push(by_token[device.push_token]["payload"]), device.last_error
        # iOS sends the seen report of a tap at once (Android's waits for its next sync); the tap
        # comes within 30 s of the app's last session, so it is no new App Launch: seen, not opened
        assert tablet.tap() is not None, tablet.last_error
        tablet.background()
        # a protocol violation for the strict view: a registration body with a field of the wrong type
        httpx.post(f"{server.url}/mobile/1/appinstance", json={"notificationsEnabled": "yes"},
                   headers={"Authorization": f"App {APP}"})  # fmt: skip


@pytest.fixture(scope="module")
def audience() -> Iterator[Audience]:
    config = ServeConfig(port=0, app_codes=[APP], api_keys=[KEY], strict=True, push_latency=PushLatency(0, 0))
    with BackgroundServer(config) as server:
        yield Audience(server)


def test_home_lists_the_application_and_the_counts(page: Any, audience: Audience) -> None:
    page.goto(f"{audience.server.url}/")
    assert APP in page.inner_text("#applications-table")
    assert page.locator("#stats").is_visible()
    screenshot(page, "web-home")


def test_search_a_person_and_follow_a_device_to_its_timeline(page: Any, audience: Audience) -> None:
    page.goto(f"{audience.server.url}/")
    page.fill("[data-testid=nav-search-input]", "ADA@example.com")  # any case: the server normalizes emails
    page.press("[data-testid=nav-search-input]", "Enter")
    page.wait_for_selector("#persons-table")
    page.click("[data-testid=person-link]")
    page.wait_for_selector("#devices-table")
    assert page.locator("#devices-table [data-reg-id]").count() == 2
    assert "vip" in page.inner_text("#person-tags") and "Lovelace" in page.inner_text("#person-attributes")
    kinds = set(page.locator("#timeline [data-kind]").evaluate_all("rows => rows.map(r => r.dataset.kind)"))
    assert len(kinds) >= 4, kinds  # installs, launches, a login, the custom event, the messages
    screenshot(page, "web-person")
    phone = audience.devices[0]
    page.click(f"#devices-table [data-reg-id='{phone.reg_id}'] [data-testid=device-link]")
    page.wait_for_selector("#timeline")
    assert phone.reg_id in page.inner_text("main")
    assert "web-campaign" in page.inner_text("#timeline")
    screenshot(page, "web-installation")


def test_segments_count_and_list_their_members(page: Any, audience: Audience) -> None:
    page.goto(f"{audience.server.url}/ui/segments")
    row = page.locator("#segments-table tr", has_text="Android phones")
    assert row.count() == 1
    screenshot(page, "web-segments")
    row.locator("[data-testid=segment-link]").click()
    page.wait_for_selector("#members-table")
    assert "ada-lovelace" in page.inner_text("#members-table")


def test_a_campaign_shows_its_funnel(page: Any, audience: Audience) -> None:
    page.goto(f"{audience.server.url}/ui/campaigns")
    page.locator("#campaigns-table [data-testid=campaign-link]", has_text="web-campaign").click()
    page.wait_for_selector("#funnel")
    stages = page.locator("#funnel [data-stage]").evaluate_all(
        "rows => Object.fromEntries(rows.map(r => [r.dataset.stage, r.innerText]))"
    )
    counts = {stage: text.split()[1] for stage, text in stages.items()}
    assert (counts["sent"], counts["delivered"], counts["seen"], counts["opened"]) == ("3", "3", "1", "0"), stages
    assert page.locator("#messages-table tr").count() >= 3
    screenshot(page, "web-campaign")


def test_violations_name_the_rule_and_the_fix(page: Any, audience: Audience) -> None:
    page.goto(f"{audience.server.url}/ui/violations")
    rules = page.locator("[data-rule]")
    assert rules.count() >= 1
    screenshot(page, "web-violations")


def test_live_counters_move_while_traffic_flows(page: Any, audience: Audience) -> None:
    page.goto(f"{audience.server.url}/ui/live")
    page.wait_for_selector("#live")
    stop = threading.Event()

    def traffic() -> None:
        device = audience.devices[2]
        while not stop.is_set():
            device.foreground()
            device.background()
            time.sleep(0.2)

    worker = threading.Thread(target=traffic, daemon=True)
    worker.start()
    try:
        page.wait_for_function(
            "() => [...document.querySelectorAll('#live [data-field]')].some(e => /[1-9]/.test(e.textContent))",
            timeout=15_000,
        )
    finally:
        stop.set()
        worker.join(timeout=10)
    screenshot(page, "web-live")
