"""The segment query language compiled to SQL: one parameterised statement per question (how many
persons, which page of them, how many installations, which registrations), over the store's
tables, answering what the Python evaluator (:func:`server_stub.segments.evaluate_python`) answers.

Values are always bound parameters. The only text built from a query is a JSON path literal
``'$.<key>'`` or ``'$.customAttributes.<key>'`` for a key of ``[A-Za-z_][A-Za-z0-9_]*`` (other keys are
looked up through ``json_each`` with the key bound), so that the expression is the one an index
holds (:func:`index_statements`).

Each condition has two forms: the *set* form (``p.id IN (SELECT person_id ...)``) that counts
fast, built once per statement, and the *probe* form (``EXISTS (... WHERE person_id = p.id)``)
that walks the persons in id order and stops at the end of a page; a count of ``NOT IN (S)`` is
a count without it less one with ``IN (S)``. Indexes: ``person_tags`` (kept by triggers),
``events_segments``, ``installations_platform`` and ``installations_segments`` (store.py), and
one ``seg_p_*``/``seg_i_*`` expression index per attribute that a saved segment compares
(:func:`index_statements`, built when the segment is saved).

JSON types follow the Python evaluator: ``json_type`` tells a string from a number from a
boolean, every index holds ``(json_extract, json_type)`` of its path, so the type test is read
from the index too.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .segment_query import (
    NEGATIVE,
    All,
    AnyOf,
    EventCondition,
    Exist,
    Field,
    Leaf,
    Node,
    Query,
    leaves,
    scopes,
    simple_key,
)

__all__ = [
    "count_installations",
    "count_persons",
    "index_statements",
    "installation_page",
    "page_persons",
    "reached_installations",
    "registrations",
]

_COLUMNS = {"platform": "platform", "applicationCode": "app_code", "pushRegistrationId": "reg_id",
            "isPrimary": "is_primary", "type": "type"}  # fmt: skip
_ALIAS = {"person": "p", "installation": "i", "event": "e"}
_DOCUMENT = {"person": "data", "installation": "data", "event": "properties"}
_NUMBER = "('integer','real')"


@dataclass(slots=True)
class _Source:
    """A scalar value in SQL: ``v`` its value, ``t`` its JSON type (None: a text column, never null)."""

    v: str
    t: str | None
    flag: bool = False


@dataclass(slots=True)
class _Sql:
    """Builds one statement: named parameters, so the order pieces are built in does not matter."""

    account: str
    params: dict[str, Any] = field(default_factory=dict)
    pid: str = "p.id"
    """The person id the set and probe forms test (``i.person_id`` where no person row is joined)."""

    def bind(self, value: Any) -> str:
        name = f"v{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def binds(self, values: Iterable[Any]) -> str:
        """``:v1, :v2, ...`` of the distinct values, for ``IN (...)``."""
        return ", ".join(self.bind(value) for value in dict.fromkeys(values))

    # --- sources --------------------------------------------------------------------------
    def source(self, f: Field) -> _Source:
        alias = _ALIAS[f.scope]
        if f.store == "column":
            return _Source(f"{alias}.{_COLUMNS[f.key]}", None)
        if f.store == "flag":
            return _Source(f"{alias}.{_COLUMNS[f.key]}", None, flag=True)
        document = f"{alias}.{_DOCUMENT[f.scope]}"
        if simple_key(f.key):
            path = f"'$.customAttributes.{f.key}'" if f.custom else f"'$.{f.key}'"
            v, t = f"json_extract({document}, {path})", f"json_type({document}, {path})"
        else:
            container = "'$.customAttributes'" if f.custom else "'$'"
            key = self.bind(f.key)
            v = f"(SELECT value FROM json_each({document}, {container}) WHERE key = {key})"
            t = f"(SELECT type FROM json_each({document}, {container}) WHERE key = {key})"
        if f.default is True:
            return _Source(f"coalesce({v}, 1)", f"coalesce({t}, 'true')")
        return _Source(v, t)

    # --- one scalar against one operand ---------------------------------------------------
    def equal(self, s: _Source, o: Any, fold: bool) -> str:
        if o is None:
            return "0"
        if s.flag:
            return ("(" + s.v + " <> 0)" if o else "(" + s.v + " = 0)") if isinstance(o, bool) else "0"
        if isinstance(o, bool):
            return f"({s.t} = '{'true' if o else 'false'}')" if s.t else "0"
        if isinstance(o, (int, float)):
            return f"({s.v} = {self.bind(o)} AND {s.t} IN {_NUMBER})" if s.t else "0"
        text = f" AND {s.t} = 'text'" if s.t else ""
        if fold and s.t is None:  # a column stored lower-case (platform)
            return f"({s.v} = {self.bind(o.lower())})"
        if fold:
            return f"(lower({s.v}) = {self.bind(o.lower())}{text})"
        return f"({s.v} = {self.bind(o)}{text})"

    def equal_any(self, s: _Source, items: Sequence[Any], fold: bool) -> str:
        """:meth:`equal` to one of ``items``: one ``IN (...)`` per type (an OR of a thousand terms is
        slow to prepare and deeper than SQLite takes)."""
        parts = [self.equal(s, item, fold) for item in dict.fromkeys(i for i in items if isinstance(i, bool))]
        texts = [item for item in items if isinstance(item, str)]
        numbers = [item for item in items if isinstance(item, (int, float)) and not isinstance(item, bool)]
        if texts and not s.flag:
            text = f" AND {s.t} = 'text'" if s.t else ""
            if fold:
                shown = s.v if s.t is None else f"lower({s.v})"  # a column is stored lower-case (platform)
                parts.append(f"({shown} IN ({self.binds(t.lower() for t in texts)}){text})")
            else:
                parts.append(f"({s.v} IN ({self.binds(texts)}){text})")
        if numbers and s.t and not s.flag:
            parts.append(f"({s.v} IN ({self.binds(numbers)}) AND {s.t} IN {_NUMBER})")
        return _any(parts)

    def scalar(self, s: _Source, op: str, o: Any, fold: bool) -> str:
        """The positive form of ``op`` (never a negative operator); may be NULL where false."""
        if op == "#eq":
            return self.equal(s, o, fold)
        if op == "#in":
            return self.equal_any(s, o, fold)
        if s.flag or not isinstance(o, (str, int, float)) or isinstance(o, bool):
            return "0"  # a boolean is only equal or not; null compares with nothing
        text = f" AND {s.t} = 'text'" if s.t else ""
        if op in ("#contains", "#startsWith", "#endsWith"):
            if not isinstance(o, str):
                return "0"
            if op == "#contains":
                return f"(instr({s.v}, {self.bind(o)}) > 0{text})"
            if not o:
                return f"({s.t} = 'text')" if s.t else "1"
            if op == "#startsWith":
                return f"({s.v} >= {self.bind(o)} AND substr({s.v}, 1, {self.bind(len(o))}) = {self.bind(o)}{text})"
            return f"(substr({s.v}, -{self.bind(len(o))}) = {self.bind(o)}{text})"
        sign = {"#lt": "<", "#lte": "<=", "#gt": ">", "#gte": ">="}[op]
        if not isinstance(o, str):
            return f"({s.v} {sign} {self.bind(o)} AND {s.t} IN {_NUMBER})" if s.t else "0"
        if len(o) > 10 and o[10] == "T" and op in ("#lt", "#gte"):
            # a 10-character value (a date) compares with the datetime's date: equal to it is not before
            day = self.bind(o[:10])
            if op == "#lt":
                return f"({s.v} < {self.bind(o)} AND {s.v} <> {day}{text})"
            return f"(({s.v} >= {self.bind(o)} OR {s.v} = {day}){text})"
        return f"({s.v} {sign} {self.bind(o)}{text})"

    # --- lists: tags, emails, phones ------------------------------------------------------
    def member(self, f: Field, items: Sequence[Any], probe: bool) -> str:
        """The person's list holds one of ``items`` (the strings among them)."""
        texts = [item for item in items if isinstance(item, str)]
        if not texts:
            return "0"
        if f.store == "tags":
            tags = self.binds(texts)
            if probe:
                return f"EXISTS (SELECT 1 FROM person_tags t WHERE t.tag IN ({tags}) AND t.person_id = {self.pid})"
            return f"{self.pid} IN (SELECT t.person_id FROM person_tags t WHERE t.tag IN ({tags}))"
        kind = f.key.removesuffix("s")  # emails: identities of kind email
        values = [t.lower() for t in texts] if kind == "email" else texts
        # the value (lower-case for an email) for the index; the display is what the list holds
        where = (
            f"x.account = {self.bind(self.account)} AND x.kind = '{kind}' AND x.value IN ({self.binds(values)})"
            f" AND x.display IN ({self.binds(texts)})"
        )
        if probe:
            return f"EXISTS (SELECT 1 FROM identities x WHERE {where} AND x.person_id = {self.pid})"
        return f"{self.pid} IN (SELECT x.person_id FROM identities x WHERE {where})"

    def listed(self, f: Field, op: str, o: Any, probe: bool) -> str:
        if op in ("#eq", "#contains"):
            return self.member(f, [o], probe)
        if op == "#in":
            return self.member(f, o, probe)
        return "0"  # a list is not ordered against, nor starts with, a value

    def identity(self, condition: str, probe: bool) -> str:
        """The person's externalUserId (``x.value``) meets ``condition``."""
        if condition == "0":
            return "0"
        if probe:
            return (
                f"EXISTS (SELECT 1 FROM identities x WHERE x.person_id = {self.pid} AND x.kind = 'externalUserId'"
                f" AND x.account = {self.bind(self.account)} AND {condition})"
            )
        return (
            f"{self.pid} IN (SELECT x.person_id FROM identities x WHERE x.account = {self.bind(self.account)}"
            f" AND x.kind = 'externalUserId' AND {condition})"
        )

    # --- nodes ----------------------------------------------------------------------------
    def leaf(self, leaf: Leaf, probe: bool) -> str:
        f = leaf.field
        op = NEGATIVE.get(leaf.op, leaf.op)
        if f.is_list:
            positive = self.listed(f, op, leaf.operand, probe)
        elif f.store == "identity":
            positive = self.identity(self.scalar(_Source("x.value", None), op, leaf.operand, False), probe)
        else:
            positive = self.scalar(self.source(f), op, leaf.operand, f.fold)
        return _not(positive) if leaf.op in NEGATIVE else positive

    def exist(self, node: Exist, probe: bool) -> str:
        f = node.field
        if f.store == "tags":
            present = "coalesce(json_array_length(p.data, '$.tags') > 0, 0)"
        elif f.store == "identities":
            kind = f"x.kind = '{f.key.removesuffix('s')}'"
            if probe:
                present = f"EXISTS (SELECT 1 FROM identities x WHERE x.person_id = {self.pid} AND {kind})"
            else:
                present = (
                    f"{self.pid} IN (SELECT x.person_id FROM identities x WHERE x.account = {self.bind(self.account)}"
                    f" AND {kind})"
                )
        elif f.store == "identity":
            present = self.identity("x.value <> ''", probe)
        else:
            s = self.source(f)
            if s.flag:
                present = "1"
            elif s.t is None:
                present = f"({s.v} <> '')"
            else:
                present = (
                    f"CASE coalesce({s.t}, 'null') WHEN 'null' THEN 0 WHEN 'text' THEN {s.v} <> ''"
                    f" WHEN 'array' THEN json_array_length({s.v}) > 0 ELSE 1 END"
                )
        return present if node.present else _not(present)

    def node(self, node: Node, probe: bool) -> str:
        if isinstance(node, All):
            return _all(self.node(part, probe) for part in node.parts)
        if isinstance(node, AnyOf):
            return _any(self.node(part, probe) for part in node.parts)
        if isinstance(node, Exist):
            return self.exist(node, probe)
        return self.leaf(node, probe)

    # --- event conditions -----------------------------------------------------------------
    def event(self, c: EventCondition, probe: bool) -> str:
        base = [
            f"e.account = {self.bind(self.account)}",
            f"lower(e.definition_id) = lower({self.bind(c.definition)})",
            "e.person_id IS NOT NULL",
            *(self.leaf(leaf, probe) for leaf in c.payload),
        ]
        window = []
        if c.low is not None:
            window.append(f"e.occurred >= {self.bind(c.low)}")
        if c.high is not None:
            window.append(f"e.occurred < {self.bind(c.high)}")
        rows = "FROM events e INDEXED BY events_segments WHERE "
        mine = f"e.person_id = {self.pid} AND "
        if c.occurred in ("FIRST", "LAST"):
            edge = "min(e.occurred)" if c.occurred == "FIRST" else "max(e.occurred)"
            if probe:
                edge = f"(SELECT {edge} {rows}{mine}{_all(base)})"
            bounds = [f"{edge} >= {self.bind(c.low)}"] if c.low is not None else []
            bounds += [f"{edge} < {self.bind(c.high)}"] if c.high is not None else []
            if probe:
                return _all(bounds or [f"{edge} IS NOT NULL"])
            having = " AND ".join(bounds) or "1"
            return f"{self.pid} IN (SELECT e.person_id {rows}{_all(base)} GROUP BY e.person_id HAVING {having})"
        where = _all(base + window)
        if c.occurred == "NOT":
            if probe:
                return f"NOT EXISTS (SELECT 1 {rows}{mine}{where})"
            return _without(self.pid, f"SELECT e.person_id {rows}{where}")
        at_least_one = not c.counts(0) and c.counts(1) and c.operation in ("GREATER_OR_EQUAL", "GREATER_THAN")
        if at_least_one:
            if probe:
                return f"EXISTS (SELECT 1 {rows}{mine}{where})"
            return f"{self.pid} IN (SELECT e.person_id {rows}{where})"
        sign = {"IS": "=", "LESS_THAN": "<", "LESS_OR_EQUAL": "<=", "GREATER_OR_EQUAL": ">=", "GREATER_THAN": ">"}
        compare = f"{sign[c.operation]} {self.bind(c.times)}"
        if probe:
            return f"((SELECT count(*) {rows}{mine}{where}) {compare})"
        grouped = f"SELECT e.person_id {rows}{where} GROUP BY e.person_id"
        if c.counts(0):  # "fewer than 3" holds for a person without any, too
            return _without(self.pid, f"{grouped} HAVING NOT (count(*) {compare})")
        return f"{self.pid} IN ({grouped} HAVING count(*) {compare})"


