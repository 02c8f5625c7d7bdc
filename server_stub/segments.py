"""Person queries and segments: the People filter language, installation conditions and segment
event conditions (docs/segments.md has the whole language).

A query is ``{"filter": CLAUSE, "events": [CONDITION, ...]}``; a person matches when the filter
holds and every event condition holds on the person's events (reference, section 10). Both parts
are optional; an empty query matches everybody.

Filter clauses (section 10.1):

- ``{"#and": [CLAUSE, ...]}``, ``{"#or": [CLAUSE, ...]}``; several keys in one object all hold.
- ``{"firstName": "Ana"}``: equality; ``{"field": {"#gt": 3, "#lt": 9}}`` or the People form
  ``{"#gt": {"field": 3}}`` with ``#eq #ne #lt #lte #gt #gte #in #notIn #startsWith #endsWith
  #contains #notContain``. ``#contains`` on a list (``tags``, ``emails``, ``phones``) is
  membership, on a string a substring.
- ``{"#exist": "field"}`` (also ``#exists``, a list of fields, or ``{"field": true}``), ``#notExist``.
- Person fields: ``firstName lastName middleName gender birthday type externalUserId tags emails
  phones`` and custom attributes as ``customAttributes.<name>`` (``data.<name>`` and
  ``data\\u0001<name>`` too). ``gender`` compares case-insensitively (``MALE``). Dates and
  datetimes compare as their ISO strings; ``{"#relNow": "-P7D"}`` is now plus an ISO-8601
  duration (days, hours, minutes).
- Installation fields: ``platform`` (``ios``, ``android``, ``huawei``, any case), ``os osVersion
  sdkVersion appVersion language deviceTimezoneOffset regEnabled notificationsEnabled isPrimary
  deviceManufacturer deviceModel ... applicationCode pushRegistrationId`` and
  ``installation.customAttributes.<name>``. A person matches when one of the person's active
  installations makes the whole filter true together with the person; the installations a
  segment reaches are those. An installation without a person is reached only by a query without
  person and event conditions.

Event conditions (section 10.2): ``{"definitionId", "occurrenceCondition": {"operation": IS |
LESS_THAN | LESS_OR_EQUAL | GREATER_OR_EQUAL | GREATER_THAN, "times"}, "timelineCondition":
{"occurred": ALL | FIRST | LAST | NOT, "operator": EMPTY | AFTER | BEFORE | BETWEEN | AFTER_ABS |
BEFORE_ABS | BETWEEN_ABS, "start", "end", "units": DAYS | HOURS | MINUTES}, "payloadConditions":
[{"attribute", "operator": EQ | NE | LT | LTE | GT | GTE | SW | EW | CON, "value"}]}``. Relative
windows count back from the server's now; ``_ABS`` windows take Unix seconds. ``ALL`` compares
the number of occurrences in the window with the occurrence condition (default: at least one);
``FIRST``/``LAST``: the person's first/last occurrence falls in the window; ``NOT``: none in it.
Standard events (``AppLaunch``, ``Install``, ``Personalize``...) can be used as definitions.

Two evaluators read the one parsed query (:mod:`server_stub.segment_query`): SQL
(:mod:`server_stub.segments_sql`, what the API runs) and the Python one here (:func:`compile_filter`,
:func:`evaluate_python`), which loads every person: the reference the SQL one is tested against.
Saved segments: :mod:`server_stub.saved_segments` (:func:`segment_reg_ids` for the Push API).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from contract import format_datetime, parse_datetime

from .rules import Context, person_json
from .saved_segments import segment_reg_ids
from .segment_query import (
    MISSING,
    NEGATIVE,
    All,
    AnyOf,
    EventCondition,
    Exist,
    Leaf,
    Node,
    Query,
    parse_filter,
    parse_query,
)
from .segments_sql import count_persons, page_persons

__all__ = ["compile_filter", "evaluate_python", "query_persons", "query_persons_python", "segment_reg_ids"]

Doc = dict[str, Any]
Pair = Callable[[Doc | None, Doc | None], bool]
Test = Callable[[Doc], bool]

INSTALLATION = "$installation"
"""The key of a person document under which :func:`compile_filter` finds the installation."""


# --- one value against one operand ----------------------------------------------------------
def _comparable(stored: Any, operand: Any) -> tuple[Any, Any] | None:
    if isinstance(stored, bool) or isinstance(operand, bool):
        return None
    if isinstance(stored, (int, float)) and isinstance(operand, (int, float)):
        return stored, operand
    if isinstance(stored, str) and isinstance(operand, str):
        if len(stored) == 10 and len(operand) > 10 and operand[10] == "T":
            operand = operand[:10]  # a date attribute against a datetime (#relNow)
        return stored, operand
    return None


def _same(stored: Any, operand: Any, fold: bool) -> bool:
    if operand is None or stored is None:
        return False
    if isinstance(stored, bool) != isinstance(operand, bool):
        return False
    if isinstance(stored, str) != isinstance(operand, str):
        return False
    if fold and isinstance(stored, str):
        return bool(stored.lower() == operand.lower())
    return bool(stored == operand)


def _equal(stored: Any, operand: Any, fold: bool) -> bool:
    if isinstance(stored, list):  # membership (a list of objects never holds a scalar)
        return any(_same(item, operand, fold) for item in stored if not isinstance(item, (dict, list)))
    return _same(stored, operand, fold)


def check(op: str, stored: Any, operand: Any, fold: bool = False) -> bool:
    """Whether a stored value (or :data:`MISSING`) meets ``op operand``."""
    if op in NEGATIVE:
        return not check(NEGATIVE[op], stored, operand, fold)
    if stored is MISSING or stored is None:
        return False
    if op == "#eq":
        return _equal(stored, operand, fold)
    if op == "#in":
        return any(_equal(stored, item, fold) for item in operand)
    if op == "#contains":
        if isinstance(stored, list):
            return _equal(stored, operand, False)
        return isinstance(stored, str) and isinstance(operand, str) and operand in stored
    if op in ("#startsWith", "#endsWith"):
        if not isinstance(stored, str) or not isinstance(operand, str):
            return False
        return stored.startswith(operand) if op == "#startsWith" else stored.endswith(operand)
    pair = _comparable(stored, operand)
    if pair is None:
        return False
    left, right = pair
    result: bool = {"#lt": left < right, "#lte": left <= right, "#gt": left > right, "#gte": left >= right}[op]
    return result


def _value(leaf: Leaf | Exist, person: Doc | None, installation: Doc | None) -> Any:
    field = leaf.field
    doc = installation if field.scope == "installation" else person  # an event's properties: the first
    if doc is None:
        return MISSING
    if field.custom:
        custom = doc.get("customAttributes")
        return custom.get(field.key, MISSING) if isinstance(custom, dict) else MISSING
    value = doc.get(field.key, MISSING)
    return field.default if value is MISSING else value


def _present(value: Any) -> bool:
    return value is not MISSING and value is not None and value != [] and value != ""


def predicate(node: Node) -> Pair:
    """The filter as a test of a (person, installation) pair; either may be None."""
    if isinstance(node, (All, AnyOf)):
        parts = [predicate(part) for part in node.parts]
        if isinstance(node, All):
            return lambda p, i: all(part(p, i) for part in parts)
        return lambda p, i: any(part(p, i) for part in parts)
    if isinstance(node, Exist):
        leaf_e = node
        return lambda p, i: _present(_value(leaf_e, p, i)) is leaf_e.present
    leaf = node
    return lambda p, i: check(leaf.op, _value(leaf, p, i), leaf.operand, leaf.field.fold)


def compile_filter(clause: Any, now: datetime) -> Test:
    """A test of a person document (``REQUEST_FORMAT_INVALID`` says what is wrong); installation
    fields are read from the document's ``"$installation"`` member, if any."""
    test = predicate(parse_filter(clause, now))
    return lambda doc: test(doc, doc.get(INSTALLATION))


