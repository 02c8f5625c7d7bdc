"""Sending: the destinations of a Push API request resolved to installations, one message row each.

Every message of a request goes from its sender application to the installations its destinations
resolve to, one row per eligible installation. Eligible is an installation of the sender
application that is active (not uninstalled or deleted) with ``regEnabled`` not false; a person
destination (``EXTERNAL_USER_ID``, ``EMAIL``, ``PHONE_NUMBER``) reaches only the installations
attached to that person now (a logged-out one is not), and ``targetOnlyPrimaryDevices`` only the
primary one. An installation is reached once per message, whichever of its destinations reach it
first. A destination that reaches nobody is one undeliverable row (``UNDELIVERABLE_NOT_DELIVERED``
with the reason for a registration, ``UNDELIVERABLE_NO_DESTINATION`` otherwise), reported like any
other.

A send is two steps. :func:`plan` checks the whole request (senders, bulk ids, schedules, every
destination, the segments), writes its bulks and resolves each destination to the registration
ids it may reach; nothing of a request it refuses is written. :func:`write` then writes the
messages in order, at most ``budget`` installations per call, and returns their answer entries.
:func:`send` does both in one unit of work (all or nothing); the route sends a plan of more than
:data:`SEND_CHUNK` installations one chunk per unit of work, so the server answers other requests
between chunks and the provider hands the first messages while the rest are written (a segment
of a million is a minute of writing, not a minute of silence; docs/push-api.md).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from contract import LimitViolation, Platform, limits
from contract import push_api as pa
from contract.messages import Message, new_message_id, token_route

from ..errors import ApiError
from ..store import dumps
from .context import Context
from .identities import parse_identity
from .messages import DAY_MS, MAX_SCHEDULE_MS, Violation, epoch_ms, now_ms

__all__ = [
    "SEND_CHUNK",
    "BulkResult",
    "Outgoing",
    "SendPlan",
    "Sent",
    "Target",
    "plan",
    "send",
    "write",
]

SEND_CHUNK = 2_000
"""Installations a large send writes per unit of work (about 0.1 s of the server's time)."""


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


# -- resolving destinations ----------------------------------------------------------------------


def _enabled(row: sqlite3.Row) -> bool:
    return json.loads(row["data"]).get("regEnabled") is not False


def _eligible(rows: Iterable[sqlite3.Row], target: Target) -> list[str]:
    return [r["reg_id"] for r in rows if _enabled(r) and (r["is_primary"] or not target.primary_only)]


def _registration(ctx: Context, app_code: str, target: Target) -> tuple[list[str], Refusal]:
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


def _person(ctx: Context, app_code: str, target: Target) -> tuple[list[str], int | None]:
    """The person's eligible installations, and the person (each chunk writes only to those still
    attached to it: a device that logged out meanwhile is not the person's any more)."""
    kind, value = _identity(target)
    owner = ctx.db.execute(
        "SELECT person_id FROM identities WHERE account=? AND kind=? AND value=?", (ctx.caller.account, kind, value)
    ).fetchone()
    if owner is None:
        return [], None
    rows = ctx.db.execute(
        "SELECT * FROM installations WHERE person_id=? AND app_code=? AND state='active' ORDER BY created, rowid",
        (owner[0], app_code),
    ).fetchall()
    return _eligible(rows, target), owner[0]


def _segment(ctx: Context, app_code: str, target: Target) -> list[str]:
    """mobsim's ``SEGMENT`` destination: the segment's installations of the sender application (the
    candidates; whether each is eligible is decided as its message is written)."""
    from .. import segments  # the segments helper (server_stub/segments.py); imported late: it imports the rules

    try:
        return segments.segment_reg_ids(ctx.db, ctx.caller.account, app_code, target.address, now=ctx.clock())
    except ApiError as exc:
        raise Violation(f"{target.where}.segment", exc.text) from None


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


def _multiple(ctx: Context, app_code: str, target: Target) -> list[str]:
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


def _resolve(ctx: Context, app_code: str, target: Target) -> tuple[list[str], Refusal, int | None]:
    """The registration ids a destination may reach, why, when it reaches none, and the person
    they must still belong to (person destinations)."""
    if target.type == "REGISTRATION":
        return (*_registration(ctx, app_code, target), None)
    if target.type == "MULTIPLE":
        return _multiple(ctx, app_code, target), _NO_DESTINATION, None
    if target.type == "SEGMENT":
        return _segment(ctx, app_code, target), _NO_DESTINATION, None
    reg_ids, person = _person(ctx, app_code, target)
    return reg_ids, _NO_DESTINATION, person


# -- the plan ------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Message:
    """One message of a request, checked: where its rows go and what they hold."""

    bulk: int
    index: int
    sender: str
    bulk_id: str
    payload: str
    extra: str
    send_at: int
    expires_at: int
    reached: set[str] = field(default_factory=set)


@dataclass(slots=True)
class _Destination:
    """One destination of a checked message and the registration ids it may reach."""

    message: _Message
    target: Target
    reg_ids: list[str]
    refusal: Refusal
    person: int | None = None
    """A person destination's person: only installations still attached to it are written."""
    duplicate: bool = False
    """Its ``messageId`` is taken (by an earlier message or destination): refused, nothing written."""
    done: int = 0
    """How many of ``reg_ids`` are written (or skipped)."""
    matched: int = 0
    """Eligible installations found for it so far (written, or reached by an earlier destination)."""
    hits: int = 0
    """Messages written for it so far."""


@dataclass(slots=True)
class SendPlan:
    """A checked request: its bulks (written), its destinations in order, how far :func:`write` got."""

    bulk_ids: list[str]
    destinations: list[_Destination]
    now: int
    latency: Callable[[], int]
    taken: set[str]
    """Message ids of this request (given and generated)."""
    cursor: int = 0

    @property
    def installations(self) -> int:
        """Registration ids still to write (an upper bound of the messages still to come)."""
        return sum(len(d.reg_ids) - d.done for d in self.destinations[self.cursor :])

    @property
    def finished(self) -> bool:
        return self.cursor >= len(self.destinations)


def _taken(ctx: Context, message_id: str, taken: set[str]) -> bool:
    if message_id in taken:
        return True
    return ctx.db.execute("SELECT 1 FROM messages WHERE message_id=?", (message_id,)).fetchone() is not None


def _new_ids(ctx: Context, count: int, taken: set[str]) -> list[str]:
    """``count`` fresh message ids, none in the store (one query), none of ``taken`` (the ids the
    request gave, still to be written); generated ids are not kept: each batch checks the store."""
    ids: list[str] = []
    while len(ids) < count:
        fresh = [new_message_id() for _ in range(count - len(ids))]
        query = "SELECT message_id FROM messages WHERE message_id IN (SELECT value FROM json_each(?))"
        used = {row[0] for row in ctx.db.execute(query, (dumps(fresh),))} | taken | set(ids)
        ids += [message_id for message_id in dict.fromkeys(fresh) if message_id not in used]
    return ids


def _check_message(ctx: Context, bulk: int, index: int, bulk_id: str, message: Outgoing, now: int) -> _Message:
    app = ctx.db.execute("SELECT account FROM applications WHERE code=?", (message.sender,)).fetchone()
    if app is None or app["account"] != ctx.caller.account:
        raise Violation(
            f"{message.where}.sender",
            f"{message.sender!r} is not an application code of this account (GET /inspect/applications lists them)",
        )
    send_at = now if message.send_at is None else max(now, epoch_ms(message.send_at))
    if send_at > now + MAX_SCHEDULE_MS:
        raise Violation(f"{message.where}.options.sendAt", "a message is scheduled at most 180 days in advance")
    payload = dumps({k: v for k, v in asdict(Message(message_id="", **message.content)).items() if k != "message_id"}
                    | {"send_date_time": send_at, "bulk_id": bulk_id})  # fmt: skip
    return _Message(bulk, index, message.sender, bulk_id, payload, dumps(message.extra), send_at,
                    send_at + message.validity_ms)  # fmt: skip


def plan(
    ctx: Context,
    bulks: Sequence[tuple[str | None, Sequence[Outgoing], dict[str, Any]]],
    *,
    latency: Callable[[], int],
    where: str = "options.schedule.bulkId",
) -> SendPlan:
    """Check each bulk (its id or a new one, its messages, the request to keep), write the bulks and
    resolve every destination; raises :class:`Violation` (nothing written) on the first problem."""
    now = now_ms(ctx)
    taken: set[str] = set()
    result = SendPlan([], [], now, latency, taken)
    for number, (bulk_id, messages, request) in enumerate(bulks):
        if bulk_id is not None and (
            bulk_id in result.bulk_ids or ctx.db.execute("SELECT 1 FROM bulks WHERE bulk_id=?", (bulk_id,)).fetchone()
        ):
            raise Violation(where, f"bulk {bulk_id!r} exists already; send a new bulkId (or none)")
        bulk_id = bulk_id or pa.new_bulk_id()
        checked = [_check_message(ctx, number, n, bulk_id, m, now) for n, m in enumerate(messages)]
        for message, outgoing in zip(checked, messages, strict=True):
            for target in outgoing.targets:
                if target.message_id is not None and _taken(ctx, target.message_id, taken):
                    result.destinations.append(_Destination(message, target, [], _NO_DESTINATION, duplicate=True))
                    continue
                if target.message_id is not None:
                    taken.add(target.message_id)
                reg_ids, refusal, person = _resolve(ctx, outgoing.sender, target)
                result.destinations.append(_Destination(message, target, reg_ids, refusal, person))
        senders = {m.sender for m in messages}
        target_json = [
            {"sender": m.sender, "destinations": [{"type": t.type, "address": t.address} for t in m.targets]}
            for m in messages
        ]
        ctx.db.execute(
            "INSERT INTO bulks VALUES (?,?,?,?,?,?,?,?)",
            (bulk_id, ctx.caller.account, senders.pop() if len(senders) == 1 else None, now,
             min((m.send_at for m in checked), default=now), max((m.expires_at for m in checked), default=now),
             dumps(request), dumps(target_json)),
        )  # fmt: skip
        result.bulk_ids.append(bulk_id)
    return result


# -- writing -------------------------------------------------------------------------------------

_INSERT = (
    "INSERT INTO messages (message_id, bulk_id, account, app_code, reg_id, platform, push_token, route, person_id,"
    " destination, payload, extra, created, send_at, expires_at, deliver_at, done_at, status, error)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
)
_CANDIDATES = (
    "SELECT reg_id, platform, person_id, is_primary, json_extract(data, '$.pushServiceToken'),"
    " json_extract(data, '$.regEnabled') FROM installations"
    # "+app_code": by the primary key, not the application's index (which would read every
    # installation of the application for each chunk: O(n²) for a segment; bench/campaign.py)
    " WHERE reg_id IN (SELECT value FROM json_each(?)) AND +app_code=? AND state='active'"
)


def _candidates(
    ctx: Context, app_code: str, reg_ids: Sequence[str], primary_only: bool, owner: int | None
) -> list[tuple[Any, ...]]:
    """The eligible installations among ``reg_ids`` (of ``owner`` when given), in their order:
    (reg_id, platform, person, token)."""
    found: dict[str, tuple[Any, ...]] = {}
    for reg_id, platform, person, primary, token, enabled in ctx.db.execute(_CANDIDATES, (dumps(reg_ids), app_code)):
        # regEnabled false is stored as JSON false: 0
        if enabled != 0 and (primary or not primary_only) and (owner is None or person == owner):
            found[reg_id] = (reg_id, platform, person, token)
    return [found[r] for r in reg_ids if r in found]


def _write_rows(ctx: Context, plan: SendPlan, destination: _Destination, reg_ids: Sequence[str]) -> list[Sent]:
    message, target, now = destination.message, destination.target, plan.now
    found = _candidates(ctx, message.sender, reg_ids, target.primary_only, destination.person)
    rows = [c for c in found if c[0] not in message.reached]
    given = target.message_id if destination.hits == 0 and target.message_id else None
    if given and rows and _taken(ctx, given, set()):
        # written by another request since this one was planned (in an earlier chunk of it, the
        # check passed): the first writer has the id, this destination is refused as a duplicate
        destination.duplicate = True
        return []
    destination.matched += len(found)
    ids = _new_ids(ctx, len(rows) - (1 if given and rows else 0), plan.taken)
    if given and rows:
        ids.insert(0, given)
    values, sent = [], []
    for (reg_id, platform, person, token), message_id in zip(rows, ids, strict=True):
        message.reached.add(reg_id)
        ok = isinstance(token, str) and bool(token)
        route = token_route(Platform(platform), token) if ok else None
        values.append((message_id, message.bulk_id, ctx.caller.account, message.sender, reg_id, platform,
                       token if ok else None, route, person, reg_id, message.payload, message.extra, now,
                       message.send_at, message.expires_at, message.send_at + max(0, plan.latency()), None,
                       "PENDING", None))  # fmt: skip
        sent.append(Sent(message_id, pa.PENDING_ACCEPTED, reg_id, message.index))
    ctx.db.executemany(_INSERT, values)
    destination.hits += len(sent)
    return sent


def _refuse(ctx: Context, plan: SendPlan, destination: _Destination) -> Sent:
    message, target = destination.message, destination.target
    if target.message_id is not None and not destination.duplicate and _taken(ctx, target.message_id, set()):
        destination.duplicate = True  # written by another request since this one was planned
    if destination.duplicate:
        assert target.message_id is not None
        return Sent(target.message_id, pa.REJECTED_DUPLICATE_MESSAGE_ID, target.address, message.index)
    message_id = target.message_id or _new_ids(ctx, 1, plan.taken)[0]
    status, error = destination.refusal
    ctx.db.execute(_INSERT, (message_id, message.bulk_id, ctx.caller.account, message.sender, None, None, None, None,
                             None, target.address, message.payload, message.extra, plan.now, message.send_at,
                             message.expires_at, message.send_at, plan.now, "UNDELIVERABLE", error.name))  # fmt: skip
    return Sent(message_id, status, target.address, message.index)


def write(ctx: Context, plan: SendPlan, *, budget: int | None = None) -> list[tuple[int, Sent]]:
    """Write the plan's next messages (at most ``budget`` registration ids looked at; None: all) and
    return their answer entries, each with the index of its bulk."""
    out: list[tuple[int, Sent]] = []
    left = budget if budget is not None else plan.installations
    while not plan.finished:
        destination = plan.destinations[plan.cursor]
        pending = len(destination.reg_ids) - destination.done
        if pending and left <= 0:
            break
        if pending:
            take = min(pending, left)
            chunk = destination.reg_ids[destination.done : destination.done + take]
            out += [(destination.message.bulk, s) for s in _write_rows(ctx, plan, destination, chunk)]
            destination.done = len(destination.reg_ids) if destination.duplicate else destination.done + take
            left -= take
            if destination.done < len(destination.reg_ids):
                break
        if not destination.duplicate and destination.matched == 0 and destination.target.type == "REGISTRATION":
            # it may have changed since the plan (uninstalled meanwhile): the reason as it is now
            destination.refusal = _registration(ctx, destination.message.sender, destination.target)[1]
        if destination.duplicate or destination.matched == 0:
            out.append((destination.message.bulk, _refuse(ctx, plan, destination)))
        plan.cursor += 1
    return out


def send(
    ctx: Context,
    bulks: Sequence[tuple[str | None, Sequence[Outgoing], dict[str, Any]]],
    *,
    latency: Callable[[], int],
    where: str = "options.schedule.bulkId",
) -> list[BulkResult]:
    """Send each bulk (its id or a new one, its messages, the request to keep) in this unit: all or nothing."""
    planned = plan(ctx, bulks, latency=latency, where=where)
    results = [BulkResult(bulk_id, []) for bulk_id in planned.bulk_ids]
    for bulk, sent in write(ctx, planned):
        results[bulk].sent.append(sent)
    return results
