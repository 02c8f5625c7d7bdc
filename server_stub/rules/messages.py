"""Messages: the Mobile API's message calls, reading messages back, the push provider's queue.

Sending is :mod:`server_stub.rules.sending`. Times are epoch milliseconds of the server's clock. A
message is sent at ``send_at`` (``sendAt`` or now), may be handed by the provider from
``deliver_at`` (``send_at`` plus a sampled latency), and expires at ``send_at`` plus its validity
(default and cap 48 h): a message with no delivery report by then is ``EXPIRED`` and a later
report is ignored.

The Mobile API: ``sync`` marks the caller's ``drIDs`` delivered and answers the caller's messages
that are due, not delivered, not expired and not in ``mIDs``; ``delivered`` is the iOS extension's
``dlrIds``; ``seen`` keeps the seen moment (now minus ``timestampDelta`` seconds); a message is
opened when its installation saw it and started a session (an App Launch) within 60 seconds of
that moment, in either order (``session_started`` is called for each new session start).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from contract import ErrorCode, Platform, format_epoch, parse_datetime
from contract import push_api as pa
from contract.messages import Message, push_payload, sync_payload
from contract.models import MoRequest, SeenMessagesBody, SyncMessagesBody

from ..errors import ApiError
from ..store import dumps
from .context import Context

__all__ = [
    "DAY_MS",
    "MAX_SCHEDULE_MS",
    "OPEN_WINDOW_MS",
    "PROVIDER_REJECTED",
    "SYNC_LIMIT",
    "Violation",
    "claim_deliveries",
    "delivered",
    "epoch_ms",
    "message_of",
    "now_ms",
    "seen",
    "session_started",
    "status_of",
    "store_mo",
    "sync",
]

DAY_MS = 86_400_000
MAX_SCHEDULE_MS = 180 * DAY_MS
"""``sendAt`` "can only be scheduled for no later than 180 days in advance"."""
OPEN_WINDOW_MS = 60_000
"""Seen and a session start this close (inclusive) make an open."""
SYNC_LIMIT = 100
"""At most this many payloads in one ``/mobile/5/messages`` answer."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
PROVIDER_REJECTED = "PROVIDER_REJECTED"
"""The ``error`` of a message its push provider refused for good (``mobsim serve --providers``): reported
``UNDELIVERABLE_NOT_DELIVERED`` with no error code (no Infobip code names it)."""
_ERRORS = {e.name: e for e in (pa.NO_ERROR, pa.EC_DEVICE_APP_UNINSTALL, pa.EC_NO_REGISTRATION_ID_FOUND,
                               pa.EC_REGISTRATION_ID_DISABLED)}  # fmt: skip


class Violation(ApiError):
    """A Push API request the rules refuse: where in the request, and why (400)."""

    def __init__(self, where: str, violation: str) -> None:
        super().__init__(ErrorCode.REQUEST_FORMAT_INVALID, f"{where}: {violation}" if where else violation)
        self.where = where
        self.violation = violation


