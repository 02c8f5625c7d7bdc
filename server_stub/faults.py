"""Faults on demand: the registry of faults, the ASGI middleware that injects them, their inspection API.

:class:`FaultMiddleware` wraps any ASGI app (the reference server, ``mobsim proxy``): for each
request it asks the :class:`FaultRegistry` which faults act on it, then waits, answers a status,
drops the connection or adds a ``New-Base-URL`` header. A request a ``status`` or ``reset`` fault
acts on never reaches the app. ``/inspect/*`` is never faulted, nor mobsim's preflight probe.
Randomness comes from an injected :class:`random.Random` (a fault's ``seed=`` gives it its own),
time from an injected clock (seconds since the server started), waits from an injected ``sleep``.
The SPEC language is in ``fault_spec.py``; the user's page is docs/faults.md.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract import ErrorCode
from contract.headers import NEW_BASE_URL

from .errors import ApiError
from .fault_spec import Fault, RequestFacts, fault_from_json, parse_fault
from .http import error_response, json_response, read_json
from .strict import PREFLIGHT_AGENT

__all__ = [
    "ABORT_EXTENSION",
    "FAULT_HEADER",
    "MAX_FAULTS",
    "Fault",
    "FaultMiddleware",
    "FaultRegistry",
    "ResetFault",
    "faults_router",
    "parse_fault",
    "parse_faults",
]

ABORT_EXTENSION = "mobsim.abort"
"""``scope["extensions"]`` key of a zero-argument callable that aborts the TCP connection (RST, no
answer), put there by mobsim's uvicorn protocol (server_stub/protocol.py)."""
MAX_FAULTS = 100
FAULT_HEADER = "X-Mobsim-Fault"
"""On every answer a ``status`` fault made: the fault's id (the SDKs ignore unknown headers)."""
_EXEMPT = "/inspect"


class ResetFault(ConnectionResetError):
    """A ``reset`` fault acted where there is no socket to abort (an in-process ASGI client): the
    caller sees this instead of the connection error a socket client gets."""


@dataclass(slots=True)
class FaultEntry:
    """A fault in the registry, with its counters: ``matched`` requests it applied to (its filters
    and window held), ``injected`` the times it acted (its rate drew it)."""

    id: int
    fault: Fault
    rng: random.Random | None
    matched: int = 0
    injected: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, **self.fault.to_json(), "matched": self.matched, "injected": self.injected}


@dataclass(frozen=True, slots=True)
class Decision:
    """What the faults that acted on one request do to it."""

    delay_s: float
    new_base_url: str | None
    terminal: FaultEntry | None
    """The ``status`` or ``reset`` fault that ends the request, if one acted."""


def parse_faults(texts: Iterable[str]) -> list[Fault]:
    """The faults of ``--fault`` options; ``ValueError`` names the option's spec and what is wrong."""
    faults = []
    for text in texts:
        try:
            faults.append(parse_fault(text))
        except ValueError as exc:
            raise ValueError(f"--fault {text!r}: {exc}") from None
    return faults


def _since_now() -> Callable[[], float]:
    start = time.monotonic()
    return lambda: time.monotonic() - start


