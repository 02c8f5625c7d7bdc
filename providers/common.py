"""What the FCM and HMS imitations share: access tokens, a quota window, JSON answers, the campaign
a payload names, and the device route a token carries."""

from __future__ import annotations

import json
import math
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response

from contract.dialect import Platform
from contract.messages import parse_push, token_route

__all__ = ["AccessTokens", "QuotaWindow", "bearer", "campaign_of", "form", "json_answer", "read_json", "route_of"]


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    text = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
    return Response(text, status_code=status, media_type="application/json", headers=headers)


async def read_json(request: Request) -> tuple[Any, int, str | None]:
    """The parsed body, its size in bytes, and a problem (None when it parsed)."""
    raw = await request.body()
    try:
        return json.loads(raw), len(raw), None
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        return None, len(raw), f"the body is not JSON: {exc}"


async def form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (the token endpoints'); the last repeat wins."""
    raw = await request.body()
    return dict(parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True))


def bearer(request: Request) -> str | None:
    """The ``Authorization: Bearer <token>`` credential (the scheme matched case-insensitively)."""
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    return credential if scheme.lower() == "bearer" and credential else None


@dataclass
class AccessTokens:
    """Access tokens this provider issued: each valid from issue until ``lifetime`` seconds later
    (expired at the exact second ``issued + lifetime``), bound to one subject (a service account, an app)."""

    clock: Callable[[], float]
    lifetime: int = 3600
    prefix: str = ""
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue(self, subject: str) -> tuple[str, int]:
        token = self.prefix + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = (subject, self.clock() + self.lifetime)
        return token, self.lifetime

    def check(self, token: str | None) -> tuple[str | None, str | None]:
        """(subject, None) for a live token; (None, "missing" | "unknown" | "expired") otherwise."""
        if token is None:
            return None, "missing"
        with self._lock:
            found = self._tokens.get(token)
        if found is None:
            return None, "unknown"
        subject, expires = found
        if self.clock() >= expires:
            return None, "expired"
        return subject, None


@dataclass
class QuotaWindow:
    """At most ``limit`` sends per key in each ``seconds``-long window aligned to the clock (FCM's
    per-minute bucket, refilled at the end of each minute); ``limit`` None is no quota."""

    clock: Callable[[], float]
    limit: int | None = None
    seconds: float = 60.0
    _counts: dict[str, tuple[int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, key: str) -> int | None:
        """None when the send is within the quota; else the whole seconds until the window refills."""
        if self.limit is None:
            return None
        now = self.clock()
        window = math.floor(now / self.seconds)
        with self._lock:
            current, used = self._counts.get(key, (window, 0))
            if current != window:
                used = 0
            if used >= self.limit:
                self._counts[key] = (window, used)
                return max(1, math.ceil((window + 1) * self.seconds - now))
            self._counts[key] = (window, used + 1)
        return None


def route_of(platform: Platform, token: str) -> int | None:
    """The virtual device's route a token carries (:func:`contract.messages.token_route`), or None."""
    return token_route(platform, token)


def campaign_of(platform: Platform, delivered: Any) -> tuple[str | None, str | None]:
    """(campaign, Infobip message id) of a delivered payload: the ``bulkId`` of its ``internal`` data."""
    message = parse_push(platform, delivered)
    if message is None:
        return None, None
    return message.bulk_id, message.message_id
