"""Faults on demand (server_stub/faults.py, fault_spec.py, docs/faults.md): the SPEC language, which
requests a fault matches, what each action does, the counters, ``/inspect/faults`` and
``mobsim serve --fault``. In process, on an injected clock, rng and sleep; one socket test for ``reset``."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient
from stubkit import APP_CODE, USER_AGENT, Device, assert_error

import server_stub.serve
from contract import Dialect, Platform
from mobsim.cli import main
from server_stub import create_app
from server_stub.fault_spec import Delay, Fault, RequestFacts, fault_from_json, parse_fault, platform_of_request
from server_stub.faults import FAULT_HEADER, MAX_FAULTS, FaultMiddleware, FaultRegistry, ResetFault
from server_stub.serve import BackgroundServer, ServeConfig, build_server

HUAWEI_AGENT = "Infobip Mobile API Client/8.11.1(S;12;arm64-v8a;ELS-NX9;HUAWEI;Acme;2.0;P40" + ";" * 6 + ")"


class Ticks:
    """The registry's clock: seconds since the server started, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """The middleware's sleep: records each wait instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


class Faulty:
    """The reference server in process behind the fault middleware."""

    def __init__(self, *specs: str, rng: random.Random | None = None) -> None:
        self.ticks, self.sleeps = Ticks(), Sleeps()
        self.registry = FaultRegistry([parse_fault(s) for s in specs], clock=self.ticks, rng=rng)
        self.app = create_app(memory=True, app_codes=[APP_CODE], faults=self.registry)
        self.client = TestClient(FaultMiddleware(self.app, self.registry, sleep=self.sleeps))

    def device(self, dialect: Dialect = Dialect.IOS, *, register: bool = False) -> Device:
        device = Device(self.client, dialect)
        if register:
            device.register()
        return device

    def installations(self) -> int:
        stats = self.client.get("/inspect/stats").json()["installations"]
        return sum(count for platforms in stats.values() for count in platforms.values())

    def counters(self) -> list[tuple[int, int]]:
        return [(e.matched, e.injected) for e in self.registry.entries()]


@pytest.fixture
def faulty() -> Iterator[Faulty]:
    server = Faulty()
    with server.client:
        yield server


# ---------------------------------------------------------------------------------------------
# the SPEC language


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ("status=503", {"status": 503}),
        ("status=200", {"status": 200}),
        ("status=599", {"status": 599}),
        ("status=409,error=USER_MERGE_INTERRUPTED", {"status": 409, "error": "USER_MERGE_INTERRUPTED"}),
        ("status=200,error=USER_MERGE_INTERRUPTED", {"status": 200, "error": "USER_MERGE_INTERRUPTED"}),
        ("status=503,body={}", {"status": 503, "body": "{}"}),
        ("status=503,body=empty", {"status": 503, "body": "empty"}),
        ("status=200,body=envelope", {"status": 200, "body": "envelope"}),
        ("status=204,body=empty", {"status": 204, "body": "empty"}),
        ("latency=250", {"latency": Delay("fixed", 250, 250)}),
        ("latency=0", {"latency": Delay("fixed", 0, 0)}),
        ("latency=100-500", {"latency": Delay("uniform", 100, 500)}),
        ("latency=lognormal:300:1500", {"latency": Delay("lognormal", 300, 1500)}),
        ("latency=lognormal:300", {"latency": Delay("lognormal", 300, 1500)}),
        ("latency=600000", {"latency": Delay("fixed", 600_000, 600_000)}),
        ("reset", {"reset": True}),
        ("new-base-url=https://b.example.com/", {"new_base_url": "https://b.example.com/"}),
        ("status=503,rate=0.3", {"status": 503, "rate": 0.3}),
        ("status=503,rate=1", {"status": 503, "rate": 1.0}),
        ("status=503,rate=1.0", {"status": 503, "rate": 1.0}),
        ("status=503,rate=0.0001", {"status": 503, "rate": 0.0001}),
        ("status=503,endpoint=POST /mobile/1/appinstance", {"status": 503, "endpoint": "POST /mobile/1/appinstance"}),
        ("status=503,endpoint=post /mobile/1/appinstance", {"status": 503, "endpoint": "POST /mobile/1/appinstance"}),
        ("status=503,endpoint=create_installation", {"status": 503, "endpoint": "POST /mobile/1/appinstance"}),
        ("status=503,endpoint=*/messages*", {"status": 503, "endpoint": "*/messages*"}),
        ("status=503,endpoint=/push/*", {"status": 503, "endpoint": "/push/*"}),
        ("status=503,endpoint=GET /push/*", {"status": 503, "endpoint": "GET /push/*"}),
        ("status=503,platform=ios", {"status": 503, "platform": Platform.IOS}),
        ("status=503,platform=Huawei", {"status": 503, "platform": Platform.HUAWEI}),
        ("status=503,after=0,until=40", {"status": 503, "after": 0.0, "until": 40.0}),
        ("status=503,after=2.5", {"status": 503, "after": 2.5}),
        ("status=503,seed=7", {"status": 503, "seed": 7}),
        (" status = 503 , rate = 0.5 ", {"status": 503, "rate": 0.5}),
        ("latency=5,reset", {"latency": Delay("fixed", 5, 5), "reset": True}),
    ],
)
def test_every_key_parses_into_its_field(spec: str, fields: dict[str, Any]) -> None:
    fault = parse_fault(spec)
    assert fault == Fault(**fields)
    assert parse_fault(fault.spec) == fault  # the canonical spec reads back as the same fault


