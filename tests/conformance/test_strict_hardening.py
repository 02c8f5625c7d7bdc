"""`mobsim serve --strict` under abuse (issue 13): hostile JSON gets the answer it gets without
``--strict`` (it was a 500 on every ``/mobile`` route for deep JSON), the recorder's memory is
bounded whatever clients send (installations tracked, violations kept, what each installation
remembers, every stored value), and a client's strings cannot forge a log line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from brokenkit import DirectASGI

from contract import Platform, app_code_hash, format_epoch
from contract.codec import MAX_JSON_DEPTH
from server_stub import create_app
from server_stub.http import MAX_BODY
from server_stub.strict import (
    FAILURES_KEPT,
    KEY_MAX,
    PATH_MAX,
    PER_INSTALLATION,
    SEEN_MAX,
    SESSIONS_KEPT,
    UNAUTHENTICATED,
    ViolationRecorder,
)
from simulator.catalog import profile_for
from simulator.systemdata import system_data, user_agent

CODE = "HARDEN-CODE"
START = 1_714_557_600


class World:
    def __init__(self, *, strict: bool = True) -> None:
        self.app = create_app(memory=True, app_codes=[CODE], strict=strict,
                              clock=lambda: datetime.fromtimestamp(START, UTC))  # fmt: skip
        self.client = httpx.Client(transport=DirectASGI(self.app), base_url="http://testserver")

    @property
    def recorder(self) -> ViolationRecorder:
        recorder: ViolationRecorder = self.app.state.strict
        return recorder

    def summary(self) -> dict[str, Any]:
        data: dict[str, Any] = self.client.get("/inspect/violations/summary").json()
        return data

    def violations(self, **params: str) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self.client.get("/inspect/violations", params=params).json()["violations"]
        return data

    def register(self, installation: int = 1) -> tuple[str, dict[str, str]]:
        profile = profile_for(Platform.ANDROID, 9)
        h = {"Authorization": f"App {CODE}", "applicationcode": app_code_hash(CODE),
             "User-Agent": user_agent(profile, "App", "com.example"), "Content-Type": "application/json",
             "installationid": f"2f7a9f7e-0000-4000-8000-{installation:012d}"}  # fmt: skip
        body = {**system_data(profile, True, START), "pushServiceType": "Firebase", "pushServiceToken": "t" * 64}
        answer = self.client.post("/mobile/1/appinstance?ri=true", headers=h, json=body)
        assert answer.status_code == 200, answer.text
        reg_id: str = answer.json()["pushRegId"]
        return reg_id, {**h, "pushregistrationid": reg_id}


HOSTILE = {
    "100,000 nested arrays": "[" * 100_000 + "]" * 100_000,
    "100,000 nested objects": '{"a":' * 100_000 + "1" + "}" * 100_000,
    "NaN": "NaN",
    "-Infinity": "-Infinity",
    "1e400": "1e400",
    "5,000 digits": "9" * 5000,
}
ROUTES = [
    # method, path after /mobile/1/appinstance/{reg} (or a full path), extra headers: every route
    # that takes a body, and two that read none (the strict server reads every body)
    ("POST", "", {"X-HTTP-Method-Override": "PATCH"}),
    ("POST", "/user", {"X-HTTP-Method-Override": "PATCH"}),
    ("POST", "/personalize", {}),
    ("POST", "/repersonalize", {}),
    ("POST", "/depersonalize", {}),
    ("POST", "/user/events/session", {}),
    ("POST", "/user/events/custom?validate=true", {}),
    ("POST", "/user/events/custom?validate=false", {}),
    ("GET", "/user?ri=true", {}),
    ("POST", "/mobile/1/appinstance?ri=true", {}),
    ("POST", "/mobile/5/messages?platformType=GCM", {}),
    ("POST", "/mobile/2/messages/seen", {}),
    ("POST", "/mobile/1/messages/mo?platformType=GCM", {}),
    ("POST", "/mobile/1/messages/deliveryreport", {}),
]


def call(w: World, reg_id: str, h: dict[str, str], route: tuple[str, str, dict[str, str]], body: bytes) -> Any:
    method, suffix, extra = route
    path = suffix if suffix.startswith("/mobile/") else f"/mobile/1/appinstance/{reg_id}{suffix}"
    answer = w.client.request(method, path, headers={**h, **extra}, content=body)
    code = answer.json()["requestError"]["serviceException"]["messageId"] if answer.status_code >= 400 else None
    return answer.status_code, code


@pytest.mark.parametrize("kind", list(HOSTILE))
def test_hostile_json_is_answered_as_without_strict_and_recorded(kind: str) -> None:
    body = ('{"zz": ' + HOSTILE[kind] + "}").encode()
    strict, plain = World(), World(strict=False)
    (reg_id, h), (plain_reg, plain_h) = strict.register(), plain.register()
    for route in ROUTES:
        answer = call(strict, reg_id, h, route, body)
        assert answer == call(plain, plain_reg, plain_h, route, body), route
        assert answer[0] < 500
    found = [v for v in strict.violations() if v["rule"] == "BODY-CONTRACT"]
    assert len(found) == len(ROUTES), json.dumps(strict.violations()[:3], indent=1)
    assert all("not JSON" in v["seen"] for v in found), found[0]


def test_nesting_up_to_the_limit_is_judged_as_json() -> None:
    w = World()
    reg_id, h = w.register()
    path = f"/mobile/1/appinstance/{reg_id}/user"
    for depth in (MAX_JSON_DEPTH - 1, MAX_JSON_DEPTH):  # inside the body's own object
        body = '{"zz": ' + "[" * depth + "1" + "]" * depth + "}"
        w.client.post(path, headers={**h, "X-HTTP-Method-Override": "PATCH"}, content=body)
    seen = [v["seen"] for v in w.violations()]
    assert seen[0].startswith("unknown keys zz"), seen
    assert "not JSON" in seen[-1] and f"more than {MAX_JSON_DEPTH} levels" in seen[-1], seen


def padded(size: int) -> bytes:
    raw = b'{"firstName": "Ana"}'
    return raw[:-1] + b" " * (size - len(raw)) + b"}"


def test_a_body_over_the_limit_is_413_as_without_strict_and_recorded() -> None:
    w = World()
    reg_id, h = w.register()
    path = f"/mobile/1/appinstance/{reg_id}/user"
    headers = {**h, "X-HTTP-Method-Override": "PATCH"}
    assert w.client.post(path, headers=headers, content=padded(MAX_BODY)).status_code == 200
    assert w.summary()["total"] == 0, w.violations()
    answer = w.client.post(path, headers=headers, content=padded(MAX_BODY + 1))
    assert answer.status_code == 413
    chunked = w.client.post(path, headers=headers, content=iter([padded(MAX_BODY)[:-1], b" }"]))
    assert chunked.status_code == 413
    assert [v["seen"] for v in w.violations()] == [f"a body over the {MAX_BODY}-byte limit"] * 2


# ---------------------------------------------------------------------------------------------
# bounded memory


def test_unauthenticated_clients_cannot_multiply_installations() -> None:
    """Requests with an app code this server does not know (or none) are kept under one entry,
    whatever installationid, pushregistrationid or path they name; their counts stay exact."""
    w = World()
    for n in range(110):  # two violations each at least: more than PER_INSTALLATION
        auth = {"Authorization": "App not-a-code"} if n % 2 else {}
        h = {**auth, "installationid": f"forged-{n}", "pushregistrationid": f"reg-{n}"}
        w.client.post(f"/mobile/1/appinstance/path-{n}/user/events/session", headers=h, content=b"{}")
    summary = w.summary()
    assert list(summary["installations"]) == [UNAUTHENTICATED]
    assert summary["total"] == sum(summary["byRule"].values()) == summary["installations"][UNAUTHENTICATED]
    assert len(w.recorder._installations) == 1
    assert summary["stored"] == PER_INSTALLATION and summary["dropped"] == summary["total"] - PER_INSTALLATION


def test_an_installation_already_known_keeps_its_unauthenticated_calls() -> None:
    """A user call with a Bearer JWT names no app code: it counts for its registration when the
    strict server has seen that registration."""
    w = World()
    reg_id, h = w.register()
    w.client.get(f"/mobile/1/appinstance/{reg_id}/user?ri=true", headers={**h, "Authorization": "Bearer x.y.z",
                                                                          "User-Agent": "okhttp"})  # fmt: skip
    assert list(w.summary()["installations"]) == [reg_id]


def observe(recorder: ViolationRecorder, n: int, *, user_agent: str = "curl", **extra: str) -> None:
    hdrs = {"authorization": "App C", "applicationcode": app_code_hash("C"), "installationid": f"inst-{n}",
            "user-agent": user_agent, **extra}  # fmt: skip
    recorder.observe("GET", f"/mobile/1/appinstance/reg-{n}/user", "", hdrs, b"")(200, b"")


def test_installations_tracked_and_violations_kept_are_capped() -> None:
    clock = lambda: datetime.fromtimestamp(START, UTC)  # noqa: E731
    recorder = ViolationRecorder(clock, max_installations=5, max_stored=12)
    for n in range(40):
        for _ in range(3):
            observe(recorder, n)  # HDR-USER-AGENT and HDR-REGISTRATION, each time
    summary = recorder.summary()
    assert summary["total"] == 40 * 3 * 2 == sum(summary["byRule"].values())
    assert len(recorder._installations) == 5
    assert summary["stored"] == len(recorder.violations()) <= 12
    assert summary["dropped"] == summary["total"] - summary["stored"]
    assert summary["forgotten"] == 35
    assert set(summary["installations"]) == {f"reg-{n}" for n in range(35, 40)}  # the most recent
    assert {v.key for v in recorder.violations()} <= {f"reg-{n}" for n in range(35, 40)}


def test_each_installation_keeps_its_latest_violations() -> None:
    recorder = ViolationRecorder(lambda: datetime.fromtimestamp(START, UTC))
    for n in range(PER_INSTALLATION + 10):
        observe(recorder, 1, user_agent=f"agent {n}")
    kept = [v for v in recorder.violations("reg-1") if v.rule == "HDR-USER-AGENT"]
    assert len(recorder.violations("reg-1")) == PER_INSTALLATION
    assert kept[-1].seen == f"User-Agent 'agent {PER_INSTALLATION + 9}'"
    assert recorder.summary()["installations"] == {"reg-1": 2 * (PER_INSTALLATION + 10)}


def test_what_an_installation_remembers_is_capped() -> None:
    w = World()
    reg_id, h = w.register()
    starts = [format_epoch(START - 3600 * n) for n in range(500)]
    w.client.post(f"/mobile/1/appinstance/{reg_id}/user/events/session", headers=h, json={"sessionStarts": starts})
    state = w.recorder._installations[reg_id]
    assert len(state.sessions) == SESSIONS_KEPT and len(state.acked_starts) == SESSIONS_KEPT
    assert max(state.sessions) == START  # the latest are kept
    for n in range(FAILURES_KEPT + 8):
        w.recorder.observe("POST", f"/mobile/1/appinstance/{reg_id}/depersonalize", f"n={n}",
                           {k.lower(): v for k, v in h.items()}, b"")(503, b"")  # fmt: skip
    assert len(state.failures) == FAILURES_KEPT


def test_stored_values_are_truncated() -> None:
    w = World()
    reg_id, h = w.register()
    long_key = "k" * 10_000
    w.client.post(f"/mobile/1/appinstance/{reg_id}/user", headers={**h, "X-HTTP-Method-Override": "PATCH",
                  "User-Agent": "u" * 10_000}, content=json.dumps({long_key: 1}))  # fmt: skip
    w.client.get(f"/mobile/1/appinstance/{'r' * 5000}/user", headers={k: v for k, v in h.items()
                                                                       if k != "pushregistrationid"})  # fmt: skip
    found = w.recorder.violations()
    assert {v.rule for v in found} >= {"HDR-USER-AGENT", "BODY-CONTRACT", "HDR-REGISTRATION"}
    for v in found:
        assert len(v.seen) <= SEEN_MAX and len(v.path) <= PATH_MAX and len(v.key) <= KEY_MAX, v
    assert max(len(key) for key in w.recorder._installations) <= KEY_MAX


# ---------------------------------------------------------------------------------------------
# log lines


def test_client_strings_cannot_forge_a_log_line(caplog: pytest.LogCaptureFixture) -> None:
    w = World()
    reg_id, h = w.register()
    forged = "\nWARNING mobsim.strict: strict: FORGED\r"
    with caplog.at_level(logging.WARNING, logger="mobsim.strict"):
        w.client.post(f"/mobile/1/appinstance/{reg_id}/user", headers={**h, "X-HTTP-Method-Override": "PATCH"},
                      content=json.dumps({f"key{forged}": 1}))  # fmt: skip
        w.client.get(f"/mobile/1/appinstance/{reg_id}%0AFORGED/user",
                     headers={**h, "User-Agent": f"ua{forged}", "pushregistrationid": f"r{forged}"})  # fmt: skip
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) >= 2, lines
    for line in lines:
        assert "\n" not in line and "\r" not in line, line
    assert any("\\nWARNING mobsim.strict" in line for line in lines), lines
