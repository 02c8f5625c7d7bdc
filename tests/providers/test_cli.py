"""``mobsim providers``: the options, loopback only, ``--verify`` exit codes, one real start."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from providerkit import World, fcm_body, token_of

from contract.dialect import Platform
from mobsim import exitcodes
from mobsim.cli import main

ROOT = Path(__file__).resolve().parents[2]


def use_world(monkeypatch: pytest.MonkeyPatch, world: World) -> None:
    def get(url: str, params: Any = None, **options: Any) -> httpx.Response:  # timeout, verify
        return world.client.get(httpx.URL(url).path, params=params)

    monkeypatch.setattr(httpx, "get", get)


def test_verify_exits_0_when_the_checks_pass_and_1_when_one_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    world = World()
    use_world(monkeypatch, world)
    device = token_of(Platform.ANDROID, 2)
    auth = {"Authorization": f"Bearer {world.fcm_token()}"}
    world.client.post("/v1/projects/p/messages:send", json=fcm_body(device), headers=auth)
    assert main(["providers", "--verify", "http://127.0.0.1:8090"]) == exitcodes.PASSED
    assert "every check passed" in capsys.readouterr().out
    expected = tmp_path / "tokens.txt"
    expected.write_text(f"{device}\n{token_of(Platform.ANDROID, 3)}\n")
    assert main(["providers", "--verify", "http://127.0.0.1:8090", "--expected-tokens", str(expected)]) == 1
    assert "FAIL campaign bulk-1: 1 expected token(s) got no message" in capsys.readouterr().out


def test_verify_of_an_unreachable_url_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers", "--verify", "http://127.0.0.1:9"]) == exitcodes.USAGE
    assert "cannot read http://127.0.0.1:9/journal/verify" in capsys.readouterr().err


def test_listening_off_loopback_needs_the_flag(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers", "--host", "0.0.0.0"]) == exitcodes.USAGE
    assert "--allow-remote-bind" in capsys.readouterr().err


def test_a_bad_latency_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as stop:
        main(["providers", "--latency", "fast"])
    assert stop.value.code == 2


def test_the_command_serves_fcm_hms_and_apns_on_one_journal(tmp_path: Path) -> None:
    account = tmp_path / "sa.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "mobsim", "providers", "--port", "0", "--service-account", str(account),
         "--apns-port", "0", "--apns-dir", str(tmp_path / "apns"), "--latency", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(8)]
        base = lines[0].split()[-1]
        assert base.startswith("http://127.0.0.1:")
        apns_url = lines[7].split()[1]
        signed = jwt.encode({"iss": "MOBSIMTEAM", "iat": int(time.time())},
                            (tmp_path / "apns" / "AuthKey_MOBSIMKEY1.p8").read_text(), algorithm="ES256",
                            headers={"kid": "MOBSIMKEY1"})  # fmt: skip
        trust = ssl.create_default_context(cafile=str(tmp_path / "apns" / "ca.pem"))
        with httpx.Client(http2=True, verify=trust, timeout=10) as h2:
            sent = h2.post(f"{apns_url}/3/device/{token_of(Platform.IOS, 4)}", json={"aps": {"alert": "Hi"}},
                           headers={"authorization": f"bearer {signed}", "apns-topic": "com.example.app"})  # fmt: skip
        assert sent.status_code == 200 and sent.http_version == "HTTP/2"
        journal = httpx.get(f"{base}/journal", timeout=10).json()
        assert journal["summary"]["providers"]["apns"]["accepted"] == 1
        delivered = httpx.get(f"{base}/provider/1/deliveries?wait=5", timeout=10).json()["deliveries"]
        assert [(d["platform"], d["route"]) for d in delivered] == [("ios", 4)]
        info = json.loads(account.read_text())
        assert info["token_uri"] == f"{base}/token"
        answer = httpx.post(info["token_uri"], data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                     "assertion": "a.b.c"}, timeout=10)  # fmt: skip
        assert answer.status_code == 400 and answer.json()["error"] == "invalid_grant"
        assert httpx.get(f"{base}/journal/verify", timeout=10).json()["ok"] is True
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0
