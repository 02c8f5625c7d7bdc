"""Bodies in and out: JSON as each SDK writes it, and error replies as each SDK reads them.

iOS (`JSONSerialization` with `.sortedKeys`): compact, keys sorted, nulls as given. Android (Gson):
compact, insertion order, `null`s kept only in PATCH bodies, HTML-sensitive characters escaped as
`\\u003c`-style sequences.
"""

from __future__ import annotations

import json
from typing import Any

from .errors import api_error
from .transport import Outgoing, Reply

__all__ = ["decode_reply", "encode_android", "encode_ios", "strip_nulls"]

_GSON_ESCAPES = str.maketrans(
    {
        "<": "\\u003c",
        ">": "\\u003e",
        "&": "\\u0026",
        "=": "\\u003d",
        "'": "\\u0027",
        "\u2028": "\\u2028",
        "\u2029": "\\u2029",
    }
)
_SEPARATORS = (",", ":")


def encode_ios(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, separators=_SEPARATORS, ensure_ascii=False).encode("utf-8")


def strip_nulls(value: Any) -> Any:
    """Gson's default: `null` members and `null` map values vanish (recursively)."""
    if isinstance(value, dict):
        return {k: strip_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [strip_nulls(v) for v in value]
    return value


def encode_android(body: dict[str, Any], *, keep_nulls: bool) -> bytes:
    text = json.dumps(body if keep_nulls else strip_nulls(body), separators=_SEPARATORS, ensure_ascii=False)
    return text.translate(_GSON_ESCAPES).encode("utf-8")


def _service_exception(data: Any) -> tuple[str, str] | None:
    try:
        found = data["requestError"]["serviceException"]
        return str(found["messageId"]), str(found.get("text") or "")
    except (KeyError, TypeError):
        return None


def _error_of_failure(reply: Reply, read_body: bool) -> tuple[str, str]:
    if not read_body or not reply.content:
        return "-1", "Unknown error"
    try:
        data = json.loads(reply.content)
    except ValueError:
        return "-4", "Can't access URI"
    found = _service_exception(data)
    if found is not None:
        return found
    return ("-2", "Unknown backend error") if reply.status >= 500 else ("-3", "Unknown API error")


def decode_reply(request: Outgoing, reply: Reply, *, android: bool, reads_body: bool) -> Any:
    """The parsed 2xx body (None when empty or ignored), or raise the `ApiError` the SDK would see.

    `reads_body`: the Android SDK never reads the body of a void endpoint.
    """
    status = reply.status
    if 200 <= status < 300:
        if not reply.content or (android and not reads_body):
            return None
        try:
            data = json.loads(reply.content)
        except ValueError:
            raise api_error("-4", "Can't parse response", status, request, reply) from None
        found = _service_exception(data) if isinstance(data, dict) and "requestError" in data else None
        if found is not None:
            raise api_error(found[0], found[1], status, request, reply)
        return data
    read_body = True
    if android:
        # HttpURLConnection: an error body is read only with a positive Content-Length.
        length = reply.header("content-length")
        read_body = bool(length) and length != "0"
    code, text = _error_of_failure(reply, read_body)
    raise api_error(code, text, status, request, reply)
