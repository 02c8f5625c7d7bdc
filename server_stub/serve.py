"""Run the reference server on a socket: in the foreground (``mobsim serve``) or in a thread."""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from .app import create_app
from .errors import ApiError
from .faults import FaultMiddleware, FaultRegistry, parse_faults
from .guard import Guard, mask, settle_token
from .jwt_keys import JwtKey
from .messaging import PushLatency
from .protocol import ConnectionLimits, protocol_class, raise_descriptor_limit
from .relay import RelayTargets
from .server import ProfileServer
from .store import Store

__all__ = ["BackgroundServer", "ServeConfig", "UvicornThread", "bind", "build_server", "run_forever"]


@dataclass
class ServeConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    db: Path | None = None
    """A SQLite file; ``None`` keeps everything in memory."""
    app_codes: list[str] = field(default_factory=list)
    log_level: str = "warning"
    access_log: bool = False
    latency_ms: float = 0.0
    """Added to every answer: a slow backend for load-model tests and demos."""
    strict: bool = False
    """Record (and log) every protocol violation clients make: ``/inspect/violations``."""
    api_keys: list[str] = field(default_factory=list)
    """Push API keys to accept (default account); none: the stored ones, or a new one."""
    push_latency: PushLatency = field(default_factory=PushLatency)
    """The simulated push provider's hand-off latency (lognormal median and 95th percentile)."""
    faults: list[str] = field(default_factory=list)
    """Fault specs (``status=503,rate=0.3``, docs/faults.md) in force from the start; more at run
    time through ``/inspect/faults``."""
    jwt_keys: list[JwtKey] = field(default_factory=list)
    """User-JWT keys of applications (``--jwt-key``): those applications take user JWTs (server_stub/jwt_keys.py)."""
    limits: ConnectionLimits = field(default_factory=ConnectionLimits)
    """Per-connection limits: header size, request deadline, open connections (server_stub/protocol.py)."""
    inspect_token: str | None = None
    """The token the inspection API and docs need (server_stub/guard.py); see
    :func:`resolve_inspect_token` for the default."""
    relay: RelayTargets | None = None
    """Send the pushes through these push providers (server_stub/relay/) instead of handing them out
    at ``/provider/1/deliveries``; the hand-off latency is then the providers' (``push_latency`` is
    not applied by the server: it sends each message at its send time)."""


def bind(host: str, port: int) -> socket.socket:
    """Bind the listening socket first, so port 0 works and the real port can be printed."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port") from exc
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def resolve_inspect_token(config: ServeConfig) -> bool:
    """Settle ``config.inspect_token``: the one given, else ``MOBSIM_INSPECT_TOKEN``, else, when the
    server binds off loopback, a new one (returns True then: the caller prints it). On loopback
    without one, the inspection API answers this machine only (Host and Origin checks)."""
    config.inspect_token, generated = settle_token(config.inspect_token, config.host)
    return generated


def build_server(config: ServeConfig) -> tuple[ProfileServer, list[dict[str, Any]]]:
    """The profile server and its applications; creates one application when none exists."""
    try:  # before the store opens: a bad spec creates no file
        parse_faults(config.faults)
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None
    server = ProfileServer(Store(config.db))
    for code in config.app_codes:
        try:
            server.add_application(code)
        except ApiError as exc:  # `mobsim serve` reports RuntimeError as a one-line message
            server.store.close()
            raise RuntimeError(f"--app-code {mask(code)!r}: {exc.text}") from None
    if not server.applications():
        server.add_application(name="mobsim-demo")
    for key in config.api_keys:
        try:
            server.messaging.add_api_key(key)
        except ValueError as exc:
            server.store.close()
            raise RuntimeError(f"--api-key {mask(key)!r}: {exc}") from None
    server.messaging.ensure_api_key()
    server.messaging.latency = config.push_latency if config.relay is None else PushLatency(0, 0)
    if config.relay is not None:
        from .relay.loop import ProviderRelay  # httpx, only for a server that relays

        server.messaging.relay = ProviderRelay(server, config.relay)
    for jwt_key in config.jwt_keys:
        try:
            server.add_jwt_key(jwt_key)
        except ApiError as exc:
            server.store.close()
            raise RuntimeError(f"--jwt-key (key id {jwt_key.kid!r}): {exc.text}") from None
    apps = server.applications()
    if config.app_codes:
        apps = [a for a in apps if a["code"] in config.app_codes]
    return server, apps


class Latency:
    """ASGI middleware that delays every HTTP answer by a fixed time."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app, self.seconds = app, seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await asyncio.sleep(self.seconds)
        await self.app(scope, receive, send)


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logging.getLogger("mobsim.relay").error("the push relay stopped", exc_info=task.exception())


