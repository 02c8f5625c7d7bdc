"""`mobsim run` end to end: Locust in child processes against servers on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scenarios._population import Population, Slice
from server_stub.serve import BackgroundServer, ServeConfig
from simulator import AppConfig

pytestmark = pytest.mark.slow


def mobsim_run(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "mobsim", "run", "--out-dir", str(out), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    summary = out / "summary.json"
    return proc, json.loads(summary.read_text()) if summary.exists() else None


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServeConfig(port=0, app_codes=["RUN-TEST"])) as running:
        yield running


def test_headless_run_against_the_bundled_server(tmp_path: Path) -> None:
    proc, summary = mobsim_run(tmp_path, "-t", "6s", "-u", "10", "-r", "10", "--think-time", "0.2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary is not None
    assert summary["totals"]["requests"] > 50
    assert summary["totals"]["failures"] == 0
    assert summary["sessions"]["sessions"] > 0 and summary["devices_touched"] > 0
    assert summary["target"]["bundled"] is True
    assert "…" in summary["target"]["app_code"]
    names = {e["name"] for e in summary["endpoints"]}
    assert "POST /mobile/1/appinstance" in names
    report = tmp_path / "report"
    assert (report / "report.html").stat().st_size > 1000
    assert (report / "stats_stats.csv").read_text().startswith("Type,Name")
    assert "requests" in proc.stdout and "App Launches" in proc.stdout


def test_gates_turn_a_bad_run_into_a_non_zero_exit(tmp_path: Path, server: BackgroundServer) -> None:
    proc, summary = mobsim_run(
        tmp_path, "--target", server.url, "--app-code", "WRONG-CODE", "-t", "4s", "-u", "5",
        "--think-time", "0.1", "--max-fail-ratio", "0.01",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert summary is not None and summary["gates"]["passed"] is False
    assert summary["totals"]["fail_ratio"] > 0.5
    assert "gate failed: fail ratio" in proc.stdout
    assert "WRONG-CODE" not in proc.stdout


def test_a_remote_target_needs_confirmation_and_sends_nothing(tmp_path: Path) -> None:
    proc, summary = mobsim_run(tmp_path, "--target", "https://push.example.com", "--app-code", "SECRET-CODE-1234")
    assert proc.returncode == 2
    assert "--allow-remote-target" in proc.stdout
    assert summary is None


def test_distributed_workers_drive_disjoint_slices(tmp_path: Path) -> None:
    state = tmp_path / "state.bin"
    proc, summary = mobsim_run(
        tmp_path, "--processes", "2", "-t", "8s", "-u", "10", "-r", "10", "--think-time", "0.2",
        "--population", "400", "--seed", "5", "--state-file", str(state),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary is not None and summary["totals"]["failures"] == 0
    parts = sorted(tmp_path.glob("state.bin.*of2"))
    assert [p.name for p in parts] == ["state.bin.0of2", "state.bin.1of2"]
    touched = []
    for k, part in enumerate(parts):
        population = Population(400, 5, AppConfig("x"), slice_=Slice(k, 2))
        loaded = population.load(part)
        indices = {index for index, _ in population.parked()}
        assert loaded == len(indices) > 0
        assert all(index % 2 == k for index in indices)
        touched.append(indices)
    assert not touched[0] & touched[1]
    # The master sums the workers' last reports; sessions that end after them are parked but not counted.
    assert 0 < summary["devices_touched"] <= len(touched[0]) + len(touched[1])


def test_the_open_model_reports_the_shortfall_of_a_slow_server(tmp_path: Path) -> None:
    with BackgroundServer(ServeConfig(port=0, app_codes=["RUN-TEST"], latency_ms=400)) as slow:
        proc, summary = mobsim_run(
            tmp_path, "--target", slow.url, "--app-code", "RUN-TEST", "--arrival-rate", "8", "-u", "4",
            "-r", "100", "-t", "6s", "--think-time", "0.1",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary is not None
    arrivals = summary["arrivals"]
    assert arrivals["dropped"] > 0
    assert arrivals["achieved_rate"] < 8 * 0.8
    assert "dropped" in proc.stdout


def test_the_open_model_holds_its_rate_against_a_fast_server(tmp_path: Path, server: BackgroundServer) -> None:
    proc, summary = mobsim_run(
        tmp_path, "--target", server.url, "--app-code", "RUN-TEST", "--arrival-rate", "4", "-u", "60",
        "-r", "100", "-t", "6s", "--think-time", "0.1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary is not None
    arrivals = summary["arrivals"]
    assert arrivals["dropped"] == 0
    assert arrivals["started"] >= 4 * 4


def test_locust_reads_mobsim_options_from_locust_conf(tmp_path: Path, server: BackgroundServer) -> None:
    summary = tmp_path / "summary.json"
    (tmp_path / "locust.conf").write_text(
        f"locustfile = {Path(__file__).resolve().parents[2] / 'scenarios'}\nheadless = true\nhost = {server.url}\n"
        f"users = 3\nspawn-rate = 3\nrun-time = 3s\napp-code = RUN-TEST\npopulation = 50\nthink-time = 0.1\n"
        f"summary-file = {summary}\nonly-summary = true\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    proc = subprocess.run(
        [sys.executable, "-m", "locust"], cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(summary.read_text())
    assert result["totals"]["requests"] > 0 and result["totals"]["failures"] == 0
