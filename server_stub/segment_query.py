"""The segment query language, parsed once for both evaluators (:mod:`server_stub.segments` in
Python, :mod:`server_stub.segments_sql` in SQL): a query is ``{"filter": CLAUSE, "events":
[CONDITION, ...]}``, the language of ``docs/segments.md``.

:func:`parse_query` checks a query and answers a :class:`Query`: a tree of :class:`All`,
:class:`AnyOf`, :class:`Leaf` (a field, an operator, an operand) and :class:`Exist` nodes, and
the event conditions with their windows resolved against ``now``. A bad query raises
``REQUEST_FORMAT_INVALID`` whose text starts with where the problem is (``filter.#and[1].tier``),
whatever JSON it is given (wrong types anywhere, numbers SQLite cannot hold, unknown operators).

A query is bounded before any work (:class:`QueryLimits`: nesting, conditions, values; the
body's size is checked by server_stub/segments_api.py), so the SQL made of it stays within
SQLite's limits and its cost is bounded by the number of persons; the time budget of
:meth:`server_stub.store.Store.read` bounds the rest.

Fields belong to the person or to one of the person's installations (:data:`PERSON_FIELDS`,
:data:`INSTALLATION_FIELDS`, custom attributes as ``customAttributes.<name>`` and
``installation.customAttributes.<name>``). How the two combine: a person matches when the person
conditions hold and one of the person's active installations makes the whole filter true with it
(docs/segments.md, "How person and installation conditions combine").
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from contract import ErrorCode, format_datetime
from contract.models import SYSTEM_DATA_FIELDS

from .errors import ApiError

__all__ = [
    "INSTALLATION_FIELDS",
    "LIMITS",
    "MISSING",
    "OPERATORS",
    "PERSON_FIELDS",
    "All",
    "AnyOf",
    "EventCondition",
    "Exist",
    "Field",
    "Leaf",
    "Node",
    "Query",
    "QueryLimits",
    "bad_query",
    "parse_query",
    "simple_key",
]

MISSING: Any = type("Missing", (), {"__repr__": lambda self: "MISSING"})()
"""A field the document does not have (a JSON ``null`` is not missing)."""

OPERATORS = ("#eq", "#ne", "#lt", "#lte", "#gt", "#gte", "#in", "#notIn", "#startsWith", "#endsWith", "#contains",
             "#notContain")  # fmt: skip
NEGATIVE = {"#ne": "#eq", "#notIn": "#in", "#notContain": "#contains"}
"""A negative operator holds where its positive one does not (a missing field included)."""

OPERATIONS = ("IS", "LESS_THAN", "LESS_OR_EQUAL", "GREATER_OR_EQUAL", "GREATER_THAN")
_PAYLOAD = {"EQ": "#eq", "NE": "#ne", "LT": "#lt", "LTE": "#lte", "GT": "#gt", "GTE": "#gte",
            "SW": "#startsWith", "EW": "#endsWith", "CON": "#contains"}  # fmt: skip
_DURATION = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?$")
_UNITS = {"DAYS": 86400, "HOURS": 3600, "MINUTES": 60}
_SIMPLE_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_INTEGER = (-(2**63), 2**63 - 1)
"""SQLite's INTEGER: a number operand outside it cannot be compared (custom attributes are within it)."""
_SHOWN = 80


@dataclass(frozen=True, slots=True)
class QueryLimits:
    """What one query may hold; over a limit is a 400 naming it (docs/segments.md, "Limits")."""

    body: int = 65_536
    """Bytes of a ``POST /inspect/persons/query`` or ``POST /inspect/segments`` body."""
    depth: int = 10
    """``#and``/``#or`` inside one another."""
    conditions: int = 100
    """Comparisons and ``#exist`` fields of the filter, event conditions and payload conditions, together."""
    values: int = 1000
    """Values of every ``#in``/``#notIn`` list of the query, together."""


LIMITS = QueryLimits()


@dataclass(slots=True)
class _Tally:
    """What a query holds so far, against its limits."""

    limits: QueryLimits
    conditions: int = 0
    values: int = 0

    def condition(self, where: str) -> None:
        self.conditions += 1
        if self.conditions > self.limits.conditions:
            raise bad_query(
                where,
                f"a query holds at most {self.limits.conditions} conditions (comparisons, #exist fields, event "
                "and payload conditions together): narrow it, or save parts as segments and ask about each",
            )

    def value(self, count: int, where: str) -> None:
        self.values += count
        if self.values > self.limits.values:
            raise bad_query(
                where, f"a query holds at most {self.limits.values} values in its #in and #notIn lists together"
            )


