"""FCM HTTP v1 on loopback: ``POST /v1/projects/{project}/messages:send`` and the service-account
token exchange ``POST /token`` (docs/reference/push-providers.md §1; docs/providers.md).

The token endpoint takes the JWT-bearer grant and checks the assertion's shape and claims (``aud``,
``scope``, ``iat``/``exp``); once service-account keys are registered (``FcmConfig.keys``, what
``mobsim providers --service-account`` does) it also verifies the RS256 signature with the key the
header's ``kid`` names. Sends need a live access token it issued; each answer is journaled.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import jwt
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contract.dialect import Platform

from .common import AccessTokens, QuotaWindow, bearer, campaign_of, form, json_answer, read_json, route_of
from .journal import Journal

__all__ = [
    "AUDIENCES",
    "JWT_BEARER",
    "MAX_DATA_BYTES",
    "MAX_TTL_SECONDS",
    "NOTIFICATION_KEY",
    "SCOPES",
    "FcmConfig",
    "fcm_routes",
]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
SCOPES = ("https://www.googleapis.com/auth/firebase.messaging", "https://www.googleapis.com/auth/cloud-platform")
AUDIENCES = (
    "https://oauth2.googleapis.com/token",
    "https://accounts.google.com/o/oauth2/token",
    "https://www.googleapis.com/oauth2/v4/token",
)
NOTIFICATION_KEY = "google.notification"
"""In a journaled FCM payload: the notification block of a notification message (a data key may not
start with ``google``, so it cannot clash). Such a message is shown by the system while the app is in
the background and never reaches the SDK (reference §4.1): the deliveries feed does not hand it."""
MAX_DATA_BYTES = 4096
MAX_TTL_SECONDS = 2_419_200
MAX_ASSERTION_SECONDS = 3600
CLOCK_SKEW = 300
EXPIRES_IN = 3599
"""google-auth reads ``expires_in``; Google's own value (3599 or 3600) is unconfirmed: 3599 chosen."""

_FCM_ERROR = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
_BAD_REQUEST = "type.googleapis.com/google.rpc.BadRequest"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
_STATUS = {400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 404: "NOT_FOUND", 429: "RESOURCE_EXHAUSTED"}
_TTL = re.compile(r"^(\d{1,12})(\.\d{1,9})?s$")
_TOKEN_SHAPE = re.compile(r"^[A-Za-z0-9_:\-]{20,4096}$")
_TARGETS = ("token", "topic", "condition", "fid")
_SIGNATURE_ONLY: Any = {"verify_aud": False, "verify_exp": False, "verify_iat": False, "verify_nbf": False}
"""The claims are checked by :func:`_claims_problem`, with its own messages."""


@dataclass
class FcmConfig:
    """The imitation's state: its journal, clock, per-project quota (sends per ``quota_seconds``)."""

    journal: Journal
    quota: int | None = None
    quota_seconds: float = 60.0
    clock: Callable[[], float] | None = None
    keys: dict[str, bytes] = field(default_factory=dict)
    """Service-account public keys (PEM) by ``private_key_id``; empty: signatures are not checked."""
    tokens: AccessTokens = field(init=False)
    window: QuotaWindow = field(init=False)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        clock = self.clock or self.journal.clock
        self.tokens = AccessTokens(clock, lifetime=EXPIRES_IN, prefix="ya29.mobsim-")
        self.window = QuotaWindow(clock, self.quota, self.quota_seconds)


class _Invalid(Exception):
    def __init__(self, message: str, field_name: str | None = None) -> None:
        super().__init__(message)
        self.field = field_name


def _error(status: int, message: str, code: str | None, extra: list[dict[str, Any]] | None = None,
           headers: dict[str, str] | None = None) -> Response:  # fmt: skip
    details: list[dict[str, Any]] = [{"@type": _FCM_ERROR, "errorCode": code}] if code else []
    details += extra or []
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUS[status]}
    if details:
        error["details"] = details
    return json_answer({"error": error}, status, headers)


def _oauth_error(error: str, description: str) -> Response:
    return json_answer({"error": error, "error_description": description}, 400)


def _b64json(part: str) -> Any:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


def _signature_problem(assertion: str, header: dict[str, Any], keys: dict[str, bytes]) -> str | None:
    if not keys:
        return None
    key = keys.get(str(header.get("kid")))
    if key is None:
        return "the assertion's kid names no service-account key of this provider (the file's private_key_id)"
    try:
        jwt.decode(assertion, key, algorithms=["RS256"], options=_SIGNATURE_ONLY)
    except jwt.InvalidTokenError as exc:
        return f"the assertion's RS256 signature does not verify with key {header.get('kid')}: {exc}"
    return None


