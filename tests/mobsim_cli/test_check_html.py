"""``mobsim check --html FILE`` (``conformance/html_report.py``): the summary header, the checks
grouped by platform with the SDK release the probe speaks, each failure with expected against
observed, the SDK sources its citations name and the exchange, everything escaped, nothing loaded
from anywhere; and the option itself, on the bundled server."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance import Report, Result, Verdict
from conformance.checks import by_id
from conformance.html_report import sdk_sources, to_html
from conformance.model import NO_API_KEY, Exchange
from conformance.probe import NEWEST_BUILD
from contract.dialect import Platform
from mobsim import exitcodes
from mobsim.cli import main
from simulator.catalog import app_build

HOSTILE = '<script>alert("x")</script>'


def _report() -> Report:
    exchange = Exchange("POST", "http://127.0.0.1:1/mobile/1/appinstance", {"authorization": "App c7…03"},
                        '{"a": 1}', 500, {"content-type": "text/html"}, f"<html>{HOSTILE}</html>")  # fmt: skip
    results = [
        Result(by_id("REG-001"), "ios", Verdict.PASS, 0.01, requests=1),
        Result(by_id("REG-001"), "android", Verdict.FAIL, 0.02, expected="a 2xx answer",
               observed=f"500 {HOSTILE}", exchange=exchange, requests=1),
        Result(by_id("PAT-002"), "android", Verdict.SKIP, 0.0, reason=NO_API_KEY),
    ]  # fmt: skip
    return Report("http://127.0.0.1:1", "run1", ("ios", "android"), True, results, seconds=1.25, push_api=False)


def test_the_page_has_a_header_the_platforms_with_their_sdk_and_the_failure() -> None:
    report = _report()
    page = to_html(report, {"REG-001[android]": ["SDK/mobileapi/appinstance/InstallationSynchronizer.java"]})
    assert "<title>mobsim check: FAIL</title>" in page
    assert "<strong>FAIL</strong>: 1 passed, 1 failed, 1 skipped</div>" in page
    assert "<tr><th>run id</th><td>run1</td></tr>" in page and "<tr><th>requests</th><td>2</td></tr>" in page
    assert "no: the checks that send a message were skipped" in page
    build = app_build(NEWEST_BUILD)
    assert build is not None
    ios = f"iOS: Mobile Messaging SDK {build.sdk(Platform.IOS)} (app build {NEWEST_BUILD})"
    android = f"Android: Mobile Messaging SDK {build.sdk(Platform.ANDROID)} (app build {NEWEST_BUILD})"
    assert page.index(f'<h2 id="platform-ios">{ios}</h2>') < page.index(f'<h2 id="platform-android">{android}</h2>')
    ios_part, android_part = page.split('id="platform-android"')[0], page.split('id="platform-android"')[1]
    assert '1 passed</span>, <span class="fail">0 failed' in ios_part and "PAT-002" not in ios_part
    assert '0 passed</span>, <span class="fail">1 failed</span>, <span class="skip">1 skipped' in android_part
    assert f'<td class="skip">skip</td><td>{NO_API_KEY}</td>' in android_part
    assert '<a href="#fail-REG-001-android">expected a 2xx answer; observed 500 &lt;script&gt;' in android_part
    failure = page.split('<section class="failure" id="fail-REG-001-android">')[1].split("</section>")[0]
    assert "<dt>expected</dt><dd>a 2xx answer</dd>" in failure
    assert "<dd><ul><li><code>SDK/mobileapi/appinstance/InstallationSynchronizer.java</code></li></ul></dd>" in failure
    assert "mobile-api-android.md §3.2" in failure  # what it protects, as cited
    assert "&gt; POST http://127.0.0.1:1/mobile/1/appinstance\n&gt; authorization: App c7…03" in failure
    assert "&lt; 500" in failure and "&lt;html&gt;&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in failure
    assert "No Push API key" in page


def test_every_value_is_escaped_and_nothing_is_loaded() -> None:
    page = to_html(_report())
    assert "<script" not in page and "<link" not in page and "<img" not in page and "url(" not in page
    assert re.findall(r'\b(?:href|src)="([^"]*)"', page) == ["#fail-REG-001-android"]
    assert "none found (docs/reference/ not here)" in page  # no sources given


def test_a_report_that_checked_nothing_is_a_fail_as_the_exit_code_says() -> None:
    skipped = Report("t", "r", ("android",), False, [Result(by_id("EVT-003"), "android", Verdict.SKIP, 0.0,
                                                             reason="needs the inspection API")])  # fmt: skip
    assert "FAIL: nothing was checked (every selected check skipped)" in to_html(skipped)
    empty = Report("t", "r", ("android",), True, [])
    page = to_html(empty)
    assert "FAIL: nothing was checked (no selected check concerns these platforms)" in page
    assert "No selected check concerns this platform." in page
    passed = Report("t", "r", ("ios",), True, [Result(by_id("REG-001"), "ios", Verdict.PASS, 0.0)])
    assert "<strong>PASS</strong>: 1 passed, 0 failed, 0 skipped" in to_html(passed)


def test_sdk_sources_come_from_the_cited_sections_of_the_platforms_notes(tmp_path: Path) -> None:
    (tmp_path / "mobile-api-android.md").write_text(
        "# Android\n## 1. One\n`SDK/A.java`\n### 1.1 Sub (`SDK/B.java`)\nand `SDK/A.java` again\n"
        "#### A heading without a number stays in 1.1: `SDK/C.kt`\n### 1.2 Other\n`SDK/D.java`\n"
        "## 2. Two\n`SDK/E.java`\n## 10. Ten\n`SDK/F.java`\n"
    )
    (tmp_path / "mobile-api-ios-and-people.md").write_text("# iOS\n## 1. One\n`IOS/G.swift`\n")
    protects = "both (mobile-api-android.md §1.1, §2; mobile-api-ios-and-people.md §1)"
    assert sdk_sources(protects, reference_dir=tmp_path) == ["SDK/B.java", "SDK/A.java", "SDK/C.kt", "SDK/E.java",
                                                             "IOS/G.swift"]  # fmt: skip
    assert sdk_sources(protects, "ios", tmp_path) == ["IOS/G.swift"]
    assert sdk_sources("(mobile-api-android.md §1)", "android", tmp_path) == [
        "SDK/A.java", "SDK/B.java", "SDK/C.kt", "SDK/D.java",
    ]  # fmt: skip
    assert sdk_sources("(mobile-api-android.md §1)", "android", tmp_path / "nowhere") == []
    assert sdk_sources("no citation", "android", tmp_path) == []
    # The real notes: a check's citations name the SDK's own files.
    assert "SDK/mobileapi/appinstance/InstallationSynchronizer.java" in sdk_sources(by_id("REG-001").protects,
                                                                                   "android")  # fmt: skip
    assert all(s.endswith(".swift") for s in sdk_sources(by_id("REG-001").protects, "ios"))


@pytest.mark.slow
def test_mobsim_check_writes_the_html_beside_junit_and_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html, junit = tmp_path / "check.html", tmp_path / "check.xml"
    argv = ["check", "--only", "REG-001", "--platform", "android", "--max-rps", "0", "--html", str(html)]
    assert main([*argv, "--junit", str(junit)]) == exitcodes.PASSED, capsys.readouterr().out
    page = html.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<strong>PASS</strong>: 1 passed, 0 failed, 0 skipped" in page
    assert "<td><code>REG-001</code></td>" in page and junit.exists()
