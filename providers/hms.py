"""HMS Push Kit on loopback: ``POST /v1/{appId}/messages:send`` and the OAuth 2.0 client-credentials
token endpoint ``POST /oauth2/v3/token`` (docs/reference/push-providers.md §3; docs/providers.md).

Answers carry the ``code`` strings of Huawei's demos. HTTP statuses (unconfirmed for v1) are the
choice the reference note writes down: business codes with 200, ``802xxxxx`` (OAuth) with 401.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from contract.dialect import Platform

from .common import AccessTokens, bearer, campaign_of, form, json_answer, read_json, route_of
from .journal import Journal

__all__ = ["MAX_BODY_BYTES", "MAX_TOKENS", "HmsConfig", "hms_routes"]

MAX_BODY_BYTES = 4096
MAX_TOKENS = 1000
_CLIENT_ID = re.compile(r"^[0-9]{1,64}$")

SUCCESS = "80000000"
PARTIAL = "80100000"
PARAMETER = "80100001"
STRUCTURE = "80100003"
AUTH = "80200001"
EXPIRED = "80200003"
BAD_TOKEN = "80300007"
TOO_BIG = "80300008"
TOKEN_COUNT = "80300010"


@dataclass
class HmsConfig:
    """The imitation's state: its journal, clock, and optionally the known client secrets (id → secret;
    None accepts any secret for a well-formed client id)."""

    journal: Journal
    clients: dict[str, str] | None = None
    clock: Callable[[], float] | None = None
    tokens: AccessTokens = field(init=False)
    _ids: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.tokens = AccessTokens(self.clock or self.journal.clock, lifetime=3600)


def _answer(code: str, msg: str, request_id: str | None = None, status: int = 200) -> Response:
    body: dict[str, Any] = {"code": code, "msg": msg}
    if request_id is not None:
        body["requestId"] = request_id
    return json_answer(body, status)


async def token(request: Request) -> Response:
    config: HmsConfig = request.app.state.hms
    fields = await form(request)
    client_id, secret = fields.get("client_id", ""), fields.get("client_secret", "")
    problem = None
    if fields.get("grant_type") != "client_credentials":
        problem = (1102, 20001, "grant_type must be client_credentials")
    elif not _CLIENT_ID.match(client_id):
        problem = (1101, 20002, "client_id must match ^[0-9]{1,64}$ (the app id)")
    elif not secret or (config.clients is not None and config.clients.get(client_id) != secret):
        problem = (1101, 20003, "client_secret is missing or does not match the client_id")
    if problem is not None:
        error, sub_error, description = problem
        return json_answer({"error": error, "sub_error": sub_error, "error_description": description}, 400)
    access, lifetime = config.tokens.issue(client_id)
    return json_answer({"access_token": access, "expires_in": lifetime, "token_type": "Bearer"})


def _delivered(message: dict[str, Any]) -> str | None:
    """The data string the app gets (``android.data`` wins over ``message.data``: chosen, unconfirmed)."""
    android = message.get("android")
    if isinstance(android, dict) and android.get("data") is not None:
        return android["data"] if isinstance(android["data"], str) else None
    data = message.get("data", "")
    return data if isinstance(data, str) else None


async def send(request: Request) -> Response:
    config: HmsConfig = request.app.state.hms
    journal = config.journal
    app_id = request.path_params["app_id"]
    subject, problem = config.tokens.check(bearer(request))
    if problem == "expired":
        journal.reject("hms", None, 401, EXPIRED, size=0)
        return _answer(EXPIRED, "Oauth token expired", status=401)
    if subject is None or subject != app_id:
        journal.reject("hms", None, 401, AUTH, size=0)
        why = "of another app" if subject is not None else f"{problem}"
        return _answer(AUTH, f"Oauth authentication error (access token {why})", status=401)
    body, raw_size, unparsed = await read_json(request)
    message = body.get("message") if isinstance(body, dict) else None
    if unparsed is not None or not isinstance(message, dict):
        journal.reject("hms", None, 200, STRUCTURE, size=raw_size)
        return _answer(STRUCTURE, "Message structure error: the body must be a JSON object with a 'message' object")
    tokens = message.get("token")
    if not isinstance(tokens, list) or not 1 <= len(tokens) <= MAX_TOKENS:
        journal.reject("hms", None, 200, TOKEN_COUNT, size=raw_size)
        return _answer(TOKEN_COUNT, f"The number of tokens must be 1 to {MAX_TOKENS} (message.token, a list)")
    data = _delivered(message)
    validate_only = body.get("validate_only", False)
    if data is None or not isinstance(validate_only, bool):
        journal.reject("hms", None, 200, PARAMETER, size=raw_size)
        return _answer(PARAMETER, "Parameter check error: message.data and android.data are strings, "
                                  "validate_only a boolean")  # fmt: skip
    without_tokens = {key: value for key, value in message.items() if key != "token"}
    size = len(json.dumps(without_tokens, separators=(",", ":"), ensure_ascii=False).encode())
    if size > MAX_BODY_BYTES:
        journal.reject("hms", None, 200, TOO_BIG, size=size)
        return _answer(TOO_BIG, f"The message body is {size} bytes (without the tokens), at most {MAX_BODY_BYTES}")
    request_id = f"{int(journal.clock() * 1000)}{next(config._ids) % 10**9:09d}"
    good: list[str] = []
    illegal: list[str] = []
    for item in tokens:
        known = isinstance(item, str) and route_of(Platform.HUAWEI, item) is not None
        if known and journal.is_uninstalled("hms", item) is None:
            good.append(item)
        else:
            illegal.append(item if isinstance(item, str) else json.dumps(item))
    for item in illegal:
        journal.reject("hms", item, 200, BAD_TOKEN, size=size)
    if not good:
        return _answer(BAD_TOKEN, "Invalid token: no token of this request is valid", request_id)
    if not validate_only:
        campaign, _ = campaign_of(Platform.HUAWEI, data)
        for item in good:
            journal.accept("hms", item, {"data": data}, size=size, message_id=request_id, campaign=campaign)
    if illegal:
        msg = json.dumps({"success": len(good), "failure": len(illegal), "illegal_tokens": illegal})
        return _answer(PARTIAL, msg, request_id)
    return _answer(SUCCESS, "Success", request_id)


def hms_routes() -> list[Route]:
    """The HMS routes; the app's ``state.hms`` holds an :class:`HmsConfig`."""
    return [
        Route("/oauth2/v3/token", token, methods=["POST"]),
        Route("/v1/{app_id}/messages:send", send, methods=["POST"]),
    ]
