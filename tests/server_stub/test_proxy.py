"""``mobsim proxy`` in process: the proxy (server_stub/proxy.py) in front of the reference server's ASGI
app, no socket. Devices through it get the answers they get directly, the backend sees the SDK's
own headers, strict mode judges without changing anything, faults act toward the app, an
unreachable or silent target is a 502 or 504 envelope, and a recording replays into a fresh server
with the same persons, installations and events."""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from contract import app_code_hash
from demo.run import FORMAT, read_header, replay_file
from server_stub import create_app
from server_stub.fault_spec import parse_fault
from server_stub.proxy import MAX_BODY, create_proxy
from server_stub.proxy_recording import ProxyRecording, infer_definition
from simulator import AppConfig, VirtualClock, VirtualDevice
from simulator.transport import HTTPXTransport, Outgoing, RecordingTransport, Reply

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from brokenkit import DirectASGI

CODE = "PROXY-APP-CODE-1234"
BACKEND = "http://backend.test"
PROXY = "http://127.0.0.1:8081"
START = 1_714_557_600.0
PURCHASE = {"definitionId": "purchase", "fields": [{"name": "amount", "type": "Decimal"},
                                                   {"name": "sku", "type": "String"}]}  # fmt: skip


def Direct(app: Any, loop: asyncio.AbstractEventLoop) -> DirectASGI:
    """Sync httpx onto an ASGI app on a given event loop, recording what it was handed."""
    return DirectASGI(app, loop)


class Spy(httpx.AsyncBaseTransport):
    """The proxy's way to the target: every request it forwards, then the inner transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.seen: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return await self.inner.handle_async_request(request)


def answering(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    """A target that answers with ``handler``; its body as a stream that is not read yet, as a
    network transport's (httpx marks a ``Response(content=...)`` read)."""

    def streamed(request: httpx.Request) -> httpx.Response:
        made = handler(request)
        return httpx.Response(made.status_code, headers=made.headers.raw, stream=httpx.ByteStream(made.content))

    return httpx.MockTransport(streamed)


class World:
    """A reference server (the backend), the proxy in front of it and clients of both, on one loop."""

    def __init__(self, *, proxied: bool = True, record: Path | None = None, target: Any = None,
                 **proxy: Any) -> None:  # fmt: skip
        self.clock = VirtualClock(START)
        self.loop = asyncio.new_event_loop()
        now: Callable[[], datetime] = lambda: datetime.fromtimestamp(self.clock.now(), UTC)  # noqa: E731
        self.backend_app = create_app(memory=True, app_codes=[CODE], clock=now)
        self.backend = httpx.Client(transport=Direct(self.backend_app, self.loop), base_url=BACKEND)
        self.recording = None if record is None else ProxyRecording(record, BACKEND, wall=self.clock.now)
        self.spy = Spy(target or httpx.ASGITransport(app=self.backend_app))
        self.proxy = create_proxy(BACKEND, recording=self.recording, transport=self.spy, clock=now, **proxy)
        self.into_proxy = Direct(self.proxy, self.loop)
        self.client = httpx.Client(transport=self.into_proxy, base_url=PROXY)
        self.base = PROXY if proxied else BACKEND
        self.sdk = self.client if proxied else self.backend
        self.exchanges: list[tuple[str, str, int, bytes]] = []

    def device(self, platform: str, seed: int) -> VirtualDevice:
        def seen(request: Outgoing, reply: Reply | None, error: Any) -> None:
            assert reply is not None, error
            self.exchanges.append((request.method, request.url.removeprefix(self.base), reply.status, reply.content))

        transport = RecordingTransport(HTTPXTransport(self.sdk), seen)
        config = AppConfig(CODE, base_url=self.base)
        return VirtualDevice.create(platform, config, seed=seed, transport=transport, clock=self.clock)

    def counts(self) -> dict[str, Any]:
        return counts(self.backend)

    def close(self) -> None:
        self.loop.run_until_complete(self.proxy.aclose())
        self.loop.close()


def counts(client: httpx.Client) -> dict[str, Any]:
    stats = client.get("/inspect/stats").json()
    return {
        "persons": stats["persons"],
        "installations": stats["installations"],
        "personalized": stats["personalizedInstallations"],
        "events": stats["events"]["counts"],
        "rejected": stats["events"]["rejected"],
    }


