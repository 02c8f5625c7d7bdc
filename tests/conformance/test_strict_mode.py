"""`mobsim serve --strict`: every violation is recorded, answers are unchanged, and mobsim's own
traffic (every persona, every platform, a campaign's pushes, syncs, taps and seen reports, the
default load scenario) makes none."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from brokenkit import DirectASGI

from contract import Platform, app_code_hash, format_epoch
from contract.messages import Message, push_payload
from mobsim.cli import main
from scenarios import (
    DELIVERIES_PATH,
    EVENT_DEFINITIONS,
    PERSONA_SESSIONS,
    OpenPolicy,
    Population,
    PushReceiver,
    Session,
    Tally,
    no_expectations,
    open_session,
    run_session,
)
from server_stub import create_app
from server_stub.serve import BackgroundServer, ServeConfig
from simulator import AppConfig, VirtualClock, VirtualDevice
from simulator.catalog import profile_for
from simulator.systemdata import system_data, user_agent

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CODE = "STRICT-CODE"
API_KEY = "STRICT-PUSH-KEY"


class StrictWorld:
    def __init__(self, *, strict: bool = True) -> None:
        self.clock = VirtualClock()
        app = create_app(memory=True, app_codes=[CODE], strict=strict, api_keys=[API_KEY],
                         clock=lambda: datetime.fromtimestamp(self.clock.now(), UTC))  # fmt: skip
        self.server_app = app
        self.client = httpx.Client(transport=DirectASGI(app), base_url="http://testserver")
        self.app = AppConfig(CODE, base_url="http://testserver")

    def send(self, *reg_ids: str, text: str = "A message for you") -> list[str]:
        """Message ids of one message sent through the Push API to each registration."""
        destinations = [{"type": "REGISTRATION", "pushRegistrationId": reg_id} for reg_id in reg_ids]
        body = {"messages": [{"sender": CODE, "destinations": destinations, "content": {"type": "TEXT", "text": text}}]}
        answer = self.client.post("/push/3/messages", headers={"Authorization": f"App {API_KEY}"}, json=body)
        assert answer.status_code == 200, answer.text
        return [m["messageId"] for m in answer.json()["messages"]]

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = self.client.get("/inspect/violations/summary").json()
        return data

    def violations(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.client.get("/inspect/violations").json()["violations"]
        return data

    def rules(self) -> set[str]:
        return {v["rule"] for v in self.violations()}


def shown(world: StrictWorld) -> str:
    return json.dumps(world.violations()[:5], indent=1)


def test_every_persona_on_every_platform_makes_no_violation() -> None:
    w = StrictWorld()
    for definition in EVENT_DEFINITIONS:
        assert w.client.post("/inspect/event-definitions", json=definition).status_code == 201
    population = Population(60, 3, w.app, personas={name: 1 for name in PERSONA_SESSIONS}, clock=w.clock)
    tally, rng = Tally(), random.Random(3)
    for _ in range(3):
        for persona in PERSONA_SESSIONS:
            for _ in range(population.available(persona)):
                got = population.checkout(persona, w.client)
                assert got is not None
                index, device = got
                session = Session(device, index, population, rng, device.advance, tally, no_expectations)
                assert run_session(persona, session), device.last_error
                population.park(index, device)
        w.clock.advance(900)
    assert tally.counts["sessions"] >= 150
    platforms = {v.get("platform") for v in w.client.get("/inspect/installations", params={"limit": 1000}).json()
                 .get("installations", [])}  # fmt: skip
    assert platforms  # the population holds several platforms
    assert w.summary()["total"] == 0, shown(w)


@pytest.mark.parametrize("platform", ["ios", "android", "huawei"])
def test_a_device_life_on_each_platform_makes_no_violation(platform: str) -> None:
    w = StrictWorld()
    phone = VirtualDevice.create(platform, w.app, seed=5, transport=w.client, clock=w.clock)
    tablet = VirtualDevice.create(platform, w.app, seed=6, transport=w.client, clock=w.clock)
    phone.start()
    tablet.start()
    phone.advance(12)
    native = phone.sdk.set_device_as_primary  # the option exists in the newest SDKs only
    phone.personalize({"externalUserId": "strict-1"}, {"firstName": "Ana"}, set_as_primary=native)
    if not native:
        phone.set_primary()
    tablet.personalize({"externalUserId": "strict-1"})
    phone.save_user(tags=["a"], customAttributes={"tier": "gold", "n": None})
    phone.save_installation(customAttributes={"theme": "dark"})
    phone.submit_event("anything", {"x": 1})
    phone.advance(20)
    phone.background()
    phone.advance(10)
    phone.foreground()  # a return within 30 s: the same session
    phone.advance(15)
    phone.background()
    phone.advance(120)
    phone.foreground()  # a new session
    phone.advance(10)
    tablet.fetch_user()
    pushed, pulled = w.send(phone.reg_id or "", text="Pushed"), w.send(phone.reg_id or "", text="Pulled")
    message = Message(pushed[0], "Pushed", send_date_time=int(w.clock.now() * 1000))
    assert phone.receive_push(push_payload(message, phone.platform)) == pushed[0]  # the sync fetches the other
    phone.advance(3)
    assert {m["messageId"] for m in phone.messages if m["deliveryReported"]} >= {pushed[0]}
    phone.sync()
    phone.advance(2)
    assert {m["messageId"]: m["deliveryReported"] for m in phone.messages} == {pushed[0]: True, pulled[0]: True}
    phone.background()
    phone.advance(60)
    assert phone.tap(pushed[0]) == pushed[0]  # opens the app, seen
    phone.set_seen(pulled[0])
    phone.advance(10)
    phone.send_mo("Yes please")
    phone.sync()
    phone.sync()
    phone.advance(10)
    assert all(m["seenReported"] for m in phone.messages), phone.messages
    phone.depersonalize_installation(tablet.reg_id or "")
    phone.depersonalize()
    phone.advance(30)
    phone.reinstall()
    phone.start()
    phone.advance(40)
    rules = w.rules() - {"EVENT-UNKNOWN"}  # "anything" has no definition: the app's doing, not the SDK's
    assert rules == set(), shown(w)
    assert w.rules() == {"EVENT-UNKNOWN"}


def test_a_campaign_on_every_platform_makes_no_violation() -> None:
    """Pushes handed to parked devices (delivery reports, the syncs they start), the messages the
    syncs fetch, taps that open the app (seen), the iOS extension's reports: all as the SDKs do."""
    w = StrictWorld()
    for definition in EVENT_DEFINITIONS:  # an open may convert (a purchase)
        assert w.client.post("/inspect/event-definitions", json=definition).status_code == 201
    population = Population(18, 4, w.app, personas={"browser": 1}, clock=w.clock,
                            platforms={"ios": 1, "android": 1, "huawei": 1})  # fmt: skip
    regs = []
    for _ in range(18):
        got = population.checkout("browser", w.client)
        assert got is not None
        index, device = got
        device.start()
        assert device.reg_id, device.last_error
        regs.append(device.reg_id)
        device.advance(5)
        device.background()
        population.park(index, device)
    w.clock.advance(120)
    w.send(*regs)
    w.send(*regs[::3])  # a second message for some: they fetch it with the sync the first push starts
    w.clock.advance(60)  # past the provider's latency
    deliveries = w.client.get(DELIVERIES_PATH, params={"shard": "0", "of": "1", "limit": "1000"},
                              headers={"Authorization": f"App {CODE}"}).json()["deliveries"]  # fmt: skip
    tally, opens = Tally(), []
    receiver = PushReceiver(population, w.client, tally, random.Random(4), OpenPolicy(share=1.0),
                            lambda delay, index, message_id: opens.append((index, message_id)))  # fmt: skip
    assert receiver.handle(deliveries) >= 18
    w.clock.advance(90)
    for index, message_id in opens:
        device = population.wake(index, w.client)
        assert device is not None
        session = Session(device, index, population, random.Random(index), device.advance, tally, no_expectations)
        open_session(session, message_id, OpenPolicy(), "browser")
        device.advance(10)
        population.put_back(index, device)
    assert tally.counts["pushes_received"] >= 18 and tally.counts["opens"] >= 6, tally.counts
    funnel = w.client.get("/inspect/campaigns").json()["campaigns"]
    assert sum(c["delivered"] for c in funnel) == 24 and sum(c["seen"] for c in funnel) >= 6, funnel
    assert w.summary()["total"] == 0, shown(w)


