"""The installed base: the population registered before the measured window.

A live app's traffic comes mostly from returning installs; a run that starts from nothing spends
its first minutes registering devices. :func:`establish` gives every device of a population (but
the ``newinstall`` persona's, which installs afresh each session) its install session before the
load starts: registration, the first launch, a login for the personas that log in, then the app
goes to the background and the device is parked. Each device lives that session on its own
virtual clock, backdated to an install day in the last :data:`INSTALL_WINDOW_DAYS` days, so the
first session of the measured window is a returning launch (a new App Launch, 30-second rule
included) of a device the target already knows.

The set-up sends its requests through a transport per worker thread (greenlets under gevent:
``scenarios/_setup.py`` gives them geventhttpclient connections, 2.3x cheaper per device than
httpx), at most ``rate`` per second when a cap is given; nothing of it enters the run's stats.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from simulator import (
    AppConfig,
    HTTPXTransport,
    Outgoing,
    Reply,
    SimulatorError,
    Transport,
    UsageError,
    VirtualClock,
    VirtualDevice,
)

from ._population import Population

__all__ = ["INSTALL_WINDOW_DAYS", "SetupResult", "establish", "logs_in_at_install"]

INSTALL_WINDOW_DAYS = 60
"""Devices were installed between 1 and this many days before the run."""
_SESSION_SECONDS = 25.0
_SHOPPER_LOGIN_SHARE = 0.6  # the shopper persona logs in on 60% of its sessions


@dataclass
class SetupResult:
    """What the set-up did, as the target acknowledged it."""

    devices: int = 0
    """Devices the set-up had to install (those not resumed from a state file)."""
    registered: int = 0
    personalized: int = 0
    failed: int = 0
    requests: int = 0
    seconds: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "devices": self.devices,
            "registered": self.registered,
            "personalized": self.personalized,
            "failed": self.failed,
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "errors": dict(sorted(self.errors.items(), key=lambda kv: -kv[1])[:10]),
        }


def _unit(seed: int, index: int, salt: str) -> float:
    digest = hashlib.blake2b(f"{seed}:{index}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def logs_in_at_install(population: Population, index: int) -> bool:
    """Whether the device's person logged in during its install session: always for ``login``,
    ``multidevice`` and ``churner`` (their first session logs in), 60% of ``shopper`` devices,
    never for ``browser`` (anonymous)."""
    persona = population.persona_of(index)
    if persona in ("login", "multidevice", "churner"):
        return True
    if persona == "shopper":
        return _unit(population.seed, index, "setup-login") < _SHOPPER_LOGIN_SHARE
    return False


class _Paced:
    """A transport that counts requests and spaces them to at most ``rate`` per second in all
    threads together (0: no cap)."""

    def __init__(self, inner: Transport, gate: _Gate) -> None:
        self.inner, self.gate = inner, gate

    def send(self, request: Outgoing) -> Reply:
        self.gate.acquire()
        return self.inner.send(request)


class _Gate:
    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self.next = time.monotonic()
        self.lock = threading.Lock()
        self.sent = 0

    def acquire(self) -> None:
        with self.lock:
            self.sent += 1
            if not self.interval:
                return
            now = time.monotonic()
            wait = self.next - now
            self.next = max(self.next, now) + self.interval
        if wait > 0:
            time.sleep(wait)


def _install(population: Population, index: int, app: AppConfig, transport: Any, now: float) -> tuple[bytes, bool]:
    """One device's install session on a backdated virtual clock; its parked state and whether it
    logged in."""
    days = 1 + (INSTALL_WINDOW_DAYS - 1) * _unit(population.seed, index, "install-day")
    clock = VirtualClock(start=now - days * 86400.0)
    device = VirtualDevice.create(
        population.platform_of(index),
        app,
        seed=population.device_seed(index),
        transport=transport,
        clock=clock,
        tablet=population.is_tablet(index),
        route=index + 1,
    )
    device.start()
    if device.reg_id is None:
        raise device.last_error or SimulatorError("the registration got no pushRegId")
    logged_in = False
    if logs_in_at_install(population, index):
        from ._personas import log_in, person_attributes

        device.advance(3.0)
        primary = population.persona_of(index) == "multidevice" and index % 2 == 0
        try:
            log_in(device, population.identity(index), person_attributes(population, index), primary=primary)
        except UsageError:
            raise
        except SimulatorError:
            pass  # a refused login: the device stays registered, logged out (a run's session logs in)
        logged_in = bool(device.user.get("externalUserId"))
    device.advance(_SESSION_SECONDS)
    device.background()
    # Back within 30 s (the same session), as a quarter of sessions are: on Android this reports
    # the first session's start, which the first launch could not (the registration was still
    # under way), so the installed base holds no App Launch that the run would report late.
    device.advance(10.0)
    device.foreground()
    device.advance(5.0)
    device.background()
    device.advance(10.0)  # batches and debounced reports go out before the process dies
    return device.park(), logged_in


def establish(
    population: Population,
    *,
    rate: float = 0.0,
    concurrency: int = 16,
    timeout: float = 20.0,
    progress: Callable[[int, int], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    now: Callable[[], float] = time.time,
    transport_factory: Callable[[], Transport] | None = None,
) -> SetupResult:
    """Install every device of ``population``'s slice that has no parked state yet.

    ``progress(done, total)`` is called after each device; ``should_stop()`` ends the set-up early
    (devices not reached stay uninstalled and register when the run first drives them).
    ``transport_factory()`` makes each worker thread's transport (default: an ``httpx.Client``).
    """
    todo = list(population.uninstalled())
    result = SetupResult(devices=len(todo))
    if not todo:
        return result
    app = AppConfig(population.app.app_code, base_url=population.app.base_url)  # no observer: not the run's
    gate = _Gate(rate)
    local = threading.local()
    made: list[Transport] = []
    lock = threading.Lock()
    started = time.monotonic()
    make = transport_factory or (lambda: HTTPXTransport(httpx.Client(timeout=timeout)))

    def transport() -> _Paced:
        paced: _Paced | None = getattr(local, "transport", None)
        if paced is None:
            inner = make()
            with lock:
                made.append(inner)
            paced = local.transport = _Paced(inner, gate)
        return paced

    def one(index: int) -> None:
        if should_stop is not None and should_stop():
            return
        try:
            blob, logged_in = _install(population, index, app, transport(), now())
        except SimulatorError as exc:
            with lock:
                result.failed += 1
                key = getattr(exc, "code", None) or type(exc).__name__
                result.errors[str(key)] = result.errors.get(str(key), 0) + 1
        else:
            population.store(index, blob)
            with lock:
                result.registered += 1
                result.personalized += logged_in
        if progress is not None:
            with lock:
                done = result.registered + result.failed
            progress(done, len(todo))

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(concurrency, len(todo)))) as pool:
            for _ in pool.map(one, todo):
                pass
    finally:
        for inner in made:
            close = getattr(inner, "close", None)
            if close is not None:
                close()
    result.requests = gate.sent
    result.seconds = time.monotonic() - started
    return result
