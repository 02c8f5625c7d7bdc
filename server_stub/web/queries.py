"""The web page's read-only queries that the inspection API has no function for: a person's or an
installation's timeline (events and messages, newest first), a search by any identifier, a bulk's
messages. Each is a rule run on the store's read path (``inspect_api.read``), like the inspection
API's own queries (server_stub/inspection.py), which they use where those exist."""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Sequence
from typing import Any

from contract import ErrorCode, format_epoch, parse_datetime

from .. import inspection
from ..errors import ApiError
from ..rules import Context, person_json

__all__ = ["KINDS", "TIMELINE_MAX", "bulk_messages", "installation_timeline", "known_reg_ids", "person_timeline",
           "search"]  # fmt: skip

TIMELINE_MAX = 200
"""Entries of a timeline at most: the newest."""
KINDS = ("ANY", "ID", "EXTERNAL_ID", "PHONE", "EMAIL", "PUSH", "INSTALLATION")
"""What a search looks for: any identifier, or one kind (PUSH: a pushRegistrationId, INSTALLATION:
the SDK's installationId)."""
_UUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_REG_IDS_MAX = 500

_LABELS = {
    "Install": ("install", "Installed"),
    "Uninstall": ("uninstall", "Uninstalled"),
    "Personalize": ("login", "Login (personalize)"),
    "Depersonalize": ("logout", "Logout (depersonalize)"),
    "AppLaunch": ("launch", "App Launch (a session started)"),
}


def _moment(value: str) -> float:
    try:
        return parse_datetime(value).timestamp()
    except (TypeError, ValueError):
        return 0.0


