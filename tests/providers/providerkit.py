"""Shared test helpers: a settable clock, device tokens with routes, a service-account assertion."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx

from contract.dialect import Platform
from contract.messages import Message, fcm_data, hms_data
from providers.app import create_providers_app
from providers.journal import Journal
from simulator.tokens import push_token

T0 = 1_800_000_000.0
AUD = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token_of(platform: Platform, route: int) -> str:
    return push_token(platform, 7, route, 0, route=route)


def b64(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


def assertion(now: float = T0, **claims: Any) -> str:
    body = {"iss": "mobsim@p.iam.gserviceaccount.com", "aud": AUD, "scope": SCOPE, "iat": int(now),
            "exp": int(now) + 3600, **claims}  # fmt: skip
    return f"{b64({'alg': 'RS256', 'typ': 'JWT'})}.{b64(body)}.c2lnbmF0dXJl"


def message(bulk: str | None = "bulk-1", text: str = "Hello", mid: str = "m-1") -> Message:
    return Message(message_id=mid, text=text, title="Hi", bulk_id=bulk)


def fcm_body(token: str, data: dict[str, str] | None = None, **extra: Any) -> dict[str, Any]:
    return {"message": {"token": token, "data": fcm_data(message()) if data is None else data, **extra}}


def hms_body(tokens: list[str], data: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"message": {"token": tokens, "data": hms_data(message()) if data is None else data, **extra}}


class World:
    """The providers' app in process, with its journal and clock."""

    def __init__(self, **options: Any) -> None:
        self.clock = Clock()
        self.journal = Journal(clock=self.clock)
        self.app = create_providers_app(self.journal, **options)
        self.client = self

    def request(self, method: str, path: str, **options: Any) -> httpx.Response:
        """One request to the app in process (httpx.ASGITransport; no socket)."""

        async def go() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app)
            async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
                return await client.request(method, path, **options)

        return asyncio.run(go())

    def post(self, path: str, **options: Any) -> httpx.Response:
        return self.request("POST", path, **options)

    def get(self, path: str, **options: Any) -> httpx.Response:
        return self.request("GET", path, **options)

    def fcm_token(self) -> str:
        answer = self.client.post("/token", data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                  "assertion": assertion(self.clock.now)})  # fmt: skip
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])

    def hms_token(self, client_id: str = "101234567") -> str:
        answer = self.client.post("/oauth2/v3/token", data={"grant_type": "client_credentials",
                                                             "client_id": client_id, "client_secret": "s"})  # fmt: skip
        assert answer.status_code == 200, answer.text
        return str(answer.json()["access_token"])
