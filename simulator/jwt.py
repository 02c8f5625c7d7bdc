"""User JWTs as the SDKs take them from the app's `JwtSupplier` and check them before a user call.

Since Android 13.12.0, iOS 13.6.0 and Huawei 7.5.0 an app may hand the SDK a JWT for its user; the
SDK then sends ``Authorization: Bearer <jwt>`` instead of ``App <code>`` on personalize, the user
GET and PATCH, and (Android, Huawei) repersonalize. Before sending, the SDK checks the token's
shape and expiry and, when it fails, sends nothing (Android `AuthorizationUtils`, iOS
`MMJwtUtils.getValidJwtAccessToken`): three dot-separated parts; a header with ``alg``, ``typ``
and ``kid``; claims ``typ``, ``sub``, ``infobip-api-key``, ``iat``, ``exp`` and ``jti``; ``exp`` in
the future. :func:`user_jwt` signs a token as Infobip's demo app does (HS256, ``sub`` the
externalUserId, ``infobip-api-key`` the application code).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from typing import Any

__all__ = ["JWT_ENDPOINTS", "jwt_problem", "user_jwt"]

JWT_ENDPOINTS = frozenset({"personalize", "repersonalize", "get_user", "patch_user"})
"""The calls that carry the JWT (`MobileApiUserData`; iOS has no repersonalize)."""
_HEADER_KEYS = ("alg", "typ", "kid")
_CLAIMS = ("typ", "sub", "infobip-api-key", "iat", "exp", "jti")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _json_part(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def user_jwt(
    app_code: str, external_user_id: str, *, secret: bytes, now: float, ttl: float = 3600.0, kid: str = "mobsim"
) -> str:
    """A user JWT for ``external_user_id`` of ``app_code``, HS256-signed with ``secret``."""
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    claims = {"typ": "Bearer", "sub": external_user_id, "infobip-api-key": app_code, "iat": int(now),
              "exp": int(now + ttl), "jti": secrets.token_hex(8)}  # fmt: skip
    signing = ".".join(_b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims))
    signature = hmac.new(secret, signing.encode("ascii"), hashlib.sha256).digest()
    return f"{signing}.{_b64(signature)}"


def jwt_problem(token: str, now: float) -> str | None:
    """What the SDK finds wrong with ``token`` before it sends it (``JWT_TOKEN_STRUCTURE_INVALID``,
    ``JWT_TOKEN_EXPIRED``), or None. The signature is not checked: the SDK has no key."""
    parts = token.split(".")
    if len(parts) != 3 or not all(parts):
        return "JWT_TOKEN_STRUCTURE_INVALID"
    try:
        header, claims = _json_part(parts[0]), _json_part(parts[1])
    except (ValueError, UnicodeDecodeError, RecursionError):
        return "JWT_TOKEN_STRUCTURE_INVALID"
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return "JWT_TOKEN_STRUCTURE_INVALID"
    if any(key not in header for key in _HEADER_KEYS) or any(key not in claims for key in _CLAIMS):
        return "JWT_TOKEN_STRUCTURE_INVALID"
    expires = claims["exp"]
    if not isinstance(expires, (int, float)) or isinstance(expires, bool):
        return "JWT_TOKEN_STRUCTURE_INVALID"
    return "JWT_TOKEN_EXPIRED" if expires <= now else None