def test_the_canonical_spec_names_the_keys_in_order_and_leaves_out_the_default_rate() -> None:
    fault = parse_fault("until=40,seed=3,rate=0.3,platform=IOS,endpoint=*/messages*,latency=1-2,body={},status=503")
    assert fault.spec == "status=503,body={},latency=1-2,rate=0.3,endpoint=*/messages*,platform=ios,until=40,seed=3"
    assert parse_fault("status=503,rate=1").spec == "status=503"
    assert parse_fault("latency=lognormal:300,reset").spec == "latency=lognormal:300:1500,reset"


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "an empty fault"),
        ("   ", "an empty fault"),
        ("rate=0.3", "a fault needs an action"),
        ("endpoint=*/messages*,platform=ios", "a fault needs an action"),
        ("stauts=503", "unknown key 'stauts'; did you mean status?"),
        ("colour=red,status=503", "unknown key 'colour'"),
        ("status=503,,rate=0.3", "empty item"),
        ("status=503,", "empty item"),
        ("status=503,status=500", "status is given twice"),
        ("status", "status has no value"),
        ("status=", "status has no value"),
        ("status=abc", "status=abc: an HTTP status is a whole number from 200 to 599"),
        ("status=199", "status=199:"),
        ("status=600", "status=600:"),
        ("status=5.0e2", "status=5.0e2:"),
        ("status=-503", "status=-503:"),
        ("error=NO_REGISTRATION", "error= needs status=CODE"),
        ("body=empty", "body= needs status=CODE"),
        ("status=503,body=html", "body=html: write body=envelope (serviceException), body=empty or body={}"),
        ("status=503,error=X,body={}", "error= is the envelope's messageId: it takes no body={}"),
        ("status=204,error=NO_REGISTRATION", "status=204 has no body"),
        ("status=304,body={}", "status=304 has no body"),
        ("status=204,body=envelope", "status=204 has no body"),
        ("status=409,error=9LIVES", "error=9LIVES: a messageId is a letter"),
        ("status=409,error=A B", "error=A B:"),
        ("status=409,error=" + "A" * 101, "a messageId is a letter then up to 99"),
        ("latency=abc", "latency=abc: write MS"),
        ("latency=-5", "latency=-5: latencies are >= 0"),
        ("latency=500-100", "latency=500-100: latencies are >= 0 and a range's high end is not below"),
        ("latency=1-2-3", "latency=1-2-3: write MS"),
        ("latency=lognormal:300:100", "latency=lognormal:300:100:"),
        ("latency=lognormal:x", "latency=lognormal:x: write MS"),
        ("latency=inf", "latency=inf: write MS"),
        ("latency=nan", "latency=nan: write MS"),
        ("latency=600001", "latency=600001: at most 600000 ms"),
        ("reset=true", "reset=true: reset takes no value"),
        ("reset,status=503", "reset drops the connection without an answer"),
        ("reset,new-base-url=https://b.example.com/", "reset drops the connection"),
        ("new-base-url=b.example.com", "new-base-url=b.example.com: write an absolute http(s) URL"),
        ("new-base-url=ftp://b.example.com/", "new-base-url=ftp://b.example.com/: write an absolute"),
        ("new-base-url=https://b.exämple.com/", "write an absolute http(s) URL"),
        ("new-base-url=https://b.example.com/ x", "a URL has no spaces"),
        ("status=503,rate=0", "rate=0: the share of requests to act on, above 0 and at most 1"),
        ("status=503,rate=0.0", "rate=0.0: the share"),
        ("status=503,rate=1.0001", "rate=1.0001: the share"),
        ("status=503,rate=-0.5", "rate=-0.5: the share"),
        ("status=503,rate=half", "rate=half: the share"),
        ("status=503,rate=nan", "rate=nan: the share"),
        ("status=503,endpoint=appinstance", "endpoint=appinstance: write a stats name"),
        ("status=503,endpoint=FETCH /mobile/1/appinstance", "'FETCH' is no HTTP method"),
        ("status=503,endpoint=POST /mobile/1/appinstanc", "did you mean 'POST /mobile/1/appinstance'?"),
        ("status=503,endpoint=/inspect/*", "the inspection API is never faulted"),
        ("status=503,endpoint=/inspect", "the inspection API is never faulted"),
        ("status=503,endpoint=GET /mobile/1/appinstance", "no Mobile API endpoint has this stats name"),
        ("status=503,platform=windows", "platform=windows: write platform=ios, platform=android or platform=huawei"),
        ("status=503,after=soon", "after=soon: seconds since the server started"),
        ("status=503,after=-1", "after=-1: seconds since the server started, a number >= 0"),
        ("status=503,until=-0.5", "until=-0.5:"),
        ("status=503,until=inf", "until=inf:"),
        ("status=503,after=40,until=40", "until=40 is not after after=40: the window would be empty"),
        ("status=503,after=40,until=10", "until=10 is not after after=40"),
        ("status=503,seed=x", "seed=x: a whole number"),
        ("status=503,seed=1.5", "seed=1.5: a whole number"),
        ("status=503," + "x" * 4000, "at most 4000 characters"),
    ],
)
def test_a_bad_spec_names_the_key_and_how_to_fix_it(spec: str, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        parse_fault(spec)
    assert message in str(caught.value)


def test_the_window_holds_from_after_to_just_before_until() -> None:
    fault = parse_fault("status=503,after=10,until=40")
    assert [fault.active_at(t) for t in (9.999, 10, 10.001, 39.999, 40, 40.001)] == [
        False, True, True, True, False, False,
    ]  # fmt: skip
    assert parse_fault("status=503,until=40").active_at(0)
    assert not parse_fault("status=503,after=1").active_at(0.999)
    assert parse_fault("status=503").active_at(10**9)


def test_latencies_are_drawn_from_the_given_rng() -> None:
    uniform, lognormal = Delay.parse("100-500"), Delay.parse("lognormal:300:1500")
    drawn = [uniform.sample_ms(random.Random(4)) for _ in range(2)]
    assert drawn[0] == drawn[1] == random.Random(4).uniform(100, 500)
    rng = random.Random(5)
    samples = sorted(lognormal.sample_ms(rng) for _ in range(4000))
    assert 270 < samples[2000] < 330 and 1300 < samples[3800] < 1700
    assert Delay.parse("250").sample_ms(random.Random()) == 250
    assert Delay.parse("lognormal:0").sample_ms(random.Random()) == 0


@pytest.mark.parametrize(
    ("body", "spec"),
    [
        ({"spec": "status=503,rate=0.3"}, "status=503,rate=0.3"),
        ({"status": 503, "rate": 0.3}, "status=503,rate=0.3"),
        ({"status": "503", "latency": "100-500"}, "status=503,latency=100-500"),
        ({"latency": 250, "newBaseUrl": "https://b.example.com/"}, "latency=250,new-base-url=https://b.example.com/"),
        ({"new-base-url": "https://b.example.com/"}, "new-base-url=https://b.example.com/"),
        ({"reset": True, "endpoint": "*/messages*"}, "reset,endpoint=*/messages*"),
        ({"reset": False, "status": 500}, "status=500"),
        ({"status": 503, "after": 1.5, "until": 40, "platform": "android", "seed": 3},
         "status=503,platform=android,after=1.5,until=40,seed=3"),
    ],
)  # fmt: skip
def test_the_api_takes_a_spec_or_its_keys_as_json(body: dict[str, Any], spec: str) -> None:
    assert fault_from_json(body).spec == spec


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "an empty fault"),
        ({"spec": 503}, "spec is a string"),
        ({"spec": "status=503", "rate": 0.3}, "either spec or the fault's keys"),
        ({"statuss": 503}, "unknown key 'statuss'; did you mean status?"),
        ({"status": True}, "status is a number or a string"),
        ({"status": None}, "status is a number or a string"),
        ({"status": [503]}, "status is a number or a string"),
        ({"reset": "yes"}, "reset is true or false"),
        ({"status": 503, "endpoint": "a,b"}, "endpoint holds a comma"),
        ({"status": 503, "rate": 0}, "rate=0: the share"),
        ({"status": 503, "rate": float("inf")}, "rate=inf: the share"),
        ({"rate": 0.5}, "a fault needs an action"),
    ],
)
def test_a_bad_api_body_says_what_is_wrong(body: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as caught:
        fault_from_json(body)
    assert message in str(caught.value)


# ---------------------------------------------------------------------------------------------
# which requests a fault matches


def _facts(dialect: Dialect, name: str, **params: str) -> RequestFacts:
    from contract import endpoint

    wire = endpoint(name).build(dialect, path_params=params or None)
    return RequestFacts(
        wire.method,
        wire.path,
        override=wire.headers.get("X-HTTP-Method-Override", ""),
        user_agent=USER_AGENT[dialect],
        query_string=(wire.query_string or "").removeprefix("?"),
    )


def test_the_stats_name_is_the_logical_endpoint_even_for_androids_patch() -> None:
    ios = _facts(Dialect.IOS, "patch_installation", pushRegId="r1")
    android = _facts(Dialect.ANDROID, "patch_installation", pushRegId="r1")
    assert (ios.method, android.method, android.override) == ("PATCH", "POST", "PATCH")
    fault = parse_fault("status=503,endpoint=PATCH /mobile/1/appinstance/{pushRegId}")
    assert ios.stats_name == android.stats_name == "PATCH /mobile/1/appinstance/{pushRegId}"
    assert fault.matches(ios) and fault.matches(android)
    plain_post = RequestFacts("POST", "/mobile/1/appinstance/r1")  # no override: no SDK endpoint
    assert plain_post.stats_name == "POST /mobile/1/appinstance/r1" and not fault.matches(plain_post)
    user = _facts(Dialect.ANDROID, "patch_user", pushRegId="r1")
    assert user.stats_name == "PATCH /mobile/1/appinstance/{pushRegId}/user" and not fault.matches(user)


def test_globs_match_stats_names_and_paths() -> None:
    messages = parse_fault("status=503,endpoint=*/messages*")
    names = ["sync_messages", "seen_messages", "send_mo", "delivery_report"]
    assert all(messages.matches(_facts(Dialect.IOS, n)) for n in names)
    assert not messages.matches(_facts(Dialect.IOS, "create_installation"))
    assert not messages.matches(_facts(Dialect.IOS, "session_report", pushRegId="r1"))
    push = parse_fault("status=503,endpoint=/push/*")
    assert push.matches(RequestFacts("POST", "/push/3/messages")) and push.matches(RequestFacts("GET", "/push/3/logs"))
    assert not push.matches(RequestFacts("POST", "/mobile/1/appinstance"))
    get_push = parse_fault("status=503,endpoint=GET /push/*")
    assert get_push.matches(RequestFacts("GET", "/push/3/reports"))
    assert not get_push.matches(RequestFacts("POST", "/push/3/messages"))
    by_template = parse_fault("status=503,endpoint=/mobile/1/appinstance/{pushRegId}/user*")
    by_path = parse_fault("status=503,endpoint=/mobile/1/appinstance/r1/*")
    user = _facts(Dialect.IOS, "get_user", pushRegId="r1")
    assert by_template.matches(user) and by_path.matches(user)
    assert not by_path.matches(_facts(Dialect.IOS, "get_user", pushRegId="r2"))
    exact = parse_fault("status=503,endpoint=POST /mobile/1/appinstance")
    assert exact.matches(_facts(Dialect.ANDROID, "create_installation"))
    assert not exact.matches(_facts(Dialect.ANDROID, "get_installation", pushRegId="r1"))


def test_the_platform_comes_from_the_user_agent_then_the_platform_type() -> None:
    assert platform_of_request(USER_AGENT[Dialect.IOS]) is Platform.IOS
    assert platform_of_request(USER_AGENT[Dialect.ANDROID]) is Platform.ANDROID
    assert platform_of_request(HUAWEI_AGENT) is Platform.HUAWEI
    assert platform_of_request("curl/8", "platformType=APNS") is Platform.IOS
    assert platform_of_request("", "a=1&platformType=GCM") is Platform.ANDROID
    assert platform_of_request(USER_AGENT[Dialect.IOS], "platformType=GCM") is Platform.IOS  # the agent first
    assert platform_of_request("curl/8", "xplatformType=APNS") is None
    assert platform_of_request("") is None
    ios, android, huawei = (parse_fault(f"status=503,platform={p}") for p in ("ios", "android", "huawei"))
    request = RequestFacts("GET", "/mobile/3/version", user_agent=HUAWEI_AGENT)
    assert huawei.matches(request) and not android.matches(request) and not ios.matches(request)
    assert not ios.matches(RequestFacts("GET", "/health"))  # no platform known: no platform fault applies


# ---------------------------------------------------------------------------------------------
# the actions, through the middleware


def test_a_status_fault_answers_the_envelope_and_nothing_is_written(faulty: Faulty) -> None:
    faulty.registry.add(parse_fault("status=503,endpoint=POST /mobile/1/appinstance"))
    device = faulty.device(Dialect.ANDROID)
    response = device.call("create_installation", body={"pushServiceType": "Firebase", "pushServiceToken": "t"})
    text = assert_error(response, 503, "SERVICE_UNAVAILABLE", "injected fault 1: ")
    assert "status=503,endpoint=POST /mobile/1/appinstance" in text
    assert response.headers[FAULT_HEADER] == "1"
    assert faulty.installations() == 0
    assert faulty.counters() == [(1, 1)]


@pytest.mark.parametrize(
    ("status", "message_id"), [(400, "BAD_REQUEST"), (429, "TOO_MANY_REQUESTS"), (599, "HTTP_599")]
)
def test_without_error_the_message_id_is_the_status_name(faulty: Faulty, status: int, message_id: str) -> None:
    faulty.registry.add(parse_fault(f"status={status}"))
    assert_error(faulty.client.get("/mobile/3/version?platformType=APNS"), status, message_id)


def test_a_status_fault_with_error_carries_that_message_id(faulty: Faulty) -> None:
    device = faulty.device(Dialect.IOS, register=True)
    faulty.registry.add(parse_fault("status=404,error=NO_REGISTRATION,endpoint=*/user*"))
    assert_error(device.user(), 404, "NO_REGISTRATION", "injected fault 1")
    assert device.get().status_code == 200  # GET appinstance is not */user*


@pytest.mark.parametrize(
    ("spec", "content", "media"),
    [("status=503,body={}", b"{}", "application/json"), ("status=503,body=empty", b"", None),
     ("status=204", b"", None)],
)  # fmt: skip
def test_body_chooses_what_the_answer_carries(faulty: Faulty, spec: str, content: bytes, media: str | None) -> None:
    faulty.registry.add(parse_fault(spec))
    response = faulty.client.get("/health")
    assert (response.status_code, response.content, response.headers.get("content-type")) == (
        int(spec.split(",")[0].removeprefix("status=")), content, media,
    )  # fmt: skip
    assert response.headers.get("content-length", "0") == str(len(content))


def test_a_2xx_with_error_carries_the_envelope(faulty: Faulty) -> None:
    """Android retries a 2xx carrying a requestError outside the invalid-parameter codes (simulator/retry.py)."""
    faulty.registry.add(parse_fault("status=200,error=SOMETHING_ODD"))
    assert_error(faulty.client.get("/health"), 200, "SOMETHING_ODD", "injected fault 1")


def test_a_2xx_status_fault_acknowledges_with_an_empty_body_and_stores_nothing(faulty: Faulty) -> None:
    faulty.registry.add(parse_fault("status=200,endpoint=POST /mobile/1/appinstance"))
    response = faulty.device().call("create_installation", body={"pushServiceType": "APNS", "pushServiceToken": "t"})
    assert (response.status_code, response.content) == (200, b"")
    assert faulty.installations() == 0


def test_a_latency_fault_waits_an_rng_draw_then_passes_the_request_through() -> None:
    server = Faulty("latency=100-500", rng=random.Random(11))
    with server.client:
        device = server.device(register=True)
        assert server.installations() == 1
        expected = random.Random(11)
        assert server.sleeps.waits == [pytest.approx(expected.uniform(100, 500) / 1000)]
        device.version()
        assert server.sleeps.waits[1] == pytest.approx(expected.uniform(100, 500) / 1000)


def test_status_and_latency_wait_then_answer() -> None:
    server = Faulty("status=502,latency=250")
    with server.client:
        assert_error(server.client.get("/mobile/3/version"), 502, "BAD_GATEWAY")
        assert server.sleeps.waits == [0.25]


def test_a_seeded_fault_draws_its_own_rng() -> None:
    server = Faulty("latency=0-1000,seed=5")
    with server.client:
        for _ in range(3):
            server.client.get("/health")
    expected = random.Random(5)
    assert server.sleeps.waits == [pytest.approx(expected.uniform(0, 1000) / 1000) for _ in range(3)]


def test_new_base_url_rides_on_the_real_answer(faulty: Faulty) -> None:
    faulty.registry.add(parse_fault("new-base-url=https://b.example.com/,endpoint=POST /mobile/1/appinstance"))
    device = faulty.device(Dialect.IOS)
    created = device.register()
    assert faulty.installations() == 1 and created["pushRegId"]
    response = device.get()
    assert "new-base-url" not in response.headers
    faulty.registry.add(parse_fault("new-base-url=https://c.example.com/"))
    answer = device.call("create_installation", body={"pushServiceType": "APNS", "pushServiceToken": "t2"})
    assert answer.status_code == 200 and answer.json()["pushRegId"]
    assert answer.headers.get_list("new-base-url") == ["https://b.example.com/"]  # the first fault's
    assert faulty.counters() == [(2, 2), (1, 1)]


def test_new_base_url_keeps_its_casing_on_the_wire() -> None:
    """Android before 14.7.8 looks the header up by its exact name (docs/reference/base-url-recovery-logout.md)."""
    registry = FaultRegistry([parse_fault("new-base-url=https://b.example.com/")])
    sent = _run(FaultMiddleware(create_app(memory=True, faults=registry), registry), _scope("GET", "/health"))
    assert (b"New-Base-URL", b"https://b.example.com/") in sent[0]["headers"]
    registry.add(parse_fault("status=503"))
    sent = _run(FaultMiddleware(create_app(memory=True), registry), _scope("GET", "/health"))
    assert sent[0]["status"] == 503 and (b"New-Base-URL", b"https://b.example.com/") in sent[0]["headers"]


def _scope(method: str, path: str, extensions: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
        "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "", "headers": [],
        "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80), "extensions": extensions or {},
    }  # fmt: skip


def _run(app: Any, scope: dict[str, Any]) -> list[dict[str, Any]]:
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_reset_aborts_the_connection_and_sends_nothing() -> None:
    reached: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["path"])

    sleeps, aborts = Sleeps(), []
    registry = FaultRegistry([parse_fault("reset,latency=40,endpoint=/mobile/*")])
    middleware = FaultMiddleware(inner, registry, sleep=sleeps)
    sent = _run(middleware, _scope("GET", "/mobile/3/version", {"mobsim.abort": lambda: aborts.append(1)}))
    assert (sent, aborts, reached, sleeps.waits) == ([], [1], [], [0.04])
    _run(middleware, _scope("GET", "/health", {"mobsim.abort": lambda: aborts.append(2)}))
    assert (aborts, reached) == ([1], ["/health"])
    with pytest.raises(ResetFault, match="reset needs a socket"):
        _run(middleware, _scope("GET", "/mobile/3/version"))
    assert [(e.matched, e.injected) for e in registry.entries()] == [(2, 2)]