class _Without(str):
    """A set condition ``x NOT IN (S)``. A count of it is a count without it less one with
    ``positive`` (``x IN (S)``), which the planner drives from S: far quicker than probing S for
    every row."""

    positive: str


def _without(pid: str, subquery: str) -> str:
    condition = _Without(f"{pid} NOT IN ({subquery})")
    condition.positive = f"{pid} IN ({subquery})"
    return condition


def _all(parts: Iterable[str]) -> str:
    parts = [p for p in parts if p != "1"]
    if "0" in parts:
        return "0"
    return _joined(parts, "AND") if parts else "1"


def _any(parts: Iterable[str]) -> str:
    parts = [p for p in parts if p != "0"]
    if "1" in parts:
        return "1"
    return "(" + _joined(parts, "OR") + ")" if parts else "0"


_RUN = 16


def _joined(parts: list[str], op: str) -> str:
    """``(a) op (b) op ...`` as a balanced tree of runs of at most 16: SQLite parses a chain of n
    terms n deep, and refuses an expression deeper than 1000 (an ``#in`` of 1000 values is one)."""
    if len(parts) <= _RUN:
        return f" {op} ".join(f"({p})" for p in parts)
    half = len(parts) // 2
    return f"({_joined(parts[:half], op)}) {op} ({_joined(parts[half:], op)})"


