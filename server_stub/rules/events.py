"""Events: App Launch from session reports, session bounds, custom events against definitions."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contract import ErrorCode, parse_datetime
from contract.models import SYSTEM_DATA_FIELDS, CustomEvent, CustomEventsBody, SessionReport

from ..errors import ApiError
from ..store import dumps
from .context import STANDARD_EVENTS, Context
from .messages import session_started

__all__ = ["FIELD_TYPES", "MalformedEvent", "create_definition", "custom_events", "list_definitions", "session_report"]

FIELD_TYPES = ("String", "Boolean", "DateTime", "Numeric", "Decimal", "List")
_DEFINITION_ID = re.compile(r"[A-Za-z0-9]{1,36}")
_FIELD_NAME = re.compile(r"[a-z][A-Za-z0-9_]{0,127}")
_SYSTEM_DATA = frozenset(SYSTEM_DATA_FIELDS)


def session_report(ctx: Context, reg_id: str, body: SessionReport) -> dict[str, int]:
    """Apply the system data, count each new session start once (App Launch), keep the bounds."""
    inst = ctx.own_installation(reg_id)
    for first, last in body.sessionBounds.items():
        if last < first:
            raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"session bound ends ({last}) before it starts ({first})")
    if body.systemData is not None:
        changed = False
        for name in body.systemData.model_fields_set & _SYSTEM_DATA:
            value = getattr(body.systemData, name)
            if value is not None and inst.data.get(name) != value:
                inst.data[name] = value
                changed = True
        if changed:
            ctx.save_installation(inst)
    launches = 0
    ends: dict[str, str | None] = dict.fromkeys(body.sessionStarts)
    ends.update(body.sessionBounds)
    for start, end in ends.items():
        # One statement for a new start (the usual case); a known one keeps the later end (TEXT
        # compares as Python's str does: the same second-precision UTC shape).
        if ctx.db.execute("INSERT OR IGNORE INTO sessions VALUES (?,?,?)", (reg_id, start, end)).rowcount:
            ctx.record_event("AppLaunch", person_id=inst.person_id, reg_id=reg_id, occurred=start)
            session_started(ctx, reg_id, start)  # opens a message seen within 60 s (rules/messages.py)
            launches += 1
        elif end is not None:
            ctx.db.execute(
                'UPDATE sessions SET "end"=? WHERE reg_id=? AND start=? AND ("end" IS NULL OR "end" < ?)',
                (end, reg_id, start, end),
            )
    return {"launches": launches}


def _definition(ctx: Context, definition_id: str) -> tuple[str, dict[str, Any]] | None:
    """The definition's id as created and its fields by name, or None."""
    row = ctx.db.execute(
        "SELECT definition_id, fields FROM event_definitions WHERE account=? AND key=?",
        (ctx.caller.account, definition_id.lower()),
    ).fetchone()
    return None if row is None else (row[0], {f["name"]: f for f in json.loads(row[1])})


def _value_error(field: dict[str, Any], value: Any) -> str | None:
    kind = field["type"]
    if kind == "String":
        ok = isinstance(value, str)
    elif kind == "Boolean":
        ok = isinstance(value, bool)
    elif kind in ("Numeric", "Decimal"):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif kind == "DateTime":
        ok = _is_timestamp(value)
    else:
        ok = isinstance(value, list) and all(_list_item_error(field, item) is None for item in value)
    return None if ok else f"property {field['name']!r} must be {kind}, got {value!r}"[:300]


def _is_timestamp(value: Any) -> bool:
    try:
        parse_datetime(value)
    except ValueError:
        return False
    return True


def _list_item_error(field: dict[str, Any], item: Any) -> str | None:
    if not isinstance(item, dict):
        return "list items must be objects"
    inner = {f["name"]: f for f in field.get("fields", [])}
    for key, value in item.items():
        if key not in inner:
            return f"list field {key!r} is not defined"
        if value is not None and _value_error(inner[key], value):
            return f"list field {key!r} has the wrong type"
    return None


def _event_error(event: CustomEvent, definition: tuple[str, dict[str, Any]] | None) -> str | None:
    if definition is None:
        return f"no event definition {event.definitionId!r}; create it first"
    fields = definition[1]
    for name, value in (event.properties or {}).items():
        if name not in fields:
            return f"event {event.definitionId!r} has no property {name!r}"
        if value is not None and (problem := _value_error(fields[name], value)):
            return problem
    return None


@dataclass(frozen=True, slots=True)
class MalformedEvent:
    """A ``validate=false`` batch item that is not a custom event at all: rejected, not the batch."""

    definition_id: str | None
    reason: str


