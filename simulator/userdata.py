"""User and installation data: from the app's Python values to wire values, deltas and merges.

The app passes wire field names (`externalUserId`, `firstName`, `phones`, `customAttributes`...)
with Python values; dates become `yyyy-MM-dd`, datetimes `yyyy-MM-ddTHH:mm:ssZ`, phones and emails
plain strings or wire objects. State keeps wire values. Deltas carry `None` for "delete".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from contract import limits
from contract.formats import format_date, format_datetime

from .errors import ClientValidationError, UsageError

__all__ = [
    "ATTRIBUTE_KEYS",
    "IDENTITY_KEYS",
    "INSTALLATION_KEYS",
    "accumulate",
    "delta",
    "merge",
    "personalize_body",
    "to_wire_installation",
    "to_wire_user",
    "validate_user",
    "wire_value",
]

IDENTITY_KEYS = ("externalUserId", "phones", "emails")
ATTRIBUTE_KEYS = ("firstName", "lastName", "middleName", "gender", "birthday", "tags", "customAttributes")
INSTALLATION_KEYS = ("applicationUserId", "customAttributes", "isPrimary", "regEnabled")
_USER_KEYS = frozenset(IDENTITY_KEYS + ATTRIBUTE_KEYS)


def wire_value(value: Any, *, date_as_datetime: bool = False) -> Any:
    """A custom attribute or event property value as the SDKs encode it."""
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return f"{format_date(value)}T00:00:00Z" if date_as_datetime else format_date(value)
    if isinstance(value, list | tuple):
        return [{k: wire_value(v) for k, v in dict(item).items()} for item in value]
    return value


def _contacts(values: Iterable[Any] | None, key: str) -> list[dict[str, str]] | None:
    if values is None:
        return None
    out = [dict(v) if isinstance(v, Mapping) else {key: str(v)} for v in values]
    return out or None  # an empty set goes out as null


def _custom(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {name: wire_value(value) for name, value in values.items()}


def to_wire_user(values: Mapping[str, Any]) -> dict[str, Any]:
    """Normalise user fields given by the app; unknown names are a `UsageError`."""
    unknown = set(values) - _USER_KEYS
    if unknown:
        raise UsageError(f"unknown user fields {sorted(unknown)}; use {sorted(_USER_KEYS)}")
    out: dict[str, Any] = {}
    for key, value in values.items():
        if key == "phones":
            value = _contacts(value, "number")
        elif key == "emails":
            value = _contacts(value, "address")
        elif key == "customAttributes":
            value = _custom(value)
        elif key == "birthday" and isinstance(value, date):
            value = format_date(value)
        elif key == "gender" and isinstance(value, str):
            value = value.capitalize()
        elif key == "tags" and value is not None:
            value = list(value)
        out[key] = value
    return out


def to_wire_installation(values: Mapping[str, Any]) -> dict[str, Any]:
    unknown = set(values) - set(INSTALLATION_KEYS)
    if unknown:
        raise UsageError(f"unknown installation fields {sorted(unknown)}; use {list(INSTALLATION_KEYS)}")
    out = dict(values)
    if out.get("customAttributes") is not None:
        out["customAttributes"] = _custom(out["customAttributes"])
    return out


def validate_user(user: Mapping[str, Any]) -> None:
    """The SDKs' client-side checks (lengths and counts, no formats)."""
    try:
        limits.validate_user({k: v for k, v in user.items() if v is not None}, check_formats=False)
    except limits.LimitViolation as exc:
        raise ClientValidationError(str(exc.code), exc.text) from None


def merge(base: Mapping[str, Any] | None, change: Mapping[str, Any] | None) -> dict[str, Any]:
    """Apply a delta: `None` deletes; `customAttributes` merge key by key."""
    out = dict(base or {})
    for key, value in (change or {}).items():
        if value is None:
            out.pop(key, None)
        elif key == "customAttributes" and isinstance(value, Mapping):
            custom = {**(out.get(key) or {}), **value}
            out[key] = {k: v for k, v in custom.items() if v is not None}
        else:
            out[key] = value
    return out


def delta(current: Mapping[str, Any] | None, change: Mapping[str, Any] | None) -> dict[str, Any]:
    """iOS `deltaDict`: the keys of `change` that differ from `current`, nested for custom attributes."""
    current = current or {}
    out: dict[str, Any] = {}
    for key, value in (change or {}).items():
        old = current.get(key)
        if key == "customAttributes" and isinstance(value, Mapping):
            old_custom = old or {}
            sub = {k: v for k, v in value.items() if old_custom.get(k) != v}
            if sub:
                out[key] = sub
        elif old != value:
            out[key] = value
    return out


def personalize_body(identity: Mapping[str, Any], attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    """`{"userIdentity": ..., "userAttributes": ...}` with empty members left out."""
    body: dict[str, Any] = {"userIdentity": {k: identity[k] for k in IDENTITY_KEYS if identity.get(k)}}
    attrs = {k: attributes[k] for k in ATTRIBUTE_KEYS if attributes and attributes.get(k) is not None}
    if attrs:
        body["userAttributes"] = attrs
    return body


def accumulate(pending: Mapping[str, Any] | None, change: Mapping[str, Any]) -> dict[str, Any]:
    """Add a change to not-yet-acknowledged changes, keeping `None` (delete) markers."""
    out = dict(pending or {})
    for key, value in change.items():
        if key == "customAttributes" and isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out
