"""``mobsim demo`` and ``mobsim replay`` from the command line (loopback only)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mobsim.cli import COMMANDS, main
from server_stub.serve import BackgroundServer


def test_both_commands_are_registered() -> None:
    assert "demo" in COMMANDS and "replay" in COMMANDS


def test_demo_out_then_replay_into_a_loopback_server(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.jsonl"
    args = ["demo", "--devices", "12", "--days", "3", "--seed", "4", "--vertical", "media", "--locale", "de_DE",
            "--until", "2024-06-01", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "persons" in printed and "Example queries" in printed and "persons here" in printed
    assert "contentViewed" in printed  # the definitions, ready to create
    with BackgroundServer() as server:
        assert main(["replay", str(out), "--target", server.url, "--app-code", server.app_code]) == 0
        printed = capsys.readouterr().out
        assert "'200':" in printed and "unlike" not in printed
        assert not Path(f"{out}.replay-checkpoint").exists()


def test_a_remote_target_needs_confirmation(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["demo", "--devices", "5", "--days", "2", "--target", "https://mobile.example.com", "--app-code", "X"]
    assert main(args) == 2
    assert "--allow-remote-target" in capsys.readouterr().out
    (tmp_path / "f.jsonl").write_text("{}\n")
    assert main(["replay", str(tmp_path / "f.jsonl"), "--target", "https://mobile.example.com", "--app-code", "X"]) == 2


@pytest.mark.parametrize(
    "args",
    [["--devices", "5", "--days", "2"], ["--devices", "0", "--days", "2", "--out", "x.jsonl"],
     ["--devices", "5", "--days", "2", "--out", "x.jsonl", "--locale", "xx_XX"],
     ["--devices", "5", "--days", "2", "--out", "x.jsonl", "--target", "http://127.0.0.1:1", "--app-code", "C"]],
)  # fmt: skip
def test_bad_options_exit_2(args: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo", *args]) == 2
    assert not (tmp_path / "x.jsonl").exists()


def test_the_summary_shows_each_campaigns_reach_and_replay_says_where_it_was_sent(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "travel.jsonl"
    args = ["demo", "--devices", "25", "--days", "8", "--seed", "4", "--vertical", "travel", "--locale", "en_GB",
            "--until", "2024-06-01", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "Campaigns (3, sent by the reference server in this process" in printed
    reach = (
        r"travel-getaway-deals-2024-05-30  'Weekend getaway deals' → Active Mobile Users: (\d+) persons?, (\d+) inst"
    )
    found = re.search(reach, printed)
    assert found and 0 < int(found[1]) <= int(found[2]), printed
    assert re.search(r"delivered \d+, seen \d+, opened \d+ \(\d+ persons?\)", printed)
    assert re.search(r"in all: \d+ messages, \d+ delivered", printed)
    assert "curl -s 'http://127.0.0.1:8080/inspect/segments/Searched%2C%20not%20booked/count'" in printed
    assert re.search(r"segment 'Active Mobile Users' at the window's end \(it got 1 campaign\) → \d+ persons", printed)
    with BackgroundServer() as server:
        assert main(["replay", str(out), "--target", server.url, "--app-code", server.app_code]) == 0
        printed = capsys.readouterr().out
        assert "saved segments on the target: 'Searched, not booked', 'Gold and platinum flyers'" in printed
        assert "SDK traffic of 3 campaigns sent in the recording's process" in printed and "unlike" not in printed
    quiet = tmp_path / "quiet.jsonl"
    assert main([*args[:-1], str(quiet), "--no-campaigns"]) == 0
    printed = capsys.readouterr().out
    assert "Campaigns" not in printed and "/inspect/segments/" not in printed and "pushes " not in printed
    assert b"dlrIds" not in quiet.read_bytes() and b"drIDs" not in quiet.read_bytes()
