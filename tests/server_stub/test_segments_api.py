"""Saved segments (``/inspect/segments``, server_stub/saved_segments.py) over devices that speak the
Mobile API: create, list, get, delete, count, members with paging; the predefined Active and
Inactive Mobile Users; clear errors; the indexes a segment builds; ``segment_reg_ids`` for the Push
API; the person tags the triggers keep; a database file from before segments."""

from __future__ import annotations

import sqlite3
import warnings
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from stubkit import APP_CODE, OTHER_APP, START, Clock, Device, ts

from contract import Dialect
from server_stub import ApiError, ProfileServer, Store, create_app
from server_stub.segments import segment_reg_ids

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

DAY = 86400
ACTIVE, INACTIVE = "Active Mobile Users", "Inactive Mobile Users"


def error(response: Any) -> tuple[int, str, str]:
    exception = response.json()["requestError"]["serviceException"]
    return response.status_code, exception["messageId"], exception["text"]


class Audience:
    """Devices of both dialects and two apps on one in-memory server with a movable clock."""

    def __init__(self, client: TestClient, app: FastAPI, clock: Clock) -> None:
        self.client, self.app, self.clock = client, app, clock
        self.devices: dict[str, Device] = {}

    @property
    def server(self) -> ProfileServer:
        server: ProfileServer = self.app.state.profiles
        return server

    def device(
        self,
        label: str,
        dialect: Dialect = Dialect.ANDROID,
        *,
        app_code: str = APP_CODE,
        user: str | None = None,
        attributes: dict[str, Any] | None = None,
        **system: Any,
    ) -> Device:
        device = Device(self.client, dialect, app_code=app_code)
        device.register(**system)
        if user is not None:
            answer = device.personalize({"externalUserId": user}, attributes)
            assert answer.status_code == 200, answer.text
        self.devices[label] = device
        return device

    def label(self, reg_id: str) -> str:
        return next(label for label, d in self.devices.items() if d.reg_id == reg_id)

    def get(self, path: str, status: int = 200, **params: Any) -> Any:
        response = self.client.get(path, params=params)
        assert response.status_code == status, response.text
        return response.json()

    def save(self, name: str, query: dict[str, Any]) -> dict[str, Any]:
        response = self.client.post("/inspect/segments", json={"name": name, "query": query})
        assert response.status_code == 201, response.text
        saved: dict[str, Any] = response.json()
        return saved

    def count(self, name: str, **params: Any) -> dict[str, Any]:
        counted: dict[str, Any] = self.get(f"/inspect/segments/{name}/count", **params)
        return counted

    def members(self, name: str, **params: Any) -> list[str]:
        """The externalUserIds of every member, page by page with the keyset cursor."""
        found: list[str] = []
        after: int | None = None
        while True:
            extra = {"after": after} if after is not None else {}
            page = self.get(f"/inspect/segments/{name}/members", limit=2, **extra, **params)
            found += [p.get("externalUserId", "?") for p in page["persons"]]
            if page["next"] is None:
                return found
            after = page["next"]

    def reg_ids(self, name: str | dict[str, Any], app_code: str = APP_CODE) -> set[str]:
        with self.server.store.transaction() as db:
            found = segment_reg_ids(db, "default", app_code, name, now=self.clock())
        return {self.label(r) for r in found}


@pytest.fixture
def audience(client: TestClient, app: FastAPI, clock: Clock) -> Audience:
    """Ana: an iPhone (primary) and an Android tablet; Bob: an Android phone; Cid: a phone of the other
    app; one anonymous iPhone. Everyone launched the app at START (the clock's start)."""
    a = Audience(client, app, clock)
    a.device("ana-phone", Dialect.IOS, user="ana", attributes={"tags": ["vip"], "customAttributes": {"tier": "gold"}})
    a.devices["ana-phone"].patch({"isPrimary": True})
    a.device("ana-tablet", user="ana")
    a.device("bob-phone", user="bob", attributes={"customAttributes": {"tier": "silver"}})
    a.device("cid-phone", app_code=OTHER_APP, user="cid")
    a.device("anon-phone", Dialect.IOS)
    for device in a.devices.values():
        assert device.session([ts(0)]).status_code == 200
    assert a.devices["ana-tablet"].patch({"language": "de"}).status_code == 200
    return a


