"""The reference server as a push backend's client of FCM HTTP v1, HMS Push Kit and APNs.

Each sender turns one delivery (the queue's ``messageId``, ``pushToken`` and the platform's
``payload``, :func:`server_stub.rules.messages.claim_deliveries`) into the provider's request, with
the credentials a backend holds, and classifies the answer as an :class:`Outcome` the way the
providers' documentation tells a backend to (docs/reference/push-providers.md):

- FCM: 200 sent; 404 ``UNREGISTERED``, or 400 ``INVALID_ARGUMENT`` naming ``message.token``: gone;
  401: a new access token, then again; 429 and 5xx: again after ``Retry-After``; other 4xx: rejected.
- HMS: ``80000000`` sent; ``80300007`` (invalid token) gone; ``80200001``/``80200003`` (OAuth): a new
  token, then again; HTTP 429 and 5xx: again; other codes rejected.
- APNs: 200 sent; 410 ``Unregistered`` and 400 ``BadDeviceToken`` gone; 403 ``ExpiredProviderToken``
  or ``InvalidProviderToken``: a new provider token, then again; 429 and 5xx: again; other 4xx rejected.

A request that got no answer (connection refused or reset, a timeout) is sent again.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import httpx
import jwt

from .targets import ApnsTarget, FcmTarget, HmsTarget, Outcome

__all__ = ["ApnsSender", "FcmSender", "HmsSender", "Sender"]

FCM_SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
APNS_TOKEN_REFRESH = 40 * 60.0
"""Seconds an APNs provider token is used: Apple refuses one older than an hour and a new one sooner
than 20 minutes after the last (TooManyProviderTokenUpdates)."""
_EARLY = 300.0
"""An OAuth access token is renewed this many seconds before it expires."""


class Sender(Protocol):
    async def send(self, delivery: Mapping[str, Any]) -> Outcome: ...


def _retry_after(answer: httpx.Response) -> float:
    text = answer.headers.get("retry-after", "")
    return float(text) if text.isdigit() else 0.0


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return None


def _no_answer(message_id: str, exc: Exception) -> Outcome:
    return Outcome("retry", message_id, type(exc).__name__)


class _AccessToken:
    """An OAuth access token shared by concurrent sends: one exchange at a time, renewed early."""

    def __init__(self, fetch: Callable[[], Any], clock: Callable[[], float]) -> None:
        self._fetch = fetch
        self._clock = clock
        self._value: str | None = None
        self._until = 0.0
        self._lock = asyncio.Lock()

    async def get(self) -> str:
        async with self._lock:
            if self._value is None or self._clock() >= self._until - _EARLY:
                value, lifetime = await self._fetch()
                self._value, self._until = value, self._clock() + lifetime
            return self._value

    def drop(self, value: str) -> None:
        if self._value == value:
            self._value = None


class TokenError(Exception):
    """The provider's token endpoint refused the credentials or answered something unreadable."""


async def _exchange(http: httpx.AsyncClient, url: str, form: dict[str, str]) -> tuple[str, float]:
    answer = await http.post(url, data=form)
    body = _json(answer)
    if answer.status_code != 200 or not isinstance(body, dict) or not isinstance(body.get("access_token"), str):
        raise TokenError(f"{url} answered {answer.status_code}: {answer.text[:200]}")
    lifetime = body.get("expires_in")
    return body["access_token"], float(lifetime) if isinstance(lifetime, int | float) else 3600.0


class FcmSender:
    """``POST /v1/projects/{project}/messages:send`` with a service account's access token."""

    def __init__(self, http: httpx.AsyncClient, target: FcmTarget, clock: Callable[[], float] = time.time) -> None:
        self.http, self.target, self.clock = http, target, clock
        self.url = f"{target.base_url.rstrip('/')}/v1/projects/{target.project}/messages:send"
        self.token = _AccessToken(self._fetch, clock)

    def on(self, http: httpx.AsyncClient) -> FcmSender:
        """The same sender on another client, sharing the access token (one exchange for all)."""
        twin = FcmSender(http, self.target, self.clock)
        twin.token = self.token
        return twin

    async def _fetch(self) -> tuple[str, float]:
        account = self.target.service_account
        now = int(self.clock())
        claims = {"iss": account["client_email"], "scope": FCM_SCOPE, "aud": account["token_uri"], "iat": now,
                  "exp": now + 3600}  # fmt: skip
        assertion = jwt.encode(claims, account["private_key"], algorithm="RS256",
                               headers={"kid": account["private_key_id"]})  # fmt: skip
        return await _exchange(self.http, account["token_uri"], {"grant_type": JWT_BEARER, "assertion": assertion})

    async def send(self, delivery: Mapping[str, Any]) -> Outcome:
        message_id = str(delivery["messageId"])
        body = {"message": {"token": delivery["pushToken"], "data": delivery["payload"]}}
        try:
            access = await self.token.get()
            answer = await self.http.post(self.url, json=body, headers={"Authorization": f"Bearer {access}"})
        except (httpx.HTTPError, TokenError) as exc:
            return _no_answer(message_id, exc)
        status = answer.status_code
        if status == 200:
            return Outcome("sent", message_id)
        error = (_json(answer) or {}).get("error") if isinstance(_json(answer), dict) else None
        error = error if isinstance(error, dict) else {}
        details = [d for d in error.get("details") or [] if isinstance(d, dict)]
        code = next((str(d["errorCode"]) for d in details if "errorCode" in d), str(error.get("status", status)))
        fields = {str(v.get("field")) for d in details for v in d.get("fieldViolations") or [] if isinstance(v, dict)}
        if status == 401:
            self.token.drop(access)
            return Outcome("retry", message_id, "UNAUTHENTICATED")
        if code == "UNREGISTERED" or (status == 400 and "message.token" in fields):
            return Outcome("gone", message_id, code)
        if status == 429 or status >= 500:
            return Outcome("retry", message_id, code, _retry_after(answer))
        return Outcome("rejected", message_id, code)