def _not(condition: str) -> str:
    if condition in ("0", "1"):
        return "1" if condition == "0" else "0"
    return f"NOT coalesce({condition}, 0)"


# --- the plan of a query --------------------------------------------------------------------
@dataclass(slots=True)
class _Plan:
    """The filter's top-level conjuncts by scope: person only, installation only, both."""

    person: list[Node]
    installation: list[Node]
    mixed: list[Node]
    query: Query

    @classmethod
    def of(cls, query: Query) -> _Plan:
        plan = cls([], [], [], query)
        for part in _conjuncts(query.filter):
            found = scopes(part)
            if found <= {"person"}:
                plan.person.append(part)
            elif found == {"installation"}:
                plan.installation.append(part)
            else:
                plan.mixed.append(part)
        return plan

    @property
    def pairs(self) -> bool:
        return bool(self.installation or self.mixed)


def _conjuncts(node: Node) -> list[Node]:
    if isinstance(node, All):
        return [part for inner in node.parts for part in _conjuncts(inner)]
    return [node]


def _person_parts(sql: _Sql, plan: _Plan, probe: bool, *, with_installations: bool = True) -> list[str]:
    """The conditions on a person ``p`` of the account (the installation part only if asked)."""
    parts = [f"p.account = {sql.bind(sql.account)}"]
    parts += [sql.node(part, probe) for part in plan.person]
    if with_installations and plan.pairs:
        inst = _all(sql.node(part, probe) for part in plan.installation)
        if plan.mixed or probe:
            mixed = _all(sql.node(part, probe) for part in plan.mixed)
            parts.append(
                f"EXISTS (SELECT 1 FROM installations i WHERE i.person_id = p.id AND i.state = 'active'"
                f" AND {_all([inst, mixed])})"
            )
        else:
            parts.append(
                f"p.id IN (SELECT i.person_id FROM installations i WHERE i.state = 'active'"
                f" AND i.person_id IS NOT NULL AND {inst})"
            )
    return parts + [sql.event(c, probe) for c in plan.query.events]


