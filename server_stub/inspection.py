"""Read-side queries of the inspection API: persons, installations, events, counts."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from contract import ErrorCode, limits, parse_datetime

from . import rules
from .errors import ApiError
from .rules import Caller, Context, person_json
from .rules.context import Installation
from .rules.installations import installation_json, revivals

__all__ = [
    "IDENTIFIER_TYPES",
    "ID_MAX",
    "event_counts",
    "find_person",
    "installation",
    "installation_detail",
    "list_events",
    "list_installations",
    "list_persons",
    "person_by_identifier",
    "person_detail",
    "sessions",
    "stats",
    "uninstall",
]

IDENTIFIER_TYPES = ("ID", "EXTERNAL_ID", "PHONE", "EMAIL", "PUSH")
ID_MAX = 2**63 - 1
"""The largest person id: SQLite's INTEGER."""


def installation_detail(row: Any) -> dict[str, Any]:
    inst = Installation.from_row(row)
    body = installation_json(inst, with_token=True)
    body.update(
        application=row["app_code"],
        platform=row["platform"],
        state=row["state"],
        personId=row["person_id"],
        installationId=row["installation_id"],
        created=row["created"],
        updated=row["updated"],
    )
    body["revivals"], body["revived"] = revivals(inst.data)
    return body


def installation(ctx: Context, reg_id: str) -> dict[str, Any]:
    """One installation of any application and account, in any state, with its sessions."""
    row = ctx.db.execute("SELECT * FROM installations WHERE reg_id=?", (reg_id,)).fetchone()
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no installation {reg_id!r}")
    body = installation_detail(row)
    body["sessions"] = sessions(ctx.db, "SELECT * FROM sessions WHERE reg_id=?", (reg_id,))
    return body


def uninstall(ctx: Context, reg_id: str) -> dict[str, Any]:
    """The uninstall a push provider's feedback reports, on behalf of the installation's application."""
    row = ctx.db.execute(
        "SELECT a.code, a.account FROM installations i JOIN applications a ON a.code=i.app_code WHERE i.reg_id=?",
        (reg_id,),
    ).fetchone()
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no installation {reg_id!r}")
    return rules.uninstall(Context(ctx.db, Caller(app_code=row[0], account=row[1]), ctx.clock), reg_id)


def _page(page: int, limit: int) -> tuple[int, int]:
    if page < 0 or not 1 <= limit <= 1000:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, "page must be ≥ 0 and limit 1 to 1000")
    return limit, page * limit


def person_detail(ctx: Context, person_id: int, *, events: int = 100) -> dict[str, Any]:
    row = ctx.db.execute("SELECT * FROM persons WHERE id=? AND account=?", (person_id, ctx.caller.account)).fetchone()
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no person {person_id} in account {ctx.caller.account!r}")
    body = {"id": person_id, **person_json(ctx, person_id, with_instances=False)}
    body.update(created=row["created"], updated=row["updated"])
    rows = ctx.db.execute(
        "SELECT * FROM installations WHERE person_id=? ORDER BY created, rowid", (person_id,)
    ).fetchall()
    body["installations"] = [installation_detail(r) for r in rows]
    body["eventCounts"] = dict(
        ctx.db.execute(
            "SELECT definition_id, count(*) FROM events WHERE person_id=? GROUP BY definition_id ORDER BY 1",
            (person_id,),
        ).fetchall()
    )
    body["events"] = list_events(ctx, person_id=person_id, limit=events)["events"]
    body["sessions"] = sessions(
        ctx.db,
        "SELECT s.* FROM sessions s JOIN installations i ON i.reg_id=s.reg_id WHERE i.person_id=?",
        (person_id,),
    )
    return body


def sessions(db: sqlite3.Connection, query: str, args: tuple[Any, ...]) -> list[dict[str, Any]]:
    """Reported sessions (``reg_id, start, end`` rows of ``query``) with their durations in seconds.

    ``end`` and ``durationSeconds`` are null while only the start has been reported.
    """
    rows = db.execute(f"SELECT * FROM ({query}) ORDER BY start, reg_id", args).fetchall()
    result = []
    for reg_id, start, end in rows:
        duration = None if end is None else int((parse_datetime(end) - parse_datetime(start)).total_seconds())
        result.append({"pushRegId": reg_id, "start": start, "end": end, "durationSeconds": duration})
    return result


def find_person(ctx: Context, identifier: str, kind: str) -> int:
    """The person id for a People-style identifier and its type."""
    kind = kind.upper()
    if kind == "ID":
        if not (identifier.isascii() and identifier.isdigit()) or not 1 <= int(identifier) <= ID_MAX:
            raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"an ID identifier is a number from 1 to {ID_MAX}")
        return int(identifier)
    if kind == "PUSH":
        row = ctx.db.execute("SELECT person_id FROM installations WHERE reg_id=?", (identifier,)).fetchone()
    else:
        column = {"EXTERNAL_ID": "externalUserId", "PHONE": "phone", "EMAIL": "email"}.get(kind)
        if column is None:
            raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"type must be one of {list(IDENTIFIER_TYPES)}")
        try:
            value = {
                "phone": limits.normalize_phone,
                "email": limits.normalize_email,
            }.get(column, str)(identifier)
        except limits.LimitViolation as exc:
            raise ApiError(exc.code, exc.text) from None
        row = ctx.db.execute(
            "SELECT person_id FROM identities WHERE account=? AND kind=? AND value=?",
            (ctx.caller.account, column, value),
        ).fetchone()
    if row is None or row[0] is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no person with {kind} {identifier!r}")
    return int(row[0])


