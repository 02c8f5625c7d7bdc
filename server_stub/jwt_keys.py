"""User JWTs on the server: each application's JWT keys, and the check of a ``Bearer`` token.

An application's profile in the Infobip portal holds "JWT private keys": a key id and a secret the
portal shows as hex (the SDK wikis' "JsonWebToken (JWT) structure and generation example"; the
demos sign with ``MACSigner(HexFormat.of().parseHex(secretKeyHex))``, Android
`JwtSupplierExampleImpl.java`, and ``JWTSigner.hs256(key: hexStringToData(...))``, iOS
`JwtSupplierExampleImpl.swift`). The app's backend signs a token per user with HS256; the SDK sends
it as ``Authorization: Bearer <jwt>`` on the user calls. :func:`verify` checks what the server must:
the structure the SDKs check (`AuthorizationUtils.java`, `MMJwtUtils.swift`), ``alg`` HS256 only,
the application named by ``infobip-api-key``, a known ``kid``, the signature, ``typ`` ``Bearer``,
``exp`` in the future and ``iat`` not in the future. ``sub`` is returned: the rules compare it with
the externalUserId the call concerns (server_stub/rules/persons.py). Keys live in memory only:
``mobsim serve --jwt-key`` gives them again at each start. Errors never show a token or a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from contract import ErrorCode
from contract.secrets import mask

from .errors import ApiError

__all__ = [
    "IAT_LEEWAY",
    "MIN_SECRET_BYTES",
    "JwtKey",
    "JwtKeys",
    "VerifiedJwt",
    "jwt_key",
    "parse_jwt_key",
    "parse_secret",
    "verify",
]

MIN_SECRET_BYTES = 32
"""HS256 secrets of at least 256 bits: the Android demo's signer (Nimbus ``MACSigner``) refuses shorter ones."""
IAT_LEEWAY = 60.0
"""Seconds an ``iat`` may lie ahead of the server clock (the token issuer's clock may run a little fast)."""
_HEADER_KEYS = ("alg", "typ", "kid")
_CLAIMS = ("typ", "sub", "infobip-api-key", "iat", "exp", "jti")
_B64URL = re.compile(r"[A-Za-z0-9_-]*")
_HEX = re.compile(r"(?:[0-9a-fA-F]{2})+")
_KID_MAX = 200


def parse_secret(text: str) -> bytes:
    """A secret as the portal shows it: hex digits (an optional ``0x``); at least 32 bytes."""
    digits = text.strip().removeprefix("0x")
    if not _HEX.fullmatch(digits):
        raise ValueError("the secret is hex digits (an even number of 0-9, a-f), as the portal's JWT key shows it")
    secret = bytes.fromhex(digits)
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"the secret is {len(secret)} bytes; HS256 takes at least {MIN_SECRET_BYTES} (64 hex digits)")
    return secret


def _check_kid(kid: str) -> str:
    if not 1 <= len(kid) <= _KID_MAX or not kid.isascii() or not kid.isprintable() or ":" in kid or "/" in kid:
        raise ValueError(f"a key id is 1 to {_KID_MAX} printable ASCII characters without ':' or '/'")
    return kid


@dataclass(frozen=True)
class JwtKey:
    app_code: str
    kid: str
    secret: bytes

    def __repr__(self) -> str:  # a secret never reaches a log through repr
        return f"JwtKey(app_code={mask(self.app_code)!r}, kid={self.kid!r}, secret={len(self.secret)} bytes)"

    def describe(self) -> dict[str, Any]:
        """What the inspection API shows: the key id, and the secret masked."""
        return {"kid": self.kid, "secret": f"{self.secret[:2].hex()}… ({len(self.secret)} bytes)"}


def parse_jwt_key(spec: str) -> JwtKey:
    """``APP_CODE:KID:SECRET_HEX`` (``mobsim serve --jwt-key``); the app code may itself hold ':'."""
    parts = spec.rsplit(":", 2)
    if len(parts) != 3 or not parts[0]:
        raise ValueError("give APP_CODE:KID:SECRET_HEX (the key id and hex secret from the app profile's JWT keys)")
    return jwt_key(*parts)


def jwt_key(app_code: str, kid: str, secret_hex: str) -> JwtKey:
    """A key from its parts as the portal shows them; raises ValueError naming what is wrong."""
    return JwtKey(app_code, _check_kid(kid), parse_secret(secret_hex))


