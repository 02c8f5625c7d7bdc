"""Saved segments: a name and a query (docs/segments.md), per account, in the ``segments`` table;
and the two predefined, read-only ones, "Active Mobile Users" and "Inactive Mobile Users" (an App
Launch in the last 30 days, or none; an App Launch is a session start, rules/events.py).

A segment is evaluated when it is asked about (a real-time segment): relative windows count back
from that moment. Saving one builds the indexes its attribute conditions use
(:func:`server_stub.segments_sql.index_statements`); deleting the last segment that used one drops it.

:func:`segment_reg_ids` is the Push API's ``SEGMENT`` destination.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from typing import Any

from contract import ErrorCode

from .errors import ApiError
from .rules import Context, person_json
from .segment_query import Query, parse_query
from .segments_sql import (
    INDEX_PREFIX,
    count_installations,
    count_persons,
    index_statements,
    installation_page,
    page_persons,
    reached_installations,
    registrations,
)
from .store import dumps

__all__ = [
    "ACTIVE",
    "INACTIVE",
    "PREDEFINED",
    "create_segment",
    "delete_segment",
    "get_segment",
    "list_segments",
    "segment_count",
    "segment_members",
    "segment_reg_ids",
]

ACTIVE = "Active Mobile Users"
INACTIVE = "Inactive Mobile Users"
_LAST_30_DAYS = {"operator": "AFTER", "start": 30, "units": "DAYS"}
PREDEFINED: dict[str, dict[str, Any]] = {
    ACTIVE: {
        "events": [
            {
                "definitionId": "AppLaunch",
                "occurrenceCondition": {"operation": "GREATER_OR_EQUAL", "times": 1},
                "timelineCondition": {"occurred": "ALL", **_LAST_30_DAYS},
            }
        ]
    },
    INACTIVE: {"events": [{"definitionId": "AppLaunch", "timelineCondition": {"occurred": "NOT", **_LAST_30_DAYS}}]},
}
"""People's predefined segments: an App Launch at or after now − 30 days, or none since then."""

NAME_MAX = 100


def _key(name: str) -> str:
    return name.casefold()


def _predefined(name: str) -> str | None:
    return next((known for known in PREDEFINED if _key(known) == _key(name)), None)


def _json(name: str, query: dict[str, Any], created: str | None) -> dict[str, Any]:
    return {"name": name, "query": query, "predefined": created is None, "created": created}


def _row(db: sqlite3.Connection, account: str, name: str) -> tuple[str, dict[str, Any], str | None] | None:
    known = _predefined(name)
    if known is not None:
        return known, PREDEFINED[known], None
    row = db.execute(
        "SELECT name, query, created FROM segments WHERE account=? AND key=?", (account, _key(name))
    ).fetchone()
    return None if row is None else (row[0], json.loads(row[1]), row[2])


def _find(db: sqlite3.Connection, account: str, name: str) -> tuple[str, dict[str, Any], str | None]:
    found = _row(db, account, name)
    if found is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no segment {name[:NAME_MAX]!r} (GET /inspect/segments lists them)")
    return found


def resolve(db: sqlite3.Connection, account: str, segment: str | dict[str, Any], now: datetime) -> Query:
    """A saved segment's query by name, or an inline query, parsed against ``now``."""
    if isinstance(segment, dict):
        return parse_query(segment, now)
    return parse_query(_find(db, account, segment)[1], now)


# --- the rules ------------------------------------------------------------------------------
def _check_name(name: Any) -> str:
    if (
        not isinstance(name, str)
        or not 1 <= len(name) <= NAME_MAX
        or not name.isprintable()
        or "/" in name
        or name != name.strip()
    ):
        raise ApiError(
            ErrorCode.REQUEST_FORMAT_INVALID,
            f"name: 1 to {NAME_MAX} printable characters, no '/', no spaces around it",
        )
    return name


def create_segment(ctx: Context, payload: dict[str, Any]) -> dict[str, Any]:
    """Save ``{name, query}``: the query is checked and its indexes built; a taken name is 409."""
    unknown = sorted(set(payload) - {"name", "query"})
    if unknown:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"unknown members {unknown}: a segment is {{name, query}}")
    name = _check_name(payload.get("name"))
    query = payload.get("query", {})
    parsed = parse_query(query, ctx.clock())
    if _row(ctx.db, ctx.caller.account, name) is not None:
        raise ApiError(
            ErrorCode.REQUEST_FORMAT_INVALID,
            f"segment {name!r} exists already (names are case-insensitive); delete it first",
            status=409,
        )
    for statement in index_statements(parsed).values():
        ctx.db.execute(statement)
    created = ctx.now()
    ctx.db.execute(
        "INSERT INTO segments (account, key, name, query, created) VALUES (?,?,?,?,?)",
        (ctx.caller.account, _key(name), name, dumps(query), created),
    )
    _drop_unused_indexes(ctx)  # those of segments a reset removed
    return _json(name, query, created)