def shown(value: Any) -> str:
    """A client's value in an error text: a string quoted and cut, anything else by its JSON type."""
    if isinstance(value, str):
        return repr(value[:_SHOWN] + ("…" if len(value) > _SHOWN else ""))
    if value is None or isinstance(value, bool):
        return {None: "null", True: "true", False: "false"}[value]
    if isinstance(value, (int, float)) and abs(value) < 10**20:
        return repr(value)
    return json_name(value)


def json_name(value: Any) -> str:
    """The JSON type of a parsed value, as a client wrote it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _part(key: str) -> str:
    """A member name in a path of an error text (cut)."""
    return key if len(key) <= _SHOWN else key[:_SHOWN] + "…"


Store = Literal["json", "column", "flag", "tags", "identity", "identities"]


@dataclass(frozen=True, slots=True)
class Field:
    """Where a field's value lives, for both evaluators.

    ``store``: ``json`` a key of the row's JSON ``data`` (``custom``: inside ``customAttributes``);
    ``column`` a text column; ``flag`` a 0/1 column read as a boolean; ``tags`` the person's tag
    list; ``identity`` the externalUserId; ``identities`` the person's emails or phones (a list).
    """

    name: str
    scope: Literal["person", "installation", "event"]
    store: Store
    key: str
    """The JSON key, or the key of the evaluator's document (``emails``: identities of kind ``email``)."""
    custom: bool = False
    fold: bool = False
    """Equality ignores case (``gender``, ``platform``)."""
    default: Any = MISSING
    """The value when the key is absent (``regEnabled`` is true unless the SDK said otherwise)."""

    @property
    def is_list(self) -> bool:
        return self.store in ("tags", "identities")


def simple_key(key: str) -> bool:
    """Whether a JSON key can be written in a path literal (``$.customAttributes.<key>``) as it is."""
    return _SIMPLE_KEY.fullmatch(key) is not None


def _person(name: str, store: Store = "json", key: str | None = None, **extra: Any) -> Field:
    return Field(name, "person", store, key or name, **extra)


def _installation(name: str, store: Store = "json", key: str | None = None, **extra: Any) -> Field:
    return Field(name, "installation", store, key or name, **extra)


PERSON_FIELDS: dict[str, Field] = {
    "firstName": _person("firstName"),
    "lastName": _person("lastName"),
    "middleName": _person("middleName"),
    "gender": _person("gender", fold=True),
    "birthday": _person("birthday"),
    "type": _person("type", "column"),
    "tags": _person("tags", "tags"),
    "externalUserId": _person("externalUserId", "identity"),
    "emails": _person("emails", "identities"),
    "phones": _person("phones", "identities"),
}
_PERSON_ALIASES = {"birthDate": "birthday", "email": "emails", "phone": "phones"}

INSTALLATION_FIELDS: dict[str, Field] = {
    "platform": _installation("platform", "column", fold=True),
    "applicationCode": _installation("applicationCode", "column"),
    "pushRegistrationId": _installation("pushRegistrationId", "column"),
    "isPrimary": _installation("isPrimary", "flag"),
    "regEnabled": _installation("regEnabled", default=True),
    "applicationUserId": _installation("applicationUserId"),
    **{name: _installation(name) for name in SYSTEM_DATA_FIELDS},
}
_INSTALLATION_ALIASES = {
    "primary": "isPrimary",
    "primaryDevice": "isPrimary",
    "pushRegistrationEnabled": "regEnabled",
    "applicationVersion": "appVersion",
    "timezone": "deviceTimezoneOffset",
    "pushRegId": "pushRegistrationId",
    "applicationId": "applicationCode",
}
_CUSTOM_PREFIXES = ("customAttributes.", "data.", "data\u0001")


@dataclass(frozen=True, slots=True)
class Leaf:
    field: Field
    op: str
    operand: Any


@dataclass(frozen=True, slots=True)
class Exist:
    field: Field
    present: bool


@dataclass(frozen=True, slots=True)
class All:
    """Every part holds (no parts: always)."""

    parts: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    parts: tuple[Node, ...]


Node = Leaf | Exist | All | AnyOf


