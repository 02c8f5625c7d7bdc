"""Helpers of the mobsim CLI tests: a guard that fails on any network use, a free loopback port, a
reference server whose Mobile API fails after the preflight, and a clock for refusals."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from starlette.types import ASGIApp, Receive, Scope, Send

import server_stub.serve
from mobsim.targets import PREFLIGHT_REG_ID

FAST = 5.0
"""Seconds a refusal (options, confirmation, preflight) may take at most."""


@contextmanager
def quick() -> Iterator[None]:
    started = time.monotonic()
    yield
    took = time.monotonic() - started
    assert took < FAST, f"took {took:.1f} s"


def forbid_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any DNS lookup or connect fails the test; returns the list of attempts (to assert empty)."""
    attempts: list[Any] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError(f"network use: {args!r}")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _error(status: int, message_id: str) -> tuple[int, bytes]:
    body = {"requestError": {"serviceException": {"messageId": message_id, "text": "broken for the test"}}}
    return status, json.dumps(body).encode()


def _answering(app: ASGIApp, broken: Callable[[str], tuple[int, bytes] | None]) -> ASGIApp:
    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        answer = broken(scope["path"]) if scope["type"] == "http" else None
        if answer is None:
            await app(scope, receive, send)
            return
        status, body = answer
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return wrapped


def fails_after_preflight(path: str) -> tuple[int, bytes] | None:
    """The Mobile API answers 503 to everything but the preflight request."""
    if path.startswith("/mobile/") and path != f"/mobile/1/appinstance/{PREFLIGHT_REG_ID}/user":
        return _error(503, "GENERAL_ERROR")
    return None


def no_inspection(path: str) -> tuple[int, bytes] | None:
    return _error(404, "NOT_FOUND") if path.startswith("/inspect") else None


def break_servers(monkeypatch: pytest.MonkeyPatch, broken: Callable[[str], tuple[int, bytes] | None]) -> None:
    """Every ``BackgroundServer`` started from now on serves the reference app with ``broken`` in front."""
    create_app = server_stub.serve.create_app  # type: ignore[attr-defined]  # what BackgroundServer calls

    def patched(**kwargs: Any) -> ASGIApp:
        return _answering(create_app(**kwargs), broken)

    monkeypatch.setattr(server_stub.serve, "create_app", patched)