def raw_headers(platform: str, *, code: str = CODE, installation_id: str = "0001") -> dict[str, str]:
    profile = profile_for(Platform(platform), 9)
    return {
        "Authorization": f"App {code}",
        "applicationcode": app_code_hash(code),
        "User-Agent": user_agent(profile, "App", "com.example"),
        "installationid": f"2f7a9f7e-0000-4000-8000-00000000{installation_id}",
        "Content-Type": "application/json",
    }


def register(
    client: httpx.Client, platform: str, code: str = CODE, installation_id: str = "0001"
) -> tuple[str, dict[str, str]]:
    h = raw_headers(platform, code=code, installation_id=installation_id)
    body = system_data(profile_for(Platform(platform), 9), True, 1_714_557_600)
    body.update(pushServiceType=Platform(platform).push_service_type, pushServiceToken="t" * 64)
    query = "rt=1" if platform == "ios" else "ri=true"
    answer = client.post(f"/mobile/1/appinstance?{query}", headers=h, json=body)
    reg_id: str = answer.json()["pushRegId"]
    return reg_id, dict(h, pushregistrationid=reg_id)


def both(send: Any) -> tuple[tuple[int, Any], tuple[int, Any], set[str]]:
    """The answer of a strict and of a plain server to the same requests, and the rules recorded."""
    answers = []
    strict = StrictWorld()
    for world in (strict, StrictWorld(strict=False)):
        answer = send(world)
        body = answer.json() if answer.content else None
        if isinstance(body, dict):
            body.pop("pushRegId", None)
            body.pop("instances", None)
        answers.append((answer.status_code, body))
    return answers[0], answers[1], strict.rules()


