"""``POST /inspect/persons/query``: the People filter subset and segment event conditions."""

from __future__ import annotations

import warnings
from datetime import UTC, datetime
from typing import Any

import pytest
from demohelpers import Generated

from server_stub import create_app
from server_stub.segments import compile_filter
from simulator import AppConfig, VirtualClock, VirtualDevice

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

NOW = datetime(2024, 6, 1, tzinfo=UTC)
ANA = {
    "firstName": "Ana", "lastName": "Kovač", "gender": "Female", "birthday": "1990-04-02", "type": "CUSTOMER",
    "externalUserId": "c-1", "tags": ["vip", "newsletter"], "emails": ["ana@example.com"],
    "customAttributes": {"tier": "gold", "spent": 120.5, "orders": 3, "consent": True},
}  # fmt: skip


def matches(clause: dict[str, Any], doc: dict[str, Any] = ANA) -> bool:
    return compile_filter(clause, NOW)(doc)


def test_equality_logic_and_comparisons() -> None:
    assert matches({"firstName": "Ana"}) and not matches({"firstName": "Bob"})
    assert matches({"#and": [{"customAttributes.tier": "gold"}, {"#gt": {"customAttributes.spent": 100}}]})
    assert matches({"#or": [{"firstName": "Bob"}, {"data.orders": {"#gte": 3, "#lt": 4}}]})
    assert not matches({"#or": [{"firstName": "Bob"}, {"data\u0001orders": {"#gt": 3}}]})
    assert matches({"customAttributes.tier": {"#in": ["silver", "gold"]}})
    assert matches({"#notIn": {"customAttributes.tier": ["bronze"]}})
    assert matches({"#startsWith": {"lastName": "Ko"}}) and matches({"#endsWith": {"email": "example.com"}}) is False
    assert matches({"gender": "FEMALE"}) and matches({"#ne": {"gender": "MALE"}})
    assert matches({"customAttributes.consent": True}) and not matches({"customAttributes.consent": 1})


def test_tags_existence_and_relative_dates() -> None:
    assert matches({"#contains": {"tags": "vip"}}) and matches({"#notContain": {"tags": "churned"}})
    assert matches({"#exist": "customAttributes.tier"}) and matches({"#notExist": "middleName"})
    assert matches({"#exists": ["externalUserId", "emails"]})
    assert matches({"#lt": {"birthday": {"#relNow": "-P7000D"}}})  # born more than ~19 years ago
    assert not matches({"#gt": {"birthday": {"#relNow": "-P365D"}}})


@pytest.mark.parametrize(
    "clause",
    [[], {"#and": []}, {"#gt": 3}, {"firstName": {"#near": 1}}, {"#lt": {"birthday": {"#relNow": "soon"}}},
     {"#exist": 3}],
)  # fmt: skip
def test_bad_filters_are_400_with_a_reason(clause: Any) -> None:
    client = TestClient(create_app(memory=True, app_codes=["C"]))
    answer = client.post("/inspect/persons/query", json={"filter": clause})
    assert answer.status_code == 400
    assert answer.json()["requestError"]["serviceException"]["messageId"] == "REQUEST_FORMAT_INVALID"


def test_event_conditions_count_occurrences_in_a_window() -> None:
    clock = VirtualClock(datetime(2024, 5, 1, tzinfo=UTC))
    client = TestClient(
        create_app(memory=True, app_codes=["C"], clock=lambda: datetime.fromtimestamp(clock.now(), UTC))
    )
    for definition in ("view", "buy"):
        client.post("/inspect/event-definitions", json={"definitionId": definition, "fields": []})
    app = AppConfig("C", base_url="http://testserver")
    for n, purchases in enumerate((0, 1, 3)):
        device = VirtualDevice.create("android", app, seed=n, transport=client, clock=clock)
        device.start()
        device.personalize({"externalUserId": f"p{n}"}, {"tags": ["vip"] if n else []})
        device.submit_event("view")
        for _ in range(purchases):
            device.advance(10)
            device.submit_event("buy")
        device.advance(10)
        clock.advance(86400)

    def total(query: dict[str, Any]) -> int:
        answer = client.post("/inspect/persons/query", json=query)
        assert answer.status_code == 200, answer.text
        return int(answer.json()["total"])

    def buys(operation: str, times: int, **timeline: Any) -> dict[str, Any]:
        condition = {"definitionId": "buy", "occurrenceCondition": {"operation": operation, "times": times}}
        if timeline:
            condition["timelineCondition"] = timeline
        return {"events": [condition]}

    assert total({}) == 3
    assert total(buys("GREATER_OR_EQUAL", 1)) == 2
    assert total(buys("IS", 3)) == 1
    assert total(buys("LESS_THAN", 2)) == 2  # includes the person who never bought
    assert total({"events": [{"definitionId": "BUY", "timelineCondition": {"occurred": "NOT"}}]}) == 1
    assert total(buys("GREATER_OR_EQUAL", 1, operator="AFTER", start=1.5, units="DAYS")) == 1  # the last day only
    start = datetime(2024, 5, 2, tzinfo=UTC).timestamp()
    end = datetime(2024, 5, 3, tzinfo=UTC).timestamp()
    assert total(buys("GREATER_OR_EQUAL", 1, operator="BETWEEN_ABS", start=start, end=end)) == 1
    assert total({"events": [{"definitionId": "buy", "timelineCondition": {"occurred": "FIRST", "operator":
                  "BEFORE_ABS", "start": end}}]}) == 1  # fmt: skip
    assert total({"filter": {"#contains": {"tags": "vip"}}, **buys("GREATER_THAN", 2)}) == 1
    assert total({"events": [{"definitionId": "Install"}, {"definitionId": "Personalize"}]}) == 3
    page = client.post("/inspect/persons/query", json={"limit": 2, "page": 1}).json()
    assert page["total"] == 3 and len(page["persons"]) == 1 and page["persons"][0]["externalUserId"] == "p2"


def test_the_demo_summary_queries_return_people(small: Generated) -> None:
    from demo.queries import example_queries
    from demo.verticals import vertical

    options = small.config.audience()
    assert small.outcome.server is not None
    for what, body in example_queries(vertical("retail"), options.start, options.end):
        status, result = small.outcome.server.post("/inspect/persons/query", body)
        assert status == 200 and result["total"] > 0, (what, result)