class JwtKeys:
    """Every application's JWT keys (key id → secret), in memory. An application with a key takes
    user JWTs: its Bearer tokens must verify, and personalize needs one (server_stub/rules/persons.py)."""

    def __init__(self) -> None:
        self._keys: dict[str, dict[str, bytes]] = {}

    def add(self, key: JwtKey) -> bool:
        """Add or replace a key; True if it replaced one with the same id."""
        keys = self._keys.setdefault(key.app_code, {})
        replaced = key.kid in keys
        keys[key.kid] = key.secret
        return replaced

    def remove(self, app_code: str, kid: str) -> bool:
        keys = self._keys.get(app_code, {})
        found = keys.pop(kid, None) is not None
        if not keys:
            self._keys.pop(app_code, None)
        return found

    def has_keys(self, app_code: str) -> bool:
        return app_code in self._keys

    def of(self, app_code: str) -> list[JwtKey]:
        return [JwtKey(app_code, kid, secret) for kid, secret in self._keys.get(app_code, {}).items()]

    def secret(self, app_code: str, kid: str) -> bytes | None:
        return self._keys.get(app_code, {}).get(kid)


@dataclass(frozen=True)
class VerifiedJwt:
    app_code: str
    subject: str
    """``sub``: the externalUserId the token was issued for."""
    kid: str
    expires: float


def _refuse(text: str) -> ApiError:
    return ApiError(ErrorCode.UNAUTHORIZED, f"the Bearer token is refused: {text}")


def _decode(part: str, what: str) -> bytes:
    if not _B64URL.fullmatch(part) or len(part) % 4 == 1:
        raise _refuse(f"its {what} is not base64url")
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise _refuse(f"its {what} is not base64url") from None


def _json_object(part: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(_decode(part, what))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _refuse(f"its {what} is not base64url-encoded JSON") from None
    if not isinstance(value, dict):
        raise _refuse(f"its {what} is not a JSON object")
    return value


def _number(claims: dict[str, Any], name: str) -> float:
    value = claims[name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _refuse(f"the {name} claim is not a number of seconds since 1970")
    return float(value)


def _string(claims: dict[str, Any], name: str) -> str:
    value = claims[name]
    if not isinstance(value, str) or not value:
        raise _refuse(f"the {name} claim is not a non-empty string")
    return value


def verify(token: str, keys: JwtKeys, known: Callable[[str], bool], now: float) -> VerifiedJwt:
    """Verify a user JWT; raises :class:`ApiError`: ``UNAUTHORIZED`` (401) for a token that does not
    verify, ``INVALID_APPLICATION_CODE`` (401) when ``infobip-api-key`` names no application."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        raise _refuse("a JWT is three base64url parts separated by dots (header.claims.signature)")
    header, claims = _json_object(parts[0], "header"), _json_object(parts[1], "claims")
    missing = [k for k in _HEADER_KEYS if k not in header] + [k for k in _CLAIMS if k not in claims]
    if missing:
        needed = f"header alg, typ, kid and claims {', '.join(_CLAIMS)}"
        raise _refuse(f"it lacks {', '.join(missing)} (the SDKs need {needed})")
    if header["alg"] != "HS256":
        raise _refuse(f"alg {str(header['alg'])[:20]!r} is not HS256, the only algorithm the app's JWT keys sign with")
    app_code = claims["infobip-api-key"]
    if not isinstance(app_code, str) or not known(app_code):
        raise ApiError(
            ErrorCode.INVALID_APPLICATION_CODE,
            "the Bearer token's infobip-api-key claim names no application this server knows "
            "(it is the application code the token was issued for)",
        )
    shown = mask(app_code)
    if not keys.has_keys(app_code):
        raise _refuse(
            f"application {shown} has no JWT keys, so no token can be verified: add one "
            f"(mobsim serve --jwt-key APP_CODE:KID:SECRET_HEX, or POST /inspect/applications/<code>/jwt-keys) "
            "or send 'Authorization: App <code>'"
        )
    kid = header["kid"]
    secret = keys.secret(app_code, kid) if isinstance(kid, str) else None
    if secret is None:
        raise _refuse(f"kid {str(kid)[:40]!r} is not a JWT key of application {shown}")
    expected = hmac.new(secret, f"{parts[0]}.{parts[1]}".encode("ascii"), hashlib.sha256).digest()
    if not hmac.compare_digest(expected, _decode(parts[2], "signature")):
        raise _refuse(f"its signature does not verify with key {kid!r} of application {shown} (HS256)")
    if claims["typ"] != "Bearer":
        raise _refuse("the typ claim is not 'Bearer'")
    subject = _string(claims, "sub")
    _string(claims, "jti")
    expires, issued = _number(claims, "exp"), _number(claims, "iat")
    if expires <= now:
        raise _refuse(f"it expired {now - expires:.0f} s ago (exp must be later than the server's clock)")
    if issued > now + IAT_LEEWAY:
        raise _refuse(f"it is issued {issued - now:.0f} s in the future (iat may be at most {IAT_LEEWAY:.0f} s ahead)")
    return VerifiedJwt(app_code, subject, kid, expires)
