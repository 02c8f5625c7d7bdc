"""``mobsim run --fault``: the bundled server misbehaves on purpose, the devices go on as their SDKs
do, and the reconciliation still agrees.

One real run (a subprocess, as tests/scenarios/test_run_command.py) with a 503 fault and a
connection-reset fault: requests fail, the devices send again what they kept, the Locust transport
sends a request again after a reused connection was reset before any answer, and what the server
acknowledged is what it stored. The option's refusals are checked in process (nothing starts).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mobsim.cli import main
from mobsim.exitcodes import USAGE
from mobsim.run import FAULTS_NEED_BUNDLED


@pytest.mark.slow
def test_under_injected_faults_the_devices_send_again_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    out = tmp_path / "report"
    # Back-to-back sessions (think time 0) of a few devices: each device has many sessions, so what
    # one session's failures left with the SDK is sent again by a later one within the run.
    proc = subprocess.run(
        [sys.executable, "-m", "mobsim", "run", "--out-dir", str(out), "-t", "4s", "--population", "4",
         "-u", "2", "-r", "2", "--think-time", "0", "--personas", "shopper=1", "--new-installs", "0",
         "--fault", "status=503,rate=0.3,seed=1", "--fault", "reset,rate=0.05,seed=2"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr  # requests failed, and no threshold allows it
    summary = json.loads((out / "summary.json").read_text())
    assert summary["options"]["faults"] == ["status=503,rate=0.3,seed=1", "reset,rate=0.05,seed=2"]
    assert "fault 1 injected by the bundled server: status=503,rate=0.3,seed=1" in proc.stdout
    totals = summary["totals"]
    assert 0 < totals["failures"] < totals["requests"]
    assert summary["sessions"]["aborted"] == 0  # every session went on after its errors
    assert summary["sessions"]["app_errors"] > 0 and summary["app_errors"]
    assert sum(summary["resent"].values()) > 0, summary["resent"]  # what the devices kept, sent again
    assert summary["transport"]["retried_on_stale_connection"] > 0  # a reset on a reused connection
    rec = summary["reconciliation"]
    assert rec["stored_available"] is True and rec["agree"] is True, rec  # nothing lost, nothing twice
    rows = {row["kind"]: row for row in rec["rows"]}
    assert rows["events"]["acknowledged"] == rows["events"]["stored"] > 0
    assert "sent again by the devices after a failure" in proc.stdout
    assert "requests sent again after a reused connection broke before any answer" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--target", "http://127.0.0.1:9", "--app-code", "X", "--fault", "status=503"), FAULTS_NEED_BUNDLED),
        (("--fault", "status=503,rate=2"), "--fault 'status=503,rate=2': rate=2"),
        (("--fault", "statos=503"), "did you mean status?"),
    ],
)
def test_a_fault_the_bundled_server_cannot_inject_is_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    started = time.monotonic()
    code = main(["run", "--out-dir", str(tmp_path / "report"), *args])
    printed = capsys.readouterr().out
    assert code == USAGE, printed
    assert message in printed and "nothing was sent" in printed
    assert not (tmp_path / "report").exists() and time.monotonic() - started < 5
