"""Platforms and the two dialects of the Mobile API.

iOS speaks one dialect; Android and Huawei (the Android SDK with HMS push) speak the other.
The differences that show on the wire are all here: how PATCH travels, how query booleans are
spelled, in which order query parameters come, which push service and platform type are named.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from enum import StrEnum

__all__ = [
    "Dialect",
    "Platform",
    "QueryValue",
    "encode_query",
    "java_hashmap_order",
    "parse_query_bool",
]

QueryValue = bool | str | int


class Dialect(StrEnum):
    IOS = "ios"
    ANDROID = "android"

    @property
    def true(self) -> str:
        return "1" if self is Dialect.IOS else "true"

    @property
    def false(self) -> str:
        return "0" if self is Dialect.IOS else "false"

    @property
    def real_patch(self) -> bool:
        """iOS sends a real PATCH; Android sends POST with ``X-HTTP-Method-Override: PATCH``."""
        return self is Dialect.IOS

    @property
    def platform_type(self) -> str:
        """The ``platformType`` query value on messages, MO and version calls."""
        return "APNS" if self is Dialect.IOS else "GCM"

    @property
    def os_name(self) -> str:
        return "iOS" if self is Dialect.IOS else "Android"


class Platform(StrEnum):
    IOS = "ios"
    ANDROID = "android"
    HUAWEI = "huawei"

    @property
    def dialect(self) -> Dialect:
        return Dialect.IOS if self is Platform.IOS else Dialect.ANDROID

    @property
    def push_service_type(self) -> str:
        """``pushServiceType`` as each SDK sends it (iOS ``APNS``, Android ``Firebase``, HMS ``HMS``)."""
        return {Platform.IOS: "APNS", Platform.ANDROID: "Firebase", Platform.HUAWEI: "HMS"}[self]


def _java_string_hash(text: str) -> int:
    h = 0
    for unit in text.encode("utf-16-be").hex(" ", 2).split():
        h = (31 * h + int(unit, 16)) & 0xFFFFFFFF
    return h


def java_hashmap_order(keys: Iterable[str]) -> list[str]:
    """The iteration order of a ``java.util.HashMap`` holding ``keys`` (inserted in the given order).

    The Android SDK builds its query string from a HashMap, so its parameter order is this one:
    buckets by ``(h ^ (h >>> 16)) & (capacity - 1)``, insertion order within a bucket.
    """
    keys = list(keys)
    capacity = 16
    while len(keys) > capacity * 0.75:
        capacity *= 2

    def bucket(key: str) -> int:
        h = _java_string_hash(key)
        return (h ^ (h >> 16)) & (capacity - 1)

    indexed = sorted(enumerate(keys), key=lambda pair: (bucket(pair[1]), pair[0]))
    return [key for _, key in indexed]


def encode_query(dialect: Dialect, params: Mapping[str, QueryValue]) -> list[tuple[str, str]]:
    """Query parameters as the dialect sends them: spelled booleans, in the dialect's order.

    iOS sorts keys alphabetically (``MMRequests.swift``); Android iterates a HashMap.
    """
    spelled = {
        key: (dialect.true if value else dialect.false) if isinstance(value, bool) else str(value)
        for key, value in params.items()
    }
    order = sorted(spelled) if dialect is Dialect.IOS else java_hashmap_order(spelled)
    return [(key, spelled[key]) for key in order]


_TRUE = frozenset({"1", "true", "TRUE", "True"})
_FALSE = frozenset({"0", "false", "FALSE", "False"})


def parse_query_bool(value: str | None, *, default: bool = False) -> bool:
    """Read a query boolean in either dialect (``1``/``0`` or ``true``/``false``).

    Raises ``ValueError`` for any other spelling, so the server can answer a clear 400.
    """
    if value is None or value == "":
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"{value!r} is not a boolean; send true/false (Android) or 1/0 (iOS)")
