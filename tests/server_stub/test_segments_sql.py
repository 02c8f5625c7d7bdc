"""The segment query language in SQL (server_stub/segments_sql.py) against the Python evaluator
(server_stub/segments.py): every operator and field kind on a small hand-made population with the
answers written out, the combination rule of person and installation conditions, window
boundaries, and the two evaluators on random populations and random queries (fixed seeds), with
and without the indexes saved segments build."""

from __future__ import annotations

import json
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server_stub import ApiError, Store
from server_stub.rules import Caller, Context
from server_stub.saved_segments import ACTIVE, INACTIVE, PREDEFINED
from server_stub.segment_query import parse_query
from server_stub.segments import evaluate_python
from server_stub.segments_sql import (
    count_installations,
    count_persons,
    index_statements,
    installation_page,
    page_persons,
    registrations,
)

NOW = datetime(2024, 6, 1, tzinfo=UTC)
APP, OTHER_APP = "seg-app", "seg-other-app"


def ts(**delta: float) -> str:
    return (NOW - timedelta(**delta)).strftime("%Y-%m-%dT%H:%M:%SZ")


class World:
    """A store filled row by row, and the labels of its persons and installations."""

    def __init__(self) -> None:
        self.store = Store(None)
        self.persons: dict[int, str] = {}
        self.installations: dict[str, str] = {}
        with self.store.transaction() as db:
            for code, account in ((APP, "default"), (OTHER_APP, "other")):
                db.execute("INSERT INTO applications VALUES (?,?,?,?)", (code, code, account, ts(days=400)))

    @property
    def db(self) -> sqlite3.Connection:
        return self.store.db

    def person(
        self,
        label: str,
        data: dict[str, Any] | None = None,
        *,
        kind: str = "CUSTOMER",
        account: str = "default",
        external: str | None = None,
        emails: tuple[str, ...] = (),
        phones: tuple[str, ...] = (),
    ) -> int:
        with self.store.transaction() as db:
            cursor = db.execute(
                "INSERT INTO persons (account, type, data, created, updated) VALUES (?,?,?,?,?)",
                (account, kind, json.dumps(data or {}), ts(days=100), ts(days=100)),
            )
            person_id = cursor.lastrowid
            assert person_id is not None
            identities = [("externalUserId", external, external)] if external else []
            identities += [("email", e.lower(), e) for e in emails] + [("phone", p, p) for p in phones]
            for ident_kind, value, shown in identities:
                db.execute("INSERT INTO identities VALUES (?,?,?,?,?)", (account, ident_kind, value, person_id, shown))
        self.persons[person_id] = label
        return person_id

    def installation(
        self,
        label: str,
        person_id: int | None,
        platform: str = "android",
        *,
        app: str = APP,
        state: str = "active",
        primary: bool = False,
        **data: Any,
    ) -> str:
        reg_id = f"reg-{label}"
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO installations (reg_id, app_code, person_id, state, platform, installation_id, is_primary,"
                " data, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    reg_id,
                    app,
                    person_id,
                    state,
                    platform,
                    None,
                    int(primary),
                    json.dumps(data),
                    ts(days=90),
                    ts(days=90),
                ),
            )
        self.installations[reg_id] = label
        return reg_id

    def event(
        self,
        person_id: int | None,
        definition: str,
        occurred: str,
        *,
        reg_id: str | None = None,
        account: str = "default",
        **properties: Any,
    ) -> None:
        with self.store.transaction() as db:
            db.execute(
                "INSERT INTO events (account, person_id, reg_id, app_code, definition_id, occurred, properties,"
                " received) VALUES (?,?,?,?,?,?,?,?)",
                (
                    account,
                    person_id,
                    reg_id,
                    APP,
                    definition,
                    occurred,
                    json.dumps(properties) if properties else None,
                    occurred,
                ),
            )

    def both(self, query: dict[str, Any], account: str = "default") -> tuple[set[str], set[str]]:
        """(persons, installations) the query reaches, checked equal in every SQL form and in Python."""
        parsed = parse_query(query, NOW)
        with self.store.transaction() as db:
            ctx = Context(db, Caller(app_code="", account=account), lambda: NOW)
            persons, reached = evaluate_python(ctx, parsed)
            assert count_persons(db, account, parsed) == len(persons), query
            assert page_persons(db, account, parsed, limit=10_000) == persons, query
            walked: list[int] = []
            while len(page := page_persons(db, account, parsed, limit=2, after=walked[-1] if walked else 0)) > 0:
                walked += page
            assert walked == persons, query
            assert registrations(db, account, parsed) == reached, query
            assert count_installations(db, account, parsed) == len(reached), query
            listed: list[str] = []
            while rows := installation_page(db, account, parsed, limit=3, after=listed[-1] if listed else ""):
                listed += [r[0] for r in rows]
            assert listed == reached, query
            app = APP if account == "default" else OTHER_APP
            assert registrations(db, account, parsed, app) == reached
            assert registrations(db, account, parsed, "no-such-app") == []
        return {self.persons[p] for p in persons}, {self.installations[r] for r in reached}

    def persons_of(self, query: dict[str, Any]) -> set[str]:
        return self.both(query)[0]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    """Ana (two devices), Bob (one, and a deleted one), Cid (none), Dee (one, and an uninstalled one),
    two anonymous devices, and Eve in another account."""
    w = World()
    ana = w.person(
        "ana",
        {
            "firstName": "Ana",
            "lastName": "Kovač",
            "gender": "Female",
            "birthday": "1990-04-02",
            "tags": ["vip", "newsletter"],
            "customAttributes": {
                "tier": "gold",
                "spent": 120.5,
                "orders": 3,
                "consent": True,
                "since": "2024-05-01",
                "seen": "2024-05-31T10:00:00Z",
                "items": [{"sku": "a"}],
                "odd key.x": "yes",
            },
        },
        external="c-1",
        emails=("Ana@Example.com",),
        phones=("385911234567",),
    )
    bob = w.person(
        "bob",
        {
            "firstName": "Bob",
            "gender": "Male",
            "tags": ["churned"],
            "customAttributes": {"tier": "silver", "orders": 0, "consent": False},
        },
        kind="LEAD",
        external="c-2",
    )
    cid = w.person("cid", {"firstName": "Cid"})
    dee = w.person("dee", {"firstName": "", "tags": [], "customAttributes": {"tier": "Gold", "orders": 1.5}})
    w.person("eve", {"firstName": "Ana", "tags": ["vip"]}, account="other", external="c-1")
    w.installation(
        "ana-ios",
        ana,
        "ios",
        primary=True,
        os="iOS",
        osVersion="17.2",
        sdkVersion="15.5.2",
        appVersion="3.1",
        language="en",
        deviceTimezoneOffset="GMT+02:00",
        notificationsEnabled=True,
        regEnabled=True,
        customAttributes={"deviceType": "personal"},
    )
    w.installation(
        "ana-android", ana, os="Android", osVersion="14", language="hr", notificationsEnabled=False, regEnabled=False
    )
    w.installation("bob-android", bob, language="en", notificationsEnabled=True, osVersion="9")
    w.installation("bob-huawei", bob, "huawei", state="deleted", language="en")
    w.installation("dee-ios", dee, "ios", language="de")
    w.installation("dee-old", dee, "ios", state="uninstalled", language="en")
    w.installation("anon-android", None, language="en")
    w.installation("anon-ios", None, "ios", language="hr", customAttributes={"deviceType": "shared"})
    w.installation("eve-ios", 5, "ios", app=OTHER_APP, language="en")
    w.event(ana, "AppLaunch", ts(days=30), reg_id="reg-ana-ios")  # exactly at the 30-day boundary
    w.event(bob, "AppLaunch", ts(days=30, seconds=1), reg_id="reg-bob-android")  # one second before it
    w.event(dee, "AppLaunch", ts(days=1))
    w.event(dee, "AppLaunch", ts(days=2))
    w.event(None, "AppLaunch", ts(days=1), reg_id="reg-anon-android")
    w.event(ana, "purchase", ts(days=10), amount=50, sku="a-1")
    w.event(ana, "purchase", ts(days=5), amount=150, sku="b-2")
    w.event(bob, "purchase", ts(days=40), amount=200, sku="a-3")
    w.event(dee, "purchase", ts(days=3), amount="cheap")
    w.event(cid, "Personalize", ts(days=50))
    w.event(5, "purchase", ts(days=1), account="other", amount=500)
    yield w
    w.store.close()


