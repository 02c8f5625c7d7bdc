"""The in-process reference server, the recording transport and the JSONL format.

The devices of a demo talk to the reference server in this process through ASGI on a private
event loop (no socket, no thread). The server's push registration ids are random, so the
transport hands the devices deterministic ones instead (derived from the seed, the person and a
counter) and translates both ways; the requests it records are therefore the same, byte for
byte, on every run with the same seed and options.

A JSONL file starts with one header line (``{"mobsim": "demo", ...}``: the options, the vertical's
event definitions) and then holds one request per line, person after person::

    {"p": 12, "d": "12.0", "t": "2024-05-01T10:00:00.000Z", "m": "POST", "u": "/mobile/1/appinstance?rt=1",
     "h": {...}, "b": "{...}", "s": 200, "r": "<the pushRegId the create answered>"}

``p`` the person, ``d`` the device (person.number), ``t`` the device's clock, ``m``/``u``/``h``/``b``
method, path and query, headers and body as the SDK sent them, ``s`` the reference server's
status, ``r`` only on creates.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import uuid
from collections.abc import Callable, MutableMapping
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlencode

from server_stub import create_app
from server_stub.server import ProfileServer
from server_stub.store import Store
from simulator import Clock, Outgoing, Reply, VirtualClock

__all__ = ["BASE_URL", "InProcessServer", "RecordingTransport", "dumps_line", "iso_ms"]

BASE_URL = "http://mobsim.demo"
T = TypeVar("T")
_CREATE = "create_installation"


def dumps_line(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def iso_ms(epoch: float) -> str:
    moment = datetime.fromtimestamp(round(epoch, 3), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _Headers(dict[str, str]):
    """Lower-case response headers (what `Reply.header` expects from a plain mapping)."""


class _DirectStore(Store):
    """The in-memory store with ``atomic`` run at once: a request never waits for a group commit
    (nothing is durable in memory), so the ASGI call completes without an event loop."""

    async def atomic(self, work: Callable[[sqlite3.Connection], T]) -> T:
        with self.transaction() as db:
            return work(db)


class InProcessServer:
    """The reference server as an ASGI app, called directly; its clock is whichever ``clock`` is set.

    Requests run synchronously: the coroutine of the ASGI call is stepped once and finishes (the
    store does not wait for a group commit), with an event loop only as a fallback.
    """

    def __init__(self, app_code: str) -> None:
        self.clock: Clock = VirtualClock()
        self.profiles = ProfileServer(_DirectStore(None), clock=self._now)
        self.app = create_app(server=self.profiles, app_codes=[app_code])
        self.loop: asyncio.AbstractEventLoop | None = None

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.now(), UTC)

    def request(
        self, method: str, path: str, query: str = "", headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, _Headers, bytes]:
        raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in (headers or {}).items()]
        if body is not None:
            raw_headers.append((b"content-length", str(len(body)).encode()))
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": method,
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": raw_headers,
            "client": ("127.0.0.1", 1),
            "server": ("mobsim.demo", 80),
        }
        sent = False
        status = 500
        out_headers = _Headers()
        chunks: list[bytes] = []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body or b"", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", ()):
                    out_headers[key.decode("latin-1").lower()] = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        call = self.app(scope, receive, send)
        try:
            call.send(None)
        except StopIteration:
            pass
        else:  # pragma: no cover - something awaited a real future: finish on an event loop
            call.close()
            chunks.clear()
            sent = False
            if self.loop is None:
                self.loop = asyncio.new_event_loop()
            self.loop.run_until_complete(self.app(scope, receive, send))
        return status, out_headers, b"".join(chunks)

    def get(self, path: str, **params: Any) -> Any:
        status, _, body = self.request("GET", path, urlencode(params))
        if status != 200:
            raise RuntimeError(f"GET {path}: {status} {body[:200]!r}")
        return json.loads(body)

    def post(self, path: str, payload: Any) -> tuple[int, Any]:
        data = json.dumps(payload).encode()
        status, _, body = self.request("POST", path, "", {"content-type": "application/json"}, data)
        return status, json.loads(body) if body else None

    def close(self) -> None:
        if self.loop is not None:
            self.loop.close()
        self.profiles.store.close()


class RecordingTransport:
    """A device transport onto the in-process server that records every request as one JSONL line.

    ``begin(person, device_key, clock)`` before a device sends: the lines carry them. Push
    registration ids are translated: the devices (and the file) see ids derived from
    ``(seed, person, n)``; the server keeps its own.
    """

    def __init__(self, server: InProcessServer, seed: int, sink: Callable[[str], None]) -> None:
        self.server = server
        self.seed = seed
        self.sink = sink
        self.person = 0
        self.device = ""
        self.clock: Clock = server.clock
        self._to_server: dict[str, str] = {}
        self._to_device: dict[str, str] = {}
        self._created = 0
        self.requests = 0

    def begin_person(self, person: int, clock: Clock) -> None:
        self.person, self.clock = person, clock
        self.server.clock = clock
        self._to_server.clear()
        self._to_device.clear()
        self._created = 0

    def _new_id(self) -> str:
        digest = hashlib.blake2b(f"mobsim-demo-reg:{self.seed}:{self.person}:{self._created}".encode(), digest_size=16)
        self._created += 1
        return str(uuid.UUID(bytes=digest.digest(), version=4))

    def send(self, request: Outgoing) -> Reply:
        url = request.url[len(BASE_URL) :] if request.url.startswith(BASE_URL) else request.url
        body = request.content
        path, _, query = url.partition("?")
        headers = request.headers
        if self._to_server:
            path, headers, body = self._translate(path, headers, body, self._to_server)
        status, reply_headers, content = self.server.request(request.method, path, query, headers, body)
        created = None
        if request.wire.endpoint.name == _CREATE and status == 200:
            server_id = json.loads(content)["pushRegId"]
            created = self._new_id()
            self._to_server[created] = server_id
            self._to_device[server_id] = created
        if self._to_device and b"pushRegId" in content:
            for server_id, device_id in self._to_device.items():
                content = content.replace(server_id.encode(), device_id.encode())
        line: dict[str, Any] = {
            "p": self.person,
            "d": self.device,
            "t": iso_ms(self.clock.now()),
            "m": request.method,
            "u": url,
            "h": request.headers,
            "b": None if request.content is None else request.content.decode("utf-8"),
            "s": status,
        }
        if created is not None:
            line["r"] = created
        self.requests += 1
        self.sink(dumps_line(line))
        return Reply(status, reply_headers, content)

    @staticmethod
    def _translate(
        path: str, headers: dict[str, str], body: bytes | None, ids: dict[str, str]
    ) -> tuple[str, dict[str, str], bytes | None]:
        return translate(path, headers, body, ids)


def translate(
    path: str, headers: dict[str, str], body: bytes | None, ids: dict[str, str]
) -> tuple[str, dict[str, str], bytes | None]:
    """Replace push registration ids (keys of ``ids``) in the path, the header values and the body."""
    new_headers = headers
    for old, new in ids.items():
        if old in path:
            path = path.replace(old, new)
        if body is not None and old.encode() in body:
            body = body.replace(old.encode(), new.encode())
        for key, value in new_headers.items():
            if old in value:
                if new_headers is headers:
                    new_headers = dict(headers)
                new_headers[key] = value.replace(old, new)
    return path, new_headers, body
