"""Events: App Launch from session reports, session bounds, event definitions, custom events with
and without validation, the lifecycle events; and the inspection API that shows them."""

from __future__ import annotations

from typing import Any

import pytest
from starlette.testclient import TestClient
from stubkit import APP_CODE, NOW, OTHER_APP, Clock, Device, Inspector, MakeDevice, assert_empty_ok, assert_error, ts

from contract import Dialect

# ---------------------------------------------------------------------------------------------
# sessions and App Launch


def launches(inspector: Inspector, device: Device) -> list[str]:
    return [e["occurred"] for e in inspector.events(pushRegId=device.reg_id, definitionId="AppLaunch")]


def sessions(inspector: Inspector, device: Device) -> list[tuple[str, str | None, int | None]]:
    return [
        (s["start"], s["end"], s["durationSeconds"]) for s in inspector.installation(device.reg_id or "")["sessions"]
    ]


def test_each_new_session_start_is_one_app_launch(device: Device, inspector: Inspector) -> None:
    assert_empty_ok(device.session([ts(0)]))
    assert launches(inspector, device) == [ts(0)]
    # re-sent starts (a retry, or Android re-sending the current start with new bounds) do not count again
    assert_empty_ok(device.session([ts(0)]))
    assert_empty_ok(device.session([ts(0)], {ts(0): ts(40)}))
    assert launches(inspector, device) == [ts(0)]
    # iOS reports several starts at once
    assert_empty_ok(device.session([ts(0), ts(100), ts(200)]))
    assert launches(inspector, device) == [ts(0), ts(100), ts(200)]
    assert sessions(inspector, device) == [(ts(0), ts(40), 40), (ts(100), None, None), (ts(200), None, None)]


def test_bounds_keep_the_latest_end(device: Device, inspector: Inspector) -> None:
    device.session([ts(0)], {ts(0): ts(30)})
    device.session([], {ts(0): ts(90)})
    device.session([], {ts(0): ts(60)})  # an older report arriving late
    assert sessions(inspector, device) == [(ts(0), ts(90), 90)]
    assert launches(inspector, device) == [ts(0)]


def test_a_bound_of_an_unreported_start_is_a_launch(device: Device, inspector: Inspector) -> None:
    # Android reports a session that began before registration only as a bound
    device.session([ts(100)], {ts(-500): ts(-400)})
    assert launches(inspector, device) == [ts(-500), ts(100)]
    assert sessions(inspector, device) == [(ts(-500), ts(-400), 100), (ts(100), None, None)]


def test_starts_are_compared_in_utc(device: Device, inspector: Inspector) -> None:
    device.session(["2024-05-01T12:00:00Z"])
    device.session(["2024-05-01T14:00:00+02:00", "2024-05-01T12:00:00.700Z"])
    assert launches(inspector, device) == ["2024-05-01T12:00:00Z"]


def test_launches_are_deduplicated_per_installation(new_device: MakeDevice, inspector: Inspector) -> None:
    a, b = new_device(Dialect.IOS), new_device(Dialect.ANDROID)
    a.session([ts(0)])
    b.session([ts(0)])
    assert [(e["pushRegId"], e["occurred"]) for e in inspector.events(definitionId="AppLaunch")] == [
        (a.reg_id, ts(0)),
        (b.reg_id, ts(0)),
    ]


def test_an_empty_report_applies_system_data(device: Device, inspector: Inspector) -> None:
    assert_empty_ok(device.session([], {}, system={"osVersion": "99", "notificationsEnabled": False}))
    installation = device.installation_json()
    assert (installation["osVersion"], installation["notificationsEnabled"]) == ("99", False)
    assert launches(inspector, device) == []


def test_session_system_data_is_only_system_data(device: Device) -> None:
    before = device.installation_json()
    system = {"sdkVersion": "15.6.0", "isPrimary": True, "customAttributes": {"x": 1}, "pushServiceToken": "t"}
    assert_empty_ok(device.session([ts(0)], system=system))
    after = device.installation_json()
    assert after == {**before, "sdkVersion": "15.6.0"}


def test_launches_belong_to_the_person(device: Device, inspector: Inspector) -> None:
    device.personalize({"externalUserId": "launcher"})
    device.session([ts(5)])
    person = inspector.find("launcher")
    assert person["eventCounts"]["AppLaunch"] == 1
    assert [s["start"] for s in person["sessions"]] == [ts(5)]


