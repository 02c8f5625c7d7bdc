"""Every read and write goes through the store's API (server_stub/store.py): no answer shows a
write that could still be lost, and no handler touches the SQLite connection itself.

In-process only: httpx's ASGITransport on one event loop (a group-commit batch is held open with
the store's ``hold`` seam), or starlette's TestClient.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from stubkit import APP_CODE, SYSTEM, Clock, Device, ts

from contract import Dialect
from server_stub import ProfileServer, Store, create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

BASE = "http://testserver"


def in_process(app: FastAPI) -> httpx.AsyncClient:
    """A client calling ``app`` on this event loop (a server error comes back as its 500 answer)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False), base_url=BASE)


# --- building SDK requests with stubkit's Device, sending them on an async client -------------
class _Capture:
    """Stands in for a Device's client: keeps the request the device would send."""

    def __init__(self) -> None:
        self.sent: tuple[str, str, dict[str, Any]] | None = None

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        self.sent = (method, url, kwargs)
        return httpx.Response(200, json={})


def wire(device: Device, call: Callable[[Device], Any]) -> tuple[str, str, dict[str, Any]]:
    """The (method, url, kwargs) of ``call(device)``, built in the device's dialect."""
    capture = _Capture()
    device.client = capture
    call(device)
    assert capture.sent is not None
    return capture.sent


async def register(client: httpx.AsyncClient, device: Device) -> str:
    body = {**SYSTEM[device.dialect], "pushServiceToken": device.token}
    method, url, kwargs = wire(device, lambda d: d.call("create_installation", body=body))
    response = await client.request(method, url, **kwargs)
    assert response.status_code == 200, response.text
    device.reg_id = response.json()["pushRegId"]
    assert device.reg_id is not None
    return device.reg_id


@dataclass
class Read:
    """One read and whether its answer shows the held writes."""

    name: str
    method: str
    url: str
    shows: Callable[[httpx.Response], bool]
    sent: dict[str, Any] = field(default_factory=dict)
    """More of the request: its JSON body, an SDK call's headers."""


def reads(reg_id: str, phone: Device) -> list[Read]:
    user = wire(phone, lambda d: d.user())

    def ok(check: Callable[[Any], bool]) -> Callable[[httpx.Response], bool]:
        return lambda r: r.status_code == 200 and check(r.json())

    return [
        Read("applications", "GET", "/inspect/applications",
             ok(lambda b: "held-app" in [a["code"] for a in b["applications"]])),
        Read("event-definitions", "GET", "/inspect/event-definitions",
             ok(lambda b: "heldDefinition" in [d["definitionId"] for d in b["definitions"]])),
        Read("persons", "GET", "/inspect/persons", ok(lambda b: b["total"] == 1)),
        Read("persons by identifier", "GET", "/inspect/persons?identifier=held-user", ok(lambda b: b["id"] == 1)),
        Read("persons by push", "GET", f"/inspect/persons?identifier={reg_id}&type=PUSH", ok(lambda b: b["id"] == 1)),
        Read("person", "GET", "/inspect/persons/1", ok(lambda b: b["externalUserId"] == "held-user")),
        Read("installations", "GET", "/inspect/installations",
             ok(lambda b: [i["personId"] for i in b["installations"]] == [1])),
        Read("installation", "GET", f"/inspect/installations/{reg_id}",
             ok(lambda b: b["personId"] == 1 and len(b["sessions"]) == 1)),
        Read("events", "GET", "/inspect/events",
             ok(lambda b: "Personalize" in [e["definitionId"] for e in b["events"]])),
        Read("event-counts", "GET", "/inspect/event-counts",
             ok(lambda b: "Personalize" in b["counts"] and b["rejected"] == 1)),
        Read("rejected-events", "GET", "/inspect/rejected-events", ok(lambda b: b["total"] == 1)),
        Read("stats", "GET", "/inspect/stats",
             ok(lambda b: b["personalizedInstallations"] == 1 and sum(b["persons"].values()) == 1)),
        Read("persons/query", "POST", "/inspect/persons/query", ok(lambda b: b["total"] == 1),
             {"json": {"filter": {"externalUserId": "held-user"}}}),
        Read("SDK user", user[0], user[1], ok(lambda b: b.get("externalUserId") == "held-user"), user[2]),
    ]  # fmt: skip


