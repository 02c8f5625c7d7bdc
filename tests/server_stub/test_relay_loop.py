"""The relay's loop (server_stub/relay/loop.py ``ProviderRelay``) on an in-memory server, with fake
senders: every due message of every application sent once; a retry back after its exponential back-off
(0.5 s doubling to the 60 s cap, ±20 % jitter; a longer ``Retry-After`` wins); a message not yet due
waits; the idle wait wakes on a new send and at the next due time; stopping puts every claimed, unsent
message back; a sender that raises or a store that fails loses nothing; the counts say what happened.

The server's clock stands still unless a test moves it; the relay's short real-time waits (settle, idle
looks) are shortened, so each test runs in a fraction of a second."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import random
import sqlite3
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pushkit import API_KEY, PushApi, device, reg
from starlette.testclient import TestClient
from stubkit import APP_CODE, OTHER_APP, Clock, Device

from contract import Platform
from server_stub.messaging import PushLatency
from server_stub.relay import RelayTargets
from server_stub.relay import loop as relay_loop
from server_stub.relay.loop import ProviderRelay
from server_stub.relay.targets import Outcome
from server_stub.rules.messages import epoch_ms
from server_stub.server import ProfileServer

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
APPS = 2
"""The applications of the ``app`` fixture (APP_CODE, OTHER_APP): the claimer claims for each in turn."""
Step = tuple[str, str, float] | BaseException | Callable[[], Any]


class FakeSender:
    """Answers each send from a per-message script (then ``default``); keeps what it was given."""

    def __init__(self, default: Step = ("sent", "", 0.0), **script: list[Step]) -> None:
        self.default = default
        self.script = script
        self.calls: list[str] = []
        self.deliveries: list[dict[str, Any]] = []

    async def send(self, delivery: dict[str, Any]) -> Outcome:
        message_id = str(delivery["messageId"])
        self.calls.append(message_id)
        self.deliveries.append(delivery)
        steps = self.script.get(message_id)
        step = steps.pop(0) if steps else self.default
        if isinstance(step, BaseException):
            raise step
        if callable(step):
            step = await step()
        assert isinstance(step, tuple)
        kind, reason, after = step
        return Outcome(kind, message_id, reason, after)  # type: ignore[arg-type]


class Jitter(random.Random):
    """The relay's RNG: ``uniform(a, b)`` answers ``pick(a, b)`` and keeps the bounds asked."""

    def __init__(self, pick: Callable[[float, float], float] = lambda a, b: 1.0) -> None:
        super().__init__(0)
        self.pick = pick
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return self.pick(a, b)


class Looks:
    """How often the claimer claimed and the idle wait looked."""

    def __init__(self) -> None:
        self.claims = 0
        self.idle = 0


@pytest.fixture
def looks(monkeypatch: pytest.MonkeyPatch, app: FastAPI) -> Looks:
    seen = Looks()
    real_claim = relay_loop.claim_deliveries

    def claim(ctx: Any, **kw: Any) -> Any:
        seen.claims += 1
        return real_claim(ctx, **kw)

    async def sleep(seconds: float) -> None:
        seen.idle += 1
        await asyncio.sleep(seconds)

    monkeypatch.setattr(relay_loop, "claim_deliveries", claim)
    monkeypatch.setattr(relay_loop, "SETTLE_EVERY", 0.003)
    monkeypatch.setattr(relay_loop, "IDLE_LOOK", 0.001)
    monkeypatch.setattr(relay_loop, "IDLE_MAX", 0.01)
    app.state.profiles.messaging.sleep = sleep
    return seen


def server_of(app: FastAPI) -> ProfileServer:
    server: ProfileServer = app.state.profiles
    return server


def relay_of(app: FastAPI, *, rng: random.Random | None = None, **options: Any) -> ProviderRelay:
    """A relay with fake senders (``senders=``) and a client that sends nothing (``http=None``: the
    relay's own clients, as ``mobsim serve`` runs it)."""
    options.setdefault("http", httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(599))))
    return ProviderRelay(server_of(app), RelayTargets(), rng=rng or Jitter(), **options)