def _session(platform: str, starts: list[float], **extra: Any) -> Any:
    def send(w: StrictWorld) -> httpx.Response:
        reg_id, h = register(w.client, platform)
        answer: httpx.Response | None = None
        for start in starts:
            body = {"sessionStarts": [format_epoch(1_714_557_600 + start)], **extra}
            answer = w.client.post(f"/mobile/1/appinstance/{reg_id}/user/events/session", headers=h, json=body)
        assert answer is not None
        return answer

    return send


def _call(platform: str, method: str, suffix: str, body: Any = None, drop: tuple[str, ...] = (),
          headers: dict[str, str] | None = None) -> Any:  # fmt: skip
    def send(w: StrictWorld) -> httpx.Response:
        reg_id, h = register(w.client, platform)
        h = {k: v for k, v in h.items() if k not in drop}
        h.update(headers or {})
        content = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        return w.client.request(method, f"/mobile/1/appinstance/{reg_id}{suffix}", headers=h, content=content)

    return send


CASES: dict[str, tuple[Any, str]] = {
    "no applicationcode": (_call("android", "GET", "/user?ri=true", drop=("applicationcode",)), "HDR-APPCODE"),
    "wrong applicationcode": (_call("ios", "GET", "/user?ri=1&rt=0", headers={"applicationcode": "0000000000"}),
                              "HDR-APPCODE"),
    "no installationid": (_call("ios", "GET", "/user?ri=1&rt=0", drop=("installationid",)), "HDR-INSTALLATION"),
    "User-Agent of no SDK": (_call("android", "GET", "/user?ri=true", headers={"User-Agent": "okhttp/4.12.0"}),
                             "HDR-USER-AGENT"),
    "truncated iOS User-Agent": (_call("ios", "GET", "/user?ri=1&rt=0",
                                       headers={"User-Agent": "MobileMessaging/12.0.0(iOS;17.2)"}), "HDR-USER-AGENT"),
    "Android sends a real PATCH": (_call("android", "PATCH", "/user", {"firstName": "A"}), "DIALECT-PATCH"),
    "iOS sends POST + override": (_call("ios", "POST", "/user?ri=0&rt=0", {"firstName": "A"},
                                        headers={"X-HTTP-Method-Override": "PATCH"}), "DIALECT-PATCH"),
    "iOS spells booleans true/false": (_call("ios", "GET", "/user?ri=true&rt=false"), "DIALECT-QUERY"),
    "unknown key": (_call("android", "POST", "/user", {"firstName": "A", "favouriteColour": "red"},
                          headers={"X-HTTP-Method-Override": "PATCH"}), "BODY-CONTRACT"),
    "wrong type": (_call("ios", "PATCH", "/user?ri=0&rt=0", {"firstName": 7}), "BODY-CONTRACT"),
    "unknown event definition": (_call("android", "POST", "/user/events/custom?validate=false",
                                       {"events": [{"definitionId": "nope", "date": "2024-05-01T10:00:00Z"}]}),
                                 "EVENT-UNKNOWN"),
    "no pushregistrationid": (_call("ios", "GET", "/user?ri=1&rt=0", drop=("pushregistrationid",)),
                              "HDR-REGISTRATION"),
    "sessions 10 s apart": (_session("android", [0, 10]), "SESSION-30S"),
    "a start reported twice": (_session("ios", [0, 0]), "SESSION-TWICE"),
}  # fmt: skip