def custom_events(
    ctx: Context,
    reg_id: str,
    body: CustomEventsBody | Sequence[CustomEvent | MalformedEvent],
    *,
    validate: bool,
) -> dict[str, int]:
    """``validate=true``: all or nothing, with the reason. ``validate=false``: keep the valid ones."""
    inst = ctx.own_installation(reg_id)
    items = body.events if isinstance(body, CustomEventsBody) else body
    events = [item for item in items if isinstance(item, CustomEvent)]
    definitions = {key: _definition(ctx, key) for key in {e.definitionId for e in events}}
    checked = [
        (item, _event_error(item, definitions[item.definitionId]) if isinstance(item, CustomEvent) else item.reason)
        for item in items
    ]
    if validate:
        for _, problem in checked:
            if problem:
                raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, problem)
    now = ctx.now()
    stored = 0
    for event, problem in checked:
        if problem or not isinstance(event, CustomEvent):
            definition_id = event.definitionId if isinstance(event, CustomEvent) else event.definition_id
            ctx.db.execute(
                "INSERT INTO rejected_events (account, reg_id, definition_id, reason, received) VALUES (?,?,?,?,?)",
                (ctx.caller.account, reg_id, definition_id, problem, now),
            )
            continue
        props = {k: v for k, v in (event.properties or {}).items() if v is not None}
        definition = definitions[event.definitionId]
        assert definition is not None
        ctx.record_event(
            definition[0],
            person_id=inst.person_id,
            reg_id=reg_id,
            occurred=event.date or now,
            properties=props,
        )
        stored += 1
    return {"stored": stored, "rejected": len(checked) - stored}


def _check_fields(fields: Any, *, nested: bool) -> list[dict[str, Any]]:
    if not isinstance(fields, list) or len(fields) > 120:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "fields must be a list of at most 120 {name, type}")
    seen: set[str] = set()
    result = []
    for field in fields:
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "each field needs a name and a type")
        name, kind = field["name"], field.get("type")
        if not _FIELD_NAME.fullmatch(name):
            raise ApiError(
                ErrorCode.REQUEST_FORMAT_INVALID,
                f"field name {name[:40]!r} must start with a lower-case letter, use [A-Za-z0-9_], ≤128 chars",
            )
        allowed = FIELD_TYPES[:-1] if nested else FIELD_TYPES
        if kind not in allowed:
            raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"field {name!r}: type must be one of {list(allowed)}")
        if name.lower() in seen:
            raise ApiError(
                ErrorCode.REQUEST_FORMAT_INVALID,
                f"field {name!r} is defined twice (names are case-insensitive)",
            )
        seen.add(name.lower())
        entry: dict[str, Any] = {"name": name, "type": kind}
        if kind == "List":
            entry["fields"] = _check_fields(field.get("fields", []), nested=True)
        result.append(entry)
    if sum(f["type"] == "List" for f in result) > 1:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "an event definition has at most one List field")
    return result


def create_definition(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Create an event definition with the People rules for ids and fields."""
    definition_id = payload.get("definitionId")
    if not isinstance(definition_id, str) or not _DEFINITION_ID.fullmatch(definition_id):
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "definitionId must be 1 to 36 letters or digits")
    if definition_id.lower() in {s.lower() for s in STANDARD_EVENTS}:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"{definition_id!r} is a standard event; choose another id")
    title, description = payload.get("title") or definition_id, payload.get("description") or ""
    if not isinstance(title, str) or len(title) > 100 or not isinstance(description, str) or len(description) > 2000:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "title is at most 100 characters, description 2000")
    fields = _check_fields(payload.get("fields", []), nested=False)
    exists = _definition(ctx, definition_id)
    if exists is not None:
        raise ApiError(
            ErrorCode.REQUEST_FORMAT_INVALID, f"event definition {definition_id!r} exists already", status=409
        )
    ctx.db.execute(
        "INSERT INTO event_definitions VALUES (?,?,?,?,?,?,?)",
        (
            ctx.caller.account,
            definition_id,
            definition_id.lower(),
            title,
            description,
            dumps(fields),
            ctx.now(),
        ),
    )
    return {"definitionId": definition_id, "title": title, "description": description, "fields": fields}


def list_definitions(ctx: Context) -> list[dict[str, Any]]:
    rows = ctx.db.execute(
        "SELECT definition_id, title, description, fields FROM event_definitions WHERE account=? ORDER BY created, key",
        (ctx.caller.account,),
    ).fetchall()
    return [{"definitionId": r[0], "title": r[1], "description": r[2], "fields": json.loads(r[3])} for r in rows]
