"""LocustTransport's two paths: the fast one (private Locust and geventhttpclient internals) and the
public ``FastHttpSession.request`` one. Both are driven in a Locust Environment with a request
listener, against a loopback server that records each request as it arrives and answers a canned
one, and must give the same request events, the same bytes on the wire, the same replies and the
same verdicts. The fast path must give way to the public one, with one warning, when an internal
it needs is missing or behaves differently, and when ``MOBSIM_LOCUST_PUBLIC_PATH`` asks for it."""

from __future__ import annotations

import gzip
import logging
import re
import socket
import socketserver
import threading
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import locust
import pytest
from geventhttpclient.url import URL
from geventhttpclient.useragent import UserAgent
from locust import FastHttpUser
from locust.contrib import fasthttp
from locust.contrib.fasthttp import FastHttpSession, LocustUserAgent
from locust.env import Environment
from locust.event import Events

from contract.endpoints import ENDPOINTS, WireRequest
from scenarios import _runtime, audience
from scenarios._request_head import DirectSender
from scenarios._runtime import PUBLIC_PATH_ENV, LocustTransport, fast_path_problem
from server_stub.serve import BackgroundServer, ServeConfig
from simulator import Outgoing, Reply

ENDPOINT = {e.name: e for e in ENDPOINTS}
DEVICE = {
    "Content-Type": "application/json",
    "Accept": "application/json",
    "Authorization": "App LOCUST-TEST",
    "User-Agent": "mobsim-test/1.0",
}
BARE = {k: v for k, v in DEVICE.items() if k != "Content-Type"}
ENVELOPE = b'{"requestError":{"serviceException":{"messageId":"%s","text":"no"}}}'


# -- a loopback server that records requests -----------------------------------------------------


def _answer(status: str, headers: list[tuple[str, str]], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(body)}"]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


JSON = [("Content-Type", "application/json")]
ANSWERS: dict[str, bytes | None] = {
    "/ok": _answer("200 OK", [*JSON, ("X-Trace-Id", "t-1"), ("X-Multi", "a"), ("X-Multi", "b")], b'{"ok":true}'),
    "/gzip": _answer("200 OK", [*JSON, ("Content-Encoding", "gzip")], gzip.compress(b'{"zipped":true}')),
    "/empty": _answer("204 No Content", [], b""),
    "/request-error": _answer("200 OK", JSON, ENVELOPE % b"SERVICE_ERROR"),
    "/expected": _answer("400 Bad Request", JSON, ENVELOPE % b"REQUEST_FORMAT_INVALID"),
    "/plain-500": _answer("500 Internal Server Error", [("Content-Type", "text/plain")], b"boom"),
    "/redirect": _answer("302 Found", [("Location", "/ok")], b""),
    "/hang": None,  # read, never answered
}
"""The canned answer by the first segment of the request target."""


class Recorder(socketserver.ThreadingTCPServer):
    """Keep-alive HTTP/1.1 on 127.0.0.1: records each request (head and body, as received)."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.seen: list[bytes] = []
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()


class _Handler(socketserver.BaseRequestHandler):
    server: Recorder

    def handle(self) -> None:
        sock, buffer = self.request, b""
        while True:
            while b"\r\n\r\n" not in buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            head, _, buffer = buffer.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
            size = int(length.group(1)) if length else 0
            while len(buffer) < size:
                chunk = sock.recv(65536)
                if not chunk:
                    return
                buffer += chunk
            body, buffer = buffer[:size], buffer[size:]
            self.server.seen.append(head + b"\r\n\r\n" + body)
            target = head.split(b" ", 2)[1].decode("latin-1")
            answer = ANSWERS["/" + target.lstrip("/").split("/", 1)[0].split("?", 1)[0]]
            if answer is not None:
                sock.sendall(answer)


@pytest.fixture(scope="module")
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


@pytest.fixture
def fresh_check(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check of the internals made anew in this test (and the earlier outcome back after it)."""
    monkeypatch.setattr(_runtime, "_INTERNALS", None)
    monkeypatch.delenv(PUBLIC_PATH_ENV, raising=False)