_HMS_SENT = ("80000000", "80100000")
_HMS_GONE = "80300007"
_HMS_OAUTH = ("80200001", "80200003")


class HmsSender:
    """``POST /v1/{appId}/messages:send`` (one token a send: each message has its own id)."""

    def __init__(self, http: httpx.AsyncClient, target: HmsTarget, clock: Callable[[], float] = time.time) -> None:
        self.http, self.target, self.clock = http, target, clock
        self.url = f"{target.base_url.rstrip('/')}/v1/{target.app_id}/messages:send"
        self.token = _AccessToken(self._fetch, clock)

    def on(self, http: httpx.AsyncClient) -> HmsSender:
        """The same sender on another client, sharing the access token (one exchange for all)."""
        twin = HmsSender(http, self.target, self.clock)
        twin.token = self.token
        return twin

    async def _fetch(self) -> tuple[str, float]:
        form = {"grant_type": "client_credentials", "client_id": self.target.app_id,
                "client_secret": self.target.client_secret}  # fmt: skip
        return await _exchange(self.http, self.target.token_url, form)

    async def send(self, delivery: Mapping[str, Any]) -> Outcome:
        message_id = str(delivery["messageId"])
        body = {"message": {"token": [delivery["pushToken"]], "data": delivery["payload"]}}
        try:
            access = await self.token.get()
            answer = await self.http.post(self.url, json=body, headers={"Authorization": f"Bearer {access}"})
        except (httpx.HTTPError, TokenError) as exc:
            return _no_answer(message_id, exc)
        parsed = _json(answer)
        code = str(parsed.get("code")) if isinstance(parsed, dict) else str(answer.status_code)
        if answer.status_code == 200 and code in _HMS_SENT:
            return Outcome("sent", message_id)
        if code in _HMS_OAUTH:
            self.token.drop(access)
            return Outcome("retry", message_id, code)
        if code == _HMS_GONE:
            return Outcome("gone", message_id, code)
        if answer.status_code == 429 or answer.status_code >= 500:
            return Outcome("retry", message_id, code, _retry_after(answer))
        return Outcome("rejected", message_id, code)


class ApnsSender:
    """``POST /3/device/{token}`` over one HTTP/2 connection pool with an ES256 provider token."""

    def __init__(self, http: httpx.AsyncClient, target: ApnsTarget, clock: Callable[[], float] = time.time) -> None:
        self.http, self.target, self.clock = http, target, clock
        self.base = target.base_url.rstrip("/")
        self._token: tuple[str, float] | None = None

    @staticmethod
    def client_context(target: ApnsTarget) -> ssl.SSLContext:
        """TLS trusting the target's CA (and nothing else: a loopback APNs is not a public server)."""
        return ssl.create_default_context(cafile=str(target.ca_file))

    def _provider_token(self) -> str:
        now = self.clock()
        if self._token is None or now - self._token[1] >= APNS_TOKEN_REFRESH:
            value = jwt.encode({"iss": self.target.team_id, "iat": int(now)}, self.target.key_pem, algorithm="ES256",
                               headers={"kid": self.target.key_id})  # fmt: skip
            self._token = (value, now)
        return self._token[0]

    async def send(self, delivery: Mapping[str, Any]) -> Outcome:
        message_id = str(delivery["messageId"])
        payload = delivery["payload"]
        background = isinstance(payload, dict) and "alert" not in (payload.get("aps") or {})
        headers = {
            "authorization": f"bearer {self._provider_token()}",
            "apns-topic": self.target.topic,
            "apns-push-type": "background" if background else "alert",
            "apns-priority": "5" if background else "10",
        }
        body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        try:
            answer = await self.http.post(f"{self.base}/3/device/{delivery['pushToken']}", content=body,
                                          headers=headers)  # fmt: skip
        except httpx.HTTPError as exc:
            return _no_answer(message_id, exc)
        status = answer.status_code
        if status == 200:
            return Outcome("sent", message_id)
        parsed = _json(answer)
        reason = str(parsed.get("reason")) if isinstance(parsed, dict) else str(status)
        if status == 410 or reason == "BadDeviceToken":
            return Outcome("gone", message_id, reason)
        if reason in ("ExpiredProviderToken", "InvalidProviderToken"):
            if self._token is not None and headers["authorization"] == f"bearer {self._token[0]}":
                self._token = None  # not a newer one: a renewal sooner than 20 min is TooManyProviderTokenUpdates
            return Outcome("retry", message_id, reason)
        if status == 429 or status >= 500:
            return Outcome("retry", message_id, reason, _retry_after(answer))
        return Outcome("rejected", message_id, reason)
