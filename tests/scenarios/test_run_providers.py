"""``mobsim run --providers``: the bundled server sends a spike campaign through FCM, HMS and APNs
on loopback, the devices take the pushes from the providers' feed, and the summary holds the
providers' journal, in agreement with what the server counted. One real run (a subprocess, as
tests/scenarios/test_run_command.py); the option's refusals and the verdict's rule in process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import respx

from mobsim.cli import main
from mobsim.exitcodes import FAILED, PASSED, USAGE
from mobsim.run import verdict
from mobsim.run_providers import journal_report


@pytest.mark.slow
def test_a_spike_campaign_goes_through_the_providers_and_reaches_the_devices(tmp_path: Path) -> None:
    out = tmp_path / "report"
    proc = subprocess.run(
        [sys.executable, "-m", "mobsim", "run", "--providers", "--out-dir", str(out), "-t", "12s",
         "--population", "60", "-u", "6", "-r", "6", "--shape", "spike", "--spike-at", "2"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert proc.returncode == PASSED, proc.stdout + proc.stderr
    assert "push providers on loopback (the bundled server sends through them)" in proc.stdout
    summary = json.loads((out / "summary.json").read_text())
    report = summary["providers"]
    assert report["ok"] is True and report["problems"] == [], report
    campaign = summary["campaign"]
    journal = report["journal"]
    assert journal["accepted"] == campaign["messages"] > 0, (journal, campaign)
    relay = report["relay"]["providers"]
    for name in ("fcm", "hms", "apns"):  # what the server saw accepted is what the providers journaled
        assert relay[name]["sent"] == journal["providers"].get(name, {}).get("accepted", 0), (relay, journal)
    assert relay["apns"]["sent"] > 0 and relay["fcm"]["sent"] > 0
    funnel = next(c for c in summary["campaigns"] if c["bulkId"] == campaign["bulkId"])
    assert funnel["delivered"] == journal["accepted"], funnel  # every push reached a device and was reported
    assert f"push providers: {journal['accepted']} sends accepted" in proc.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--providers-port", "8090"), "--providers-port needs --providers"),
        (("--providers-fault", "status=503"), "--providers-fault needs --providers"),
        (
            ("--providers", "--deliveries-url", "http://127.0.0.1:9/provider/1/deliveries"),
            "--providers and --deliveries-url",
        ),
        (("--providers", "--apns-port", "70000"), "--apns-port 70000: a port from 0 to 65535"),
        (("--providers", "--providers-fault", "status=503,rate=2"), "--providers-fault: "),
        (("--deliveries-url", "ftp://x/provider/1/deliveries"), "--deliveries-url 'ftp://x/provider/1/deliveries'"),
    ],
)
def test_provider_options_are_refused_before_anything_starts(
    args: tuple[str, ...], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["run", "--out-dir", str(tmp_path / "r"), *args])
    text = capsys.readouterr().out
    assert code == USAGE and message in text and "nothing was sent" in text, text
    assert not (tmp_path / "r").exists()


def _summary(providers: dict[str, Any] | None) -> dict[str, Any]:
    return {"totals": {"requests": 10, "failures": 0}, "providers": providers}


def test_a_failed_journal_check_fails_the_verdict_and_a_passed_one_does_not() -> None:
    bad = _summary({"ok": False, "problems": ["token t: 2 messages in campaign c"]})
    assert verdict(bad, [], [], False) == FAILED
    assert bad["verdict"]["reason"].startswith("the push providers' journal: 1 problems: token t: 2 messages")
    unreadable = _summary({"ok": False, "problems": [], "error": "GET x/journal/verify: ConnectError: refused"})
    assert verdict(unreadable, [], [], False) == FAILED and "ConnectError" in unreadable["verdict"]["reason"]
    for fine in (_summary({"ok": True, "problems": []}), _summary(None)):
        assert verdict(fine, [], [], False) == PASSED


def test_the_journal_is_read_only_from_a_providers_feed() -> None:
    assert journal_report(None) is None and journal_report("") is None
    assert journal_report("http://127.0.0.1:9/somewhere/else") is None  # not a feed: the target's own
    report = journal_report("http://127.0.0.1:9/provider/1/deliveries")
    assert report is not None and report["ok"] is False and "ConnectError" in report["error"]


FEED = "http://127.0.0.1:9/provider/1/deliveries"
JOURNAL = "http://127.0.0.1:9/journal/verify"


def test_a_feed_whose_server_keeps_no_journal_is_noted_and_fails_nothing() -> None:
    """The reference server's own feed given as --deliveries-url: its 404 on the journal is no
    journal, not an unreadable one (the console line and the page: tests/mobsim_cli/test_run_html.py)."""
    envelope = {"requestError": {"serviceException": {"messageId": "NOT_FOUND", "text": "no route"}}}
    with respx.mock(assert_all_called=True) as router:
        router.get(JOURNAL).respond(404, json=envelope)
        report = journal_report(FEED)
    assert report is not None and report["ok"] is None and report["journal"] is None and "error" not in report
    assert report["note"].startswith("http://127.0.0.1:9 keeps no journal")
    assert verdict(_summary(report), [], [], False) == PASSED


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, {"problems": [], "summary": {}}), (401, {}), (503, {}),
     (404, {"requestError": {"serviceException": {"messageId": "OTHER"}}}), (404, {"detail": "Not Found"}), (404, [])],
    ids=["500", "401", "503", "404 another code", "404 of another server", "404 not an object"],
)  # fmt: skip
def test_any_other_refusal_of_the_journal_is_unreadable_and_fails_the_run(status: int, body: Any) -> None:
    with respx.mock(assert_all_called=True) as router:
        router.get(JOURNAL).respond(status, json=body)
        report = journal_report(FEED)
    assert report is not None and report["ok"] is False
    assert report["error"] == f"GET http://127.0.0.1:9/journal/verify: {status}"
    assert verdict(_summary(report), [], [], False) == FAILED


def test_a_journal_read_from_the_feeds_providers_gives_its_checks() -> None:
    with respx.mock(assert_all_called=True) as router:
        router.get(JOURNAL).respond(200, json={"problems": ["token t: 2 messages"], "summary": {"accepted": 3}})
        report = journal_report(FEED)
    assert report is not None and report["ok"] is False and report["journal"] == {"accepted": 3}
    assert report["problems"] == ["token t: 2 messages"] and "note" not in report


@pytest.mark.slow
def test_devices_take_pushes_from_providers_a_backend_under_test_sends_to(tmp_path: Path) -> None:
    """A backend under test (here the reference server configured with providers, in this process)
    sends a spike campaign through a running set of providers; ``--deliveries-url`` points the run's
    devices at their feed, and the summary holds their journal."""
    from providers.stack import ProviderStack, StackOptions
    from server_stub.serve import BackgroundServer, ServeConfig

    app, key = "RUN-PROVIDERS-APP", "run-providers-key"
    with ProviderStack(StackOptions(folder=tmp_path / "ca")) as stack:
        config = ServeConfig(port=0, app_codes=[app], api_keys=[key], relay=stack.targets)
        with BackgroundServer(config) as backend:
            out = tmp_path / "report"
            proc = subprocess.run(
                [sys.executable, "-m", "mobsim", "run", "--target", backend.url, "--app-code", app, "--api-key", key,
                 "--deliveries-url", stack.feed_url, "--out-dir", str(out), "-t", "10s", "--population", "30",
                 "-u", "4", "-r", "4", "--shape", "spike", "--spike-at", "2"],
                capture_output=True, text=True, timeout=180,
            )  # fmt: skip
            assert proc.returncode == PASSED, proc.stdout + proc.stderr
            summary = json.loads((out / "summary.json").read_text())
            report = summary["providers"]
            assert report["ok"] is True and report["relay"] is None and report["feed"] == stack.feed_url
            assert report["journal"]["accepted"] == summary["campaign"]["messages"] > 0
            figures = summary["messages"]
            taken = figures["received"] + figures["held_for_a_session"]
            assert taken == report["journal"]["accepted"], figures  # every accepted send reached its device
