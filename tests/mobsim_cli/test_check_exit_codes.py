"""``mobsim check`` exit codes: 0 passed, 1 failed or nothing checked, 2 refused, 130 interrupted."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path
from typing import Any

import pytest
from clikit import break_servers, closed_port, fails_after_preflight, no_inspection, quick

import conformance
from mobsim import exitcodes
from mobsim.cli import main
from server_stub.serve import BackgroundServer, ServeConfig


def test_the_bundled_server_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "r.json"
    code = main(["check", "--only", "REG-001", "--platform", "android", "--max-rps", "0", "--json", str(report)])
    assert code == exitcodes.PASSED, capsys.readouterr().out
    assert json.loads(report.read_text())["counts"] == {"pass": 1, "fail": 0, "skip": 0}


def test_a_loopback_target_with_max_rps_0_passes_its_preflight_and_checks(capsys: pytest.CaptureFixture[str]) -> None:
    with BackgroundServer(ServeConfig(port=0, app_codes=["GOOD-CODE"])) as server:
        code = main(["check", "--target", server.url, "--app-code", "GOOD-CODE", "--only", "REG-001", "--max-rps", "0"])
    assert code == exitcodes.PASSED, capsys.readouterr().out


def test_an_unknown_check_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with quick():
        assert main(["check", "--only", "NOPE-1"]) == exitcodes.USAGE
    assert capsys.readouterr().out.strip() == "mobsim check: no check NOPE-1"
    with quick():
        assert main(["check", "--app-code", "not a code", "--only", "REG-001"]) == exitcodes.USAGE
    said = capsys.readouterr().out
    assert "--app-code 'not …': an application code is" in said and "not a code" not in said  # masked
    with quick(), pytest.raises(SystemExit) as exited:
        main(["check", "--timeout", "x"])
    assert exited.value.code == exitcodes.USAGE


def test_a_failing_check_is_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    break_servers(monkeypatch, fails_after_preflight)
    with BackgroundServer(ServeConfig(port=0, app_codes=["GOOD-CODE"])) as server:
        code = main(["check", "--target", server.url, "--app-code", "GOOD-CODE", "--only", "REG-001"])
    out = capsys.readouterr().out
    assert code == exitcodes.FAILED, out
    assert "REG-001" in out and "GENERAL_ERROR" in out


def test_nothing_checked_is_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--only", "REG-002", "--platform", "android"]) == exitcodes.FAILED  # REG-002 is iOS only
    assert "nothing was checked (no selected check concerns these platforms)" in capsys.readouterr().out


def test_every_check_skipped_is_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    break_servers(monkeypatch, no_inspection)
    with BackgroundServer(ServeConfig(port=0, app_codes=["GOOD-CODE"])) as server:
        code = main(["check", "--target", server.url, "--app-code", "GOOD-CODE", "--only", "EVT-003"])
    out = capsys.readouterr().out
    assert code == exitcodes.FAILED, out
    assert "nothing was checked (every selected check skipped)" in out


def test_a_wrong_app_code_is_one_line_and_2(capsys: pytest.CaptureFixture[str]) -> None:
    with BackgroundServer(ServeConfig(port=0, app_codes=["GOOD"])) as server, quick():
        code = main(["check", "--target", server.url, "--app-code", "WRONG-CODE-0123456789"])
    out = capsys.readouterr().out
    assert code == exitcodes.USAGE
    assert out.splitlines() == [
        f"mobsim check: {server.url} rejects the app code WRON…6789 (401 INVALID_APPLICATION_CODE): check --app-code"
    ]


def test_an_unreachable_target_is_2_quickly(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with quick():
        assert main(["check", "--target", url, "--app-code", "C"]) == exitcodes.USAGE
    assert capsys.readouterr().out.splitlines() == [
        f"mobsim check: {url} is unreachable: connection refused (is the backend running on that port?)"
    ]


def _interrupt_after_first(monkeypatch: pytest.MonkeyPatch, interrupt: Any) -> None:
    real = conformance.run_checks

    def run_checks(*args: Any, on_result: Any = None, **kwargs: Any) -> Any:
        def first_then_interrupt(result: Any) -> None:
            interrupt()
            on_result(result)

        return real(*args, on_result=first_then_interrupt, **kwargs)

    monkeypatch.setattr(conformance, "run_checks", run_checks)


def _hard_interrupt() -> None:
    raise KeyboardInterrupt


def _signal(number: signal.Signals) -> Any:
    # mobsim installs its handlers in the main thread only; elsewhere SIGTERM would end pytest
    main_thread = threading.current_thread() is threading.main_thread()
    needs_main = pytest.mark.skipif(not main_thread, reason="signal handlers need the main thread")
    return pytest.param(lambda: signal.raise_signal(number), id=number.name, marks=needs_main)


@pytest.mark.parametrize(
    "interrupt",
    [pytest.param(_hard_interrupt, id="KeyboardInterrupt"), _signal(signal.SIGINT), _signal(signal.SIGTERM)],
)
def test_an_interrupted_check_is_130_and_shows_what_ran(
    interrupt: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _interrupt_after_first(monkeypatch, interrupt)
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    report = tmp_path / "r.json"
    code = main(["check", "--only", "REG", "--platform", "android", "--json", str(report)])
    out = capsys.readouterr().out
    assert code == exitcodes.INTERRUPTED, out
    if interrupt is _hard_interrupt:
        assert "interrupted after 0 results;" in out
    else:  # the first Ctrl-C or SIGTERM lets the running check finish, then stops
        assert "interrupted after 1 result;" in out and "REG-001" in out and "REG-003" not in out
    assert not report.exists()
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == handlers


def test_the_bundled_server_runs_the_checks_that_send_with_its_own_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    code = main(["check", "--only", "RPT", "--json", str(report)])
    out = capsys.readouterr().out
    assert code == exitcodes.PASSED, out
    data = json.loads(report.read_text())
    assert data["pushApi"] is True and data["counts"] == {"pass": 2, "fail": 0, "skip": 0}
    assert "Push API key" in out.splitlines()[0]


def test_a_target_without_an_api_key_skips_the_checks_that_send(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    with BackgroundServer(ServeConfig(port=0, app_codes=["GOOD-CODE"], api_keys=["PUSH-KEY-1"])) as server:
        only_sending = main(["check", "--target", server.url, "--app-code", "GOOD-CODE", "--only", "RPT"])
        out = capsys.readouterr().out
        assert only_sending == exitcodes.FAILED, out
        assert "nothing was checked (every selected check skipped)" in out and "--api-key KEY" in out
        some = main(["check", "--target", server.url, "--app-code", "GOOD-CODE", "--only", "MO", "--only", "RPT"])
        out = capsys.readouterr().out
        assert some == exitcodes.PASSED, out
        assert "no Push API key" in out.splitlines()[0]
        sending = main(["check", "--target", server.url, "--app-code", "GOOD-CODE", "--api-key", "PUSH-KEY-1",
                        "--only", "RPT", "--platform", "android", "--json", str(report)])  # fmt: skip
    out = capsys.readouterr().out
    assert sending == exitcodes.PASSED, out
    assert json.loads(report.read_text())["counts"] == {"pass": 1, "fail": 0, "skip": 0}
    assert "Push API key PUSH…EY-1" in out.splitlines()[0]


def test_a_wrong_api_key_is_one_line_and_2(capsys: pytest.CaptureFixture[str]) -> None:
    with BackgroundServer(ServeConfig(port=0, app_codes=["GOOD"], api_keys=["RIGHT-KEY"])) as server, quick():
        code = main(["check", "--target", server.url, "--app-code", "GOOD", "--api-key", "WRONG-KEY-0123456789"])
    out = capsys.readouterr().out
    assert code == exitcodes.USAGE
    assert out.splitlines() == [
        f"mobsim check: {server.url} rejects the Push API key WRON…6789 (401 on GET /push/3/logs): check --api-key"
    ]