def test_saving_listing_getting_and_deleting(audience: Audience) -> None:
    listed = audience.get("/inspect/segments")["segments"]
    assert [(s["name"], s["predefined"]) for s in listed] == [(ACTIVE, True), (INACTIVE, True)]
    query = {"filter": {"customAttributes.tier": "gold"}}
    saved = audience.save("Gold members", query)
    assert saved == {"name": "Gold members", "query": query, "predefined": False, "created": "2024-05-01T12:00:00Z"}
    assert audience.get("/inspect/segments/gold MEMBERS") == saved  # names are case-insensitive
    assert [s["name"] for s in audience.get("/inspect/segments")["segments"]] == [ACTIVE, INACTIVE, "Gold members"]
    assert audience.get(f"/inspect/segments/{ACTIVE}")["query"]["events"][0]["definitionId"] == "AppLaunch"
    assert audience.client.delete("/inspect/segments/Gold members").json() == {"deleted": "Gold members"}
    assert error(audience.client.get("/inspect/segments/Gold members"))[:2] == (404, "NOT_FOUND")
    # another account has its own segments (and only the predefined ones until it saves some)
    assert audience.client.post("/inspect/segments?account=other", json={"name": "x", "query": {}}).status_code == 201
    assert [s["name"] for s in audience.get("/inspect/segments")["segments"]] == [ACTIVE, INACTIVE]
    assert error(audience.client.get("/inspect/segments/x/count"))[0] == 404


def test_counts_of_persons_and_of_the_installations_reached(audience: Audience) -> None:
    audience.save("gold", {"filter": {"customAttributes.tier": "gold"}})
    audience.save("android", {"filter": {"platform": "Android"}})
    audience.save("android gold", {"filter": {"platform": "android", "customAttributes.tier": "gold"}})
    audience.save("everyone", {})
    assert audience.count("gold") == {"name": "gold", "persons": 1, "installations": 2}
    assert audience.count("android") == {"name": "android", "persons": 3, "installations": 3}
    assert audience.count("android gold") == {"name": "android gold", "persons": 1, "installations": 1}
    assert audience.count("everyone") == {"name": "everyone", "persons": 3, "installations": 5}  # the anonymous one
    assert audience.count("everyone", application=OTHER_APP)["installations"] == 1
    assert audience.reg_ids("android gold") == {"ana-tablet"}
    assert audience.reg_ids("gold") == {"ana-phone", "ana-tablet"}
    assert audience.reg_ids("everyone") == {"ana-phone", "ana-tablet", "bob-phone", "anon-phone"}
    assert audience.reg_ids("everyone", OTHER_APP) == {"cid-phone"}
    assert audience.reg_ids({"filter": {"isPrimary": True}}) == {"ana-phone"}  # an inline query
    assert audience.reg_ids({"filter": {"language": "de"}}) == {"ana-tablet"}


def test_active_and_inactive_mobile_users_by_app_launches_in_the_last_30_days(audience: Audience) -> None:
    assert audience.count(ACTIVE) == {"name": ACTIVE, "persons": 3, "installations": 4}
    assert audience.count(INACTIVE)["persons"] == 0
    audience.clock.advance(29 * DAY)
    assert audience.devices["bob-phone"].session([ts(29 * DAY)]).status_code == 200
    audience.clock.advance(DAY)  # exactly 30 days after the first launches: still active
    assert audience.members(ACTIVE) == ["ana", "bob", "cid"]
    audience.clock.advance(1)
    assert audience.members(ACTIVE) == ["bob"]
    assert audience.members(INACTIVE) == ["ana", "cid"]
    assert audience.reg_ids(ACTIVE) == {"bob-phone"}
    assert audience.reg_ids(INACTIVE) == {"ana-phone", "ana-tablet"}  # never the anonymous phone
    assert audience.count(INACTIVE) == {"name": INACTIVE, "persons": 2, "installations": 3}


def test_members_pages_by_offset_and_by_keyset_and_tells_which_installations_each_reaches(
    audience: Audience,
) -> None:
    for n in range(5):
        audience.device(f"extra-{n}", user=f"extra-{n}", attributes={"tags": ["vip"]})
    audience.save("vip", {"filter": {"#contains": {"tags": "vip"}}})
    assert audience.members("vip") == ["ana", *(f"extra-{n}" for n in range(5))]
    first = audience.get("/inspect/segments/vip/members", limit=4)
    second = audience.get("/inspect/segments/vip/members", limit=4, page=1)
    assert (first["page"], len(first["persons"]), len(second["persons"]), second["next"]) == (0, 4, 2, None)
    assert first["next"] == first["persons"][-1]["id"]
    keyset = audience.get("/inspect/segments/vip/members", limit=4, after=first["next"])
    assert keyset["persons"] == second["persons"] and "page" not in keyset
    ana = first["persons"][0]
    assert {audience.label(r) for r in ana["reached"]} == {"ana-phone", "ana-tablet"}
    assert len(ana["instances"]) == 2 and ana["tags"] == ["vip"]
    # a new member while paging: the keyset neither repeats nor skips anyone already passed
    audience.device("late", user="late", attributes={"tags": ["vip"]})
    rest = audience.get("/inspect/segments/vip/members", limit=10, after=first["next"])
    assert [p["externalUserId"] for p in rest["persons"]] == ["extra-3", "extra-4", "late"]
    audience.save("vip on ios", {"filter": {"tags": "vip", "platform": "ios"}})
    page = audience.get("/inspect/segments/vip on ios/members")
    assert [(p["externalUserId"], [audience.label(r) for r in p["reached"]]) for p in page["persons"]] == [
        ("ana", ["ana-phone"])
    ]