# ---------------------------------------------------------------------------------------------
# event definitions


def test_create_and_list_definitions(inspector: Inspector) -> None:
    created = inspector.define(
        "orderPlaced",
        [
            {"name": "total", "type": "Decimal"},
            {"name": "count", "type": "Numeric"},
            {"name": "gift", "type": "Boolean"},
            {"name": "at", "type": "DateTime"},
            {"name": "coupon_2", "type": "String"},
            {
                "name": "items",
                "type": "List",
                "fields": [{"name": "sku", "type": "String"}, {"name": "qty", "type": "Numeric"}],
            },
        ],
        title="Order placed",
        description="A checkout",
    )
    assert created == {
        "definitionId": "orderPlaced",
        "title": "Order placed",
        "description": "A checkout",
        "fields": [
            {"name": "total", "type": "Decimal"},
            {"name": "count", "type": "Numeric"},
            {"name": "gift", "type": "Boolean"},
            {"name": "at", "type": "DateTime"},
            {"name": "coupon_2", "type": "String"},
            {
                "name": "items",
                "type": "List",
                "fields": [{"name": "sku", "type": "String"}, {"name": "qty", "type": "Numeric"}],
            },
        ],
    }
    second = inspector.define("Z" * 36, [])
    assert second == {"definitionId": "Z" * 36, "title": "Z" * 36, "description": "", "fields": []}
    assert inspector.get("/event-definitions") == {"definitions": [created, second]}  # same second: by id
    # another account has its own definitions
    assert inspector.get("/event-definitions", account="acme") == {"definitions": []}


@pytest.mark.parametrize(
    ("payload", "status", "text"),
    [
        ({"definitionId": "bad-id", "fields": []}, 400, "definitionId must be 1 to 36 letters or digits"),
        ({"definitionId": "a" * 37, "fields": []}, 400, "1 to 36 letters or digits"),
        ({"definitionId": "", "fields": []}, 400, "1 to 36 letters or digits"),
        ({"definitionId": "abc\n", "fields": []}, 400, "1 to 36 letters or digits"),
        ({"definitionId": "ŠkodaDrive", "fields": []}, 400, "1 to 36 letters or digits"),
        ({"definitionId": 12, "fields": []}, 400, "1 to 36 letters or digits"),
        ({"fields": []}, 400, "1 to 36 letters or digits"),
        ({"definitionId": "AppLaunch", "fields": []}, 400, "'AppLaunch' is a standard event"),
        ({"definitionId": "install", "fields": []}, 400, "is a standard event"),
        ({"definitionId": "UNINSTALL", "fields": []}, 400, "is a standard event"),
        ({"definitionId": "Personalize", "fields": []}, 400, "is a standard event"),
        ({"definitionId": "depersonalize", "fields": []}, 400, "is a standard event"),
        ({"definitionId": "ok", "fields": [{"name": "Total", "type": "Decimal"}]}, 400, "must start with a lower-case"),
        ({"definitionId": "ok", "fields": [{"name": "to-tal", "type": "Decimal"}]}, 400, "use [A-Za-z0-9_]"),
        (
            {"definitionId": "ok", "fields": [{"name": "total\n", "type": "Decimal"}]},
            400,
            "must start with a lower-case",
        ),
        ({"definitionId": "ok", "fields": [{"name": "t" * 129, "type": "Decimal"}]}, 400, "≤128 chars"),
        ({"definitionId": "ok", "fields": [{"name": "_x", "type": "Decimal"}]}, 400, "must start with a lower-case"),
        ({"definitionId": "ok", "fields": [{"name": "x", "type": "Integer"}]}, 400, "type must be one of"),
        ({"definitionId": "ok", "fields": [{"name": "x"}]}, 400, "type must be one of"),
        ({"definitionId": "ok", "fields": [{"type": "String"}]}, 400, "each field needs a name and a type"),
        ({"definitionId": "ok", "fields": ["x"]}, 400, "each field needs a name and a type"),
        ({"definitionId": "ok", "fields": {"x": "String"}}, 400, "fields must be a list"),
        ({"definitionId": "ok", "fields": None}, 400, "fields must be a list"),
        (
            {"definitionId": "ok", "fields": [{"name": "xY", "type": "String"}, {"name": "xy", "type": "Boolean"}]},
            400,
            "defined twice (names are case-insensitive)",
        ),
        (
            {
                "definitionId": "ok",
                "fields": [{"name": "a", "type": "List", "fields": []}, {"name": "b", "type": "List", "fields": []}],
            },
            400,
            "at most one List field",
        ),
        (
            {
                "definitionId": "ok",
                "fields": [{"name": "a", "type": "List", "fields": [{"name": "b", "type": "List"}]}],
            },
            400,
            "type must be one of ['String', 'Boolean', 'DateTime', 'Numeric', 'Decimal']",
        ),
        (
            {"definitionId": "ok", "fields": [{"name": f"f{i}", "type": "String"} for i in range(121)]},
            400,
            "at most 120",
        ),
        ({"definitionId": "ok", "title": "t" * 101}, 400, "title is at most 100 characters"),
        ({"definitionId": "ok", "description": "d" * 2001}, 400, "description 2000"),
        ({"definitionId": "ok", "title": 5}, 400, "title is at most 100 characters"),
    ],
)
def test_definition_rules(
    inspector: Inspector, client: TestClient, payload: dict[str, Any], status: int, text: str
) -> None:
    assert_error(client.post("/inspect/event-definitions", json=payload), status, "REQUEST_FORMAT_INVALID", text)
    assert inspector.get("/event-definitions") == {"definitions": []}