# ---------------------------------------------------------------------------------------------
# counters and the order of faults


def test_matched_counts_the_filtered_requests_and_injected_the_rate_draws() -> None:
    server = Faulty("status=503,rate=0.5,endpoint=GET /mobile/3/version", rng=random.Random(3))
    expected = random.Random(3)
    hits = [expected.random() < 0.5 for _ in range(40)]
    with server.client:
        device = server.device(Dialect.ANDROID)
        statuses = [device.version().status_code for _ in range(40)]
        server.client.get("/health")  # another endpoint: not matched
    assert statuses == [503 if hit else 200 for hit in hits]
    assert server.counters() == [(40, sum(hits))]
    assert 0 < sum(hits) < 40


def test_the_first_terminal_fault_ends_the_request_and_latencies_add_up() -> None:
    server = Faulty("latency=100", "latency=50,endpoint=/health", "status=500", "status=418")
    with server.client:
        assert_error(server.client.get("/health"), 500, "INTERNAL_SERVER_ERROR", "injected fault 3")
        assert server.sleeps.waits == [pytest.approx(0.15)]
        assert_error(server.client.get("/mobile/3/version"), 500, "INTERNAL_SERVER_ERROR")
    assert server.counters() == [(2, 2), (1, 1), (2, 2), (0, 0)]


