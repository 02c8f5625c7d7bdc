"""Every acknowledged write survives a restart on the same SQLite file; ``--memory`` keeps nothing;
``mobsim serve`` prints its URL and app code and serves."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
from stubkit import Device, Inspector, assert_error, ts

from contract import Dialect
from server_stub.guard import mask
from server_stub.serve import BackgroundServer, ServeConfig, build_server

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CODE = "persist-app-code"


def snapshot(client: httpx.Client) -> dict[str, Any]:
    """Everything the inspection API shows, in both accounts."""
    inspector = Inspector(client)
    persons = inspector.persons()
    shown: dict[str, Any] = {
        "applications": inspector.get("/applications"),
        "persons": persons,
        "details": [inspector.person(p["id"]) for p in persons],
        "installations": inspector.get("/installations", limit=1000),
        "events": inspector.events(),
        "counts": inspector.counts(),
        "rejected": inspector.get("/rejected-events"),
        "stats": inspector.stats(),
        "definitions": inspector.get("/event-definitions"),
        "acme-definitions": inspector.get("/event-definitions", account="acme"),
        "acme-persons": inspector.get("/persons", account="acme"),
    }
    shown["sessions"] = [
        inspector.installation(i["pushRegId"])["sessions"] for i in shown["installations"]["installations"]
    ]
    return shown


def populate(client: httpx.Client) -> dict[str, Device]:
    """A bit of everything: applications, definitions, persons, installations, events, sessions."""
    inspector = Inspector(client)
    acme = inspector.post("/applications", {"code": "acme-code", "name": "Acme", "account": "acme"}, status=201)
    inspector.define("purchase", [{"name": "amount", "type": "Decimal"}], title="Purchase")
    inspector.post("/event-definitions?account=acme", {"definitionId": "acmeOnly", "fields": []}, status=201)

    ios, android, huawei = (Device(client, d, app_code=CODE) for d in (Dialect.IOS, Dialect.ANDROID, Dialect.ANDROID))
    stale, gone = Device(client, Dialect.IOS, app_code=CODE), Device(client, Dialect.ANDROID, app_code=CODE)
    acme_device = Device(client, Dialect.IOS, app_code=acme["code"])
    for device in (ios, android, stale, gone, acme_device):
        device.register()
    huawei.register(pushServiceType="HMS")

    ios.personalize(
        {
            "externalUserId": "kept",
            "phones": [{"number": "+385 91 222 3333"}],
            "emails": [{"address": "Kept@Example.com"}],
        },
        {
            "firstName": "Kept",
            "birthday": "1990-01-02",
            "tags": ["a", "b"],
            "customAttributes": {"n": 1, "d": "2024-01-01"},
        },
        primary=True,
    )
    android.personalize({"externalUserId": "kept"}, keep_as_lead=True)
    huawei.personalize({"emails": [{"address": "lead@example.com"}]}, keep_as_lead=True)
    acme_device.personalize({"externalUserId": "kept"})
    assert android.patch({"customAttributes": {"room": "kitchen"}, "appVersion": "7.7"}).status_code == 200
    assert android.patch_user({"middleName": "M", "customAttributes": {"list": [{"k": "v"}]}}).status_code == 200
    assert ios.session([ts(0)], {ts(-300): ts(-200)}).status_code == 200
    good = {"definitionId": "purchase", "date": ts(-5), "properties": {"amount": 2.5}}
    assert ios.events([good], validate=True).status_code == 200
    assert huawei.events([good, {"definitionId": "nope"}, 5], validate=False).status_code == 200
    assert stale.patch_user({"firstName": "Anonymous profile"}).status_code == 200
    assert Device(client, Dialect.IOS, app_code=CODE).register()  # one more, anonymous
    new_self = Device(client, Dialect.IOS, app_code=CODE)
    new_self.register()
    assert new_self.delete(stale.reg_id or "").status_code == 200
    inspector.post(f"/installations/{gone.reg_id}/uninstall")
    return {"ios": ios, "android": android, "huawei": huawei, "stale": stale, "gone": gone, "acme": acme_device}


def test_every_acknowledged_write_survives_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "profiles.db"
    with (
        BackgroundServer(ServeConfig(port=0, db=db, app_codes=[CODE])) as first,
        httpx.Client(base_url=first.url) as client,
    ):
        devices = populate(client)
        before = snapshot(client)
    assert len(before["persons"]) == 3
    assert before["counts"]["rejected"] == 2

    # a new server on the same file, without --app-code: the applications are in the file
    with BackgroundServer(ServeConfig(port=0, db=db)) as second, httpx.Client(base_url=second.url) as client:
        assert second.app_code in (CODE, "acme-code")
        assert snapshot(client) == before
        # and the SDK carries on where it was
        ios, android = devices["ios"], devices["android"]
        ios.client = android.client = client
        assert ios.user_json()["customAttributes"] == {"n": 1, "d": "2024-01-01", "list": [{"k": "v"}]}
        assert android.installation_json()["customAttributes"] == {"room": "kitchen"}
        devices["stale"].client = devices["gone"].client = client
        assert_error(devices["stale"].get(), 404, "NO_REGISTRATION")
        assert_error(devices["gone"].get(), 404, "NO_REGISTRATION")
        # attribute types, App Launch de-duplication, identities and definitions are all still there
        assert_error(ios.patch_user({"customAttributes": {"n": "text"}}), 400, "REQUEST_FORMAT_INVALID", "is INTEGER")
        assert ios.session([ts(0)], {ts(-300): ts(-100)}).status_code == 200
        assert Counter(Inspector(client).names(pushRegId=ios.reg_id))["AppLaunch"] == 2
        newcomer = Device(client, Dialect.IOS, app_code=CODE)
        newcomer.register()
        response = newcomer.personalize({"emails": [{"address": "kept@EXAMPLE.com"}]})
        assert response.json()["externalUserId"] == "kept"
        assert len(Inspector(client).persons()) == 3
        devices["acme"].client = client
        assert devices["acme"].personalize({"externalUserId": "kept"}).status_code == 200
        assert ios.events([{"definitionId": "purchase", "properties": {"amount": 1}}], validate=True).status_code == 200


def test_writes_acknowledged_together_survive(tmp_path: Path) -> None:
    """Writes answered in one group commit are all in the file after a restart."""
    db = tmp_path / "burst.db"
    count = 30
    with (
        BackgroundServer(ServeConfig(port=0, db=db, app_codes=[CODE])) as server,
        httpx.Client(base_url=server.url, limits=httpx.Limits(max_connections=count)) as client,
    ):
        devices = [Device(client, Dialect.ANDROID, app_code=CODE) for _ in range(count)]
        barrier = threading.Barrier(count)
        answered: list[int] = []

        def work(device: Device, n: int) -> None:
            barrier.wait(timeout=30)
            device.register()
            if device.personalize({"externalUserId": f"burst{n}"}).status_code == 200:
                answered.append(n)

        threads = [threading.Thread(target=work, args=(d, n)) for n, d in enumerate(devices)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(answered) == list(range(count))
    with BackgroundServer(ServeConfig(port=0, db=db)) as again, httpx.Client(base_url=again.url) as client:
        persons = Inspector(client).persons()
        assert sorted(p["externalUserId"] for p in persons) == sorted(f"burst{n}" for n in range(count))


def test_memory_keeps_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with BackgroundServer(ServeConfig(port=0)) as first, httpx.Client(base_url=first.url) as client:
        device = Device(client, Dialect.IOS, app_code=first.app_code)
        device.register()
        device.personalize({"externalUserId": "fleeting"})
        assert len(Inspector(client).persons()) == 1
        first_code = first.app_code
    with BackgroundServer(ServeConfig(port=0)) as second, httpx.Client(base_url=second.url) as client:
        assert second.app_code != first_code
        assert Inspector(client).persons() == []
        assert [a["code"] for a in Inspector(client).get("/applications")["applications"]] == [second.app_code]
        device.client = client
        assert_error(device.get(), 401, "INVALID_APPLICATION_CODE")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# mobsim serve


@pytest.mark.parametrize("code", ["bad code", "", "café", "x" * 201])
def test_serve_refuses_a_bad_app_code(code: str) -> None:
    shown = re.escape(repr(mask(code)))  # never the whole code in an error
    with pytest.raises(RuntimeError, match=f"--app-code {shown}: an application code is 1 to 200 printable ASCII"):
        build_server(ServeConfig(app_codes=[code]))
    if len(code) > 8:
        with pytest.raises(RuntimeError) as raised:
            build_server(ServeConfig(app_codes=[code]))
        assert code not in str(raised.value)


class Served:
    """``mobsim serve`` in a subprocess: its printed URL and app code."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mobsim", "serve", "--port", "0", *args],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.output: list[str] = []
        while not any("inspection:" in line for line in self.output):
            line = self.lines.get(timeout=30)
            assert line is not None, (
                f"mobsim serve stopped: {self.output} {self.process.stderr.read() if self.process.stderr else ''}"
            )
            self.output.append(line)
        first = self.output[0]
        assert first.startswith("mobsim reference server on http://127.0.0.1:"), first
        self.url = first.removeprefix("mobsim reference server on ")
        codes = [line.split()[2] for line in self.output if line.strip().startswith("app code:")]
        assert len(codes) == 1, self.output
        self.app_code = codes[0]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def stop(self) -> None:
        self.process.terminate()
        # uvicorn shuts down gracefully, then re-raises the SIGTERM it caught
        assert self.process.wait(timeout=20) in (0, -signal.SIGTERM)

    def crash(self) -> None:
        self.process.kill()
        assert self.process.wait(timeout=20) == -signal.SIGKILL


