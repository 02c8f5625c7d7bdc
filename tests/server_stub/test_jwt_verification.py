"""User JWTs on the server (server_stub/jwt_keys.py, docs/serve.md "User JWTs"): a Bearer token must
verify against its application's keys (HS256 only, a known kid, the signature, exp and iat on the
server clock), and it concerns its ``sub`` only. Before this, any unsigned token naming a known app
code was accepted: the forged-token and keyless-application tests below failed then."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from stubkit import (
    APP_CODE,
    JWT_KID,
    JWT_SECRET,
    OTHER_APP,
    START,
    Clock,
    Device,
    Inspector,
    MakeDevice,
    add_jwt_key,
    assert_empty_ok,
    assert_error,
    jwt,
)

from contract import Dialect
from server_stub.errors import ApiError
from server_stub.inprocess import InProcessServer
from server_stub.jwt_keys import IAT_LEEWAY, JwtKeys, parse_jwt_key, parse_secret, verify
from server_stub.serve import ServeConfig, build_server
from simulator import AppConfig, VirtualClock, VirtualDevice
from simulator.errors import ApiError as DeviceApiError
from simulator.jwt import user_jwt
from simulator.transport import InProcessTransport

NOW = START.timestamp()
OTHER_SECRET = bytes(range(100, 132))


def claims(**overrides: Any) -> dict[str, Any]:
    base = {"typ": "Bearer", "sub": "ana", "infobip-api-key": APP_CODE, "iat": NOW, "exp": NOW + 600, "jti": "j-1"}
    return {k: v for k, v in {**base, **overrides}.items() if v is not ...}


def keys() -> JwtKeys:
    found = JwtKeys()
    found.add(parse_jwt_key(f"{APP_CODE}:{JWT_KID}:{JWT_SECRET.hex()}"))
    return found


def check(token: str, known: Callable[[str], bool] = lambda code: code in (APP_CODE, OTHER_APP)) -> Any:
    return verify(token, keys(), known, NOW)


def refused(token: str, text: str, code: str = "UNAUTHORIZED") -> None:
    with pytest.raises(ApiError) as raised:
        check(token)
    assert (raised.value.code, raised.value.status) == (code, 401)
    assert text in raised.value.text, raised.value.text
    assert token.split(".")[-1] not in raised.value.text or len(token.split(".")[-1]) < 8
    assert JWT_SECRET.hex() not in raised.value.text


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


# ---------------------------------------------------------------------------------------------
# verify(): every branch


def test_a_token_signed_with_the_applications_key_verifies() -> None:
    token = check(jwt(claims()))
    assert (token.app_code, token.subject, token.kid, token.expires) == (APP_CODE, "ana", JWT_KID, NOW + 600)


def test_the_simulators_token_verifies() -> None:
    token = user_jwt(APP_CODE, "ana", secret=JWT_SECRET, now=NOW, kid=JWT_KID)
    assert check(token).subject == "ana"


GOOD = jwt(claims())
HEADER, CLAIMS, SIGNATURE = GOOD.split(".")


@pytest.mark.parametrize(
    ("token", "text"),
    [
        (f"{HEADER}.{CLAIMS}", "three base64url parts"),
        (f"{HEADER}.{CLAIMS}.{SIGNATURE}.x", "three base64url parts"),
        (f"{HEADER}..{SIGNATURE}", "three base64url parts"),
        (f"{HEADER}.{CLAIMS}.", "three base64url parts"),  # alg none's empty signature
        (f"@@@.{CLAIMS}.{SIGNATURE}", "header is not base64url"),
        (f"{HEADER}.{CLAIMS[:-1]}+.{SIGNATURE}", "claims is not base64url"),
        (f"{b64(b'not json')}.{CLAIMS}.{SIGNATURE}", "header is not base64url-encoded JSON"),
        (f"{b64(b'[1]')}.{CLAIMS}.{SIGNATURE}", "header is not a JSON object"),
        (f"{HEADER}.{b64(b'null')}.{SIGNATURE}", "claims is not a JSON object"),
        (f"{HEADER}.{CLAIMS}.{SIGNATURE}=", "signature is not base64url"),
    ],
)
def test_a_token_that_is_not_a_jwt_is_refused(token: str, text: str) -> None:
    refused(token, text)


@pytest.mark.parametrize("header_key", ["alg", "typ", "kid"])
def test_each_header_the_sdks_need_is_required(header_key: str) -> None:
    header = {k: v for k, v in {"alg": "HS256", "typ": "JWT", "kid": JWT_KID}.items() if k != header_key}
    refused(jwt(claims(), header=header), f"lacks {header_key}")


@pytest.mark.parametrize("claim", ["typ", "sub", "infobip-api-key", "iat", "exp", "jti"])
def test_each_claim_the_sdks_need_is_required(claim: str) -> None:
    refused(jwt(claims(**{claim: ...})), f"lacks {claim}")


@pytest.mark.parametrize("alg", ["none", "None", "hs256", "HS384", "HS512", "RS256", None])
def test_only_hs256_is_accepted(alg: Any) -> None:
    refused(jwt(claims(), header={"alg": alg, "typ": "JWT", "kid": JWT_KID}), "is not HS256")


@pytest.mark.parametrize("app", ["unknown-code", 7, None])
def test_a_token_for_an_unknown_application_is_an_invalid_application_code(app: Any) -> None:
    refused(jwt(claims(**{"infobip-api-key": app})), "names no application", "INVALID_APPLICATION_CODE")


def test_an_application_without_keys_verifies_no_token() -> None:
    refused(jwt(claims(**{"infobip-api-key": OTHER_APP})), "has no JWT keys")


@pytest.mark.parametrize("kid", ["k2", "", 1, None, ["k1"]])
def test_the_key_id_must_be_one_of_the_applications(kid: Any) -> None:
    refused(jwt(claims(), header={"alg": "HS256", "typ": "JWT", "kid": kid}), "is not a JWT key of application")


def test_a_token_signed_with_another_secret_is_refused() -> None:
    refused(jwt(claims(), secret=OTHER_SECRET), "signature does not verify")


def test_a_token_changed_after_signing_is_refused() -> None:
    forged_claims = b64(json.dumps(claims(sub="bob")).encode())
    refused(f"{HEADER}.{forged_claims}.{SIGNATURE}", "signature does not verify")
    refused(f"{HEADER}.{CLAIMS}.{SIGNATURE[:-4]}", "signature does not verify")


@pytest.mark.parametrize(
    ("overrides", "text"),
    [
        ({"typ": "JWT"}, "typ claim is not 'Bearer'"),
        ({"sub": ""}, "sub claim is not a non-empty string"),
        ({"sub": 42}, "sub claim is not a non-empty string"),
        ({"jti": ""}, "jti claim is not a non-empty string"),
        ({"exp": "9999999999"}, "exp claim is not a number"),
        ({"exp": True}, "exp claim is not a number"),
        ({"iat": None}, "iat claim is not a number"),
    ],
)
def test_claim_values_are_checked_after_the_signature(overrides: dict[str, Any], text: str) -> None:
    refused(jwt(claims(**overrides)), text)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_exp_is_refused(value: str) -> None:
    body = json.dumps(claims(exp=0)).replace('"exp": 0', f'"exp": {value}')  # Python's json reads these
    signing = f"{HEADER}.{b64(body.encode())}"
    signature = b64(hmac.new(JWT_SECRET, signing.encode(), hashlib.sha256).digest())
    refused(f"{signing}.{signature}", "exp claim is not a number")


@pytest.mark.parametrize(("offset", "accepted"), [(0.0, False), (-5.0, False), (0.5, True), (1.0, True)])
def test_exp_must_be_later_than_the_server_clock(offset: float, accepted: bool) -> None:
    token = jwt(claims(exp=NOW + offset))
    if accepted:
        assert check(token).expires == NOW + offset
    else:
        refused(token, "expired")


@pytest.mark.parametrize(("offset", "accepted"), [(IAT_LEEWAY, True), (IAT_LEEWAY + 1, False), (-86400, True)])
def test_iat_may_not_lie_ahead_beyond_the_leeway(offset: float, accepted: bool) -> None:
    token = jwt(claims(iat=NOW + offset))
    if accepted:
        assert check(token).subject == "ana"
    else:
        refused(token, "in the future")


# ---------------------------------------------------------------------------------------------
# the Mobile API: applications with and without keys


def bearer(device: Device, user: str = "ana", **overrides: Any) -> None:
    device.authorization = "Bearer " + jwt(claims(sub=user, **overrides))


@pytest.fixture
def jwt_app(inspector: Inspector) -> Inspector:
    """APP_CODE with the tests' key: it takes user JWTs."""
    add_jwt_key(inspector)
    return inspector


