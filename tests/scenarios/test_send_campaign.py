"""The spike's campaign as `mobsim run` sends it (`scenarios._pushes.send_campaign`), against a real
`mobsim serve` on loopback: what the record says is what the server wrote, and a campaign that
reached nobody, a refused send or a missing segment is an error the verdict fails on."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from scenarios._pushes import EVERYONE, send_campaign
from server_stub import push_api
from server_stub.serve import BackgroundServer, ServeConfig
from simulator import AppConfig, VirtualDevice

APP = "SPIKE-TEST-APP"
KEY = "spike-test-key"


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServeConfig(port=0, app_codes=[APP], api_keys=[KEY])) as running:
        yield running


def test_a_campaign_to_an_empty_audience_reached_no_installation(server: BackgroundServer) -> None:
    record = send_campaign(server.url, APP, KEY, EVERYONE, "spike-empty")
    assert (record["status"], record["messages"]) == (200, 0)
    assert record["error"] == (
        "segment 'All installations' holds no installation that can receive it "
        "(registered, push enabled, of this application)"
    )


@pytest.mark.parametrize("chunk", [1, 1000])  # streamed past one chunk, or one answer
def test_the_record_counts_what_the_server_wrote(
    server: BackgroundServer, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    config = AppConfig(APP, base_url=server.url)
    for seed, platform in enumerate(("android", "ios", "huawei"), start=1):
        device = VirtualDevice.create(platform, config, seed=seed)
        device.start()
        assert device.reg_id, device.last_error
    disabled = VirtualDevice.create("android", config, seed=9)
    disabled.start()
    disabled.save_installation(regEnabled=False)
    assert disabled.installation.get("regEnabled") is False, disabled.last_error
    monkeypatch.setattr(push_api, "SEND_CHUNK", chunk)
    record = send_campaign(server.url, APP, KEY, EVERYONE, f"spike-{chunk}")
    assert "error" not in record, record
    assert (record["status"], record["messages"], record["bulkId"]) == (200, 3, f"spike-{chunk}")
    again = send_campaign(server.url, APP, KEY, EVERYONE, f"spike-{chunk}")  # the bulk id is taken
    assert again["status"] == 400 and "exists already" in again["error"] and "messages" not in again


def test_a_wrong_key_and_an_unknown_segment_are_errors(server: BackgroundServer) -> None:
    refused = send_campaign(server.url, APP, "not-the-key", EVERYONE, "spike-key")
    assert refused["status"] == 401 and refused["error"].startswith("/push/3/messages answered 401: ")
    missing = send_campaign(server.url, APP, KEY, "No such segment", "spike-segment")
    assert missing["status"] == 400 and "No such segment" in missing["error"]


def test_an_unreachable_target_is_an_error() -> None:
    record = send_campaign("http://127.0.0.1:9", APP, KEY, EVERYONE, "spike-down")
    assert record["error"].startswith("ConnectError") and "messages" not in record