EVERYONE = {"ana", "bob", "cid", "dee"}


@pytest.mark.parametrize(
    ("clause", "expected"),
    [
        ({"firstName": "Ana"}, {"ana"}),
        ({"firstName": {"#eq": "Ana"}}, {"ana"}),
        ({"#eq": {"firstName": "Ana"}}, {"ana"}),
        ({"firstName": {"#ne": "Ana"}}, {"bob", "cid", "dee"}),
        ({"lastName": {"#ne": "Kovač"}}, {"bob", "cid", "dee"}),  # a missing field is not equal
        ({"gender": "FEMALE"}, {"ana"}),
        ({"#ne": {"gender": "male"}}, {"ana", "cid", "dee"}),
        ({"customAttributes.tier": "gold"}, {"ana"}),  # case matters outside gender and platform
        ({"data.tier": {"#in": ["gold", "silver"]}}, {"ana", "bob"}),
        ({"data\u0001tier": {"#notIn": ["gold", "silver"]}}, {"cid", "dee"}),
        ({"customAttributes.tier": {"#in": []}}, set()),
        ({"customAttributes.orders": {"#gt": 0}}, {"ana", "dee"}),
        ({"customAttributes.orders": {"#gte": 0, "#lt": 3}}, {"bob", "dee"}),
        ({"customAttributes.orders": {"#lte": 1.5}}, {"bob", "dee"}),
        ({"customAttributes.orders": 3.0}, {"ana"}),
        ({"customAttributes.spent": {"#gt": "100"}}, set()),  # a number never compares with a string
        ({"customAttributes.consent": True}, {"ana"}),
        ({"customAttributes.consent": False}, {"bob"}),
        ({"customAttributes.consent": 1}, set()),  # a boolean is not a number
        ({"customAttributes.orders": False}, set()),
        ({"customAttributes.consent": {"#gt": 0}}, set()),
        ({"customAttributes.tier": None}, set()),
        ({"customAttributes.tier": {"#ne": None}}, EVERYONE),
        ({"#startsWith": {"lastName": "Ko"}}, {"ana"}),
        ({"#startsWith": {"customAttributes.tier": ""}}, {"ana", "bob", "dee"}),
        ({"#endsWith": {"customAttributes.tier": "ld"}}, {"ana", "dee"}),
        ({"#endsWith": {"firstName": ""}}, {"ana", "bob", "cid", "dee"}),
        ({"#endsWith": {"email": "example.com"}}, set()),  # a list does not end with anything
        ({"#contains": {"firstName": "o"}}, {"bob"}),
        ({"#notContain": {"firstName": "o"}}, {"ana", "cid", "dee"}),
        ({"#contains": {"customAttributes.orders": "3"}}, set()),
        ({"#contains": {"tags": "vip"}}, {"ana"}),
        ({"tags": "churned"}, {"bob"}),
        ({"#notContain": {"tags": "vip"}}, {"bob", "cid", "dee"}),
        ({"tags": {"#in": ["vip", "churned"]}}, {"ana", "bob"}),
        ({"#startsWith": {"tags": "v"}}, set()),
        ({"#contains": {"emails": "Ana@Example.com"}}, {"ana"}),
        ({"email": "ana@example.com"}, set()),  # as stored, not normalised
        ({"phones": "385911234567"}, {"ana"}),
        ({"externalUserId": "c-1"}, {"ana"}),  # Eve's c-1 is in another account
        ({"externalUserId": {"#startsWith": "c-"}}, {"ana", "bob"}),
        ({"externalUserId": {"#ne": "c-1"}}, {"bob", "cid", "dee"}),
        ({"externalUserId": {"#in": ["c-2", "c-9"]}}, {"bob"}),
        ({"type": "LEAD"}, {"bob"}),
        ({"#exist": "tags"}, {"ana", "bob"}),  # an empty list is absent
        ({"#notExist": "firstName"}, {"dee"}),  # so is an empty string
        ({"#exists": ["externalUserId", "emails"]}, {"ana"}),
        ({"#exist": {"phones": True, "middleName": False}}, {"ana"}),
        ({"#notExist": ["externalUserId", "tags"]}, {"cid", "dee"}),
        ({"#exist": "customAttributes.items"}, {"ana"}),
        ({"customAttributes.items": "a"}, set()),  # a list of objects holds no scalar
        ({"customAttributes.odd key.x": "yes"}, {"ana"}),  # a name a JSON path cannot hold
        ({"#exist": "customAttributes.odd key.x"}, {"ana"}),
        ({"#lt": {"birthday": {"#relNow": "-P7000D"}}}, {"ana"}),
        ({"birthDate": {"#gt": {"#relNow": "-P365D"}}}, set()),
        # a date against a datetime compares with its date: the same day is not before it
        ({"customAttributes.since": {"#lt": "2024-05-01T12:00:00Z"}}, set()),
        ({"customAttributes.since": {"#gte": "2024-05-01T12:00:00Z"}}, {"ana"}),
        ({"customAttributes.since": {"#lte": "2024-05-01T12:00:00Z"}}, {"ana"}),
        ({"customAttributes.since": {"#gt": "2024-05-01T12:00:00Z"}}, set()),
        ({"customAttributes.seen": {"#gt": {"#relNow": "-P1D"}}}, {"ana"}),
        ({"customAttributes.seen": {"#lt": {"#relNow": "-PT14H"}}}, set()),  # the same second
        ({"customAttributes.seen": {"#lte": {"#relNow": "-PT14H"}}}, {"ana"}),
        ({"customAttributes.seen": {"#lt": {"#relNow": "-PT13H"}}}, {"ana"}),
        ({"customAttributes.seen": {"#lt": {"#relNow": "-PT15H"}}}, set()),
        ({"#and": [{"firstName": "Ana"}, {"#or": [{"tags": "x"}, {"customAttributes.orders": 3}]}]}, {"ana"}),
        ({"#or": [{"firstName": "Bob"}, {"firstName": "Cid"}]}, {"bob", "cid"}),
        ({}, EVERYONE),
    ],
)
def test_person_fields_and_operators(world: World, clause: dict[str, Any], expected: set[str]) -> None:
    assert world.persons_of({"filter": clause}) == expected