def person_by_identifier(ctx: Context, identifier: str, kind: str) -> dict[str, Any]:
    """The person a People-style identifier names, found and shown in one transaction."""
    return person_detail(ctx, find_person(ctx, identifier, kind))


def list_persons(ctx: Context, *, page: int = 0, limit: int = 20) -> dict[str, Any]:
    size, offset = _page(page, limit)
    total = ctx.db.execute("SELECT count(*) FROM persons WHERE account=?", (ctx.caller.account,)).fetchone()[0]
    ids = ctx.db.execute(
        "SELECT id FROM persons WHERE account=? ORDER BY id LIMIT ? OFFSET ?",
        (ctx.caller.account, size, offset),
    ).fetchall()
    persons = [{"id": r[0], **person_json(ctx, r[0], with_instances=True)} for r in ids]
    return {"persons": persons, "page": page, "limit": size, "total": total}


def list_installations(
    ctx: Context, *, application: str | None, state: str | None, page: int = 0, limit: int = 20
) -> dict[str, Any]:
    size, offset = _page(page, limit)
    where, args = ["a.account=?"], [ctx.caller.account]
    if application:
        where.append("i.app_code=?")
        args.append(application)
    if state:
        where.append("i.state=?")
        args.append(state)
    clause = " AND ".join(where)
    base = f"FROM installations i JOIN applications a ON a.code=i.app_code WHERE {clause}"
    total = ctx.db.execute(f"SELECT count(*) {base}", args).fetchone()[0]
    rows = ctx.db.execute(f"SELECT i.* {base} ORDER BY i.created, i.rowid LIMIT ? OFFSET ?", [*args, size, offset])
    return {
        "installations": [installation_detail(r) for r in rows],
        "page": page,
        "limit": size,
        "total": total,
    }


def list_events(
    ctx: Context,
    *,
    person_id: int | None = None,
    reg_id: str | None = None,
    definition_id: str | None = None,
    page: int = 0,
    limit: int = 100,
) -> dict[str, Any]:
    size, offset = _page(page, limit)
    where: list[str] = ["account=?"]
    args: list[str | int] = [ctx.caller.account]
    for column, value in (("person_id", person_id), ("reg_id", reg_id), ("definition_id", definition_id)):
        if value is not None:
            where.append(f"{column}=?")
            args.append(value)
    rows = ctx.db.execute(
        f"SELECT * FROM events WHERE {' AND '.join(where)} ORDER BY occurred, id LIMIT ? OFFSET ?",
        [*args, size, offset],
    ).fetchall()
    events = [
        {
            "definitionId": r["definition_id"],
            "occurred": r["occurred"],
            "received": r["received"],
            "personId": r["person_id"],
            "pushRegId": r["reg_id"],
            "application": r["app_code"],
            "properties": json.loads(r["properties"]) if r["properties"] else {},
        }
        for r in rows
    ]
    return {"events": events, "page": page, "limit": size}


def event_counts(ctx: Context) -> dict[str, Any]:
    counts = dict(
        ctx.db.execute(
            "SELECT definition_id, count(*) FROM events WHERE account=? GROUP BY definition_id ORDER BY 1",
            (ctx.caller.account,),
        ).fetchall()
    )
    rejected = ctx.db.execute("SELECT count(*) FROM rejected_events WHERE account=?", (ctx.caller.account,))
    return {"counts": counts, "rejected": rejected.fetchone()[0]}


def rejected_events(ctx: Context, *, page: int = 0, limit: int = 100) -> dict[str, Any]:
    size, offset = _page(page, limit)
    rows = ctx.db.execute(
        "SELECT * FROM rejected_events WHERE account=? ORDER BY id LIMIT ? OFFSET ?",
        (ctx.caller.account, size, offset),
    ).fetchall()
    total = ctx.db.execute("SELECT count(*) FROM rejected_events WHERE account=?", (ctx.caller.account,))
    return {
        "rejected": [
            {
                "pushRegId": r["reg_id"],
                "definitionId": r["definition_id"],
                "reason": r["reason"],
                "received": r["received"],
            }
            for r in rows
        ],
        "total": total.fetchone()[0],
        "page": page,
        "limit": size,
    }


def stats(ctx: Context) -> dict[str, Any]:
    account = ctx.caller.account
    by_platform = ctx.db.execute(
        "SELECT i.platform, i.state, count(*) FROM installations i JOIN applications a ON a.code=i.app_code"
        " WHERE a.account=? GROUP BY 1, 2 ORDER BY 1, 2",
        (account,),
    ).fetchall()
    installations: dict[str, dict[str, int]] = {}
    for platform, state, count in by_platform:
        installations.setdefault(state, {})[platform] = count
    persons = dict(
        ctx.db.execute("SELECT type, count(*) FROM persons WHERE account=? GROUP BY type", (account,)).fetchall()
    )
    personalized = ctx.db.execute(
        "SELECT count(*) FROM installations i JOIN applications a ON a.code=i.app_code"
        " WHERE a.account=? AND i.state='active' AND i.person_id IS NOT NULL",
        (account,),
    ).fetchone()[0]
    return {
        "persons": persons,
        "installations": installations,
        "personalizedInstallations": personalized,
        "events": event_counts(ctx),
    }