# -- users, requests, runs -------------------------------------------------------------------------


class PlainUser(FastHttpUser):
    abstract = True
    host = "http://127.0.0.1:9"


class DefaultsUser(FastHttpUser):
    """Default headers (one of them the User-Agent) and credentials in the host URL."""

    abstract = True
    host = "http://127.0.0.1:9"
    default_headers: ClassVar[dict[str, str]] = {"X-Load-Test": "mobsim", "User-Agent": "locust-defaults/1"}
    credentials = "mobsim:s3cret@"


class QuickUser(FastHttpUser):
    abstract = True
    host = "http://127.0.0.1:9"
    network_timeout = 0.75
    connection_timeout = 0.75


def make_user(user_class: type[FastHttpUser], host: str) -> tuple[FastHttpUser, list[dict[str, Any]]]:
    scheme, rest = host.split("://")
    host = f"{scheme}://{getattr(user_class, 'credentials', '')}{rest}"
    env = Environment(user_classes=[user_class], host=host, events=Events())
    seen: list[dict[str, Any]] = []
    env.events.request.add_listener(lambda **kw: seen.append(kw))
    user_class.host = host
    return user_class(env), seen


def outgoing(method: str, url: str, headers: dict[str, str], content: bytes | None = None) -> Outgoing:
    endpoint = ENDPOINT["get_user" if method == "GET" else "create_installation"]
    return Outgoing(method, url, dict(headers), content, WireRequest(endpoint, method, URL(url).path))


Case = tuple[str, str, dict[str, str], bytes | None, frozenset[str]]
NONE: frozenset[str] = frozenset()
CASES: list[Case] = [
    ("POST", "/ok/mobile/1/appinstance?rt=true", DEVICE, b'{"pushRegId":null}', NONE),
    ("GET", "/ok/mobile/1/appinstance/ab-1/user?ri=true&rt=false", BARE, None, NONE),
    ("DELETE", "/ok/mobile/1/appinstance/ab-1", BARE, None, NONE),
    ("POST", "/ok/mobile/1/appinstance/ab-1", {**DEVICE, "X-HTTP-Method-Override": "PATCH"}, b"{}", NONE),
    ("POST", "/ok/raw", {"Authorization": "App LOCUST-TEST"}, b"raw bytes", NONE),  # no Content-Type
    ("POST", "/ok/empty-body", DEVICE, b"", NONE),
    ("GET", "/ok/odd path/é/%7E?q=a b&r=~", BARE, None, NONE),  # quoted by the user agent (see odd_cases)
    ("GET", "/ok/lower", {"user-agent": "lower/1", "accept-encoding": "identity", "x-Mixed": "1"}, None, NONE),
    ("GET", "/gzip", BARE, None, NONE),
    ("GET", "/empty", BARE, None, NONE),
    ("POST", "/request-error", DEVICE, b"{}", NONE),
    ("POST", "/expected", DEVICE, b"{}", frozenset({"REQUEST_FORMAT_INVALID"})),
    ("POST", "/expected", DEVICE, b"{}", frozenset({"OTHER"})),
    ("GET", "/plain-500", BARE, None, NONE),
    ("GET", "/redirect", BARE, None, NONE),
]
VERDICTS = [None] * 10 + [
    "2xx answer carrying requestError",
    None,
    "400 REQUEST_FORMAT_INVALID",
    "500 without the requestError envelope",
    "302 without the requestError envelope",
]


def odd_cases() -> list[Case]:
    """CASES, with a target that older Locust versions (``URL.request_uri``: no quoting) can send."""
    if _runtime._internals().target == "quoted_uri":
        return CASES
    return [*CASES[:6], ("GET", "/ok/odd/%7E?q=%20&r=~", BARE, None, NONE), *CASES[7:]]