@pytest.mark.parametrize(
    ("clause", "persons", "installations"),
    [
        ({"platform": "iOS"}, {"ana", "dee"}, {"ana-ios", "dee-ios", "anon-ios"}),
        ({"platform": {"#in": ["HUAWEI"]}}, set(), set()),  # Bob's Huawei was deleted
        ({"language": "en"}, {"ana", "bob"}, {"ana-ios", "bob-android", "anon-android"}),
        ({"installation.language": {"#ne": "en"}}, {"ana", "dee"}, {"ana-android", "dee-ios", "anon-ios"}),
        ({"regEnabled": False}, {"ana"}, {"ana-android"}),
        (
            {"pushRegistrationEnabled": True},
            {"ana", "bob", "dee"},  # absent: true
            {"ana-ios", "bob-android", "dee-ios", "anon-android", "anon-ios"},
        ),
        ({"notificationsEnabled": False}, {"ana"}, {"ana-android"}),
        ({"#notExist": "notificationsEnabled"}, {"dee"}, {"dee-ios", "anon-android", "anon-ios"}),
        ({"isPrimary": True}, {"ana"}, {"ana-ios"}),
        (
            {"primaryDevice": False},
            {"ana", "bob", "dee"},
            {"ana-android", "bob-android", "dee-ios", "anon-android", "anon-ios"},
        ),
        ({"osVersion": {"#gte": "14"}}, {"ana", "bob"}, {"ana-ios", "ana-android", "bob-android"}),  # as strings
        ({"#startsWith": {"sdkVersion": "15."}}, {"ana"}, {"ana-ios"}),
        ({"applicationVersion": "3.1", "timezone": "GMT+02:00", "os": "iOS"}, {"ana"}, {"ana-ios"}),
        ({"installation.customAttributes.deviceType": "personal"}, {"ana"}, {"ana-ios"}),
        ({"installation.customAttributes.deviceType": "shared"}, set(), {"anon-ios"}),
        ({"applicationCode": APP, "pushRegId": "reg-dee-ios"}, {"dee"}, {"dee-ios"}),
        # the rule: one installation meets every installation condition, with the person's
        ({"platform": "ios", "language": "hr"}, set(), {"anon-ios"}),
        ({"firstName": "Ana", "language": "hr"}, {"ana"}, {"ana-android"}),
        (
            {"#or": [{"firstName": "Bob"}, {"platform": "ios"}]},
            {"ana", "bob", "dee"},
            {"ana-ios", "bob-android", "dee-ios"},
        ),
        ({"#or": [{"firstName": "Cid"}, {"platform": "ios"}]}, {"ana", "dee"}, {"ana-ios", "dee-ios"}),
        ({"firstName": "Cid"}, {"cid"}, set()),  # a person without installations reaches none
        ({"tags": "vip", "isPrimary": False}, {"ana"}, {"ana-android"}),
        (
            {"#and": [{"language": "en"}, {"#or": [{"tags": "churned"}, {"isPrimary": True}]}]},
            {"ana", "bob"},
            {"ana-ios", "bob-android"},
        ),
    ],
)
def test_installation_fields_and_how_they_combine(
    world: World, clause: dict[str, Any], persons: set[str], installations: set[str]
) -> None:
    assert world.both({"filter": clause}) == (persons, installations)