def test_mobsim_serve_with_a_file(tmp_path: Path, served: list[Served]) -> None:
    db = tmp_path / "x.db"
    first = Served(["--db", str(db)], cwd=tmp_path)
    served.append(first)
    assert f"  store:         SQLite file {db}" in first.output
    with httpx.Client(base_url=first.url) as client:
        device = Device(client, Dialect.ANDROID, app_code=first.app_code)
        device.register()
        assert device.personalize({"externalUserId": "cli"}).status_code == 200
        assert client.get("/docs").status_code == 200
    # killed right after the answers: what was answered is in the file
    first.crash()

    # the app code it created is kept, and so is the person
    second = Served(["--db", str(db)], cwd=tmp_path)
    served.append(second)
    assert second.app_code == first.app_code
    with httpx.Client(base_url=second.url) as client:
        assert [p["externalUserId"] for p in Inspector(client).persons()] == ["cli"]
    second.stop()


def test_mobsim_serve_in_memory_with_app_codes(tmp_path: Path, served: list[Served]) -> None:
    server = Served(["--memory", "--app-code", "CLI-CODE"], cwd=tmp_path)
    served.append(server)
    assert server.app_code == "…"  # a code the user gave is never printed whole (its header hash is)
    assert not any("CLI-CODE" in line for line in server.output)
    assert "  store:         memory (nothing is kept)" in server.output
    assert any("header hash 13c4a5f268" in line for line in server.output)  # sha256("CLI-CODE")[:10]
    with httpx.Client(base_url=server.url) as client:
        device = Device(client, Dialect.IOS, app_code="CLI-CODE")
        device.register()
        assert device.personalize({"externalUserId": "mem"}).status_code == 200
    server.stop()
    assert list(tmp_path.iterdir()) == []