def _event_entries(rows: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
    entries = []
    for row in rows:
        name = row["definition_id"]
        kind, label = _LABELS.get(name, ("event", f"Custom event {name}"))
        entries.append({
            "at": row["occurred"],
            "kind": kind,
            "label": label,
            "pushRegId": row["reg_id"],
            "personId": row["person_id"],
            "properties": json.loads(row["properties"]) if row["properties"] else {},
            "bulkId": None,
            "order": (0, row["id"]),
        })  # fmt: skip
    return entries


_STAGES = (("send_at", "sent", "Message sent"), ("delivered_at", "delivered", "Message delivered"),
           ("seen_at", "seen", "Message seen"), ("opened_at", "opened", "Message opened"))  # fmt: skip


def _message_entries(rows: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
    entries = []
    for row in rows:
        payload = json.loads(row["payload"])
        text = " · ".join(str(part) for part in (payload.get("title"), payload.get("text")) if part)
        common = {"pushRegId": row["reg_id"], "personId": row["person_id"], "bulkId": row["bulk_id"],
                  "messageId": row["message_id"], "properties": {}, "text": text}  # fmt: skip
        for stage, (column, kind, label) in enumerate(_STAGES):
            if row[column] is not None:
                entries.append({"at": format_epoch(row[column] / 1000), "kind": kind, "label": label,
                                "order": (1, row["seq"], stage), **common})  # fmt: skip
        if row["status"] in ("EXPIRED", "UNDELIVERABLE") and row["done_at"] is not None:
            label = f"Message {row['status'].lower()}" + (f" ({row['error']})" if row["error"] else "")
            entries.append({"at": format_epoch(row["done_at"] / 1000), "kind": "failed", "label": label,
                            "order": (1, row["seq"], len(_STAGES)), **common})  # fmt: skip
    return entries


def _timeline(events: Sequence[sqlite3.Row], messages: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
    merged = _event_entries(events) + _message_entries(messages)
    # newest first; within a second a message's later stage first, messages before events, a later event first
    merged.sort(key=lambda entry: (_moment(entry["at"]), entry["order"]), reverse=True)
    return merged[:TIMELINE_MAX]


def _messages(db: sqlite3.Connection, reg_ids: Sequence[str]) -> list[sqlite3.Row]:
    if not reg_ids:
        return []
    ids = list(reg_ids)[:_REG_IDS_MAX]
    marks = ",".join("?" * len(ids))
    return db.execute(
        f"SELECT * FROM messages WHERE reg_id IN ({marks}) ORDER BY send_at DESC, seq DESC LIMIT ?",
        (*ids, TIMELINE_MAX),
    ).fetchall()


def person_timeline(ctx: Context, person_id: int, reg_ids: Sequence[str]) -> list[dict[str, Any]]:
    """The person's events and the messages of ``reg_ids`` (its installations), newest first."""
    events = ctx.db.execute(
        "SELECT * FROM events WHERE person_id=? AND account=? ORDER BY occurred DESC, id DESC LIMIT ?",
        (person_id, ctx.caller.account, TIMELINE_MAX),
    ).fetchall()
    return _timeline(events, _messages(ctx.db, reg_ids))


def installation_timeline(ctx: Context, reg_id: str) -> list[dict[str, Any]]:
    """The installation's events and messages, newest first."""
    events = ctx.db.execute(
        "SELECT * FROM events WHERE reg_id=? ORDER BY occurred DESC, id DESC LIMIT ?", (reg_id, TIMELINE_MAX)
    ).fetchall()
    return _timeline(events, _messages(ctx.db, [reg_id]))


def _person_summary(ctx: Context, person_id: int, matched: str) -> dict[str, Any]:
    return {"id": person_id, "matched": matched, **person_json(ctx, person_id, with_instances=True)}


def _installations_by(ctx: Context, column: str, value: str) -> list[sqlite3.Row]:
    return ctx.db.execute(
        f"SELECT i.reg_id, i.person_id, i.platform, i.state, i.app_code FROM installations i"
        f" JOIN applications a ON a.code=i.app_code WHERE i.{column}=? AND a.account=? LIMIT 100",
        (value, ctx.caller.account),
    ).fetchall()


def search(ctx: Context, query: str, kind: str) -> dict[str, Any]:
    """Persons (and installations without a person) that ``query`` identifies as ``kind``; ``ANY``
    tries each kind the value can be (an installationId: when it is shaped as a UUID)."""
    if kind not in KINDS:
        raise ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"kind: one of {', '.join(KINDS)}, not {kind[:40]!r}")
    tried = KINDS[1:] if kind == "ANY" else (kind,)
    persons: dict[int, str] = {}
    loose: list[dict[str, Any]] = []
    for each in tried:
        if each in ("PUSH", "INSTALLATION"):
            if each == "INSTALLATION" and kind == "ANY" and not _UUID.fullmatch(query):
                continue  # installationId has no index: looked up only when it can be one
            column = "reg_id" if each == "PUSH" else "installation_id"
            for row in _installations_by(ctx, column, query):
                if row["person_id"] is not None:
                    persons.setdefault(row["person_id"], each)
                else:
                    loose.append({"pushRegId": row["reg_id"], "platform": row["platform"], "state": row["state"],
                                  "application": row["app_code"], "matched": each})  # fmt: skip
            continue
        if kind == "ANY" and (
            (each == "ID" and not (query.isascii() and query.isdigit()))
            or (each == "EMAIL" and "@" not in query)
            or (each == "PHONE" and not any(c.isdigit() for c in query))
        ):
            continue
        try:
            found = inspection.find_person(ctx, query, each)
        except ApiError as exc:
            if kind == "ANY" or exc.status == 404:
                continue  # not this kind of value, or nobody by it
            raise
        exists = ctx.db.execute("SELECT 1 FROM persons WHERE id=? AND account=?", (found, ctx.caller.account))
        if exists.fetchone() is not None:
            persons.setdefault(found, each)
    return {
        "persons": [_person_summary(ctx, pid, matched) for pid, matched in sorted(persons.items())],
        "installations": loose,
    }


def bulk_messages(ctx: Context, bulk_id: str, *, limit: int = 100) -> list[dict[str, Any]]:
    """The first messages of a bulk (its account's), in send order."""
    rows = ctx.db.execute(
        "SELECT * FROM messages WHERE bulk_id=? AND account=? ORDER BY seq LIMIT ?",
        (bulk_id, ctx.caller.account, limit),
    ).fetchall()
    return [
        {
            "messageId": r["message_id"],
            "pushRegId": r["reg_id"],
            "personId": r["person_id"],
            "platform": r["platform"],
            "destination": r["destination"],
            "status": r["status"],
            "error": r["error"],
            "sendAt": r["send_at"],
            "deliveredAt": r["delivered_at"],
            "seenAt": r["seen_at"],
            "openedAt": r["opened_at"],
        }
        for r in rows
    ]


def known_reg_ids(ctx: Context, keys: Sequence[str]) -> set[str]:
    """Which of ``keys`` are registrations this server has (a strict server's keys may not be)."""
    unique = list(dict.fromkeys(keys))[:1000]
    if not unique:
        return set()
    marks = ",".join("?" * len(unique))
    rows = ctx.db.execute(f"SELECT reg_id FROM installations WHERE reg_id IN ({marks})", unique).fetchall()
    return {row[0] for row in rows}