class _Server(uvicorn.Server):
    """uvicorn's server with the profile server's background work (the push relay) on its loop,
    started once it listens and cancelled before it shuts down."""

    def __init__(self, config: uvicorn.Config, profiles: ProfileServer) -> None:
        super().__init__(config)
        self.profiles = profiles
        self._tasks: list[asyncio.Task[None]] = []

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        relay = self.profiles.messaging.relay
        if relay is not None:
            task = asyncio.create_task(relay.run())
            task.add_done_callback(_report_end)
            self._tasks.append(task)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await super().shutdown(sockets)


def _uvicorn(config: ServeConfig, server: ProfileServer) -> uvicorn.Server:
    soft, _ = raise_descriptor_limit(config.limits.max_connections)
    if soft < config.limits.max_connections + 64:
        logging.getLogger("mobsim.server").warning(
            "the open-file limit is %d: fewer than --max-connections %d fit; raise it (ulimit -n)",
            soft, config.limits.max_connections,
        )  # fmt: skip
    faults = FaultRegistry(parse_faults(config.faults))
    app: ASGIApp = create_app(server=server, strict=config.strict, faults=faults)
    if config.latency_ms > 0:
        app = Latency(app, config.latency_ms / 1000)
    app = FaultMiddleware(app, faults)  # a faulted request meets no latency, strict mode or rule
    app = Guard(app, token=config.inspect_token, check_host=True)  # outermost: who may inspect
    config_ = uvicorn.Config(
        app,
        log_level=config.log_level,
        access_log=config.access_log,
        lifespan="off",
        # Keep idle connections open as long as common front ends do (nginx: 75 s). uvicorn's 5 s
        # default closes a device's pooled connection during an ordinary think time, and a request
        # racing that close fails with "connection closed".
        timeout_keep_alive=75,
        http=protocol_class(config.limits),
    )
    return _Server(config_, server)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}"


class _Terminated(BaseException):
    """SIGTERM, once uvicorn has shut down gracefully (it raises the signal again then)."""


def _terminate(signum: int, frame: object) -> None:
    raise _Terminated


def serve_until_stopped(server: uvicorn.Server, sock: socket.socket) -> None:
    """Run ``server`` on ``sock`` until Ctrl-C or SIGTERM (what docker and systemd send): uvicorn
    finishes the requests under way, and this returns normally (the command exits 0) instead of
    uvicorn raising the signal again, which would end the process before its own clean-up."""
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate) if main else None
    try:
        server.run(sockets=[sock])
    except (KeyboardInterrupt, _Terminated):
        pass
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def run_forever(config: ServeConfig, sock: socket.socket, server: ProfileServer) -> None:
    """Serve until Ctrl-C or SIGTERM; then the store closes, which checkpoints its WAL into the file
    (a copy of the ``.db`` alone holds everything) and releases the file's lock."""
    try:
        serve_until_stopped(_uvicorn(config, server), sock)
    finally:
        server.store.close()


class UvicornThread:
    """A uvicorn server on a bound socket in a daemon thread (the reference server's
    :class:`BackgroundServer`, the push providers' listener in ``providers/stack.py``)."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self.server, self.sock = server, sock
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)

    def start(self, timeout: float) -> bool:
        """Whether uvicorn started within ``timeout`` seconds (False: its thread ended or time ran out)."""
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                return False
            time.sleep(0.01)
        return True

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self.sock.close()


class BackgroundServer:
    """The reference server in a daemon thread on loopback, for ``mobsim run``, tests and benches."""

    def __init__(self, config: ServeConfig | None = None) -> None:
        self.config = config or ServeConfig(port=0)
        resolve_inspect_token(self.config)
        self.profiles, self.applications = build_server(self.config)
        self._sock = bind(self.config.host, self.config.port)
        self.url = url_of(self._sock)
        self._serving = UvicornThread(_uvicorn(self.config, self.profiles), self._sock)

    @property
    def app_code(self) -> str:
        code: str = self.applications[0]["code"]
        return code

    @property
    def api_key(self) -> str:
        """The Push API key (the first given, else the first stored)."""
        return (self.config.api_keys or self.profiles.messaging.api_keys())[0]

    def start(self, timeout: float = 10.0) -> BackgroundServer:
        if not self._serving.start(timeout):
            raise RuntimeError(f"the reference server did not start on {self.url}")
        return self

    def stop(self) -> None:
        self._serving.stop()
        self.profiles.store.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