def test_definition_limits_are_inclusive(inspector: Inspector) -> None:
    fields = [{"name": "t" * 128, "type": "String"}, *({"name": f"f{i}", "type": "Numeric"} for i in range(119))]
    created = inspector.define("a" * 36, fields, title="t" * 100, description="d" * 2000)
    assert len(created["fields"]) == 120


def test_a_definition_id_exists_once_case_insensitively(inspector: Inspector, client: TestClient) -> None:
    inspector.define("checkout", [])
    response = client.post("/inspect/event-definitions", json={"definitionId": "CheckOut", "fields": []})
    assert_error(response, 409, "REQUEST_FORMAT_INVALID", "exists already")


# ---------------------------------------------------------------------------------------------
# custom events


@pytest.fixture
def purchase(inspector: Inspector) -> dict[str, Any]:
    return inspector.define(
        "purchase",
        [
            {"name": "amount", "type": "Decimal"},
            {"name": "count", "type": "Numeric"},
            {"name": "paid", "type": "Boolean"},
            {"name": "at", "type": "DateTime"},
            {"name": "note", "type": "String"},
            {
                "name": "lines",
                "type": "List",
                "fields": [{"name": "sku", "type": "String"}, {"name": "n", "type": "Numeric"}],
            },
        ],
    )


GOOD = {
    "definitionId": "purchase",
    "date": ts(-10),
    "properties": {
        "amount": 12.5,
        "count": 2,
        "paid": True,
        "at": "2024-05-01T11:00:00Z",
        "note": "gift",
        "lines": [{"sku": "A", "n": 1}, {"sku": "B", "n": None}],
    },
}

BAD: list[tuple[dict[str, Any], str]] = [
    ({"definitionId": "refund", "date": ts(-1)}, "no event definition 'refund'; create it first"),
    ({"definitionId": "purchase", "properties": {"amount": "12.5"}}, "property 'amount' must be Decimal"),
    ({"definitionId": "purchase", "properties": {"count": True}}, "property 'count' must be Numeric"),
    ({"definitionId": "purchase", "properties": {"paid": 1}}, "property 'paid' must be Boolean"),
    ({"definitionId": "purchase", "properties": {"at": "2024-05-01"}}, "property 'at' must be DateTime"),
    ({"definitionId": "purchase", "properties": {"note": 5}}, "property 'note' must be String"),
    ({"definitionId": "purchase", "properties": {"lines": [{"sku": 1}]}}, "property 'lines' must be List"),
    ({"definitionId": "purchase", "properties": {"lines": [{"other": "x"}]}}, "property 'lines' must be List"),
    ({"definitionId": "purchase", "properties": {"coupon": "X"}}, "event 'purchase' has no property 'coupon'"),
]