def test_an_application_without_keys_refuses_a_bearer_token(device: Device) -> None:
    # before: accepted (the server checked structure and expiry only)
    bearer(device)
    text = assert_error(device.personalize({"externalUserId": "ana"}), 401, "UNAUTHORIZED", "has no JWT keys")
    assert "--jwt-key" in text and device.authorization.split(".")[-1] not in text


def test_a_forged_token_is_refused(new_device: MakeDevice, jwt_app: Inspector, client: Any) -> None:
    # before: accepted, and the forger's device joined the person "ana"
    device = new_device(Dialect.ANDROID)
    device.authorization = "Bearer " + jwt(claims(), secret=OTHER_SECRET)
    assert_error(device.personalize({"externalUserId": "ana"}), 401, "UNAUTHORIZED", "signature")
    found = client.request("GET", "/inspect/persons", params={"identifier": "ana", "type": "EXTERNAL_ID"})
    assert_error(found, 404, "NOT_FOUND")


def test_the_users_token_personalizes_reads_and_updates(device: Device, jwt_app: Inspector) -> None:
    bearer(device, "ana")
    response = device.personalize({"externalUserId": "ana"}, {"firstName": "Ana"})
    assert response.status_code == 200, response.text
    assert device.user_json()["externalUserId"] == "ana"
    assert_empty_ok(device.patch_user({"lastName": "Horvat", "externalUserId": "ana"}))
    assert device.user_json()["lastName"] == "Horvat"
    if device.dialect is Dialect.ANDROID:
        assert device.repersonalize({"externalUserId": "ana"}).status_code == 200


