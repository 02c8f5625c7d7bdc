"""Storage failures (issue 13): a full disk answers 503 with ``Retry-After`` and keeps nothing of the
requests it refused, ``/health`` says unhealthy meanwhile, and the server recovers once there is
space; a file that cannot serve (held by another server, read-only, not a database, damaged, of a
newer schema) is refused at start with one line (``mobsim serve`` exits 2); a clean shutdown
(SIGTERM, Ctrl-C, ``BackgroundServer.stop``) checkpoints the WAL, so that a copy of the ``.db``
alone holds everything.

The full disk is SQLite's ``PRAGMA max_page_count`` on the server's connection (SQLITE_FULL, as a
full disk gives; SQLite then rolls back the whole open transaction). In-process, except the
shutdown of ``mobsim serve`` (a subprocess, as docker and systemd run it).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sqlite3
import stat
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from stubkit import APP_CODE, SYSTEM, Clock, Device, Inspector, assert_error
from test_persistence import Served
from test_store_layers import _Capture, count_units, in_process, register, until, wire

from contract import Dialect
from mobsim.cli import main
from server_stub import Store, create_app
from server_stub import store as store_module
from server_stub.serve import BackgroundServer, ServeConfig, build_server
from server_stub.storage import StoreUnusable

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def full(store: Store, full: bool = True) -> None:
    """Let the database file grow no more (a full disk), or again."""
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages if full else 2**30}")


def assert_unavailable(response: httpx.Response) -> None:
    assert_error(
        response, 503, "INTERNAL_ERROR", "(database or disk is full, SQLITE_FULL); nothing of this request was kept"
    )
    assert response.headers["retry-after"] == "5"


async def create(client: httpx.AsyncClient, device: Device) -> httpx.Response:
    body = {**SYSTEM[device.dialect], "pushServiceToken": device.token}
    method, url, kwargs = wire(device, lambda d: d.call("create_installation", body=body))
    response = await client.request(method, url, **kwargs)
    if response.status_code == 200:
        device.reg_id = response.json()["pushRegId"]
    return response


# --- a full disk --------------------------------------------------------------------------------
def test_a_full_disk_answers_503_keeps_nothing_half_written_and_recovers(tmp_path: Path) -> None:
    app = create_app(db=tmp_path / "full.db", app_codes=[APP_CODE], clock=Clock())
    store: Store = app.state.profiles.store

    async def scenario() -> None:
        async with in_process(app) as client:
            first = Device(_Capture(), Dialect.ANDROID)
            await register(client, first)
            full(store)
            # together: they share group-commit batches, and SQLite rolls a whole batch back
            devices = [Device(_Capture(), Dialect.ANDROID if n % 2 else Dialect.IOS) for n in range(30)]
            answers = await asyncio.gather(*(create(client, device) for device in devices))
            assert {r.status_code for r in answers} == {200, 503} or {r.status_code for r in answers} == {503}
            for response in answers:
                if response.status_code == 503:
                    assert_unavailable(response)
            refused = await client.post("/inspect/applications", json={"code": "big-app", "name": "n" * 200_000})
            assert_unavailable(refused)  # the inspection API's answers too
            health = await client.get("/health")
            assert health.status_code == 503 and health.json()["status"] == "unhealthy", health.text
            assert "database or disk is full" in health.json()["store"]

            # what was answered 200 is stored, what was answered 503 is not: nothing half-written
            listed = (await client.get("/inspect/installations?limit=1000")).json()["installations"]
            acknowledged = {d.reg_id for d, r in zip(devices, answers, strict=True) if r.status_code == 200}
            assert {i["pushRegId"] for i in listed} == {first.reg_id} | acknowledged
            assert [i["pushRegId"] for i in listed].count(first.reg_id) == 1
            events = (await client.get("/inspect/event-counts")).json()["counts"]
            assert events == {"Install": 1 + len(acknowledged)}
            codes = [a["code"] for a in (await client.get("/inspect/applications")).json()["applications"]]
            assert "big-app" not in codes

            full(store, False)  # space again
            again = Device(_Capture(), Dialect.IOS)
            assert (await create(client, again)).status_code == 200
            assert (await client.get("/health")).json() == {"status": "ok", "service": "mobsim-reference-server"}
            assert store.failure is None

    asyncio.run(scenario())
    store.close()


def test_a_failed_batch_answers_its_reads_503_too(monkeypatch: pytest.MonkeyPatch) -> None:
    """A read of a batch SQLite rolled back is answered 503 as its writes are (it may have seen them)."""
    app = create_app(memory=True, app_codes=[APP_CODE], clock=Clock())
    store: Store = app.state.profiles.store
    units = count_units(store, monkeypatch)

    async def scenario() -> None:
        async with in_process(app) as client:
            full(store)
            hold = store.hold = asyncio.Event()
            listed = asyncio.create_task(client.get("/inspect/applications"))
            await until(lambda: units() == 1)
            assert units() == 1 and not listed.done()
            big = asyncio.create_task(client.post("/inspect/applications", json={"code": "a", "name": "n" * 300_000}))
            answers = await asyncio.wait_for(asyncio.gather(big, listed), 10)
            for response in answers:
                assert_error(response, 503, "INTERNAL_ERROR", "SQLITE_FULL")
            hold.set()  # a batch still held (a commit task waits on this event) goes on
            store.hold = None
            full(store, False)
            listed_again = await asyncio.wait_for(client.get("/inspect/applications"), 10)
            assert [a["code"] for a in listed_again.json()["applications"]] == [APP_CODE]

    asyncio.run(scenario())
    store.close()


# --- a file that cannot serve is refused at start ----------------------------------------------
def test_a_second_server_on_one_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "one.db"
    first = Store(db)
    with pytest.raises(StoreUnusable) as refused:
        Store(db)
    assert str(refused.value) == (
        f"{db} is in use by another mobsim server (process {os.getpid()}): stop that server first, or start this "
        "one with another --db file (two servers on one file would disagree about what it holds)"
    )
    with pytest.raises(RuntimeError, match="in use by another mobsim server"):
        build_server(ServeConfig(db=db))
    assert main(["serve", "--db", str(db), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"mobsim serve: {db} is in use by another mobsim server"), err
    first.close()
    # once the first has stopped: a tool, or the next server, opens it
    Store(db).close()
    with sqlite3.connect(db) as tool:
        assert tool.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone() == ("1",)


def test_mobsim_run_s_bundled_server_takes_its_file_again(tmp_path: Path) -> None:
    config = ServeConfig(port=0, db=tmp_path / "state.db")
    with BackgroundServer(config):
        pass
    with BackgroundServer(config) as again:
        assert again.app_code


def refused_start(db: Path) -> str:
    with pytest.raises(StoreUnusable) as refused:
        Store(db)
    text = str(refused.value)
    assert "\n" not in text
    return text


def read_only_connect(real: Callable[..., sqlite3.Connection]) -> Callable[..., sqlite3.Connection]:
    """sqlite3.connect opening the database read-only, as a file or directory without write
    permission does (running as root, a chmod does not stop the process)."""

    def connect(path: str, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real(f"{Path(path).resolve().as_uri()}?mode=ro", *args, uri=True, **kwargs)

    return connect


def test_a_read_only_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "ro.db"
    Store(db).close()
    monkeypatch.setattr(store_module.sqlite3, "connect", read_only_connect(sqlite3.connect))
    assert refused_start(db) == (
        f"cannot write the database {db} (attempt to write a readonly database): make the file and its directory "
        "writable (SQLite keeps ro.db-wal and -shm beside it), or start with another --db file"
    )


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes a read-only file")
def test_a_read_only_file_is_refused_for_real(tmp_path: Path) -> None:
    db = tmp_path / "ro.db"
    Store(db).close()
    db.chmod(stat.S_IRUSR)
    assert refused_start(db).startswith(f"cannot write the database {db} (attempt to write a readonly database)")


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "notes.db"
    db.write_text("these are my notes, not a database\n" * 200)
    assert refused_start(db) == (
        f"{db} is not a usable database (file is not a database): move it away and start with a new --db file "
        "(or repair a copy with the sqlite3 shell's .recover)"
    )


def test_a_damaged_database_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "damaged.db"
    Store(db).close()
    with db.open("r+b") as file:
        file.seek(4096 * 2)
        file.write(b"\xff" * 4096 * 10)
    assert refused_start(db).startswith(f"{db} is not a usable database (database disk image is malformed)")


def test_a_database_of_a_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "newer.db"
    Store(db).close()
    with sqlite3.connect(db) as newer:
        newer.execute("UPDATE meta SET value='2' WHERE key='schema_version'")
        newer.execute("ALTER TABLE persons ADD COLUMN later TEXT")
    newer.close()
    assert refused_start(db) == (
        f"{db} holds schema version 2; this mobsim reads version 1: start with a new --db file or --memory, "
        "or use the mobsim that wrote it"
    )


# --- a clean shutdown leaves everything in the .db ----------------------------------------------
def alone(db: Path, into: Path) -> sqlite3.Connection:
    """A copy of the database file without its -wal and -shm, opened."""
    into.mkdir()
    shutil.copy(db, into / db.name)
    return sqlite3.connect(into / db.name)


def test_background_server_stop_checkpoints(tmp_path: Path) -> None:
    db = tmp_path / "bg.db"
    with BackgroundServer(ServeConfig(port=0, db=db)) as server, httpx.Client(base_url=server.url) as client:
        device = Device(client, Dialect.IOS, app_code=server.app_code)
        device.register()
        assert device.personalize({"externalUserId": "kept"}).status_code == 200
    copy = alone(db, tmp_path / "copy")
    assert copy.execute("SELECT value FROM identities WHERE kind='externalUserId'").fetchall() == [("kept",)]
    copy.close()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "Ctrl-C"])
def test_a_signal_ends_mobsim_serve_cleanly(tmp_path: Path, served: list[Served], sig: signal.Signals) -> None:
    db = tmp_path / "served.db"
    server = Served(["--db", str(db)], cwd=tmp_path)
    served.append(server)
    with httpx.Client(base_url=server.url) as client:
        device = Device(client, Dialect.ANDROID, app_code=server.app_code)
        device.register()
        assert device.personalize({"externalUserId": "signalled"}).status_code == 200
        assert Inspector(client).find("signalled")["externalUserId"] == "signalled"
    server.process.send_signal(sig)
    assert server.process.wait(timeout=20) == 0
    wal = Path(f"{db}-wal")
    assert not wal.exists() or wal.stat().st_size == 0, "the WAL was not checkpointed"
    copy = alone(db, tmp_path / "copy")
    assert copy.execute("SELECT value FROM identities WHERE kind='externalUserId'").fetchall() == [("signalled",)]
    copy.close()
    Store(db).close()  # the lock went with the process


def test_the_in_process_client_still_works_on_a_file(tmp_path: Path) -> None:
    """TestClient (its own event loop in a thread) with reads on worker threads."""
    app = create_app(db=tmp_path / "tc.db", app_codes=[APP_CODE], clock=Clock())
    with TestClient(app) as client:
        device = Device(client, Dialect.IOS)
        device.register()
        device.personalize({"externalUserId": "tc"})
        assert Inspector(client).find("tc")["externalUserId"] == "tc"
        assert client.post("/inspect/persons/query", json={"filter": {"externalUserId": "tc"}}).json()["total"] == 1
    app.state.profiles.store.close()