def test_the_window_follows_the_servers_clock() -> None:
    server = Faulty("status=503,after=10,until=40")
    with server.client:
        seen = []
        for now in (0, 9.999, 10, 39.999, 40):
            server.ticks.now = now
            seen.append(server.client.get("/health").status_code)
    assert seen == [200, 200, 503, 503, 200]
    assert server.counters() == [(2, 2)]


def test_inspection_and_the_preflight_probe_are_never_faulted(faulty: Faulty) -> None:
    faulty.registry.add(parse_fault("status=503"))
    assert faulty.client.get("/inspect/faults").status_code == 200
    assert faulty.client.get("/inspect/stats").status_code == 200
    probe = faulty.client.get("/health", headers={"User-Agent": "mobsim-preflight/0.1.0"})
    assert probe.status_code == 200
    assert faulty.client.get("/inspector").status_code == 503  # only /inspect and below
    assert faulty.counters() == [(1, 1)]


# ---------------------------------------------------------------------------------------------
# /inspect/faults


def test_the_api_adds_lists_and_deletes_faults(faulty: Faulty) -> None:
    first = faulty.client.post("/inspect/faults", json={"spec": "status=503,rate=0.3,until=40"})
    assert first.status_code == 201
    assert first.json() == {
        "id": 1, "spec": "status=503,rate=0.3,until=40", "status": 503, "error": None, "body": None, "latency": None,
        "reset": False, "newBaseUrl": None, "rate": 0.3, "endpoint": None, "platform": None, "after": None,
        "until": 40.0, "seed": None, "matched": 0, "injected": 0,
    }  # fmt: skip
    second = faulty.client.post("/inspect/faults", json={"status": 404, "endpoint": "GET /mobile/3/version"})
    assert second.status_code == 201 and second.json()["id"] == 2
    faulty.ticks.now = 12.5
    faulty.client.get("/mobile/3/version")
    listed = faulty.client.get("/inspect/faults").json()
    assert listed["elapsed"] == 12.5
    assert [(f["id"], f["matched"]) for f in listed["faults"]] == [(1, 1), (2, 1 - listed["faults"][0]["injected"])]
    deleted = faulty.client.delete("/inspect/faults/1")
    assert deleted.status_code == 200 and deleted.json()["id"] == 1 and deleted.json()["matched"] == 1
    assert_error(faulty.client.delete("/inspect/faults/1"), 404, "NOT_FOUND", "no fault 1")
    assert [f["id"] for f in faulty.client.get("/inspect/faults").json()["faults"]] == [2]
    faulty.client.post("/inspect/faults", json={"spec": "latency=5"})
    assert faulty.client.delete("/inspect/faults").json() == {"deleted": 2}
    assert faulty.client.get("/inspect/faults").json()["faults"] == []
    assert faulty.client.post("/inspect/faults", json={"spec": "latency=5"}).json()["id"] == 4  # ids are not reused


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"spec": "status=503,rate=1.0001"}', "rate=1.0001: the share"),
        (b'{"spec": "stauts=503"}', "did you mean status?"),
        (b'{"status": 503, "spec": "status=503"}', "either spec"),
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b"", "an empty fault"),
    ],
)
def test_the_api_answers_400_to_a_bad_fault(faulty: Faulty, content: bytes, message: str) -> None:
    response = faulty.client.post("/inspect/faults", content=content, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "REQUEST_FORMAT_INVALID", message)
    assert faulty.registry.entries() == []