def test_members_of_installations(audience: Audience) -> None:
    audience.save("ios", {"filter": {"platform": "ios"}})
    page = audience.get("/inspect/segments/ios/members", of="installations", limit=1)
    walked = [page["installations"][0]["pushRegId"]]
    while page["next"] is not None:
        page = audience.get("/inspect/segments/ios/members", of="installations", limit=1, after=page["next"])
        walked += [i["pushRegId"] for i in page["installations"]]
    assert sorted(audience.label(r) for r in walked) == ["ana-phone", "anon-phone"]
    assert walked == sorted(walked)


def test_the_persons_query_answers_installation_conditions_too(audience: Audience) -> None:
    answer = audience.client.post("/inspect/persons/query", json={"filter": {"language": "de"}}).json()
    assert answer["total"] == 1 and answer["persons"][0]["externalUserId"] == "ana"
    answer = audience.client.post("/inspect/persons/query", json={"limit": 1, "page": 1}).json()
    assert answer["total"] == 3 and [p["externalUserId"] for p in answer["persons"]] == ["bob"]


@pytest.mark.parametrize(
    ("body", "status", "starts"),
    [
        ({"name": "x", "query": {"filter": {"nickname": "Al"}}}, 400, "filter.nickname: unknown field"),
        ({"name": "x", "query": {"filter": {"#or": [{"tags": "a"}, {"tier": 1}]}}}, 400, "filter.#or[1].tier"),
        (
            {"name": "x", "query": {"events": [{"definitionId": "a", "timelineCondition": {"occurred": "X"}}]}},
            400,
            "events[0].timelineCondition.occurred",
        ),
        ({"name": "x", "query": []}, 400, "query: a query is a JSON object"),
        ({"name": "", "query": {}}, 400, "name: 1 to 100"),
        ({"name": "a/b", "query": {}}, 400, "name: 1 to 100"),
        ({"name": " a", "query": {}}, 400, "name: 1 to 100"),
        ({"name": 3, "query": {}}, 400, "name: 1 to 100"),
        ({"name": "x" * 101, "query": {}}, 400, "name: 1 to 100"),
        ({"name": "x", "query": {}, "kind": "snapshot"}, 400, "unknown members ['kind']"),
        ({"name": "active MOBILE users", "query": {}}, 409, "segment 'active MOBILE users' exists already"),
    ],
)
def test_a_bad_segment_is_refused_with_the_reason(audience: Audience, body: Any, status: int, starts: str) -> None:
    code, message_id, text = error(audience.client.post("/inspect/segments", json=body))
    assert (code, message_id) == (status, "REQUEST_FORMAT_INVALID") and text.startswith(starts), text


def test_a_taken_name_an_unknown_segment_and_a_predefined_one(audience: Audience) -> None:
    audience.save("mine", {})
    assert error(audience.client.post("/inspect/segments", json={"name": "MINE", "query": {}}))[0] == 409
    for method, path in (
        ("GET", "/inspect/segments/nope"),
        ("GET", "/inspect/segments/nope/count"),
        ("GET", "/inspect/segments/nope/members"),
        ("DELETE", "/inspect/segments/nope"),
    ):
        status, message_id, text = error(audience.client.request(method, path))
        assert (status, message_id, text) == (404, "NOT_FOUND", "no segment 'nope' (GET /inspect/segments lists them)")
    status, _, text = error(audience.client.delete(f"/inspect/segments/{ACTIVE}"))
    assert (status, text) == (400, f"{ACTIVE!r} is a predefined segment: it cannot be deleted")
    assert error(audience.client.get("/inspect/segments/mine/members?after=x"))[0] == 400
    assert error(audience.client.get("/inspect/segments/mine/members?of=everything"))[0] == 400
    assert error(audience.client.get("/inspect/segments/mine/members?limit=0"))[0] == 400
    with audience.server.store.transaction() as db, pytest.raises(ApiError) as caught:
        segment_reg_ids(db, "default", APP_CODE, "nope")
    assert caught.value.code == "NOT_FOUND" and caught.value.status == 404
    with audience.server.store.transaction() as db, pytest.raises(ApiError) as caught:
        segment_reg_ids(db, "default", APP_CODE, {"filter": {"nickname": 1}})
    assert caught.value.code == "REQUEST_FORMAT_INVALID"


