"""The journal of what a backend sent to the loopback push providers (the shared interface of issue 14).

Every send a provider answers is recorded: :class:`Accepted` (the device will get it) or
:class:`Rejected` (the provider's error answer). ``due`` hands each accepted send once to the
deliveries feed; ``verify`` holds the checks a test wants: every targeted device got exactly one
message per campaign, no message was accepted for a token after its uninstall. Thread-safe: the
APNs server runs in its own thread and event loop.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["PROVIDERS", "Accepted", "Journal", "Provider", "Rejected"]

Provider = Literal["fcm", "apns", "hms"]
PROVIDERS: tuple[Provider, ...] = ("fcm", "apns", "hms")


@dataclass(frozen=True, slots=True)
class Accepted:
    provider: Provider
    token: str
    """The device token the send named."""
    message_id: str
    """The provider's id: FCM ``projects/p/messages/<id>``, APNs apns-id, HMS requestId."""
    payload: dict[str, Any]
    """What the device receives, in the platform's delivered form."""
    size: int
    """Payload bytes as the provider counts them."""
    received_at: float
    """``time.time()`` (the journal's clock) at acceptance."""
    campaign: str | None
    """A campaign/bulk id if the payload names one, else None."""


@dataclass(frozen=True, slots=True)
class Rejected:
    provider: Provider
    token: str | None
    status: int
    reason: str
    """FCM errorCode / APNs reason / HMS code."""
    size: int
    received_at: float


def _sizes(values: list[int]) -> dict[str, float] | None:
    if not values:
        return None
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


class Journal:
    """What the providers accepted and rejected, the uninstalled tokens, and the hand-off queue."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self.accepted: list[Accepted] = []
        self.rejected: list[Rejected] = []
        self._handed = 0
        self._uninstalled: dict[tuple[Provider, str], float] = {}

    def accept(
        self,
        provider: Provider,
        token: str,
        payload: dict[str, Any],
        *,
        size: int,
        message_id: str,
        campaign: str | None = None,
    ) -> Accepted:
        with self._lock:
            entry = Accepted(provider, token, message_id, payload, size, self.clock(), campaign)
            self.accepted.append(entry)
            return entry

    def reject(self, provider: Provider, token: str | None, status: int, reason: str, *, size: int) -> Rejected:
        with self._lock:
            entry = Rejected(provider, token, status, reason, size, self.clock())
            self.rejected.append(entry)
            return entry

    def uninstall(self, provider: Provider, token: str, at: float | None = None) -> None:
        """Mark a token uninstalled (later sends to it are rejected as each provider does; a send after
        the uninstall is a journal check failure)."""
        with self._lock:
            self._uninstalled[(provider, token)] = self.clock() if at is None else at

    def is_uninstalled(self, provider: Provider, token: str) -> float | None:
        """When the token was uninstalled, or None."""
        with self._lock:
            return self._uninstalled.get((provider, token))

    def due(self, limit: int) -> list[Accepted]:
        """Accepted sends not yet handed to devices, oldest first; each is handed once."""
        with self._lock:
            start = self._handed
            found = self.accepted[start : start + max(0, limit)]
            self._handed = start + len(found)
            return found

    def pending(self) -> int:
        """How many accepted sends have not been handed yet."""
        with self._lock:
            return len(self.accepted) - self._handed

    def summary(self) -> dict[str, Any]:
        """Counts per provider (accepted, rejected by status and reason), per campaign, payload sizes."""
        with self._lock:
            accepted, rejected = list(self.accepted), list(self.rejected)
        providers: dict[str, Any] = {}
        for name in PROVIDERS:
            ok = [a for a in accepted if a.provider == name]
            bad = [r for r in rejected if r.provider == name]
            if not ok and not bad:
                continue
            providers[name] = {
                "accepted": len(ok),
                "rejected": len(bad),
                "status": dict(sorted(Counter(str(r.status) for r in bad).items())),
                "reason": dict(sorted(Counter(r.reason for r in bad).items())),
                "sizes": _sizes([a.size for a in ok]),
            }
        campaigns: dict[str, dict[str, int]] = defaultdict(lambda: {"messages": 0, "tokens": 0})
        tokens: dict[str, set[tuple[str, str]]] = defaultdict(set)
        for a in accepted:
            if a.campaign is not None:
                campaigns[a.campaign]["messages"] += 1
                tokens[a.campaign].add((a.provider, a.token))
        for campaign, seen in tokens.items():
            campaigns[campaign]["tokens"] = len(seen)
        return {
            "accepted": len(accepted),
            "rejected": len(rejected),
            "providers": providers,
            "campaigns": dict(sorted(campaigns.items())),
            "sizes": _sizes([a.size for a in accepted]),
        }

    def verify(self, expected_tokens: Iterable[str] | None = None) -> list[str]:
        """The problems, empty when all is well: a token that got other than one message of a campaign,
        a send accepted after its token's uninstall, an expected token that no campaign (or no send
        at all, when there is no campaign) reached."""
        with self._lock:
            accepted = list(self.accepted)
            uninstalled = dict(self._uninstalled)
        problems: list[str] = []
        per_campaign: dict[str, Counter[str]] = defaultdict(Counter)
        for a in accepted:
            if a.campaign is not None:
                per_campaign[a.campaign][a.token] += 1
            gone = uninstalled.get((a.provider, a.token))
            if gone is not None and a.received_at > gone:
                problems.append(
                    f"{a.provider} accepted message {a.message_id} for token {a.token[:16]}… "
                    f"{a.received_at - gone:.3f} s after its uninstall"
                )
        for campaign, counts in sorted(per_campaign.items()):
            for token, count in counts.items():
                if count != 1:
                    problems.append(f"campaign {campaign}: token {token[:16]}… got {count} messages, not 1")
        if expected_tokens is not None:
            expected = set(expected_tokens)
            if per_campaign:
                for campaign, counts in sorted(per_campaign.items()):
                    missed = sorted(expected - set(counts))
                    if missed:
                        problems.append(
                            f"campaign {campaign}: {len(missed)} expected token(s) got no message, "
                            f"e.g. {missed[0][:16]}…"
                        )
            else:
                missed = sorted(expected - {a.token for a in accepted})
                if missed:
                    problems.append(f"{len(missed)} expected token(s) got no message, e.g. {missed[0][:16]}…")
        return problems
