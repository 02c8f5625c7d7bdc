"""The reference server sending its pushes through push providers, as a real backend does.

With ``mobsim serve --providers`` (or ``mobsim run --providers``) the server does not hand its
messages out itself (``GET /provider/1/deliveries`` of the server answers 404 then): this relay,
running on the server's event loop, claims each due message (:func:`claim_deliveries`, every
application), sends it to FCM (Android), HMS (Huawei) or APNs (iOS) with a backend's credentials
(server_stub/relay/senders.py), and settles the answer (:func:`server_stub.rules.relaying.settle_sends`):
a retry goes back in the queue with exponential back-off (0.5 s doubling to 60 s, or the provider's
``Retry-After`` when later) until the message expires; a "gone" token uninstalls its installation.

Flow: one claimer fills a bounded queue (``batch`` × 2), ``concurrency`` workers send, a settler
writes the outcomes every ``SETTLE_EVERY`` seconds in one transaction. When the server stops, the
messages claimed but not sent are put back (due at once), so none is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from contract.dialect import Platform

from ..rules.context import Caller
from ..rules.messages import claim_deliveries, epoch_ms
from ..rules.relaying import settle_sends
from ..server import ProfileServer
from .senders import ApnsSender, FcmSender, HmsSender, Sender
from .targets import Outcome, RelayTargets

__all__ = ["ProviderRelay"]

_log = logging.getLogger("mobsim.relay")
SETTLE_EVERY = 0.1
IDLE_LOOK = 0.05
"""Seconds between looks at the queue while nothing is due (a new send wakes the claimer sooner)."""
IDLE_MAX = 1.0
BACKOFF_FIRST, BACKOFF_MAX = 0.5, 60.0
_PROVIDER = {Platform.ANDROID: "fcm", Platform.HUAWEI: "hms", Platform.IOS: "apns"}


def _url(target: Any) -> str | None:
    return str(target.base_url) if target is not None else None


class ProviderRelay:
    """Claims, sends and settles; ``counts`` and :meth:`snapshot` say what the providers answered."""

    def __init__(
        self,
        server: ProfileServer,
        targets: RelayTargets,
        *,
        batch: int = 500,
        concurrency: int = 16,
        http: httpx.AsyncClient | None = None,
        apns_http: httpx.AsyncClient | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        senders: Mapping[Platform, Sender] | None = None,
    ) -> None:
        """``http``/``apns_http``: the clients to send with (default: made by :meth:`run`); ``senders``:
        replace the ones built from ``targets`` (tests); ``clock``: the providers' JWT times."""
        self.server, self.targets = server, targets
        self.batch, self.concurrency = batch, concurrency
        self.clock = clock
        self.rng = rng or random.Random()
        self._http, self._apns_http = http, apns_http
        self.counts: dict[str, Counter[str]] = {name: Counter() for name in _PROVIDER.values()}
        self.reasons: Counter[tuple[str, str]] = Counter()
        self.uninstalled = 0
        self._attempts: dict[str, int] = {}
        self._settled: list[tuple[str, str, int]] = []
        self._queue: asyncio.Queue[dict[str, Any]] | None = None
        self._senders: dict[Platform, Sender] = {}
        self._given = dict(senders or {})

    def snapshot(self) -> dict[str, Any]:
        """What the relay did: per provider sent/retried/gone/rejected, the reasons, the queue."""
        return {
            "providers": {
                name: {"sent": c["sent"], "retried": c["retry"], "gone": c["gone"], "rejected": c["rejected"]}
                for name, c in self.counts.items()
            },
            "reasons": [{"provider": p, "reason": r, "count": n} for (p, r), n in self.reasons.most_common(50)],
            "uninstalled": self.uninstalled,
            "in_flight": self._queue.qsize() if self._queue is not None else 0,
            "targets": {name: _url(getattr(self.targets, name)) for name in ("fcm", "hms", "apns")},
        }

    async def run(self) -> None:
        """Relay until cancelled."""
        async with contextlib.AsyncExitStack() as stack:
            http = self._http
            if http is None:
                limits = httpx.Limits(max_connections=self.concurrency)
                http = await stack.enter_async_context(httpx.AsyncClient(timeout=30.0, limits=limits))
            self._build_senders(http)
            if self.targets.apns is not None:
                apns_http = self._apns_http
                if apns_http is None:
                    context = ApnsSender.client_context(self.targets.apns)
                    apns_http = await stack.enter_async_context(
                        httpx.AsyncClient(http2=True, timeout=30.0, verify=context)
                    )
                self._senders[Platform.IOS] = ApnsSender(apns_http, self.targets.apns, self.clock)
            self._senders.update(self._given)
            self._queue = asyncio.Queue(maxsize=self.batch * 2)
            tasks = [
                asyncio.create_task(self._worker(await self._worker_senders(stack))) for _ in range(self.concurrency)
            ]
            tasks.append(asyncio.create_task(self._settler()))
            try:
                await self._claimer()
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                while not self._queue.empty():  # claimed, never sent: due again at once
                    self._settled.append((self._queue.get_nowait()["messageId"], "retry", 0))
                await self._settle()

    def _build_senders(self, http: httpx.AsyncClient) -> None:
        if self.targets.fcm is not None:
            self._senders[Platform.ANDROID] = FcmSender(http, self.targets.fcm, self.clock)
        if self.targets.hms is not None:
            self._senders[Platform.HUAWEI] = HmsSender(http, self.targets.hms, self.clock)

    async def _claimer(self) -> None:
        assert self._queue is not None
        server = self.server
        while True:
            version = server.messaging.version
            found_any = False
            nearest: int | None = None
            for app in await server.applications_async():
                caller = Caller(app_code=app["code"], account=server.account_of(app["code"]) or "default")
                claim = asyncio.ensure_future(server.execute(caller, claim_deliveries, shard=0, of=1, limit=self.batch))
                try:
                    found, next_due = await asyncio.shield(claim)
                except asyncio.CancelledError:  # stopped while the claim commits: it commits all the same
                    self._put_back((await claim)[0])
                    raise
                for index, delivery in enumerate(found):
                    found_any = True
                    try:
                        await self._queue.put(delivery)
                    except asyncio.CancelledError:  # stopped on a full queue: the rest was claimed, never queued
                        self._put_back(found[index:])
                        raise
                if next_due is not None:
                    nearest = next_due if nearest is None else min(nearest, next_due)
            if not found_any:
                await self._idle(version, nearest)

    async def _idle(self, version: int, next_due: int | None) -> None:
        """Until a new send, the next message's due time, or ``IDLE_MAX``."""
        await self.server.messaging.wait_for_send(
            version, self.server.clock, due=next_due, seconds=IDLE_MAX, look=IDLE_LOOK
        )

    async def _worker_senders(self, stack: contextlib.AsyncExitStack) -> dict[Platform, Sender]:
        """A worker's senders: FCM and HMS on a client of its own with one connection (httpcore checks
        every idle connection of a pool before each request: a shared pool costs a syscall per
        connection per send; measured in bench/relay.py), APNs on the shared HTTP/2 connection."""
        if self._http is not None:
            return self._senders
        own = dict(self._senders)
        http = await stack.enter_async_context(httpx.AsyncClient(timeout=30.0, limits=httpx.Limits(max_connections=1)))
        for platform in (Platform.ANDROID, Platform.HUAWEI):
            sender = own.get(platform)
            if isinstance(sender, FcmSender | HmsSender) and platform not in self._given:
                own[platform] = sender.on(http)
        return own

    async def _worker(self, senders: dict[Platform, Sender]) -> None:
        assert self._queue is not None
        while True:
            delivery = await self._queue.get()
            platform = Platform(delivery["platform"])
            sender = senders.get(platform)
            if sender is None:
                outcome = Outcome("rejected", str(delivery["messageId"]), "NO_PROVIDER")
            else:
                try:
                    outcome = await sender.send(delivery)
                except asyncio.CancelledError:  # stopped mid-send: due again (the provider may have it)
                    self._put_back([delivery])
                    raise
                except Exception as exc:  # a sender bug must not lose the message
                    _log.exception("sending %s failed", delivery["messageId"])
                    outcome = Outcome("retry", str(delivery["messageId"]), type(exc).__name__)
            self._record(_PROVIDER[platform], outcome)

    def _put_back(self, deliveries: list[dict[str, Any]]) -> None:
        """Claimed messages the relay did not send (it stopped): due again at once (the last settle)."""
        self._settled.extend((str(d["messageId"]), "retry", 0) for d in deliveries)

    def _record(self, provider: str, outcome: Outcome) -> None:
        self.counts[provider][outcome.kind] += 1
        if outcome.kind != "sent":
            self.reasons[(provider, outcome.reason)] += 1
        retry_at = 0
        if outcome.kind == "retry":
            attempt = self._attempts.get(outcome.message_id, 0) + 1
            self._attempts[outcome.message_id] = attempt
            backoff = min(BACKOFF_MAX, BACKOFF_FIRST * 2 ** (attempt - 1)) * self.rng.uniform(0.8, 1.2)
            retry_at = epoch_ms(self.server.clock()) + round(1000 * max(backoff, outcome.after))
        else:
            self._attempts.pop(outcome.message_id, None)
        self._settled.append((outcome.message_id, outcome.kind, retry_at))

    async def _settler(self) -> None:
        while True:
            await asyncio.sleep(SETTLE_EVERY)
            await self._settle()

    async def _settle(self) -> None:
        settled = [s for s in self._settled if s[1] != "sent"]
        self._settled = []
        if not settled:
            return
        try:
            self.uninstalled += await self.server.execute(self.server.admin(), settle_sends, settled)
        except Exception:  # the store failed (a full disk): keep them for the next settle
            _log.warning("could not settle %d provider answers; trying again", len(settled), exc_info=True)
            self._settled[:0] = settled
