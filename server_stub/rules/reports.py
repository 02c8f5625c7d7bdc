"""What was sent and what became of it: Push API reports and logs, MO reports, campaign metrics.

- Reports (``GET /push/3/reports``): each message that reached a final status (delivered,
  expired, undeliverable) is returned once, oldest first, for 48 hours after it did.
- Logs (``GET /push/3/logs``): every message sent in the last 48 hours, newest first, filtered,
  with cursor paging; reading them changes nothing.
- MO reports (``GET /push/1/inbox/reports``): each MO message from a device is returned once.
- Campaign metrics (``/inspect/campaigns``): per bulk, the messages sent (created for an
  installation), handed (by the provider), delivered, seen, opened (seen and a session start
  within 60 s), converted (a custom event of the installation within 24 h after the open),
  expired, undeliverable and pending.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from contract import ErrorCode, format_epoch
from contract import push_api as pa

from ..errors import ApiError
from .context import STANDARD_EVENTS, Context
from .messages import DAY_MS, Violation, now_ms, status_of

__all__ = ["LogQuery", "campaign", "campaigns", "expire", "logs", "mo_reports", "reports"]

WINDOW_MS = 2 * DAY_MS
"""Reports and logs reach back 48 hours."""
CONVERSION_MS = DAY_MS
_PRICE = {"pricePerMessage": 0, "currency": "EUR"}


def expire(ctx: Context) -> int:
    """Pending messages past their validity become ``EXPIRED`` (done at their expiry)."""
    now = now_ms(ctx)
    cursor = ctx.db.execute(
        "UPDATE messages SET status='EXPIRED', done_at=expires_at WHERE status='PENDING' AND expires_at<=?", (now,)
    )
    return cursor.rowcount


def _common(row: sqlite3.Row) -> dict[str, Any]:
    status, error = status_of(row)
    extra = json.loads(row["extra"])
    body: dict[str, Any] = {
        "bulkId": row["bulk_id"],
        "messageId": row["message_id"],
        "sender": row["app_code"],
        "sentAt": pa.format_push_time(row["send_at"]),
    }
    if row["done_at"] is not None:
        body["doneAt"] = pa.format_push_time(row["done_at"])
    body.update(messageCount=1, price=dict(_PRICE), status=status.json(), error=error.json())
    if "platform" in extra:
        body["platform"] = extra["platform"]
    if "campaignReferenceId" in extra:
        body["campaignReferenceId"] = extra["campaignReferenceId"]
    return body


def _report(row: sqlite3.Row) -> dict[str, Any]:
    body = {"to": row["destination"], **_common(row)}
    callback = json.loads(row["extra"]).get("callbackData")
    if callback is not None:
        body["callbackData"] = callback
    return body


def _log(row: sqlite3.Row) -> dict[str, Any]:
    body = {"destination": row["destination"], **_common(row)}
    content = json.loads(row["extra"]).get("content")
    if content is not None:
        body["content"] = content
    return body


def _extra_filters(entity_id: str | None, application_id: str | None) -> tuple[list[str], list[Any]]:
    where, args = [], []
    if entity_id is not None:
        where.append("json_extract(extra, '$.platform.entityId')=?")
        args.append(entity_id)
    if application_id is not None:
        where.append("json_extract(extra, '$.platform.applicationId')=?")
        args.append(application_id)
    return where, args


def _any(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({','.join('?' * len(values))})"


def reports(
    ctx: Context,
    *,
    limit: int = 50,
    bulk_id: str | None = None,
    message_id: str | None = None,
    entity_id: str | None = None,
    application_id: str | None = None,
    campaign_reference_id: str | None = None,
) -> dict[str, Any]:
    """``GET /push/3/reports``: final reports not returned before, oldest first; each only once."""
    expire(ctx)
    where = ["account=?", "reported=0", "done_at IS NOT NULL", "done_at>=?"]
    args: list[Any] = [ctx.caller.account, now_ms(ctx) - WINDOW_MS]
    for column, value in (("bulk_id", bulk_id), ("message_id", message_id)):
        if value is not None:
            where.append(f"{column}=?")
            args.append(value)
    more, more_args = _extra_filters(entity_id, application_id)
    if campaign_reference_id is not None:
        more.append("json_extract(extra, '$.campaignReferenceId')=?")
        more_args.append(campaign_reference_id)
    rows = ctx.db.execute(
        f"SELECT * FROM messages WHERE {' AND '.join(where + more)} ORDER BY done_at, seq LIMIT ?",
        (*args, *more_args, limit),
    ).fetchall()
    if rows:
        seqs = [r["seq"] for r in rows]
        ctx.db.execute(f"UPDATE messages SET reported=1 WHERE seq IN ({','.join('?' * len(seqs))})", seqs)
    return {"results": [_report(r) for r in rows]}


@dataclass(frozen=True, slots=True)
class LogQuery:
    """The filters of ``GET /push/3/logs`` (lists: any of the values)."""

    sender: str | None = None
    destination: str | None = None
    bulk_ids: Sequence[str] = ()
    message_ids: Sequence[str] = ()
    general_status: str | None = None
    sent_since: int | None = None
    sent_until: int | None = None
    limit: int = 50
    entity_id: str | None = None
    application_id: str | None = None
    campaign_reference_ids: Sequence[str] = ()
    use_cursor: bool = False
    cursor: str | None = None


_STATUS_OF_GROUP = {"PENDING": "PENDING", "DELIVERED": "DELIVERED", "EXPIRED": "EXPIRED",
                    "UNDELIVERABLE": "UNDELIVERABLE"}  # fmt: skip


def _cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(f"log:{seq}".encode()).decode().rstrip("=")


def _position(cursor: str) -> int:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        kind, _, seq = text.partition(":")
        if kind != "log" or not seq.isdigit() or len(seq) > 18:
            raise ValueError(cursor)
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise Violation("cursor", "not a cursor this server gave: send the nextCursor of the previous answer") from None


def logs(ctx: Context, query: LogQuery) -> dict[str, Any]:
    """``GET /push/3/logs``: messages sent in the last 48 hours, newest first."""
    expire(ctx)
    since = now_ms(ctx) - WINDOW_MS
    where = ["account=?", "send_at>=?"]
    args: list[Any] = [ctx.caller.account, max(since, query.sent_since or since)]
    if query.sent_until is not None:
        where.append("send_at<=?")
        args.append(query.sent_until)
    for column, value in (("app_code", query.sender), ("destination", query.destination)):
        if value is not None:
            where.append(f"{column}=?")
            args.append(value)
    for column, values in (("bulk_id", query.bulk_ids), ("message_id", query.message_ids)):
        if values:
            where.append(_any(column, values))
            args += values
    if query.general_status is not None:
        where.append("status=?")
        args.append(_STATUS_OF_GROUP.get(query.general_status, "-"))
    if query.campaign_reference_ids:
        where.append(_any("json_extract(extra, '$.campaignReferenceId')", query.campaign_reference_ids))
        args += query.campaign_reference_ids
    more, more_args = _extra_filters(query.entity_id, query.application_id)
    if query.use_cursor and query.cursor:
        where.append("seq<?")
        args.append(_position(query.cursor))
    rows = ctx.db.execute(
        f"SELECT * FROM messages WHERE {' AND '.join(where + more)} ORDER BY seq DESC LIMIT ?",
        (*args, *more_args, query.limit + 1),
    ).fetchall()
    page = rows[: query.limit]
    body: dict[str, Any] = {"results": [_log(r) for r in page]}
    if query.use_cursor:
        body["cursor"] = {"limit": query.limit}
        if len(rows) > query.limit:
            body["cursor"]["nextCursor"] = _cursor(page[-1]["seq"])
    return body


def mo_reports(ctx: Context, *, limit: int = 100) -> dict[str, Any]:
    """``GET /push/1/inbox/reports``: MO messages not returned before, oldest first; each only once."""
    rows = ctx.db.execute(
        "SELECT * FROM mo_messages WHERE account=? AND reported=0 ORDER BY seq LIMIT ?", (ctx.caller.account, limit)
    ).fetchall()
    if rows:
        seqs = [r["seq"] for r in rows]
        ctx.db.execute(f"UPDATE mo_messages SET reported=1 WHERE seq IN ({','.join('?' * len(seqs))})", seqs)
    pending = ctx.db.execute(
        "SELECT COUNT(*) FROM mo_messages WHERE account=? AND reported=0", (ctx.caller.account,)
    ).fetchone()[0]
    results = []
    for row in rows:
        item = json.loads(row["body"])
        text = item.get("text") or ""
        result = {
            "messageId": row["message_id"],
            "from": row["reg_id"],
            "to": item.get("destination") or row["app_code"],
            "applicationCode": row["app_code"],
            "receivedAt": pa.format_push_time(row["received"]),
            "text": text,
            "cleanText": text,
        }
        for key in ("customPayload", "bulkId", "initialMessageId"):
            if item.get(key) is not None:
                result[key] = item[key]
        if item.get("initialMessageId") is not None:
            result["pairedMessageId"] = item["initialMessageId"]
        results.append(result)
    return {"results": results, "messageCount": len(results), "pendingMessageCount": pending}


_OPENED_AT = "strftime('%Y-%m-%dT%H:%M:%SZ', m.opened_at / 1000, 'unixepoch')"
_METRICS = f"""
SELECT bulk_id,
    SUM(reg_id IS NOT NULL) AS sent,
    SUM(handed_at IS NOT NULL) AS handed,
    SUM(delivered_at IS NOT NULL) AS delivered,
    SUM(seen_at IS NOT NULL) AS seen,
    SUM(opened_at IS NOT NULL) AS opened,
    SUM(opened_at IS NOT NULL AND EXISTS (
        SELECT 1 FROM events e WHERE e.reg_id = m.reg_id
        AND e.definition_id NOT IN ({",".join("?" * len(STANDARD_EVENTS))})
        AND e.occurred >= {_OPENED_AT}
        AND e.occurred <= strftime('%Y-%m-%dT%H:%M:%SZ', m.opened_at / 1000 + {CONVERSION_MS // 1000}, 'unixepoch')
    )) AS converted,
    SUM(status = 'EXPIRED') AS expired,
    SUM(status = 'UNDELIVERABLE') AS undeliverable,
    SUM(status = 'PENDING') AS pending
FROM messages m WHERE bulk_id IN ({{}}) GROUP BY bulk_id
"""
COUNTS = ("sent", "handed", "delivered", "seen", "opened", "converted", "expired", "undeliverable", "pending")


def _campaigns(ctx: Context, bulks: Sequence[sqlite3.Row]) -> list[dict[str, Any]]:
    if not bulks:
        return []
    ids = [b["bulk_id"] for b in bulks]
    counted = {
        row["bulk_id"]: row
        for row in ctx.db.execute(_METRICS.format(",".join("?" * len(ids))), (*STANDARD_EVENTS, *ids)).fetchall()
    }
    result = []
    for bulk in bulks:
        row = counted.get(bulk["bulk_id"])
        body: dict[str, Any] = {
            "bulkId": bulk["bulk_id"],
            "application": bulk["app_code"],
            "created": format_epoch(bulk["created"] / 1000),
            "sendAt": format_epoch(bulk["send_at"] / 1000),
            "expiresAt": format_epoch(bulk["expires_at"] / 1000),
            "target": json.loads(bulk["target"]),
        }
        body.update({name: (row[name] or 0) if row is not None else 0 for name in COUNTS})
        result.append(body)
    return result


def campaigns(
    ctx: Context, *, page: int = 0, limit: int = 20, app_code: str | None = None, since: int | None = None
) -> dict[str, Any]:
    """The account's bulks, newest first, with their metrics: those with a message from ``app_code``
    (if given), created at or after ``since`` (epoch ms, if given)."""
    expire(ctx)
    where = "account=?"
    args: list[Any] = [ctx.caller.account]
    if app_code is not None:  # a bulk of several senders has no app_code of its own
        where += " AND (app_code=? OR (app_code IS NULL AND EXISTS (SELECT 1 FROM messages m"
        where += " WHERE m.bulk_id = bulks.bulk_id AND m.app_code=?)))"
        args += [app_code, app_code]
    if since is not None:
        where += " AND created>=?"
        args.append(since)
    total = ctx.db.execute(f"SELECT COUNT(*) FROM bulks WHERE {where}", args).fetchone()[0]
    bulks = ctx.db.execute(
        f"SELECT * FROM bulks WHERE {where} ORDER BY created DESC, rowid DESC LIMIT ? OFFSET ?",
        (*args, limit, page * limit),
    ).fetchall()
    return {"campaigns": _campaigns(ctx, bulks), "total": total, "page": page, "limit": limit}


def campaign(ctx: Context, bulk_id: str) -> dict[str, Any]:
    """One bulk's metrics, or ``NOT_FOUND``."""
    expire(ctx)
    row = ctx.db.execute("SELECT * FROM bulks WHERE bulk_id=? AND account=?", (bulk_id, ctx.caller.account)).fetchone()
    if row is None:
        raise ApiError(ErrorCode.NOT_FOUND, f"no campaign (bulk) {bulk_id!r} in account {ctx.caller.account!r}")
    return _campaigns(ctx, [row])[0]
