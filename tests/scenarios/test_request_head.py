"""The transport's own request head (``DirectSender``): the bytes geventhttpclient's
``HTTPClient.request`` would send, the same answer and the same errors at each point where it would
make a second attempt (issue 16: the generator's CPU per request)."""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from typing import Any

import gevent.socket
import pytest
from geventhttpclient.client import HTTPClient
from geventhttpclient.header import Headers

from scenarios import _runtime
from scenarios._connections import ConnectionWatch
from scenarios._request_head import DirectSender, head_problem
from server_stub.inprocess import InProcessServer
from simulator import AppConfig, Outgoing, VirtualClock, VirtualDevice
from simulator.transport import InProcessTransport, RecordingTransport

CODE = "HEAD-APP"
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


def device_requests() -> list[Outgoing]:
    """Every request of a few devices' lives (three platforms, several SDK versions each), as the
    simulator makes them against the reference server in this process."""
    clock = VirtualClock(1_714_557_600.0)
    server = InProcessServer(CODE, clock=clock)
    seen: list[Outgoing] = []
    transport = RecordingTransport(InProcessTransport(server), lambda request, reply, error: seen.append(request))
    for seed, platform in enumerate(["android", "ios", "huawei"] * 3):
        app = AppConfig(CODE, base_url="http://127.0.0.1:18080")
        phone = VirtualDevice.create(platform, app, seed=seed, transport=transport, clock=clock)
        phone.start()
        phone.personalize({"externalUserId": f"head-{seed}", "emails": [f"h{seed}@example.com"]})
        phone.save_user(firstName="Zoë", customAttributes={"tier": "gold"})
        phone.save_installation(customAttributes={"beta": True})
        phone.fetch_user()
        phone.fetch_installation()
        phone.submit_event("purchase", {"total": 1.5})
        phone.advance(40)
        phone.background()
        phone.advance(5)
        phone.foreground()
        phone.sync()
        phone.depersonalize()
        phone.advance(10)
    return seen


@pytest.fixture(scope="module")
def requests() -> list[Outgoing]:
    return device_requests()


def test_the_heads_built_here_equal_geventhttpclients_on_the_installed_version() -> None:
    assert head_problem() is None


def test_every_device_request_gets_the_head_geventhttpclient_builds(requests: list[Outgoing]) -> None:
    client = HTTPClient("127.0.0.1", 18080, headers={"User-Agent": "python/gevent-http-client"})
    sender = DirectSender(client)
    methods = {r.method for r in requests}
    assert {"GET", "POST"} <= methods and len(requests) > 100
    for request in requests:
        target = request.url[len("http://127.0.0.1:18080") :]
        body = request.content or b""
        theirs = client._build_request(request.method, target, body=body, headers=request.headers)
        assert sender.head(request.method, target, body, request.headers) == theirs


# -- the send, on a socket pair --------------------------------------------------------------------


class Pool:
    """A connection pool of one socket pair: the sender gets one end, the test holds the other."""

    size = 10

    def __init__(self, broken_send: OSError | None = None) -> None:
        self.ours, self.theirs = gevent.socket.socketpair()
        self.broken_send = broken_send
        self.taken = self.returned = self.released = 0

    def get_socket(self) -> Any:
        self.taken += 1
        if self.broken_send is None:
            return self.ours
        return _BrokenSend(self.ours, self.broken_send)

    def return_socket(self, sock: Any) -> None:
        self.returned += 1

    def release_socket(self, sock: Any) -> None:
        self.released += 1

    def _create_socket(self) -> Any:  # what a connection watch wraps
        raise AssertionError("no new connection in these tests")

    def received(self) -> bytes:
        self.theirs.setblocking(False)
        data = b""
        try:
            while chunk := self.theirs.recv(65536):
                data += chunk
        except BlockingIOError:
            pass
        return data

    def close(self) -> None:
        self.ours.close()
        self.theirs.close()


class _BrokenSend:
    def __init__(self, sock: Any, error: OSError) -> None:
        self.sock, self.error = sock, error

    def sendall(self, data: bytes) -> None:
        raise self.error

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sock, name)


class Client(HTTPClient):
    """An ``HTTPClient`` whose pool is a :class:`Pool` and whose own ``request`` is counted."""

    def __init__(self, pool: Pool) -> None:
        super().__init__("127.0.0.1", 18080)
        self._connection_pool = pool  # type: ignore[assignment]
        self.own_requests = 0

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self.own_requests += 1
        raise LookupError("left to HTTPClient.request")


@pytest.fixture
def pool() -> Iterator[Pool]:
    made = Pool()
    yield made
    made.close()