def needs_fast_path() -> None:
    """Skips a side-by-side test where the fast path is off (the check's own test fails there)."""
    if fast_path_problem() is not None:
        pytest.skip(f"the fast path is off: {fast_path_problem()}")


def run(transport: LocustTransport, base: str, cases: list[Case]) -> list[Reply]:
    replies = []
    for method, path, headers, content, expected in cases:
        url = path if "://" in path else base + path
        with transport.expect(expected):
            replies.append(transport.send(outgoing(method, url, headers, content)))
    return replies


def event_view(event: dict[str, Any]) -> tuple[Any, ...]:
    exc = event["exception"]
    return (
        event["request_type"],
        event["name"],
        event["url"],
        event["response_length"],
        event["context"],
        event["response"].status_code if event["response"] is not None else None,
        None if exc is None else (type(exc).__name__, str(exc)),
        type(event["response_time"]),
    )


def reply_view(reply: Reply) -> tuple[Any, ...]:
    return (reply.status, reply.content, dict(reply.headers), reply.header("x-multi"), reply.header("X-TRACE-ID"))


def both_paths(
    recorder: Recorder, user_class: type[FastHttpUser], cases: list[Case]
) -> dict[bool, tuple[list[bytes], list[tuple[Any, ...]], list[Reply]]]:
    """For the fast and the public path: what the server received, the request events, the replies."""
    results = {}
    for public in (False, True):
        user, seen = make_user(user_class, recorder.url)
        transport = LocustTransport(user.client, public_path=public)
        assert transport.fast is not public
        recorder.seen.clear()
        replies = run(transport, recorder.url, cases)
        senders = [route[1] for route in transport._clients.values()]
        # the fast path's routes send with their own heads; the public path has none
        assert bool(senders) is not public and all(isinstance(s, DirectSender) for s in senders)
        results[public] = (list(recorder.seen), [event_view(e) for e in seen], replies)
        assert len(seen) == len(cases)
    return results


# -- both paths, side by side ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("user_class", [PlainUser, DefaultsUser])
def test_both_paths_send_the_same_bytes_and_report_the_same_events_replies_and_verdicts(
    recorder: Recorder, user_class: type[FastHttpUser]
) -> None:
    needs_fast_path()
    cases = odd_cases()
    results = both_paths(recorder, user_class, cases)
    (fast_wire, fast_events, fast_replies), (public_wire, public_events, public_replies) = results[False], results[True]

    assert fast_wire == public_wire
    assert len(fast_wire) == len(cases)  # the redirect is not followed
    assert fast_events == public_events
    assert [reply_view(r) for r in fast_replies] == [reply_view(r) for r in public_replies]

    verdicts = [e[6] and e[6][1] for e in fast_events]
    assert verdicts == VERDICTS
    assert all(e[6] is None or e[6][0] == "CatchResponseError" for e in fast_events)
    assert [r.status for r in fast_replies] == [200] * 8 + [200, 204, 200, 400, 400, 500, 302]

    ok = fast_replies[0]
    assert (
        ok.content == b'{"ok":true}'
        and ok.header("x-multi") == "b"
        and ok.headers["content-type"] == "application/json"
    )
    assert fast_replies[8].content == b'{"zipped":true}'  # decoded, and its length is the decoded one
    assert fast_events[8][3] == len(b'{"zipped":true}')
    assert fast_replies[14].header("Location") == "/ok"

    heads = [raw.split(b"\r\n\r\n")[0].decode("latin-1") for raw in fast_wire]
    if cases is CASES:
        assert heads[6].startswith("GET /ok/odd%20path/%C3%A9/~?q=a%20b&r=~ HTTP/1.1\r\n")
    assert "\r\ncontent-type: application/octet-stream" in heads[4] and fast_wire[4].endswith(b"\r\n\r\nraw bytes")
    assert "\r\nContent-Length: 0" in heads[5]
    assert all("\r\nAccept-Encoding: gzip, deflate, br" in h for i, h in enumerate(heads) if i != 7)
    assert "\r\naccept-encoding: identity" in heads[7] and "\r\nuser-agent: lower/1" in heads[7]
    if user_class is DefaultsUser:
        assert all("\r\nX-Load-Test: mobsim" in h and "\r\nAuthorization: Basic " in h for h in heads)
        assert "\r\nUser-Agent: locust-defaults/1" in heads[4]
    else:
        assert "\r\nAuthorization: App LOCUST-TEST" in heads[0] and "X-Load-Test" not in heads[0]
        assert "\r\nUser-Agent: python/gevent-http-client-" in heads[4]