# --- the whole population in Python ---------------------------------------------------------
def _documents(ctx: Context) -> dict[int, Doc]:
    docs: dict[int, Doc] = {}
    for person_id, kind, data in ctx.db.execute(
        "SELECT id, type, data FROM persons WHERE account=? ORDER BY id", (ctx.caller.account,)
    ):
        doc = json.loads(data)
        doc["type"] = kind
        docs[person_id] = doc
    for kind, shown, person_id in ctx.db.execute(
        "SELECT kind, display, person_id FROM identities WHERE account=? ORDER BY rowid", (ctx.caller.account,)
    ):
        doc = docs.get(person_id)
        if doc is None:
            continue
        if kind == "externalUserId":
            doc["externalUserId"] = shown
        else:
            doc.setdefault(f"{kind}s", []).append(shown)
    return docs


def _installations(ctx: Context) -> list[tuple[str, int | None, Doc]]:
    """(regId, person id, document) of the account's active installations, in regId order."""
    rows = ctx.db.execute(
        "SELECT i.reg_id, i.person_id, i.app_code, i.platform, i.is_primary, i.data FROM installations i"
        " JOIN applications a ON a.code = i.app_code WHERE a.account=? AND i.state='active' ORDER BY i.reg_id",
        (ctx.caller.account,),
    )
    found = []
    for reg_id, person_id, app_code, platform, primary, data in rows:
        doc = json.loads(data)
        doc.update(platform=platform, isPrimary=bool(primary), applicationCode=app_code, pushRegistrationId=reg_id)
        found.append((reg_id, person_id, doc))
    return found


