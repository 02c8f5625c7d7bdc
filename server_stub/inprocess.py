"""The reference server in this process, without a socket or a thread: its ASGI app called directly.

``InProcessServer(app_codes)`` builds the server on an in-memory store whose transactions run at once
(a request never waits for a group commit: nothing is durable in memory), so an ASGI call completes
on its first step and needs no event loop; ``request(method, path, query, headers, body)`` answers
``(status, lower-case headers, body)``. Its clock is whatever ``clock`` is set to (a device's
virtual clock, for backdated traffic). ``simulator.transport.InProcessTransport`` carries a device's
requests to it; the demo, the benches and tests use it for traffic that needs no network.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Callable, Iterable, MutableMapping
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar
from urllib.parse import urlencode

from .app import create_app
from .server import ProfileServer
from .store import Store

__all__ = ["InProcessServer"]

T = TypeVar("T")


class Clock(Protocol):
    def now(self) -> float: ...


class _FixedClock:
    def __init__(self, start: float = 1_714_557_600.0) -> None:
        self.moment = start

    def now(self) -> float:
        return self.moment


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

    def __init__(self, app_codes: str | Iterable[str], *, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or _FixedClock()
        self.profiles = ProfileServer(_DirectStore(None), clock=self._now)
        codes = [app_codes] if isinstance(app_codes, str) else list(app_codes)
        self.app = create_app(server=self.profiles, app_codes=codes)
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
            "server": ("mobsim.inprocess", 80),
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
