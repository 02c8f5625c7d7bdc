"""The segment query language, parsed once for both evaluators (:mod:`server_stub.segments` in
Python, :mod:`server_stub.segments_sql` in SQL): a query is ``{"filter": CLAUSE, "events":
[CONDITION, ...]}``, the language of ``docs/segments.md``.

:func:`parse_query` checks a query and answers a :class:`Query`: a tree of :class:`All`,
:class:`AnyOf`, :class:`Leaf` (a field, an operator, an operand) and :class:`Exist` nodes, and
the event conditions with their windows resolved against ``now``. A bad query raises
``REQUEST_FORMAT_INVALID`` whose text starts with where the problem is (``filter.#and[1].tier``).

Fields belong to the person or to one of the person's installations (:data:`PERSON_FIELDS`,
:data:`INSTALLATION_FIELDS`, custom attributes as ``customAttributes.<name>`` and
``installation.customAttributes.<name>``). How the two combine: a person matches when the person
conditions hold and one of the person's active installations makes the whole filter true with it
(docs/segments.md, "How person and installation conditions combine").
"""

from __future__ import annotations

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
_DEPTH = 32

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
        match = _DURATION.match(str(value["#relNow"]))
        if not match or not any(match.groups()[1:]):
            raise bad_query(where, f"#relNow {value['#relNow']!r}: write an ISO-8601 duration such as -P7D or PT12H")
        sign, days, hours, minutes = match.groups()
        delta = timedelta(days=int(days or 0), hours=int(hours or 0), minutes=int(minutes or 0))
        return format_datetime(now - delta if sign else now + delta)
    return value


def _scalar(value: Any, where: str) -> Any:
    if isinstance(value, (dict, list)):
        raise bad_query(where, "compare with a string, a number, a boolean or null (#in and #notIn take a list)")
    if isinstance(value, float) and value != value:  # pragma: no cover - JSON has no NaN
        raise bad_query(where, "NaN is not a value")
    return value


def _check_operator(op: str, where: str) -> None:
    if op not in OPERATORS:
        raise bad_query(
            where, f"unknown operator {op!r}: use one of {', '.join(OPERATORS)}, #and, #or, #exist, #notExist"
        )


def _leaf(field: Field, op: str, operand: Any, now: datetime, where: str) -> Leaf:
    _check_operator(op, where)
    operand = relative_now(operand, now, where)
    if op in ("#in", "#notIn"):
        if not isinstance(operand, list):
            raise bad_query(where, "#in and #notIn take a list")
        operand = tuple(_scalar(item, f"{where}[{n}]") for n, item in enumerate(operand))
    else:
        operand = _scalar(operand, where)
    return Leaf(field, op, operand)


def _exist(value: Any, present: bool, where: str) -> Node:
    if isinstance(value, str):
        names = [value]
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        names = value
    elif isinstance(value, dict) and value:
        names = [k for k, v in value.items() if v]
    else:
        raise bad_query(where, "#exist takes a field name, a list of names or {name: true}")
    return All(tuple(Exist(resolve_field(name, f"{where}.{name}"), present) for name in names))


def parse_filter(clause: Any, now: datetime, where: str = "filter", depth: int = 0) -> Node:
    """A filter clause as a tree; ``REQUEST_FORMAT_INVALID`` names the bad clause."""
    if depth > _DEPTH:
        raise bad_query(where, "the filter is nested too deeply")
    if not isinstance(clause, dict):
        raise bad_query(where, f"a filter clause is a JSON object, not {type(clause).__name__}")
    parts: list[Node] = []
    for key, value in clause.items():
        here = f"{where}.{key}"
        if key in ("#and", "#or"):
            if not isinstance(value, list) or not value:
                raise bad_query(here, f"{key} takes a non-empty list of clauses")
            inner = tuple(parse_filter(part, now, f"{here}[{n}]", depth + 1) for n, part in enumerate(value))
            parts.append(All(inner) if key == "#and" else AnyOf(inner))
        elif key in ("#exist", "#exists", "#notExist"):
            parts.append(_exist(value, key != "#notExist", here))
        elif key.startswith("#"):
            if not isinstance(value, dict) or not value:
                raise bad_query(here, f"{key} takes {{field: value}}, e.g. {{{key!r}: {{'firstName': 'Ana'}}}}")
            _check_operator(key, here)
            for name, operand in value.items():
                parts.append(_leaf(resolve_field(name, f"{here}.{name}"), key, operand, now, f"{here}.{name}"))
        elif isinstance(value, dict) and value and all(k.startswith("#") for k in value) and set(value) != {"#relNow"}:
            for op in value:
                _check_operator(op, f"{here}.{op}")
            field = resolve_field(key, here)
            parts.extend(_leaf(field, op, operand, now, f"{here}.{op}") for op, operand in value.items())
        else:
            parts.append(_leaf(resolve_field(key, here), "#eq", value, now, here))
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_query(where, "must be a number")
    return float(value)