SYNC = {"android": "/mobile/5/messages?platformType=GCM", "ios": "/mobile/5/messages?platformType=APNS"}
MO = {"android": "/mobile/1/messages/mo?platformType=GCM", "ios": "/mobile/1/messages/mo?platformType=APNS"}
SEEN, DELIVERY = "/mobile/2/messages/seen", "/mobile/1/messages/deliveryreport"


def _message_call(platform: str, path: str, body: Any = None, *, message: str | None = None, again: float | None = None,
                  headers: dict[str, str] | None = None) -> Any:  # fmt: skip
    """One request on the message endpoints; ``message``: ``"own"`` or ``"other"`` sends one first (to
    this registration or another install's) and ``body(message_id)`` builds the body; ``again``: the
    same request again that many seconds later."""

    def send(w: StrictWorld) -> httpx.Response:
        reg_id, h = register(w.client, platform)
        h.update(headers or {})
        data = body
        if message is not None:
            owner = reg_id if message == "own" else register(w.client, platform, installation_id="0002")[0]
            (message_id,) = w.send(owner)
            data = body(message_id)
        content = data if isinstance(data, bytes) or data is None else json.dumps(data).encode()
        answer = w.client.post(path, headers=h, content=content)
        if again is not None:
            w.clock.advance(again)
            answer = w.client.post(path, headers=h, content=content)
        return answer

    return send


def _seen(delta: int) -> Any:
    return lambda message_id: {"messages": [{"messageId": message_id, "timestampDelta": delta}]}


