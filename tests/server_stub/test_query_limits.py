"""Person queries cannot freeze the server (issue 13): a query is bounded before any work (body size,
nesting, conditions, values: ``QueryLimits``), every inspection query has a time budget
(``Store.read``: 422 over it, and the next request is answered), on a file the queries run beside
the writes (a worker thread on a read-only connection, seeing committed writes only), and a
malformed query is a 400 naming the offending part, never a 500.

In-process only (starlette's TestClient, or httpx's ASGITransport on one event loop).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import warnings
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stubkit import APP_CODE, START, Clock, Device, assert_error
from test_store_layers import _Capture, count_units, in_process, register, until, wire

from contract import Dialect
from server_stub import ApiError, ProfileServer, Store, create_app
from server_stub.rules import Caller, Context
from server_stub.segment_query import LIMITS, parse_query
from server_stub.segments import query_persons

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

QUERY = "/inspect/persons/query"


@pytest.fixture
def app() -> Iterator[FastAPI]:
    app = create_app(memory=True, app_codes=[APP_CODE], clock=Clock())
    yield app
    app.state.profiles.store.close()


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


def people(client: TestClient, count: int) -> None:
    for n in range(count):
        device = Device(client, Dialect.ANDROID)
        device.register()
        assert device.personalize({"externalUserId": f"p{n}"}).status_code == 200


def post(client: TestClient, body: Any) -> httpx.Response:
    return client.post(QUERY, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"})


# --- the bounds, at their exact boundaries ------------------------------------------------------
def padded(size: int) -> bytes:
    """A valid query body of exactly ``size`` bytes."""
    base = json.dumps({"filter": {"firstName": ""}}).encode()
    body = json.dumps({"filter": {"firstName": "a" * (size - len(base))}}).encode()
    assert len(body) == size
    return body


@pytest.mark.parametrize("streamed", [False, True], ids=["content-length", "chunked"])
def test_a_query_body_is_at_most_the_body_limit(client: TestClient, streamed: bool) -> None:
    def send(body: bytes) -> httpx.Response:
        content: Any = iter([body[: len(body) // 2], body[len(body) // 2 :]]) if streamed else body
        return client.post(QUERY, content=content, headers={"Content-Type": "application/json"})

    assert LIMITS.body == 65_536
    assert send(padded(LIMITS.body)).status_code == 200
    assert_error(send(padded(LIMITS.body + 1)), 400, "REQUEST_FORMAT_INVALID", "a query body is at most 65536 bytes")
    segment = json.dumps({"name": "big", "query": {"filter": {"firstName": "a" * LIMITS.body}}})
    refused = client.post("/inspect/segments", content=segment, headers={"Content-Type": "application/json"})
    assert_error(refused, 400, "REQUEST_FORMAT_INVALID", "a query body is at most 65536 bytes")


def nested(levels: int) -> dict[str, Any]:
    clause: dict[str, Any] = {"firstName": "Ana"}
    for n in range(levels):
        clause = {"#and" if n % 2 else "#or": [clause, {"lastName": "X"}]}
    return {"filter": clause}


def test_a_filter_nests_at_most_the_depth_limit(client: TestClient) -> None:
    assert LIMITS.depth == 10
    assert post(client, nested(LIMITS.depth)).status_code == 200
    text = assert_error(post(client, nested(LIMITS.depth + 1)), 400, "REQUEST_FORMAT_INVALID")
    assert text.startswith("filter.#or[0].#and[0].") and text.endswith(
        "]: the filter nests #and and #or more than 10 deep"
    )


def conditions(filters: int) -> dict[str, Any]:
    """``filters`` filter conditions (one an ``#exist`` of two fields), one event condition and two
    payload conditions: ``filters + 3`` conditions."""
    clauses: list[dict[str, Any]] = [{"#exist": ["firstName", "lastName"]}]
    clauses += [{"customAttributes.n": {"#gt": n}} for n in range(filters - 2)]
    event = {"definitionId": "purchase", "payloadConditions": [{"attribute": "a", "value": 1}, {"attribute": "b"}]}
    return {"filter": {"#or": clauses}, "events": [event]}


def test_a_query_holds_at_most_the_condition_limit(client: TestClient) -> None:
    assert LIMITS.conditions == 100
    assert post(client, conditions(97)).status_code == 200
    assert_error(
        post(client, conditions(98)),
        400,
        "REQUEST_FORMAT_INVALID",
        "events[0].payloadConditions[1].value: a query holds at most 100 conditions",
    )
    saved = client.post("/inspect/segments", json={"name": "many", "query": conditions(98)})
    assert_error(saved, 400, "REQUEST_FORMAT_INVALID", "a query holds at most 100 conditions")


def values(count: int) -> dict[str, Any]:
    first = ["p0", "p1", *(f"n{n}" for n in range(598))]
    return {"filter": {"externalUserId": {"#in": first}, "tags": {"#notIn": [f"t{n}" for n in range(count - 600)]}}}


def test_a_query_holds_at_most_the_value_limit(client: TestClient) -> None:
    assert LIMITS.values == 1000
    people(client, 2)
    assert post(client, values(LIMITS.values)).json()["total"] == 2
    assert_error(
        post(client, values(LIMITS.values + 1)),
        400,
        "REQUEST_FORMAT_INVALID",
        "filter.tags.#notIn: a query holds at most 1000 values in its #in and #notIn lists together",
    )


def test_the_largest_lists_are_answered_in_sql(client: TestClient) -> None:
    """A thousand values of one list were a thousand ORs: deeper than SQLite takes (a 500)."""
    people(client, 3)
    names = ["p1", *(f"x{n}" for n in range(999))]
    for field in ("externalUserId", "emails", "tags", "customAttributes.n", "platform"):
        answer = post(client, {"filter": {field: {"#in": names}}})
        assert answer.status_code == 200, (field, answer.text)
    assert post(client, {"filter": {"externalUserId": {"#in": names}}}).json()["total"] == 1
    assert post(client, {"filter": {"#or": [{"externalUserId": n} for n in names[:100]]}}).json()["total"] == 1


# --- malformed queries: a 400 naming the part, never a 500 ---------------------------------------
MALFORMED: list[tuple[Any, str]] = [
    ({"filter": {"n": {"#relNow": "P99999999999D"}}}, "filter.n: unknown field"),
    ({"filter": {"birthday": {"#gt": {"#relNow": "P99999999999D"}}}},
     "filter.birthday.#gt: #relNow 'P99999999999D' is out"),
    ({"filter": {"birthday": {"#relNow": [[["P1D"]]]}}}, "filter.birthday: #relNow a list: write an ISO-8601"),
    ({"filter": {"firstName": {"#gt": [1]}}}, "filter.firstName.#gt: compare with a string, a number"),
    ({"filter": {"#in": {"firstName": "a"}}}, "filter.#in.firstName: #in and #notIn take a list, not a string"),
    ({"filter": {"#bogus": {"firstName": 1}}}, "filter.#bogus: unknown operator '#bogus'"),
    ({"filter": {"#and": [{"firstName": "a"}, 5]}}, "filter.#and[1]: a filter clause is a JSON object, not a number"),
    ({"filter": {"#exist": 7}}, "filter.#exist: #exist takes a field name"),
    ({"events": [{"definitionId": "x", "payloadConditions": [{"attribute": "a", "operator": ["EQ"]}]}]},
     "events[0].payloadConditions[0].operator: a list: one of EQ"),
    ({"events": [{"definitionId": "x", "timelineCondition": {"operator": "AFTER", "start": 1, "units": ["DAYS"]}}]},
     "events[0].timelineCondition.units: a list: one of DAYS"),
    ({"events": [{"definitionId": "x", "timelineCondition": {"operator": {"a": [1]}}}]},
     "events[0].timelineCondition.operator: an object: one of EMPTY"),
    ({"events": [{"definitionId": "x", "timelineCondition": {"operator": "AFTER", "start": 10**15}}]},
     "events[0].timelineCondition.start: 1e+15 is out of range"),
    ({"events": [{"definitionId": "x", "occurrenceCondition": {"times": 1.5}}]},
     "events[0].occurrenceCondition.times: is a whole number"),
    ({"events": [{"definitionId": "x", "occurrenceCondition": {"operation": ["IS"]}}]},
     "events[0].occurrenceCondition.operation: a list: one of IS"),
    ({"events": [{"definitionId": "x", "timelineCondition": {"occurred": {"x": 1}}}]},
     "events[0].timelineCondition.occurred: ALL, FIRST, LAST or NOT"),
    ({"limit": True}, "page must be 0 to 1000000 and limit 1 to 1000"),
    ({"page": 1_000_001}, "page must be 0 to 1000000 and limit 1 to 1000"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "text"), MALFORMED, ids=[t.split(":")[0] for _, t in MALFORMED])
def test_a_malformed_query_is_a_400_naming_the_part(client: TestClient, body: Any, text: str) -> None:
    assert assert_error(post(client, body), 400, "REQUEST_FORMAT_INVALID").startswith(text)


@pytest.mark.parametrize(
    "literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999", "123456789012345678901234567890"]
)
def test_literals_json_cannot_hold_are_a_400(client: TestClient, literal: str) -> None:
    for body in (
        f'{{"filter": {{"customAttributes.n": {literal}}}}}',
        f'{{"filter": {{"tags": {{"#in": [{literal}]}}}}}}',
    ):
        response = client.post(QUERY, content=body, headers={"Content-Type": "application/json"})
        assert_error(response, 400, "REQUEST_FORMAT_INVALID")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf"), 2**63, -(2**63) - 1, 10**40])
def test_the_compiler_refuses_numbers_sqlite_cannot_compare(value: Any) -> None:
    """Whatever the JSON parser lets through (it is not the compiler's guard: a 500 before)."""
    for query, where in (
        ({"filter": {"customAttributes.n": value}}, "filter.customAttributes.n"),
        ({"filter": {"customAttributes.n": {"#gt": value}}}, "filter.customAttributes.n.#gt"),
        ({"filter": {"firstName": {"#in": ["a", value]}}}, "filter.firstName.#in[1]"),
        ({"filter": {"#lt": {"customAttributes.n": value}}}, "filter.#lt.customAttributes.n"),
        ({"events": [{"definitionId": "x", "payloadConditions": [{"attribute": "a", "value": value}]}]},
         "events[0].payloadConditions[0].value"),
        ({"events": [{"definitionId": "x", "occurrenceCondition": {"times": value}}]},
         "events[0].occurrenceCondition.times"),
        ({"events": [{"definitionId": "x", "timelineCondition": {"operator": "AFTER_ABS", "start": value}}]},
         "events[0].timelineCondition.start"),
    ):  # fmt: skip
        with pytest.raises(ApiError) as refused:
            parse_query(query, START)
        assert refused.value.status == 400 and refused.value.text.startswith(f"{where}: "), refused.value.text
    assert parse_query({"filter": {"customAttributes.n": 2**63 - 1}}, START)


# hypothesis: any JSON where a query's parts go, with the words of the language as keys
WORDS = st.sampled_from(
    ["filter", "events", "#and", "#or", "#in", "#notIn", "#gt", "#eq", "#relNow", "#exist", "#notExist", "firstName",
     "tags", "emails", "platform", "customAttributes.n", "installation.customAttributes.x", "definitionId",
     "occurrenceCondition", "timelineCondition", "payloadConditions", "operation", "times", "operator", "start",
     "end", "units", "occurred", "attribute", "value", "AFTER", "DAYS", "page", "limit", "x"]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | WORDS
    | st.text(max_size=5)
)
JSON = st.recursive(
    SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(WORDS, inner, max_size=3), max_leaves=12
)
QUERIES = st.fixed_dictionaries({}, optional={"filter": JSON, "events": st.lists(JSON, max_size=2) | JSON})


def test_no_query_is_a_500(client: TestClient, app: FastAPI) -> None:
    server = app.state.profiles
    people(client, 2)

    @settings(max_examples=30, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck))
    @given(query=QUERIES)
    def check(query: dict[str, Any]) -> None:
        body = json.dumps(query, allow_nan=True)
        response = client.post(QUERY, content=body, headers={"Content-Type": "application/json"})
        assert response.status_code in (200, 400), (body, response.text)
        try:  # and the compiler itself, with NaN and Infinity whatever the parser does
            server.run(server.admin(), query_persons, query)
        except ApiError as exc:
            assert exc.status == 400, exc.text

    check()


# --- the time budget ----------------------------------------------------------------------------
def jumping() -> Any:
    """A clock that moves 10 s at every look: any query is over budget at its first look."""
    ticks = itertools.count(0.0, 10.0)
    return lambda: next(ticks)


@pytest.mark.parametrize("kind", ["memory", "file"])
def test_the_budget_ends_a_query_and_the_next_request_is_answered(tmp_path: Path, kind: str) -> None:
    app = create_app(db=tmp_path / "b.db" if kind == "file" else None, app_codes=[APP_CODE], clock=Clock())
    store: Store = app.state.profiles.store
    with TestClient(app, raise_server_exceptions=False) as client:
        people(client, 3)
        store.progress_steps = 10
        store.clock = jumping()
        over = post(client, {"filter": {"tags": {"#notIn": ["x"]}}})
        text = assert_error(over, 422, "REQUEST_FORMAT_INVALID", "the query ran over its 2 s budget and was stopped")
        assert "narrow it" in text
        assert_error(client.get("/inspect/segments/Active Mobile Users/count"), 422, "REQUEST_FORMAT_INVALID")
        device = Device(client, Dialect.IOS)
        device.register()  # writes are not budgeted
        assert device.personalize({"externalUserId": "after"}).status_code == 200
        store.clock = Store(None).clock
        assert post(client, {"filter": {"tags": {"#notIn": ["x"]}}}).json()["total"] == 4
    store.close()


def test_the_budget_can_be_set(tmp_path: Path) -> None:
    store = Store(tmp_path / "b.db", query_budget=0.5)
    app = create_app(server=ProfileServer(store, clock=Clock()), app_codes=[APP_CODE])
    with TestClient(app, raise_server_exceptions=False) as client:
        store.progress_steps, store.clock = 10, jumping()
        assert_error(client.get("/inspect/stats"), 422, "REQUEST_FORMAT_INVALID", "over its 0.5 s budget")
    store.close()


# --- on a file, a slow query runs beside every other request -------------------------------------
class SlowQuery:
    """Store.clock that holds the first statement of the next query in its worker thread, at its
    first look at the budget (inside SQLite), until released."""

    def __init__(self, store: Store) -> None:
        self.real, self.looks = store.clock, 0
        self.inside, self.release = threading.Event(), threading.Event()

    def __call__(self) -> float:
        if threading.current_thread().name.startswith("mobsim-read") and not self.release.is_set():
            self.looks += 1
            if self.looks == 2:  # the first was the deadline, before the statement
                self.inside.set()
                self.release.wait(10)
        return self.real()


def test_a_slow_query_on_a_file_holds_up_no_other_request(tmp_path: Path) -> None:
    app = create_app(db=tmp_path / "slow.db", app_codes=[APP_CODE], clock=Clock())
    store: Store = app.state.profiles.store
    store.query_budget, store.progress_steps = 60.0, 1
    slow = SlowQuery(store)

    async def sdk(client: httpx.AsyncClient, device: Device, call: Any) -> httpx.Response:
        method, url, kwargs = wire(device, call)
        return await client.request(method, url, **kwargs)

    async def scenario() -> None:
        async with in_process(app) as client:
            first = Device(_Capture(), Dialect.ANDROID)
            await register(client, first)
            assert (await sdk(client, first, lambda d: d.personalize({"externalUserId": "before"}))).status_code == 200
            store.clock = slow
            query = asyncio.create_task(client.post(QUERY, json={"filter": {"#exist": "externalUserId"}}))
            try:
                assert await asyncio.to_thread(slow.inside.wait, 10), "the query did not reach SQLite"
                # the query is inside SQLite in its thread; the event loop serves everybody else
                second = Device(_Capture(), Dialect.IOS)
                await register(client, second)
                answer = await sdk(client, second, lambda d: d.personalize({"externalUserId": "during"}))
                assert answer.status_code == 200
                assert (await client.get("/inspect/stats")).json()["persons"] == {"CUSTOMER": 2}  # another reader
                assert (await client.get("/health")).status_code == 200
                assert not query.done()
            finally:
                slow.release.set()
            held = await query
            assert held.status_code == 200 and held.json()["total"] in (1, 2), held.text
            assert (await client.post(QUERY, json={"filter": {"#exist": "externalUserId"}})).json()["total"] == 2

    asyncio.run(scenario())
    store.close()


def test_a_read_on_a_file_shows_committed_writes_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's rule on the read path: no answer shows a write that could still be lost."""
    app = create_app(db=tmp_path / "held.db", app_codes=[APP_CODE], clock=Clock())
    store: Store = app.state.profiles.store

    async def scenario() -> None:
        async with in_process(app) as client:
            device = Device(_Capture(), Dialect.ANDROID)
            await register(client, device)
            units = count_units(store, monkeypatch)
            store.hold = asyncio.Event()
            method, url, kwargs = wire(device, lambda d: d.personalize({"externalUserId": "held"}))
            write = asyncio.create_task(client.request(method, url, **kwargs))
            await until(lambda: units() == 1)
            assert units() == 1
            # answered at once, without the held batch's write (a memory store would wait for it)
            during = await asyncio.wait_for(client.post(QUERY, json={"filter": {"externalUserId": "held"}}), 10)
            assert during.json()["total"] == 0
            assert not write.done()
            store.hold.set()
            assert (await write).status_code == 200
            after = await client.post(QUERY, json={"filter": {"externalUserId": "held"}})
            assert after.json()["total"] == 1

    asyncio.run(scenario())
    store.close()


def test_the_read_path_cannot_write(tmp_path: Path) -> None:
    store = Store(tmp_path / "ro.db")

    def write(db: Any) -> None:
        db.execute("INSERT INTO meta VALUES ('x', 'y')")

    async def scenario() -> None:
        with pytest.raises(Exception, match="readonly"):
            await store.read(write)

    asyncio.run(scenario())
    assert store.failure is None  # a bug on the read path is not the disk
    store.close()


def test_a_query_rule_on_the_read_path_sees_the_context(tmp_path: Path) -> None:
    """``Store.read`` hands rules a connection as ``atomic`` does (inspection.py, segments.py)."""
    store = Store(tmp_path / "ctx.db")

    async def scenario() -> Any:
        caller = Caller(app_code="", account="default")
        return await store.read(lambda db: query_persons(Context(db, caller, lambda: datetime.now(START.tzinfo)), {}))

    assert asyncio.run(scenario())["total"] == 0
    store.close()