def lifecycle(world: World) -> list[VirtualDevice]:
    """Two devices of one person: register, sessions, personalize, events, a remote logout, logout."""
    assert world.backend.post("/inspect/event-definitions", json=PURCHASE).status_code == 201
    android, ios = world.device("android", 21), world.device("ios", 22)
    for phone in (android, ios):
        phone.start()
        phone.foreground()
        phone.advance(20)
        phone.background()
        phone.advance(45)
    android.personalize({"externalUserId": "ana-1"}, {"firstName": "Ana"})
    ios.personalize({"externalUserId": "ana-1"})
    ios.submit_event("purchase", {"amount": 12.5, "sku": "A-1"})
    ios.advance(10)
    android.submit_event("purchase", {"amount": 3.0}, validate=True)
    ios.depersonalize_installation(android.reg_id or "")  # names another installation's pushRegId
    ios.foreground()
    ios.advance(5)
    ios.depersonalize()
    for phone in (android, ios):
        assert phone.last_error is None, phone.last_error
    return [android, ios]


def normalized(world: World, phones: list[VirtualDevice]) -> list[tuple[str, str, int, str]]:
    """The exchanges with each device's pushRegId (random per server) replaced by its name."""
    out = []
    for method, url, status, content in world.exchanges:
        text = content.decode()
        for number, phone in enumerate(phones):
            url, text = (
                url.replace(phone.reg_id or "?", f"REG{number}"),
                text.replace(phone.reg_id or "?", f"REG{number}"),
            )
        out.append((method, url, status, text))
    return out


@pytest.fixture
def worlds(tmp_path: Path) -> Any:
    made: list[World] = []

    def make(**options: Any) -> World:
        made.append(World(**options))
        return made[-1]

    yield make
    for world in made:
        world.close()


def test_a_lifecycle_through_the_proxy_gets_the_answers_it_gets_directly(worlds: Any) -> None:
    direct, proxied = worlds(proxied=False), worlds()
    expected = normalized(direct, lifecycle(direct))
    got = normalized(proxied, lifecycle(proxied))
    assert len(got) >= 12 and got == expected
    assert proxied.counts() == direct.counts()
    assert proxied.counts()["events"]["purchase"] == 2 and proxied.proxy.forwarder.exchanges == len(got)


def test_the_backend_sees_the_sdks_headers_and_body_and_nothing_else(worlds: Any) -> None:
    world = worlds()
    lifecycle(world)
    arrived, forwarded = world.into_proxy.seen, world.spy.seen
    assert len(arrived) == len(forwarded) >= 12
    for sent, seen in zip(arrived, forwarded, strict=True):
        assert (seen.method, seen.url.raw_path) == (sent.method, sent.url.raw_path)
        expected = [(k.lower(), v) for k, v in sent.headers.raw if k.lower() not in (b"host", b"connection")]
        assert [(k.lower(), v) for k, v in seen.headers.raw if k.lower() != b"host"] == expected
        assert seen.headers["host"] == "backend.test" and seen.content == sent.content


def test_hop_by_hop_headers_stay_on_their_hop_both_ways(worlds: Any) -> None:
    def backend(request: httpx.Request) -> httpx.Response:
        headers = {"X-Answer": "kept", "New-Base-URL": "https://elsewhere.example", "Connection": "close, x-hop",
                   "X-Hop": "dropped", "Keep-Alive": "timeout=5", "Content-Encoding": "gzip"}  # fmt: skip
        return httpx.Response(201, headers=headers, stream=httpx.ByteStream(gzip.compress(b'{"ok":true}')))

    world = worlds(target=httpx.MockTransport(backend))
    world.client.headers.clear()
    sent = {"Connection": "keep-alive, x-private", "X-Private": "hop", "Keep-Alive": "300", "TE": "trailers",
            "Proxy-Authorization": "Basic c2VjcmV0", "Upgrade": "h2c", "X-Keep": "yes"}  # fmt: skip
    answer = world.client.post("/mobile/1/anything?a=1&b=%20c", headers=sent, content=b"{}")
    seen = world.spy.seen[0]
    assert sorted(k.lower() for k, _ in seen.headers.raw) == [b"content-length", b"host", b"x-keep"]
    assert str(seen.url) == BACKEND + "/mobile/1/anything?a=1&b=%20c"
    assert answer.status_code == 201 and answer.json() == {"ok": True}  # the client decodes the bytes as sent
    assert answer.headers["content-encoding"] == "gzip" and answer.headers["x-answer"] == "kept"
    assert answer.headers["new-base-url"] == "https://elsewhere.example"
    assert int(answer.headers["content-length"]) == len(gzip.compress(b'{"ok":true}'))
    assert "x-hop" not in answer.headers and "keep-alive" not in answer.headers and "connection" not in answer.headers