def test_a_valid_event_is_stored_either_way(device: Device, inspector: Inspector, purchase: dict[str, Any]) -> None:
    assert_empty_ok(device.events([GOOD], validate=True))
    assert_empty_ok(device.events([{**GOOD, "definitionId": "PURCHASE", "date": ts(-5)}], validate=False))
    stored = inspector.events(definitionId="purchase")
    assert [(e["occurred"], e["received"]) for e in stored] == [(ts(-10), NOW), (ts(-5), NOW)]
    # null properties are dropped, the definition's own spelling is kept
    assert stored[0]["properties"] == {**GOOD["properties"], "lines": [{"sku": "A", "n": 1}, {"sku": "B", "n": None}]}
    assert inspector.counts() == {"counts": {"Install": 1, "purchase": 2}, "rejected": 0}


def test_an_event_without_a_date_takes_the_server_time(device: Device, inspector: Inspector, clock: Clock) -> None:
    inspector.define("ping", [])
    clock.advance(30)
    device.events([{"definitionId": "ping"}], validate=True)
    assert [e["occurred"] for e in inspector.events(definitionId="ping")] == [ts(30)]


@pytest.mark.parametrize(("event", "reason"), BAD, ids=[r[:30] for _, r in BAD])
def test_validate_true_rejects_with_the_reason_and_stores_nothing(
    device: Device, inspector: Inspector, purchase: dict[str, Any], event: dict[str, Any], reason: str
) -> None:
    response = device.events([GOOD, event, GOOD], validate=True)
    assert_error(response, 400, "REQUEST_FORMAT_INVALID", reason)
    assert inspector.counts() == {"counts": {"Install": 1}, "rejected": 0}
    assert inspector.get("/rejected-events")["total"] == 0


def test_validate_false_stores_the_valid_and_counts_the_rejected(
    device: Device, inspector: Inspector, purchase: dict[str, Any], clock: Clock
) -> None:
    clock.advance(60)
    batch = [GOOD, *(event for event, _ in BAD), GOOD]
    assert_empty_ok(device.events(batch, validate=False))
    assert inspector.counts() == {"counts": {"Install": 1, "purchase": 2}, "rejected": len(BAD)}
    rejected = inspector.get("/rejected-events")
    assert rejected["total"] == len(BAD)
    assert [r["reason"][: len(reason)] for r, (_, reason) in zip(rejected["rejected"], BAD, strict=True)] == [
        reason for _, reason in BAD
    ]
    assert rejected["rejected"][0] == {
        "pushRegId": device.reg_id,
        "definitionId": "refund",
        "reason": "no event definition 'refund'; create it first",
        "received": ts(60),
    }
    # paging
    page = inspector.get("/rejected-events", page=1, limit=3)
    assert [r["definitionId"] for r in page["rejected"]] == ["purchase"] * 3
    assert (page["page"], page["limit"], page["total"]) == (1, 3, len(BAD))
    assert inspector.stats()["events"]["rejected"] == len(BAD)


# Items that are not custom events at all (an object property, a bad date, no definitionId...).
# (item, its definitionId if any, the reason with validate=true, with validate=false)
MALFORMED: list[tuple[Any, str | None, str, str]] = [
    (
        {"definitionId": "purchase", "properties": {"lines": {"sku": "x"}}},
        "purchase",
        "properties.lines",
        "properties.lines",
    ),
    ({"definitionId": "purchase", "date": "yesterday"}, "purchase", "'yesterday' is not", "'yesterday' is not"),
    ({"definitionId": "purchase", "date": "2024-05-01T10:00:00"}, "purchase", "no time zone", "no time zone"),
    ({"properties": {}}, None, "definitionId: Field required", "definitionId: Field required"),
    ({"definitionId": 7}, None, "definitionId: Input should be a valid string", "Input should be a valid string"),
    (5, None, "events.1: Input should be an object", "body: Input should be a valid dictionary"),
    (None, None, "events.1: Input should be an object", "body: Input should be a valid dictionary"),
]


@pytest.mark.parametrize(("item", "definition_id", "strict", "reason"), MALFORMED, ids=[str(i) for i in range(7)])
def test_a_malformed_item(
    device: Device,
    inspector: Inspector,
    purchase: dict[str, Any],
    item: Any,
    definition_id: str | None,
    strict: str,
    reason: str,
) -> None:
    # validate=true: the batch is refused
    assert_error(device.events([GOOD, item], validate=True), 400, "REQUEST_FORMAT_INVALID", strict)
    assert inspector.counts() == {"counts": {"Install": 1}, "rejected": 0}
    # validate=false: the batch is accepted (iOS would re-send a failed batch for ever), the item rejected
    assert_empty_ok(device.events([GOOD, item, GOOD], validate=False))
    assert inspector.counts() == {"counts": {"Install": 1, "purchase": 2}, "rejected": 1}
    [rejected] = inspector.get("/rejected-events")["rejected"]
    assert rejected["definitionId"] == definition_id
    assert rejected["reason"].startswith("not a custom event: ")
    assert reason in rejected["reason"]


