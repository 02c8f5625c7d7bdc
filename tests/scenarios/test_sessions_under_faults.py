"""Persona sessions against a faulty reference server, in process and on a virtual clock.

The server is wrapped in the same fault middleware ``mobsim serve --fault`` uses (seeded, so the
faults fall on the same requests every time). A session goes on after an error the SDK hands the
app, its device keeps what its SDK keeps, a later session sends it again, and what the devices
count as acknowledged is what the server stored: nothing acknowledged is lost, nothing is counted
twice. ``settle`` lets an Android retry go out before the device is parked.
"""

from __future__ import annotations

import json
import random
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

from scenarios import EVENT_DEFINITIONS, PERSONA_SESSIONS, Population, Session, Tally, app_call, run_session, settle
from server_stub import create_app
from server_stub.faults import FaultMiddleware, FaultRegistry, parse_fault
from simulator import AppConfig, ClientError, UsageError, VirtualClock, VirtualDevice
from simulator.errors import ServerError

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

_STORED_AS = {"installs": "Install", "launches": "AppLaunch", "personalizations": "Personalize",
              "depersonalizations": "Depersonalize"}  # fmt: skip


class BareOnce:
    """Answers the first request whose path ends with ``suffix`` with a 503 whose JSON has no
    serviceException (the Android SDK retries that one), and passes everything else on."""

    def __init__(self, app: ASGIApp, suffix: str) -> None:
        self.app, self.suffix, self.left = app, suffix, 1

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.left and scope["path"].endswith(self.suffix):
            self.left -= 1
            await send({"type": "http.response.start", "status": 503,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", b"2")]})  # fmt: skip
            await send({"type": "http.response.body", "body": b"{}"})
            return
        await self.app(scope, receive, send)


class World:
    def __init__(self, size: int, wrap: Any = None, seed: int = 5) -> None:
        self.clock = VirtualClock()
        app: ASGIApp = create_app(
            memory=True, app_codes=["CODE"], clock=lambda: datetime.fromtimestamp(self.clock.now(), UTC)
        )
        self.faults = FaultRegistry(rng=random.Random(seed))
        app = FaultMiddleware(app, self.faults)
        self.client = TestClient(wrap(app) if wrap else app, base_url="http://testserver")
        for definition in EVENT_DEFINITIONS:
            assert self.client.post("/inspect/event-definitions", json=definition).status_code == 201
        self.tally = Tally()
        config = AppConfig("CODE", base_url="http://testserver", observer=self.tally.ack, resends=self.tally.resend)
        personas = {name: 1.0 for name in PERSONA_SESSIONS}
        self.population = Population(size, seed, config, personas=personas, clock=self.clock)
        self.rng = random.Random(seed)

    def session(self, persona: str) -> bool:
        got = self.population.checkout(persona, self.client)
        if got is None:
            return True
        index, device = got
        session = Session(device, index, self.population, self.rng, device.advance, self.tally, _no_expectations)
        try:
            return run_session(persona, session)
        finally:
            self.population.park(index, device)

    def round(self) -> list[bool]:
        done = [self.session(persona) for persona in PERSONA_SESSIONS for _ in range(3)]
        self.clock.advance(900)
        return done

    def stored(self) -> dict[str, int]:
        counts = self.client.get("/inspect/event-counts").json()["counts"]
        return {kind: int(counts.get(name, 0)) for kind, name in _STORED_AS.items()}


@contextmanager
def _no_expectations(_: frozenset[str]) -> Iterator[None]:
    yield


def test_sessions_go_on_after_errors_and_a_later_session_sends_again_what_its_device_kept() -> None:
    w = World(24)
    w.faults.add(parse_fault("status=503,rate=0.35,seed=11"))
    assert all(w.round() + w.round())  # not one session cut short
    assert w.tally.counts["aborted"] == 0
    assert w.tally.app_errors.get("503 SERVICE_UNAVAILABLE", 0) > 0  # the app got them, and went on
    assert w.tally.counts["app_errors"] == sum(w.tally.app_errors.values())
    owed = w.population.pending(("launches", "events", "user_updates", "depersonalizations"))
    assert sum(owed.values()) > 0
    before = dict(w.tally.resent)

    w.faults.clear()
    assert all(w.round() + w.round())
    resent = {kind: n - before.get(kind, 0) for kind, n in w.tally.resent.items()}
    assert sum(resent.values()) > 0 and resent["sessions"] > 0
    # Nothing acknowledged was lost, nothing counted twice: what the devices were answered 2xx for
    # is what the server stored, kind by kind (a 503 never reached the server's rules).
    acked = w.tally.acknowledged
    stored = w.stored()
    assert {kind: acked[kind] for kind in _STORED_AS} == stored, (acked, stored)
    events = sum(n for name, n in w.client.get("/inspect/event-counts").json()["counts"].items()
                 if name not in _STORED_AS.values() and name not in ("Uninstall",))  # fmt: skip
    assert acked["events"] == events > 0


def test_settle_lets_an_android_retry_go_out_before_the_device_is_parked() -> None:
    w = World(2, wrap=lambda app: BareOnce(app, "/personalize"))
    phone = VirtualDevice.create("android", w.population.app, seed=3, transport=w.client, clock=w.clock)
    phone.start()
    phone.sync()
    session = Session(phone, 0, w.population, w.rng, phone.advance, w.tally, _no_expectations)
    with app_call(session):
        phone.personalize(w.population.identity(0))
    assert w.tally.app_errors == {"503 -2": 1} and phone.next_retry() == w.clock.now() + 2.0
    settle(session)
    assert phone.next_retry() is None and phone.user.get("externalUserId")
    assert w.tally.resent["personalize"] == 1
    assert w.tally.acknowledged["personalizations"] == w.stored()["personalizations"] == 1


class _Stub:
    """A device whose retry is due in 10 s, and whose clock the pauses do not move."""

    def __init__(self) -> None:
        self.pauses: list[float] = []

    def next_retry(self) -> float:
        return 110.0

    def now(self) -> float:
        return 100.0


def test_settle_returns_when_pauses_return_at_once_and_waits_for_nothing_without_retries() -> None:
    stub = _Stub()
    session = Session(stub, 0, None, random.Random(), stub.pauses.append, Tally(), _no_expectations)  # type: ignore[arg-type]
    settle(session)  # the run is ending: the pause came back at once
    assert stub.pauses == [pytest.approx(10.01)]
    w = World(1)
    ios = VirtualDevice.create("ios", w.population.app, seed=3, transport=w.client, clock=w.clock)
    ios.start()
    pauses: list[float] = []
    settle(Session(ios, 0, w.population, w.rng, pauses.append, w.tally, _no_expectations))
    assert pauses == []  # nothing scheduled: no wait


def test_app_call_counts_what_the_sdk_answered_and_lets_a_usage_error_through() -> None:
    w = World(1)
    session = Session(None, 0, w.population, w.rng, lambda s: None, w.tally, _no_expectations)  # type: ignore[arg-type]
    request: Any = SimpleNamespace(method="POST", name="POST /mobile/1/appinstance")
    with app_call(session):
        raise ServerError("SERVICE_UNAVAILABLE", "down", 503, request, request)
    with app_call(session):
        raise ClientError("no registration yet")
    assert w.tally.app_errors == {"503 SERVICE_UNAVAILABLE": 1, "ClientError": 1}
    assert w.tally.counts["app_errors"] == 2
    with pytest.raises(UsageError), app_call(session):
        raise UsageError("mobsim's own bug")
    assert json.dumps(w.tally.snapshot())  # the counts travel to the master as JSON
