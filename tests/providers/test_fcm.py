"""FCM HTTP v1 on loopback: the token exchange, the send and every error answer at its boundary."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import jwt
import pytest
from providerkit import AUD, SCOPE, T0, World, assertion, b64, fcm_body, token_of

from contract.dialect import Platform
from providers.errors import ProviderError
from providers.fcm import EXPIRES_IN, JWT_BEARER
from providers.service_account import ServiceAccount, new_service_account

SEND = "/v1/projects/demo/messages:send"


def send(world: World, body: Any, access: str | None = None, **headers: str) -> Any:
    auth = {"Authorization": f"Bearer {access}"} if access else {}
    return world.client.post(SEND, content=json.dumps(body), headers={**auth, **headers})


def fcm_code(answer: Any) -> str | None:
    details = answer.json()["error"].get("details", [])
    return next((d["errorCode"] for d in details if d["@type"].endswith("FcmError")), None)


# --- the token endpoint -------------------------------------------------------------------------


def test_the_jwt_bearer_grant_yields_an_access_token_with_its_lifetime() -> None:
    world = World()
    answer = world.client.post("/token", data={"grant_type": JWT_BEARER, "assertion": assertion()})
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == EXPIRES_IN and body["access_token"]


@pytest.mark.parametrize(
    ("grant", "claims", "error"),
    [
        ("client_credentials", {}, "unsupported_grant_type"),
        (JWT_BEARER, {"aud": "https://example.com/token"}, "invalid_grant"),
        (JWT_BEARER, {"scope": "https://www.googleapis.com/auth/userinfo.email"}, "invalid_grant"),
        (JWT_BEARER, {"iss": ""}, "invalid_grant"),
        (JWT_BEARER, {"exp": int(T0) + 3601}, "invalid_grant"),
        (JWT_BEARER, {"iat": int(T0) - 3600, "exp": int(T0)}, "invalid_grant"),
        (JWT_BEARER, {"iat": "now"}, "invalid_grant"),
    ],
)
def test_a_bad_grant_or_claim_is_a_400_naming_it(grant: str, claims: dict[str, Any], error: str) -> None:
    world = World()
    answer = world.client.post("/token", data={"grant_type": grant, "assertion": assertion(T0, **claims)})
    assert answer.status_code == 400
    assert answer.json()["error"] == error and answer.json()["error_description"]


def test_the_assertion_may_name_the_loopback_token_uri_and_the_cloud_platform_scope() -> None:
    world = World()
    claims = {"aud": "http://127.0.0.1/token", "scope": "openid https://www.googleapis.com/auth/cloud-platform"}
    answer = world.client.post("/token", data={"grant_type": JWT_BEARER, "assertion": assertion(T0, **claims)})
    assert answer.status_code == 200, answer.text


def test_an_assertion_that_is_not_a_jwt_is_invalid_grant() -> None:
    world = World()
    for bad in ("", "a.b", "!!.??.x", f"{AUD}.x.y"):
        answer = world.client.post("/token", data={"grant_type": JWT_BEARER, "assertion": bad})
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant"), bad


# --- the send ----------------------------------------------------------------------------------


def test_a_send_to_a_device_token_is_accepted_journaled_with_its_campaign() -> None:
    world = World()
    device = token_of(Platform.ANDROID, 3)
    answer = send(world, fcm_body(device), world.fcm_token())
    assert answer.status_code == 200
    name = answer.json()["name"]
    assert name.startswith("projects/demo/messages/")
    (entry,) = world.journal.accepted
    assert (entry.provider, entry.token, entry.message_id, entry.campaign) == ("fcm", device, name, "bulk-1")
    assert set(entry.payload) == {"org_ib_d"} and entry.size == len("org_ib_d") + len(entry.payload["org_ib_d"])


def test_camel_case_validate_only_answers_the_fake_id_and_delivers_nothing() -> None:
    world = World()
    body = {"validateOnly": True, **fcm_body(token_of(Platform.ANDROID, 3))}
    answer = send(world, body, world.fcm_token())
    assert answer.json() == {"name": "projects/demo/messages/fake_message_id"}
    assert world.journal.accepted == [] and world.journal.due(10) == []


def test_the_access_token_expires_at_the_exact_second() -> None:
    world = World()
    access = world.fcm_token()
    body = fcm_body(token_of(Platform.ANDROID, 3))
    world.clock.now = T0 + EXPIRES_IN - 0.001
    assert send(world, body, access).status_code == 200
    world.clock.now = T0 + EXPIRES_IN
    answer = send(world, body, access)
    assert answer.status_code == 401 and answer.json()["error"]["status"] == "UNAUTHENTICATED"
    assert "expired" in answer.json()["error"]["message"] and fcm_code(answer) is None


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic abc"])
def test_a_missing_or_unknown_access_token_is_401_without_an_fcm_error(header: str | None) -> None:
    world = World()
    headers = {"Authorization": header} if header else {}
    answer = world.client.post(SEND, json=fcm_body(token_of(Platform.ANDROID, 3)), headers=headers)
    assert answer.status_code == 401 and "details" not in answer.json()["error"]
    assert world.journal.rejected[-1].reason == "UNAUTHENTICATED"


def test_the_bearer_scheme_matches_case_insensitively() -> None:
    world = World()
    answer = send(world, fcm_body(token_of(Platform.ANDROID, 3)), None, Authorization=f"bearer {world.fcm_token()}")
    assert answer.status_code == 200


def test_data_of_4096_bytes_is_accepted_and_4097_is_too_big() -> None:
    world = World()
    access = world.fcm_token()
    device = token_of(Platform.ANDROID, 3)
    assert send(world, fcm_body(device, {"k": "v" * 4095}), access).status_code == 200
    answer = send(world, fcm_body(device, {"k": "v" * 4096}), access)
    assert answer.status_code == 400 and fcm_code(answer) == "INVALID_ARGUMENT"
    assert "too big" in answer.json()["error"]["message"]
    assert world.journal.rejected[-1].token == device


def test_the_notification_counts_toward_the_limit() -> None:
    world = World()
    body = fcm_body(token_of(Platform.ANDROID, 3), {"k": "v" * 4000}, notification={"title": "t" * 91})
    assert send(world, body, world.fcm_token()).status_code == 400


def test_android_data_replaces_the_message_data() -> None:
    world = World()
    body = fcm_body(token_of(Platform.ANDROID, 3), {"a": "1"}, android={"data": {"b": "2"}, "priority": "HIGH"})
    assert send(world, body, world.fcm_token()).status_code == 200
    assert world.journal.accepted[0].payload == {"b": "2"} and world.journal.accepted[0].campaign is None


def field_of(answer: Any) -> str:
    details = answer.json()["error"]["details"]
    return str(next(d for d in details if d["@type"].endswith("BadRequest"))["fieldViolations"][0]["field"])


@pytest.mark.parametrize(
    ("message", "where"),
    [
        ({"data": {"k": 1}}, "message.data[0].value"),
        ({"data": {"from": "x"}}, "message.data"),
        ({"data": {"google.x": "x"}}, "message.data"),
        ({"data": ["x"]}, "message.data"),
        ({"topic": "news"}, "message"),
        ({"token": None, "topic": "news"}, "message.topic"),
        ({"token": "short"}, "message.token"),
        ({"token": "has space in it but long enough"}, "message.token"),
        ({"android": {"ttl": "2419201s"}}, "message.android.ttl"),
        ({"android": {"ttl": "2419200.5s"}}, "message.android.ttl"),
        ({"android": {"ttl": "60"}}, "message.android.ttl"),
        ({"android": {"priority": "urgent"}}, "message.android.priority"),
        ({"android": "high"}, "message.android"),
        ({"notification": "Hi"}, "message.notification"),
        ({"android": {"notification": ["Hi"]}}, "message.android.notification"),
    ],
)
def test_invalid_messages_are_400_invalid_argument_naming_the_field(message: dict[str, Any], where: str) -> None:
    world = World()
    body = fcm_body(token_of(Platform.ANDROID, 3))
    body["message"].update(message)
    answer = send(world, body, world.fcm_token())
    assert answer.status_code == 400 and answer.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert fcm_code(answer) == "INVALID_ARGUMENT" and field_of(answer) == where


def test_the_ttl_boundary_is_four_weeks() -> None:
    world = World()
    body = fcm_body(token_of(Platform.ANDROID, 3), android={"ttl": "2419200s"})
    assert send(world, body, world.fcm_token()).status_code == 200


@pytest.mark.parametrize("raw", ["not json", "[]", '{"message": "x"}', '{"validate_only": "yes", "message": {}}'])
def test_a_body_that_is_no_send_request_is_400(raw: str) -> None:
    world = World()
    headers = {"Authorization": f"Bearer {world.fcm_token()}"}
    answer = world.client.post(SEND, content=raw, headers=headers)
    assert answer.status_code == 400 and fcm_code(answer) == "INVALID_ARGUMENT"


def test_an_unknown_or_uninstalled_token_is_404_unregistered() -> None:
    world = World()
    access = world.fcm_token()
    stranger = token_of(Platform.ANDROID, 0)  # well formed, no device route
    answer = send(world, fcm_body(stranger), access)
    assert (answer.status_code, fcm_code(answer)) == (404, "UNREGISTERED")
    assert answer.json()["error"]["status"] == "NOT_FOUND"
    device = token_of(Platform.ANDROID, 4)
    assert send(world, fcm_body(device), access).status_code == 200
    world.journal.uninstall("fcm", device)
    assert fcm_code(send(world, fcm_body(device), access)) == "UNREGISTERED"
    assert [r.reason for r in world.journal.rejected] == ["UNREGISTERED", "UNREGISTERED"]


def test_the_project_quota_answers_429_with_retry_after_until_the_window_refills() -> None:
    world = World(fcm_quota=2)
    world.clock.now = T0 + 15.2  # T0 is a whole minute: 44.8 s remain in this one
    access = world.fcm_token()
    device = fcm_body(token_of(Platform.ANDROID, 3))
    assert [send(world, device, access).status_code for _ in range(2)] == [200, 200]
    answer = send(world, device, access)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "45"
    assert fcm_code(answer) == "QUOTA_EXCEEDED" and answer.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
    auth = {"Authorization": f"Bearer {access}"}
    other = world.client.post("/v1/projects/other/messages:send", json=device, headers=auth)
    assert other.status_code == 200  # the quota is per project
    world.clock.now = T0 + 60
    assert send(world, device, access).status_code == 200


# --- RS256 with a generated service account ----------------------------------------------------


@pytest.fixture(scope="module")
def account() -> ServiceAccount:
    return new_service_account("http://127.0.0.1/token")


def signed(account: ServiceAccount, kid: str | None = None, **claims: Any) -> str:
    body = {"iss": account.info["client_email"], "aud": "http://127.0.0.1/token", "scope": SCOPE,
            "iat": int(T0), "exp": int(T0) + 3600, **claims}  # fmt: skip
    key = account.info["private_key"]
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid or account.key_id})


def test_a_registered_key_verifies_the_signature(account: ServiceAccount, tmp_path: Path) -> None:
    world = World(fcm_keys={account.key_id: account.public_pem})
    good = world.client.post("/token", data={"grant_type": JWT_BEARER, "assertion": signed(account)})
    assert good.status_code == 200, good.text
    head, claims, signature = signed(account).split(".")
    forged = f"{head}.{b64({**json.loads(base64.urlsafe_b64decode(claims + '==')), 'iss': 'x@y'})}.{signature}"
    for bad in (signed(account, kid="other"), forged, assertion()):
        answer = world.client.post("/token", data={"grant_type": JWT_BEARER, "assertion": bad})
        assert (answer.status_code, answer.json()["error"]) == (400, "invalid_grant"), answer.text
    path = tmp_path / "sa.json"
    account.write(path)
    info = json.loads(path.read_text())
    assert info["token_uri"] == "http://127.0.0.1/token" and info["universe_domain"] == "googleapis.com"
    assert path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(ProviderError, match="exists"):
        account.write(path)