MESSAGE_CASES: dict[str, tuple[Any, str]] = {
    "Android sync with a {} body": (_message_call("android", SYNC["android"], {}), "SYNC-SHAPE"),
    "iOS sync without a body": (_message_call("ios", SYNC["ios"]), "SYNC-SHAPE"),
    "a sync body that is not JSON (not also SYNC-SHAPE)": (_message_call("ios", SYNC["ios"], b"{drIDs"),
                                                           "BODY-CONTRACT"),
    "empty array in a sync": (_message_call("ios", SYNC["ios"], {"drIDs": [], "mIDs": ["m-1"]}), "SYNC-SHAPE"),
    "101 ids in mIDs": (_message_call("android", SYNC["android"], {"mIDs": [f"m-{n}" for n in range(101)]}),
                        "SYNC-SHAPE"),
    "Android syncs without drIDs 0.2 s apart": (_message_call("android", SYNC["android"], again=0.2), "SYNC-THROTTLE"),
    "drIDs of a message never sent": (_message_call("android", SYNC["android"], {"mIDs": ["nope"], "drIDs": ["nope"]}),
                                      "DELIVERY-UNKNOWN"),
    "drIDs of another install's message": (_message_call("ios", SYNC["ios"], lambda m: {"drIDs": [m]},
                                                         message="other"), "DELIVERY-UNKNOWN"),
    "dlrIds of a message never sent": (_message_call("ios", DELIVERY, {"dlrIds": ["nope"]}), "DELIVERY-UNKNOWN"),
    "Android sends the extension's delivery report": (_message_call("android", DELIVERY, lambda m: {"dlrIds": [m]},
                                                                    message="own"), "DIALECT-DELIVERY"),
    "Android syncs with platformType=APNS": (_message_call("android", SYNC["ios"]), "DIALECT-PLATFORM"),
    "seen of a message never sent": (_message_call("android", SEEN, _seen(3)("nope")), "SEEN-UNKNOWN"),
    "seen of another install's message": (_message_call("ios", SEEN, _seen(3), message="other"), "SEEN-UNKNOWN"),
    "a negative timestampDelta": (_message_call("ios", SEEN, _seen(-5), message="own"), "SEEN-DELTA"),
    "timestampDelta in milliseconds": (_message_call("android", SEEN, _seen(4000), message="own"), "SEEN-DELTA"),
    "MO from another registration": (_message_call("android", MO["android"], {"from": "someone-else", "messages": [
        {"messageId": "mo-1", "text": "hi"}]}), "MO-FROM"),
    "MO without from": (_message_call("ios", MO["ios"], {"messages": [{"messageId": "MO-1", "text": "hi"}]}),
                        "MO-FROM"),
}  # fmt: skip
CASES.update(MESSAGE_CASES)


def test_the_message_rules_pass_what_the_sdks_send() -> None:
    """The same requests in the SDKs' way are not flagged: a sync with drIDs right after one without,
    the archive of 100, a seen report of an own message a minute after it was sent, MO from itself."""
    w = StrictWorld()
    reg_id, h = register(w.client, "android")
    (message_id,) = w.send(reg_id)
    w.clock.advance(60)
    for body in (None, {"mIDs": [message_id], "drIDs": [message_id]}, {"mIDs": [f"m-{n}" for n in range(100)]}):
        w.client.post(SYNC["android"], headers=h, content=json.dumps(body).encode() if body else None)
        w.clock.advance(1)
    w.client.post(SEEN, headers=h, json=_seen(59)(message_id))
    w.client.post(MO["android"], headers=h, json={"from": reg_id, "messages": [{"messageId": "mo-1", "text": "hi"}]})
    ios_reg, ios_h = register(w.client, "ios", installation_id="0003")
    (ios_message,) = w.send(ios_reg)
    w.client.post(DELIVERY, headers={k: v for k, v in ios_h.items() if k != "pushregistrationid"},
                  json={"dlrIds": [ios_message]})  # the extension without a pushRegId in the keychain  # fmt: skip
    w.client.post(SYNC["ios"], headers=ios_h, json={})
    assert w.summary()["total"] == 0, shown(w)
    assert {r["rule"] for r in w.client.get("/inspect/violations/rules").json()["rules"]} >= {
        rule for _, rule in MESSAGE_CASES.values()
    }


@pytest.mark.parametrize("case", list(CASES))
def test_each_violation_is_recorded_and_the_answer_is_unchanged(case: str) -> None:
    send, rule = CASES[case]
    strict_answer, plain_answer, rules = both(send)
    assert rule in rules
    assert rules == {rule}
    assert strict_answer == plain_answer