def test_a_batch_that_is_not_a_batch_is_refused(device: Device) -> None:
    for body in ({"events": "x"}, {"events": {"definitionId": "d"}}, {}):
        response = device.call("custom_events", flags={"validate": False}, body=body)
        assert_error(response, 400, "REQUEST_FORMAT_INVALID", "events")


def test_an_empty_batch(device: Device, inspector: Inspector) -> None:
    assert_empty_ok(device.events([], validate=True))
    assert_empty_ok(device.events([], validate=False))
    assert inspector.counts() == {"counts": {"Install": 1}, "rejected": 0}


def test_custom_events_of_a_person(device: Device, inspector: Inspector, purchase: dict[str, Any]) -> None:
    device.personalize({"externalUserId": "buyer"})
    device.events([GOOD], validate=True)
    person = inspector.find("buyer")
    assert person["eventCounts"] == {"Install": 1, "Personalize": 1, "purchase": 1}
    assert person["events"][0]["properties"]["amount"] == 12.5


# ---------------------------------------------------------------------------------------------
# lifecycle events


def test_the_lifecycle_events_of_an_installation(
    new_device: MakeDevice, inspector: Inspector, clock: Clock, dialect: Dialect
) -> None:
    device = new_device(dialect)
    clock.advance(1)
    device.personalize({"externalUserId": "life"})
    clock.advance(1)
    device.depersonalize()
    clock.advance(1)
    device.personalize({"externalUserId": "life"})
    clock.advance(1)
    inspector.post(f"/installations/{device.reg_id}/uninstall")
    events = inspector.events(pushRegId=device.reg_id)
    person = inspector.find("life")["id"]
    assert [(e["definitionId"], e["occurred"], e["personId"]) for e in events] == [
        ("Install", ts(0), person),  # moved to the person on personalize
        ("Personalize", ts(1), person),
        ("Depersonalize", ts(2), person),
        ("Personalize", ts(3), person),
        ("Uninstall", ts(4), person),
    ]
    assert {e["application"] for e in events} == {APP_CODE}


def test_an_anonymous_uninstall(new_device: MakeDevice, inspector: Inspector) -> None:
    device = new_device(Dialect.IOS)
    assert inspector.post(f"/installations/{device.reg_id}/uninstall") == {
        "pushRegId": device.reg_id,
        "state": "uninstalled",
    }
    assert [(e["definitionId"], e["personId"]) for e in inspector.events(pushRegId=device.reg_id)] == [
        ("Install", None),
        ("Uninstall", None),
    ]
    assert_error(device.get(), 404, "NO_REGISTRATION")
    response = inspector.client.request("POST", f"/inspect/installations/{device.reg_id}/uninstall")
    assert_error(response, 404, "NOT_FOUND", "no active installation")


# ---------------------------------------------------------------------------------------------
# the inspection API


def test_applications(inspector: Inspector) -> None:
    listed = inspector.get("/applications")["applications"]
    assert [(a["code"], a["codeHash"], a["account"], a["created"]) for a in listed] == [
        # sha256("stub-other-app-code") = b0be580f4a..., sha256("stub-test-app-code") = f7458d6b89...
        (OTHER_APP, "b0be580f4a", "default", NOW),
        (APP_CODE, "f7458d6b89", "default", NOW),
    ]
    created = inspector.post("/applications", {"name": "Shop", "account": "acme"}, status=201)
    assert (created["name"], created["account"], len(created["codeHash"])) == ("Shop", "acme", 10)
    assert len(created["code"]) == 69  # 32 hex digits, a dash, a UUID
    again = inspector.post("/applications", {"code": created["code"]}, status=201)
    assert again == created  # idempotent for a known code
    assert len(inspector.get("/applications")["applications"]) == 3


def test_a_created_application_is_usable_at_once(inspector: Inspector, client: TestClient) -> None:
    created = inspector.post("/applications", {"code": "fresh-app"}, status=201)
    device = Device(client, Dialect.IOS, app_code=created["code"])
    assert device.register()["pushRegId"]


