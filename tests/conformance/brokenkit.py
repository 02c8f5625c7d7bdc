"""Deliberately broken variants of the reference server, for proving that each check can fail.

`Mutate` wraps the ASGI app: a request hook may rewrite the request (or answer it itself), a
response hook may rewrite the status, headers and body (dropping ``content-length`` sends the body
chunked, without one).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass
class Req:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def override(self) -> str:
        return self.headers.get("x-http-method-override", self.method).upper()


Answer = tuple[int, dict[str, str], bytes]
RequestHook = Callable[[Req], "Req | Answer | None"]
ResponseHook = Callable[[Req, int, dict[str, str], bytes], Answer]


def error(status: int, code: str, text: str = "broken variant") -> Answer:
    body = json.dumps({"requestError": {"serviceException": {"messageId": code, "text": text}}}).encode()
    return status, {"content-type": "application/json", "content-length": str(len(body))}, body


def ok_empty() -> Answer:
    return 200, {"content-length": "0"}, b""


class Mutate:
    def __init__(self, app: ASGIApp, request: RequestHook | None = None, response: ResponseHook | None = None) -> None:
        self.app, self.request_hook, self.response_hook = app, request, response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        req = Req(
            scope["method"],
            scope["path"],
            dict(parse_qsl(scope["query_string"].decode(), keep_blank_values=True)),
            {k.decode().lower(): v.decode() for k, v in scope["headers"]},
            b"".join(chunks),
        )
        if self.request_hook is not None:
            changed = self.request_hook(req)
            if isinstance(changed, tuple):
                await self._answer(send, *self._respond(req, *changed))
                return
            if changed is not None:
                req = changed
        headers = dict(req.headers)
        if req.body or "content-length" in headers:
            headers["content-length"] = str(len(req.body))
        inner = dict(
            scope,
            method=req.method,
            path=req.path,
            raw_path=req.path.encode(),
            query_string=urlencode(req.query).encode(),
            headers=[(k.encode(), v.encode()) for k, v in headers.items()],
        )
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": req.body, "more_body": False}

        status, out_headers, body = 500, {}, []

        async def capture(message: Message) -> None:
            nonlocal status, out_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                out_headers = {k.decode().lower(): v.decode() for k, v in message.get("headers", [])}
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.app(inner, replay, capture)
        await self._answer(send, *self._respond(req, status, out_headers, b"".join(body)))

    def _respond(self, req: Req, status: int, headers: dict[str, str], body: bytes) -> Answer:
        if self.response_hook is not None:
            status, headers, body = self.response_hook(req, status, headers, body)
        return status, headers, body

    @staticmethod
    async def _answer(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
        headers = dict(headers)
        if "content-length" in headers:
            headers["content-length"] = str(len(body))
        raw = [(k.encode(), v.encode()) for k, v in headers.items()]
        await send({"type": "http.response.start", "status": status, "headers": raw})
        if "content-length" in headers:
            await send({"type": "http.response.body", "body": body, "more_body": False})
        else:
            await send({"type": "http.response.body", "body": body, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})


def json_body(body: bytes) -> Any:
    try:
        return json.loads(body) if body else None
    except ValueError:
        return None


def rewrite_json(match: Callable[[Req], bool], change: Callable[[Any], Any]) -> ResponseHook:
    """A response hook that rewrites the JSON answers of the requests ``match`` selects."""

    def hook(req: Req, status: int, headers: dict[str, str], body: bytes) -> Answer:
        data = json_body(body)
        if data is None or not match(req):
            return status, headers, body
        return status, headers, json.dumps(change(data)).encode()

    return hook


def rename_code(old: str, new: str, status: int | None = None) -> ResponseHook:
    def hook(req: Req, st: int, headers: dict[str, str], body: bytes) -> Answer:
        if f'"messageId":"{old}"'.encode() in body:
            return st if status is None else status, headers, body.replace(old.encode(), new.encode())
        return st, headers, body

    return hook


class DirectASGI(httpx.BaseTransport):
    """httpx to an ASGI app on this thread's own event loop: no portal thread per request (as
    starlette's TestClient has), a few times cheaper for the thousands of requests a suite run sends.
    The app must need no lifespan (the reference server's has none)."""

    def __init__(self, app: ASGIApp, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """``loop``: run on this one (shared with other apps of a test) instead of a new one, which
        :meth:`close` then leaves open."""
        self.app = app
        self.own_loop = loop is None
        self.loop = loop or asyncio.new_event_loop()
        self.seen: list[httpx.Request] = []
        """Every request handed to the app, in order."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        body = request.read()
        url = request.url
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": request.method,
            "scheme": url.scheme, "path": url.path, "raw_path": url.raw_path.split(b"?")[0],
            "query_string": url.query, "root_path": "", "server": (url.host, url.port or 80),
            "client": ("127.0.0.1", 50000), "headers": [(k.lower(), v) for k, v in request.headers.raw],
        }  # fmt: skip
        sent = False
        status, headers, chunks = 500, [], []

        async def receive() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return {"type": "http.disconnect"}
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status, headers = message["status"], list(message.get("headers", []))
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))

        self.loop.run_until_complete(self.app(scope, receive, send))
        # a stream, not content: httpx would add a Content-Length the app did not send
        return httpx.Response(status, headers=headers, stream=httpx.ByteStream(b"".join(chunks)), request=request)

    def close(self) -> None:
        if self.own_loop:
            self.loop.close()