def indexes(audience: Audience) -> set[str]:
    with audience.server.store.transaction() as db:
        return {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='index' AND name LIKE 'seg_%'")}


def test_a_segment_builds_the_indexes_it_compares_and_the_last_one_to_use_one_drops_it(audience: Audience) -> None:
    audience.save("gold", {"filter": {"customAttributes.tier": "gold", "language": "de"}})
    assert len(indexes(audience)) == 2  # one on persons, one on installations
    audience.save("gold too", {"filter": {"#or": [{"customAttributes.tier": "gold"}, {"firstName": "Ana"}]}})
    assert len(indexes(audience)) == 3
    assert audience.client.delete("/inspect/segments/gold").status_code == 200
    assert len(indexes(audience)) == 2  # the tier index stays: "gold too" compares it
    assert audience.count("gold too")["persons"] == 1
    assert audience.client.delete("/inspect/segments/gold too").status_code == 200
    assert indexes(audience) == set()


def test_the_person_tags_follow_every_change_of_a_person(audience: Audience) -> None:
    def tagged(tag: str) -> list[str]:
        answer = audience.client.post("/inspect/persons/query", json={"filter": {"tags": tag}}).json()
        return [p["externalUserId"] for p in answer["persons"]]

    bob = audience.devices["bob-phone"]
    assert bob.patch_user({"tags": ["vip", "new"]}).status_code == 200
    assert tagged("vip") == ["ana", "bob"] and tagged("new") == ["bob"]
    assert bob.patch_user({"firstName": "Bob"}).status_code == 200  # tags unchanged
    assert tagged("new") == ["bob"]
    assert bob.patch_user({"tags": None}).status_code == 200
    assert tagged("vip") == ["ana"] and tagged("new") == []
    # an anonymous profile merged into a person: its tags go with the deleted profile row
    anon = audience.devices["anon-phone"]
    assert anon.patch_user({"tags": ["merged"]}).status_code == 200
    assert anon.personalize({"externalUserId": "ana"}).status_code == 200
    assert tagged("merged") == ["ana"]
    with audience.server.store.transaction() as db:
        assert db.execute("SELECT count(*) FROM person_tags WHERE tag='merged'").fetchone()[0] == 1
    assert audience.client.post("/inspect/reset").status_code == 200
    with audience.server.store.transaction() as db:
        assert db.execute("SELECT count(*) FROM person_tags").fetchone()[0] == 0


def test_a_database_file_from_before_segments_opens_and_gets_its_tags_indexed(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    Store(path).close()
    old = sqlite3.connect(path)
    for trigger in ("person_tags_insert", "person_tags_update", "person_tags_delete"):
        old.execute(f"DROP TRIGGER {trigger}")
    for index in ("events_segments", "installations_platform", "installations_segments"):
        old.execute(f"DROP INDEX {index}")
    old.execute("DROP TABLE person_tags")
    old.execute("DROP TABLE segments")
    old.execute("DELETE FROM meta WHERE key='person_tags'")
    old.execute(
        "INSERT INTO persons (account, type, data, created, updated) VALUES ('default', 'CUSTOMER',"
        " '{\"tags\":[\"vip\",\"x\"]}', '', '')"
    )
    old.commit()
    old.close()
    store = Store(path)
    server = ProfileServer(store, clock=Clock())
    client = TestClient(create_app(server=server))
    assert client.post("/inspect/persons/query", json={"filter": {"tags": "vip"}}).json()["total"] == 1
    assert client.get(f"/inspect/segments/{INACTIVE}/count").json()["persons"] == 1
    store.close()
    Store(path).close()  # and opens again, filled once


def test_the_clock_of_segment_reg_ids_defaults_to_now(audience: Audience) -> None:
    # the sessions were at START (2024): by the wall clock nobody has launched in 30 days
    with audience.server.store.transaction() as db:
        assert segment_reg_ids(db, "default", APP_CODE, ACTIVE) == []
        assert len(segment_reg_ids(db, "default", APP_CODE, ACTIVE, now=START)) == 3
