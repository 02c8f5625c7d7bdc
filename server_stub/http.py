"""Thin HTTP helpers shared by the SDK-facing and the inspection API: bodies in, JSON out."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import Response

from contract import ErrorCode, error_body

from .errors import ApiError

__all__ = ["MAX_BODY", "describe", "empty", "error_response", "json_response", "parse_body", "read_json"]

MAX_BODY = 1024 * 1024
"""The largest request body accepted (1 MiB); larger ones get 413 with a clear message."""

M = TypeVar("M", bound=BaseModel)


def json_response(content: Any, status: int = 200) -> Response:
    data = json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(data, status_code=status, media_type="application/json")


def empty() -> Response:
    """A 2xx with an empty body: success for both SDKs' void calls."""
    return Response(b"", status_code=200)


def error_response(code: str, text: str, status: int) -> Response:
    """The ``requestError`` envelope with a Content-Length, which Android needs to read the code."""
    return Response(error_body(code, text), status_code=status, media_type="application/json")


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"the body is {declared} bytes; the limit is {MAX_BODY}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(ErrorCode.PAYLOAD_TOO_LARGE, f"the body is over the {MAX_BODY}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def describe(error: ValidationError) -> str:
    """The first problems of a validation error, for a client."""
    parts = []
    for item in error.errors(include_url=False)[:3]:
        where = ".".join(str(p) for p in item["loc"]) or "body"
        parts.append(f"{where}: {item['msg']}")
    more = error.error_count() - len(parts)
    return "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


async def parse_body(request: Request, model: type[M], *, required: bool = True) -> M | None:
    """Validate the JSON body against a wire model; ``REQUEST_FORMAT_INVALID`` says what is wrong."""
    raw = await _body(request)
    if not raw.strip():
        if required:
            raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"a JSON body ({model.__name__}) is required")
        return None
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"invalid {model.__name__}: {describe(exc)}") from None


async def read_json(request: Request) -> dict[str, Any]:
    """A JSON object body for the inspection API."""
    raw = await _body(request)
    try:
        value = json.loads(raw or b"{}")
        # A lone surrogate (``"\ud800"``) parses but cannot be stored or answered as UTF-8.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError):
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "the body must be a JSON object")
    return value