class FaultRegistry:
    """The faults in force, in the order they were added (ids 1, 2, ...), and their counters.

    For a request, faults are tried in id order: each whose window and filters hold counts it as
    matched and draws its rate; each that acts adds its latency (latencies add up) and, the first
    one, its ``New-Base-URL``; the first ``status`` or ``reset`` fault that acts ends the request and
    the faults after it do not see it.
    """

    def __init__(
        self,
        faults: Iterable[Fault] = (),
        *,
        clock: Callable[[], float] | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.clock = clock or _since_now()
        """Seconds since the server started (monotonic): what ``after`` and ``until`` compare with."""
        self.rng = rng or random.Random()
        self._lock = threading.Lock()
        self._entries: dict[int, FaultEntry] = {}
        self._next_id = 1
        for fault in faults:
            self.add(fault)

    def __bool__(self) -> bool:
        return bool(self._entries)

    def add(self, fault: Fault) -> FaultEntry:
        with self._lock:
            if len(self._entries) >= MAX_FAULTS:
                raise ValueError(f"at most {MAX_FAULTS} faults at once; delete some first (DELETE /inspect/faults)")
            rng = None if fault.seed is None else random.Random(fault.seed)
            entry = self._entries[self._next_id] = FaultEntry(self._next_id, fault, rng)
            self._next_id += 1
            return entry

    def entries(self) -> list[FaultEntry]:
        with self._lock:
            return list(self._entries.values())

    def remove(self, fault_id: int) -> FaultEntry | None:
        with self._lock:
            return self._entries.pop(fault_id, None)

    def clear(self) -> int:
        with self._lock:
            count = len(self._entries)
            self._entries.clear()
            return count

    def decide(self, request: RequestFacts) -> Decision | None:
        """What to do to ``request``; None when no fault acts on it (it goes through untouched)."""
        now = self.clock()
        delay_ms, new_base_url, acted = 0.0, None, False
        with self._lock:
            for entry in self._entries.values():
                fault = entry.fault
                if not fault.active_at(now) or not fault.matches(request):
                    continue
                entry.matched += 1
                rng = entry.rng or self.rng
                if fault.rate < 1 and rng.random() >= fault.rate:
                    continue
                entry.injected += 1
                acted = True
                if fault.latency is not None:
                    delay_ms += fault.latency.sample_ms(rng)
                new_base_url = new_base_url or fault.new_base_url
                if fault.terminal:
                    return Decision(delay_ms / 1000, new_base_url, entry)
        return Decision(delay_ms / 1000, new_base_url, None) if acted else None


def _facts(scope: Scope, kind: type[RequestFacts] = RequestFacts) -> RequestFacts | None:
    """The request as the filters see it (a ``kind``: how its stats name and platform are read);
    None for requests no fault applies to."""
    path: str = scope["path"]
    if path == _EXEMPT or path.startswith(_EXEMPT + "/"):
        return None
    agent = override = ""
    for name, value in scope.get("headers", ()):
        if name == b"user-agent":
            agent = value.decode("latin-1")
        elif name == b"x-http-method-override":
            override = value.decode("latin-1")
    if agent.startswith(PREFLIGHT_AGENT):
        return None
    query = scope.get("query_string", b"").decode("latin-1")
    return kind(scope["method"], path, override=override, user_agent=agent, query_string=query)


def _message_id(status: int) -> str:
    """The ``messageId`` of an error a fault answers without ``error=``: the status's name
    (``SERVICE_UNAVAILABLE``), which no SDK treats specially, so only the status class counts."""
    try:
        return HTTPStatus(status).name
    except ValueError:
        return f"HTTP_{status}"


def _answer(entry: FaultEntry, new_base_url: str | None) -> Response:
    fault = entry.fault
    status = fault.status
    assert status is not None
    body = fault.answer_body
    if body == "envelope":
        text = f"injected fault {entry.id}: {fault.spec}"
        response = error_response(fault.error or _message_id(status), text, status)
    else:
        content = b"{}" if body == "{}" else b""
        response = Response(content, status_code=status, media_type="application/json" if content else None)
    response.headers[FAULT_HEADER] = str(entry.id)
    if new_base_url is not None:
        response.raw_headers.append((NEW_BASE_URL.encode(), new_base_url.encode("latin-1")))
    return response


async def _drain(receive: Receive) -> None:
    """Read the request body to its end, so the keep-alive connection stays usable."""
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


class FaultMiddleware:
    """Injects the registry's faults into the HTTP requests ``app`` serves."""

    def __init__(
        self,
        app: ASGIApp,
        registry: FaultRegistry,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        facts: type[RequestFacts] = RequestFacts,
    ) -> None:
        """``facts``: how a request's stats name and platform are read (the providers' app tells
        FCM from HMS by path, providers/app.py)."""
        self.app, self.registry, self.sleep, self.facts = app, registry, sleep, facts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        decision = None
        if scope["type"] == "http" and self.registry:
            request = _facts(scope, self.facts)
            decision = None if request is None else self.registry.decide(request)
        if decision is None:
            await self.app(scope, receive, send)
            return
        if decision.delay_s > 0:
            await self.sleep(decision.delay_s)
        entry = decision.terminal
        if entry is not None and entry.fault.reset:
            abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
            if abort is None:
                raise ResetFault(f"fault {entry.id} ({entry.fault.spec}): reset needs a socket (mobsim serve's server)")
            abort()
            await asyncio.sleep(0)  # uvicorn sees the connection lost, so it sends no 500 of its own
            return
        if entry is not None:
            await _drain(receive)
            await _answer(entry, decision.new_base_url)(scope, receive, send)
            return
        if decision.new_base_url is not None:
            send = _with_header(send, NEW_BASE_URL.encode(), decision.new_base_url.encode("latin-1"))
        await self.app(scope, receive, send)


def _with_header(send: Send, name: bytes, value: bytes) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            message = {**message, "headers": [*message.get("headers", ()), (name, value)]}
        await send(message)

    return sending


FaultId = Annotated[int, Path(ge=1, le=2**31, description="a fault's id")]


def faults_router(registry: FaultRegistry) -> APIRouter:
    """``/inspect/faults``: add (``POST``), list with counters (``GET``), delete all or one (``DELETE``)."""
    router = APIRouter(prefix=_EXEMPT + "/faults", tags=["Faults"])

    @router.post("", summary="Add a fault: {spec: 'status=503,rate=0.3'} or its keys as a JSON object")
    async def add_fault(request: Request) -> Response:
        try:
            entry = registry.add(fault_from_json(await read_json(request)))
        except ValueError as exc:
            raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, str(exc)) from None
        return json_response(entry.to_json(), status=201)

    @router.get("", summary="The faults in force, with their matched and injected counters")
    async def list_faults() -> Response:
        faults = [entry.to_json() for entry in registry.entries()]
        return json_response({"elapsed": round(registry.clock(), 3), "faults": faults})

    @router.delete("", summary="Delete every fault")
    async def clear_faults() -> Response:
        return json_response({"deleted": registry.clear()})

    @router.delete("/{fault_id}", summary="Delete one fault (its final counters are answered)")
    async def delete_fault(fault_id: FaultId) -> Response:
        entry = registry.remove(fault_id)
        if entry is None:
            raise ApiError(ErrorCode.NOT_FOUND, f"no fault {fault_id}; GET /inspect/faults lists them")
        return json_response(entry.to_json())

    return router
