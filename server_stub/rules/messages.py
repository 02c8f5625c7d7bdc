"""Messages: sending to destinations, the Mobile API's message calls, the push provider's queue.

Sending (``send``): every message of a request goes from its sender application to the
installations its destinations resolve to, one row per eligible installation. Eligible is an
installation of the sender application that is active (not uninstalled or deleted) with
``regEnabled`` not false; a person destination (``EXTERNAL_USER_ID``, ``EMAIL``, ``PHONE_NUMBER``)
reaches only the installations attached to that person now (a logged-out one is not), and
``targetOnlyPrimaryDevices`` only the primary one. A destination that reaches nobody is one
undeliverable row (``UNDELIVERABLE_NOT_DELIVERED`` with the reason for a registration,
``UNDELIVERABLE_NO_DESTINATION`` otherwise), reported like any other.

Times are epoch milliseconds of the server's clock. A message is sent at ``send_at`` (``sendAt``
or now), may be handed by the provider from ``deliver_at`` (``send_at`` plus a sampled latency),
and expires at ``send_at`` plus its validity (default and cap 48 h): a message with no delivery
report by then is ``EXPIRED`` and a later report is ignored.

The Mobile API: ``sync`` marks the caller's ``drIDs`` delivered and answers the caller's messages
that are due, not delivered, not expired and not in ``mIDs``; ``delivered`` is the iOS extension's
``dlrIds``; ``seen`` keeps the seen moment (now minus ``timestampDelta`` seconds); a message is
opened when its installation saw it and started a session (an App Launch) within 60 seconds of
that moment, in either order (``session_started`` is called for each new session start).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from contract import ErrorCode, LimitViolation, Platform, format_epoch, limits, parse_datetime
from contract import push_api as pa
from contract.messages import Message, new_message_id, push_payload, sync_payload, token_route
from contract.models import MoRequest, SeenMessagesBody, SyncMessagesBody

from ..errors import ApiError
from ..store import dumps
from .context import Context
from .identities import parse_identity

__all__ = [
    "DAY_MS",
    "MAX_SCHEDULE_MS",
    "OPEN_WINDOW_MS",
    "SYNC_LIMIT",
    "BulkResult",
    "Outgoing",
    "Sent",
    "Target",
    "Violation",
    "claim_deliveries",
    "delivered",
    "epoch_ms",
    "message_of",
    "now_ms",
    "seen",
    "send",
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


# -- sending -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Target:
    """One destination of a message, as the request gave it."""

    type: str
    address: str
    where: str
    """Its place in the request (``messages[0].destinations[1]``), for violations."""
    message_id: str | None = None
    primary_only: bool = False
    any_of: tuple[dict[str, Any], ...] = ()
    """``MULTIPLE``: ``$or`` filters (one must hold; none given: no condition)."""
    all_of: tuple[dict[str, Any], ...] = ()
    """``MULTIPLE``: ``$and`` filters (each must hold)."""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message of a request: a content from one application to its destinations."""

    sender: str
    targets: Sequence[Target]
    content: dict[str, Any]
    """Fields of :class:`contract.messages.Message` other than its id, send time and bulk id."""
    where: str
    send_at: datetime | None = None
    validity_ms: int = 2 * DAY_MS
    extra: dict[str, Any] = field(default_factory=dict)
    """Kept for reports and logs: ``content``, ``callbackData``, ``campaignReferenceId``, ``platform``."""


@dataclass(frozen=True, slots=True)
class Sent:
    """One entry of a send answer."""

    message_id: str
    status: pa.Status
    destination: str
    message: int
    """The index of its message in the request."""


@dataclass(slots=True)
class BulkResult:
    bulk_id: str
    sent: list[Sent]

    def count(self, message: int) -> int:
        """Messages created for installations from the request's ``message``-th message."""
        return sum(1 for s in self.sent if s.message == message and s.status is pa.PENDING_ACCEPTED)


Refusal = tuple[pa.Status, pa.Error]
_NO_DESTINATION: Refusal = (pa.UNDELIVERABLE_NO_DESTINATION, pa.NO_ERROR)