@pytest.mark.slow
def test_both_paths_report_a_refused_connection_and_a_timeout_as_errors_with_status_0(recorder: Recorder) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused = f"http://127.0.0.1:{closed.getsockname()[1]}"
    closed.close()
    cases: list[Case] = [
        ("POST", refused + "/ok/mobile/1/appinstance", DEVICE, b"{}", NONE),
        ("GET", refused + "/ok/mobile/1/appinstance/ab-1/user", BARE, None, NONE),
        ("POST", "/hang/mobile/1/appinstance", DEVICE, b"{}", frozenset({"ANY"})),
        ("GET", "/hang/mobile/1/appinstance/ab-1/user", BARE, None, NONE),
        ("GET", "/ok/after-the-errors", BARE, None, NONE),
    ]
    needs_fast_path()
    results = both_paths(recorder, QuickUser, cases)
    (fast_wire, fast_events, fast_replies), (public_wire, public_events, public_replies) = results[False], results[True]

    assert fast_wire == public_wire and len(fast_wire) == 3  # the two hung requests and the last one
    assert fast_events == public_events
    assert [reply_view(r) for r in fast_replies] == [reply_view(r) for r in public_replies]
    assert [r.status for r in fast_replies] == [0, 0, 0, 0, 200]
    assert all(r.content == b"" and dict(r.headers) == {} for r in fast_replies[:4])
    errors = [e[6] and e[6][0] for e in fast_events]
    assert errors[:2] == ["ConnectionRefusedError"] * 2
    assert errors[2:] == ["RetriesExceeded", "RetriesExceeded", None]  # a timeout, as the user agent reports it
    assert all(e[3] == 0 for e in fast_events[:4])


