"""Thin HTTP helpers shared by the SDK-facing and the inspection API: bodies in, JSON out.

Every request body is read here (the Push API's too), under :func:`body_limit`: 413 before more
than the limit is buffered (a declared ``Content-Length`` over it is refused before the first byte
is read; a chunked body is counted as it arrives). JSON is read as :mod:`contract.codec` says
(nesting, NaN and Infinity, numbers out of range: 400 ``REQUEST_FORMAT_INVALID``). docs/serve.md,
"Limits", lists each limit.
"""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from contract import ErrorCode, error_body, limits
from contract.codec import MAX_JSON_DEPTH, MalformedJson, check_json_numbers, compact_encoder, parse_json

from .errors import ApiError

__all__ = [
    "MAX_BODY",
    "PUSH_MAX_BODY",
    "body_limit",
    "declared_length",
    "describe",
    "empty",
    "error_response",
    "json_response",
    "parse_body",
    "read_json",
]

MAX_BODY = limits.BODY_MAX
"""The largest request body of the Mobile API and the inspection API (1 MiB); larger ones get 413."""
PUSH_MAX_BODY = limits.PUSH_BODY_MAX
"""The largest Push API body (``/push/...``, 8 MiB); a Push API call is authenticated (an API key)
before its body is read."""

M = TypeVar("M", bound=BaseModel)


def body_limit(path: str) -> int:
    """The largest body a request to ``path`` may carry."""
    return PUSH_MAX_BODY if path.startswith("/push/") else MAX_BODY


def declared_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The ``Content-Length`` of raw ASGI headers, None when absent or not a number."""
    for name, value in headers:
        if name.lower() == b"content-length":
            return int(value) if value.isdigit() else None
    return None


_ENCODE = compact_encoder()
"""``json.dumps(..., separators=(",", ":"), ensure_ascii=False)`` with the encoder built once."""


def json_response(content: Any, status: int = 200) -> Response:
    data = _ENCODE(content).encode("utf-8")
    return Response(data, status_code=status, media_type="application/json")


def empty() -> Response:
    """A 2xx with an empty body: success for both SDKs' void calls."""
    return Response(b"", status_code=200)


def error_response(code: str, text: str, status: int) -> Response:
    """The ``requestError`` envelope with a Content-Length, which Android needs to read the code."""
    return Response(error_body(code, text), status_code=status, media_type="application/json")


async def _read(request: Request, limit: int | None = None) -> bytes:
    """The body, at most ``limit`` (default :func:`body_limit`) bytes of it (else ``PAYLOAD_TOO_LARGE``)."""
    limit = body_limit(request.scope["path"]) if limit is None else limit
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"the body is {declared} bytes; the limit is {limit}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"the body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


async def _body(request: Request) -> bytes:
    """The body (:func:`_read`) of a route that validates it with a wire model
    (server_stub/push_api.py): ``NaN``, ``Infinity`` and overflowing numbers are refused first, since
    a model ignores the members it does not know and what is in them."""
    raw = await _read(request)
    _check_numbers(raw)
    return raw


def _check_numbers(raw: bytes) -> None:
    try:
        check_json_numbers(raw)
    except MalformedJson as exc:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, str(exc)) from None


def describe(error: ValidationError) -> str:
    """The first problems of a validation error, for a client."""
    parts = []
    for item in error.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


async def parse_body(request: Request, model: type[M], *, required: bool = True) -> M | None:
    """Validate the JSON body against a wire model; ``REQUEST_FORMAT_INVALID`` says what is wrong.
    The model judges first (its error names the member); then NaN, Infinity and overflowing numbers
    in members it ignored are refused too."""
    raw = await _read(request)
    if not raw.strip():
        if required:
            raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"a JSON body ({model.__name__}) is required")
        return None
    try:
        value = model.model_validate_json(raw)
    except ValidationError as exc:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"invalid {model.__name__}: {_problems(exc)}") from None
    _check_numbers(raw)
    return value


def _problems(error: ValidationError) -> str:
    first = error.errors(include_url=False)[0]
    problem = str(first.get("ctx", {}).get("error", ""))
    if first["type"] == "json_invalid" and problem.startswith("recursion limit exceeded"):
        where = problem.removeprefix("recursion limit exceeded").strip()
        return f"body: Invalid JSON: nested more than {MAX_JSON_DEPTH} levels deep ({where})"
    return describe(error)


async def read_json(request: Request, *, limit: int | None = None) -> dict[str, Any]:
    """A JSON object body for the inspection API (``{}`` when empty), of at most ``limit`` bytes
    (default :data:`MAX_BODY`; over it ``PAYLOAD_TOO_LARGE``). Its values go to SQLite and back to
    clients as they are: integers must fit 64 bits (:func:`contract.codec.parse_json`)."""
    raw = await _read(request, limit)
    try:
        value = parse_json(raw or b"{}", int64=True)
    except MalformedJson as exc:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, str(exc)) from None
    if not isinstance(value, dict):
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "the body must be a JSON object")
    return value