def test_a_person_query_reaches_every_active_installation_of_its_persons_and_no_anonymous_one(world: World) -> None:
    assert world.both({"filter": {"tags": "vip"}}) == ({"ana"}, {"ana-ios", "ana-android"})
    everybody = {"ana-ios", "ana-android", "bob-android", "dee-ios", "anon-android", "anon-ios"}
    assert world.both({}) == (EVERYONE, everybody)  # no condition at all: the anonymous ones too
    assert world.both({"filter": {"#ne": {"firstName": "zzz"}}})[1] == everybody - {"anon-android", "anon-ios"}
    assert world.both({}, account="other") == ({"eve"}, {"eve-ios"})


def appl(occurred: str, operator: str = "AFTER", **timeline: Any) -> dict[str, Any]:
    return {"definitionId": "AppLaunch", "timelineCondition": {"occurred": occurred, "operator": operator, **timeline}}


def purchases(operation: str = "GREATER_OR_EQUAL", times: int = 1, **extra: Any) -> dict[str, Any]:
    return {"definitionId": "purchase", "occurrenceCondition": {"operation": operation, "times": times}, **extra}


LAST_30 = {"operator": "AFTER", "start": 30, "units": "DAYS"}
BEFORE_20_DAYS = int((NOW - timedelta(days=20)).timestamp())


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        (PREDEFINED[ACTIVE]["events"], {"ana", "dee"}),  # Ana's launch is exactly 30 days ago: in
        (PREDEFINED[INACTIVE]["events"], {"bob", "cid"}),  # Bob's is one second earlier: out
        ([appl("ALL", start=720, units="HOURS")], {"ana", "dee"}),
        ([appl("ALL", start=43201, units="MINUTES")], {"ana", "bob", "dee"}),
        ([appl("ALL", "BEFORE", start=30)], {"bob"}),
        ([appl("ALL", "BETWEEN", start=29, end=31)], {"ana", "bob"}),
        ([appl("ALL", "BETWEEN", start=29, end=30)], {"ana"}),  # [30 days ago, 29 days ago)
        ([appl("ALL", "BETWEEN", start=31, end=30)], {"bob"}),  # [31 days ago, 30 days ago)
        ([appl("FIRST", "AFTER", start=1.5)], set()),  # Dee's first is two days ago
        ([appl("FIRST", "AFTER", start=2.5)], {"dee"}),
        ([appl("LAST", "AFTER", start=1.5)], {"dee"}),
        ([appl("LAST", "EMPTY")], {"ana", "bob", "dee"}),
        ([appl("NOT", "EMPTY")], {"cid"}),
        ([purchases()], {"ana", "bob", "dee"}),
        ([purchases("GREATER_OR_EQUAL", 2)], {"ana"}),
        ([purchases("IS", 1)], {"bob", "dee"}),
        ([purchases("IS", 0)], {"cid"}),
        ([purchases("LESS_THAN", 2)], {"bob", "cid", "dee"}),
        ([purchases("LESS_OR_EQUAL", 0)], {"cid"}),
        ([purchases("GREATER_THAN", 0, timelineCondition={"occurred": "ALL", **LAST_30})], {"ana", "dee"}),
        ([purchases(timelineCondition={"occurred": "NOT", **LAST_30})], {"bob", "cid"}),
        ([purchases(payloadConditions=[{"attribute": "amount", "operator": "GT", "value": 100}])], {"ana", "bob"}),
        (
            [purchases("IS", 0, payloadConditions=[{"attribute": "amount", "operator": "GT", "value": 100}])],
            {"cid", "dee"},
        ),
        ([purchases(payloadConditions=[{"attribute": "amount", "operator": "LTE", "value": 50}])], {"ana"}),
        ([purchases(payloadConditions=[{"attribute": "amount", "operator": "CON", "value": "ea"}])], {"dee"}),
        (
            [
                purchases(
                    payloadConditions=[
                        {"attribute": "sku", "operator": "SW", "value": "a-"},
                        {"attribute": "amount", "operator": "NE", "value": 50},
                    ]
                )
            ],
            {"bob"},
        ),
        ([purchases(payloadConditions=[{"attribute": "sku", "operator": "EW", "value": "-2"}])], {"ana"}),
        ([purchases(payloadConditions=[{"attribute": "nope", "operator": "EQ", "value": 1}])], set()),
        (
            [
                {
                    "definitionId": "purchase",
                    "timelineCondition": {"occurred": "FIRST", "operator": "BEFORE_ABS", "start": BEFORE_20_DAYS},
                }
            ],
            {"bob"},
        ),
        (
            [
                {
                    "definitionId": "purchase",
                    "timelineCondition": {
                        "occurred": "LAST",
                        "operator": "BETWEEN_ABS",
                        "start": BEFORE_20_DAYS,
                        "end": 0,
                    },
                }
            ],
            {"bob"},
        ),
        ([{"definitionId": "PURCHASE"}], {"ana", "bob", "dee"}),  # definitions are case-insensitive
        ([{"definitionId": "neverDefined"}], set()),
        ([{"definitionId": "personalize"}], {"cid"}),
        ([purchases(), appl("ALL", **LAST_30)], {"ana", "dee"}),
    ],
)
def test_event_conditions(world: World, events: list[dict[str, Any]], expected: set[str]) -> None:
    assert world.persons_of({"events": events}) == expected