def _canonical(text: str) -> str:
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":
        return text
    try:
        return format_datetime(parse_datetime(text))
    except ValueError:
        return text


def _event_test(ctx: Context, condition: EventCondition) -> Callable[[int], bool]:
    """Whether a person meets one event condition (their events read from the store)."""
    payload = [predicate(leaf) for leaf in condition.payload]
    counts: dict[int, int] = {}
    firsts: dict[int, str] = {}
    lasts: dict[int, str] = {}
    low, high = condition.low, condition.high

    def inside(when: str) -> bool:
        return (low is None or when >= low) and (high is None or when < high)

    rows = ctx.db.execute(
        "SELECT person_id, occurred, properties FROM events WHERE account=? AND lower(definition_id)=lower(?)"
        " AND person_id IS NOT NULL",
        (ctx.caller.account, condition.definition),
    )
    for person_id, raw_when, properties in rows:
        if payload:
            props = json.loads(properties) if properties else {}
            if not all(test(props, None) for test in payload):
                continue
        when = _canonical(raw_when)
        if person_id not in firsts or when < firsts[person_id]:
            firsts[person_id] = when
        if person_id not in lasts or when > lasts[person_id]:
            lasts[person_id] = when
        if inside(when):
            counts[person_id] = counts.get(person_id, 0) + 1
    if condition.occurred == "NOT":
        return lambda person_id: person_id not in counts
    if condition.occurred == "FIRST":
        return lambda person_id: person_id in firsts and inside(firsts[person_id])
    if condition.occurred == "LAST":
        return lambda person_id: person_id in lasts and inside(lasts[person_id])
    return lambda person_id: condition.counts(counts.get(person_id, 0))


def evaluate_python(ctx: Context, query: Query) -> tuple[list[int], list[str]]:
    """(person ids, regIds of the installations reached) of ``query``, all in Python: every person,
    installation and event of the account is read. The reference for the SQL evaluator."""
    docs = _documents(ctx)
    installations = _installations(ctx)
    test = predicate(query.filter)
    events = [_event_test(ctx, condition) for condition in query.events]
    by_person: dict[int, list[Doc]] = {}
    for _, person_id, inst in installations:
        if person_id is not None:
            by_person.setdefault(person_id, []).append(inst)
    pairs = query.installation_conditions
    persons = []
    for person_id, doc in docs.items():
        held = any(test(doc, inst) for inst in by_person.get(person_id, [])) if pairs else test(doc, None)
        if held and all(event(person_id) for event in events):
            persons.append(person_id)
    chosen = set(persons)
    reached = []
    for reg_id, person_id, inst in installations:
        if person_id is None:
            if query.anonymous and test(None, inst):
                reached.append(reg_id)
        elif person_id in chosen and (not pairs or test(docs[person_id], inst)):
            reached.append(reg_id)
    return persons, reached


# --- POST /inspect/persons/query ------------------------------------------------------------
def _query_of(query: dict[str, Any], now: datetime) -> Query:
    return parse_query({k: v for k, v in query.items() if k not in ("page", "limit")}, now)


def query_persons(ctx: Context, query: dict[str, Any], *, page: int = 0, limit: int = 20) -> dict[str, Any]:
    """The persons matching ``query`` (a page of them, with the total), evaluated in SQL."""
    parsed = _query_of(query, ctx.clock())
    total = count_persons(ctx.db, ctx.caller.account, parsed)
    chosen = page_persons(ctx.db, ctx.caller.account, parsed, limit=limit, offset=page * limit)
    persons = [{"id": p, **person_json(ctx, p, with_instances=True)} for p in chosen]
    return {"total": total, "page": page, "limit": limit, "persons": persons}


def query_persons_python(ctx: Context, query: dict[str, Any], *, page: int = 0, limit: int = 20) -> dict[str, Any]:
    """:func:`query_persons` by the Python evaluator (every person loaded): for tests and the bench."""
    matched, _ = evaluate_python(ctx, _query_of(query, ctx.clock()))
    chosen = matched[page * limit : (page + 1) * limit]
    persons = [{"id": p, **person_json(ctx, p, with_instances=True)} for p in chosen]
    return {"total": len(matched), "page": page, "limit": limit, "persons": persons}