@contextlib.asynccontextmanager
async def running(relay: ProviderRelay) -> AsyncIterator[asyncio.Task[None]]:
    """The relay's ``run`` as a task, cancelled (as ``mobsim serve`` stops it) when the block ends."""
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def until(task: asyncio.Task[None], check: Callable[[], Any], what: str, seconds: float = 3.0) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if task.done():
            task.result()
            raise AssertionError(f"the relay ended before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.001)


async def more_claims(task: asyncio.Task[None], looks: Looks, count: int = 3) -> None:
    """Until the claimer has looked at the queue ``count`` more times."""
    target = looks.claims + count
    await until(task, lambda: looks.claims >= target, f"{count} more claims")


async def rows(app: FastAPI, *message_ids: str) -> dict[str, dict[str, Any]]:
    marks = ",".join("?" * len(message_ids))
    found = await server_of(app).store.atomic(lambda db: db.execute(
        f"SELECT message_id, status, error, handed_at, deliver_at FROM messages WHERE message_id IN ({marks})",
        message_ids).fetchall())  # fmt: skip
    return {r["message_id"]: dict(r) for r in found}


def set_clock(clock: Clock, ms: int) -> None:
    clock.now = EPOCH + timedelta(milliseconds=ms)


def phones(
    client: TestClient, platform: Platform, first_route: int, count: int, app_code: str = APP_CODE
) -> list[Device]:
    return [device(client, platform, route=first_route + i, app_code=app_code) for i in range(count)]


def send(push: PushApi, targets: list[Device], sender: str = APP_CODE, key: str | None = None) -> list[str]:
    body = {"messages": [push.message([reg(d) for d in targets], sender=sender)]}
    answer = push.call("POST", "/push/3/messages", json=body, key=key)
    assert answer.status_code == 200, answer.text
    return [m["messageId"] for m in answer.json()["messages"]]


# ---------------------------------------------------------------------------------------------
# sending


def test_every_due_message_of_every_application_is_sent_once_by_its_platforms_sender(
    app: FastAPI, push: PushApi, client: TestClient, looks: Looks
) -> None:
    server = server_of(app)
    server.add_application("ACME-APP", account="acme")
    server.messaging.add_api_key("acme-key", account="acme")
    ids: dict[Platform, list[str]] = {p: [] for p in Platform}
    route = 1
    for app_code, key in ((APP_CODE, None), (OTHER_APP, None), ("ACME-APP", "acme-key")):
        for platform in Platform:
            ids[platform] += send(push, phones(client, platform, route, 2, app_code), app_code, key)
            route += 2
    senders = {p: FakeSender() for p in Platform}
    relay = relay_of(app, senders=senders, batch=2, concurrency=3, http=None)  # queue of 4: many claims

    async def scenario() -> None:
        async with running(relay) as task:
            await until(task, lambda: sum(len(s.calls) for s in senders.values()) >= 18, "18 sends")
            await more_claims(task, looks, 5)  # and none again
            assert relay.snapshot()["in_flight"] == 0
        found = await rows(app, *(m for p in Platform for m in ids[p]))
        assert {(r["status"], r["handed_at"] is not None) for r in found.values()} == {("PENDING", True)}

    asyncio.run(scenario())
    for platform, sender in senders.items():
        assert Counter(sender.calls) == Counter(ids[platform]), platform  # each of its messages, once
        assert {d["platform"] for d in sender.deliveries} == {platform.value}
    snapshot = relay.snapshot()
    assert snapshot["providers"] == {name: {"sent": 6, "retried": 0, "gone": 0, "rejected": 0}
                                     for name in ("fcm", "hms", "apns")}  # fmt: skip
    assert (snapshot["reasons"], snapshot["uninstalled"], snapshot["in_flight"]) == ([], 0, 0)
    assert snapshot["targets"] == {"fcm": None, "hms": None, "apns": None}


def test_a_message_not_yet_due_waits_for_its_time_and_the_idle_wait_wakes_then(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, looks: Looks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_loop, "IDLE_MAX", 60.0)  # only the due time (or a send) ends the wait
    server_of(app).messaging.latency = PushLatency(5000, 5000)
    (message_id,) = send(push, phones(client, Platform.ANDROID, 1, 1))
    sender = FakeSender()
    relay = relay_of(app, senders={Platform.ANDROID: sender})

    async def scenario() -> None:
        async with running(relay) as task:
            await until(task, lambda: looks.claims >= APPS and looks.idle >= 5, "an idle wait")
            clock.advance(4.999)
            idle = looks.idle
            await until(task, lambda: looks.idle >= idle + 5, "more idle looks")
            assert (sender.calls, looks.claims) == ([], APPS)  # one look: the wait knew the next due time
            clock.advance(0.001)
            await until(task, lambda: sender.calls, "the send at its due time")
            assert looks.claims >= 2 * APPS

    asyncio.run(scenario())
    assert sender.calls == [message_id]


def test_the_idle_wait_wakes_at_the_earliest_due_time_of_all_applications(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, looks: Looks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_loop, "IDLE_MAX", 60.0)
    messaging = server_of(app).messaging
    messaging.latency = PushLatency(5000, 5000)
    (later,) = send(push, phones(client, Platform.ANDROID, 1, 1))
    messaging.latency = PushLatency(2000, 2000)
    (sooner,) = send(push, phones(client, Platform.ANDROID, 2, 1, OTHER_APP), OTHER_APP)
    sender = FakeSender()
    relay = relay_of(app, senders={Platform.ANDROID: sender})

    async def scenario() -> None:
        async with running(relay) as task:
            await until(task, lambda: looks.claims >= APPS and looks.idle >= 5, "an idle wait")
            clock.advance(2)
            await until(task, lambda: sender.calls, "the other application's message at its due time")
            assert sender.calls == [sooner]
            clock.advance(3)
            await until(task, lambda: len(sender.calls) == 2, "the later one")

    asyncio.run(scenario())
    assert sender.calls == [sooner, later]


def test_a_backlog_is_claimed_round_after_round_without_an_idle_wait(
    app: FastAPI, push: PushApi, client: TestClient, looks: Looks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_loop, "IDLE_MAX", 60.0)  # a wait between rounds would outlast the test
    ids = send(push, phones(client, Platform.IOS, 1, 6))
    sender = FakeSender()
    relay = relay_of(app, senders={Platform.IOS: sender}, batch=1, concurrency=1)

    async def scenario() -> None:
        async with running(relay) as task:
            await until(task, lambda: len(sender.calls) == len(ids), "the whole backlog")

    asyncio.run(scenario())
    assert sender.calls == ids  # in their order, each once


def test_the_idle_wait_wakes_on_a_new_send(
    app: FastAPI, push: PushApi, client: TestClient, looks: Looks, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_loop, "IDLE_MAX", 60.0)
    target = phones(client, Platform.HUAWEI, 1, 1)[0]
    sender = FakeSender()
    relay = relay_of(app, senders={Platform.HUAWEI: sender})

    async def scenario() -> str:
        async with running(relay) as task:
            await until(task, lambda: looks.idle >= 20, "an idle wait")
            assert looks.claims == APPS  # nothing due, nothing sent: it waits, it does not poll
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
                body = {"messages": [push.message([reg(target)])]}
                answer = await http.post("/push/3/messages", json=body, headers={"Authorization": f"App {API_KEY}"})
            await until(task, lambda: sender.calls, "the new message's send")
            return str(answer.json()["messages"][0]["messageId"])

    assert sender.calls == [asyncio.run(scenario())]
    assert looks.claims >= 2 * APPS


def test_a_platform_without_a_sender_has_its_messages_rejected(
    app: FastAPI, push: PushApi, client: TestClient, looks: Looks
) -> None:
    (android,) = send(push, phones(client, Platform.ANDROID, 1, 1))
    (ios,) = send(push, phones(client, Platform.IOS, 2, 1))
    sender = FakeSender()
    relay = relay_of(app, senders={Platform.ANDROID: sender})

    async def scenario() -> dict[str, dict[str, Any]]:
        async with running(relay) as task:
            await until(task, lambda: relay.counts["apns"]["rejected"], "the iOS message's answer")
            await more_claims(task, looks)
        return await rows(app, android, ios)

    found = asyncio.run(scenario())
    assert sender.calls == [android]
    assert (found[ios]["status"], found[android]["status"]) == ("UNDELIVERABLE", "PENDING")
    assert relay.snapshot()["reasons"] == [{"provider": "apns", "reason": "NO_PROVIDER", "count": 1}]


# ---------------------------------------------------------------------------------------------
# retries and back-off


def test_a_retry_comes_back_after_its_back_off_and_not_before(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, looks: Looks
) -> None:
    (message_id,) = send(push, phones(client, Platform.ANDROID, 1, 1))
    sender = FakeSender(**{message_id: [("retry", "UNAVAILABLE", 0.0)]})
    rng = Jitter()
    relay = relay_of(app, senders={Platform.ANDROID: sender}, rng=rng)
    start = epoch_ms(clock())

    async def scenario() -> None:
        async with running(relay) as task:
            await until(task, lambda: sender.calls, "the first send")

            async def settled() -> bool:
                return (await rows(app, message_id))[message_id]["handed_at"] is None

            await until(task, settled, "the retry settled")
            assert (await rows(app, message_id))[message_id]["deliver_at"] == start + 500
            await more_claims(task, looks)
            clock.advance(0.499)
            await more_claims(task, looks)
            assert sender.calls == [message_id]  # not before 0.5 s
            clock.advance(0.001)
            await until(task, lambda: len(sender.calls) == 2, "the second send")
            await more_claims(task, looks)

    asyncio.run(scenario())
    assert sender.calls == [message_id, message_id]
    assert rng.bounds == [(0.8, 1.2)]
    assert relay._attempts == {}  # nothing kept for a message once it is sent (a campaign of 100,000)
    assert relay.snapshot()["providers"]["fcm"] == {"sent": 1, "retried": 1, "gone": 0, "rejected": 0}
    assert relay.snapshot()["reasons"] == [{"provider": "fcm", "reason": "UNAVAILABLE", "count": 1}]


@pytest.mark.parametrize(
    ("pick", "expected"),
    [
        ("low", [400, 800, 1600, 3200, 6400, 12800, 25600, 48000, 48000, 48000]),
        ("middle", [500, 1000, 2000, 4000, 8000, 16000, 32000, 60000, 60000, 60000]),
        ("high", [600, 1200, 2400, 4800, 9600, 19200, 38400, 72000, 72000, 72000]),
    ],
)
def test_the_back_off_doubles_from_half_a_second_to_the_60_s_cap_with_20_percent_jitter(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, looks: Looks, pick: str, expected: list[int]
) -> None:
    (message_id,) = send(push, phones(client, Platform.IOS, 1, 1))
    sender = FakeSender(default=("retry", "InternalServerError", 0.0))
    choose = {"low": lambda a, b: a, "middle": lambda a, b: 1.0, "high": lambda a, b: b}[pick]
    relay = relay_of(app, senders={Platform.IOS: sender}, rng=Jitter(choose))
    waits: list[int] = []

    async def scenario() -> None:
        async with running(relay) as task:
            for attempt in range(1, len(expected) + 1):
                await until(task, lambda n=attempt: len(sender.calls) == n, f"send {attempt}")

                async def settled() -> dict[str, Any] | None:
                    found = (await rows(app, message_id))[message_id]
                    return found if found["handed_at"] is None else None

                found = await until(task, settled, f"retry {attempt} settled")
                waits.append(found["deliver_at"] - epoch_ms(clock()))
                set_clock(clock, found["deliver_at"])  # due now

    asyncio.run(scenario())
    assert waits == expected


def test_a_retry_after_longer_than_the_back_off_wins_and_a_shorter_one_does_not(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, looks: Looks
) -> None:
    longer, shorter = send(push, phones(client, Platform.ANDROID, 1, 2))
    sender = FakeSender(**{longer: [("retry", "QUOTA_EXCEEDED", 30.0)], shorter: [("retry", "QUOTA_EXCEEDED", 0.2)]})
    relay = relay_of(app, senders={Platform.ANDROID: sender})
    start = epoch_ms(clock())

    async def scenario() -> dict[str, dict[str, Any]]:
        async with running(relay) as task:

            async def settled() -> dict[str, dict[str, Any]] | None:
                found = await rows(app, longer, shorter)
                return found if all(r["handed_at"] is None for r in found.values()) else None

            await until(task, lambda: len(sender.calls) == 2, "both sends")
            return await until(task, settled, "both retries settled")  # type: ignore[no-any-return]

    found = asyncio.run(scenario())
    assert (found[longer]["deliver_at"] - start, found[shorter]["deliver_at"] - start) == (30000, 500)


def test_a_sender_that_raises_does_not_lose_the_message(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, looks: Looks
) -> None:
    (message_id,) = send(push, phones(client, Platform.HUAWEI, 1, 1))
    sender = FakeSender(**{message_id: [RuntimeError("a bug in the sender")]})
    relay = relay_of(app, senders={Platform.HUAWEI: sender})

    async def scenario() -> None:
        async with running(relay) as task:
            await until(task, lambda: sender.calls, "the first send")

            async def settled() -> bool:
                return (await rows(app, message_id))[message_id]["handed_at"] is None

            await until(task, settled, "the retry settled")
            clock.advance(0.5)
            await until(task, lambda: len(sender.calls) == 2, "the send again")
            await more_claims(task, looks)

    asyncio.run(scenario())
    assert sender.calls == [message_id, message_id]
    assert relay.snapshot()["providers"]["hms"] == {"sent": 1, "retried": 1, "gone": 0, "rejected": 0}
    assert relay.snapshot()["reasons"] == [{"provider": "hms", "reason": "RuntimeError", "count": 1}]


def test_a_store_that_fails_to_settle_keeps_the_answers_for_the_next_settle(
    app: FastAPI, push: PushApi, client: TestClient, looks: Looks, monkeypatch: pytest.MonkeyPatch
) -> None:
    (message_id,) = send(push, phones(client, Platform.ANDROID, 1, 1))
    real_settle = relay_loop.settle_sends
    failures = [sqlite3.OperationalError("database or disk is full")]

    def settle(ctx: Any, settled: Any) -> int:
        if failures:
            raise failures.pop()
        return real_settle(ctx, settled)

    monkeypatch.setattr(relay_loop, "settle_sends", settle)
    sender = FakeSender(default=("gone", "UNREGISTERED", 0.0))
    relay = relay_of(app, senders={Platform.ANDROID: sender})

    async def scenario() -> dict[str, Any]:
        async with running(relay) as task:
            await until(task, lambda: relay.uninstalled == 1, "the gone answer settled")
        return (await rows(app, message_id))[message_id]

    found = asyncio.run(scenario())
    assert failures == [] and sender.calls == [message_id]
    assert (found["status"], found["error"]) == ("UNDELIVERABLE", "EC_DEVICE_APP_UNINSTALL")


# ---------------------------------------------------------------------------------------------
# what the relay reports


def test_the_counts_and_the_snapshot_say_what_the_providers_answered(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, looks: Looks
) -> None:
    ok, gone, bad, flaky = send(push, phones(client, Platform.ANDROID, 1, 4))
    (ios,) = send(push, phones(client, Platform.IOS, 9, 1))
    fcm = FakeSender(**{gone: [("gone", "UNREGISTERED", 0.0)], bad: [("rejected", "INVALID_ARGUMENT", 0.0)],
                        flaky: [("retry", "UNAVAILABLE", 0.0), ("retry", "UNAVAILABLE", 0.0)]})  # fmt: skip
    apns = FakeSender(default=("rejected", "BadTopic", 0.0))
    relay = relay_of(app, senders={Platform.ANDROID: fcm, Platform.IOS: apns})
    server_of(app).messaging.relay = relay  # GET /inspect/relay shows it

    async def scenario() -> dict[str, Any]:
        async with running(relay) as task:
            await until(task, lambda: relay.counts["fcm"]["retry"] == 1 and relay.uninstalled == 1, "the answers")
            clock.advance(0.5)
            await until(task, lambda: relay.counts["fcm"]["retry"] == 2, "the second retry")
            clock.advance(1.0)
            await until(task, lambda: relay.counts["fcm"]["sent"] == 2, "the flaky one sent")
            await more_claims(task, looks)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as http:
                shown: dict[str, Any] = (await http.get("/inspect/relay")).json()
        return shown

    shown = asyncio.run(scenario())
    assert Counter(fcm.calls) == {ok: 1, gone: 1, bad: 1, flaky: 3}
    snapshot = relay.snapshot()
    assert snapshot["providers"] == {
        "fcm": {"sent": 2, "retried": 2, "gone": 1, "rejected": 1},
        "hms": {"sent": 0, "retried": 0, "gone": 0, "rejected": 0},
        "apns": {"sent": 0, "retried": 0, "gone": 0, "rejected": 1},
    }
    assert sorted(snapshot["reasons"], key=json.dumps) == sorted([
        {"provider": "fcm", "reason": "UNAVAILABLE", "count": 2},
        {"provider": "fcm", "reason": "UNREGISTERED", "count": 1},
        {"provider": "fcm", "reason": "INVALID_ARGUMENT", "count": 1},
        {"provider": "apns", "reason": "BadTopic", "count": 1},
    ], key=json.dumps)  # fmt: skip
    assert (snapshot["uninstalled"], snapshot["in_flight"]) == (1, 0)
    assert shown == snapshot
    assert apns.calls == [ios]


# ---------------------------------------------------------------------------------------------
# stopping


def test_stopping_puts_every_claimed_unsent_message_back_and_a_new_relay_sends_them(
    app: FastAPI, push: PushApi, client: TestClient, looks: Looks
) -> None:
    """One send in flight, a full queue, and the claimer holding a claimed message it cannot queue:
    all of them are due again at once after the stop, and the next relay sends each once."""
    ids = send(push, phones(client, Platform.IOS, 1, 8))
    stuck = asyncio.Event()

    async def never() -> tuple[str, str, float]:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    async def hang() -> tuple[str, str, float]:
        stuck.set()
        return await never()

    blocked = FakeSender(default=hang)
    relay = relay_of(app, senders={Platform.IOS: blocked}, batch=2, concurrency=1)
    fresh = FakeSender()

    async def stopped() -> dict[str, dict[str, Any]]:
        async with running(relay) as task:
            await until(task, lambda: stuck.is_set() and relay.snapshot()["in_flight"] == 4, "a full queue")
            await until(task, lambda: looks.claims >= 3 * APPS, "the claimer blocked on the full queue")
            await asyncio.sleep(0.01)
            left = await rows(app, *ids)
            assert sum(r["handed_at"] is not None for r in left.values()) == 1 + 4 + 1  # in flight, queued, held
        return await rows(app, *ids)

    left = asyncio.run(stopped())
    assert blocked.calls == ids[:1]
    assert {m: (r["status"], r["handed_at"]) for m, r in left.items()} == dict.fromkeys(ids, ("PENDING", None))

    async def again() -> None:
        async with running(relay_of(app, senders={Platform.IOS: fresh}, batch=2, concurrency=1)) as task:
            await until(task, lambda: len(fresh.calls) >= len(ids), "every message sent by the new relay")
            await more_claims(task, looks)

    asyncio.run(again())
    assert Counter(fresh.calls) == Counter(ids)
    assert relay.snapshot()["providers"]["apns"] == {"sent": 0, "retried": 0, "gone": 0, "rejected": 0}


def test_stopping_while_a_claim_commits_puts_its_messages_back(
    app: FastAPI, push: PushApi, client: TestClient, looks: Looks, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The claim's transaction commits after the stop (the store's ``hold`` seam): its messages are
    put back all the same, not left handed to nobody."""
    ids = send(push, phones(client, Platform.ANDROID, 1, 3))
    server = server_of(app)
    hold = asyncio.Event()
    claimed = relay_loop.claim_deliveries

    def claim(ctx: Any, **kw: Any) -> Any:
        found = claimed(ctx, **kw)
        if found[0]:
            server.store.hold = hold  # this claim's batch waits for the event
        return found

    monkeypatch.setattr(relay_loop, "claim_deliveries", claim)
    sender = FakeSender()
    relay = relay_of(app, senders={Platform.ANDROID: sender})

    async def scenario() -> dict[str, dict[str, Any]]:
        task = asyncio.create_task(relay.run())
        await until(task, lambda: server.store.hold is not None, "the claim")
        await asyncio.sleep(0.01)
        task.cancel()
        await asyncio.sleep(0.01)
        hold.set()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        server.store.hold = None
        return await rows(app, *ids)

    left = asyncio.run(scenario())
    assert sender.calls == []
    assert {m: (r["status"], r["handed_at"]) for m, r in left.items()} == dict.fromkeys(ids, ("PENDING", None))


@pytest.fixture(autouse=True)
def _no_hold(app: FastAPI) -> Iterator[None]:
    yield
    server_of(app).store.hold = None