def _enabled(row: sqlite3.Row) -> bool:
    return json.loads(row["data"]).get("regEnabled") is not False


def _eligible(rows: Iterable[sqlite3.Row], target: Target) -> list[sqlite3.Row]:
    return [r for r in rows if _enabled(r) and (r["is_primary"] or not target.primary_only)]


def _registration(ctx: Context, app_code: str, target: Target) -> tuple[list[sqlite3.Row], Refusal]:
    row = ctx.db.execute("SELECT * FROM installations WHERE reg_id=?", (target.address,)).fetchone()
    if row is None or row["app_code"] != app_code:
        return [], (pa.UNDELIVERABLE_NOT_DELIVERED, pa.EC_NO_REGISTRATION_ID_FOUND)
    if row["state"] != "active":
        error = pa.EC_DEVICE_APP_UNINSTALL if row["state"] == "uninstalled" else pa.EC_NO_REGISTRATION_ID_FOUND
        return [], (pa.UNDELIVERABLE_NOT_DELIVERED, error)
    if not _enabled(row):
        return [], (pa.UNDELIVERABLE_NOT_DELIVERED, pa.EC_REGISTRATION_ID_DISABLED)
    return _eligible([row], target), _NO_DESTINATION


def _identity(target: Target) -> tuple[str, str]:
    """The identities row (kind, normalised value) a person destination names."""
    if target.type == "EXTERNAL_USER_ID":
        return "externalUserId", target.address
    email = target.type == "EMAIL"
    try:
        ((kind, value, _),) = parse_identity(None, [] if email else [target.address], [target.address] if email else [])
    except ApiError as exc:
        raise Violation(f"{target.where}.{'email' if email else 'phoneNumber'}", exc.text) from None
    return kind, value


def _person(ctx: Context, app_code: str, target: Target) -> list[sqlite3.Row]:
    kind, value = _identity(target)
    owner = ctx.db.execute(
        "SELECT person_id FROM identities WHERE account=? AND kind=? AND value=?", (ctx.caller.account, kind, value)
    ).fetchone()
    if owner is None:
        return []
    rows = ctx.db.execute(
        "SELECT * FROM installations WHERE person_id=? AND app_code=? AND state='active' ORDER BY created, rowid",
        (owner[0], app_code),
    ).fetchall()
    return _eligible(rows, target)


def _by_reg_ids(ctx: Context, app_code: str, reg_ids: Sequence[str], target: Target) -> list[sqlite3.Row]:
    rows: list[sqlite3.Row] = []
    unique = list(dict.fromkeys(reg_ids))
    for start in range(0, len(unique), 500):
        chunk = unique[start : start + 500]
        # "+app_code": by the primary key, not by the application's index (which would read every
        # installation of the application for each chunk: O(n²) for a segment; bench/campaign.py)
        rows += ctx.db.execute(
            f"SELECT * FROM installations WHERE reg_id IN ({','.join('?' * len(chunk))}) AND +app_code=?"
            " AND state='active'",
            (*chunk, app_code),
        ).fetchall()
    order = {reg_id: n for n, reg_id in enumerate(unique)}
    return _eligible(sorted(rows, key=lambda r: order[r["reg_id"]]), target)


def _segment(ctx: Context, app_code: str, target: Target) -> list[sqlite3.Row]:
    """mobsim's ``SEGMENT`` destination: the segment's installations of the sender application."""
    from .. import segments  # the segments helper (server_stub/segments.py); imported late: it imports the rules

    try:
        reg_ids = segments.segment_reg_ids(ctx.db, ctx.caller.account, app_code, target.address, now=ctx.clock())
    except ApiError as exc:
        raise Violation(f"{target.where}.segment", exc.text) from None
    return _by_reg_ids(ctx, app_code, reg_ids, target)


