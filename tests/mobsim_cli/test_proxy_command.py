"""``mobsim proxy``: its refusals (exit code 2, before anything listens or is sent) and one run as a
process in front of a reference server on loopback."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from clikit import forbid_network, quick

from mobsim import exitcodes
from mobsim.cli import main
from server_stub.serve import BackgroundServer, ServeConfig
from simulator import AppConfig, VirtualDevice

ROOT = Path(__file__).resolve().parent.parent.parent
CODE = "PROXY-SMOKE-CODE"


def test_a_remote_target_needs_allow_remote_target_as_in_every_command(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    attempts = forbid_network(monkeypatch)
    with quick():
        code = main(["proxy", "--target", "https://mobile.example.com", "--port", "0"])
    assert code == exitcodes.USAGE and attempts == []
    assert capsys.readouterr().err == (
        "mobsim proxy: https://mobile.example.com is not on loopback: add --allow-remote-target to confirm that "
        "you may send it traffic\n"
    )


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (["--fault", "status=99"], "mobsim proxy: --fault 'status=99': "),
        (["--fault", "rate=0.5,wobble=1"], "mobsim proxy: --fault 'rate=0.5,wobble=1': "),
        (["--target", "ftp://files.example"], "mobsim proxy: --target 'ftp://files.example' is not an http(s) URL"),
    ],
)
def test_bad_options_are_one_line_and_exit_code_2(
    argv: list[str], says: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    forbid_network(monkeypatch)
    args = ["proxy", "--target", "http://127.0.0.1:9", "--port", "0", *argv]
    assert main(args) == exitcodes.USAGE
    err = capsys.readouterr().err
    assert err.startswith(says) and err.count("\n") == 1, err


def test_a_recording_file_that_exists_is_never_overwritten(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kept = tmp_path / "kept.jsonl"
    kept.write_text("an earlier recording\n")
    assert main(["proxy", "--target", "http://127.0.0.1:9", "--port", "0", "--record", str(kept)]) == 2
    assert kept.read_text() == "an earlier recording\n"
    assert "exists: give a new file name" in capsys.readouterr().err


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "soon"])
def test_the_timeout_is_a_positive_number_of_seconds(timeout: str) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["proxy", "--target", "http://127.0.0.1:9", "--timeout", timeout])
    assert stopped.value.code == 2


@pytest.mark.slow
def test_mobsim_proxy_as_a_process_forwards_judges_and_records(tmp_path: Path) -> None:
    record = tmp_path / "app.jsonl"
    with BackgroundServer(ServeConfig(port=0, app_codes=[CODE])) as server:
        command = [sys.executable, "-m", "mobsim", "proxy", "--target", server.url, "--port", "0", "--strict",
                   "--record", str(record)]  # fmt: skip
        proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None and proc.stderr is not None
            first = proc.stdout.readline()
            if not first.startswith("mobsim proxy on http://127.0.0.1:"):
                proc.kill()
                pytest.fail(f"mobsim proxy did not start: {first!r} {proc.stderr.read()}")
            url = first.split()[3]
            with httpx.Client(base_url=url, timeout=10) as client:
                phone = VirtualDevice.create("android", AppConfig(CODE, base_url=url), seed=3, transport=client)
                phone.start()
                phone.personalize({"externalUserId": "smoke-1"})
                assert phone.last_error is None and phone.reg_id
                assert server.profiles.store.db.execute("SELECT COUNT(*) FROM installations").fetchone()[0] == 1
                client.post("/mobile/1/appinstance?ri=true", headers={"Authorization": f"App {CODE}"}, json={})
            assert main(["violations", "--target", url]) == exitcodes.FAILED  # mobsim violations, unchanged
        finally:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                raise
            assert proc.stdout is not None and proc.stderr is not None
            rest, err = proc.stdout.read(), proc.stderr.read()  # communicate() would skip what readline buffered
    out = first + rest
    assert proc.returncode == 0, err
    assert "SDK base URL:  " + url + "/" in out and f"recorded 3 requests in {record}" in out
    assert record.stat().st_mode & 0o777 == 0o600 and len(record.read_text().splitlines()) == 4