def list_segments(ctx: Context) -> dict[str, Any]:
    saved = ctx.db.execute(
        "SELECT name, query, created FROM segments WHERE account=? ORDER BY created, key", (ctx.caller.account,)
    ).fetchall()
    segments = [_json(name, query, None) for name, query in PREDEFINED.items()]
    segments += [_json(r[0], json.loads(r[1]), r[2]) for r in saved]
    return {"segments": segments}


def get_segment(ctx: Context, name: str) -> dict[str, Any]:
    return _json(*_find(ctx.db, ctx.caller.account, name))


def delete_segment(ctx: Context, name: str) -> dict[str, Any]:
    found, _, created = _find(ctx.db, ctx.caller.account, name)
    if created is None:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"{found!r} is a predefined segment: it cannot be deleted")
    ctx.db.execute("DELETE FROM segments WHERE account=? AND key=?", (ctx.caller.account, _key(name)))
    _drop_unused_indexes(ctx)
    return {"deleted": found}


def _drop_unused_indexes(ctx: Context) -> None:
    """Drop the segment indexes no saved segment (of any account) compares any more."""
    needed: set[str] = set()
    for (query,) in ctx.db.execute("SELECT query FROM segments").fetchall():
        try:
            needed |= set(index_statements(parse_query(json.loads(query), ctx.clock())))
        except ApiError:  # pragma: no cover - saved queries were checked
            continue
    rows = ctx.db.execute(
        "SELECT name FROM sqlite_master WHERE type='index' AND name LIKE ? ESCAPE '\\'",
        (INDEX_PREFIX.replace("_", "\\_") + "%",),
    ).fetchall()
    for (index,) in rows:
        if index not in needed and index.replace("_", "").isalnum():
            ctx.db.execute(f"DROP INDEX IF EXISTS {index}")


def segment_count(ctx: Context, name: str, *, app_code: str | None = None) -> dict[str, Any]:
    """How many persons match and how many installations the segment reaches (of one app if given)."""
    found, query, _ = _find(ctx.db, ctx.caller.account, name)
    parsed = parse_query(query, ctx.clock())
    account = ctx.caller.account
    return {
        "name": found,
        "persons": count_persons(ctx.db, account, parsed),
        "installations": count_installations(ctx.db, account, parsed, app_code),
    }


def segment_members(
    ctx: Context,
    name: str,
    *,
    limit: int = 20,
    page: int = 0,
    after: int | None = None,
    installations: bool = False,
    after_reg_id: str | None = None,
) -> dict[str, Any]:
    """A page of the persons matching (id order; ``after`` a person id, else ``page``), each with the
    regIds the segment reaches; or, with ``installations``, of the installations reached (regId order)."""
    found, query, _ = _find(ctx.db, ctx.caller.account, name)
    parsed = parse_query(query, ctx.clock())
    account = ctx.caller.account
    if installations:
        rows = installation_page(ctx.db, account, parsed, limit=limit, after=after_reg_id or "")
        items = [{"pushRegId": r[0], "application": r[1], "platform": r[2], "personId": r[3]} for r in rows]
        following = items[-1]["pushRegId"] if len(items) == limit else None
        return {"name": found, "limit": limit, "installations": items, "next": following}
    offset = 0 if after is not None else page * limit
    ids = page_persons(ctx.db, account, parsed, limit=limit, after=after or 0, offset=offset)
    reached = reached_installations(ctx.db, account, parsed, ids)
    persons = [{"id": p, **person_json(ctx, p, with_instances=True), "reached": reached[p]} for p in ids]
    answer: dict[str, Any] = {"name": found, "limit": limit}
    if after is None:
        answer["page"] = page
    answer.update(persons=persons, next=ids[-1] if len(ids) == limit else None)
    return answer


def segment_reg_ids(
    db: sqlite3.Connection,
    account: str,
    app_code: str,
    name: str | dict[str, Any],
    *,
    now: datetime | None = None,
) -> list[str]:
    """The regIds of ``app_code``'s active installations that segment ``name`` reaches (sorted), for
    the Push API's SEGMENT destination; ``name`` may be an inline query ``{filter?, events?}``.
    ``now`` (default: the wall clock) is the moment relative windows count back from: pass the
    server's clock (``ctx.clock()``).

    Unknown segment: ``ApiError(NOT_FOUND)``; a bad inline query: ``REQUEST_FORMAT_INVALID``. The
    caller applies the send's own eligibility (regEnabled, primary only, a token)."""
    moment = now if now is not None else datetime.now(UTC)
    return registrations(db, account, resolve(db, account, name, moment), app_code)
