"""User JWTs (simulator/jwt.py): the SDK's checks before a user call, and which versions and calls
carry ``Bearer`` (Android 13.12.0, iOS 13.6.0, Huawei 7.5.0; `AuthorizationUtils`, `MMJwtUtils`)."""

from __future__ import annotations

import base64
import json

import pytest
from simhelpers import CODE, START, sent

from simulator import ClientValidationError, VirtualDevice
from simulator.jwt import jwt_problem, user_jwt

SECRET = b"mobsim-test-secret"


def token(user: str = "ana", *, ttl: float = 600.0, now: float = START) -> str:
    return user_jwt(CODE, user, secret=SECRET, now=now, ttl=ttl)


def _part(claims: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def test_a_signed_token_has_what_the_sdk_checks_and_expires_at_exp():
    good = token(ttl=600)
    header, claims, signature = good.split(".")
    assert json.loads(base64.urlsafe_b64decode(header + "==")) == {"alg": "HS256", "typ": "JWT", "kid": "mobsim"}
    payload = json.loads(base64.urlsafe_b64decode(claims + "=="))
    assert (payload["typ"], payload["sub"], payload["infobip-api-key"]) == ("Bearer", "ana", CODE)
    assert payload["exp"] - payload["iat"] == 600 and signature
    assert jwt_problem(good, START + 599.999) is None
    assert jwt_problem(good, START + 600) == "JWT_TOKEN_EXPIRED"


@pytest.mark.parametrize("bad", [
    "a.b", "a.b.c.d", "..", "x.y.z",
    f"{_part({'alg': 'HS256', 'typ': 'JWT'})}.{_part({'typ': 'Bearer', 'sub': 's', 'infobip-api-key': 'k', 'iat': 1, 'exp': 9e9, 'jti': 'j'})}.sig",  # noqa: E501
    f"{_part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k'})}.{_part({'typ': 'Bearer', 'sub': 's', 'iat': 1, 'exp': 9e9, 'jti': 'j'})}.sig",  # noqa: E501
    f"{_part({'alg': 'HS256', 'typ': 'JWT', 'kid': 'k'})}.{_part({'typ': 'Bearer', 'sub': 's', 'infobip-api-key': 'k', 'iat': 1, 'exp': 'soon', 'jti': 'j'})}.sig",  # noqa: E501
])  # fmt: skip
def test_a_malformed_token_is_a_structure_error(bad):
    assert jwt_problem(bad, START) == "JWT_TOKEN_STRUCTURE_INVALID"


@pytest.fixture
def jwt_device(make, router):
    """``jwt_device(platform, sdk, supplier)``: registered as REG-1, the app's supplier given."""

    def factory(platform: str, sdk: str, supplier=lambda user: token(user or "nobody")) -> VirtualDevice:
        device = make(platform, jwt=supplier)
        device.update_app(device.profile.app_version, sdk)
        device.start()
        assert device.reg_id == "REG-1", device.last_error
        router.post("/mobile/1/appinstance/REG-1/personalize").respond(200, json={"externalUserId": "ana"})
        router.route(path="/mobile/1/appinstance/REG-1/user").respond(200, json={"externalUserId": "ana"})
        router.post("/mobile/1/appinstance/REG-1").respond(200)
        router.calls.clear()
        return device

    return factory


def auth(router, suffix: str) -> list[str]:
    return [s.headers["Authorization"] for s in sent(router) if s.target.split("?")[0].endswith(suffix)]


@pytest.mark.parametrize(("platform", "sdk", "bearer"), [
    ("android", "13.12.0", True), ("android", "13.11.0", False), ("huawei", "7.5.0", True),
    ("huawei", "7.4.2", False), ("ios", "13.6.0", True), ("ios", "13.5.2", False),
])  # fmt: skip
def test_the_user_calls_carry_the_jwt_from_the_versions_that_have_it(jwt_device, router, platform, sdk, bearer):
    seen: list[str | None] = []

    def supplier(user: str | None) -> str:
        seen.append(user)
        return token(user or "nobody")

    device = jwt_device(platform, sdk, supplier)
    device.personalize({"externalUserId": "ana"})
    device.advance(2)
    device.save_user(firstName="Ana")
    device.advance(2)
    device.fetch_user()
    calls = auth(router, "/personalize") + auth(router, "/user")
    assert len(calls) == 3
    assert all(a.startswith("Bearer ") for a in calls) if bearer else all(a == f"App {CODE}" for a in calls)
    assert seen == (["ana", "ana", "ana"] if bearer else [])  # the identity, then the stored user's
    others = [
        s.headers["Authorization"]
        for s in sent(router)
        if not s.target.split("?")[0].endswith(("/personalize", "/user"))
    ]
    assert all(a == f"App {CODE}" for a in others)


def test_an_expired_or_malformed_token_sends_nothing(jwt_device, router):
    device = jwt_device("android", "15.0.0", lambda user: token(user or "x", ttl=-1))
    with pytest.raises(ClientValidationError) as raised:
        device.personalize({"externalUserId": "ana"})
    assert raised.value.code == "JWT_TOKEN_EXPIRED" and sent(router) == []
    device = jwt_device("ios", "15.5.2", lambda user: "not-a-jwt")
    with pytest.raises(ClientValidationError) as raised:
        device.fetch_user()
    assert raised.value.code == "JWT_TOKEN_STRUCTURE_INVALID" and sent(router) == []


def test_no_token_from_the_supplier_is_the_application_code(jwt_device, router):
    device = jwt_device("android", "15.0.0", lambda user: None)
    device.personalize({"externalUserId": "ana"})
    assert auth(router, "/personalize") == [f"App {CODE}"]