def _claims_problem(assertion: str, now: float, own_url: str, keys: dict[str, bytes]) -> tuple[str | None, str]:
    """(None, issuer) for an acceptable assertion, else (what is wrong, "")."""
    parts = assertion.split(".")
    if len(parts) != 3 or not all(parts):
        return "the assertion is not a JWT (header.claims.signature)", ""
    try:
        header, claims = _b64json(parts[0]), _b64json(parts[1])
    except (ValueError, binascii.Error):
        return "the assertion's header or claims are not base64url JSON", ""
    if not isinstance(header, dict) or header.get("alg") != "RS256":
        return "the assertion's header must name alg RS256", ""
    if not isinstance(claims, dict):
        return "the assertion's claims are not a JSON object", ""
    signature = _signature_problem(assertion, header, keys)
    if signature is not None:
        return signature, ""
    issuer = claims.get("iss")
    if not isinstance(issuer, str) or not issuer:
        return "the assertion has no iss (the service account's client_email)", ""
    if claims.get("aud") not in (*AUDIENCES, own_url):
        return f"the assertion's aud must be the token_uri ({own_url}) or {AUDIENCES[0]}", ""
    scopes = str(claims.get("scope", "")).split()
    if not any(scope in SCOPES for scope in scopes):
        return f"the assertion's scope must include {SCOPES[0]} or {SCOPES[1]}", ""
    iat, exp = claims.get("iat"), claims.get("exp")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (iat, exp)):
        return "the assertion needs numeric iat and exp", ""
    assert isinstance(iat, int | float) and isinstance(exp, int | float)
    if exp - iat > MAX_ASSERTION_SECONDS or exp <= iat:
        return "the assertion's exp must be after iat and at most 3600 s after it", ""
    if iat > now + CLOCK_SKEW:
        return "the assertion's iat is in the future", ""
    if exp <= now:
        return "the assertion has expired", ""
    return None, issuer


async def token(request: Request) -> Response:
    config: FcmConfig = request.app.state.fcm
    fields = await form(request)
    if fields.get("grant_type") != JWT_BEARER:
        return _oauth_error("unsupported_grant_type", f"grant_type must be {JWT_BEARER}")
    own_url = str(request.url.replace(query=""))
    problem, issuer = _claims_problem(fields.get("assertion", ""), config.tokens.clock(), own_url, config.keys)
    if problem is not None:
        return _oauth_error("invalid_grant", problem)
    access, lifetime = config.tokens.issue(issuer)
    return json_answer({"access_token": access, "expires_in": lifetime, "token_type": "Bearer"})


def _pick(body: dict[str, Any], snake: str, camel: str) -> Any:
    """A field in either spelling (Google's JSON transcoding takes both; the later one wins)."""
    return body.get(camel, body.get(snake)) if camel in body else body.get(snake)


def _data_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(f"Invalid value at '{where}' (type.googleapis.com/google.protobuf.Struct)", where)
    for index, (key, item) in enumerate(value.items()):
        if not isinstance(item, str):
            at = f"{where}[{index}].value"
            raise _Invalid(f"Invalid value at '{at}' (TYPE_STRING), {item}", at)
        if key in ("from", "gcm") or key.startswith("google"):
            raise _Invalid(f"Invalid data payload key: {key} (reserved)", where)
    return value


def _check_android(android: Any) -> dict[str, Any]:
    if android is None:
        return {}
    if not isinstance(android, dict):
        raise _Invalid("Invalid value at 'message.android' (an object)", "message.android")
    if android.get("notification") is not None and not isinstance(android["notification"], dict):
        raise _Invalid("Invalid value at 'message.android.notification' (an object)", "message.android.notification")
    priority = android.get("priority")
    if priority is not None and str(priority).lower() not in ("normal", "high"):
        raise _Invalid(f"Invalid value at 'message.android.priority' ({priority!r}: NORMAL or HIGH)",
                       "message.android.priority")  # fmt: skip
    ttl = android.get("ttl")
    if ttl is not None:
        match = _TTL.match(ttl) if isinstance(ttl, str) else None
        if (
            match is None
            or int(match.group(1)) > MAX_TTL_SECONDS
            or (int(match.group(1)) == MAX_TTL_SECONDS and match.group(2) and float(match.group(2)) > 0)
        ):
            raise _Invalid(f"Invalid TTL {ttl!r}: a duration '<seconds>s', 0 to {MAX_TTL_SECONDS}s",
                           "message.android.ttl")  # fmt: skip
    return android


def _size(data: dict[str, str], notification: Any) -> int:
    """Bytes FCM counts against the 4096 limit (chosen: the delivered data's keys and values, plus the
    notification block's string keys and values)."""
    total = sum(len(k.encode()) + len(v.encode()) for k, v in data.items())
    if isinstance(notification, dict):
        total += sum(len(str(k).encode()) + len(v.encode()) for k, v in notification.items() if isinstance(v, str))
    return total


def _notification(message: dict[str, Any]) -> dict[str, Any] | None:
    """The notification block the system displays (``message.notification`` merged under
    ``android.notification``), or None for a data-only message."""
    android = message.get("android")
    top = message.get("notification")
    inner = android.get("notification") if isinstance(android, dict) else None
    shown = {**(top if isinstance(top, dict) else {}), **(inner if isinstance(inner, dict) else {})}
    return shown or None


