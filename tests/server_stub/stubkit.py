"""Helpers for the reference server's tests: a device that speaks one dialect through the wire
contract, the inspection API, and the exact error envelope.

Every SDK request is built by :meth:`contract.Endpoint.build`, so the tests send what the
SDKs send: iOS a real PATCH and ``1``/``0`` in sorted order, Android POST with
``X-HTTP-Method-Override: PATCH`` and ``true``/``false`` in ``java.util.HashMap`` order.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import httpx

from contract import Dialect, WireRequest, app_code_hash, endpoint, headers

APP_CODE = "stub-test-app-code"
OTHER_APP = "stub-other-app-code"
START = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
NOW = "2024-05-01T12:00:00Z"

IOS_SYSTEM = {
    "pushServiceType": "APNS",
    "os": "iOS",
    "osVersion": "17.2",
    "sdkVersion": "15.5.2",
    "appVersion": "3.1",
    "deviceManufacturer": "Apple",
    "deviceModel": "iPhone 14 Pro",
    "deviceName": "Jane's iPhone",
    "deviceSecure": True,
    "language": "en",
    "deviceTimezoneOffset": "GMT+02:00",
    "notificationsEnabled": True,
}
ANDROID_SYSTEM = {
    "pushServiceType": "Firebase",
    "os": "Android",
    "osVersion": "14",
    "sdkVersion": "15.0.0",
    "appVersion": "2.0",
    "deviceManufacturer": "Google",
    "deviceModel": "Pixel 8",
    "deviceName": "Pixel",
    "deviceSecure": False,
    "language": "hr",
    "deviceTimezoneOffset": "GMT+01:00",
    "notificationsEnabled": True,
}
SYSTEM = {Dialect.IOS: IOS_SYSTEM, Dialect.ANDROID: ANDROID_SYSTEM}
USER_AGENT = {
    Dialect.IOS: "MobileMessaging/15.5.2(iOS;17.2;;iPhone 14 Pro;;com.acme.app;3.1;Jane's iPhone;;;)",
    Dialect.ANDROID: "Infobip Mobile API Client/15.0.0(UPSIDE_DOWN_CAKE;14;arm64-v8a;Pixel 8;Google;Acme;2.0;Pixel"
    + ";" * 6
    + ")",
}


class Clock:
    """The server's clock: fixed until a test moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class HttpClient(Protocol):
    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response: ...


def body_bytes(body: Mapping[str, Any], dialect: Dialect) -> bytes:
    """iOS serialises with sorted keys; both keep explicit nulls on PATCH (null deletes)."""
    return json.dumps(body, sort_keys=dialect is Dialect.IOS, separators=(",", ":")).encode("utf-8")


