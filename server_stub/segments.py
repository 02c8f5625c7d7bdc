"""Person queries: a subset of the People filter language and segment event conditions.

A query is ``{"filter": CLAUSE, "events": [CONDITION, ...]}``; a person matches when the filter
holds on the person and every event condition holds on the person's events (reference, section
10). Both parts are optional; an empty query matches everybody.

Filter clauses (section 10.1):

- ``{"#and": [CLAUSE, ...]}``, ``{"#or": [CLAUSE, ...]}``; several keys in one object all hold.
- ``{"firstName": "Ana"}``: equality; ``{"field": {"#gt": 3, "#lt": 9}}`` or the People form
  ``{"#gt": {"field": 3}}`` with ``#eq #ne #lt #lte #gt #gte #in #notIn #startsWith #endsWith
  #contains #notContain``. ``#contains`` on a list (``tags``, ``emails``, ``phones``) is
  membership, on a string a substring.
- ``{"#exist": "field"}`` (also ``#exists``, a list of fields, or ``{"field": true}``), ``#notExist``.
- Fields: ``firstName lastName middleName gender birthday type externalUserId tags emails phones``
  and custom attributes as ``customAttributes.<name>`` (``data.<name>`` and ``data\\u0001<name>``
  too). ``gender`` compares case-insensitively (``MALE``). Dates and datetimes compare as their
  ISO strings; ``{"#relNow": "-P7D"}`` is now plus an ISO-8601 duration (days, hours, minutes).

Event conditions (section 10.2): ``{"definitionId", "occurrenceCondition": {"operation": IS |
LESS_THAN | LESS_OR_EQUAL | GREATER_OR_EQUAL | GREATER_THAN, "times"}, "timelineCondition":
{"occurred": ALL | FIRST | LAST | NOT, "operator": EMPTY | AFTER | BEFORE | BETWEEN | AFTER_ABS |
BEFORE_ABS | BETWEEN_ABS, "start", "end", "units": DAYS | HOURS | MINUTES}, "payloadConditions":
[{"attribute", "operator": EQ | NE | LT | LTE | GT | GTE | SW | EW | CON, "value"}]}``. Relative
windows count back from the server's now; ``_ABS`` windows take Unix seconds. ``ALL`` compares
the number of occurrences in the window with the occurrence condition (default: at least one);
``FIRST``/``LAST``: the person's first/last occurrence falls in the window; ``NOT``: none in it.
Standard events (``AppLaunch``, ``Install``, ``Personalize``...) can be used as definitions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from contract import ErrorCode, format_datetime, parse_datetime

from .errors import ApiError
from .rules import Context, person_json

__all__ = ["compile_filter", "query_persons"]

Doc = dict[str, Any]
Test = Callable[[Doc], bool]

_MISSING = object()
_DURATION = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
_UNITS = {"DAYS": 86400, "HOURS": 3600, "MINUTES": 60}
_OPERATIONS: dict[str, Callable[[int, int], bool]] = {
    "IS": lambda n, k: n == k,
    "LESS_THAN": lambda n, k: n < k,
    "LESS_OR_EQUAL": lambda n, k: n <= k,
    "GREATER_OR_EQUAL": lambda n, k: n >= k,
    "GREATER_THAN": lambda n, k: n > k,
}
_PAYLOAD = {"EQ": "#eq", "NE": "#ne", "LT": "#lt", "LTE": "#lte", "GT": "#gt", "GTE": "#gte",
            "SW": "#startsWith", "EW": "#endsWith", "CON": "#contains"}  # fmt: skip


def _bad(text: str) -> ApiError:
    return ApiError(ErrorCode.REQUEST_FORMAT_INVALID, text)


def _field(doc: Doc, name: str) -> Any:
    for prefix in ("customAttributes.", "data.", "data\u0001"):
        if name.startswith(prefix):
            return doc.get("customAttributes", {}).get(name[len(prefix) :], _MISSING)
    if name in ("email", "phone"):
        name += "s"
    return doc.get(name, _MISSING)


def _operand(value: Any, now: datetime) -> Any:
    if isinstance(value, dict) and set(value) == {"#relNow"}:
        match = _DURATION.match(str(value["#relNow"]))
        if not match or not any(match.groups()[1:]):
            raise _bad(f"#relNow {value['#relNow']!r}: write an ISO-8601 duration such as -P7D or PT12H")
        sign, days, hours, minutes = match.groups()
        delta = timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0))
        return format_datetime(now - delta if sign else now + delta)
    return value


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


def _equal(stored: Any, operand: Any, case_fold: bool) -> bool:
    if isinstance(stored, list):
        return operand in stored
    if case_fold and isinstance(stored, str) and isinstance(operand, str):
        return stored.lower() == operand.lower()
    if isinstance(stored, bool) != isinstance(operand, bool):
        return False
    return bool(stored == operand)


def _check(op: str, stored: Any, operand: Any, case_fold: bool) -> bool:
    if op in ("#ne", "#notIn", "#notContain"):
        positive = {"#ne": "#eq", "#notIn": "#in", "#notContain": "#contains"}[op]
        return stored is _MISSING or not _check(positive, stored, operand, case_fold)
    if stored is _MISSING or stored is None:
        return False
    if op == "#eq":
        return _equal(stored, operand, case_fold)
    if op == "#in":
        if not isinstance(operand, list):
            raise _bad("#in and #notIn take a list")
        return any(_equal(stored, item, case_fold) for item in operand)
    if op == "#contains":
        if isinstance(stored, list):
            return operand in stored
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


_FIELD_OPS = ("#eq", "#ne", "#lt", "#lte", "#gt", "#gte", "#in", "#notIn", "#startsWith", "#endsWith", "#contains",
              "#notContain")  # fmt: skip


def _field_test(name: str, op: str, operand: Any, now: datetime) -> Test:
    if op not in _FIELD_OPS:
        raise _bad(f"unknown operator {op!r}: use one of {', '.join(_FIELD_OPS)}, #and, #or, #exist, #notExist")
    operand = _operand(operand, now)
    case_fold = name == "gender"
    return lambda doc: _check(op, _field(doc, name), operand, case_fold)


def _exist_test(value: Any, present: bool) -> Test:
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, list) and all(isinstance(v, str) for v in value):
        names = value
    elif isinstance(value, dict):
        names = [k for k, v in value.items() if v]
    else:
        raise _bad("#exist takes a field name, a list of names or {name: true}")

    def test(doc: Doc) -> bool:
        return all((_field(doc, n) not in (_MISSING, None, [], "")) is present for n in names)

    return test


def compile_filter(clause: Any, now: datetime, depth: int = 0) -> Test:
    """A predicate on a person document; ``REQUEST_FORMAT_INVALID`` says what is wrong."""
    if depth > 32:
        raise _bad("the filter is nested too deeply")
    if not isinstance(clause, dict):
        raise _bad(f"a filter clause is a JSON object, not {type(clause).__name__}")
    tests: list[Test] = []
    for key, value in clause.items():
        if key in ("#and", "#or"):
            if not isinstance(value, list) or not value:
                raise _bad(f"{key} takes a non-empty list of clauses")
            parts = [compile_filter(part, now, depth + 1) for part in value]
            if key == "#and":
                tests.append(lambda doc, parts=parts: all(p(doc) for p in parts))  # type: ignore[misc]
            else:
                tests.append(lambda doc, parts=parts: any(p(doc) for p in parts))  # type: ignore[misc]
        elif key in ("#exist", "#exists", "#notExist"):
            tests.append(_exist_test(value, key != "#notExist"))
        elif key.startswith("#"):
            if not isinstance(value, dict) or not value:
                raise _bad(f"{key} takes {{field: value}}, e.g. {{{key!r}: {{'firstName': 'Ana'}}}}")
            tests.extend(_field_test(name, key, operand, now) for name, operand in value.items())
        elif isinstance(value, dict) and value and all(k.startswith("#") for k in value) and set(value) != {"#relNow"}:
            tests.extend(_field_test(key, op, operand, now) for op, operand in value.items())
        else:
            tests.append(_field_test(key, "#eq", value, now))
    return lambda doc: all(t(doc) for t in tests)


def _documents(ctx: Context) -> dict[int, Doc]:
    docs: dict[int, Doc] = {}
    for person_id, kind, data in ctx.db.execute(
        "SELECT id, type, data FROM persons WHERE account=? ORDER BY id", (ctx.caller.account,)
    ):
        doc = json.loads(data)
        doc["type"] = kind
        docs[person_id] = doc
    for kind, shown, person_id in ctx.db.execute(
        "SELECT kind, display, person_id FROM identities WHERE account=?", (ctx.caller.account,)
    ):
        doc = docs.get(person_id)
        if doc is None:
            continue
        if kind == "externalUserId":
            doc["externalUserId"] = shown
        else:
            doc.setdefault(f"{kind}s", []).append(shown)
    return docs


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _bad(f"{what} must be a number")
    return float(value)


def _window(timeline: dict[str, Any], now: datetime) -> tuple[str | None, str | None]:
    """``[low, high)`` as canonical timestamps (None: open)."""
    operator = timeline.get("operator", "EMPTY")
    if operator == "EMPTY":
        return None, None
    absolute = operator.endswith("_ABS")
    base = operator.removesuffix("_ABS")
    if base not in ("AFTER", "BEFORE", "BETWEEN"):
        raise _bad(f"timelineCondition.operator {operator!r}: EMPTY, AFTER, BEFORE, BETWEEN or their _ABS forms")

    def moment(key: str) -> str:
        value = _number(timeline.get(key), f"timelineCondition.{key}")
        if absolute:
            return format_datetime(datetime.fromtimestamp(value, UTC))
        unit = _UNITS.get(timeline.get("units", "DAYS"))
        if unit is None:
            raise _bad("timelineCondition.units: DAYS, HOURS or MINUTES")
        return format_datetime(now - timedelta(seconds=value * unit))

    if base == "AFTER":
        return moment("start"), None
    if base == "BEFORE":
        return None, moment("start")
    first, second = sorted((moment("start"), moment("end")))
    return first, second


def _canonical(text: str) -> str:
    if len(text) == 20 and text[10] == "T" and text[19] == "Z":
        return text
    try:
        return format_datetime(parse_datetime(text))
    except ValueError:
        return text


def _event_test(ctx: Context, condition: Any, now: datetime) -> set[int] | Callable[[int], bool]:
    """The persons meeting one event condition (a set, or a predicate for ``NOT``)."""
    if not isinstance(condition, dict) or not isinstance(condition.get("definitionId"), str):
        raise _bad("each event condition needs a definitionId")
    timeline = condition.get("timelineCondition") or {}
    occurrence = condition.get("occurrenceCondition") or {"operation": "GREATER_OR_EQUAL", "times": 1}
    if not isinstance(timeline, dict) or not isinstance(occurrence, dict):
        raise _bad("timelineCondition and occurrenceCondition are objects")
    occurred = timeline.get("occurred", "ALL")
    if occurred not in ("ALL", "FIRST", "LAST", "NOT"):
        raise _bad("timelineCondition.occurred: ALL, FIRST, LAST or NOT")
    compare = _OPERATIONS.get(occurrence.get("operation", "GREATER_OR_EQUAL"))
    if compare is None:
        raise _bad(f"occurrenceCondition.operation: one of {', '.join(_OPERATIONS)}")
    times = int(_number(occurrence.get("times", 1), "occurrenceCondition.times"))
    low, high = _window(timeline, now)
    payload = [_payload_test(p, now) for p in condition.get("payloadConditions") or []]
    counts: dict[int, int] = {}
    firsts: dict[int, str] = {}
    lasts: dict[int, str] = {}
    rows = ctx.db.execute(
        "SELECT person_id, occurred, properties FROM events WHERE account=? AND lower(definition_id)=lower(?)"
        " AND person_id IS NOT NULL",
        (ctx.caller.account, condition["definitionId"]),
    )
    for person_id, raw_when, properties in rows:
        if payload:
            props = json.loads(properties) if properties else {}
            if not all(test(props) for test in payload):
                continue
        when = _canonical(raw_when)
        if person_id not in firsts or when < firsts[person_id]:
            firsts[person_id] = when
        if person_id not in lasts or when > lasts[person_id]:
            lasts[person_id] = when
        if (low is None or when >= low) and (high is None or when < high):
            counts[person_id] = counts.get(person_id, 0) + 1

    def inside(when: str) -> bool:
        return (low is None or when >= low) and (high is None or when < high)

    if occurred == "NOT":
        return lambda person_id: person_id not in counts
    if occurred == "FIRST":
        return {p for p, when in firsts.items() if inside(when)}
    if occurred == "LAST":
        return {p for p, when in lasts.items() if inside(when)}
    if compare(0, times):  # "fewer than 3" also holds for persons without any
        return lambda person_id: compare(counts.get(person_id, 0), times)
    return {p for p, n in counts.items() if compare(n, times)}


def _payload_test(condition: Any, now: datetime) -> Test:
    if not isinstance(condition, dict) or not isinstance(condition.get("attribute"), str):
        raise _bad("each payload condition needs an attribute, an operator and a value")
    op = _PAYLOAD.get(condition.get("operator", "EQ"))
    if op is None:
        raise _bad(f"payloadConditions.operator: one of {', '.join(_PAYLOAD)}")
    name, operand = condition["attribute"], _operand(condition.get("value"), now)
    return lambda props: _check(op, props.get(name, _MISSING), operand, False)


def query_persons(ctx: Context, query: dict[str, Any], *, page: int = 0, limit: int = 20) -> dict[str, Any]:
    """The persons matching ``query`` (a page of them, with the total)."""
    unknown = set(query) - {"filter", "events", "page", "limit"}
    if unknown:
        raise _bad(f"unknown query members {sorted(unknown)}: use filter and events")
    now = ctx.clock()
    events = query.get("events") or []
    if not isinstance(events, list):
        raise _bad("events is a list of event conditions")
    test = compile_filter(query["filter"], now) if query.get("filter") is not None else None
    conditions = [_event_test(ctx, condition, now) for condition in events]
    docs = _documents(ctx)
    matched = []
    for person_id, doc in docs.items():
        if test is not None and not test(doc):
            continue
        if all(person_id in c if isinstance(c, set) else c(person_id) for c in conditions):
            matched.append(person_id)
    chosen = matched[page * limit : (page + 1) * limit]
    persons = [{"id": p, **person_json(ctx, p, with_instances=True)} for p in chosen]
    return {"total": len(matched), "page": page, "limit": limit, "persons": persons}