class _People:
    """The account's identities and custom attributes, loaded once for ``MULTIPLE`` filters."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._identities: dict[int, dict[str, set[str]]] | None = None
        self._attributes: dict[int, dict[str, Any]] | None = None

    def identities(self, person_id: int | None) -> dict[str, set[str]]:
        if self._identities is None:
            self._identities = {}
            rows = self.ctx.db.execute(
                "SELECT person_id, kind, value FROM identities WHERE account=?", (self.ctx.caller.account,)
            )
            for person, kind, value in rows:
                self._identities.setdefault(person, {}).setdefault(kind, set()).add(value)
        return self._identities.get(person_id, {}) if person_id is not None else {}

    def attributes(self, person_id: int | None) -> dict[str, Any]:
        if self._attributes is None:
            rows = self.ctx.db.execute("SELECT id, data FROM persons WHERE account=?", (self.ctx.caller.account,))
            self._attributes = {pid: json.loads(data).get("customAttributes", {}) for pid, data in rows}
        return self._attributes.get(person_id, {}) if person_id is not None else {}


_FILTER_IDENTITIES = {"externalUserId": "externalUserId", "email": "email", "phoneNumber": "phone"}


def _holds(people: _People, row: sqlite3.Row, data: dict[str, Any], test: dict[str, Any], where: str) -> bool:
    for key, value in test.items():
        if isinstance(value, dict | list) or value is None:
            raise Violation(where, f"filter {key!r}: a value is a string, a number or a boolean")
        if key == "pushRegistrationId":
            ok = row["reg_id"] == value
        elif key in _FILTER_IDENTITIES:
            kind = _FILTER_IDENTITIES[key]
            try:
                wanted = limits.normalize_email(str(value)) if kind == "email" else (
                    limits.normalize_phone(str(value)) if kind == "phone" else value)  # fmt: skip
            except LimitViolation:
                return False
            ok = wanted in people.identities(row["person_id"]).get(kind, set())
        else:  # a custom attribute of the installation, else of its person
            own = data.get("customAttributes", {})
            ok = own[key] == value if key in own else people.attributes(row["person_id"]).get(key) == value
        if not ok:
            return False
    return True


def _multiple(ctx: Context, app_code: str, target: Target) -> list[sqlite3.Row]:
    """``$or`` (one filter holds) and ``$and`` (every filter holds): each filter's keys all hold."""
    people = _People(ctx)
    rows = ctx.db.execute(
        "SELECT * FROM installations WHERE app_code=? AND state='active' ORDER BY created, rowid", (app_code,)
    ).fetchall()
    found = []
    for row in rows:
        data = json.loads(row["data"])
        any_ok = not target.any_of or any(
            _holds(people, row, data, t, f"{target.where}.$or[{n}]") for n, t in enumerate(target.any_of)
        )
        all_ok = all(_holds(people, row, data, t, f"{target.where}.$and[{n}]") for n, t in enumerate(target.all_of))
        if any_ok and all_ok:
            found.append(row)
    return _eligible(found, target)


def _resolve(ctx: Context, app_code: str, target: Target) -> tuple[list[sqlite3.Row], Refusal]:
    """The eligible installations a destination reaches, and why, when it reaches none."""
    if target.type == "REGISTRATION":
        return _registration(ctx, app_code, target)
    if target.type == "MULTIPLE":
        return _multiple(ctx, app_code, target), _NO_DESTINATION
    if target.type == "SEGMENT":
        return _segment(ctx, app_code, target), _NO_DESTINATION
    return _person(ctx, app_code, target), _NO_DESTINATION


def _taken(ctx: Context, message_id: str, taken: set[str]) -> bool:
    if message_id in taken:
        return True
    return ctx.db.execute("SELECT 1 FROM messages WHERE message_id=?", (message_id,)).fetchone() is not None


def _new_id(ctx: Context, taken: set[str]) -> str:
    while True:
        message_id = new_message_id()
        if not _taken(ctx, message_id, taken):
            taken.add(message_id)
            return message_id