def epoch_ms(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def now_ms(ctx: Context) -> int:
    return epoch_ms(ctx.clock())


# -- reading messages back -----------------------------------------------------------------------


def message_of(row: sqlite3.Row) -> Message:
    """The :class:`contract.messages.Message` a row holds."""
    return Message(message_id=row["message_id"], **json.loads(row["payload"]))


def status_of(row: sqlite3.Row) -> tuple[pa.Status, pa.Error]:
    """The Push API status and error of a message row."""
    status = row["status"]
    if status == "DELIVERED":
        return pa.DELIVERED_TO_HANDSET, pa.NO_ERROR
    if status == "EXPIRED":
        return pa.EXPIRED_EXPIRED, pa.NO_ERROR
    if status == "UNDELIVERABLE":
        if row["error"] == PROVIDER_REJECTED:  # the push provider refused the send (server_stub/relay/)
            return pa.UNDELIVERABLE_NOT_DELIVERED, pa.NO_ERROR
        error = _ERRORS.get(row["error"] or "", pa.NO_ERROR)
        return (pa.UNDELIVERABLE_NO_DESTINATION if error is pa.NO_ERROR else pa.UNDELIVERABLE_NOT_DELIVERED), error
    return (pa.PENDING_ACCEPTED if row["handed_at"] is None else pa.PENDING_ENROUTE), pa.NO_ERROR


# -- the Mobile API ------------------------------------------------------------------------------


def _placeholders(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


def _deliver(ctx: Context, ids: Iterable[str], *, reg_id: str | None) -> int:
    """Mark the caller's messages delivered: of its registration, or (no registration named, the iOS
    extension) of its application. Unknown, expired, final and foreign ids are ignored."""
    unique = list(dict.fromkeys(ids))
    if not unique:
        return 0
    now = now_ms(ctx)
    owner, value = ("reg_id", reg_id) if reg_id is not None else ("app_code", ctx.caller.app_code)
    cursor = ctx.db.execute(
        f"UPDATE messages SET status='DELIVERED', delivered_at=?, done_at=? WHERE message_id IN"
        f" ({_placeholders(unique)}) AND {owner}=? AND status='PENDING' AND send_at<=? AND expires_at>?",
        (now, now, *unique, value, now, now),
    )
    return cursor.rowcount


def sync(ctx: Context, reg_id: str, body: SyncMessagesBody | None) -> dict[str, Any]:
    """``POST /mobile/5/messages``: ``drIDs`` delivered; the due messages not in ``mIDs``, in the
    installation's platform's shape."""
    inst = ctx.installation(reg_id)
    archived = list((body.mIDs if body else None) or [])
    reported = list((body.drIDs if body else None) or [])
    _deliver(ctx, reported, reg_id=reg_id)
    skip = set(archived) | set(reported)
    now = now_ms(ctx)
    rows = ctx.db.execute(
        "SELECT message_id, payload FROM messages WHERE reg_id=? AND status='PENDING' AND send_at<=? AND expires_at>?"
        " ORDER BY send_at, seq LIMIT ?",
        (reg_id, now, now, SYNC_LIMIT + len(skip)),
    ).fetchall()
    platform = Platform(inst.platform)
    payloads = [sync_payload(message_of(r), platform) for r in rows if r["message_id"] not in skip]
    return {"payloads": payloads[:SYNC_LIMIT]}


def delivered(ctx: Context, reg_id: str | None, ids: Sequence[str]) -> int:
    """``POST /mobile/1/messages/deliveryreport`` (``dlrIds``)."""
    if reg_id is not None:
        ctx.installation(reg_id)
    return _deliver(ctx, ids, reg_id=reg_id)


def _session_near(ctx: Context, reg_id: str, moment: int) -> bool:
    first = -(-(moment - OPEN_WINDOW_MS) // 1000)  # session starts are whole seconds
    last = (moment + OPEN_WINDOW_MS) // 1000
    row = ctx.db.execute(
        "SELECT 1 FROM sessions WHERE reg_id=? AND start BETWEEN ? AND ? LIMIT 1",
        (reg_id, format_epoch(first), format_epoch(last)),
    ).fetchone()
    return row is not None


def seen(ctx: Context, reg_id: str, body: SeenMessagesBody) -> int:
    """``POST /mobile/2/messages/seen``: the first seen moment of each of the caller's messages."""
    ctx.installation(reg_id)
    deltas: dict[str, int] = {}
    for item in body.messages:  # the same id twice: the earlier moment
        deltas[item.messageId] = max(deltas.get(item.messageId, 0), item.timestampDelta, 0)
    if not deltas:
        return 0
    now = now_ms(ctx)
    ids = list(deltas)
    rows = ctx.db.execute(
        f"SELECT seq, message_id, send_at FROM messages WHERE reg_id=? AND message_id IN ({_placeholders(ids)})"
        " AND seen_at IS NULL AND send_at<=?",
        (reg_id, *ids, now),
    ).fetchall()
    for row in rows:
        moment = max(row["send_at"], now - deltas[row["message_id"]] * 1000)
        opened = moment if _session_near(ctx, reg_id, moment) else None
        ctx.db.execute("UPDATE messages SET seen_at=?, opened_at=? WHERE seq=?", (moment, opened, row["seq"]))
    return len(rows)


def session_started(ctx: Context, reg_id: str, start: str) -> None:
    """A new session start (App Launch) opens the installation's messages seen within 60 s of it."""
    moment = epoch_ms(parse_datetime(start))
    ctx.db.execute(
        "UPDATE messages SET opened_at=seen_at WHERE reg_id=? AND opened_at IS NULL AND seen_at BETWEEN ? AND ?",
        (reg_id, moment - OPEN_WINDOW_MS, moment + OPEN_WINDOW_MS),
    )


def store_mo(ctx: Context, reg_id: str, body: MoRequest) -> dict[str, Any]:
    """``POST /mobile/1/messages/mo``: kept for ``GET /push/1/inbox/reports``; each answered as sent."""
    ctx.installation(reg_id)
    now = now_ms(ctx)
    answered: list[dict[str, Any]] = []
    for number, message in enumerate(body.messages):
        item = message.to_wire()
        if not isinstance(item.get("messageId"), str):  # absent or null: the server names it
            item["messageId"] = f"{reg_id}-mo-{number}"
        ctx.db.execute(
            "INSERT INTO mo_messages (account, app_code, reg_id, message_id, body, received) VALUES (?,?,?,?,?,?)",
            (ctx.caller.account, ctx.caller.app_code, reg_id, item["messageId"], dumps(item), now),
        )
        item.update(statusCode=0, status="SUCCESS")
        answered.append(item)
    return {"messages": answered}


# -- the push provider ---------------------------------------------------------------------------


def claim_deliveries(ctx: Context, *, shard: int, of: int, limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """Hand the caller application's due messages of shard ``shard`` of ``of`` (by token route);
    none due: the time the next one is, if any."""
    now = now_ms(ctx)
    app = ctx.caller.app_code
    pending = "app_code=? AND status='PENDING' AND handed_at IS NULL AND route IS NOT NULL AND expires_at>?"
    rows = ctx.db.execute(
        f"SELECT seq, message_id, platform, push_token, route, payload FROM messages WHERE {pending}"
        " AND deliver_at<=? AND (route - 1) % ? = ? ORDER BY deliver_at, seq LIMIT ?",
        (app, now, now, of, shard, limit),
    ).fetchall()
    if not rows:
        row = ctx.db.execute(
            f"SELECT MIN(deliver_at) FROM messages WHERE {pending} AND (route - 1) % ? = ?", (app, now, of, shard)
        ).fetchone()
        return [], row[0]
    seqs = [r["seq"] for r in rows]
    ctx.db.execute(f"UPDATE messages SET handed_at=? WHERE seq IN ({_placeholders(seqs)})", (now, *seqs))
    deliveries = [
        {
            "messageId": r["message_id"],
            "platform": r["platform"],
            "pushToken": r["push_token"],
            "route": r["route"],
            "payload": push_payload(message_of(r), Platform(r["platform"])),
        }
        for r in rows
    ]
    return deliveries, None
