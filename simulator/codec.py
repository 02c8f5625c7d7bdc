"""Bodies in and out: JSON as each SDK writes it (the encodings are part of the contract,
`contract.codec`, re-exported here), and error replies as each SDK reads them."""

from __future__ import annotations

import json
from typing import Any

from contract.codec import encode_android, encode_ios, strip_nulls

from .errors import api_error
from .transport import Outgoing, Reply

__all__ = ["decode_reply", "encode_android", "encode_ios", "strip_nulls"]

_DECODER = json.JSONDecoder()


def _loads(content: bytes) -> Any:
    """`json.loads(content)`; a body that starts like UTF-8 JSON skips the encoding sniffing."""
    if content[:1] in (b"{", b"["):
        return _DECODER.decode(content.decode("utf-8", "surrogatepass"))
    return json.loads(content)


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
            data = _loads(reply.content)
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
