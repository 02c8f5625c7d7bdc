"""``mobsim demo`` ends with where to look at the audience in a browser: the reference server's page
at ``/`` of a target that keeps running, or, after ``--out`` (whose server lived in the process),
the commands that serve the file's audience."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mobsim import exitcodes
from mobsim.cli import main
from mobsim.demo import browser_lines
from server_stub.serve import BackgroundServer, ServeConfig

DEMO = ["demo", "--devices", "3", "--days", "2", "--seed", "3", "--until", "2024-06-01"]


def test_a_target_with_the_inspection_api_gets_its_url() -> None:
    for url in ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"):
        assert browser_lines(None, url, inspection=True) == [
            "open http://127.0.0.1:8080/ in a browser: the audience, persons and segments (the campaigns stayed in "
            "this process: their figures are above)"
        ]
    assert browser_lines(None, "http://backend.example", inspection=False) == []  # another backend: no such page


def test_a_file_gets_the_commands_that_serve_its_audience() -> None:
    assert browser_lines("shop.jsonl", None, inspection=False) == [
        "The audience lived in this process's reference server, which has stopped; to look at it in a browser, "
        "serve it from the file:",
        "  mobsim serve --db shop.db --app-code demo-app   # in one terminal",
        "  mobsim replay shop.jsonl --target http://127.0.0.1:8080 --app-code demo-app   # in another",
        "  then open http://127.0.0.1:8080/ in a browser: the audience, persons and segments",
    ]
    lines = browser_lines("my demo/x.db", None, inspection=False)
    assert lines[1] == "  mobsim serve --db 'my demo/x.db.db' --app-code demo-app   # in one terminal"  # not the file
    assert lines[2].startswith("  mobsim replay 'my demo/x.db' --target")
    assert browser_lines(None, None, inspection=False) == []


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.chdir(tmp_path)  # demo's checkpoint goes to the working directory
    yield tmp_path


@pytest.mark.slow
def test_the_demo_ends_with_them(here: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([*DEMO, "--out", "d.jsonl"]) == exitcodes.PASSED
    out = capsys.readouterr().out.rstrip().splitlines()
    assert out[-4:] == browser_lines("d.jsonl", None, inspection=False)
    with BackgroundServer(ServeConfig(port=0, app_codes=["GOOD-CODE"])) as server:
        code = main([*DEMO, "--target", server.url, "--app-code", "GOOD-CODE", "--max-rps", "0"])
    out = capsys.readouterr().out.rstrip().splitlines()
    assert code == exitcodes.PASSED
    assert out[-1] == browser_lines(None, server.url, inspection=True)[0]