@dataclass(frozen=True, slots=True)
class EventCondition:
    """One event condition with its window ``[low, high)`` resolved (canonical timestamps, None: open)."""

    definition: str
    occurred: Literal["ALL", "FIRST", "LAST", "NOT"]
    low: str | None
    high: str | None
    operation: str
    times: int
    payload: tuple[Leaf, ...]

    def counts(self, n: int) -> bool:
        """Whether ``n`` occurrences in the window meet the occurrence condition."""
        return {
            "IS": n == self.times,
            "LESS_THAN": n < self.times,
            "LESS_OR_EQUAL": n <= self.times,
            "GREATER_OR_EQUAL": n >= self.times,
            "GREATER_THAN": n > self.times,
        }[self.operation]


@dataclass(frozen=True, slots=True)
class Query:
    filter: Node
    events: tuple[EventCondition, ...]

    def scopes(self) -> set[str]:
        return scopes(self.filter)

    @property
    def installation_conditions(self) -> bool:
        return "installation" in self.scopes()

    @property
    def anonymous(self) -> bool:
        """Whether installations without a person can be reached: no person condition, no event condition."""
        return not self.events and "person" not in self.scopes()


def leaves(node: Node) -> Iterator[Leaf | Exist]:
    if isinstance(node, (All, AnyOf)):
        for part in node.parts:
            yield from leaves(part)
    else:
        yield node


def scopes(node: Node) -> set[str]:
    return {leaf.field.scope for leaf in leaves(node)}


def bad_query(where: str, text: str) -> ApiError:
    return ApiError(ErrorCode.REQUEST_FORMAT_INVALID, f"{where}: {text}" if where else text)


def _custom(name: str, scope: Literal["person", "installation", "event"], where: str) -> Field:
    if not name:
        raise bad_query(where, "name the custom attribute after the prefix, e.g. customAttributes.tier")
    return Field(f"customAttributes.{name}" if scope == "person" else f"installation.customAttributes.{name}",
                 scope, "json", name, custom=True)  # fmt: skip


def resolve_field(name: str, where: str) -> Field:
    """The field a name in a filter means; an unknown name is a 400 listing the known ones."""
    for prefix in _CUSTOM_PREFIXES:
        if name.startswith(prefix):
            return _custom(name[len(prefix) :], "person", where)
    plain = name.removeprefix("installation.")
    if plain != name:
        for prefix in _CUSTOM_PREFIXES:
            if plain.startswith(prefix):
                return _custom(plain[len(prefix) :], "installation", where)
    plain = _INSTALLATION_ALIASES.get(plain, plain)
    if plain in INSTALLATION_FIELDS:
        return INSTALLATION_FIELDS[plain]
    if plain == name:
        found = PERSON_FIELDS.get(_PERSON_ALIASES.get(name, name))
        if found is not None:
            return found
    raise bad_query(
        where,
        f"unknown field {name[:80]!r}: person fields are {', '.join(PERSON_FIELDS)} and customAttributes.<name>; "
        f"installation fields are {', '.join(INSTALLATION_FIELDS)} and installation.customAttributes.<name>",
    )


def relative_now(value: Any, now: datetime, where: str) -> Any:
    """``{"#relNow": "-P7D"}`` as the timestamp now plus the duration; anything else as it is."""
    if isinstance(value, dict) and set(value) == {"#relNow"}:
        text = value["#relNow"]
        match = _DURATION.match(text) if isinstance(text, str) else None
        if not match or not any(match.groups()[1:]):
            raise bad_query(where, f"#relNow {shown(text)}: write an ISO-8601 duration such as -P7D or PT12H")
        sign, days, hours, minutes = match.groups()
        try:
            delta = timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0))
            return format_datetime(now - delta if sign else now + delta)
        except (OverflowError, ValueError):
            raise bad_query(where, f"#relNow {shown(text)} is out of range (years 1 to 9999)") from None
    return value


def _scalar(value: Any, where: str) -> Any:
    if isinstance(value, (dict, list)):
        what = json_name(value)
        raise bad_query(
            where, f"compare with a string, a number, a boolean or null, not {what} (#in and #notIn take a list)"
        )
    if isinstance(value, float) and not math.isfinite(value):
        raise bad_query(where, "a number must be finite (NaN and Infinity compare with nothing)")
    if isinstance(value, int) and not isinstance(value, bool) and not _INTEGER[0] <= value <= _INTEGER[1]:
        raise bad_query(where, "a whole number is within -2^63 and 2^63-1 (as custom attributes are)")
    return value


def _check_operator(op: str, where: str) -> None:
    if op not in OPERATORS:
        raise bad_query(
            where, f"unknown operator {shown(op)}: use one of {', '.join(OPERATORS)}, #and, #or, #exist, #notExist"
        )