def _person_conditions(sql: _Sql, plan: _Plan, probe: bool, *, with_installations: bool = True) -> str:
    return _all(_person_parts(sql, plan, probe, with_installations=with_installations))


def _count(source: str, parts: list[str]) -> str:
    """``count(*)`` of the rows of ``source`` meeting every part, as a scalar subquery."""
    negated = [part for part in parts if isinstance(part, _Without)]
    if len(negated) != 1:
        return f"(SELECT count(*) FROM {source} WHERE {_all(parts)})"
    rest = [part for part in parts if part is not negated[0]]
    return (
        f"((SELECT count(*) FROM {source} WHERE {_all(rest)})"
        f" - (SELECT count(*) FROM {source} WHERE {_all([*rest, negated[0].positive])}))"
    )


def _app_filter(sql: _Sql, app_code: str | None) -> str:
    # "+": not an index to drive by (the installations of the matching persons are fewer)
    where = f"+i.app_code IN (SELECT code FROM applications WHERE account = {sql.bind(sql.account)})"
    return where if app_code is None else f"{where} AND +i.app_code = {sql.bind(app_code)}"


def _installation_selects(sql: _Sql, plan: _Plan, app_code: str | None) -> list[tuple[str, list[str]]]:
    """(FROM, conditions) of the reached installations: of matching persons, and anonymous ones if
    the query allows.

    An installation of an application of the account belongs to a person of the account (or to
    none), so where no person attribute is compared the person row is not read at all."""
    active = ["i.state = 'active'", _app_filter(sql, app_code)]
    inst = _all(sql.node(part, False) for part in plan.installation)
    selects = []
    if plan.person or plan.mixed:
        persons = _person_parts(sql, plan, probe=False, with_installations=False)
        mixed = _all(sql.node(part, False) for part in plan.mixed)
        selects.append(("installations i JOIN persons p ON p.id = i.person_id", [*active, *persons, inst, mixed]))
    else:
        sql.pid = "i.person_id"
        events = [sql.event(c, False) for c in plan.query.events]
        sql.pid = "p.id"
        selects.append(("installations i", [*active, "i.person_id IS NOT NULL", inst, *events]))
    if plan.query.anonymous:
        selects.append(("installations i", [*active, "i.person_id IS NULL", inst]))
    return selects