class Device:
    """One installation of one app, speaking one dialect to the server."""

    def __init__(
        self,
        client: HttpClient,
        dialect: Dialect,
        *,
        app_code: str = APP_CODE,
        token: str | None = None,
    ) -> None:
        self.client = client
        self.dialect = dialect
        self.app_code = app_code
        self.reg_id: str | None = None
        self.installation_id = str(uuid.uuid4())
        self.token = token or uuid.uuid4().hex * 2
        self.last: WireRequest | None = None
        self.authorization: str | None = None
        """Overrides ``Authorization: App <code>`` (a Bearer JWT, a wrong code)."""

    # plumbing ------------------------------------------------------------------------------
    def headers(self, *, with_body: bool) -> dict[str, str]:
        sent = {
            headers.AUTHORIZATION: self.authorization or headers.app_authorization(self.app_code),
            headers.APPLICATION_CODE: app_code_hash(self.app_code),
            headers.USER_AGENT: USER_AGENT[self.dialect],
            headers.INSTALLATION_ID: self.installation_id,
            headers.FOREGROUND: "true",
            headers.ACCEPT: "application/json",
        }
        if self.reg_id is not None:
            sent[headers.PUSH_REGISTRATION_ID] = self.reg_id
        if with_body or self.dialect is Dialect.IOS:  # iOS sets Content-Type on every method
            sent[headers.CONTENT_TYPE] = "application/json"
        return sent

    def call(
        self,
        name: str,
        *,
        target: str | None = None,
        flags: Mapping[str, bool] | None = None,
        body: Mapping[str, Any] | None = None,
        query: str = "",
        extra_headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        ep = endpoint(name)
        params = {"pushRegId": target or self.reg_id or "none"} if "{pushRegId}" in ep.template else None
        wire = ep.build(self.dialect, path_params=params, flags=flags, body=body)
        self.last = wire
        sent = {**self.headers(with_body=wire.body is not None), **wire.headers, **(extra_headers or {})}
        url = wire.target
        if query:
            url += ("&" if "?" in url else "?") + query
        content = None if wire.body is None else body_bytes(wire.body, self.dialect)
        return self.client.request(wire.method, url, headers=sent, content=content)

    # the SDK calls -------------------------------------------------------------------------
    def register(self, **overrides: Any) -> dict[str, Any]:
        body = {**SYSTEM[self.dialect], "pushServiceToken": self.token, **overrides}
        response = self.call("create_installation", body=body)
        assert response.status_code == 200, response.text
        created: dict[str, Any] = response.json()
        self.reg_id = created["pushRegId"]
        return created

    def patch(self, body: Mapping[str, Any], target: str | None = None) -> httpx.Response:
        return self.call("patch_installation", target=target, body=body)

    def get(self, target: str | None = None) -> httpx.Response:
        return self.call("get_installation", target=target)

    def delete(self, target: str) -> httpx.Response:
        return self.call("delete_installation", target=target)

    def user(self, target: str | None = None) -> httpx.Response:
        return self.call("get_user", target=target)

    def patch_user(self, body: Mapping[str, Any], target: str | None = None) -> httpx.Response:
        return self.call("patch_user", target=target, body=body)

    def personalize(
        self,
        identity: Mapping[str, Any],
        attributes: Mapping[str, Any] | None = None,
        *,
        force: bool = False,
        keep_as_lead: bool = False,
        primary: bool = False,
        target: str | None = None,
    ) -> httpx.Response:
        body: dict[str, Any] = {"userIdentity": dict(identity)}
        if attributes is not None:
            body["userAttributes"] = dict(attributes)
        flags = {"forceDepersonalize": force, "keepAsLead": keep_as_lead, "setDeviceAsPrimary": primary}
        return self.call("personalize", target=target, flags=flags, body=body)

    def repersonalize(self, identity: Mapping[str, Any], attributes: Mapping[str, Any] | None = None) -> httpx.Response:
        body: dict[str, Any] = {"userIdentity": dict(identity)}
        if attributes is not None:
            body["userAttributes"] = dict(attributes)
        return self.call("repersonalize", body=body)

    def depersonalize(self, target: str | None = None) -> httpx.Response:
        return self.call("depersonalize", target=target)

    def session(
        self,
        starts: list[str] | None = None,
        bounds: Mapping[str, str] | None = None,
        system: Mapping[str, Any] | None = None,
        target: str | None = None,
    ) -> httpx.Response:
        body = {
            "sessionStarts": list(starts or []),
            "sessionBounds": dict(bounds or {}),
            "systemData": dict(system if system is not None else SYSTEM[self.dialect]),
        }
        return self.call("session_report", target=target, body=body)

    def events(self, events: list[dict[str, Any]], *, validate: bool, target: str | None = None) -> httpx.Response:
        return self.call("custom_events", target=target, flags={"validate": validate}, body={"events": events})

    def sync(self, body: Mapping[str, Any] | None = None) -> httpx.Response:
        return self.call("sync_messages", body=body)

    def seen(self, ids: list[str]) -> httpx.Response:
        return self.call("seen_messages", body={"messages": [{"messageId": m, "timestampDelta": 3} for m in ids]})

    def mo(self, messages: list[dict[str, Any]]) -> httpx.Response:
        return self.call("send_mo", body={"from": self.reg_id, "messages": messages})

    def delivery_report(self, ids: list[str]) -> httpx.Response:
        return self.call("delivery_report", body={"dlrIds": ids})

    def version(self) -> httpx.Response:
        return self.call("version")

    def base_url(self) -> httpx.Response:
        return self.call("base_url")

    # reading back --------------------------------------------------------------------------
    def user_json(self) -> dict[str, Any]:
        response = self.user()
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def installation_json(self) -> dict[str, Any]:
        response = self.get()
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


MakeDevice = Callable[..., Device]
"""``new_device(dialect=IOS, *, register=True, app_code=APP_CODE)`` (the fixture)."""


class Inspector:
    """The inspection API (``/inspect/...``)."""

    def __init__(self, client: HttpClient) -> None:
        self.client = client

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.request("GET", f"/inspect{path}", params=params)
        assert response.status_code == 200, response.text
        return response.json()

    def post(self, path: str, payload: Any = None, status: int = 200) -> Any:
        response = self.client.request("POST", f"/inspect{path}", json=payload)
        assert response.status_code == status, response.text
        return response.json()

    def persons(self, **params: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/persons", limit=1000, **params)["persons"]
        return result

    def person(self, person_id: int) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/persons/{person_id}")
        return result

    def find(self, identifier: str, kind: str = "EXTERNAL_ID") -> dict[str, Any]:
        result: dict[str, Any] = self.get("/persons", identifier=identifier, type=kind)
        return result

    def person_of(self, reg_id: str) -> dict[str, Any]:
        return self.find(reg_id, "PUSH")

    def installation(self, reg_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.get(f"/installations/{reg_id}")
        return result

    def events(self, **filters: Any) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self.get("/events", limit=1000, **filters)["events"]
        return result

    def names(self, **filters: Any) -> list[str]:
        """The definition ids of the matching events, in order."""
        return [e["definitionId"] for e in self.events(**filters)]

    def counts(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/event-counts")
        return result

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.get("/stats")
        return result

    def define(self, definition_id: str, fields: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.post(
            "/event-definitions", {"definitionId": definition_id, "fields": fields, **extra}, status=201
        )
        return result


def assert_error(response: httpx.Response, status: int, code: str, text: str | None = None) -> str:
    """The exact ``requestError.serviceException`` envelope with a Content-Length; returns the text."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    assert "content-length" in response.headers, "Android reads an error body only with a Content-Length"
    assert int(response.headers["content-length"]) == len(response.content) > 0
    body = response.json()
    assert list(body) == ["requestError"]
    assert list(body["requestError"]) == ["serviceException"]
    exception = body["requestError"]["serviceException"]
    assert sorted(exception) == ["messageId", "text"]
    assert exception["messageId"] == code, exception
    assert isinstance(exception["text"], str) and exception["text"].strip()
    if text is not None:
        assert text in exception["text"], exception["text"]
    message: str = exception["text"]
    return message


def assert_empty_ok(response: httpx.Response) -> None:
    """A void call's success: 200 with an empty body (both SDKs)."""
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert response.headers["content-length"] == "0"


JWT_KID = "k1"
JWT_SECRET = bytes(range(32))
"""The tests' user-JWT key (HS256, 32 bytes): ``{"kid": JWT_KID, "secret": JWT_SECRET.hex()}``."""


def jwt(claims: Mapping[str, Any], *, secret: bytes = JWT_SECRET, header: Mapping[str, Any] | None = None) -> str:
    """A user JWT with these claims, signed HS256 with ``secret`` (default: the tests' key, kid ``k1``)."""

    def part(value: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    signing = f"{part(header or {'alg': 'HS256', 'typ': 'JWT', 'kid': JWT_KID})}.{part(claims)}"
    signature = hmac.new(secret, signing.encode("ascii"), hashlib.sha256).digest()
    return f"{signing}.{base64.urlsafe_b64encode(signature).decode().rstrip('=')}"


def add_jwt_key(inspector: Inspector, app_code: str = APP_CODE) -> None:
    """Give ``app_code`` the tests' user-JWT key: it then takes user JWTs (and personalize needs one)."""
    inspector.post(f"/applications/{app_code}/jwt-keys", {"kid": JWT_KID, "secret": JWT_SECRET.hex()}, status=201)


def ts(seconds: float = 0) -> str:
    """A timestamp ``seconds`` after :data:`START`, as the SDKs format it."""
    return (START + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")
