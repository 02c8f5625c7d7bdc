"""Custom attributes: a type fixed by the first value (or a definition), PATCH merge key by key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contract import ErrorCode, LimitViolation, limits

from ..errors import ApiError
from .context import Context

__all__ = ["apply_custom_attributes", "check_limits", "value_fits"]


def value_fits(declared: str, value: Any) -> bool:
    """Whether ``value`` may be stored in an attribute of type ``declared``.

    Numbers are lenient where the SDKs are sloppy: Android re-sends a fetched integer as ``12345.0``
    (Gson parses numbers as doubles), so an integral float fits an INTEGER attribute.
    """
    kind = limits.custom_value_type(value)
    if declared == kind:
        return True
    if declared == "DECIMAL":
        return kind == "INTEGER"
    if declared == "INTEGER":
        return kind == "DECIMAL" and float(value).is_integer()
    if declared == "STRING":
        return kind in ("DATE", "DATE_TIME")
    return False


def check_limits(attributes: Mapping[str, Any]) -> None:
    try:
        limits.validate_custom_attributes(attributes)
    except LimitViolation as exc:
        raise ApiError(exc.code, exc.text) from None


def _check_types(ctx: Context, scope: str, attributes: Mapping[str, Any]) -> None:
    for name, value in attributes.items():
        if value is None:
            continue
        key = name.lower()
        row = ctx.db.execute(
            "SELECT type FROM attribute_types WHERE account=? AND scope=? AND name=?",
            (ctx.caller.account, scope, key),
        ).fetchone()
        kind = limits.custom_value_type(value)
        if row is None:
            ctx.db.execute("INSERT INTO attribute_types VALUES (?,?,?,?)", (ctx.caller.account, scope, key, kind))
        elif not value_fits(row["type"], value):
            raise ApiError(
                ErrorCode.REQUEST_FORMAT_INVALID,
                f"{scope} custom attribute {name!r} is {row['type']}; {value!r} is {kind}. "
                "An attribute's type is fixed by its first value.",
            )


def apply_custom_attributes(
    ctx: Context, scope: str, current: Mapping[str, Any] | None, delta: Mapping[str, Any]
) -> dict[str, Any]:
    """Merge ``delta`` into ``current`` key by key (``None`` deletes) after checking limits and types."""
    check_limits(delta)
    _check_types(ctx, scope, delta)
    merged = dict(current or {})
    # Names are case-insensitive (People): a write replaces the value stored under any spelling.
    spelled = {key.lower(): key for key in merged}
    for name, value in delta.items():
        stored = spelled.pop(name.lower(), None)
        if stored is not None:
            del merged[stored]
        if value is not None:
            merged[name] = value
            spelled[name.lower()] = name
    if len(merged) > limits.CUSTOM_ATTRIBUTES_MAX:
        raise ApiError(
            ErrorCode.REQUEST_FORMAT_INVALID,
            f"{scope} would hold {len(merged)} custom attributes; the limit is {limits.CUSTOM_ATTRIBUTES_MAX}",
        )
    return merged
