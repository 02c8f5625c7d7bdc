"""The server's connection limits (server_stub/protocol.py) and error containment (server_stub/app.py),
on real loopback sockets: what a careless or hostile client can no longer do to ``mobsim serve``."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import PlainTextResponse

from server_stub import create_app
from server_stub.protocol import ConnectionLimits, protocol_class

pytestmark = pytest.mark.slow


def _app() -> FastAPI:
    app = create_app(memory=True)

    @app.get("/test/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    @app.get("/test/abort")
    async def abort(request: Request) -> PlainTextResponse:
        request.scope["extensions"]["mobsim.abort"]()
        return PlainTextResponse("never sent")

    return app


@contextmanager
def serving(limits: ConnectionLimits) -> Iterator[tuple[str, int]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    config = uvicorn.Config(_app(), log_level="critical", lifespan="off", http=protocol_class(limits))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.005)
    try:
        yield sock.getsockname()[:2]
    finally:
        server.should_exit = True
        thread.join(5)
        sock.close()


def _connect(address: tuple[str, int]) -> socket.socket:
    client = socket.create_connection(address, timeout=3)
    return client


def _answer(client: socket.socket) -> bytes:
    """One whole HTTP answer (headers and a Content-Length body), or what came before the close."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = client.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")), 0
    )
    while len(body) < length:
        chunk = client.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def _closed(client: socket.socket) -> bool:
    try:
        return client.recv(1) == b""
    except ConnectionResetError:
        return True


def _request(path: str = "/inspect/applications", extra: bytes = b"") -> bytes:
    return b"GET " + path.encode() + b" HTTP/1.1\r\nhost: t\r\n" + extra + b"\r\n"


def _padded(total: int) -> bytes:
    """A request whose counted header bytes (request target, and each header's name and value + 4)
    are exactly ``total``."""
    base = len("/inspect/applications") + len("host") + len("t") + 4
    pad = total - base - len("x-pad") - 4
    return _request(extra=b"x-pad: " + b"a" * pad + b"\r\n")


def test_headers_up_to_the_limit_are_answered_and_one_byte_more_gets_431() -> None:
    with serving(ConnectionLimits(max_header_bytes=2048)) as address:
        at_limit = _connect(address)
        at_limit.sendall(_padded(2048))
        assert _answer(at_limit).startswith(b"HTTP/1.1 200")
        over = _connect(address)
        over.sendall(_padded(2049))
        answer = _answer(over)
        assert answer.startswith(b"HTTP/1.1 431") and b"exceed 2048 bytes" in answer
        assert _closed(over)


def test_an_endless_header_block_is_cut_at_the_limit_not_buffered() -> None:
    with serving(ConnectionLimits(max_header_bytes=4096)) as address:
        client = _connect(address)
        client.sendall(b"GET / HTTP/1.1\r\nhost: t\r\n")
        answer = b""
        try:
            for _ in range(200):  # 1.6 MB offered; the server answers and closes after ~4 KB
                client.sendall(b"x-junk: " + b"b" * 8000 + b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = _answer(client)
        assert answer.startswith(b"HTTP/1.1 431")


def test_a_silent_connection_and_a_slowloris_are_closed_at_the_request_deadline() -> None:
    with serving(ConnectionLimits(request_timeout=0.4)) as address:
        silent, slow, prompt = _connect(address), _connect(address), _connect(address)
        slow.sendall(b"GET /inspect/applications HTTP/1.1\r\n")
        start = time.monotonic()
        slow.sendall(b"host: t\r\n")  # a byte now and then does not extend the deadline
        time.sleep(0.2)
        slow.sendall(b"x-a: b\r\n")
        prompt.sendall(_request())
        assert _answer(prompt).startswith(b"HTTP/1.1 200")
        assert _closed(silent) and _closed(slow)
        assert 0.3 < time.monotonic() - start < 2.0
        prompt.sendall(_request())  # an answered connection is idle: the keep-alive timeout governs it
        assert _answer(prompt).startswith(b"HTTP/1.1 200")


def test_over_the_connection_cap_the_longest_idle_connection_makes_room() -> None:
    with serving(ConnectionLimits(max_connections=3)) as address:
        first, second, third = (_connect(address) for _ in range(3))
        for client in (first, second, third):
            client.sendall(_request())
            assert _answer(client).startswith(b"HTTP/1.1 200")
            time.sleep(0.01)
        fourth = _connect(address)
        fourth.sendall(_request())
        assert _answer(fourth).startswith(b"HTTP/1.1 200")
        assert _closed(first)
        second.sendall(_request())
        assert _answer(second).startswith(b"HTTP/1.1 200")


def test_with_every_connection_busy_a_new_one_gets_503() -> None:
    with serving(ConnectionLimits(max_connections=2)) as address:
        busy = [_connect(address) for _ in range(2)]
        for client in busy:
            client.sendall(b"GET / HTTP/1.1\r\n")  # a request under way: not idle
        time.sleep(0.05)
        extra = _connect(address)
        answer = _answer(extra)
        assert answer.startswith(b"HTTP/1.1 503") and b"too many connections" in answer


def test_a_bug_answers_500_with_the_envelope_and_the_connection_stays_open() -> None:
    with serving(ConnectionLimits()) as address:
        client = _connect(address)
        for _ in range(3):
            client.sendall(_request("/test/boom"))
            answer = _answer(client)
            assert answer.startswith(b"HTTP/1.1 500")
            assert b'"messageId":"INTERNAL_ERROR"' in answer.replace(b" ", b"")
            assert b"connection: close" not in answer.lower()
        client.sendall(_request())
        assert _answer(client).startswith(b"HTTP/1.1 200")


def test_the_abort_extension_resets_the_connection_with_no_answer() -> None:
    with serving(ConnectionLimits()) as address:
        client = _connect(address)
        client.sendall(_request("/test/abort"))
        with pytest.raises(ConnectionResetError):  # a reset: an orderly close would read b""
            client.recv(1024)


def test_limits_refuse_nonsense() -> None:
    for bad, message in (
        ({"max_header_bytes": 1023}, "at least 1024"),
        ({"request_timeout": 0}, "positive"),
        ({"max_connections": 0}, "at least 1"),
    ):
        kwargs: dict[str, Any] = bad
        with pytest.raises(ValueError, match=message):
            ConnectionLimits(**kwargs)
    ConnectionLimits(max_header_bytes=1024, request_timeout=0.001, max_connections=1)
