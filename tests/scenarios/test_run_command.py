"""`mobsim run` end to end: Locust in child processes against servers on loopback.

Each exit code of the verdict, the refusals before load (and how long they take), the installed
base and the traffic mix, the reconciliation with the server, thresholds with JUnit, Ctrl-C, and
output in a CI log.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scenarios import Population, Slice
from server_stub.serve import BackgroundServer, ServeConfig
from simulator import AppConfig

pytestmark = pytest.mark.slow

QUICK = ("--population", "200", "-u", "8", "-r", "8", "--think-time", "0.2")
"""A small run: 200 devices install in about a second."""


def mobsim_run(
    tmp_path: Path, *args: str, timeout: float = 120, env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any] | None]:
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "mobsim", "run", "--out-dir", str(out), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    summary = out / "summary.json"
    return proc, json.loads(summary.read_text()) if summary.exists() else None


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServeConfig(port=0, app_codes=["RUN-TEST"])) as running:
        yield running


def test_a_default_run_drives_an_installed_base_and_reconciles_with_the_server(tmp_path: Path) -> None:
    proc, summary = mobsim_run(tmp_path, "-t", "8s", "-u", "10", "-r", "10", "--think-time", "0.2")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary is not None
    assert summary["schema_version"] == 1 and summary["mobsim_version"]
    assert summary["verdict"] == {
        "result": "passed", "exit_code": 0, "reason": f"all {summary['totals']['requests']} requests succeeded "
        "(no threshold given)",
    }  # fmt: skip
    assert summary["options"]["population"] == 2000 and summary["options"]["new_installs"] is None
    assert summary["started_at"] < summary["load_started_at"] < summary["ended_at"]
    # The installed base: every device but the newinstall persona's was registered before the load.
    base = summary["installed_base"]
    assert base["registered"] == base["devices"] > 1800 and base["failed"] == 0
    # A live audience: registrations are a small share of the traffic, session reports a large one.
    mix = {m["name"]: m["share"] for m in summary["traffic_mix"]}
    assert mix.get("POST /mobile/1/appinstance", 0.0) < 0.05
    assert mix["POST /mobile/1/appinstance/{pushRegId}/user/events/session"] > 0.15
    assert abs(sum(mix.values()) - 1) < 0.01
    # What was acknowledged is what the server stored, kind by kind.
    rec = summary["reconciliation"]
    assert rec["stored_available"] is True and rec["agree"] is True, rec
    rows = {row["kind"]: row for row in rec["rows"]}
    assert rows["launches"]["acknowledged"] == rows["launches"]["stored"] > 0
    assert rows["events"]["acknowledged"] == rows["events"]["stored"] > 0
    assert summary["totals"]["failures"] == 0 and summary["devices_touched"] > 0
    assert summary["target"]["bundled"] is True and "…" in summary["target"]["app_code"]
    report = tmp_path / "report"
    assert (report / "report.html").stat().st_size > 1000
    assert (report / "stats_stats.csv").read_text().startswith("Type,Name")
    # mobsim's page (mobsim/run_html.py), linked from Locust's, charts App Launches from the full history.
    page = (report / "mobsim-report.html").read_text()
    assert f"(exit 0): {summary['verdict']['reason']}</div>" in page and "App Launches: session reports" in page
    assert f"the target acknowledged {rows['launches']['acknowledged']} App Launches in all" in page
    assert 'href="mobsim-report.html"' in (report / "report.html").read_text()
    history = (report / "stats_stats_history.csv").read_text()
    assert ",POST /mobile/1/appinstance/{pushRegId}/user/events/session," in history  # --csv-full-history
    assert f"reports: {report / 'mobsim-report.html'}, {report / 'report.html'}" in proc.stdout
    assert "the server stored exactly what it acknowledged" in proc.stdout
    assert "verdict: passed (exit 0)" in proc.stdout
    assert not list(report.glob(".mobsim-run-*")), "the scratch folder is removed"


def test_thresholds_give_the_verdict_with_a_line_each_and_junit(tmp_path: Path, server: BackgroundServer) -> None:
    junit = tmp_path / "thresholds.xml"
    proc, summary = mobsim_run(
        tmp_path, "--target", server.url, "--app-code", "RUN-TEST", "-t", "5s", *QUICK,
        "--threshold", "p95<60000", "--threshold", "rps>100000", "--max-fail-ratio", "0.01", "--junit", str(junit),
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert summary is not None
    verdicts = {t["expression"]: t["passed"] for t in summary["thresholds"]}
    assert verdicts == {"p95<60000": True, "rps>100000": False, "fail_ratio<=0.01": True}
    assert summary["verdict"]["reason"] == "1 of 3 thresholds failed"
    assert "✓ p95<60000" in proc.stdout and "✗ rps>100000" in proc.stdout
    suite = ET.parse(junit).getroot()
    assert (suite.get("tests"), suite.get("failures")) == ("3", "1")
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert failed == ["rps>100000"]


def test_with_no_threshold_any_failed_request_fails_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "mobsim_cli"))
    from clikit import break_servers, fails_after_preflight

    break_servers(monkeypatch, fails_after_preflight)
    with BackgroundServer(ServeConfig(port=0, app_codes=["RUN-TEST"])) as broken:
        proc, summary = mobsim_run(
            tmp_path, "--target", broken.url, "--app-code", "RUN-TEST", "-t", "3s", *QUICK, "--installed-base", "no"
        )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert summary is not None and summary["totals"]["failures"] == summary["totals"]["requests"] > 0
    assert summary["verdict"]["reason"].endswith("requests failed (no threshold given)")
    # Nothing was acknowledged, so nothing is counted as done: no launch, no install.
    assert all(row["acknowledged"] == 0 for row in summary["reconciliation"]["rows"])


def test_a_run_that_sends_nothing_fails(tmp_path: Path, server: BackgroundServer) -> None:
    # Every session waits up to 2 x 100 s before it starts: a 2-second run sends no request.
    proc, summary = mobsim_run(
        tmp_path, "--target", server.url, "--app-code", "RUN-TEST", "-t", "2s", "--population", "50",
        "--think-time", "100", "-u", "2", "--installed-base", "no",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert summary is not None and summary["totals"]["requests"] == 0
    assert summary["verdict"]["reason"] == "no request was sent"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--personas", "nosuch=10"), "--personas 'nosuch=10'"),
        (("--platforms", "windows=10"), "--platforms 'windows=10'"),
        (("--tags", "nosuch"), "--tags nosuch: no such persona"),
        (("--p95-ms", "POST /mobile/1/appinstanse=300"), "POST /mobile/1/appinstance"),
        (("--threshold", "POST /nowhere: p95<300"), "POST /nowhere"),
        (("--threshold", "p95<<3"), "p95<<3"),
        (("--shape", "zigzag"), "zigzag"),
        (("--processes", "-5"), "--processes -5"),
        (("--spike-share", "1.5"), "--spike-share 1.5"),
        (("--new-installs", "-0.1"), "--new-installs -0.1"),
        (("--run-time", "soon"), "--run-time 'soon'"),
        (("--max-rps", "-1"), "--max-rps"),
        (("--abort-on-fail",), "--abort-on-fail needs a threshold"),
    ],
)
def test_bad_options_are_refused_before_load_in_seconds(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    started = time.monotonic()
    proc, summary = mobsim_run(tmp_path, *args)
    took = time.monotonic() - started
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stdout + proc.stderr
    assert summary is None and took < 10, took


def test_a_state_file_of_another_population_is_refused_before_load(tmp_path: Path) -> None:
    state = tmp_path / "state.bin"
    Population(10, 3, AppConfig("x")).save(state)
    proc, summary = mobsim_run(tmp_path, "--state-file", str(state), "--population", "20")
    assert proc.returncode == 2 and "holds population seed 3 of 10 devices" in proc.stdout
    assert summary is None


def test_a_dead_target_and_a_wrong_app_code_are_one_clear_line(tmp_path: Path, server: BackgroundServer) -> None:
    started = time.monotonic()
    proc, summary = mobsim_run(tmp_path, "--target", "http://127.0.0.1:9", "--app-code", "RUN-TEST")
    assert proc.returncode == 2 and summary is None and time.monotonic() - started < 15
    assert "http://127.0.0.1:9" in proc.stdout and "nothing was sent" in proc.stdout
    proc, summary = mobsim_run(tmp_path, "--target", server.url, "--app-code", "WRONG-CODE-1234")
    assert proc.returncode == 2 and summary is None
    refusal = [line for line in proc.stdout.splitlines() if line.startswith("mobsim run:")]
    assert len(refusal) == 1 and "app code" in refusal[0].lower(), proc.stdout
    assert "WRONG-CODE-1234" not in proc.stdout


def test_a_remote_target_needs_confirmation_and_sends_nothing(tmp_path: Path) -> None:
    proc, summary = mobsim_run(tmp_path, "--target", "https://push.example.com", "--app-code", "SECRET-CODE-1234")
    assert proc.returncode == 2
    assert "--allow-remote-target" in proc.stdout
    assert summary is None


def test_locust_failing_is_exit_3(tmp_path: Path) -> None:
    proc, summary = mobsim_run(tmp_path, "-t", "3s", *QUICK, "--", "--no-such-locust-option")
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Locust exited" in proc.stdout and summary is None


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_the_load_writes_every_report_and_exits_130(tmp_path: Path, signum: int) -> None:
    out = tmp_path / "report"
    process = subprocess.Popen(
        [sys.executable, "-m", "mobsim", "run", "--out-dir", str(out), "-t", "120s", *QUICK],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:  # wait for the load itself
        if "users" in line and "rps" in line and "[mobsim run]" in line:
            break
    time.sleep(2)
    interrupted = time.monotonic()
    process.send_signal(signum)
    rest = process.stdout.read()
    code = process.wait(timeout=60)
    took = time.monotonic() - interrupted
    assert code == 130, rest
    assert took < 25, took
    summary = json.loads((out / "summary.json").read_text())
    assert summary["verdict"]["result"] == "interrupted" and summary["totals"]["requests"] > 0
    assert (out / "report.html").stat().st_size > 1000
    assert (out / "stats_stats.csv").exists()
    assert "Traceback" not in rest and "verdict: interrupted (exit 130)" in rest


def test_output_in_a_ci_log_is_plain_lines_never_wrapped(tmp_path: Path, server: BackgroundServer) -> None:
    env = {**os.environ, "COLUMNS": "40", "TERM": "dumb"}
    proc, _summary = mobsim_run(tmp_path, "--target", server.url, "--app-code", "RUN-TEST", "-t", "6s", *QUICK, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    progress = [line for line in lines if line.startswith("[mobsim run]") and "rps" in line]
    assert progress and all("users" in p and "failures" in p and "p95" in p for p in progress)
    assert "\x1b[" not in proc.stdout and "━" not in proc.stdout  # no colour codes, no rich boxes or bars
    # A long endpoint name stays whole on its line, in a 40-column "terminal".
    assert any("POST /mobile/1/appinstance/{pushRegId}/user/events/session" in line for line in lines)
    assert any(line.startswith("sent as  endpoint") for line in lines)


def test_distributed_workers_drive_disjoint_slices_and_count_exactly(tmp_path: Path) -> None:
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
    # Each worker wrote its own final counts: the reconciliation is exact with two workers too.
    assert summary["reconciliation"]["agree"] is True, summary["reconciliation"]
    assert (tmp_path / "state.bin.db").exists()  # the bundled server keeps its data beside the state file


def test_the_open_model_reports_the_shortfall_of_a_slow_server(tmp_path: Path) -> None:
    with BackgroundServer(ServeConfig(port=0, app_codes=["RUN-TEST"], latency_ms=400)) as slow:
        proc, summary = mobsim_run(
            tmp_path, "--target", slow.url, "--app-code", "RUN-TEST", "--arrival-rate", "8", "-u", "4",
            "-r", "100", "-t", "6s", "--think-time", "0.1", "--population", "100", "--installed-base", "no",
        )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary is not None
    arrivals = summary["arrivals"]
    assert arrivals["dropped"] > 0
    assert arrivals["achieved_rate"] < 8 * 0.8
    assert 5.0 <= arrivals["seconds"] <= 7.5  # the window arrivals were scheduled in, not the whole process life
    assert "dropped" in proc.stdout


def test_the_open_model_holds_its_rate_against_a_fast_server(tmp_path: Path, server: BackgroundServer) -> None:
    proc, summary = mobsim_run(
        tmp_path, "--target", server.url, "--app-code", "RUN-TEST", "--arrival-rate", "4", "-u", "60",
        "-r", "100", "-t", "6s", "--think-time", "0.1", "--population", "300",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert summary is not None
    arrivals = summary["arrivals"]
    assert arrivals["dropped"] == 0
    assert arrivals["started"] >= 4 * 4
    assert arrivals["achieved_rate"] > 4 * 0.8


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
    part = json.loads(Path(f"{summary}.part-0of1").read_text())
    assert part["installed_base"]["registered"] > 0  # set up at test start, as under mobsim run


def test_locust_refuses_bad_mobsim_options_before_the_test(tmp_path: Path, server: BackgroundServer) -> None:
    env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}
    scenarios = Path(__file__).resolve().parents[2] / "scenarios"
    proc = subprocess.run(
        [sys.executable, "-m", "locust", "-f", str(scenarios), "--headless", "-t", "3s", "--host", server.url,
         "--app-code", "RUN-TEST", "--personas", "nosuch=1"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "mobsim: --personas 'nosuch=1'" in proc.stderr


def test_a_spike_is_a_real_campaign_whose_pushes_reach_the_runs_devices(tmp_path: Path) -> None:
    """The bundled server's Push API key goes to Locust; at the spike the master sends one message
    to every installation (the default segment, created by the run), the provider hands the
    pushes to the run's devices, they report delivery, and the summary shows the funnel."""
    proc, summary = mobsim_run(tmp_path, "-t", "14s", *QUICK, "--shape", "spike", "--spike-at", "3",
                               "--spike-share", "0.2")  # fmt: skip
    assert summary is not None, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stdout[-3000:]
    campaign = summary["campaign"]
    assert campaign["segment"] == "All installations" and campaign["messages"] > 150, campaign
    assert "error" not in campaign
    figures = summary["messages"]
    assert figures["received"] + figures["held_for_a_session"] > 100, figures
    assert figures["delivery_reports_acknowledged"] > 100, figures
    (funnel,) = [c for c in summary["campaigns"] if c["bulkId"] == campaign["bulkId"]]
    assert (
        funnel["sent"] == campaign["messages"] and funnel["delivered"] >= figures["delivery_reports_acknowledged"] - 5
    )
    assert "a real campaign to the segment 'All installations'" in proc.stdout
    assert "campaigns, as the server counts them" in proc.stdout