def test_a_token_for_another_user_is_forbidden(device: Device, jwt_app: Inspector) -> None:
    bearer(device, "bob")
    assert_error(device.personalize({"externalUserId": "ana"}), 403, "FORBIDDEN", "for externalUserId 'bob'")
    assert_error(device.personalize({"phones": [{"number": "385911234567"}]}), 403, "FORBIDDEN")
    assert_error(device.user(), 403, "FORBIDDEN", "installation's user is none")  # an anonymous device
    assert_error(device.patch_user({"firstName": "B"}), 403, "FORBIDDEN")
    bearer(device, "ana")
    assert device.personalize({"externalUserId": "ana"}).status_code == 200
    bearer(device, "bob")
    assert_error(device.user(), 403, "FORBIDDEN", "installation's user is 'ana'")
    assert_error(device.patch_user({"firstName": "B"}), 403, "FORBIDDEN")
    if device.dialect is Dialect.ANDROID:
        assert_error(device.repersonalize({"externalUserId": "ana"}), 403, "FORBIDDEN")


def test_a_patch_cannot_rename_the_user_in_a_jwt_application(new_device: MakeDevice, jwt_app: Inspector) -> None:
    device = new_device(Dialect.IOS)
    bearer(device, "ana")
    assert device.personalize({"externalUserId": "ana"}).status_code == 200
    assert_error(device.patch_user({"externalUserId": "bob"}), 403, "FORBIDDEN", "only by personalize")
    assert_error(device.patch_user({"externalUserId": None}), 403, "FORBIDDEN")
    device.authorization = None  # the application code
    assert_error(device.patch_user({"externalUserId": "bob"}), 403, "FORBIDDEN", "only by personalize")
    assert device.user_json()["externalUserId"] == "ana"


def test_the_application_code_still_serves_the_other_user_calls(new_device: MakeDevice, jwt_app: Inspector) -> None:
    """With JWT keys the portal's "JWT only" option: personalize needs a token; the rest works with
    the application code (the SDK wiki "User data authorization")."""
    device = new_device(Dialect.ANDROID)
    text = assert_error(device.personalize({"externalUserId": "ana"}), 403, "FORBIDDEN", "takes user JWTs")
    assert "Bearer" in text
    assert_error(device.repersonalize({"externalUserId": "ana"}), 403, "FORBIDDEN", "takes user JWTs")
    assert_empty_ok(device.patch_user({"firstName": "Ana"}))  # an anonymous profile
    assert device.user_json()["firstName"] == "Ana"
    assert_empty_ok(device.depersonalize())
    other = new_device(Dialect.ANDROID, app_code=OTHER_APP)  # keys are per application
    assert other.personalize({"externalUserId": "ana"}).status_code == 200


