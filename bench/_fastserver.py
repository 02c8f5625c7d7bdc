"""A fast loopback stand-in for the Mobile API, for generator benches (asyncio + uvloop + httptools).

It answers the SDK endpoints with canned valid answers and keeps only what a device needs to read
back: a unique ``pushRegId`` per created installation and the user each installation was
personalized with (so a later ``GET .../user`` returns it, as the reference server would).

- ``POST /mobile/1/appinstance`` → an installation with a new ``pushRegId``
- ``POST .../personalize`` → the identity and attributes sent, as a user with ``instances: []``
- ``GET .../user`` → the stored user (or an empty one) with ``instances: []``
- ``GET /mobile/1/appinstance/{id}`` → an installation
- ``POST /mobile/5/messages`` → ``{"payloads":[]}``
- ``GET /bench/stats`` → the server's counters (requests, bytes in and out); not counted itself
- anything else → 200 with an empty body

Run ``python bench/_fastserver.py [PORT]``: it binds 127.0.0.1 only and prints ``PORT <n>`` once
it listens (``0`` picks a free port).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import sys
from typing import Any

import httptools
import uvloop

_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
_EMPTY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
_BAD = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
_MESSAGES = b'{"payloads":[]}'
_APPINSTANCE = b"/mobile/1/appinstance"


class Stats:
    requests = 0
    bytes_in = 0
    body_in = 0
    bytes_out = 0


_ids = itertools.count(1)
_users: dict[bytes, bytes] = {}


def _installation(reg_id: bytes) -> bytes:
    return b'{"pushRegId":"%s","regEnabled":true,"isPrimary":false,"notificationsEnabled":true}' % reg_id


def _user_of(body: bytes) -> bytes:
    try:
        data = json.loads(body)
        user: dict[str, Any] = {**data.get("userIdentity", {}), **data.get("userAttributes", {})}
    except (ValueError, AttributeError, TypeError):
        user = {}
    user["type"] = "CUSTOMER" if user.get("externalUserId") else "LEAD"
    user["instances"] = []
    return json.dumps(user, separators=(",", ":")).encode()


def answer(method: bytes, path: bytes, body: bytes) -> bytes:
    """The response body for one request, or ``b""`` for an empty 200."""
    if path == b"/mobile/5/messages":
        return _MESSAGES
    if not path.startswith(_APPINSTANCE):
        return b""
    rest = path[len(_APPINSTANCE) :]
    if not rest:
        if method == b"POST":
            return _installation(b"bench-%012d" % next(_ids))
        return b""
    parts = rest.split(b"/")  # b"", id, ...
    reg_id = parts[1]
    tail = parts[2:]
    if not tail:
        return _installation(reg_id) if method == b"GET" else b""
    if tail == [b"personalize"]:
        user = _user_of(body)
        _users[reg_id] = user
        return user
    if tail == [b"depersonalize"]:
        _users.pop(reg_id, None)
        return b""
    if tail == [b"user"] and method == b"GET":
        return _users.get(reg_id, b'{"type":"LEAD","instances":[]}')
    return b""


class Protocol(asyncio.Protocol):
    __slots__ = ("body", "parser", "transport", "url")

    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.url = b""
        self.body: list[bytes] = []
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # uvloop's TCPTransport

    def data_received(self, data: bytes) -> None:
        Stats.bytes_in += len(data)
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            if self.transport is not None:
                self.transport.write(_BAD)
                self.transport.close()

    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        path, _, _ = self.url.partition(b"?")
        body = b"".join(self.body)
        if path == b"/bench/stats":
            content = json.dumps(
                {
                    "requests": Stats.requests,
                    "bytes_in": Stats.bytes_in,
                    "body_in": Stats.body_in,
                    "bytes_out": Stats.bytes_out,
                }
            ).encode()
            response = (_HEAD % len(content)) + content
        else:
            Stats.requests += 1
            Stats.body_in += len(body)
            content = answer(method, path, body)
            response = (_HEAD % len(content)) + content if content else _EMPTY
            Stats.bytes_out += len(response)
        assert self.transport is not None
        self.transport.write(response)
        if not self.parser.should_keep_alive():
            self.transport.close()


async def serve(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Protocol, "127.0.0.1", port, backlog=4096, reuse_address=True)
    sock = server.sockets[0]
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        uvloop.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