def _leaf(field: Field, op: str, operand: Any, now: datetime, where: str, tally: _Tally) -> Leaf:
    _check_operator(op, where)
    tally.condition(where)
    operand = relative_now(operand, now, where)
    if op in ("#in", "#notIn"):
        if not isinstance(operand, list):
            raise bad_query(where, f"#in and #notIn take a list, not {json_name(operand)}")
        tally.value(len(operand), where)
        operand = tuple(_scalar(item, f"{where}[{n}]") for n, item in enumerate(operand))
    else:
        operand = _scalar(operand, where)
    return Leaf(field, op, operand)


def _exist(value: Any, present: bool, where: str, tally: _Tally) -> Node:
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        names = value
    elif isinstance(value, dict) and value:
        names = [k for k, v in value.items() if v]
    else:
        raise bad_query(where, f"#exist takes a field name, a list of names or {{name: true}}, not {json_name(value)}")
    nodes = []
    for name in names:
        here = f"{where}.{_part(name)}"
        tally.condition(here)
        nodes.append(Exist(resolve_field(name, here), present))
    return All(tuple(nodes))


def parse_filter(
    clause: Any, now: datetime, where: str = "filter", depth: int = 0, tally: _Tally | None = None
) -> Node:
    """A filter clause as a tree; ``REQUEST_FORMAT_INVALID`` names the bad clause."""
    tally = _Tally(LIMITS) if tally is None else tally
    if depth > tally.limits.depth:
        raise bad_query(where, f"the filter nests #and and #or more than {tally.limits.depth} deep")
    if not isinstance(clause, dict):
        raise bad_query(where, f"a filter clause is a JSON object, not {json_name(clause)}")
    parts: list[Node] = []
    for key, value in clause.items():
        here = f"{where}.{_part(key)}"
        if key in ("#and", "#or"):
            if not isinstance(value, list) or not value:
                raise bad_query(here, f"{key} takes a non-empty list of clauses")
            inner = tuple(parse_filter(part, now, f"{here}[{n}]", depth + 1, tally) for n, part in enumerate(value))
            parts.append(All(inner) if key == "#and" else AnyOf(inner))
        elif key in ("#exist", "#exists", "#notExist"):
            parts.append(_exist(value, key != "#notExist", here, tally))
        elif key.startswith("#"):
            _check_operator(key, here)
            if not isinstance(value, dict) or not value:
                raise bad_query(here, f"{key} takes {{field: value}}, e.g. {{{key!r}: {{'firstName': 'Ana'}}}}")
            for name, operand in value.items():
                there = f"{here}.{_part(name)}"
                parts.append(_leaf(resolve_field(name, there), key, operand, now, there, tally))
        elif isinstance(value, dict) and value and all(k.startswith("#") for k in value) and set(value) != {"#relNow"}:
            for op in value:
                _check_operator(op, f"{here}.{_part(op)}")
            field = resolve_field(key, here)
            parts.extend(_leaf(field, op, operand, now, f"{here}.{op}", tally) for op, operand in value.items())
        else:
            parts.append(_leaf(resolve_field(key, here), "#eq", value, now, here, tally))
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_query(where, f"must be a number, not {json_name(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise bad_query(where, "must be a finite number")
    if isinstance(value, int) and not _INTEGER[0] <= value <= _INTEGER[1]:
        raise bad_query(where, f"{shown(value)} is out of range")
    return float(value)


def _object(value: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_query(where, f"must be an object, not {json_name(value)}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        names = [_part(name) for name in unknown[:5]]
        raise bad_query(where, f"unknown members {names}{' ...' if len(unknown) > 5 else ''}: use {', '.join(allowed)}")
    return value


def _choice(value: Any, choices: tuple[str, ...] | dict[str, Any], where: str) -> str:
    """``value`` if it is one of ``choices`` (strings), else a 400 listing them."""
    if not isinstance(value, str) or value not in choices:
        raise bad_query(where, f"{shown(value)}: one of {', '.join(choices)}")
    return value


def _window(timeline: dict[str, Any], now: datetime, where: str) -> tuple[str | None, str | None]:
    """``[low, high)`` as canonical timestamps (None: open)."""
    operator = _choice(timeline.get("operator", "EMPTY"), _WINDOWS, f"{where}.operator")
    if operator == "EMPTY":
        return None, None
    absolute = operator.endswith("_ABS")
    base = operator.removesuffix("_ABS")
    unit = 0 if absolute else _UNITS[_choice(timeline.get("units", "DAYS"), _UNITS, f"{where}.units")]

    def moment(key: str) -> str:
        value = _number(timeline.get(key), f"{where}.{key}")
        try:
            if absolute:
                return format_datetime(datetime.fromtimestamp(value, UTC))
            return format_datetime(now - timedelta(seconds=value * unit))
        except (OverflowError, OSError, ValueError):
            raise bad_query(f"{where}.{key}", f"{value:g} is out of range") from None

    if base == "AFTER":
        return moment("start"), None
    if base == "BEFORE":
        return None, moment("start")
    first, second = sorted((moment("start"), moment("end")))
    return first, second


_WINDOWS = ("EMPTY", "AFTER", "BEFORE", "BETWEEN", "AFTER_ABS", "BEFORE_ABS", "BETWEEN_ABS")


def _payload(condition: Any, now: datetime, where: str, tally: _Tally) -> Leaf:
    if not isinstance(condition, dict) or not isinstance(condition.get("attribute"), str):
        raise bad_query(where, "each payload condition needs an attribute, an operator and a value")
    _object(condition, ("attribute", "operator", "value"), where)
    op = _PAYLOAD[_choice(condition.get("operator", "EQ"), _PAYLOAD, f"{where}.operator")]
    name = condition["attribute"]
    if not name:
        raise bad_query(f"{where}.attribute", "name the event property")
    return _leaf(Field(name, "event", "json", name), op, condition.get("value"), now, f"{where}.value", tally)


def parse_event(condition: Any, now: datetime, where: str, tally: _Tally | None = None) -> EventCondition:
    tally = _Tally(LIMITS) if tally is None else tally
    if not isinstance(condition, dict) or not isinstance(condition.get("definitionId"), str):
        raise bad_query(where, "each event condition needs a definitionId")
    _object(condition, ("definitionId", "occurrenceCondition", "timelineCondition", "payloadConditions"), where)
    tally.condition(where)
    timeline = _object(
        condition.get("timelineCondition"),
        ("occurred", "operator", "start", "end", "units"),
        f"{where}.timelineCondition",
    )
    occurrence = _object(condition.get("occurrenceCondition"), ("operation", "times"), f"{where}.occurrenceCondition")
    occurred = timeline.get("occurred", "ALL")
    if occurred not in ("ALL", "FIRST", "LAST", "NOT"):  # a list or an object is not in it either
        raise bad_query(f"{where}.timelineCondition.occurred", "ALL, FIRST, LAST or NOT")
    operation = _choice(
        occurrence.get("operation", "GREATER_OR_EQUAL"), OPERATIONS, f"{where}.occurrenceCondition.operation"
    )
    times_value = _number(occurrence.get("times", 1), f"{where}.occurrenceCondition.times")
    if not -(2**62) <= times_value <= 2**62:
        raise bad_query(f"{where}.occurrenceCondition.times", "is out of range")
    if times_value != int(times_value):
        raise bad_query(f"{where}.occurrenceCondition.times", "is a whole number of occurrences")
    low, high = _window(timeline, now, f"{where}.timelineCondition")
    payload = condition.get("payloadConditions")
    payload = [] if payload is None else payload
    if not isinstance(payload, list):
        raise bad_query(f"{where}.payloadConditions", "is a list of {attribute, operator, value}")
    leaves_ = tuple(_payload(p, now, f"{where}.payloadConditions[{n}]", tally) for n, p in enumerate(payload))
    return EventCondition(condition["definitionId"], occurred, low, high, operation, int(times_value), leaves_)


def parse_query(query: Any, now: datetime, limits: QueryLimits = LIMITS) -> Query:
    """A query checked and resolved against ``now``; ``REQUEST_FORMAT_INVALID`` names what is wrong."""
    if not isinstance(query, dict):
        raise bad_query("query", f"a query is a JSON object {{filter?, events?}}, not {json_name(query)}")
    unknown = sorted(set(query) - {"filter", "events"})
    if unknown:
        names = [_part(name) for name in unknown[:5]]
        raise bad_query("query", f"unknown query members {names}: use filter and events")
    tally = _Tally(limits)
    clause = query.get("filter")
    node = All(()) if clause is None else parse_filter(clause, now, tally=tally)
    events = query.get("events")
    events = [] if events is None else events
    if not isinstance(events, list):
        raise bad_query("events", f"events is a list of event conditions, not {json_name(events)}")
    return Query(node, tuple(parse_event(c, now, f"events[{n}]", tally) for n, c in enumerate(events)))
