"""Error codes of the Mobile API and the one error envelope both SDKs parse.

The SDKs read ``requestError.serviceException.messageId`` as the error code and only tell 4xx
from 5xx; the HTTP status paired with each code is the reference server's choice (documented in
the README): 400 for validation, 401 for a bad application code, 403 for a call on another
installation that the SDK never makes, 404 for an unknown registration, 409 for conflicts.
"""

from __future__ import annotations

import json
from enum import StrEnum

__all__ = ["ErrorCode", "error_body", "status_for"]


class ErrorCode(StrEnum):
    # validation (400)
    USER_IDENTITY_INVALID = "USER_IDENTITY_INVALID"
    EMAIL_INVALID = "EMAIL_INVALID"
    PHONE_INVALID = "PHONE_INVALID"
    REQUEST_FORMAT_INVALID = "REQUEST_FORMAT_INVALID"
    # auth (401) and ownership (403)
    INVALID_APPLICATION_CODE = "INVALID_APPLICATION_CODE"
    UNAUTHORIZED = "UNAUTHORIZED"
    """The server's own surfaces (inspection API, docs) without their token: not an SDK code.
    Also a user JWT (``Bearer``) that does not verify (server_stub/jwt_keys.py)."""
    FORBIDDEN = "FORBIDDEN"
    # registration (404)
    NO_REGISTRATION = "NO_REGISTRATION"
    NOT_FOUND = "NOT_FOUND"
    # conflicts (409)
    AMBIGUOUS_PERSONALIZE_CANDIDATES = "AMBIGUOUS_PERSONALIZE_CANDIDATES"
    PERSONALIZATION_IMPOSSIBLE = "PERSONALIZATION_IMPOSSIBLE"
    USER_MERGE_INTERRUPTED = "USER_MERGE_INTERRUPTED"
    USER_DATA_RESTRICTED = "USER_DATA_RESTRICTED"
    # transport-level client mistakes
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    # the server's own failure: never for a client's mistake
    INTERNAL_ERROR = "INTERNAL_ERROR"


_STATUS: dict[ErrorCode, int] = {
    ErrorCode.USER_IDENTITY_INVALID: 400,
    ErrorCode.EMAIL_INVALID: 400,
    ErrorCode.PHONE_INVALID: 400,
    ErrorCode.REQUEST_FORMAT_INVALID: 400,
    ErrorCode.INVALID_APPLICATION_CODE: 401,
    ErrorCode.UNAUTHORIZED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NO_REGISTRATION: 404,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.AMBIGUOUS_PERSONALIZE_CANDIDATES: 409,
    ErrorCode.PERSONALIZATION_IMPOSSIBLE: 409,
    ErrorCode.USER_MERGE_INTERRUPTED: 409,
    ErrorCode.USER_DATA_RESTRICTED: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.INTERNAL_ERROR: 500,
}

# Codes the Android SDK classifies as "invalid parameter": never retried, unreported data dropped
# (MAsyncTask.invalidParameterErrorCodes).
INVALID_PARAMETER_CODES = frozenset(
    {
        "EMAIL_INVALID",
        "PHONE_INVALID",
        "USER_IDENTITY_INVALID",
        "REQUEST_FORMAT_INVALID",
        "USER_MERGE_INTERRUPTED",
        "USER_DATA_RESTRICTED",
        "PERSONALIZATION_IMPOSSIBLE",
        "AMBIGUOUS_PERSONALIZE_CANDIDATES",
        "NO_REGISTRATION",
    }
)


def status_for(code: ErrorCode) -> int:
    return _STATUS[code]


def error_body(code: str, text: str) -> bytes:
    """The ``requestError.serviceException`` envelope, as compact UTF-8 JSON bytes."""
    envelope = {"requestError": {"serviceException": {"messageId": str(code), "text": text}}}
    return json.dumps(envelope, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
