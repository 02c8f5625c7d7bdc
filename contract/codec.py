"""JSON as each SDK writes it, the field order Gson writes installation bodies in, and JSON as the
server reads it from any client.

iOS (`JSONSerialization` with `.sortedKeys`): compact, keys sorted, nulls as given. Android (Gson):
compact, insertion order, `null`s kept only in PATCH bodies, HTML-sensitive characters escaped as
`\\u003c`-style sequences (`Gson`'s default `HtmlSafe`), installation members in `AppInstance.java`'s
field order. The device encodes with these; the strict server and the tests compare against them.

Reading (:func:`parse_json`, :func:`check_json_numbers`): what neither SDK can send is refused with
:class:`MalformedJson`, whose text tells the client what is wrong: nesting deeper than
:data:`MAX_JSON_DEPTH`, ``NaN`` and ``Infinity`` (Python's json reads them; neither Gson nor
`JSONSerialization` writes them), a number that overflows a double (``1e400`` would read as
infinity), optionally an integer outside 64 bits (what SQLite stores).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from json.encoder import c_make_encoder, encode_basestring  # type: ignore[attr-defined]
from typing import Any

from pydantic_core import from_json

__all__ = [
    "ANDROID_FIELD_ORDER",
    "INT64_MAX",
    "INT64_MIN",
    "MAX_JSON_DEPTH",
    "MalformedJson",
    "android_order",
    "check_json_numbers",
    "compact_encoder",
    "encode_android",
    "encode_ios",
    "parse_json",
    "strip_nulls",
]

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
_NEEDS_GSON_ESCAPE = re.compile("[<>&='\u2028\u2029]")


def compact_encoder(*, sort_keys: bool = False) -> Callable[[Any], str]:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)`` for
    values without reference cycles (what a request body or a parked state is), built once: the C
    encoder that ``json.JSONEncoder.encode`` makes again at every call, made here at import (the
    same text; the pure-Python encoder where CPython has no C one)."""
    encoder = json.JSONEncoder(separators=_SEPARATORS, ensure_ascii=False, sort_keys=sort_keys)
    if c_make_encoder is None:  # pragma: no cover - CPython always has it
        return encoder.encode
    iterencode = c_make_encoder(
        None, encoder.default, encode_basestring, None, ":", ",", sort_keys, False, True
    )  # markers (no cycle check), default, string encoder, indent, separators, sort_keys, skipkeys, allow_nan

    def encode(value: Any) -> str:
        if isinstance(value, str):
            return encode_basestring(value)
        return "".join(iterencode(value, 0))

    return encode


_IOS_ENCODE = compact_encoder(sort_keys=True)
_ANDROID_ENCODE = compact_encoder()


def encode_ios(body: dict[str, Any]) -> bytes:
    return _IOS_ENCODE(body).encode("utf-8")


def strip_nulls(value: Any) -> Any:
    """Gson's default: `null` members and `null` map values vanish (recursively)."""
    if isinstance(value, dict):
        return _strip_dict(value)
    if isinstance(value, list):
        return _strip_list(value)
    return value


def _strip_dict(value: dict[Any, Any]) -> dict[Any, Any]:
    out = {}
    for key, item in value.items():
        if item is None:
            continue
        if isinstance(item, dict):
            item = _strip_dict(item)
        elif isinstance(item, list):
            item = _strip_list(item)
        out[key] = item
    return out


def _strip_list(value: list[Any]) -> list[Any]:
    return [_strip_dict(v) if isinstance(v, dict) else _strip_list(v) if isinstance(v, list) else v for v in value]


def encode_android(body: dict[str, Any], *, keep_nulls: bool) -> bytes:
    text = _ANDROID_ENCODE(body)
    if not keep_nulls and ":null" in text:
        # A member whose value is null is written `"name":null`; without one anywhere (the usual
        # body) there is nothing to strip and the text is already Gson's.
        text = _ANDROID_ENCODE(strip_nulls(body))
    if _NEEDS_GSON_ESCAPE.search(text) is not None:
        text = text.translate(_GSON_ESCAPES)
    return text.encode("utf-8")


ANDROID_FIELD_ORDER = (
    "pushRegId",
    "regEnabled",
    "notificationsEnabled",
    "sdkVersion",
    "appVersion",
    "os",
    "osVersion",
    "deviceManufacturer",
    "deviceModel",
    "deviceSecure",
    "language",
    "deviceTimezoneOffset",
    "applicationUserId",
    "deviceName",
    "customAttributes",
    "isPrimary",
    "pushServiceType",
    "pushServiceToken",
)
"""`AppInstance.java` field order: the order Gson writes installation bodies in."""
_RANK = {name: rank for rank, name in enumerate(ANDROID_FIELD_ORDER)}