def test_a_call_before_registration_and_a_fast_retry_are_recorded() -> None:
    w = StrictWorld()
    h = raw_headers("android")
    w.client.post("/mobile/5/messages?platformType=GCM", headers=h)
    assert w.rules() == {"BEFORE-REGISTRATION"}
    # a 5xx answered twice in a row, the retry 1 s later instead of 2 s (Android's first step)
    reg_id, h = register(w.client, "android")
    recorder = w.server_app.state.strict
    path = f"/mobile/1/appinstance/{reg_id}/depersonalize"
    recorder.observe("POST", path, "", {k.lower(): v for k, v in h.items()}, b"")(503, b"")
    w.clock.advance(1)
    recorder.observe("POST", path, "", {k.lower(): v for k, v in h.items()}, b"")(503, b"")
    w.clock.advance(8)  # retry 2 waits 8 s: fine
    recorder.observe("POST", path, "", {k.lower(): v for k, v in h.items()}, b"")(200, b"")
    assert [v["rule"] for v in w.violations() if v["installation"] == reg_id] == ["RETRY-FAST"]


def test_violations_are_listed_per_installation_with_what_to_do(capsys: pytest.CaptureFixture[str]) -> None:
    w = StrictWorld()
    reg_id, h = register(w.client, "android")
    w.client.patch(f"/mobile/1/appinstance/{reg_id}/user", headers=h, json={"firstName": "A"})
    found = w.client.get("/inspect/violations", params={"pushRegId": reg_id}).json()
    assert found["total"] == 1
    item = found["violations"][0]
    assert item["rule"] == "DIALECT-PATCH" and item["platform"] == "android"
    assert "X-HTTP-Method-Override" in item["sdk"] and item["fix"] and "mobile-api" not in item["fix"]
    assert w.summary() == {"total": 1, "byRule": {"DIALECT-PATCH": 1}, "installations": {reg_id: 1}, "stored": 1,
                           "dropped": 0, "forgotten": 0}  # fmt: skip
    assert w.client.post("/inspect/violations/reset").status_code == 200
    assert w.summary()["total"] == 0
    plain = TestClient(create_app(memory=True), base_url="http://testserver")
    assert plain.get("/inspect/violations").status_code == 404


@pytest.mark.slow
def test_mobsim_violations_prints_an_actionable_report(capsys: pytest.CaptureFixture[str]) -> None:
    with BackgroundServer(ServeConfig(port=0, app_codes=["V"], strict=True)) as server:
        assert main(["violations", "--target", server.url]) == 0
        assert "No protocol violations" in capsys.readouterr().out
        with httpx.Client(base_url=server.url) as client:
            reg_id, h = register(client, "android", code="V")
            client.patch(f"/mobile/1/appinstance/{reg_id}/user", headers=h, json={"firstName": "A"})
        assert main(["violations", "--target", server.url]) == 1
    out = capsys.readouterr().out
    assert reg_id in out and "DIALECT-PATCH" in out and "fix:" in out and "SDK:" in out


@pytest.mark.slow
def test_the_default_load_scenario_makes_no_violation(tmp_path: Path) -> None:
    """The default personas, platforms and installed base, on a population of 400 (the default 2,000
    spends most of the test registering the installed base: the same code, four times as long)."""
    with BackgroundServer(ServeConfig(port=0, app_codes=["LOAD"], strict=True)) as server:
        proc = subprocess.run(
            [sys.executable, "-m", "mobsim", "run", "--target", server.url, "--app-code", "LOAD", "-t", "6s",
             "-u", "20", "-r", "20", "--think-time", "0.2", "--population", "400",
             "--out-dir", str(tmp_path / "report")],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        summary = httpx.get(server.url + "/inspect/violations/summary").json()
        stats = httpx.get(server.url + "/inspect/stats").json()
    assert stats["installations"], stats
    assert summary["total"] == 0, summary