def _object(value: Any, allowed: tuple[str, ...], where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise bad_query(where, "must be an object")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise bad_query(where, f"unknown members {unknown}: use {', '.join(allowed)}")
    return value


def _window(timeline: dict[str, Any], now: datetime, where: str) -> tuple[str | None, str | None]:
    """``[low, high)`` as canonical timestamps (None: open)."""
    operator = timeline.get("operator", "EMPTY")
    if operator == "EMPTY":
        return None, None
    absolute = isinstance(operator, str) and operator.endswith("_ABS")
    base = operator.removesuffix("_ABS") if isinstance(operator, str) else None
    if base not in ("AFTER", "BEFORE", "BETWEEN"):
        raise bad_query(f"{where}.operator", f"{operator!r}: EMPTY, AFTER, BEFORE, BETWEEN or their _ABS forms")

    def moment(key: str) -> str:
        value = _number(timeline.get(key), f"{where}.{key}")
        try:
            if absolute:
                return format_datetime(datetime.fromtimestamp(value, UTC))
            unit = _UNITS.get(timeline.get("units", "DAYS"))
            if unit is None:
                raise bad_query(f"{where}.units", "DAYS, HOURS or MINUTES")
            return format_datetime(now - timedelta(seconds=value * unit))
        except (OverflowError, OSError, ValueError):
            raise bad_query(f"{where}.{key}", f"{value} is out of range") from None

    if base == "AFTER":
        return moment("start"), None
    if base == "BEFORE":
        return None, moment("start")
    first, second = sorted((moment("start"), moment("end")))
    return first, second


def _payload(condition: Any, now: datetime, where: str) -> Leaf:
    if not isinstance(condition, dict) or not isinstance(condition.get("attribute"), str):
        raise bad_query(where, "each payload condition needs an attribute, an operator and a value")
    _object(condition, ("attribute", "operator", "value"), where)
    op = _PAYLOAD.get(condition.get("operator", "EQ"))
    if op is None:
        raise bad_query(f"{where}.operator", f"one of {', '.join(_PAYLOAD)}")
    name = condition["attribute"]
    if not name:
        raise bad_query(f"{where}.attribute", "name the event property")
    return _leaf(Field(name, "event", "json", name), op, condition.get("value"), now, f"{where}.value")


def parse_event(condition: Any, now: datetime, where: str) -> EventCondition:
    if not isinstance(condition, dict) or not isinstance(condition.get("definitionId"), str):
        raise bad_query(where, "each event condition needs a definitionId")
    _object(condition, ("definitionId", "occurrenceCondition", "timelineCondition", "payloadConditions"), where)
    timeline = _object(
        condition.get("timelineCondition"),
        ("occurred", "operator", "start", "end", "units"),
        f"{where}.timelineCondition",
    )
    occurrence = _object(condition.get("occurrenceCondition"), ("operation", "times"), f"{where}.occurrenceCondition")
    occurred = timeline.get("occurred", "ALL")
    if occurred not in ("ALL", "FIRST", "LAST", "NOT"):
        raise bad_query(f"{where}.timelineCondition.occurred", "ALL, FIRST, LAST or NOT")
    operation = occurrence.get("operation", "GREATER_OR_EQUAL")
    if operation not in OPERATIONS:
        raise bad_query(f"{where}.occurrenceCondition.operation", f"one of {', '.join(OPERATIONS)}")
    times_value = _number(occurrence.get("times", 1), f"{where}.occurrenceCondition.times")
    if not -(2**62) <= times_value <= 2**62:
        raise bad_query(f"{where}.occurrenceCondition.times", "is out of range")
    low, high = _window(timeline, now, f"{where}.timelineCondition")
    payload = condition.get("payloadConditions")
    payload = [] if payload is None else payload
    if not isinstance(payload, list):
        raise bad_query(f"{where}.payloadConditions", "is a list of {attribute, operator, value}")
    leaves_ = tuple(_payload(p, now, f"{where}.payloadConditions[{n}]") for n, p in enumerate(payload))
    return EventCondition(condition["definitionId"], occurred, low, high, operation, int(times_value), leaves_)


def parse_query(query: Any, now: datetime) -> Query:
    """A query checked and resolved against ``now``; ``REQUEST_FORMAT_INVALID`` names what is wrong."""
    if not isinstance(query, dict):
        raise bad_query("query", "a query is a JSON object {filter?, events?}")
    unknown = set(query) - {"filter", "events"}
    if unknown:
        raise bad_query("query", f"unknown query members {sorted(unknown)}: use filter and events")
    clause = query.get("filter")
    node = All(()) if clause is None else parse_filter(clause, now)
    events = query.get("events")
    events = [] if events is None else events
    if not isinstance(events, list):
        raise bad_query("events", "events is a list of event conditions")
    return Query(node, tuple(parse_event(c, now, f"events[{n}]") for n, c in enumerate(events)))