def _parse(body: Any) -> tuple[bool, str, dict[str, str], int]:
    """(validate_only, token, delivered data, size) of a valid send; raises :class:`_Invalid`."""
    if not isinstance(body, dict):
        raise _Invalid("the body must be a JSON object with a 'message'", None)
    validate_only = _pick(body, "validate_only", "validateOnly")
    if validate_only is not None and not isinstance(validate_only, bool):
        raise _Invalid("Invalid value at 'validate_only' (TYPE_BOOL)", "validate_only")
    message = body.get("message")
    if not isinstance(message, dict):
        raise _Invalid("Request contains an invalid argument: 'message' is required (an object)", "message")
    targets = [name for name in _TARGETS if message.get(name) not in (None, "")]
    if len(targets) != 1:
        raise _Invalid("Exactly one of token, topic, condition or fid must be specified", "message")
    if targets[0] != "token":
        raise _Invalid(f"mobsim's FCM delivers to device tokens only, not to a {targets[0]}", f"message.{targets[0]}")
    device_token = message["token"]
    if not isinstance(device_token, str) or not _TOKEN_SHAPE.match(device_token):
        raise _Invalid("The registration token is not a valid FCM registration token", "message.token")
    data = _data_map(message.get("data"), "message.data")
    if message.get("notification") is not None and not isinstance(message["notification"], dict):
        raise _Invalid("Invalid value at 'message.notification' (an object)", "message.notification")
    android = _check_android(message.get("android"))
    if android.get("data") is not None:
        data = _data_map(android.get("data"), "message.android.data")  # replaces message.data on Android
    size = _size(data, message.get("notification"))
    if size > MAX_DATA_BYTES:
        raise _Invalid(f"Message is too big: {size} bytes of payload, at most {MAX_DATA_BYTES}", "message")
    return bool(validate_only), device_token, data, size


async def send(request: Request) -> Response:
    config: FcmConfig = request.app.state.fcm
    journal = config.journal
    project = request.path_params["project"]
    _, problem = config.tokens.check(bearer(request))
    if problem is not None:
        journal.reject("fcm", None, 401, "UNAUTHENTICATED", size=0)
        text = f"Request had invalid authentication credentials: {problem} OAuth 2 access token."
        return _error(401, text, None)
    retry = config.window.take(project)
    if retry is not None:
        journal.reject("fcm", None, 429, "QUOTA_EXCEEDED", size=0)
        violation = {"subject": f"projects/{project}", "description": "Project message quota exceeded"}
        quota = {"@type": _QUOTA_FAILURE, "violations": [violation]}
        return _error(429, "Quota exceeded for the project's messages per minute.", "QUOTA_EXCEEDED",
                      [quota], {"Retry-After": str(retry)})  # fmt: skip
    body, raw_size, unparsed = await read_json(request)
    token_hint = body.get("message", {}).get("token") if isinstance(body, dict) and isinstance(
        body.get("message"), dict) else None  # fmt: skip
    token_hint = token_hint if isinstance(token_hint, str) else None
    try:
        if unparsed is not None:
            raise _Invalid(f"Invalid JSON payload received. {unparsed}", None)
        validate_only, device_token, data, size = _parse(body)
    except _Invalid as exc:
        journal.reject("fcm", token_hint, 400, "INVALID_ARGUMENT", size=raw_size)
        extra = [{"@type": _BAD_REQUEST, "fieldViolations": [{"field": exc.field, "description": str(exc)}]}]
        return _error(400, str(exc), "INVALID_ARGUMENT", extra if exc.field else None)
    if route_of(Platform.ANDROID, device_token) is None or journal.is_uninstalled("fcm", device_token) is not None:
        journal.reject("fcm", device_token, 404, "UNREGISTERED", size=size)
        return _error(404, "Requested entity was not found.", "UNREGISTERED")
    if validate_only:
        return json_answer({"name": f"projects/{project}/messages/fake_message_id"})
    name = f"projects/{project}/messages/0:{int(journal.clock() * 1000)}%{next(config._ids):08x}"
    campaign, _ = campaign_of(Platform.ANDROID, data)
    payload: dict[str, Any] = dict(data)
    shown = _notification(body["message"])
    if shown is not None:  # the system shows it in the background; the SDK never sees it
        payload[NOTIFICATION_KEY] = shown
    journal.accept("fcm", device_token, payload, size=size, message_id=name, campaign=campaign)
    return json_answer({"name": name})


def fcm_routes() -> list[Route]:
    """The FCM routes; the app's ``state.fcm`` holds an :class:`FcmConfig`."""
    return [
        Route("/token", token, methods=["POST"]),
        Route("/v1/projects/{project}/messages:send", send, methods=["POST"]),
    ]