def test_the_api_refuses_a_bad_id_and_too_many_faults(faulty: Faulty) -> None:
    assert_error(faulty.client.delete("/inspect/faults/abc"), 400, "REQUEST_FORMAT_INVALID")
    assert_error(faulty.client.delete("/inspect/faults/0"), 400, "REQUEST_FORMAT_INVALID")
    for _ in range(MAX_FAULTS):
        faulty.registry.add(parse_fault("latency=1,endpoint=/nowhere"))
    response = faulty.client.post("/inspect/faults", json={"spec": "status=503"})
    assert_error(response, 400, "REQUEST_FORMAT_INVALID", f"at most {MAX_FAULTS} faults")


# ---------------------------------------------------------------------------------------------
# mobsim serve --fault


def test_serve_refuses_a_bad_fault_with_exit_2_and_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    assert main(["serve", "--db", str(db), "--port", "0", "--fault", "status=503", "--fault", "status=503,rate=2"]) == 2
    err = capsys.readouterr().err
    assert err == "mobsim serve: --fault 'status=503,rate=2': rate=2: the share of requests to act on, above 0 and" \
        " at most 1, e.g. rate=0.3\n"  # fmt: skip
    assert not db.exists()
    with pytest.raises(RuntimeError, match=r"--fault 'reset=1': reset=1: reset takes no value"):
        build_server(ServeConfig(db=db, faults=["reset=1"]))
    assert not db.exists()


