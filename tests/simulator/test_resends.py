"""After a failed request: what each SDK keeps, when it sends it again, and how the device counts it.

Devices run against the reference server in process, behind a switch that answers chosen requests
with a canned error before the server sees them (so a refused request stores nothing), on a virtual
clock. Each test pins one keep-or-drop rule (docs/device.md, "After a failure"): what stays owed in
the parked state (``DeviceState.unsent``), that the next trigger sends it again (counted once by the
``resends`` observer), that a refused answer is never counted as acknowledged, and that what was
sent again is stored, and acknowledged, once.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from simhelpers import START
from starlette.types import ASGIApp, Receive, Scope, Send

from contract.dialect import Platform
from contract.messages import Message, push_payload
from server_stub import create_app
from simulator import AppConfig, DeviceState, Outgoing, Reply, VirtualClock, VirtualDevice
from simulator.errors import ApiError
from simulator.outcomes import RESEND_KINDS, UNSENT_BITS, pending

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CODE = "RESEND-APP"
DOWN = (503, {"requestError": {"serviceException": {"messageId": "SERVICE_UNAVAILABLE", "text": "down"}}})
"""A 503 with a serviceException, as a fault or an overloaded backend answers: no SDK retries it."""
BARE_503 = (503, {})
"""A 5xx whose JSON has no serviceException: the Android SDK's retry policy retries it (code -2)."""
INVALID = (400, {"requestError": {"serviceException": {"messageId": "REQUEST_FORMAT_INVALID", "text": "no"}}})

SESSIONS, EVENTS, PERSONALIZE = "/user/events/session", "/user/events/custom", "/personalize"


