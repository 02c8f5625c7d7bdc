"""Resuming after an interruption, replaying a file, and a direct run into a target: the same
requests, no duplicates, the same counts on the reference server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from demohelpers import UNTIL, Generated, InProcessHttp

from demo.replay import Pacer
from demo.run import DemoConfig, generate_to_file, generate_to_target, replay_file
from server_stub.inprocess import InProcessServer
from simulator import RealClock

TARGET = "http://testserver"
CODE = "target-app-code"
SMALL = DemoConfig(devices=50, days=10, seed=21, vertical="banking", until=UNTIL)


class Target:
    """The reference server in this process (on the wall clock, like mobsim serve), counting the SDK
    requests it receives; the client calls it without HTTP (``InProcessHttp``)."""

    def __init__(self) -> None:
        self.server = InProcessServer(CODE, clock=RealClock())
        self.client = httpx.Client(transport=InProcessHttp(self.server), base_url=TARGET)
        self.sdk_requests = 0
        self.client.event_hooks["request"].append(self._count)

    def _count(self, request: httpx.Request) -> None:
        if request.url.path.startswith("/mobile/"):
            self.sdk_requests += 1

    def counts(self) -> dict[str, Any]:
        stats = self.client.get("/inspect/stats").json()
        return {
            "persons": stats["persons"],
            "installations": stats["installations"],
            "personalized": stats["personalizedInstallations"],
            "events": stats["events"]["counts"],
            "rejected": stats["events"]["rejected"],
        }


def _stop_after(n: int) -> Any:
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > n

    return should_stop


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, int]:
    path = tmp_path_factory.mktemp("replay") / "small.jsonl"
    outcome = generate_to_file(SMALL, path)
    assert not outcome.interrupted
    return path, outcome.requests


@pytest.fixture(scope="module")
def direct(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    target = Target()
    checkpoint = tmp_path_factory.mktemp("direct") / "checkpoint"
    outcome = generate_to_target(SMALL, target.client, TARGET, CODE, checkpoint)
    assert not checkpoint.exists() and not checkpoint.with_name("checkpoint.ids").exists()
    segments = {s["name"] for s in target.client.get("/inspect/segments").json()["segments"]}
    campaigns = target.client.get("/inspect/campaigns").json()["total"]
    return {"counts": target.counts(), "requests": target.sdk_requests, "outcome": outcome, "segments": segments,
            "campaigns": campaigns}  # fmt: skip


@pytest.fixture(autouse=True)
def _no_checkpoint_files_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_a_direct_run_sends_every_request_once_with_the_targets_ids(
    direct: dict[str, Any], recorded: tuple[Path, int]
) -> None:
    assert direct["requests"] == recorded[1]
    assert direct["outcome"].replay["statuses"] == {"200": recorded[1]}
    assert direct["outcome"].definitions_created == "created"
    counts = direct["counts"]
    assert counts["rejected"] == 0 and counts["events"]["AppLaunch"] > 0
    assert sum(counts["installations"]["active"].values()) > 0


def test_campaigns_are_built_in_process_and_the_target_gets_their_sdk_traffic(
    direct: dict[str, Any], recorded: tuple[Path, int]
) -> None:
    outcome = direct["outcome"]
    assert outcome.campaigns and outcome.segments_created == "created"
    assert sum(c["funnel"]["delivered"] for c in outcome.campaigns) > 0  # figures of the in-process server
    assert direct["campaigns"] == 0  # the target sent nothing: it holds no campaign...
    assert direct["segments"] >= {"Loan offer viewers", "Affluent without a card"}  # ...but the segments
    lines = [json.loads(line) for line in recorded[0].read_text().splitlines()[1:]]
    reports = [x for x in lines if "drIDs" in (x["b"] or "") or "dlrIds" in (x["b"] or "") or "/seen" in x["u"]]
    assert reports and {x["s"] for x in reports} == {200}  # accepted as answered by the recording's server


def test_a_replayed_file_gives_the_same_counts_as_a_direct_run(
    tmp_path: Path, recorded: tuple[Path, int], direct: dict[str, Any]
) -> None:
    target = Target()
    result = replay_file(recorded[0], target.client, TARGET, CODE, tmp_path / "ckpt")
    assert result["sent"] == recorded[1] == target.sdk_requests
    assert result["unexpected"] == {} and result["definitionsCreated"] == "created"
    assert result["segmentsCreated"] == "created" and len(result["campaigns"]) == len(direct["outcome"].campaigns)
    assert target.counts() == direct["counts"]
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "ckpt.ids").exists()


def test_an_interrupted_replay_resumes_without_duplicates(
    tmp_path: Path, recorded: tuple[Path, int], direct: dict[str, Any]
) -> None:
    target = Target()
    checkpoint = tmp_path / "ckpt"
    first = replay_file(recorded[0], target.client, TARGET, CODE, checkpoint, should_stop=_stop_after(700))
    assert first["interrupted"] and first["sent"] == 700 and checkpoint.exists()
    second = replay_file(recorded[0], target.client, TARGET, CODE, checkpoint)
    assert second["resumed"] and not second["interrupted"]
    assert first["sent"] + second["sent"] == recorded[1] == target.sdk_requests
    assert second["unexpected"] == {}
    assert target.counts() == direct["counts"]


def test_an_interrupted_direct_run_resumes_without_duplicates(tmp_path: Path, direct: dict[str, Any]) -> None:
    target = Target()
    checkpoint = tmp_path / "ckpt"
    reports: list[int] = []
    target.client.event_hooks["request"].append(
        lambda r: reports.append(target.sdk_requests) if r.url.path.endswith(("/deliveryreport", "/seen")) else None
    )
    first = generate_to_target(SMALL, target.client, TARGET, CODE, checkpoint, should_stop=_stop_after(700))
    assert first.interrupted and checkpoint.exists() and target.sdk_requests == 700
    assert reports  # it stopped after a campaign: the ids the target answered are in the checkpoint's log
    second = generate_to_target(SMALL, target.client, TARGET, CODE, checkpoint)
    assert second.resumed and not second.interrupted and not checkpoint.exists()
    assert target.sdk_requests == direct["requests"]
    assert second.replay["unexpected"] == {}
    assert target.counts() == direct["counts"]
    assert second.tally.as_json() == direct["outcome"].tally.as_json()


def test_an_interrupted_file_resumes_to_the_same_bytes(tmp_path: Path, small: Generated) -> None:
    path = tmp_path / "resumed.jsonl"
    first = generate_to_file(small.config, path, should_stop=_stop_after(600), checkpoint_every=3600)
    checkpoint = path.with_name(path.name + ".checkpoint")
    assert first.interrupted and checkpoint.exists()
    assert b"dlrIds" in path.read_bytes()  # a campaign had been sent: the restart generates it again
    with path.open("ab") as handle:  # a hard kill in the middle of a write leaves half a line
        handle.write(b'{"p":999,"d":"999.0","t":')
    second = generate_to_file(small.config, path)
    assert second.resumed and not second.interrupted and not checkpoint.exists()
    assert path.read_bytes() == small.path.read_bytes()
    assert second.tally.as_json() == small.outcome.tally.as_json()


def test_a_checkpoint_of_other_options_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.jsonl"
    generate_to_file(SMALL, path, should_stop=_stop_after(2))
    other = DemoConfig(**{**SMALL.__dict__, "seed": 22})
    with pytest.raises(ValueError, match="other options"):
        generate_to_file(other, path)


def test_the_app_code_and_its_hash_header_are_replaced(tmp_path: Path, recorded: tuple[Path, int]) -> None:
    seen: list[httpx.Request] = []
    target = Target()
    target.client.event_hooks["request"].append(seen.append)
    replay_file(recorded[0], target.client, TARGET, CODE, tmp_path / "c", should_stop=_stop_after(20))
    from contract.formats import app_code_hash

    sdk = [r for r in seen if r.url.path.startswith("/mobile/")]
    assert sdk and all(r.headers["authorization"] == f"App {CODE}" for r in sdk)
    assert all(r.headers["applicationcode"] == app_code_hash(CODE) for r in sdk)
    recorded_ids = {json.loads(line).get("r") for line in recorded[0].read_text().splitlines()[1:]} - {None}
    assert recorded_ids and not any(rid in str(r.url) for r in sdk for rid in recorded_ids)


def test_the_pacer_holds_the_rate_without_real_sleeps() -> None:
    now = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    pacer = Pacer(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(9):
        pacer.wait()
    assert now[0] == pytest.approx(2.0)
    unlimited = Pacer(0, clock=lambda: now[0], sleep=sleep)
    unlimited.wait()
    assert len(slept) == 8