def test_persons_paging(new_device: MakeDevice, inspector: Inspector) -> None:
    for n in range(5):
        new_device().personalize({"externalUserId": f"user{n}"})
    page = inspector.get("/persons", page=1, limit=2)
    assert (page["page"], page["limit"], page["total"]) == (1, 2, 5)
    assert [p["externalUserId"] for p in page["persons"]] == ["user2", "user3"]
    assert [p["id"] for p in inspector.get("/persons", page=2, limit=2)["persons"]] == [5]
    assert inspector.get("/persons", page=3, limit=2)["persons"] == []
    default = inspector.get("/persons")
    assert (default["limit"], len(default["persons"])) == (20, 5)
    assert inspector.get("/persons", account="acme") == {"persons": [], "page": 0, "limit": 20, "total": 0}


@pytest.mark.parametrize(
    ("identifier", "kind"),
    [
        ("finder", "EXTERNAL_ID"),
        ("+385 95 555 5555", "PHONE"),
        ("385955555555", "phone"),
        ("FIND@example.com", "EMAIL"),
        ("1", "ID"),
    ],
)
def test_find_a_person_by_any_identifier(device: Device, inspector: Inspector, identifier: str, kind: str) -> None:
    device.personalize(
        {
            "externalUserId": "finder",
            "phones": [{"number": "385955555555"}],
            "emails": [{"address": "find@example.com"}],
        },
        {"lastName": "Found", "tags": ["a"]},
    )
    person = inspector.find(identifier, kind)
    assert person["id"] == 1
    assert (person["lastName"], person["tags"], person["type"]) == ("Found", ["a"], "CUSTOMER")
    assert person == inspector.person(1) == inspector.person_of(device.reg_id or "")
    assert [i["pushRegId"] for i in person["installations"]] == [device.reg_id]
    assert (person["created"], person["updated"]) == (NOW, NOW)


def test_find_by_push_of_an_anonymous_installation(device: Device, client: TestClient) -> None:
    response = client.get("/inspect/persons", params={"identifier": device.reg_id, "type": "PUSH"})
    assert_error(response, 404, "NOT_FOUND", "no person with PUSH")


def test_installations_listing(new_device: MakeDevice, inspector: Inspector) -> None:
    ios = new_device(Dialect.IOS)
    android = new_device(Dialect.ANDROID)
    other = new_device(Dialect.ANDROID, app_code=OTHER_APP)
    new_device(Dialect.IOS).delete(ios.reg_id or "")
    listed = inspector.get("/installations", limit=100)
    assert listed["total"] == 4
    assert [i["pushRegId"] for i in listed["installations"]][:3] == [ios.reg_id, android.reg_id, other.reg_id]
    ours = inspector.get("/installations", application=OTHER_APP)["installations"]
    assert [i["pushRegId"] for i in ours] == [other.reg_id]
    deleted = inspector.get("/installations", state="deleted")["installations"]
    assert [(i["pushRegId"], i["state"]) for i in deleted] == [(ios.reg_id, "deleted")]
    one = inspector.installation(android.reg_id or "")
    assert (one["application"], one["platform"], one["state"], one["personId"]) == (APP_CODE, "android", "active", None)
    assert one["pushServiceToken"] == android.token
    assert inspector.get("/installations", page=1, limit=3)["installations"][0]["state"] == "active"


def test_events_filters(new_device: MakeDevice, inspector: Inspector) -> None:
    a, b = new_device(), new_device()
    a.personalize({"externalUserId": "ea"})
    b.session([ts(1)])
    person = inspector.find("ea")["id"]
    assert inspector.names(personId=person) == ["Install", "Personalize"]
    assert inspector.names(pushRegId=b.reg_id) == ["Install", "AppLaunch"]
    assert [e["pushRegId"] for e in inspector.events(definitionId="Install")] == [a.reg_id, b.reg_id]
    assert inspector.names(personId=person, definitionId="Install") == ["Install"]
    assert inspector.names(pushRegId="nobody") == []
    page = inspector.get("/events", page=1, limit=2)
    assert [e["definitionId"] for e in page["events"]] == ["Personalize", "AppLaunch"]


