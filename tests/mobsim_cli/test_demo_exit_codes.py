"""``mobsim demo`` and ``mobsim replay`` exit codes: 0 passed, 1 failed requests, 2 refused, 130 interrupted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from clikit import break_servers, closed_port, fails_after_preflight, quick

from mobsim import exitcodes
from mobsim.cli import main
from server_stub.serve import BackgroundServer, ServeConfig

DEMO = ["demo", "--devices", "3", "--days", "2", "--seed", "3", "--until", "2024-06-01"]


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("recorded") / "demo.jsonl"
    assert main([*DEMO, "--out", str(out)]) == exitcodes.PASSED
    return out


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # demo's checkpoint goes to the working directory
    yield tmp_path


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServeConfig(port=0, app_codes=["GOOD-CODE"])) as running:
        yield running


def _replay(recorded: Path, here: Path, *extra: str) -> list[str]:
    copy = here / "copy.jsonl"
    copy.write_bytes(recorded.read_bytes())
    return ["replay", str(copy), *extra]


def test_demo_and_replay_to_a_working_target_with_max_rps_0_pass(
    recorded: Path, here: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--target", server.url, "--app-code", "GOOD-CODE", "--max-rps", "0"]
    assert main([*DEMO, *target]) == exitcodes.PASSED, capsys.readouterr().out
    assert "no request-rate cap" in capsys.readouterr().out
    assert main(_replay(recorded, here, *target)) == exitcodes.PASSED, capsys.readouterr().out


@pytest.mark.parametrize("command", ["demo", "replay"])
def test_a_wrong_app_code_is_refused_by_the_preflight(
    command: str, recorded: Path, here: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    target = ["--target", server.url, "--app-code", "WRONG-CODE-0123456789"]
    argv = [*DEMO, *target] if command == "demo" else _replay(recorded, here, *target)
    with quick():
        assert main(argv) == exitcodes.USAGE
    assert capsys.readouterr().out.splitlines() == [
        f"mobsim {command}: {server.url} rejects the app code WRON…6789 (401 INVALID_APPLICATION_CODE): "
        "check --app-code"
    ]
    assert server.profiles.store.db.execute("SELECT count(*) FROM installations").fetchone()[0] == 0
    assert not list(here.glob("*checkpoint*"))


@pytest.mark.parametrize("command", ["demo", "replay"])
def test_an_unreachable_target_is_refused_quickly(
    command: str, recorded: Path, here: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    target = ["--target", url, "--app-code", "C"]
    argv = [*DEMO, *target] if command == "demo" else _replay(recorded, here, *target)
    with quick():
        assert main(argv) == exitcodes.USAGE
    assert "is unreachable: connection refused" in capsys.readouterr().out
    assert not list(here.glob("*checkpoint*"))


@pytest.mark.parametrize("command", ["demo", "replay"])
def test_answers_unlike_the_reference_server_are_1(
    command: str, recorded: Path, here: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    break_servers(monkeypatch, fails_after_preflight)
    with BackgroundServer(ServeConfig(port=0, app_codes=["GOOD-CODE"])) as broken:
        target = ["--target", broken.url, "--app-code", "GOOD-CODE"]
        code = main([*DEMO, *target] if command == "demo" else _replay(recorded, here, *target))
    out = capsys.readouterr().out
    assert code == exitcodes.FAILED, out
    assert "'503'" in out and "unlike the" in out


def test_a_replay_of_a_file_without_requests_is_1(
    recorded: Path, here: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = here / "empty.jsonl"
    empty.write_bytes(recorded.read_bytes().split(b"\n", 1)[0] + b"\n")
    assert main(["replay", str(empty), "--target", server.url, "--app-code", "GOOD-CODE"]) == exitcodes.FAILED
    assert "holds no request: nothing was sent" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["demo", "replay"])
def test_a_request_that_cannot_be_sent_is_1(
    command: str,
    recorded: Path,
    here: Path,
    server: BackgroundServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import demo.run

    def lost(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError(f"POST {server.url}/mobile/1/appinstance: connection reset")

    monkeypatch.setattr(demo.run, "generate_to_target" if command == "demo" else "replay_file", lost)
    target = ["--target", server.url, "--app-code", "GOOD-CODE"]
    assert main([*DEMO, *target] if command == "demo" else _replay(recorded, here, *target)) == exitcodes.FAILED
    out = capsys.readouterr().out
    assert "a request failed" in out and "connection reset" in out and "again to resume" in out


@pytest.mark.parametrize("command", ["demo", "replay"])
def test_an_interrupted_run_is_130(
    command: str, recorded: Path, here: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import demo.run

    calls: list[int] = []
    real = demo.run.generate_to_target if command == "demo" else demo.run.replay_file

    def after_five() -> bool:  # as if Ctrl-C came after five requests
        calls.append(1)
        return len(calls) > 5

    def stop_after_some(*args: Any, should_stop: Any, **kwargs: Any) -> Any:
        return real(*args, should_stop=after_five, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(demo.run, real.__name__, stop_after_some)
        target = ["--target", server.url, "--app-code", "GOOD-CODE"]
        code = main([*DEMO, *target] if command == "demo" else _replay(recorded, here, *target))
    out = capsys.readouterr().out
    assert code == exitcodes.INTERRUPTED, out
    assert "Interrupted" in out and "again to resume" in out


@pytest.mark.parametrize("command", ["demo", "replay"])
def test_an_aborted_run_is_130(
    command: str,
    recorded: Path,
    here: Path,
    server: BackgroundServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import demo.run

    def aborted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt  # a second Ctrl-C

    monkeypatch.setattr(demo.run, "generate_to_target" if command == "demo" else "replay_file", aborted)
    target = ["--target", server.url, "--app-code", "GOOD-CODE"]
    assert main([*DEMO, *target] if command == "demo" else _replay(recorded, here, *target)) == exitcodes.INTERRUPTED
    assert "aborted; run the same command again to resume" in capsys.readouterr().out


def test_a_target_run_builds_the_campaigns_here_and_sends_their_sdk_traffic(
    here: Path, server: BackgroundServer, capsys: pytest.CaptureFixture[str]
) -> None:
    import httpx

    argv = ["demo", "--devices", "12", "--days", "8", "--seed", "3", "--until", "2024-06-01",
            "--target", server.url, "--app-code", "GOOD-CODE", "--max-rps", "0"]  # fmt: skip
    assert main(argv) == exitcodes.PASSED, capsys.readouterr().out
    out = capsys.readouterr().out
    assert "sent by the reference server in this process" in out and "the target holds their SDK traffic" in out
    assert httpx.get(f"{server.url}/inspect/campaigns").json()["total"] == 0  # the target sent nothing
    segments = {s["name"] for s in httpx.get(f"{server.url}/inspect/segments").json()["segments"]}
    assert "Cart abandoners" in segments  # saved there, for the reach queries the summary prints
    assert not list(here.glob("*checkpoint*"))
