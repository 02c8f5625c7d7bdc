"""Who may use the inspection API, the docs and the provider (server_stub/guard.py)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from contract.headers import INSPECT_TOKEN_ENV, inspection_headers
from server_stub import create_app
from server_stub.guard import Guard, is_loopback_host, mask
from server_stub.serve import ServeConfig, resolve_inspect_token

TOKEN = "s3cret-token-for-tests"


def call(guard: Guard, method: str, path: str, headers: dict[str, str], **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
            return await client.request(method, path, headers=headers, **kwargs)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(memory=True, app_codes=["GUARD-APP"])


@pytest.mark.parametrize(
    "host",
    ["localhost", "LOCALHOST.", "localhost:8080", "127.0.0.1", "127.0.0.1:8080", "127.5.6.7:1", "[::1]:8080", "[::1]",
     "app.localhost:9", "[::ffff:127.0.0.1]:80"],
)  # fmt: skip
def test_on_loopback_without_a_token_loopback_hosts_are_answered(app: Any, host: str) -> None:
    guard = Guard(app, token=None, check_host=True)
    assert call(guard, "GET", "/inspect/applications", {"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8080", "localhost.evil.example", "127.0.0.1.nip.io", "10.0.0.5:8080",
             "[::ffff:10.0.0.1]:80", "0.0.0.0:8080", ""],
)  # fmt: skip
def test_on_loopback_a_rebinding_host_is_refused(app: Any, host: str) -> None:
    answer = call(Guard(app, token=None, check_host=True), "GET", "/inspect/applications", {"Host": host})
    assert answer.status_code == 403
    assert answer.json()["requestError"]["serviceException"]["messageId"] == "FORBIDDEN"
    assert "--inspect-token" in answer.text


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),  # a sandboxed frame or a file: page
        ({"Origin": "http://localhost:3000"}, 200),
        ({"Origin": "http://127.0.0.1:8080"}, 200),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-origin"}, 200),
        ({"Sec-Fetch-Site": "none"}, 200),  # typed in the address bar
    ],
)
def test_on_loopback_web_pages_of_other_sites_are_refused(app: Any, headers: dict[str, str], status: int) -> None:
    guard = Guard(app, token=None, check_host=True)
    assert call(guard, "GET", "/inspect/applications", {"Host": "127.0.0.1:8080", **headers}).status_code == status


@pytest.mark.parametrize("path", ["/inspect/stats", "/docs", "/openapi.json", "/redoc"])
def test_with_a_token_every_protected_surface_needs_it(app: Any, path: str) -> None:
    guard = Guard(app, token=TOKEN, check_host=False)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Bearer {TOKEN}x"},
                    {"Authorization": f"App {TOKEN}"}, {"X-Mobsim-Token": TOKEN[:-1]}):  # fmt: skip
        answer = call(guard, "GET", path, headers)
        assert answer.status_code == 401, (path, headers)
        assert answer.json()["requestError"]["serviceException"]["messageId"] == "UNAUTHORIZED"
        assert TOKEN not in answer.text
    good = ({"Authorization": f"Bearer {TOKEN}"}, {"authorization": f"bearer  {TOKEN}"}, {"X-Mobsim-Token": TOKEN})
    for headers in good:
        assert call(guard, "GET", path, {"Host": "evil.example", **headers}).status_code != 401, (path, headers)


def test_the_sdk_push_provider_and_health_routes_are_not_guarded(app: Any) -> None:
    guard = Guard(app, token=TOKEN, check_host=True)
    assert call(guard, "GET", "/health", {"Host": "evil.example"}).status_code == 200
    provider = call(guard, "GET", "/provider/1/deliveries", {"Host": "evil.example", "Authorization": "App GUARD-APP"})
    assert provider.status_code == 200  # the app code is its key
    answer = call(guard, "POST", "/mobile/1/appinstance", {"Host": "evil.example", "Authorization": "App GUARD-APP"},
                  json={"pushServiceType": "GCM", "pushServiceToken": "t"})  # fmt: skip
    assert answer.status_code == 200
    assert call(guard, "POST", "/push/3/messages", {"Host": "evil.example"}, json={}).status_code == 401  # its own key


def test_writes_to_the_inspection_api_must_be_json(app: Any) -> None:
    guard = Guard(app, token=None, check_host=True)
    host = {"Host": "localhost"}
    definition = '{"key":"guard_event","fields":[]}'
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""):
        answer = call(guard, "POST", "/inspect/event-definitions", {**host, "Content-Type": content_type},
                      content=definition)  # fmt: skip
        assert answer.status_code == 415, content_type
        assert answer.json()["requestError"]["serviceException"]["messageId"] == "UNSUPPORTED_MEDIA_TYPE"
    json_type = {**host, "Content-Type": "Application/JSON; charset=utf-8"}
    assert call(guard, "POST", "/inspect/event-definitions", json_type, content=definition).status_code in (201, 400)
    assert call(guard, "POST", "/inspect/reset", host).status_code == 200  # no body: nothing to check
    assert call(guard, "GET", "/inspect/stats", {**host, "Content-Type": "text/plain"}).status_code == 200


def test_the_token_is_settled_by_where_the_server_binds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(INSPECT_TOKEN_ENV, raising=False)
    loopback = ServeConfig(host="127.0.0.1")
    assert resolve_inspect_token(loopback) is False and loopback.inspect_token is None
    public = ServeConfig(host="0.0.0.0")
    assert resolve_inspect_token(public) is True and public.inspect_token and len(public.inspect_token) >= 24
    empty = ServeConfig(host="0.0.0.0", inspect_token="")  # an empty token is none: one is generated
    assert resolve_inspect_token(empty) is True and empty.inspect_token
    given = ServeConfig(host="0.0.0.0", inspect_token="mine")
    assert resolve_inspect_token(given) is False and given.inspect_token == "mine"
    monkeypatch.setenv(INSPECT_TOKEN_ENV, "from-env")
    for host in ("127.0.0.1", "::"):
        config = ServeConfig(host=host)
        assert resolve_inspect_token(config) is False and config.inspect_token == "from-env"
    assert inspection_headers() == {"X-Mobsim-Token": "from-env"}
    monkeypatch.delenv(INSPECT_TOKEN_ENV)
    assert inspection_headers() == {}


def test_loopback_names_and_masks() -> None:
    assert is_loopback_host("::1") and is_loopback_host("127.255.255.254") and not is_loopback_host("128.0.0.1")
    assert not is_loopback_host("localhost-evil") and not is_loopback_host("::")
    assert mask("ABCDEFGHIJ") == "ABCD…" and mask("ABCDEFGH") == "…" and mask("") == ""