def android_order(body: dict[str, Any]) -> dict[str, Any]:
    return dict(sorted(body.items(), key=lambda item: _RANK.get(item[0], 99)))


# -- reading a client's JSON ---------------------------------------------------------------------

MAX_JSON_DEPTH = 200
"""Arrays and objects nested around a value, at most. pydantic-core's parser (jiter) has this limit
built in, for :func:`parse_json` and for the wire models' ``model_validate_json`` alike, so every
route of the server refuses the same depth (a recursive parser never sees deeper JSON)."""
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
"""The integers SQLite stores (and a Java ``long``)."""

# Where a number could be out of range: an exponent of three digits or more, or a run of 19 digits
# (INT64_MAX has 19; a double overflows only past 308). Also inside strings: then the walk finds nothing.
# Found on a mask of the bytes (digits as 0, e/E as e, signs left out, the rest blank): a translate
# and two substring searches, a few µs for an SDK body where a regular expression takes 15 to 40.
_MASK = bytes(48 if 48 <= b <= 57 else 101 if b in b"eE" else 32 for b in range(256))


def _suspect_number(raw: bytes) -> bool:
    masked = raw.translate(_MASK, b"+-")
    return b"0000000000000000000" in masked or b"e000" in masked


class MalformedJson(ValueError):
    """A client's JSON that the server does not read; the text says what is wrong and where,
    ``problem`` the same without saying that it is the body."""

    def __init__(self, problem: str, *, parsed: bool = False) -> None:
        super().__init__(f"the body {'holds' if parsed else 'is not valid JSON:'} {problem}")
        self.problem = problem


def parse_json(raw: bytes, *, int64: bool = False) -> Any:
    """A client's JSON document, or :class:`MalformedJson`. ``int64``: integers must also fit 64 bits
    (for what goes to SQLite as it is: the inspection API's queries and definitions)."""
    try:
        value = from_json(raw, allow_inf_nan=False)
    except ValueError as exc:
        raise MalformedJson(_explain(raw, str(exc))) from None
    if _suspect_number(raw):
        _check_numbers(value, int64)
    return value


def check_json_numbers(raw: bytes) -> None:
    """Refuse ``NaN``, ``Infinity`` and overflowing numbers anywhere in ``raw`` (a wire model ignores
    unknown members, and with them what is in them). Costs a search of the bytes; only a body that
    holds such a spelling (perhaps inside a string) is parsed here. Invalid JSON is left to the caller's
    parser, whose message names the model."""
    if b"NaN" in raw or b"Infinity" in raw or _suspect_number(raw):
        try:
            value = from_json(raw, allow_inf_nan=False)
        except ValueError as exc:
            if _has_nan_or_infinity(raw):
                raise MalformedJson(_explain(raw, str(exc))) from None
            return
        _check_numbers(value, int64=False)


def _has_nan_or_infinity(raw: bytes) -> bool:
    """Whether ``raw`` is JSON but for ``NaN`` or ``Infinity`` literals."""
    try:
        from_json(raw, allow_inf_nan=True)
    except ValueError:
        return False
    return True


def _explain(raw: bytes, problem: str) -> str:
    if problem.startswith("recursion limit exceeded"):
        where = problem.removeprefix("recursion limit exceeded").strip()
        return f"nested more than {MAX_JSON_DEPTH} levels deep ({where})"
    if _has_nan_or_infinity(raw):
        return "NaN or Infinity, which are not JSON numbers (send a finite number or null)"
    if problem.startswith("number out of range"):
        return f"a number too large ({problem})"
    return problem


def _check_numbers(value: Any, int64: bool) -> None:
    """Walk ``value`` (at most :data:`MAX_JSON_DEPTH` deep, so iteratively or not is a choice) for an
    infinite float or, with ``int64``, an integer outside 64 bits."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, float) and not math.isfinite(item):
            raise MalformedJson("a number too large for a double (over 1.8e308), which would read as infinity")
        elif int64 and isinstance(item, int) and not isinstance(item, bool) and not INT64_MIN <= item <= INT64_MAX:
            shown = str(item)
            shown = shown if len(shown) <= 30 else shown[:27] + "..."
            raise MalformedJson(
                f"the integer {shown}, too large: integers here are within ±2^63 (-9223372036854775808 to "
                "9223372036854775807)",
                parsed=True,
            )