def count_units(store: Store, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """Count the units of work handed to ``store.atomic`` (each runs as it joins the batch)."""
    units = 0
    atomic = store.atomic

    async def counted(work: Callable[[sqlite3.Connection], Any]) -> Any:
        def run(db: sqlite3.Connection) -> Any:
            nonlocal units
            units += 1
            return work(db)

        return await atomic(run)

    monkeypatch.setattr(store, "atomic", counted)
    return lambda: units


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> None:
    """Let the loop run until ``condition`` holds (or the time is up: the assertions say why)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not condition() and loop.time() < deadline:
        await asyncio.sleep(0.005)


# --- a held batch: no read sees its writes until it commits -----------------------------------
def test_no_read_sees_a_write_of_a_batch_that_has_not_committed(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(memory=True, app_codes=[APP_CODE], clock=Clock())
    store: Store = app.state.profiles.store

    async def scenario() -> None:
        async with in_process(app) as client:
            phone = Device(_Capture(), Dialect.ANDROID)
            reg_id = await register(client, phone)
            checks = reads(reg_id, phone)

            async def read(item: Read) -> httpx.Response:
                return await client.request(item.method, item.url, **item.sent)

            async def sdk(call: Callable[[Device], Any]) -> httpx.Response:
                method, url, kwargs = wire(phone, call)
                return await client.request(method, url, **kwargs)

            # committed state: none of the writes below is there yet (each check can tell)
            for item, response in zip(checks, await asyncio.gather(*map(read, checks)), strict=True):
                assert not item.shows(response), (item.name, response.text)

            units = count_units(store, monkeypatch)
            store.hold = asyncio.Event()
            rejected = [{"definitionId": "nope", "date": ts(-5)}]
            definition = {"definitionId": "heldDefinition", "fields": []}
            writes = [
                asyncio.create_task(sdk(lambda d: d.personalize({"externalUserId": "held-user"}))),
                asyncio.create_task(sdk(lambda d: d.session([ts(0)]))),
                asyncio.create_task(sdk(lambda d: d.events(rejected, validate=False))),
                asyncio.create_task(client.post("/inspect/event-definitions", json=definition)),
                asyncio.create_task(client.post("/inspect/applications", json={"code": "held-app"})),
            ]
            await until(lambda: units() == len(writes))
            assert units() == len(writes), "the writes did not all join the held batch"
            assert store.holds_connection() is False

            pending = [asyncio.create_task(read(item)) for item in checks]
            await until(lambda: units() == len(writes) + len(checks) or all(t.done() for t in pending))
            answered = {item.name: t.result() for item, t in zip(checks, pending, strict=True) if t.done()}
            leaked = [name for name, r in answered.items() if next(c for c in checks if c.name == name).shows(r)]
            assert leaked == [], f"answered with writes that have not committed: {leaked}"
            # the decision in store.py: a read joins the batch and is answered once it has committed
            assert answered == {}, f"answered before the batch committed: {sorted(answered)}"
            assert not any(t.done() for t in writes), "a write was acknowledged before its commit"
            assert units() == len(writes) + len(checks)

            store.hold.set()
            done = await asyncio.gather(*writes)
            assert [r.status_code for r in done] == [200, 200, 200, 201, 201], [r.text for r in done]
            for item, response in zip(checks, await asyncio.gather(*pending), strict=True):
                assert item.shows(response), (item.name, response.status_code, response.text)
            # and the same answers afterwards, outside any held batch
            store.hold = None
            for item, response in zip(checks, await asyncio.gather(*map(read, checks)), strict=True):
                assert item.shows(response), (item.name, response.text)

    asyncio.run(scenario())


def test_an_error_answer_waits_for_the_batch_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 404 (or a refused type) may depend on another request's write in the batch."""
    app = create_app(memory=True, app_codes=[APP_CODE], clock=Clock())
    store: Store = app.state.profiles.store

    async def scenario() -> None:
        async with in_process(app) as client:
            phone = Device(_Capture(), Dialect.IOS)
            reg_id = await register(client, phone)
            units = count_units(store, monkeypatch)
            store.hold = asyncio.Event()
            method, url, kwargs = wire(phone, lambda d: d.delete(reg_id))
            delete = asyncio.create_task(client.request(method, url, **kwargs))
            uninstall = asyncio.create_task(client.post(f"/inspect/installations/{reg_id}/uninstall"))
            missing = asyncio.create_task(client.get("/inspect/persons/999"))
            await until(lambda: units() == 3)
            assert units() == 3
            assert not any(t.done() for t in (delete, uninstall, missing))
            store.hold.set()
            assert (await delete).status_code == 200
            refused = await uninstall
            assert (refused.status_code, refused.json()) == (
                404,
                {"requestError": {"serviceException": {"messageId": "NOT_FOUND",
                                                       "text": f"no active installation {reg_id!r}"}}},
            )  # fmt: skip
            assert (await missing).status_code == 404

    asyncio.run(scenario())


class _FailingCommit:
    """The connection, with the next COMMIT failing (the disk is full, say)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db, self.fail = db, True

    def execute(self, sql: str, *args: Any) -> sqlite3.Cursor:
        if sql == "COMMIT" and self.fail:
            self.fail = False
            raise sqlite3.OperationalError("database or disk is full")
        return self.db.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.db, name)


def test_a_batch_that_fails_to_commit_answers_no_request_of_it(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(memory=True, app_codes=[APP_CODE], clock=Clock())
    server: ProfileServer = app.state.profiles
    store = server.store
    units = count_units(store, monkeypatch)

    async def scenario() -> None:
        async with in_process(app) as client:
            store.hold = asyncio.Event()
            created = asyncio.create_task(client.post("/inspect/applications", json={"code": "lost-app"}))
            listed = asyncio.create_task(client.get("/inspect/applications"))
            await until(lambda: units() == 2)
            assert units() == 2
            store.db = _FailingCommit(store.db)  # type: ignore[assignment]
            store.hold.set()
            assert [r.status_code for r in await asyncio.gather(created, listed)] == [500, 500]
            store.hold = None
            after = await client.get("/inspect/applications")
            assert [a["code"] for a in after.json()["applications"]] == [APP_CODE]
            # nor does authentication know the lost application
            assert server.account_of("lost-app") is None

    asyncio.run(scenario())


def test_a_synchronous_transaction_waits_for_an_open_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    app = create_app(memory=True, app_codes=[APP_CODE], clock=Clock())
    server: ProfileServer = app.state.profiles
    store = server.store
    units = count_units(store, monkeypatch)
    seen: list[list[str]] = []

    async def scenario() -> None:
        async with in_process(app) as client:
            store.hold = asyncio.Event()
            created = asyncio.create_task(client.post("/inspect/applications", json={"code": "held-app"}))
            await until(lambda: units() == 1)
            assert units() == 1
            # on the batch's own loop a synchronous transaction could never see it commit
            with pytest.raises(RuntimeError, match=r"use Store\.atomic"), store.transaction():
                pass
            reader = threading.Thread(target=lambda: seen.append([a["code"] for a in server.applications()]))
            reader.start()
            await asyncio.sleep(0.1)
            assert seen == [] and reader.is_alive(), "a synchronous read ran inside an open batch"
            store.hold.set()
            assert (await created).status_code == 201
            await asyncio.to_thread(reader.join, 5)
            assert seen == [sorted([APP_CODE, "held-app"])]  # same created time: by code

    asyncio.run(scenario())


# --- no handler touches the connection outside the store's API --------------------------------
class GuardedConnection:
    """The store's connection, refusing every use outside the store's own units of work."""

    def __init__(self, db: sqlite3.Connection, store: Store) -> None:
        self._db, self._store = db, store
        self.misuse: list[str] = []

    def _check(self, what: str) -> None:
        if not self._store.holds_connection():
            self.misuse.append(what)
            raise AssertionError(f"the connection used outside the store's API: {what}")

    def execute(self, sql: str, *args: Any) -> GuardedCursor:
        self._check(sql)
        return GuardedCursor(self._db.execute(sql, *args), self)

    def executemany(self, sql: str, *args: Any) -> GuardedCursor:
        self._check(sql)
        return GuardedCursor(self._db.executemany(sql, *args), self)

    def __getattr__(self, name: str) -> Any:
        self._check(name)
        return getattr(self._db, name)


class GuardedCursor:
    """A cursor whose rows may be read only inside the unit of work that made it."""

    def __init__(self, cursor: sqlite3.Cursor, guard: GuardedConnection) -> None:
        self._cursor, self._guard = cursor, guard

    def __iter__(self) -> Iterator[Any]:
        self._guard._check("iterating a cursor")
        return iter(self._cursor)

    def __getattr__(self, name: str) -> Any:
        self._guard._check(f"cursor.{name}")
        return getattr(self._cursor, name)


@pytest.fixture
def guarded() -> Iterator[tuple[TestClient, GuardedConnection, FastAPI]]:
    """A strict server whose store connection is guarded from before the server reads it."""
    store = Store(None)
    guard = GuardedConnection(store.db, store)
    store.db = guard  # type: ignore[assignment]
    server = ProfileServer(store, clock=Clock())
    app = create_app(server=server, app_codes=[APP_CODE], strict=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, guard, app
    store.close()
    assert guard.misuse == []


def inspection_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every inspection route the server serves (its OpenAPI document lists them all)."""
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {(method.upper(), path) for path, item in paths.items() if path.startswith("/inspect") for method in item}


def test_no_handler_uses_the_connection_outside_the_store_api(
    guarded: tuple[TestClient, GuardedConnection, FastAPI],
) -> None:
    client, guard, app = guarded
    phone, tablet = Device(client, Dialect.ANDROID), Device(client, Dialect.IOS)
    phone.register()
    tablet.register()
    reg = phone.reg_id
    # every SDK call (the strict middleware reads the event definitions of custom events)
    sdk = [
        phone.patch({"notificationsEnabled": False}),
        phone.get(),
        phone.patch_user({"firstName": "Ana"}),
        phone.personalize({"externalUserId": "guarded"}, {"lastName": "Horvat"}),
        tablet.personalize({"externalUserId": "guarded"}),
        phone.user(),
        phone.session([ts(0)], {ts(0): ts(40)}),
        phone.events([{"definitionId": "nope", "date": ts(-5)}], validate=False),
        phone.events([{"definitionId": "guardedEvent", "date": ts(-5)}], validate=True),
        phone.sync(),
        phone.seen(["m1"]),
        phone.mo([{"destination": "+385911234567", "text": "hi"}]),
        tablet.delivery_report(["m1"]),
        phone.version(),
        phone.base_url(),
        phone.repersonalize({"externalUserId": "guarded"}),
        tablet.depersonalize(),
        tablet.delete(tablet.reg_id or ""),
    ]
    assert [r.status_code for r in sdk if r.status_code >= 500] == [], [r.text for r in sdk if r.status_code >= 500]
    assert guard.misuse == []

    exercised: set[tuple[str, str]] = set()

    def call(method: str, template: str, url: str | None = None, *, status: int = 200, **kwargs: Any) -> Any:
        response = client.request(method, url or template, **kwargs)
        assert response.status_code == status, (method, url or template, response.status_code, response.text)
        exercised.add((method, template))
        return response.json()

    call("GET", "/inspect/applications")
    call("POST", "/inspect/applications", json={"code": "guarded-app"}, status=201)
    call("POST", "/inspect/event-definitions", json={"definitionId": "guardedEvent", "fields": []}, status=201)
    call("GET", "/inspect/event-definitions")
    person = call("GET", "/inspect/persons", "/inspect/persons?identifier=guarded")
    call("GET", "/inspect/persons", f"/inspect/persons?identifier={reg}&type=PUSH")
    call("GET", "/inspect/persons", "/inspect/persons?limit=5")
    call("GET", "/inspect/persons/{person_id}", f"/inspect/persons/{person['id']}")
    call("GET", "/inspect/persons/{person_id}", "/inspect/persons/999", status=404)
    call("POST", "/inspect/persons/query", json={"filter": {"externalUserId": "guarded"},
                                                 "events": [{"definitionId": "Personalize"}]})  # fmt: skip
    call("GET", "/inspect/installations", "/inspect/installations?state=active")
    call("GET", "/inspect/installations/{push_reg_id}", f"/inspect/installations/{reg}")
    call("GET", "/inspect/installations/{push_reg_id}", "/inspect/installations/none", status=404)
    call("GET", "/inspect/events")
    call("GET", "/inspect/event-counts")
    call("GET", "/inspect/rejected-events")
    call("GET", "/inspect/stats")
    # saved segments (server_stub/saved_segments.py): the SQL evaluator and its indexes
    segment = {"name": "guarded", "query": {"filter": {"customAttributes.tier": "gold", "platform": "android"},
                                            "events": [{"definitionId": "AppLaunch"}]}}  # fmt: skip
    call("POST", "/inspect/segments", json=segment, status=201)
    call("POST", "/inspect/segments", json=segment, status=409)
    call("GET", "/inspect/segments")
    call("GET", "/inspect/segments/{name}", "/inspect/segments/guarded")
    call("GET", "/inspect/segments/{name}/count", "/inspect/segments/Active Mobile Users/count")
    call("GET", "/inspect/segments/{name}/members", "/inspect/segments/guarded/members?limit=5")
    call("GET", "/inspect/segments/{name}/members", "/inspect/segments/guarded/members?of=installations")
    call("DELETE", "/inspect/segments/{name}", "/inspect/segments/guarded")
    call("DELETE", "/inspect/segments/{name}", "/inspect/segments/guarded", status=404)
    # messaging: the Push API and the provider (no inspection routes) and the campaign metrics
    server: ProfileServer = app.state.profiles
    server.messaging.add_api_key("guarded-key")
    key = {"Authorization": "App guarded-key"}
    send = {
        "messages": [
            {
                "sender": APP_CODE,
                "destinations": [{"type": "REGISTRATION", "pushRegistrationId": reg}],
                "content": {"type": "TEXT", "text": "hi"},
            }
        ],
        "options": {"schedule": {"bulkId": "g"}},
    }
    v2 = {"from": APP_CODE, "to": {"pushRegistrationId": reg}, "text": "hi"}
    messaging = [
        client.post("/push/3/messages", json=send, headers=key),
        client.post("/push/2/message/single", json=v2, headers=key),
        client.post("/push/2/message/multi", json={"messages": [v2]}, headers=key),
        client.get("/provider/1/deliveries", headers={"Authorization": f"App {APP_CODE}"}),
        phone.sync({"drIDs": ["x"]}),
        client.get("/push/3/reports", headers=key),
        client.get("/push/3/logs?useCursor=true&limit=1", headers=key),
        client.get("/push/1/inbox/reports", headers=key),
    ]  # fmt: skip
    assert [r.status_code for r in messaging] == [200] * len(messaging), [r.text for r in messaging]
    call("GET", "/inspect/campaigns")
    call("GET", "/inspect/campaigns/{bulk_id}", "/inspect/campaigns/g")
    call("GET", "/inspect/campaigns/{bulk_id}", "/inspect/campaigns/none", status=404)
    call("GET", "/inspect/relay", status=404)  # no providers: the server hands its pushes out itself
    call("GET", "/inspect/violations")
    call("GET", "/inspect/violations/summary")
    call("GET", "/inspect/violations/rules")
    call("POST", "/inspect/violations/reset")
    call("POST", "/inspect/installations/{push_reg_id}/uninstall", f"/inspect/installations/{reg}/uninstall")
    call("POST", "/inspect/installations/{push_reg_id}/uninstall", "/inspect/installations/none/uninstall",
         status=404)  # fmt: skip
    # user-JWT keys (server_stub/jwt_keys.py): kept in memory, the application read through the store
    jwt_keys = f"/inspect/applications/{APP_CODE}/jwt-keys"
    call("POST", "/inspect/applications/{code}/jwt-keys", jwt_keys, json={"kid": "k1", "secret": "ab" * 32}, status=201)
    call("GET", "/inspect/applications/{code}/jwt-keys", jwt_keys)
    call("DELETE", "/inspect/applications/{code}/jwt-keys/{kid}", jwt_keys + "/k1")
    call("DELETE", "/inspect/applications/{code}/jwt-keys/{kid}", jwt_keys + "/k1", status=404)
    call("POST", "/inspect/reset")
    assert call("GET", "/inspect/stats")["persons"] == {}
    assert guard.misuse == []
    assert exercised == inspection_routes(app), "a new inspection route: exercise it here"