# --- the questions --------------------------------------------------------------------------
def count_persons(db: sqlite3.Connection, account: str, query: Query) -> int:
    sql = _Sql(account)
    parts = _person_parts(sql, _Plan.of(query), probe=False)
    row = db.execute(f"SELECT {_count('persons p', parts)}", sql.params).fetchone()
    return int(row[0])


def page_persons(
    db: sqlite3.Connection, account: str, query: Query, *, limit: int, after: int = 0, offset: int = 0
) -> list[int]:
    """Person ids in id order: ``limit`` of them after id ``after`` (keyset) and ``offset`` more."""
    sql = _Sql(account)
    where = _person_conditions(sql, _Plan.of(query), probe=True)
    text = (
        f"SELECT p.id FROM persons p WHERE p.id > {sql.bind(after)} AND {where}"
        f" ORDER BY p.id LIMIT {sql.bind(limit)} OFFSET {sql.bind(offset)}"
    )
    return [row[0] for row in db.execute(text, sql.params)]


def count_installations(db: sqlite3.Connection, account: str, query: Query, app_code: str | None = None) -> int:
    sql = _Sql(account)
    selects = _installation_selects(sql, _Plan.of(query), app_code)
    total = " + ".join(_count(source, parts) for source, parts in selects)
    return int(db.execute(f"SELECT {total}", sql.params).fetchone()[0])