def test_stats(new_device: MakeDevice, inspector: Inspector) -> None:
    a, b, c = new_device(Dialect.IOS), new_device(Dialect.ANDROID), new_device(Dialect.ANDROID)
    huawei = Device(a.client, Dialect.ANDROID)
    huawei.register(pushServiceType="HMS")
    a.personalize({"externalUserId": "s1"}, keep_as_lead=True)
    b.personalize({"externalUserId": "s2"})
    inspector.post(f"/installations/{c.reg_id}/uninstall")
    assert inspector.stats() == {
        "persons": {"CUSTOMER": 1, "LEAD": 1},
        "installations": {"active": {"android": 1, "huawei": 1, "ios": 1}, "uninstalled": {"android": 1}},
        "personalizedInstallations": 2,
        "events": {"counts": {"Install": 4, "Personalize": 2, "Uninstall": 1}, "rejected": 0},
    }


def test_reset_keeps_the_applications(new_device: MakeDevice, inspector: Inspector, client: TestClient) -> None:
    device = new_device()
    device.personalize({"externalUserId": "gone"}, {"customAttributes": {"n": 1}})
    device.session([ts(0)])
    inspector.define("kept", [])
    apps = inspector.get("/applications")
    assert inspector.post("/reset") == {"reset": True}
    assert inspector.stats() == {
        "persons": {},
        "installations": {},
        "personalizedInstallations": 0,
        "events": {"counts": {}, "rejected": 0},
    }
    assert inspector.get("/event-definitions") == {"definitions": []}
    assert inspector.get("/applications") == apps
    assert_error(device.get(), 404, "NO_REGISTRATION")
    # attribute types went too
    fresh = new_device()
    fresh.personalize({"externalUserId": "gone"})
    assert_empty_ok(fresh.patch_user({"customAttributes": {"n": "now a string"}}))


def test_served_openapi_and_docs(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for template in (
        "/mobile/1/appinstance",
        "/mobile/1/appinstance/{pushRegId}",
        "/mobile/1/appinstance/{pushRegId}/user",
        "/mobile/1/appinstance/{pushRegId}/personalize",
        "/mobile/1/appinstance/{pushRegId}/repersonalize",
        "/mobile/1/appinstance/{pushRegId}/depersonalize",
        "/mobile/1/appinstance/{pushRegId}/user/events/session",
        "/mobile/1/appinstance/{pushRegId}/user/events/custom",
        "/mobile/5/messages",
        "/mobile/2/messages/seen",
        "/mobile/1/messages/mo",
        "/mobile/1/messages/deliveryreport",
        "/mobile/3/version",
        "/mobile/1/baseurl",
        "/inspect/persons",
        "/inspect/persons/{person_id}",
        "/inspect/installations/{push_reg_id}/uninstall",
        "/inspect/event-definitions",
        "/inspect/reset",
    ):
        assert template in paths, template
    assert sorted(paths["/mobile/1/appinstance/{pushRegId}"]) == ["delete", "get", "patch", "post"]
    post = paths["/mobile/1/appinstance/{pushRegId}"]["post"]
    assert {"name": "X-HTTP-Method-Override", "in": "header", "required": True, "schema": {"enum": ["PATCH"]}} in post[
        "parameters"
    ]
    version = paths["/mobile/3/version"]["get"]["parameters"]
    assert {p["name"]: p["schema"] for p in version if p["in"] == "query"} == {
        "platformType": {"type": "string", "enum": ["APNS", "GCM"]}
    }
    for model in ("Installation", "User", "PersonalizeBody", "SessionReport", "CustomEventsBody", "MoRequest"):
        assert model in spec["components"]["schemas"], model
    docs = client.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()


def test_an_installation_patch_moves_the_platform_column_only_when_the_push_service_changes(
    new_device: MakeDevice, inspector: Inspector
) -> None:
    """The platform column (what segments and the provider feed read) follows pushServiceType; a
    PATCH that keeps it leaves the column as it is (no statement for it)."""
    android = new_device(Dialect.ANDROID)
    reg = android.reg_id or ""
    assert android.patch({"notificationsEnabled": False}).status_code == 200
    assert inspector.installation(reg)["platform"] == "android"
    assert android.patch({"pushServiceType": "HMS", "pushServiceToken": "hms-token-1"}).status_code == 200
    assert inspector.installation(reg)["platform"] == "huawei"
    assert android.patch({"language": "de"}).status_code == 200
    assert inspector.installation(reg)["platform"] == "huawei"
    assert android.patch({"pushServiceType": "Firebase", "pushServiceToken": "fcm-token-2"}).status_code == 200
    assert inspector.installation(reg)["platform"] == "android"