class Switch:
    """The reference server, with chosen requests answered by a canned error instead."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.failing: dict[str, tuple[int, Any]] = {}
        """Path suffix (``/user`` also takes a method: ``PATCH /user``) → (status, JSON body)."""
        self.times: dict[str, int] = {}
        """How many more times each failing entry answers (absent: until removed)."""
        self.seen: list[str] = []

    def fail(self, key: str, answer: tuple[int, Any], times: int | None = None) -> None:
        self.failing[key] = answer
        if times is not None:
            self.times[key] = times

    def heal(self) -> None:
        self.failing.clear()
        self.times.clear()

    def count(self, suffix: str) -> int:
        return sum(1 for line in self.seen if line.split(" ", 1)[1].endswith(suffix))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/mobile/"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        method = headers.get(b"x-http-method-override", scope["method"].encode()).decode()
        line = f"{method} {scope['path']}"
        self.seen.append(line)
        for key, (status, body) in list(self.failing.items()):
            wanted_method, _, suffix = key.rpartition(" ")
            if scope["path"].endswith(suffix) and (not wanted_method or wanted_method == method):
                if key in self.times:
                    self.times[key] -= 1
                    if self.times[key] <= 0:
                        del self.failing[key], self.times[key]
                content = json.dumps(body).encode()
                await send({"type": "http.response.start", "status": status,
                            "headers": [(b"content-type", b"application/json"),
                                        (b"content-length", str(len(content)).encode())]})  # fmt: skip
                await send({"type": "http.response.body", "body": content})
                return
        await self.app(scope, receive, send)


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def switch(clock: VirtualClock) -> Switch:
    return Switch(create_app(memory=True, app_codes=[CODE], clock=lambda: datetime.fromtimestamp(clock.now(), UTC)))


@pytest.fixture
def server(switch: Switch) -> Iterator[TestClient]:
    with TestClient(switch) as client:
        assert client.post("/inspect/event-definitions", json={"definitionId": "tap", "fields": []}).status_code == 201
        yield client


class Phone:
    """A device with its acknowledgement and re-send counters."""

    def __init__(self, server: TestClient, clock: VirtualClock, platform: str, seed: int = 7) -> None:
        self.acks: Counter[str] = Counter()
        self.resent: Counter[str] = Counter()
        self.server, self.clock = server, clock
        self.config = AppConfig(CODE, base_url=str(server.base_url), observer=self._ack, resends=self._resend)
        self.device = VirtualDevice.create(platform, self.config, seed=seed, transport=server, clock=clock)

    def _ack(self, kind: str, n: int) -> None:
        self.acks[kind] += n

    def _resend(self, kind: str, n: int) -> None:
        assert kind in RESEND_KINDS
        self.resent[kind] += n

    def registered(self) -> VirtualDevice:
        """Launched and registered, with a first sync (Android's first start sends the create alone)."""
        self.device.start()
        self.device.sync()
        assert self.device.reg_id, self.device.last_error
        return self.device

    def park_and_resume(self) -> VirtualDevice:
        """The process ends (the device is parked) and the app comes back later."""
        self.device.background()
        self.clock.advance(60)
        self.device = VirtualDevice.resume(self.device.park(), self.config, transport=self.server, clock=self.clock)
        return self.device

    def stored(self) -> Counter[str]:
        return Counter(self.server.get("/inspect/event-counts").json()["counts"])


def owes(device: VirtualDevice, kind: str) -> bool:
    return bool(device.state.unsent & UNSENT_BITS[kind])


@pytest.mark.parametrize("platform", ["ios", "android", "huawei"])
def test_a_refused_session_report_is_kept_through_a_park_and_sent_again_at_the_next_launch(
    server: TestClient, switch: Switch, clock: VirtualClock, platform: str
) -> None:
    phone = Phone(server, clock, platform)
    switch.fail(SESSIONS, DOWN)
    device = phone.registered()
    device.advance(10)  # iOS reports at its timer's first tick; Android reported in the sync
    assert switch.count(SESSIONS) >= 1
    assert phone.acks["launches"] == 0 and phone.stored()["AppLaunch"] == 0  # a 503 acknowledges nothing
    assert pending(device.state)["launches"] == 1 and owes(device, "sessions")
    assert phone.resent == Counter()

    switch.heal()
    device = phone.park_and_resume()
    assert owes(device, "sessions")  # the parked state kept it
    device.foreground()
    device.advance(10)
    assert phone.resent["sessions"] == 1  # the first report of the new launch carried it again
    assert not owes(device, "sessions")
    assert phone.acks["launches"] == phone.stored()["AppLaunch"] >= 1
    assert "launches" not in pending(device.state) or device.state.sessions[-1][2] == 0  # only the new start


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_refused_events_are_kept_then_stored_and_acknowledged_once(
    server: TestClient, switch: Switch, clock: VirtualClock, platform: str
) -> None:
    phone = Phone(server, clock, platform)
    device = phone.registered()
    device.advance(10)
    switch.fail(EVENTS, DOWN)
    device.submit_event("tap", {})
    device.submit_event("tap", {})
    device.advance(6)  # iOS: the 2 s debounce; Android: the first went at once, the second at +5 s
    assert switch.count(EVENTS) >= 1
    assert phone.acks["events"] == 0 and pending(device.state)["events"] == 2 and owes(device, "events")

    # Android's second event went 5 s after the first (BatchReporter), a re-send that failed too
    assert phone.resent["events"] == (0 if platform == "ios" else 1)
    switch.heal()
    if platform == "ios":
        device.background()
        device.foreground()  # a warm foreground flushes the stored events
    else:
        device.advance(6)
        device.submit_event("tap", {})  # only a submitted event flushes them
    device.advance(6)
    assert phone.resent["events"] == (1 if platform == "ios" else 2)
    sent = 2 if platform == "ios" else 3
    assert phone.acks["events"] == phone.stored()["tap"] == sent  # each stored once, counted once
    assert "events" not in pending(device.state) and not owes(device, "events")


def test_android_sends_kept_events_with_the_next_submitted_event_and_no_sooner(
    server: TestClient, switch: Switch, clock: VirtualClock
) -> None:
    phone = Phone(server, clock, "android")
    device = phone.registered()
    switch.fail(EVENTS, DOWN)
    device.submit_event("tap", {})
    assert switch.count(EVENTS) == 1
    switch.heal()
    device.advance(30)
    device.sync()
    device.background()
    device.advance(60)
    device.foreground()  # syncs, session reports, timers: none of them flushes events
    device.advance(30)
    assert switch.count(EVENTS) == 1 and phone.resent["events"] == 0 and owes(device, "events")
    device.submit_event("tap", {})
    assert switch.count(EVENTS) == 2 and phone.resent["events"] == 1
    assert phone.acks["events"] == phone.stored()["tap"] == 2


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_user_changes_refused_with_a_503_go_out_with_the_next_sync(
    server: TestClient, switch: Switch, clock: VirtualClock, platform: str
) -> None:
    phone = Phone(server, clock, platform)
    device = phone.registered()
    switch.fail("PATCH /user", DOWN)
    with pytest.raises(ApiError, match="SERVICE_UNAVAILABLE"):
        device.save_user(firstName="Ana")
    assert owes(device, "user") and pending(device.state)["user_updates"] == 1 and phone.acks["user_updates"] == 0
    switch.heal()
    device.advance(10)
    device.sync()
    assert phone.resent["user"] == 1 and phone.acks["user_updates"] == 1
    assert not owes(device, "user") and "user_updates" not in pending(device.state)
    assert device.fetch_user()["firstName"] == "Ana"  # the server has it


def test_android_drops_user_changes_refused_as_invalid_and_owes_nothing(
    server: TestClient, switch: Switch, clock: VirtualClock
) -> None:
    phone = Phone(server, clock, "android")
    device = phone.registered()
    switch.fail("PATCH /user", INVALID)
    with pytest.raises(ApiError, match="REQUEST_FORMAT_INVALID"):
        device.save_user(firstName="Ana")
    assert not owes(device, "user") and "user_updates" not in pending(device.state)  # setUserDataReportedWithError
    switch.heal()
    before = switch.count("/user")
    device.advance(10)
    device.sync()
    assert switch.count("/user") == before and phone.resent["user"] == 0


def test_an_android_retry_is_a_resend_and_the_personalize_is_counted_once(
    server: TestClient, switch: Switch, clock: VirtualClock
) -> None:
    phone = Phone(server, clock, "android")
    device = phone.registered()
    switch.fail(PERSONALIZE, BARE_503, times=1)
    with pytest.raises(ApiError) as refused:
        device.personalize({"externalUserId": "retry-1"})
    assert refused.value.code == "-2" and refused.value.will_retry
    assert device.next_retry() == clock.now() + 2.0  # MRetryPolicy: 1² x 2 s
    assert phone.acks["personalizations"] == 0 and not owes(device, "installation")
    device.advance(1.99)
    assert switch.count(PERSONALIZE) == 1 and phone.resent["personalize"] == 0
    device.advance(0.01)
    assert switch.count(PERSONALIZE) == 2 and phone.resent["personalize"] == 1 and device.next_retry() is None
    assert phone.acks["personalizations"] == phone.stored()["Personalize"] == 1


def test_a_park_drops_the_retries_of_the_process_and_keeps_its_persisted_work(
    server: TestClient, switch: Switch, clock: VirtualClock
) -> None:
    phone = Phone(server, clock, "android")
    device = phone.registered()
    switch.fail(PERSONALIZE, BARE_503)
    with pytest.raises(ApiError):
        device.personalize({"externalUserId": "lost-1"})
    assert device.next_retry() is not None
    device = phone.park_and_resume()
    assert device.next_retry() is None  # a personalize is never persisted: the app logs in again
    switch.heal()
    device.advance(30)
    assert switch.count(PERSONALIZE) == 1 and phone.resent["personalize"] == 0


def test_ios_gives_a_depersonalize_up_after_three_failures_and_owes_nothing(
    server: TestClient, switch: Switch, clock: VirtualClock
) -> None:
    phone = Phone(server, clock, "ios")
    device = phone.registered()
    device.personalize({"externalUserId": "leaving-1"})
    switch.fail("/depersonalize", DOWN)
    with pytest.raises(ApiError):
        device.depersonalize()
    assert device.depersonalize_pending and owes(device, "depersonalize")
    for replay in (1, 2):  # each warm foreground replays it
        device.background()
        device.foreground()
        assert phone.resent["depersonalize"] == replay
    assert not device.depersonalize_pending and not owes(device, "depersonalize")  # the third failure: given up
    switch.heal()
    device.background()
    device.foreground()
    assert switch.count("/depersonalize") == 3 and phone.resent["depersonalize"] == 2
    assert phone.acks["depersonalizations"] == phone.stored()["Depersonalize"] == 0


def test_android_delivery_reports_refused_go_out_with_the_next_sync(
    server: TestClient, switch: Switch, clock: VirtualClock
) -> None:
    phone = Phone(server, clock, "android")
    device = phone.registered()
    switch.fail("/mobile/5/messages", DOWN)
    assert device.receive_push(push_payload(Message("m-1", "hi"), Platform.ANDROID)) == "m-1"
    assert owes(device, "deliveries") and pending(device.state)["deliveries"] == 1
    switch.heal()
    device.advance(10)
    device.sync()
    assert phone.resent["deliveries"] == 1 and phone.acks["deliveries"] == 1
    assert "deliveries" not in pending(device.state) and not owes(device, "deliveries")


def test_ios_seen_reports_refused_go_out_with_the_next_sync(
    server: TestClient, switch: Switch, clock: VirtualClock
) -> None:
    phone = Phone(server, clock, "ios")
    device = phone.registered()
    device.receive_push(push_payload(Message("m-2", "hi", silent=True), Platform.IOS))
    switch.fail("/messages/seen", DOWN)
    device.set_seen("m-2")
    device.advance(3)  # MMPostponer: 2 s after the last setSeen
    assert owes(device, "seen") and pending(device.state)["seen"] == 1
    switch.heal()
    device.sync()
    assert phone.resent["seen"] == 1 and phone.acks["seen"] == 1 and not owes(device, "seen")


def test_a_logout_wipe_forgives_the_user_changes_it_dropped(
    server: TestClient, switch: Switch, clock: VirtualClock
) -> None:
    phone = Phone(server, clock, "android")
    device = phone.registered()
    device.personalize({"externalUserId": "wiped-1"})
    switch.fail("PATCH /user", DOWN)
    with pytest.raises(ApiError):
        device.save_user(firstName="Ana")
    assert owes(device, "user")
    switch.heal()
    device.depersonalize()
    assert not owes(device, "user") and device.state.user_dirty is None


class Recording:
    def __init__(self, inner: Any) -> None:
        self.inner, self.sent = inner, []

    def send(self, request: Outgoing) -> Reply:
        self.sent.append(request)
        answer = self.inner.request(request.method, request.url, headers=request.headers, content=request.content)
        return Reply(answer.status_code, answer.headers, answer.content)


@pytest.mark.parametrize(("platform", "resends"), [("android", {"POST", "GET"}), ("huawei", {"POST", "GET"}),
                                                    ("ios", {"GET", "DELETE"})])  # fmt: skip
def test_the_http_client_sends_again_after_a_stale_connection_as_the_platforms_do(
    server: TestClient, clock: VirtualClock, platform: str, resends: set[str]
) -> None:
    recording = Recording(server)
    config = AppConfig(CODE, base_url=str(server.base_url))
    device = VirtualDevice.create(platform, config, seed=3, transport=recording, clock=clock)
    device.start()
    device.sync()
    device.personalize({"externalUserId": "stale-1"})
    device.fetch_user()
    device.save_user(firstName="Bo")
    if platform == "ios":
        device.reinstall()
        device.start()  # the keychain's stale registration is deleted
    by_method: dict[str, set[bool]] = {}
    for request in recording.sent:
        by_method.setdefault(request.method, set()).add(request.retry_stale)
    assert {m for m, flags in by_method.items() if flags == {True}} == resends
    assert all(len(flags) == 1 for flags in by_method.values())  # one rule per method
    if platform == "ios":
        assert by_method["POST"] == by_method["PATCH"] == {False}  # URLSession: idempotent methods only


def test_the_parked_state_keeps_what_is_owed_and_a_device_that_owes_nothing_packs_as_before() -> None:
    state = DeviceState(Platform.ANDROID, 5)
    state.reg_id, state.token = "r-1", 1
    healthy = state.pack()
    assert b"unsent" not in healthy and len(DeviceState.unpack(healthy).pack()) == len(healthy)
    state.unsent = UNSENT_BITS["events"] | UNSENT_BITS["seen"]
    parked = DeviceState.unpack(state.pack())
    assert parked.unsent == state.unsent and parked.pack().endswith(f",{state.unsent}]".encode())
    assert DeviceState.unpack(healthy).unsent == 0


def test_the_resend_kinds_have_one_bit_each_and_personalize_none() -> None:
    bits = list(UNSENT_BITS.values())
    assert set(UNSENT_BITS) == set(RESEND_KINDS) - {"personalize"}
    assert len(set(bits)) == len(bits) and all(b & (b - 1) == 0 for b in bits)