def test_serve_prints_each_fault(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    served: list[ServeConfig] = []
    monkeypatch.setattr(server_stub.serve, "run_forever", lambda config, sock, server: served.append(config))
    specs = ["status=503,rate=0.3,until=40", "latency=lognormal:300,endpoint=*/messages*"]
    assert main(["serve", "--memory", "--port", "0", *(arg for s in specs for arg in ("--fault", s))]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("  fault")]
    assert [line.split("   (")[0] for line in lines] == [
        "  fault 1:       status=503,rate=0.3,until=40",
        "  fault 2:       latency=lognormal:300:1500,endpoint=*/messages*",
    ]
    assert "/inspect/faults" in lines[0]
    assert served[0].faults == specs


@pytest.mark.slow
def test_a_reset_fault_gives_a_socket_client_a_connection_error_and_no_answer() -> None:
    config = ServeConfig(port=0, faults=["reset,endpoint=GET /mobile/3/version"])
    errors = logging.Handler(logging.ERROR)
    errors.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    logged: list[str] = []
    with BackgroundServer(config) as server, httpx.Client(base_url=server.url, timeout=5) as client:
        logging.getLogger("uvicorn.error").addHandler(errors)
        try:
            assert client.get("/health").status_code == 200
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
                client.get("/mobile/3/version?platformType=APNS")
            assert client.get("/health").status_code == 200  # a new connection is served
            faults = client.get("/inspect/faults").json()["faults"]
        finally:
            logging.getLogger("uvicorn.error").removeHandler(errors)
    assert [(f["matched"], f["injected"]) for f in faults] == [(1, 1)]
    assert logged == []  # uvicorn saw the connection go: no "returned without starting response", no 500