def test_a_request_goes_out_as_head_and_body_in_one_write_and_its_answer_is_read(pool: Pool) -> None:
    client = Client(pool)
    pool.theirs.sendall(OK)
    headers = {"Authorization": "App x", "Content-Type": "application/json"}
    response = DirectSender(client).request("post", "/mobile/1/appinstance?rt=true", b'{"a":1}', headers)
    head = client._build_request("POST", "/mobile/1/appinstance?rt=true", body=b'{"a":1}', headers=headers)
    assert pool.received() == head.encode("latin-1") + b'{"a":1}'
    assert response.status_code == 200 and response.read() == b'{"ok":true}'
    assert response._sent_request == head and head.startswith("POST /mobile/1/appinstance?rt=true HTTP/1.1\r\n")
    response.release()
    assert (pool.taken, pool.returned, pool.released, client.own_requests) == (1, 1, 0, 0)


def _as_sender(client: HTTPClient) -> Any:
    return lambda method, target, body, headers: client.request(method, target, body=body, headers=headers)


def _outcome(pool: Pool, send: Any, method: str, body: bytes) -> tuple[Any, ...]:
    try:
        response = send(method, "/x", body, {"Content-Type": "application/json"})
    except Exception as exc:
        return (type(exc).__name__, str(exc), pool.taken, pool.released, pool.received())
    outcome = (response.status_code, response.read(), response._sent_request, pool.taken, pool.received())
    response.release()
    return (*outcome, pool.returned, pool.released)


WHAT_THE_PEER_DOES = {
    "answers": (None, OK, False),
    "closes before any answer": (None, b"", True),
    "answers, then the send breaks (reset)": (OSError(errno.ECONNRESET, "reset"), OK, False),
    "closes, then the send breaks (pipe)": (OSError(errno.EPIPE, "broken pipe"), b"", True),
    "sends garbage, then the send breaks": (OSError(errno.ECONNRESET, "reset"), b"NOT HTTP\r\n\r\n", True),
    "times the send out": (OSError(errno.ETIMEDOUT, "timed out"), b"", False),
}


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
@pytest.mark.parametrize("peer", list(WHAT_THE_PEER_DOES))
def test_each_outcome_of_a_send_is_what_http_client_request_gives_under_a_watch(method: str, peer: str) -> None:
    """Side by side with geventhttpclient's own ``request`` (its second attempt turned into
    ``AnotherAttempt`` by the watch, as the transport runs it): the same answer or error, the same
    bytes received, the same sockets taken, returned and released."""
    broken, answer, close = WHAT_THE_PEER_DOES[peer]
    body = b"" if method in ("GET", "DELETE") else b'{"a":1}'
    outcomes = []
    for direct in (False, True):
        pool = Pool(broken)
        try:
            client = HTTPClient("127.0.0.1", 18080)
            client._connection_pool = pool  # type: ignore[assignment]
            watch = ConnectionWatch(pool)
            pool.theirs.sendall(answer)
            if close:
                pool.theirs.shutdown(gevent.socket.SHUT_WR)
            send = DirectSender(client).request if direct else _as_sender(client)
            watch.begin()
            outcomes.append(_outcome(pool, send, method, body))
            watch.end()
        finally:
            pool.close()
    assert outcomes[1] == outcomes[0]
    idempotent = method in ("GET", "PUT", "DELETE")
    expected = {
        "answers": 200,
        "answers, then the send breaks (reset)": 200,
        "times the send out": "TimeoutError",
        "sends garbage, then the send breaks": "AnotherAttempt" if idempotent else "HTTPParseError",
    }.get(peer, "AnotherAttempt" if idempotent else "HTTPConnectionClosed")
    assert outcomes[0][0] == expected


@pytest.mark.parametrize("body", [None, b""])
def test_a_request_without_a_body_goes_out_with_the_head_built_here(pool: Pool, body: bytes | None) -> None:
    client = Client(pool)
    pool.theirs.sendall(OK)
    response = DirectSender(client).request("GET", "/mobile/3/appinstance/r-1/user", body, {"Accept": "x"})
    assert response.status_code == 200 and (pool.taken, client.own_requests) == (1, 0)
    assert pool.received() == client._build_request("GET", "/mobile/3/appinstance/r-1/user", body=b"",
                                                    headers={"Accept": "x"}).encode()  # fmt: skip
    response.release()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (b"{}", {"Transfer-Encoding": "chunked"}),
        (b"{}", {"expect": "100-continue"}),
        (b"", {"X-Count": 3}),
        ("text", {}),
        (b"", Headers([("X-Multi", "a"), ("X-Multi", "b")])),
    ],
    ids=["chunked", "expect", "non-str value", "str body", "not a plain dict"],
)
def test_what_the_sender_does_not_build_is_left_to_http_client_request(pool: Pool, body: Any, headers: Any) -> None:
    client = Client(pool)
    with pytest.raises(LookupError, match=r"left to HTTPClient\.request"):
        DirectSender(client).request("POST", "/x", body, headers)
    assert client.own_requests == 1 and pool.taken == 0


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        ("GET", "/", {"Bad Name": "x"}),
        ("GET", "/", {"X": "a\r\nb"}),
        ("GET", "/", {"X": "\x00"}),
        ("GET", "/", {"X": "a\x7fb"}),
        ("GET", "/", {"X": "price in \u20ac"}),
        ("GET", "/", {"K\u212a": "a kelvin sign, lower-cased k"}),
        ("G T", "/", {}),
        ("GET", "/a b", {}),
        ("GET", "//host/x", {}),
    ],
)
def test_a_malformed_request_raises_geventhttpclients_error_before_any_socket_is_taken(
    pool: Pool, method: str, target: str, headers: dict[str, str]
) -> None:
    client = Client(pool)
    with pytest.raises(ValueError) as theirs:
        client._build_request(method, target, body=b"", headers=headers)
    with pytest.raises(ValueError) as ours:
        DirectSender(client).request(method, target, b"", headers)
    assert str(ours.value) == str(theirs.value) and pool.taken == 0