@pytest.mark.parametrize(
    ("error", "status", "message_id", "cause"),
    [
        (httpx.ConnectError("refused"), 502, "BAD_GATEWAY", "connection refused (is the backend running"),
        (httpx.ReadTimeout("timed out"), 504, "GATEWAY_TIMEOUT", "no answer within 2 s (timed out)"),
        (httpx.ConnectTimeout("timed out"), 504, "GATEWAY_TIMEOUT", "no connection within 2 s (connect timeout)"),
        (httpx.RemoteProtocolError("Server disconnected without sending a response."), 502, "BAD_GATEWAY",
         "Server disconnected without sending a response."),
    ],
)  # fmt: skip
def test_a_target_down_or_silent_is_a_502_or_504_envelope_naming_it(
    worlds: Any, tmp_path: Path, error: Exception, status: int, message_id: str, cause: str
) -> None:
    def backend(request: httpx.Request) -> httpx.Response:
        if isinstance(error, httpx.ConnectError):
            raise error from ConnectionRefusedError(111, "Connection refused")
        raise error

    world = worlds(target=answering(backend), record=tmp_path / "down.jsonl", timeout=2.0)
    answer = world.client.post("/mobile/1/appinstance?ri=true", headers={"Authorization": f"App {CODE}"}, json={})
    assert answer.status_code == status
    exception = answer.json()["requestError"]["serviceException"]
    assert exception["messageId"] == message_id
    assert exception["text"] == f"the proxy got no answer from the target {BACKEND}: {cause}" or (
        exception["text"].startswith(f"the proxy got no answer from the target {BACKEND}: {cause}")
    )
    assert CODE not in answer.text and answer.headers["content-length"] == str(len(answer.content))
    assert len((tmp_path / "down.jsonl").read_text().splitlines()) == 1  # the header: nothing was answered


def test_a_body_over_the_limit_is_413_and_not_forwarded_one_at_the_limit_goes(worlds: Any) -> None:
    world = worlds(target=answering(lambda request: httpx.Response(200, content=b"{}")))
    assert world.client.post("/mobile/1/x", content=b"x" * MAX_BODY).status_code == 200
    too_large = world.client.post("/mobile/1/x", content=b"x" * (MAX_BODY + 1))
    assert too_large.status_code == 413
    assert too_large.json()["requestError"]["serviceException"]["messageId"] == "PAYLOAD_TOO_LARGE"
    chunks = [b"x" * MAX_BODY, b"y"]  # no Content-Length: counted as it arrives
    answers: list[Any] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": chunks.pop(0), "more_body": bool(chunks)}

    async def send(message: Any) -> None:
        answers.append(message)

    scope = {"type": "http", "method": "POST", "path": "/mobile/1/x", "raw_path": b"/mobile/1/x",
             "query_string": b"", "headers": [(b"transfer-encoding", b"chunked")]}  # fmt: skip
    world.loop.run_until_complete(world.proxy(scope, receive, send))
    assert answers[0]["status"] == 413 and len(world.spy.seen) == 1


def _broken(world: World) -> httpx.Response:
    """A create without the installationid header, with a key the contract does not have."""
    headers = {"Authorization": f"App {CODE}", "applicationcode": app_code_hash(CODE),
               "User-Agent": "Infobip Mobile API Client/6.0.0(Android;1;2;3;4;5;6;7;8;9;10;11;12;13)"}  # fmt: skip
    body = {"pushServiceType": "Firebase", "pushServiceToken": "tok-1", "notAField": 1}
    return world.client.post("/mobile/1/appinstance?ri=true", headers=headers, json=body)


