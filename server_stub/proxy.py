"""``mobsim proxy``: a validating, recording proxy in front of a real Mobile API backend.

An app's SDK points at the proxy; :class:`Proxy` forwards every request to the target with an
``httpx.AsyncClient`` and answers with the target's answer (status, headers, body, ``New-Base-URL``
included). The target sees the SDK's own traffic: the request line, the headers as sent except the
hop-by-hop ones and ``Host``, and the body; the client adds no header of its own. Nothing is
rewritten, in either direction.

Around the forwarding, outermost first:

- ``/inspect/violations...`` (with ``strict``) is answered by the proxy itself, from the strict-mode
  recorder (server_stub/strict_api.py's routes), so ``mobsim violations --target <proxy>`` works;
- :class:`StrictObserver` (``strict``) feeds each ``/mobile/`` request and the status the app got to a
  :class:`~server_stub.strict.ViolationRecorder`: the reference server's checker, without its store
  (no event definitions, no sent messages: the rules that need them are not judged);
- the fault middleware (``--fault``, server_stub/faults.py) answers some requests itself, toward the
  app; those never reach the target;
- :class:`Forwarder` sends to the target and writes each exchange the target answered to a
  :class:`~server_stub.proxy_recording.ProxyRecording` (``--record``).

An unreachable target is answered ``502`` and a target that does not answer in time ``504``, with
the Mobile API's error envelope naming the target and the cause; a body over :data:`MAX_BODY` is
answered ``413`` and not forwarded. See docs/proxy.md.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import socket
import time
import zlib
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract import ErrorCode, headers

from .errors import ApiError
from .fault_spec import Fault
from .faults import FaultMiddleware, FaultRegistry, faults_router
from .guard import Guard
from .http import body_limit, error_response
from .proxy_recording import ProxyRecording
from .server import utcnow
from .strict import ViolationRecorder
from .strict_api import strict_router

__all__ = [
    "ANSWER_LIMIT",
    "DEFAULT_TIMEOUT",
    "HOP_BY_HOP",
    "MAX_BODY",
    "Forwarder",
    "Proxy",
    "StrictObserver",
    "create_proxy",
    "decoded",
    "run_proxy",
]

log = logging.getLogger("mobsim.proxy")

MAX_BODY = 8 * 1024 * 1024
"""The largest request body the proxy buffers and forwards (8 MiB; an SDK's are a few KiB)."""
ANSWER_LIMIT = 32 * 1024 * 1024
"""The largest answer body it takes from the target (32 MiB); a larger one is a 502."""
DEFAULT_TIMEOUT = 55.0
"""Seconds the target may take to answer: under the Android SDK's 60 s read timeout
(``DefaultApiClient.DEFAULT_READ_TIMEOUT``), so the app gets the proxy's 504, not its own timeout."""
CONNECT_TIMEOUT = 5.0
"""Seconds to connect to the target at most (the Android SDK's ``DEFAULT_CONNECT_TIMEOUT``)."""

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
"""Headers of one connection (RFC 9110 §7.6.1): never forwarded, in either direction."""
_NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length"}
"""httpx writes the target's ``Host`` and the body's ``Content-Length`` (the same length)."""


def _dropped(raw: Iterable[tuple[bytes, bytes]], always: frozenset[str] = HOP_BY_HOP) -> frozenset[str]:
    """``always`` (the hop-by-hop headers), and those a ``Connection`` header names."""
    named = {
        token.strip().lower()
        for key, value in raw
        if key.lower() == b"connection"
        for token in value.decode("latin-1").split(",")
    }
    return always | frozenset(named)


def forwarded_headers(raw: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The request headers the target gets: all but the hop-by-hop ones, ``Host`` and ``Content-Length``."""
    items = list(raw)
    drop = _dropped(items, _NOT_FORWARDED)
    return [(k, v) for k, v in items if k.decode("latin-1").lower() not in drop]


def decoded(content_encoding: str, raw: bytes, limit: int = ANSWER_LIMIT) -> bytes | None:
    """An answer body as JSON text for the checker and the recording (gzip, deflate or none), or None."""
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return raw
    try:
        if encoding in ("gzip", "x-gzip"):
            inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        elif encoding == "deflate":
            inflater = zlib.decompressobj()
        else:
            return None  # br, zstd: passed on to the app as they are, not read
        data = inflater.decompress(raw, limit)
    except (zlib.error, gzip.BadGzipFile):
        return None
    return data


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _raw_target(scope: Scope) -> str:
    """``/path?query`` as the client sent it."""
    raw_path = scope.get("raw_path")
    path: str = raw_path.decode("latin-1") if raw_path else scope["path"]
    query: str = scope.get("query_string", b"").decode("latin-1")
    return path + ("?" + query if query else "")


async def _answer(send: Send, response: Response) -> None:
    await send({"type": "http.response.start", "status": response.status_code, "headers": response.raw_headers})
    await send({"type": "http.response.body", "body": response.body})


def _cause(exc: BaseException, timeout: float) -> str:
    """The cause of a failed exchange in words (no header, no body: nothing secret)."""
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection within {min(timeout, CONNECT_TIMEOUT):g} s (connect timeout)"
    if isinstance(exc, httpx.TimeoutException):
        return f"no answer within {timeout:g} s (timed out)"
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    if any(isinstance(c, socket.gaierror) for c in seen):
        return "the host name does not resolve (DNS)"
    if any(isinstance(c, ConnectionRefusedError) for c in seen):
        return "connection refused (is the backend running on that port?)"
    return " ".join(str(exc).split())[:300] or type(exc).__name__


class Forwarder:
    """Sends each request to ``target`` and answers with the target's answer (pure ASGI)."""

    def __init__(
        self,
        target: str,
        client: httpx.AsyncClient,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        recording: ProxyRecording | None = None,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.target = target.rstrip("/")
        self.client = client
        self.timeout = timeout
        self.recording = recording
        self.wall = wall
        self.exchanges = 0
        """Requests the target answered."""
        self.failures = 0
        """Requests answered 502 or 504 by the proxy."""
        self._new_base_urls: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "websocket":
                await send({"type": "websocket.close", "code": 1003})
            return
        started = self.wall()
        body = await _read_body(receive, MAX_BODY)  # Proxy has buffered it: one message
        target = _raw_target(scope)
        method: str = scope["method"]
        sent = forwarded_headers(scope["headers"])
        names = {k.lower() for k, _ in scope["headers"]}
        has_body = bool(body) or b"content-length" in names or b"transfer-encoding" in names
        try:
            request = self.client.build_request(
                method, self.target + target, headers=sent, content=body if has_body else None
            )
        except (httpx.InvalidURL, ValueError) as exc:
            text = f"the proxy cannot forward {target[:200]!r} to {self.target}: {exc}"
            await _answer(send, error_response(ErrorCode.REQUEST_FORMAT_INVALID, text, 400))
            return
        try:
            response = await self.client.send(request, stream=True)
            try:
                raw = await _read_limited(response)
            finally:
                await response.aclose()
        except httpx.TimeoutException as exc:
            await self._failed(send, method, target, 504, "GATEWAY_TIMEOUT", _cause(exc, self.timeout))
            return
        except httpx.HTTPError as exc:
            await self._failed(send, method, target, 502, "BAD_GATEWAY", _cause(exc, self.timeout))
            return
        except _TooLarge:
            await self._failed(send, method, target, 502, "BAD_GATEWAY", f"an answer over {ANSWER_LIMIT} bytes")
            return
        self.exchanges += 1
        drop = _dropped(response.headers.raw)
        out = [(k, v) for k, v in response.headers.raw if k.decode("latin-1").lower() not in drop]
        out_names = {k.lower() for k, _ in out}
        status = response.status_code
        if b"content-length" not in out_names and status >= 200 and status not in (204, 304):
            out.append((b"content-length", str(len(raw)).encode()))
        moved = response.headers.get(headers.NEW_BASE_URL)
        if moved and moved not in self._new_base_urls:
            self._new_base_urls.add(moved)
            log.warning(
                "the target answered %s: %r; the SDK sends its next requests there, past this proxy",
                headers.NEW_BASE_URL, moved,
            )  # fmt: skip
        if self.recording is not None and not self.recording.failed:
            # before the app has the answer: nothing it sends because of it can be recorded first
            answer = decoded(response.headers.get("content-encoding", ""), raw)
            text_headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in sent]
            elapsed = (self.wall() - started) * 1000
            self.recording.exchange(method, target, text_headers, body if has_body else None, status, answer,
                                    started, elapsed)  # fmt: skip
        await send({"type": "http.response.start", "status": status, "headers": out})
        await send({"type": "http.response.body", "body": b"" if method == "HEAD" else raw})

    async def _failed(self, send: Send, method: str, target: str, status: int, code: str, cause: str) -> None:
        self.failures += 1
        text = f"the proxy got no answer from the target {self.target}: {cause}"
        log.warning("%s %r: %d, %s", method, target.partition("?")[0][:200], status, text)
        await _answer(send, error_response(code, text, status))


async def _read_limited(response: httpx.Response) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > ANSWER_LIMIT:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


class StrictObserver:
    """The strict-mode checker over the requests the app sends; requests and answers go through unchanged.

    An adapter of :class:`~server_stub.strict.ViolationRecorder` for a proxy: the reference server's
    `StrictMiddleware` awaits the store for event definitions and sent messages (the proxy has
    neither, so those rules are not judged) and reads the answer as sent (a gzip answer from a real
    backend is decoded here first, so that a create's pushRegId still links its installationid). A
    checker that fails on a request logs it and judges the next one: the app's traffic never waits
    on it.
    """

    def __init__(self, app: ASGIApp, recorder: ViolationRecorder) -> None:
        self.app, self.recorder = app, recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/mobile/"):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive, MAX_BODY)  # Proxy has buffered it: one message
        hdrs = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        query = scope.get("query_string", b"").decode("latin-1")
        answered: Callable[[int, bytes], None] | None
        limit = body_limit(scope["path"])  # the reference server's: a larger body is judged, not read
        over = limit if len(body) > limit else None
        try:
            answered = self.recorder.observe(scope["method"], scope["path"], query, hdrs,
                                             b"" if over else body, over_limit=over)  # fmt: skip
        except Exception as exc:  # a checker bug must not break the app's traffic
            log.warning("strict: could not judge %s %r: %s", scope["method"], scope["path"][:200], type(exc).__name__)
            answered = None
        status, encoding, chunks = 500, "", []
        done = False

        async def replay() -> Message:
            nonlocal done
            if done:
                return await receive()
            done = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def watch(message: Message) -> None:
            nonlocal status, encoding
            if message["type"] == "http.response.start":
                status = message["status"]
                for key, value in message.get("headers", []):
                    if key.lower() == b"content-encoding":
                        encoding = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body") and answered is not None:
                head = decoded(encoding, b"".join(chunks), 4096) or b""
                try:
                    answered(status, head[:4096])
                except Exception as exc:
                    log.warning("strict: could not judge the answer to %r: %s", scope["path"][:200],
                                type(exc).__name__)  # fmt: skip

        await self.app(scope, replay, watch)


def _local_app(recorder: ViolationRecorder | None, faults: FaultRegistry) -> FastAPI:
    """The proxy's own routes: ``/inspect/faults`` (server_stub/faults.py) and, in strict mode,
    ``/inspect/violations`` with ``/summary``, ``/rules``, ``/reset`` (server_stub/strict_api.py)."""
    app = FastAPI(title="mobsim proxy", docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(faults_router(faults))
    if recorder is not None:
        app.state.strict = recorder
        app.include_router(strict_router())

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.code, exc.text, exc.status)

    async def invalid(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:3]]
        return error_response(ErrorCode.REQUEST_FORMAT_INVALID, "; ".join(parts), 400)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        code = ErrorCode.NOT_FOUND if exc.status_code == 404 else ErrorCode.METHOD_NOT_ALLOWED
        return error_response(code, f"no route {request.method} {request.url.path}", exc.status_code)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(StarletteHTTPException, http_error)
    return app


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


class Proxy:
    """The proxy as one ASGI app; see the module's docstring for the layers.

    ``/inspect/faults`` (and ``/inspect/violations`` in strict mode) are the proxy's own, behind a
    :class:`~server_stub.guard.Guard` (``inspect_token``; on loopback without one, Host and Origin
    checks); every other path, ``/inspect/...`` included, goes to the target.
    """

    def __init__(
        self,
        forwarder: Forwarder,
        *,
        recorder: ViolationRecorder | None = None,
        faults: FaultRegistry | None = None,
        inspect_token: str | None = None,
        fault_sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.forwarder = forwarder
        self.recorder = recorder
        self.faults = faults if faults is not None else FaultRegistry()
        chain: ASGIApp = FaultMiddleware(forwarder, self.faults, sleep=fault_sleep)
        if recorder is not None:  # outside the faults: it judges what the app sends, retries included
            chain = StrictObserver(chain, recorder)
        # The target's own inspection API, docs and OpenAPI are forwarded behind the proxy's guard:
        # the target (a loopback mobsim serve, say) must not be opened to the proxy's network.
        self.chain = Guard(chain, token=inspect_token, check_host=True)
        self.local: ASGIApp = Guard(_local_app(recorder, self.faults), token=inspect_token, check_host=True)
        self.own = ("/inspect/faults", "/inspect/violations") if recorder is not None else ("/inspect/faults",)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            await self.chain(scope, receive, send)
            return
        path: str = scope["path"]
        if any(_under(path, prefix) for prefix in self.own):
            await self.local(scope, receive, send)
            return
        declared = next((v for k, v in scope["headers"] if k.lower() == b"content-length"), b"")
        try:
            if declared.isdigit() and int(declared) > MAX_BODY:
                raise _TooLarge
            body = await _read_body(receive, MAX_BODY)
        except _TooLarge:
            text = f"the body is over the proxy's {MAX_BODY}-byte limit; it was not forwarded"
            await _answer(send, error_response(ErrorCode.PAYLOAD_TOO_LARGE, text, 413))
            return
        done = False

        async def replay() -> Message:
            nonlocal done
            if done:
                return await receive()
            done = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.chain(scope, replay, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def aclose(self) -> None:
        await self.forwarder.client.aclose()
        if self.forwarder.recording is not None:
            self.forwarder.recording.close()


def new_client(
    timeout: float = DEFAULT_TIMEOUT, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` that adds no header of its own (httpx's defaults: User-Agent, Accept,
    Accept-Encoding, Connection), follows no redirect and decodes nothing: the target gets the
    SDK's headers and the app the target's bytes."""
    client = httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=min(timeout, CONNECT_TIMEOUT)),
        follow_redirects=False,
        transport=transport,
        limits=httpx.Limits(max_connections=512, max_keepalive_connections=64),
    )
    client.headers.clear()
    return client


def create_proxy(
    target: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    strict: bool = False,
    recording: ProxyRecording | None = None,
    faults: Iterable[Fault] | FaultRegistry = (),
    inspect_token: str | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> Proxy:
    """The proxy in front of ``target`` (a base URL). ``transport`` replaces the network (tests: an
    ``httpx.ASGITransport`` of the reference server); ``clock`` is the strict checker's."""
    client = new_client(timeout, transport)
    forwarder = Forwarder(target, client, timeout=timeout, recording=recording)
    recorder = ViolationRecorder(clock) if strict else None
    registry = faults if isinstance(faults, FaultRegistry) else FaultRegistry(faults)
    return Proxy(forwarder, recorder=recorder, faults=registry, inspect_token=inspect_token)


def run_proxy(app: ASGIApp, sock: socket.socket, *, log_level: str = "warning", **config: Any) -> None:
    """Serve ``app`` on a bound socket until interrupted (``mobsim proxy``).

    uvicorn's own ``Server`` and ``Date`` headers are off: the app gets the target's."""
    from .protocol import ConnectionLimits, protocol_class

    settings = uvicorn.Config(
        app,
        log_level=log_level,
        access_log=False,
        lifespan="on",
        timeout_keep_alive=75,  # as mobsim serve: an SDK's pooled connection outlives a think time
        server_header=False,
        date_header=False,
        http=protocol_class(ConnectionLimits()),
        **config,
    )
    from .serve import serve_until_stopped

    serve_until_stopped(uvicorn.Server(settings), sock)  # SIGTERM too: the recording is then closed