def test_event_conditions_reach_persons_installations_never_anonymous_ones(world: World) -> None:
    # the anonymous Android launched yesterday, yet an event condition is about persons
    assert world.both(PREDEFINED[ACTIVE]) == ({"ana", "dee"}, {"ana-ios", "ana-android", "dee-ios"})
    assert world.both(PREDEFINED[INACTIVE]) == ({"bob", "cid"}, {"bob-android"})
    assert world.both({"filter": {"platform": "ios"}, **PREDEFINED[ACTIVE]}) == ({"ana", "dee"}, {"ana-ios", "dee-ios"})
    assert world.both({"events": [purchases()]}, account="other") == ({"eve"}, {"eve-ios"})


def test_the_30_day_window_moves_with_the_clock(world: World) -> None:
    """The predefined segments count back from the moment they are evaluated."""
    later = NOW + timedelta(seconds=1)
    parsed = parse_query(PREDEFINED[ACTIVE], later)
    with world.store.transaction() as db:
        ids = page_persons(db, "default", parsed, limit=10)
    assert {world.persons[p] for p in ids} == {"dee"}  # Ana's launch is now 30 days and a second ago


@pytest.mark.parametrize(
    ("query", "where"),
    [
        ({"filter": {"nickname": "x"}}, "filter.nickname: unknown field 'nickname'"),
        ({"filter": {"#and": [{"firstName": "x"}, {"tier": 1}]}}, "filter.#and[1].tier: unknown field"),
        ({"filter": {"firstName": {"#near": 1}}}, "filter.firstName.#near: unknown operator '#near'"),
        ({"filter": {"#near": {"firstName": 1}}}, "filter.#near: unknown operator"),
        ({"filter": {"#or": []}}, "filter.#or: #or takes a non-empty list"),
        ({"filter": {"firstName": {"#in": "x"}}}, "filter.firstName.#in: #in and #notIn take a list"),
        ({"filter": {"firstName": {"a": 1}}}, "filter.firstName: compare with a string"),
        ({"filter": {"tags": {"#in": [["x"]]}}}, "filter.tags.#in[0]: compare with"),
        ({"filter": {"#exist": 3}}, "filter.#exist: #exist takes a field name"),
        ({"filter": {"customAttributes.": 1}}, "filter.customAttributes.: name the custom attribute"),
        ({"filter": [1]}, "filter: a filter clause is a JSON object, not a list"),
        ({"filter": {"birthday": {"#relNow": "soon"}}}, "filter.birthday: #relNow 'soon'"),
        ({"filters": {}}, "query: unknown query members ['filters']"),
        ({"events": {}}, "events: events is a list"),
        ({"events": [{"definitionId": 3}]}, "events[0]: each event condition needs a definitionId"),
        ({"events": [{"definitionId": "a", "ocurrence": {}}]}, "events[0]: unknown members ['ocurrence']"),
        (
            {"events": [{"definitionId": "a", "timelineCondition": {"occurred": "SOMETIMES"}}]},
            "events[0].timelineCondition.occurred: ALL, FIRST",
        ),
        (
            {"events": [{"definitionId": "a", "timelineCondition": {"operator": "AROUND"}}]},
            "events[0].timelineCondition.operator",
        ),
        (
            {"events": [{"definitionId": "a", "timelineCondition": {"operator": "AFTER"}}]},
            "events[0].timelineCondition.start: must be a number",
        ),
        (
            {
                "events": [
                    {"definitionId": "a", "timelineCondition": {"operator": "AFTER", "start": 1, "units": "YEARS"}}
                ]
            },
            "events[0].timelineCondition.units",
        ),
        (
            {"events": [{"definitionId": "a", "timelineCondition": {"operator": "AFTER_ABS", "start": 1e300}}]},
            "events[0].timelineCondition.start: 1e+300 is out of range",
        ),
        (
            {"events": [{"definitionId": "a", "occurrenceCondition": {"operation": "ABOUT"}}]},
            "events[0].occurrenceCondition.operation",
        ),
        (
            {"events": [{"definitionId": "a", "occurrenceCondition": {"times": "2"}}]},
            "events[0].occurrenceCondition.times: must be a number",
        ),
        (
            {"events": [{"definitionId": "a", "payloadConditions": [{"attribute": "x", "operator": "LIKE"}]}]},
            "events[0].payloadConditions[0].operator",
        ),
        ({"events": [{"definitionId": "a", "payloadConditions": {}}]}, "events[0].payloadConditions: is a list"),
    ],
)
def test_a_bad_query_names_the_bad_clause(query: dict[str, Any], where: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_query(query, NOW)
    assert caught.value.code == "REQUEST_FORMAT_INVALID" and caught.value.status == 400
    assert caught.value.text.startswith(where), caught.value.text


def test_values_are_bound_never_written_into_the_statement(world: World) -> None:
    hostile = "x'); DROP TABLE persons; --"
    query = {
        "filter": {
            "#or": [
                {"firstName": hostile},
                {f"customAttributes.{hostile}": hostile},
                {"#contains": {"tags": hostile}},
                {"language": {"#startsWith": hostile}},
            ]
        },
        "events": [
            {
                "definitionId": hostile,
                "timelineCondition": {"occurred": "NOT"},
                "payloadConditions": [{"attribute": hostile, "value": hostile}],
            }
        ],
    }
    assert world.persons_of(query) == set()
    assert world.persons_of({}) == EVERYONE
    # the only text made from a query: JSON paths of names made of letters, digits and _
    statements = index_statements(parse_query(query, NOW))
    assert sorted(statements.values()) == [
        "CREATE INDEX IF NOT EXISTS {} ON installations (json_extract(data, '$.language'), json_type(data,"
        " '$.language'), state, person_id)".format(*[n for n in statements if n.startswith("seg_i_")]),
        "CREATE INDEX IF NOT EXISTS {} ON persons (account, json_extract(data, '$.firstName'), json_type(data,"
        " '$.firstName'))".format(*[n for n in statements if n.startswith("seg_p_")]),
    ]


# --- the two evaluators on random populations -------------------------------------------------
TIERS = ["gold", "Gold", "silver", "", "bronze"]
WORDS = ["Ana", "ana", "Bob", "Ivan", "", "Ö", "a'b", "[1]"]
TAGS = ["vip", "newsletter", "sale", "VIP", ""]
VALUES: list[Any] = [
    0,
    1,
    2,
    3.5,
    -1,
    True,
    False,
    None,
    "0",
    "1",
    "gold",
    "Gold",
    "",
    "a",
    "2024-05-01",
    "2024-05-01T00:00:00Z",
    "2024-05-20T12:00:00Z",
    "17",
    "17.2",
    "[1]",
    "en",
]
PERSON_NAMES = [
    "firstName",
    "lastName",
    "gender",
    "birthday",
    "type",
    "tags",
    "externalUserId",
    "emails",
    "phones",
    "customAttributes.tier",
    "customAttributes.n",
    "customAttributes.flag",
    "customAttributes.day",
    "customAttributes.list",
    "customAttributes.odd key",
]
INSTALLATION_NAMES = [
    "platform",
    "os",
    "osVersion",
    "language",
    "regEnabled",
    "notificationsEnabled",
    "isPrimary",
    "applicationCode",
    "installation.customAttributes.kind",
    "installation.customAttributes.n",
]
OPS = [
    "#eq",
    "#ne",
    "#lt",
    "#lte",
    "#gt",
    "#gte",
    "#in",
    "#notIn",
    "#startsWith",
    "#endsWith",
    "#contains",
    "#notContain",
]


def maybe(rng: random.Random, value: Any, share: float = 0.7) -> Any:
    return value if rng.random() < share else None


def populate(seed: int) -> World:
    rng = random.Random(seed)
    w = World()
    for n in range(60):
        data: dict[str, Any] = {}
        for key, value in (
            ("firstName", rng.choice(WORDS)),
            ("lastName", rng.choice(WORDS)),
            ("gender", rng.choice(["Male", "Female"])),
            ("birthday", f"19{rng.randrange(50, 99)}-0{rng.randrange(1, 9)}-1{rng.randrange(9)}"),
            ("tags", rng.sample(TAGS, rng.randrange(4))),
        ):
            if (kept := maybe(rng, value)) is not None:
                data[key] = kept
        custom = {
            "tier": rng.choice(TIERS),
            "n": rng.choice([0, 1, 2, 3.5, -1, "1", True]),
            "flag": rng.choice([True, False]),
            "day": rng.choice(["2024-05-01", "2024-05-02", "2024-05-01T00:00:00Z", "2023-12-31"]),
            "list": rng.choice([[], [{"a": 1}], [{"a": 1}, {"a": 2}]]),
            "odd key": rng.choice(["x", "y"]),
        }
        data["customAttributes"] = {k: v for k, v in custom.items() if rng.random() < 0.6}
        person = w.person(
            f"p{n}",
            data,
            kind=rng.choice(["CUSTOMER", "LEAD"]),
            external=maybe(rng, f"u-{n % 7}-{n}"),
            emails=tuple(f"{rng.choice(['a', 'B'])}{n}-{k}@x.com" for k in range(rng.randrange(3))),
            phones=(f"3859100{n:04d}",) if rng.random() < 0.3 else (),
        )
        for k in range(rng.choice([0, 1, 1, 2, 3])):
            extra = {
                "os": rng.choice(["iOS", "Android"]),
                "osVersion": rng.choice(["9", "14", "17.2", "17"]),
                "language": rng.choice(["en", "hr", "de"]),
                "notificationsEnabled": rng.choice([True, False, None]),
                "regEnabled": rng.choice([True, False, None]),
                "customAttributes": {"kind": rng.choice(["personal", "shared"]), "n": rng.choice([1, 2, "1"])},
            }
            extra = {key: value for key, value in extra.items() if value is not None and rng.random() < 0.8}
            w.installation(
                f"p{n}-{k}",
                person,
                rng.choice(["ios", "android", "huawei"]),
                primary=rng.random() < 0.3,
                state=rng.choice(["active", "active", "active", "deleted", "uninstalled"]),
                **extra,
            )
        for _ in range(rng.randrange(6)):
            when = rng.choice([ts(days=30), ts(days=30, seconds=1), ts(days=rng.uniform(0, 90)), ts(days=-1)])
            w.event(
                person,
                rng.choice(["AppLaunch", "purchase", "view"]),
                when,
                amount=rng.choice([10, 100, 150.5, "x", True]),
                sku=rng.choice(["a-1", "b-2"]),
            )
    for n in range(8):
        reg = w.installation(f"anon-{n}", None, rng.choice(["ios", "android"]), language=rng.choice(["en", "hr"]))
        w.event(None, "AppLaunch", ts(days=rng.uniform(0, 60)), reg_id=reg)
    return w


def random_clause(rng: random.Random, depth: int = 0) -> dict[str, Any]:
    roll = rng.random()
    if depth < 3 and roll < 0.25:
        return {rng.choice(["#and", "#or"]): [random_clause(rng, depth + 1) for _ in range(rng.randrange(1, 4))]}
    names = rng.choice([PERSON_NAMES, PERSON_NAMES, INSTALLATION_NAMES])
    name = rng.choice(names)
    if roll < 0.35:
        return {rng.choice(["#exist", "#notExist"]): name}
    op = rng.choice(OPS)
    operand: Any
    if op in ("#in", "#notIn"):
        operand = rng.sample(VALUES + WORDS + TAGS, rng.randrange(0, 4))
    elif rng.random() < 0.1:
        operand = {"#relNow": rng.choice(["-P30D", "-PT12H", "P1D"])}
    else:
        operand = rng.choice(VALUES + WORDS + TAGS + ["ios", "IOS", "personal", f"reg-p{rng.randrange(60)}-0"])
    if op == "#eq" and rng.random() < 0.5:
        return {name: operand}
    return {op: {name: operand}} if rng.random() < 0.5 else {name: {op: operand}}


def random_event(rng: random.Random) -> dict[str, Any]:
    condition: dict[str, Any] = {"definitionId": rng.choice(["AppLaunch", "purchase", "PURCHASE", "view", "none"])}
    if rng.random() < 0.7:
        condition["occurrenceCondition"] = {
            "operation": rng.choice(["IS", "LESS_THAN", "LESS_OR_EQUAL", "GREATER_OR_EQUAL", "GREATER_THAN"]),
            "times": rng.randrange(0, 4),
        }
    if rng.random() < 0.8:
        operator = rng.choice(["EMPTY", "AFTER", "BEFORE", "BETWEEN", "AFTER_ABS", "BEFORE_ABS", "BETWEEN_ABS"])
        timeline: dict[str, Any] = {
            "occurred": rng.choice(["ALL", "ALL", "FIRST", "LAST", "NOT"]),
            "operator": operator,
        }
        if operator.endswith("_ABS"):
            timeline["start"] = (NOW - timedelta(days=rng.choice([1, 30, 45]))).timestamp()
            timeline["end"] = (NOW - timedelta(days=rng.choice([0, 10, 60]))).timestamp()
        elif operator != "EMPTY":
            timeline.update(start=rng.choice([1, 30, 45]), end=rng.choice([0, 10]), units=rng.choice(["DAYS", "HOURS"]))
        condition["timelineCondition"] = timeline
    if rng.random() < 0.4:
        condition["payloadConditions"] = [
            {
                "attribute": rng.choice(["amount", "sku", "missing"]),
                "operator": rng.choice(["EQ", "NE", "LT", "LTE", "GT", "GTE", "SW", "EW", "CON"]),
                "value": rng.choice([10, 100, "a-", "x", True, 150.5]),
            }
        ]
    return condition


def random_query(rng: random.Random) -> dict[str, Any]:
    query: dict[str, Any] = {}
    if rng.random() < 0.85:
        query["filter"] = random_clause(rng)
    if rng.random() < 0.35:
        query["events"] = [random_event(rng) for _ in range(rng.randrange(1, 3))]
    return query


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_and_python_agree_on_random_populations_and_queries(seed: int) -> None:
    w = populate(seed)
    rng = random.Random(seed * 7919)
    queries = [random_query(rng) for _ in range(120)]
    answers = [w.both(q) for q in queries]
    assert sum(1 for persons, _ in answers if persons) > 30, "the queries should find somebody"
    assert sum(1 for persons, _ in answers if 0 < len(persons) < 60) > 20, "and not only everybody"
    # the same answers once the indexes saved segments build are there
    with w.store.transaction() as db:
        for query in queries:
            for statement in index_statements(parse_query(query, NOW)).values():
                db.execute(statement)
        built = db.execute("SELECT count(*) FROM sqlite_master WHERE name LIKE 'seg_%'").fetchone()[0]
    assert built >= 5
    assert [w.both(q) for q in queries] == answers
    w.store.close()
