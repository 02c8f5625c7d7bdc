"""The reports people open in a browser: ``mobsim run``'s ``mobsim-report.html`` (from a real short
run, a spike campaign in it) and ``mobsim check --html``, rendered by Chromium from disk with nothing
failing; Locust's own page still renders with mobsim's link in it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browserkit import screenshot

from mobsim import exitcodes
from mobsim.cli import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    out = tmp_path_factory.mktemp("run") / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "mobsim", "run", "--out-dir", str(out), "-t", "6s", "--population", "40", "-u", "4",
         "-r", "4", "--shape", "spike", "--spike-at", "1"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == exitcodes.PASSED, proc.stdout + proc.stderr
    yield out


def test_the_run_report_renders_its_verdict_charts_and_tables(page: Any, run_dir: Path) -> None:
    page.goto((run_dir / "mobsim-report.html").as_uri())
    assert "passed" in page.inner_text("body").lower()
    charts = page.locator("svg")
    assert charts.count() >= 4  # rps, percentiles, users, App Launches
    assert charts.first.bounding_box()["width"] > 200
    assert page.locator("table").count() >= 3
    screenshot(page, "run-report")


def test_locusts_page_renders_with_the_link_to_mobsims(page: Any, run_dir: Path) -> None:
    page.problems.allow = "favicon"  # Locust's stock page asks for a favicon it does not ship
    page.goto((run_dir / "report.html").as_uri())
    link = page.locator("a[href$='mobsim-report.html']")
    link.wait_for(timeout=10_000)
    assert link.count() == 1
    page.locator("#root *").first.wait_for(timeout=10_000)  # Locust's React app drew itself


def test_the_check_report_renders(page: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "check.html"
    argv = ["check", "--only", "REG-001", "--platform", "android", "--max-rps", "0", "--html", str(html)]
    assert main(argv) == exitcodes.PASSED, capsys.readouterr().out
    page.goto(html.as_uri())
    assert "REG-001" in page.inner_text("body") and "PASS" in page.inner_text("body")
    screenshot(page, "check-report")
