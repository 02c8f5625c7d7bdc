"""JSON as each SDK writes it, and the field order Gson writes installation bodies in.

iOS (`JSONSerialization` with `.sortedKeys`): compact, keys sorted, nulls as given. Android (Gson):
compact, insertion order, `null`s kept only in PATCH bodies, HTML-sensitive characters escaped as
`\\u003c`-style sequences (`Gson`'s default `HtmlSafe`), installation members in `AppInstance.java`'s
field order. The device encodes with these; the strict server and the tests compare against them.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["ANDROID_FIELD_ORDER", "android_order", "encode_android", "encode_ios", "strip_nulls"]

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
# What `json.dumps(body, separators=..., ensure_ascii=False[, sort_keys=True])` builds per call.
_IOS_ENCODER = json.JSONEncoder(separators=_SEPARATORS, ensure_ascii=False, sort_keys=True)
_ANDROID_ENCODER = json.JSONEncoder(separators=_SEPARATORS, ensure_ascii=False)


def encode_ios(body: dict[str, Any]) -> bytes:
    return _IOS_ENCODER.encode(body).encode("utf-8")


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
    text = _ANDROID_ENCODER.encode(body if keep_nulls else strip_nulls(body))
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