def registrations(db: sqlite3.Connection, account: str, query: Query, app_code: str | None = None) -> list[str]:
    """The regIds of every installation the query reaches (of one application if given), sorted."""
    sql = _Sql(account)
    selects = _installation_selects(sql, _Plan.of(query), app_code)
    text = " UNION ALL ".join(f"SELECT i.reg_id AS reg_id FROM {s} WHERE {_all(p)}" for s, p in selects)
    text += " ORDER BY reg_id"
    return [row[0] for row in db.execute(text, sql.params)]


def installation_page(
    db: sqlite3.Connection, account: str, query: Query, *, limit: int, after: str = "", app_code: str | None = None
) -> list[sqlite3.Row]:
    """Reached installations in regId order after ``after`` (probe form: the first page is quick)."""
    sql = _Sql(account)
    plan = _Plan.of(query)
    persons = _person_conditions(sql, plan, probe=True, with_installations=False)
    pair = _all(sql.node(part, True) for part in plan.installation + plan.mixed)
    alone = _all(sql.node(part, True) for part in plan.installation) if query.anonymous else "0"
    text = (
        "SELECT i.reg_id, i.app_code, i.platform, i.person_id FROM installations i"
        " LEFT JOIN persons p ON p.id = i.person_id"
        f" WHERE i.state = 'active' AND {_app_filter(sql, app_code)} AND i.reg_id > {sql.bind(after)}"
        f" AND CASE WHEN i.person_id IS NULL THEN {alone} ELSE p.id IS NOT NULL AND {_all([persons, pair])} END"
        f" ORDER BY i.reg_id LIMIT {sql.bind(limit)}"
    )
    return list(db.execute(text, sql.params))


def reached_installations(
    db: sqlite3.Connection, account: str, query: Query, person_ids: Sequence[int]
) -> dict[int, list[str]]:
    """For persons known to match: the regIds of their installations the query reaches."""
    if not person_ids:
        return {}
    sql = _Sql(account)
    plan = _Plan.of(query)
    pair = _all(sql.node(part, True) for part in plan.installation + plan.mixed)
    ids = ", ".join(sql.bind(p) for p in person_ids)
    text = (
        "SELECT i.person_id, i.reg_id FROM installations i JOIN persons p ON p.id = i.person_id"
        f" WHERE i.person_id IN ({ids}) AND i.state = 'active' AND {pair} ORDER BY i.created, i.rowid"
    )
    found: dict[int, list[str]] = {p: [] for p in person_ids}
    for person_id, reg_id in db.execute(text, sql.params):
        found[person_id].append(reg_id)
    return found


# --- indexes for saved segments -------------------------------------------------------------
INDEX_PREFIX = "seg_"


def index_statements(query: Query) -> dict[str, str]:
    """Index name → ``CREATE INDEX`` for each JSON attribute the query compares (person or
    installation; event properties are not indexed). The expressions are the ones
    :class:`_Sql` writes, so the planner can use them; paths are built only from simple keys."""
    found: dict[str, str] = {}
    for leaf in leaves(query.filter):
        f = leaf.field
        if f.store != "json" or f.scope == "event" or not simple_key(f.key):
            continue
        path = f"'$.customAttributes.{f.key}'" if f.custom else f"'$.{f.key}'"
        value, kind = f"json_extract(data, {path})", f"json_type(data, {path})"
        digest = hashlib.sha1(f"{f.scope}:{path}".encode()).hexdigest()[:16]
        if f.scope == "person":
            name = f"{INDEX_PREFIX}p_{digest}"
            found[name] = f"CREATE INDEX IF NOT EXISTS {name} ON persons (account, {value}, {kind})"
        else:
            name = f"{INDEX_PREFIX}i_{digest}"
            found[name] = f"CREATE INDEX IF NOT EXISTS {name} ON installations ({value}, {kind}, state, person_id)"
    return found