@pytest.mark.slow
def test_the_request_target_follows_the_user_agent_when_it_sends_request_uri(
    recorder: Recorder, fresh_check: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Locust before the URL quoting sent URL.request_uri; the check finds out which one it sends.
    monkeypatch.delattr(URL, "quoted_uri")
    needs_fast_path()
    assert _runtime._INTERNALS is not None
    assert _runtime._INTERNALS.target == "request_uri"
    cases: list[Case] = [("GET", "/ok/%7Etilde/x?y=%7E", BARE, None, NONE)]
    results = both_paths(recorder, PlainUser, cases)
    assert results[False][0] == results[True][0]
    assert results[False][0][0].startswith(b"GET /ok/%7Etilde/x?y=%7E HTTP/1.1\r\n")


# -- the fallback --------------------------------------------------------------------------------


def _without_retries_exceeded(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.delattr(UserAgent, "_handle_retries_exceeded")
    return "LocustUserAgent._handle_retries_exceeded"


def _failure_exceptions_as_a_list(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setattr(fasthttp, "FAILURE_EXCEPTIONS", list(fasthttp.FAILURE_EXCEPTIONS))
    return "FAILURE_EXCEPTIONS"


def _urlopen_adding_a_header(monkeypatch: pytest.MonkeyPatch) -> str:
    original = LocustUserAgent._urlopen

    def urlopen(self: LocustUserAgent, request: Any) -> Any:
        request.headers["X-Added"] = "by a newer Locust"
        return original(self, request)

    monkeypatch.setattr(LocustUserAgent, "_urlopen", urlopen)
    return "LocustUserAgent._urlopen (method, body and headers sent as they are)"


def _error_response_reshaped(monkeypatch: pytest.MonkeyPatch) -> str:
    class ErrorResponse(fasthttp.ErrorResponse):  # type: ignore[misc]
        def __init__(self, error: Exception) -> None:
            super().__init__(None, error)

    monkeypatch.setattr(fasthttp, "ErrorResponse", ErrorResponse)
    return "ErrorResponse(request, error)"


BREAKS = [_without_retries_exceeded, _failure_exceptions_as_a_list, _urlopen_adding_a_header, _error_response_reshaped]


@pytest.mark.parametrize("brk", BREAKS, ids=lambda f: f.__name__.strip("_"))
def test_a_missing_or_changed_internal_turns_the_fast_path_off_with_one_warning(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, brk: Callable[..., str]
) -> None:
    needs_fast_path()  # else the check stops at another internal
    monkeypatch.setattr(_runtime, "_INTERNALS", None)
    missing = brk(monkeypatch)
    with caplog.at_level(logging.WARNING, logger="mobsim.scenarios"):
        transports = [LocustTransport(make_user(PlainUser, "http://127.0.0.1:9")[0].client) for _ in range(3)]
    assert not any(t.fast for t in transports)
    problem = fast_path_problem()
    assert problem is not None and missing in problem
    warnings = [r for r in caplog.records if r.name == "mobsim.scenarios" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert missing in message and "public FastHttpSession.request path" in message
    assert f"locust {locust.__version__}" in message


def test_the_check_passes_on_the_installed_versions_and_names_what_it_checked(fresh_check: None) -> None:
    assert fast_path_problem() is None
    internals = _runtime._INTERNALS
    assert internals is not None and internals.agent_type is LocustUserAgent
    assert internals.failures is fasthttp.FAILURE_EXCEPTIONS and internals.error_response is fasthttp.ErrorResponse
    assert internals.target in ("quoted_uri", "request_uri")  # the user agent's own quoting, or none
    doc = fast_path_problem.__doc__ or ""
    for name in ("FAILURE_EXCEPTIONS", "ErrorResponse", "auth_header", "request_event", "clientpool.get_client",
                 "default_headers", "response_type", "_make_request", "_handle_error", "_handle_retries_exceeded",
                 "_urlopen", "quoted_uri", "_sent_request"):  # fmt: skip
        assert name in doc


def test_only_a_plain_fast_http_session_without_retries_takes_the_fast_path(fresh_check: None) -> None:
    class Retrying(PlainUser):
        abstract = True
        max_retries = 2

    class Session(FastHttpSession):
        pass

    user = make_user(PlainUser, "http://127.0.0.1:9")[0]
    assert LocustTransport(user.client).fast is (fast_path_problem() is None)
    assert not LocustTransport(user.client, public_path=True).fast
    assert not LocustTransport(make_user(Retrying, "http://127.0.0.1:9")[0].client).fast
    assert not LocustTransport(
        Session("http://127.0.0.1:9", request_event=user.environment.events.request, user=user)
    ).fast


@pytest.mark.parametrize(("value", "fast"), [("1", False), ("true", False), ("YES", False), ("0", True), ("", True)])
def test_the_environment_switch_chooses_the_public_path(
    fresh_check: None, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str, fast: bool
) -> None:
    monkeypatch.setenv(PUBLIC_PATH_ENV, value)
    with caplog.at_level(logging.WARNING, logger="mobsim.scenarios"):
        transport = LocustTransport(make_user(PlainUser, "http://127.0.0.1:9")[0].client)
    if fast:
        assert transport.fast is (fast_path_problem() is None)
    else:
        assert not transport.fast and _runtime._INTERNALS is None  # the switch skips the check altogether
        assert not caplog.records
    assert PUBLIC_PATH_ENV in (LocustTransport.__doc__ or "")


class Spy:
    """Counts the calls of ``FastHttpSession.request`` (the public path) and passes them on."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        original = FastHttpSession.request

        def request(session: FastHttpSession, *args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(session, *args, **kwargs)

        monkeypatch.setattr(FastHttpSession, "request", request)


SENDING_BREAKS = [b for b in BREAKS if b is not _failure_exceptions_as_a_list]  # that one breaks Locust too


@pytest.mark.slow
@pytest.mark.parametrize(
    "brk", [*SENDING_BREAKS, None], ids=[*(f.__name__.strip("_") for f in SENDING_BREAKS), "env-switch"]
)
def test_the_fallback_sends_every_request_over_the_public_path(
    recorder: Recorder,
    fresh_check: None,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    brk: Callable[..., str] | None,
) -> None:
    if brk is None:
        monkeypatch.setenv(PUBLIC_PATH_ENV, "1")
    else:
        brk(monkeypatch)
    spy = Spy(monkeypatch)
    cases = [CASES[0], CASES[1], CASES[10], CASES[11]]
    with caplog.at_level(logging.WARNING, logger="mobsim.scenarios"):
        for _ in range(2):
            user, seen = make_user(PlainUser, recorder.url)
            transport = LocustTransport(user.client)
            replies = run(transport, recorder.url, cases)
            assert [r.status for r in replies] == [200, 200, 200, 400]
            assert [e["exception"] is None for e in seen] == [True, True, False, True]
    assert spy.calls == 2 * len(cases)
    assert len(caplog.records) == (0 if brk is None else 1)


# -- the scenario's users on the public path -------------------------------------------------------


TASKS = list(audience.MobileAudience.tasks)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServeConfig(port=0, app_codes=["LOCUST-TEST"])) as running:
        yield running


def scenario_env(server: BackgroundServer) -> tuple[Environment, list[dict[str, Any]]]:
    from locust.argument_parser import parse_options

    audience._STATE.update(run=None, parts={})
    audience.MobileAudience.tasks = list(TASKS)
    audience.MobileAudience.host = server.url
    opts = parse_options(
        ["-f", "scenarios", "--host", server.url, "--app-code", "LOCUST-TEST", "--think-time", "0",
         "--population", "200", "--installed-base", "no", "--seed", "7"]
    )  # fmt: skip
    env = Environment(
        user_classes=[audience.MobileAudience], host=server.url, events=locust.events, parsed_options=opts
    )
    seen: list[dict[str, Any]] = []
    env.events.request.add_listener(lambda **kw: seen.append(kw))
    env.create_local_runner()
    env.events.init.fire(environment=env, runner=env.runner, web_ui=None)
    env.events.test_start.fire(environment=env)
    return env, seen


@pytest.mark.slow
@pytest.mark.parametrize("public", [False, True], ids=["fast", "public"])
def test_the_scenario_sessions_succeed_on_either_path(
    server: BackgroundServer, fresh_check: None, monkeypatch: pytest.MonkeyPatch, public: bool
) -> None:
    if public:
        monkeypatch.setenv(PUBLIC_PATH_ENV, "1")
    spy = Spy(monkeypatch)
    env, seen = scenario_env(server)
    try:
        user = audience.MobileAudience(env)
        assert user.transport.fast is (not public and fast_path_problem() is None)
        for task in (user.browser, user.login, user.multidevice, user.shopper, user.churner, user.newinstall):
            for _ in range(2):
                task()
        names = {kw["name"] for kw in seen}
        # zero think time: sessions of no length, which iOS does not record (its first tick is 5 s
        # after the start) and Android reports at a later sync (a first registration is the create
        # alone); the session reports of real runs are pinned by tests/scenarios/test_run_command.py
        assert "POST /mobile/1/appinstance" in names
        assert all(kw["exception"] is None for kw in seen), [kw["exception"] for kw in seen if kw["exception"]]
        assert spy.calls == (len(seen) if public else 0)
        tally = audience._STATE["run"].tally.counts
        assert (tally["sessions"], tally["aborted"], tally["unavailable"]) == (12, 0, 0)
    finally:
        env.events.test_stop.fire(environment=env)