def test_a_token_of_another_application(new_device: MakeDevice, jwt_app: Inspector) -> None:
    jwt_app.post(f"/applications/{OTHER_APP}/jwt-keys", {"kid": "k2", "secret": OTHER_SECRET.hex()}, status=201)
    device = new_device(Dialect.ANDROID)
    # the other application's key under this application's code: an unknown key id
    device.authorization = "Bearer " + jwt(claims(), secret=OTHER_SECRET, header={"alg": "HS256", "typ": "JWT",
                                                                                   "kid": "k2"})  # fmt: skip
    assert_error(device.personalize({"externalUserId": "ana"}), 401, "UNAUTHORIZED", "kid 'k2' is not a JWT key")
    # a valid token of the other application is that application's caller: not this registration's
    device.authorization = "Bearer " + jwt(claims(**{"infobip-api-key": OTHER_APP}), secret=OTHER_SECRET,
                                           header={"alg": "HS256", "typ": "JWT", "kid": "k2"})  # fmt: skip
    assert_error(device.personalize({"externalUserId": "ana"}), 404, "NO_REGISTRATION")


def test_the_server_clock_decides_expiry(new_device: MakeDevice, jwt_app: Inspector, clock: Clock) -> None:
    device = new_device(Dialect.IOS)
    bearer(device, "ana", exp=NOW + 10)
    assert device.personalize({"externalUserId": "ana"}).status_code == 200
    clock.advance(10)
    assert_error(device.user(), 401, "UNAUTHORIZED", "expired")


# ---------------------------------------------------------------------------------------------
# keys: the inspection API, `mobsim serve --jwt-key`


def test_keys_through_the_inspection_api(new_device: MakeDevice, inspector: Inspector, client: Any) -> None:
    path = f"/applications/{APP_CODE}/jwt-keys"
    assert inspector.get(path) == {"keys": []}
    added = inspector.post(path, {"kid": JWT_KID, "secret": JWT_SECRET.hex()}, status=201)
    assert added == {"kid": JWT_KID, "secret": "0001… (32 bytes)", "replaced": False}
    assert inspector.post(path, {"kid": JWT_KID, "secret": JWT_SECRET.hex().upper()}, status=200)["replaced"]
    listed = inspector.get(path)
    assert listed == {"keys": [{"kid": JWT_KID, "secret": "0001… (32 bytes)"}]}
    assert JWT_SECRET.hex() not in json.dumps(listed)
    device = new_device(Dialect.ANDROID)
    assert_error(device.personalize({"externalUserId": "ana"}), 403, "FORBIDDEN")
    removed = client.request("DELETE", f"/inspect{path}/{JWT_KID}")
    assert (removed.status_code, removed.json()) == (200, {"removed": JWT_KID, "keys": 0})
    assert device.personalize({"externalUserId": "ana"}).status_code == 200  # no keys: the app code again
    assert_error(client.request("DELETE", f"/inspect{path}/{JWT_KID}"), 404, "NOT_FOUND")


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        ({"kid": "k1"}, 400, 'send {"kid"'),
        ({"kid": "k1", "secret": 7}, 400, 'send {"kid"'),
        ({"kid": "k1", "secret": "xyz"}, 400, "hex digits"),
        ({"kid": "k1", "secret": "abc"}, 400, "hex digits"),
        ({"kid": "k1", "secret": "ab" * 31}, 400, "31 bytes"),
        ({"kid": "a:b", "secret": "ab" * 32}, 400, "key id"),
        ({"kid": "", "secret": "ab" * 32}, 400, "key id"),
        ({"kid": "k" * 201, "secret": "ab" * 32}, 400, "key id"),
    ],
)
def test_a_bad_key_is_refused(client: Any, payload: dict[str, Any], status: int, text: str) -> None:
    response = client.request("POST", f"/inspect/applications/{APP_CODE}/jwt-keys", json=payload)
    assert_error(response, status, "REQUEST_FORMAT_INVALID", text)


def test_keys_of_an_unknown_application_are_not_found(client: Any) -> None:
    for method, json_body in (("GET", None), ("POST", {"kid": "k", "secret": "ab" * 32})):
        response = client.request(method, "/inspect/applications/no-such-app/jwt-keys", json=json_body)
        assert_error(response, 404, "NOT_FOUND", "no application no-s…")


def test_a_key_spec_parses_from_the_right() -> None:
    key = parse_jwt_key(f"odd:code:kid-1:0x{JWT_SECRET.hex()}")
    assert (key.app_code, key.kid, key.secret) == ("odd:code", "kid-1", JWT_SECRET)
    assert "0001" not in repr(key) and "32 bytes" in repr(key)
    assert parse_secret(" " + "AB" * 32 + " ") == bytes([0xAB]) * 32


