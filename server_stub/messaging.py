"""The messaging side of a server: its Push API keys, the push provider's latency, provider wake-ups.

API keys authenticate the Push API (``Authorization: App <key>``); each belongs to an account (the
``mobsim serve --api-key`` keys to the default one). Like application codes they are kept in the
store, so a file store keeps its keys across restarts, and read from memory on every request.

The latency is the time between a message's send time and the moment the simulated push provider
may hand it to a device: lognormal with a median and a 95th percentile (``--push-latency``), drawn
from an injected :class:`random.Random`. ``sleep`` is what a long-polling provider request awaits
between looks (tests put one there that moves their clock instead).
"""

from __future__ import annotations

import asyncio
import math
import random
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from .rules.messages import epoch_ms
from .store import Store

__all__ = ["Messaging", "PushLatency", "new_api_key"]

_Z95 = 1.6448536269514722
"""The 95th percentile of the standard normal distribution."""


def new_api_key() -> str:
    """An API key shaped like Infobip's: 32 hex digits, a dash, 36 more characters."""
    return f"{secrets.token_hex(16)}-{secrets.token_hex(18)}"


@dataclass(frozen=True, slots=True)
class PushLatency:
    """Push delivery latency: lognormal with this median and 95th percentile, in milliseconds."""

    median_ms: float = 300.0
    p95_ms: float = 1500.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.median_ms) and math.isfinite(self.p95_ms)):
            raise ValueError("latencies are finite numbers of milliseconds")
        if self.median_ms < 0 or self.p95_ms < self.median_ms:
            raise ValueError("the median is ≥ 0 and the 95th percentile is not below it")

    @classmethod
    def parse(cls, text: str) -> PushLatency:
        """``MEDIAN_MS[:P95_MS]``; without a 95th percentile it is five times the median (as 300:1500)."""
        median_text, _, p95_text = text.strip().partition(":")
        try:
            median = float(median_text)
            p95 = float(p95_text) if p95_text else 5 * median
            return cls(median, p95)
        except ValueError as exc:
            raise ValueError(f"{text!r}: write MEDIAN_MS[:P95_MS], e.g. 300:1500 ({exc})") from None

    def sample_ms(self, rng: random.Random) -> int:
        if self.median_ms == 0:
            return 0
        if self.p95_ms == self.median_ms:
            return round(self.median_ms)
        sigma = (math.log(self.p95_ms) - math.log(self.median_ms)) / _Z95
        return round(rng.lognormvariate(math.log(self.median_ms), sigma))

    def __str__(self) -> str:
        return f"{self.median_ms:g}:{self.p95_ms:g}"


class Messaging:
    """API keys (key → account), the provider latency and its RNG, and the provider's wake-ups."""

    def __init__(self, store: Store, *, latency: PushLatency | None = None, rng: random.Random | None = None) -> None:
        self.store = store
        self.latency = latency or PushLatency()
        self.rng = rng or random.Random()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
        self.version = 0
        """Bumped when messages were sent: a long-polling provider request looks again."""
        self.relay: Any = None
        """The :class:`server_stub.relay.ProviderRelay` sending the messages through push providers
        (``mobsim serve --providers``); then ``GET /provider/1/deliveries`` hands nothing out."""
        with store.transaction() as db:
            rows = db.execute("SELECT key, account FROM api_keys ORDER BY created, key").fetchall()
        self._keys: dict[str, str] = {row["key"]: row["account"] for row in rows}

    def add_api_key(self, key: str | None = None, *, account: str = "default") -> str:
        """Register an API key (idempotent for a known key; it keeps its account)."""
        key = new_api_key() if key is None else key
        if not 1 <= len(key) <= 200 or not key.isascii() or not key.isprintable() or " " in key:
            raise ValueError("an API key is 1 to 200 printable ASCII characters without spaces")
        created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self.store.transaction() as db:
            db.execute("INSERT INTO api_keys VALUES (?,?,?) ON CONFLICT (key) DO NOTHING", (key, account, created))
            row = db.execute("SELECT account FROM api_keys WHERE key=?", (key,)).fetchone()
        self._keys[key] = row["account"]
        return key

    def ensure_api_key(self) -> str:
        """The first API key, created when there is none (``mobsim serve`` without ``--api-key``)."""
        return next(iter(self._keys), None) or self.add_api_key()

    def api_keys(self) -> list[str]:
        return list(self._keys)

    def account_of_key(self, key: str) -> str | None:
        return self._keys.get(key)

    def sample_latency_ms(self) -> int:
        return self.latency.sample_ms(self.rng)

    async def wait_for_send(
        self,
        version: int,
        clock: Callable[[], datetime],
        *,
        due: int | None,
        seconds: float,
        look: float,
        until: int | None = None,
    ) -> None:
        """Until messages are sent after ``version`` (a send bumps :attr:`version`), the time
        ``due`` or ``until`` (epoch ms by ``clock``: the next message's due time, a deadline) or
        ``seconds`` of real time (a frozen test clock cannot hang it), looking every ``look``
        seconds, never sleeping past ``due`` or ``until``; no store access in between. The long-poll
        of ``GET /provider/1/deliveries`` (server_stub/provider.py) and the relay's idle wait
        (server_stub/relay/loop.py) both wait here."""
        started = time.monotonic()
        ends = [moment for moment in (due, until) if moment is not None]
        nearest = min(ends) if ends else None
        while version == self.version and time.monotonic() - started < seconds:
            if nearest is None:
                await self.sleep(look)
                continue
            left = nearest - epoch_ms(clock())
            if left <= 0:
                return
            await self.sleep(min(look, left / 1000))