def test_strict_mode_records_the_apps_violations_and_changes_no_answer(worlds: Any) -> None:
    strict, plain = worlds(strict=True), worlds()
    lifecycle(strict)
    clean = strict.client.get("/inspect/violations/summary").json()
    assert clean["total"] == 0 and clean["byRule"] == {}  # the SDK's own traffic: none
    answer, unjudged = _broken(strict), _broken(plain)
    assert answer.status_code == unjudged.status_code and answer.json().keys() == unjudged.json().keys()
    summary = strict.client.get("/inspect/violations/summary").json()
    assert summary["byRule"] == {"BODY-CONTRACT": 1, "HDR-INSTALLATION": 1}, summary
    listed = strict.client.get("/inspect/violations", params={"rule": "HDR-INSTALLATION"}).json()
    assert listed["total"] == 1 and listed["violations"][0]["request"].startswith("POST /mobile/1/appinstance")
    assert not any(r.url.path.startswith("/inspect/violations") for r in strict.spy.seen)  # the proxy's own
    assert strict.client.post("/inspect/violations/reset").json() == {"reset": True}
    plain.client.get("/inspect/violations")  # without --strict: the target's (none: 404 there)
    assert plain.spy.seen[-1].url.path == "/inspect/violations"


def test_a_checker_that_fails_does_not_break_the_apps_traffic(worlds: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    world = worlds(strict=True)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RecursionError("deep JSON")

    assert world.proxy.recorder is not None
    monkeypatch.setattr(world.proxy.recorder, "observe", broken)
    phone = world.device("android", 5)
    phone.start()
    assert phone.reg_id and phone.last_error is None


def test_faults_act_toward_the_app_and_a_faulted_request_never_reaches_the_target(worlds: Any, tmp_path: Path) -> None:
    faults = [
        parse_fault("status=503,endpoint=POST /mobile/1/appinstance"),
        parse_fault("new-base-url=https://b.example"),
    ]
    world = worlds(faults=faults, record=tmp_path / "faults.jsonl")
    phone = world.device("android", 8)
    phone.start()
    assert phone.reg_id is None and world.spy.seen == []  # answered 503 by the proxy
    assert world.exchanges[0][2] == 503 and b"injected fault 1" in world.exchanges[0][3]
    answer = world.client.get("/mobile/3/version?platformType=GCM", headers={"Authorization": f"App {CODE}"})
    assert answer.headers["new-base-url"] == "https://b.example" and len(world.spy.seen) == 1  # forwarded
    listed = world.client.get("/inspect/faults").json()["faults"]
    assert [(f["id"], f["injected"]) for f in listed] == [(1, 1), (2, 1)]  # 1 ended the create
    assert world.client.delete("/inspect/faults").json() == {"deleted": 2}
    phone.advance(60)
    phone.start()
    assert phone.reg_id and len(world.spy.seen) >= 2
    lines = [json.loads(line) for line in (tmp_path / "faults.jsonl").read_text().splitlines()[1:]]
    assert [line["s"] for line in lines if line["u"].startswith("/mobile/1/appinstance?")] == [200]  # no 503


def test_the_proxys_own_routes_refuse_a_foreign_host_and_need_the_token_when_it_has_one(worlds: Any) -> None:
    open_world, token_world = worlds(strict=True), worlds(strict=True, inspect_token="s3cret-token")
    foreign = open_world.client.get("/inspect/faults", headers={"Host": "evil.example"})
    assert foreign.status_code == 403
    assert token_world.client.get("/inspect/violations").status_code == 401
    ok = token_world.client.get("/inspect/violations", headers={"Authorization": "Bearer s3cret-token"})
    assert ok.status_code == 200 and token_world.spy.seen == []


def test_the_targets_inspection_api_is_forwarded_only_behind_the_proxys_guard(worlds: Any) -> None:
    """A proxy on the network must not open a loopback target's inspection API to it."""
    open_world, token_world = worlds(), worlds(inspect_token="s3cret-token")
    for path in ("/inspect/stats", "/inspect/reset", "/docs", "/openapi.json"):
        method = "POST" if path.endswith("reset") else "GET"
        assert open_world.client.request(method, path, headers={"Host": "evil.example"}).status_code == 403, path
        assert token_world.client.request(method, path).status_code == 401, path
    assert open_world.spy.seen == [] and token_world.spy.seen == []  # nothing reached the target
    assert open_world.client.get("/inspect/stats").status_code == 200  # this machine, as itself
    forwarded = token_world.client.get("/inspect/stats", headers={"X-Mobsim-Token": "s3cret-token"})
    assert forwarded.status_code == 200 and len(token_world.spy.seen) == 1


def test_a_recording_replays_into_a_fresh_server_with_the_same_persons_installations_and_events(
    worlds: Any, tmp_path: Path
) -> None:
    path = tmp_path / "app.jsonl"
    world = worlds(record=path)
    lifecycle(world)
    assert world.recording is not None and world.recording.requests == world.proxy.forwarder.exchanges
    assert os.stat(path).st_mode & 0o777 == 0o600
    text = path.read_text()
    assert CODE not in text and f"App {CODE[:4]}…" in text  # replay sends its own code
    header = read_header(path)
    assert header["format"] == FORMAT and header["source"] == "proxy" and header["definitions"] == []
    lines = [json.loads(line) for line in text.splitlines()[1:]]
    assert [line["definition"]["definitionId"] for line in lines if "definition" in line] == ["purchase"]
    remote = [line for line in lines if line.get("u", "").endswith("/depersonalize") and "x" in line]
    assert len(remote) == 1 and {line["p"] for line in lines if "p" in line} == {1, 2}
    fresh_loop = asyncio.new_event_loop()
    fresh = httpx.Client(transport=Direct(create_app(memory=True, app_codes=["FRESH-CODE"]), fresh_loop),
                         base_url="http://fresh.test")  # fmt: skip
    result = replay_file(path, fresh, "http://fresh.test", "FRESH-CODE", tmp_path / "ckpt")
    assert result["unexpected"] == {} and result["sent"] == world.recording.requests
    assert counts(fresh) == world.counts()
    fresh_loop.close()


def test_a_recording_never_overwrites_and_infers_definitions_that_take_every_property(tmp_path: Path) -> None:
    path = tmp_path / "kept.jsonl"
    path.write_text("precious\n")
    with pytest.raises(FileExistsError):
        ProxyRecording(path, BACKEND)
    assert path.read_text() == "precious\n"
    events = [{"definitionId": "order", "properties": {"total": 3, "paid": True, "note": None}},
              {"definitionId": "order", "properties": {"total": 2.5, "items": [{"sku": "a", "n": 1}],
                                                       "at": "2024-05-01T10:00:00Z"}}]  # fmt: skip
    items = {"name": "items", "type": "List", "fields": [{"name": "sku", "type": "String"},
                                                         {"name": "n", "type": "Decimal"}]}  # fmt: skip
    assert infer_definition("order", events) == {"definitionId": "order", "fields": [
        {"name": "total", "type": "Decimal"}, {"name": "paid", "type": "Boolean"}, {"name": "note", "type": "String"},
        items, {"name": "at", "type": "String"}]}  # fmt: skip


def test_strict_mode_reads_a_gzip_answer_so_a_create_links_its_installation(worlds: Any) -> None:
    def backend(request: httpx.Request) -> httpx.Response:
        content = gzip.compress(b'{"pushRegId":"reg-from-a-real-backend"}')
        headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(content))

    world = worlds(strict=True, target=httpx.MockTransport(backend))
    headers = {"Authorization": f"App {CODE}", "installationid": "inst-1", "User-Agent": "python"}
    assert world.client.post("/mobile/1/appinstance?ri=true", headers=headers, json={}).json() == {
        "pushRegId": "reg-from-a-real-backend"
    }
    found = world.client.get("/inspect/violations", params={"pushRegId": "reg-from-a-real-backend"}).json()
    assert {v["rule"] for v in found["violations"]} == {"HDR-APPCODE", "HDR-USER-AGENT"}


def test_a_recording_writes_one_definition_per_id_whatever_its_case(tmp_path: Path) -> None:
    recording = ProxyRecording(tmp_path / "defs.jsonl", BACKEND)
    path = "/mobile/1/appinstance/r1/user/events/custom?validate=false"
    batch = {"events": [{"definitionId": "Order", "properties": {"total": 1}}, {"definitionId": "order"}]}
    for status in (400, 200, 200):  # a refused batch teaches nothing; the next accepted one does, once
        recording.exchange("POST", path, [("installationid", "i1")], json.dumps(batch).encode(), status, b"", 0.0, 1.0)
    recording.close()
    lines = [json.loads(line) for line in (tmp_path / "defs.jsonl").read_text().splitlines()[1:]]
    definitions = [line["definition"] for line in lines if "definition" in line]
    assert definitions == [{"definitionId": "Order", "fields": [{"name": "total", "type": "Decimal"}]}]
    assert [line["s"] for line in lines if "s" in line] == [400, 200, 200]
    assert [i for i, line in enumerate(lines) if "definition" in line] == [1]  # right before the first accepted
