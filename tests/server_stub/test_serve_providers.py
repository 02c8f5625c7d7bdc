"""``mobsim serve --providers``: the command starts FCM, HMS and APNs beside the server, prints where
they are, sends a message through them (the device's push arrives in the providers' feed, not the
server's), and stops them with the server. One subprocess; the refusals need none."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from test_persistence import Served

from contract.headers import inspection_headers
from mobsim.cli import main
from simulator import AppConfig, VirtualDevice


def test_serve_with_providers_sends_through_them(tmp_path: Path, served: list[Served]) -> None:
    server = Served(["--memory", "--providers", "--providers-port", "0", "--apns-port", "0", "--apns-dir",
                     str(tmp_path / "ca"), "--push-latency", "0"], cwd=tmp_path)  # fmt: skip
    served.append(server)
    lines = {line.split()[0]: line for line in server.output if line.startswith("    ")}
    assert {"FCM", "HMS", "APNs", "deliveries", "journal"} <= set(lines), server.output
    feed = lines["deliveries"].split()[1]
    assert feed.endswith("/provider/1/deliveries") and not feed.startswith(server.url)
    assert (tmp_path / "ca" / "ca.pem").is_file() and "latency 0:0 ms" in lines["deliveries"]
    key = next(line.split()[3] for line in server.output if line.strip().startswith("Push API key:"))
    device = VirtualDevice.create("android", AppConfig(server.app_code, base_url=server.url), seed=5, route=5)
    device.start()
    assert device.reg_id, device.last_error
    destination = {"type": "REGISTRATION", "pushRegistrationId": device.reg_id}
    body = {"messages": [{"sender": server.app_code, "content": {"text": "hi", "type": "TEXT"},
                          "destinations": [destination]}]}  # fmt: skip
    assert httpx.post(f"{server.url}/push/3/messages", json=body, headers={"Authorization": f"App {key}"}).is_success
    deliveries: list[dict[str, str]] = []
    deadline = time.monotonic() + 10
    while not deliveries and time.monotonic() < deadline:
        deliveries = httpx.get(feed, params={"wait": 1}).json()["deliveries"]
    assert [d["pushToken"] for d in deliveries] == [device.push_token]
    relay = httpx.get(f"{server.url}/inspect/relay", headers=inspection_headers()).json()
    assert relay["providers"]["fcm"]["sent"] == 1 and relay["targets"]["fcm"] == feed.removesuffix(
        "/provider/1/deliveries"
    )
    builtin = httpx.get(f"{server.url}/provider/1/deliveries", headers={"Authorization": f"App {server.app_code}"})
    assert builtin.status_code == 404
    server.stop()
    try:
        httpx.get(feed, timeout=2)
    except httpx.ConnectError:
        pass
    else:
        raise AssertionError("the providers still answer after the server stopped")


def test_a_server_without_providers_has_no_relay() -> None:
    from server_stub.serve import BackgroundServer, ServeConfig

    with BackgroundServer(ServeConfig(port=0)) as server:
        answer = httpx.get(f"{server.url}/inspect/relay", headers=inspection_headers())
        assert answer.status_code == 404 and "--providers" in answer.text


def test_a_providers_folder_that_cannot_be_made_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    code = main(["serve", "--memory", "--port", "0", "--providers", "--providers-port", "0", "--apns-port", "0",
                 "--apns-dir", str(blocker / "sub")])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("mobsim serve: --providers: ") and len(err.strip().splitlines()) == 1, err
