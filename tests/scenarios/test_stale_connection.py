"""The Locust transport sends a request again, once, when the reused keep-alive connection it went
out on broke before any byte of the answer (as OkHttp and URLSession do), on both of its paths.

A loopback server plays a script, one step per request it reads: answer, close the connection
without a byte, or send half a status line and close. Each case checks what Locust recorded (one
request event per device request), the transport's counter, and what the server received.
"""

from __future__ import annotations

import re
import socketserver
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from geventhttpclient.url import URL
from locust import FastHttpUser
from locust.env import Environment
from locust.event import Events

from contract.endpoints import ENDPOINTS, WireRequest
from scenarios._runtime import STALE_RETRIES, LocustTransport, fast_path_problem
from simulator import Outgoing

pytestmark = pytest.mark.slow

ENDPOINT = {e.name: e for e in ENDPOINTS}
HEADERS = {"Content-Type": "application/json", "Authorization": "App STALE-TEST", "User-Agent": "mobsim-test/1"}
OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


class Scripted(socketserver.ThreadingTCPServer):
    """Keep-alive HTTP/1.1 on 127.0.0.1 that plays ``script``: for each request read, the next step
    (``ok`` when the script is done): ``ok`` answers, ``close`` closes the connection without a
    byte, ``partial`` sends part of a status line and closes."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list[str] = []
        self.seen: list[tuple[int, str]] = []
        """(connection number, request line) of each request read."""
        self.connections = 0
        self.lock = threading.Lock()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def step(self, connection: int, line: str) -> str:
        with self.lock:
            self.seen.append((connection, line))
            return self.script.pop(0) if self.script else "ok"


class _Handler(socketserver.BaseRequestHandler):
    server: Scripted

    def handle(self) -> None:
        with self.server.lock:
            self.server.connections += 1
            number = self.server.connections
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
                buffer += sock.recv(65536)
            buffer = buffer[size:]
            step = self.server.step(number, head.split(b"\r\n", 1)[0].decode("latin-1"))
            if step == "close":
                return  # the handler's end closes the socket: not one byte of an answer
            if step == "partial":
                sock.sendall(b"HTTP/1.1 200 O")
                return
            sock.sendall(OK)


@pytest.fixture
def server() -> Iterator[Scripted]:
    running = Scripted()
    yield running
    running.shutdown()
    running.server_close()


class StaleUser(FastHttpUser):
    abstract = True
    host = "http://127.0.0.1:9"
    network_timeout = 3.0
    connection_timeout = 3.0


def transport(server: Scripted, public: bool) -> tuple[LocustTransport, list[dict[str, Any]]]:
    if not public and fast_path_problem() is not None:
        pytest.skip(f"the fast path is off: {fast_path_problem()}")
    env = Environment(user_classes=[StaleUser], host=server.url, events=Events())
    seen: list[dict[str, Any]] = []
    env.events.request.add_listener(lambda **kw: seen.append(kw))
    StaleUser.host = server.url
    carrier = LocustTransport(StaleUser(env).client, public_path=public)
    assert carrier.fast is not public
    return carrier, seen


def request(server: Scripted, method: str, retry_stale: bool) -> Outgoing:
    name = "get_user" if method == "GET" else "create_installation"
    path = "/mobile/1/appinstance/r-1/user" if method == "GET" else "/mobile/1/appinstance"
    content = None if method == "GET" else b"{}"
    wire = WireRequest(ENDPOINT[name], method, path)
    return Outgoing(method, server.url + path, dict(HEADERS), content, wire, retry_stale=retry_stale)


def outcome(event: dict[str, Any]) -> str | None:
    exc = event["exception"]
    return None if exc is None else type(exc).__name__


PATHS = pytest.mark.parametrize("public", [False, True], ids=["fast", "public"])


@PATHS
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_reused_connection_that_closed_before_the_answer_is_retried_once_and_recorded_once(
    server: Scripted, public: bool, method: str
) -> None:
    carrier, seen = transport(server, public)
    server.script = ["ok", "close", "ok"]
    assert carrier.send(request(server, method, True)).status == 200
    assert carrier.send(request(server, method, True)).status == 200
    assert [outcome(e) for e in seen] == [None, None]  # Locust recorded each device request once
    assert carrier.counts[STALE_RETRIES] == 1
    assert [number for number, _ in server.seen] == [1, 1, 2]  # the retry went on a new connection


@PATHS
def test_a_request_whose_client_would_not_retry_fails_on_a_stale_connection(server: Scripted, public: bool) -> None:
    carrier, seen = transport(server, public)
    server.script = ["ok", "close"]
    carrier.send(request(server, "POST", True))
    assert carrier.send(request(server, "POST", False)).status == 0  # URLSession and a POST: -1005
    assert [outcome(e) for e in seen] == [None, "HTTPConnectionClosed"]
    assert carrier.counts[STALE_RETRIES] == 0 and len(server.seen) == 2


@PATHS
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_fresh_connection_that_broke_is_not_retried(server: Scripted, public: bool, method: str) -> None:
    carrier, seen = transport(server, public)
    server.script = ["close"]
    assert carrier.send(request(server, method, True)).status == 0
    assert [outcome(e) for e in seen] == ["HTTPConnectionClosed"]
    assert carrier.counts[STALE_RETRIES] == 0 and len(server.seen) == 1  # not even geventhttpclient's own retry


@PATHS
def test_a_connection_that_broke_after_part_of_the_answer_is_not_retried(server: Scripted, public: bool) -> None:
    carrier, seen = transport(server, public)
    server.script = ["ok", "partial"]
    carrier.send(request(server, "POST", True))
    assert carrier.send(request(server, "POST", True)).status == 0
    assert outcome(seen[-1]) is not None and len(seen) == 2
    assert carrier.counts[STALE_RETRIES] == 0 and len(server.seen) == 2


@PATHS
@pytest.mark.parametrize("method", ["POST", "GET"])
def test_a_request_is_never_retried_twice(server: Scripted, public: bool, method: str) -> None:
    carrier, seen = transport(server, public)
    server.script = ["ok", "close", "close", "close", "close"]
    carrier.send(request(server, method, True))
    assert carrier.send(request(server, method, True)).status == 0
    assert [outcome(e) for e in seen] == [None, "HTTPConnectionClosed"]
    assert carrier.counts[STALE_RETRIES] == 1
    assert [number for number, _ in server.seen] == [1, 1, 2]  # the reused one, then one fresh attempt
    assert carrier.send(request(server, method, True)).status == 0  # a fresh connection again: no retry
    assert carrier.counts[STALE_RETRIES] == 1 and len(server.seen) == 4


def test_transports_of_a_process_share_their_counter(server: Scripted) -> None:
    counts: dict[str, int] = {}
    env = Environment(user_classes=[StaleUser], host=server.url, events=Events())
    StaleUser.host = server.url
    first = LocustTransport(StaleUser(env).client, counts=counts)
    second = LocustTransport(StaleUser(env).client, counts=counts)
    assert first.counts is second.counts is counts and counts == {STALE_RETRIES: 0}
    server.script = ["ok", "close", "ok"]
    first.send(request(server, "POST", True))
    first.send(request(server, "POST", True))
    assert counts[STALE_RETRIES] == 1
    assert URL(server.url).host == "127.0.0.1"