def test_a_client_through_a_proxy_or_with_a_multi_line_default_is_not_stood_in_for() -> None:
    assert DirectSender.usable(HTTPClient("127.0.0.1", 18080))
    assert not DirectSender.usable(HTTPClient("127.0.0.1", 18080, proxy_host="127.0.0.1", proxy_port=3128))
    assert not DirectSender.usable(HTTPClient("127.0.0.1", 18080, headers={"X-Multi": ["a", "b"]}))
    assert not DirectSender.usable(object())


def test_a_client_of_another_class_or_header_type_is_not_stood_in_for() -> None:
    class OwnRequest(HTTPClient):
        def request(self, *args: Any, **kwargs: Any) -> Any:
            return super().request(*args, **kwargs)

    class OwnHead(HTTPClient):
        def _build_request(self, *args: Any, **kwargs: Any) -> str:
            return super()._build_request(*args, **kwargs)

    class OwnHeaders(Headers):
        pass

    assert not DirectSender.usable(OwnRequest("127.0.0.1", 18080))
    assert not DirectSender.usable(OwnHead("127.0.0.1", 18080))
    assert not DirectSender.usable(HTTPClient("127.0.0.1", 18080, headers_type=OwnHeaders))

    class Plain(HTTPClient):  # a subclass that changes neither: stood in for
        pass

    assert DirectSender.usable(Plain("127.0.0.1", 18080))


def test_a_changed_http_client_method_is_named_by_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    built = HTTPClient._build_request

    def rewritten(self: HTTPClient, *args: Any, **kwargs: Any) -> str:
        return built(self, *args, **kwargs)

    monkeypatch.setattr(HTTPClient, "_build_request", rewritten)
    assert head_problem() == "HTTPClient._build_request is not the one this sender repeats (geventhttpclient 2.6.1's)"
    monkeypatch.undo()
    sent = HTTPClient.request

    def resent(self: HTTPClient, *args: Any, **kwargs: Any) -> Any:
        return sent(self, *args, **kwargs)

    monkeypatch.setattr(HTTPClient, "request", resent)
    assert head_problem() == "HTTPClient.request is not the one this sender repeats (geventhttpclient 2.6.1's)"


@pytest.mark.parametrize(
    ("method", "target", "body", "added"),
    [("POST", "/mobile/1/appinstance/r-1/depersonalize", b"", "Content-Length: 0\r\n"),
     ("GET", "/mobile/3/appinstance/r-1/user?ri=true", b"", "Host: 127.0.0.1:8089\r\n"),
     ("PUT", "/y?é", b"{}", "Content-Length: 2\r\n")],
)  # fmt: skip
def test_a_head_that_differs_turns_the_sender_off_with_one_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, method: str, target: str, body: bytes, added: str
) -> None:
    """The heads' comparison catches each rule the sender repeats (here: one of them dropped)."""
    if _runtime.fast_path_problem() is not None:
        pytest.skip("the fast path is off")
    head = DirectSender.head

    def without_a_line(self: DirectSender, m: str, t: str, b: bytes, h: Any) -> str | None:
        built = head(self, m, t, b, h)
        return built.replace(added, "") if built is not None and (m, t) == (method, target) else built

    monkeypatch.setattr(DirectSender, "head", without_a_line)
    problem = head_problem() or ""
    assert problem.startswith(f"HTTPClient._build_request({method} {target})") and added.strip() in problem
    monkeypatch.setattr(_runtime, "_INTERNALS", None)
    with caplog.at_level(logging.WARNING, logger="mobsim.scenarios"):
        internals = _runtime._internals()
    assert internals.problem is None and internals.direct is False
    assert [r.getMessage()[:46] for r in caplog.records] == ["request heads built by geventhttpclient (slowe"]
    monkeypatch.undo()
    _runtime._INTERNALS = None  # checked again with the real sender
    assert _runtime._internals().direct is True
