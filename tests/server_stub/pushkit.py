"""Helpers for the messaging tests: the Push API and the simulated provider as a client calls them,
push tokens that carry a route, and the Push API's two error envelopes."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import httpx
from stubkit import APP_CODE, Device, HttpClient

from contract import Platform
from contract.messages import route_bytes

API_KEY = "stub-test-api-key"
TEXT = {"type": "TEXT", "title": "Hello", "text": "A message for you"}


def routed_token(platform: Platform, route: int) -> str:
    """A push token shaped like the platform's that carries ``route`` (as a population's devices' do)."""
    raw = route_bytes(route) + bytes(range(8, 128))
    if platform is Platform.IOS:
        return raw[:32].hex()
    encoded = base64.urlsafe_b64encode(raw[:96]).decode().rstrip("=")
    if platform is Platform.HUAWEI:
        return ("IQAAAACy0" + encoded)[:130]
    return encoded[:22] + ":APA91b" + encoded[22:]


def device(client: HttpClient, platform: Platform, *, route: int | None = None, app_code: str = APP_CODE) -> Device:
    """A registered device of ``platform`` (Huawei: the Android dialect with ``pushServiceType`` HMS)."""
    token = routed_token(platform, route) if route else None
    found = Device(client, platform.dialect, app_code=app_code, token=token)
    extra = {"pushServiceType": "HMS", "deviceManufacturer": "HUAWEI"} if platform is Platform.HUAWEI else {}
    found.register(**extra)
    return found


def reg(found: Device | str, **extra: Any) -> dict[str, Any]:
    reg_id = found if isinstance(found, str) else found.reg_id
    return {"type": "REGISTRATION", "pushRegistrationId": reg_id, **extra}


class PushApi:
    """The Push API (``/push/...``), the provider and the campaign inspection of one server."""

    def __init__(self, client: HttpClient, key: str = API_KEY) -> None:
        self.client = client
        self.key = key

    def call(self, method: str, path: str, *, key: str | None = None, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"App {key or self.key}", **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def message(
        self,
        destinations: list[dict[str, Any]],
        *,
        sender: str = APP_CODE,
        content: Mapping[str, Any] = TEXT,
        **options: Any,
    ) -> dict[str, Any]:
        """One ``PushUnificationMessage``."""
        body: dict[str, Any] = {"sender": sender, "destinations": destinations, "content": dict(content)}
        if options:
            body["options"] = options
        return body

    def send(
        self, destinations: list[dict[str, Any]], *, schedule: Mapping[str, Any] | None = None, **message: Any
    ) -> dict[str, Any]:
        """``POST /push/3/messages`` with one message; asserts 200 and answers the body."""
        body: dict[str, Any] = {"messages": [self.message(destinations, **message)]}
        if schedule is not None:
            body["options"] = {"schedule": dict(schedule)}
        response = self.call("POST", "/push/3/messages", json=body)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def ids(self, destinations: list[dict[str, Any]], **message: Any) -> list[str]:
        """The message ids of a send."""
        return [m["messageId"] for m in self.send(destinations, **message)["messages"]]

    def reports(self, **params: Any) -> list[dict[str, Any]]:
        response = self.call("GET", "/push/3/reports", params=params)
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()["results"]
        return result

    def logs(self, **params: Any) -> dict[str, Any]:
        response = self.call("GET", "/push/3/logs", params=params)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def deliveries(self, app_code: str = APP_CODE, **params: Any) -> list[dict[str, Any]]:
        response = self.client.request(
            "GET", "/provider/1/deliveries", params=params, headers={"Authorization": f"App {app_code}"}
        )
        assert response.status_code == 200, response.text
        result: list[dict[str, Any]] = response.json()["deliveries"]
        return result

    def campaign(self, bulk_id: str) -> dict[str, Any]:
        response = self.client.request("GET", f"/inspect/campaigns/{bulk_id}")
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result


def assert_api_error(response: httpx.Response, status: int, *violations: tuple[str, str]) -> list[dict[str, str]]:
    """The v3 ``ApiError`` envelope; each (property, text) given is among its violations."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["errorCode", "description", "action", "violations", "resources"], body
    assert body["errorCode"] == f"E{status}"
    assert body["description"] and body["action"]
    found: list[dict[str, str]] = body["violations"]
    for where, text in violations:
        assert any(v["property"] == where and text in v["violation"] for v in found), (where, text, found)
    return found


def assert_api_exception(response: httpx.Response, status: int, message_id: str, text: str | None = None) -> str:
    """The v1/v2 ``ApiException`` envelope (``requestError.serviceException``)."""
    assert response.status_code == status, (response.status_code, response.text)
    exception = response.json()["requestError"]["serviceException"]
    assert exception["messageId"] == message_id, exception
    if text is not None:
        assert text in exception["text"], exception["text"]
    shown: str = exception["text"]
    return shown