_INSERT = (
    "INSERT INTO messages (message_id, bulk_id, account, app_code, reg_id, platform, push_token, route, person_id,"
    " destination, payload, extra, created, send_at, expires_at, deliver_at, done_at, status, error)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)


def _send_message(
    ctx: Context,
    bulk_id: str,
    index: int,
    message: Outgoing,
    now: int,
    latency: Callable[[], int],
    taken: set[str],
) -> tuple[list[Sent], int, int]:
    app = ctx.db.execute("SELECT account FROM applications WHERE code=?", (message.sender,)).fetchone()
    if app is None or app["account"] != ctx.caller.account:
        raise Violation(
            f"{message.where}.sender",
            f"{message.sender!r} is not an application code of this account (GET /inspect/applications lists them)",
        )
    send_at = now if message.send_at is None else max(now, epoch_ms(message.send_at))
    if send_at > now + MAX_SCHEDULE_MS:
        raise Violation(f"{message.where}.options.sendAt", "a message is scheduled at most 180 days in advance")
    expires_at = send_at + message.validity_ms
    extra = dumps(message.extra)
    payload = dumps({k: v for k, v in asdict(Message(message_id="", **message.content)).items() if k != "message_id"}
                    | {"send_date_time": send_at, "bulk_id": bulk_id})  # fmt: skip
    sent: list[Sent] = []
    reached: set[str] = set()
    for target in message.targets:
        if target.message_id is not None and _taken(ctx, target.message_id, taken):
            sent.append(Sent(target.message_id, pa.REJECTED_DUPLICATE_MESSAGE_ID, target.address, index))
            continue
        if target.message_id is not None:
            taken.add(target.message_id)
        rows, refusal = _resolve(ctx, message.sender, target)
        fresh = [r for r in rows if r["reg_id"] not in reached]
        if not rows:
            message_id = target.message_id or _new_id(ctx, taken)
            status, error = refusal
            ctx.db.execute(_INSERT, (message_id, bulk_id, ctx.caller.account, message.sender, None, None, None, None,
                                     None, target.address, payload, extra, now, send_at, expires_at, send_at, now,
                                     "UNDELIVERABLE", error.name))  # fmt: skip
            sent.append(Sent(message_id, status, target.address, index))
        for n, row in enumerate(fresh):
            reached.add(row["reg_id"])
            message_id = target.message_id if n == 0 and target.message_id else _new_id(ctx, taken)
            token = json.loads(row["data"]).get("pushServiceToken")
            route = token_route(Platform(row["platform"]), token) if isinstance(token, str) and token else None
            deliver_at = send_at + max(0, latency())
            ctx.db.execute(_INSERT, (message_id, bulk_id, ctx.caller.account, message.sender, row["reg_id"],
                                     row["platform"], token, route, row["person_id"], row["reg_id"], payload, extra,
                                     now, send_at, expires_at, deliver_at, None, "PENDING", None))  # fmt: skip
            sent.append(Sent(message_id, pa.PENDING_ACCEPTED, row["reg_id"], index))
    return sent, send_at, expires_at


def send(
    ctx: Context,
    bulks: Sequence[tuple[str | None, Sequence[Outgoing], dict[str, Any]]],
    *,
    latency: Callable[[], int],
    where: str = "options.schedule.bulkId",
) -> list[BulkResult]:
    """Send each bulk (its id or a new one, its messages, the request to keep); all or nothing."""
    now = now_ms(ctx)
    taken: set[str] = set()
    results = []
    for bulk_id, messages, request in bulks:
        if bulk_id is not None and ctx.db.execute("SELECT 1 FROM bulks WHERE bulk_id=?", (bulk_id,)).fetchone():
            raise Violation(where, f"bulk {bulk_id!r} exists already; send a new bulkId (or none)")
        bulk_id = bulk_id or pa.new_bulk_id()
        result = BulkResult(bulk_id, [])
        sends, expiries = [], []
        for index, message in enumerate(messages):
            sent, send_at, expires_at = _send_message(ctx, bulk_id, index, message, now, latency, taken)
            result.sent += sent
            sends.append(send_at)
            expiries.append(expires_at)
        senders = {m.sender for m in messages}
        target = [{"sender": m.sender, "destinations": [{"type": t.type, "address": t.address} for t in m.targets]}
                  for m in messages]  # fmt: skip
        ctx.db.execute(
            "INSERT INTO bulks VALUES (?,?,?,?,?,?,?,?)",
            (bulk_id, ctx.caller.account, senders.pop() if len(senders) == 1 else None, now, min(sends),
             max(expiries), dumps(request), dumps(target)),
        )  # fmt: skip
        results.append(result)
    return results


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