@pytest.mark.parametrize(
    ("spec", "text"),
    [
        ("only-two:parts", "APP_CODE:KID:SECRET_HEX"),
        (f":k:{'ab' * 32}", "APP_CODE:KID:SECRET_HEX"),
        ("app:k:" + "ab" * 16, "16 bytes; HS256 takes at least 32"),
        ("app:k:" + "g" * 64, "hex digits"),
        ("app::" + "ab" * 32, "key id"),
    ],
)
def test_a_bad_key_spec_names_the_problem_and_never_the_secret(spec: str, text: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_jwt_key(spec)
    assert text in str(raised.value)
    assert spec.rsplit(":", 1)[-1] not in str(raised.value) or len(spec.rsplit(":", 1)[-1]) < 8


def test_serve_gives_the_keys_to_their_applications() -> None:
    key = parse_jwt_key(f"serve-app:k1:{JWT_SECRET.hex()}")
    server, _ = build_server(ServeConfig(app_codes=["serve-app"], jwt_keys=[key]))
    try:
        assert [k.kid for k in server.jwt_keys.of("serve-app")] == ["k1"]
    finally:
        server.store.close()
    with pytest.raises(RuntimeError, match="no application othe…: create it first") as raised:
        build_server(ServeConfig(app_codes=["serve-app"], jwt_keys=[parse_jwt_key(f"other-app:k1:{'ab' * 32}")]))
    assert "ab" * 32 not in str(raised.value)


def test_the_serve_option_parses_and_refuses_a_bad_spec(capsys: pytest.CaptureFixture[str]) -> None:
    from mobsim.cli import build_parser

    args = build_parser().parse_args(["serve", "--memory", "--jwt-key", f"a:k1:{JWT_SECRET.hex()}", "--jwt-key",
                                      f"b:k2:{OTHER_SECRET.hex()}"])  # fmt: skip
    assert [(k.app_code, k.kid) for k in args.jwt_key] == [("a", "k1"), ("b", "k2")]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--jwt-key", "a:k1:" + "cd" * 8])
    error = capsys.readouterr().err
    assert "--jwt-key" in error and "8 bytes" in error and "cd" * 8 not in error


# ---------------------------------------------------------------------------------------------
# a simulated device with the app's JwtSupplier against the server


@pytest.mark.parametrize(("platform", "sdk"), [("android", "15.0.0"), ("ios", "15.5.2"), ("huawei", "8.11.0")])
def test_a_device_with_a_jwt_supplier_works_against_a_jwt_application(platform: str, sdk: str) -> None:
    clock = VirtualClock(NOW)
    server = InProcessServer("E2E-APP", clock=clock)
    server.profiles.add_jwt_key(parse_jwt_key(f"E2E-APP:kid-7:{JWT_SECRET.hex()}"))

    def supplier(secret: bytes) -> Callable[[str | None], str | None]:
        def token(user: str | None) -> str | None:
            return None if user is None else user_jwt("E2E-APP", user, secret=secret, now=clock.now(), kid="kid-7")

        return token

    def device(secret: bytes, seed: int) -> VirtualDevice:
        config = AppConfig("E2E-APP", base_url="http://in.process", jwt=supplier(secret))
        phone = VirtualDevice.create(platform, config, seed=seed, transport=InProcessTransport(server), clock=clock)
        phone.update_app(phone.profile.app_version, sdk)
        phone.start()
        assert phone.reg_id, phone.last_error
        return phone

    phone = device(JWT_SECRET, 1)
    phone.personalize({"externalUserId": f"e2e-{platform}"})
    clock.advance(2)
    phone.save_user(firstName="Ana")
    clock.advance(2)
    assert phone.fetch_user()["firstName"] == "Ana"
    person = server.get("/inspect/persons", identifier=f"e2e-{platform}", type="EXTERNAL_ID")
    assert person["installations"][0]["pushRegId"] == phone.reg_id
    forger = device(OTHER_SECRET, 2)
    with pytest.raises(DeviceApiError) as raised:
        forger.personalize({"externalUserId": f"e2e-{platform}"})
    assert (raised.value.code, raised.value.status) == ("UNAUTHORIZED", 401)
    assert datetime.fromtimestamp(clock.now(), UTC) >= START
