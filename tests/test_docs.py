"""The README and the documentation site (docs/) say what the code does: their commands parse, their
examples run, the README keeps its shape, and no page names a path outside the repository."""

from __future__ import annotations

import re
import shlex
import warnings
from pathlib import Path
from typing import Any

import pytest

from mobsim.cli import build_parser
from server_stub import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = {path.relative_to(ROOT).as_posix(): path.read_text() for path in sorted((ROOT / "docs").rglob("*.md"))}
PAGES = "\n".join([README, *DOCS.values()])
"""Every page, for the checks that hold wherever a command or example appears."""


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def test_the_quickstart_is_two_commands_and_the_second_is_what_ci_runs() -> None:
    quickstart = README.split("## Quickstart", 1)[1].split("##", 1)[0]
    commands = blocks(quickstart, "console")[0].strip().splitlines()
    assert len(commands) == 2
    install_and_run, tests = commands
    assert install_and_run.endswith(".venv/bin/mobsim run")
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()
    assert ci[-1] == tests


def test_every_mobsim_command_line_in_the_docs_parses() -> None:
    parser = build_parser()
    lines = [
        line.strip()
        for block in blocks(PAGES, "console")
        for line in block.splitlines()
        if line.strip().startswith(("mobsim ", "$ mobsim "))
    ]
    assert lines
    for line in lines:
        if "[" in line:  # a synopsis: check each option it names exists
            for option in re.findall(r"(--[a-z0-9-]+)", line):
                assert option in parser._subparsers._group_actions[0].choices[line.split()[1]].format_help(), option
            continue
        parser.parse_args(shlex.split(line.removeprefix("$ "))[1:])
    parser.parse_args(["run", "--p95-ms", "POST /mobile/1/appinstance=500", "--p95-ms", "300"])


def test_every_locust_option_the_docs_name_exists() -> None:
    from locust.argument_parser import get_parser

    import scenarios.audience  # noqa: F401  (registers mobsim's options)

    help_text = get_parser().format_help()
    lines = [line for block in blocks(PAGES, "console") for line in block.splitlines() if line.startswith("locust ")]
    assert len(lines) >= 5
    for line in lines:
        for option in re.findall(r"\s(--[a-z][a-z0-9-]+)", line.split("#")[0]):
            assert option in help_text, option
    locust_section = DOCS["docs/run.md"].split("## The scenarios with Locust itself")[1][:2500]
    for option in re.findall(r"`(--[a-z][a-z0-9-]+)`", locust_section):
        assert option in help_text, option


def test_the_python_examples_run() -> None:
    for code in blocks(DOCS["docs/serve.md"], "python"):
        exec(compile(code, "docs/serve.md", "exec"), {})


def test_the_curl_example_answers_what_the_readme_shows() -> None:
    example = next(b for b in blocks(DOCS["docs/serve.md"], "console") if "curl" in b)
    body = re.search(r"-d '(.*?)'", example, flags=re.S)
    assert body is not None
    shown = re.search(r"^(\{.*\})$", example, flags=re.M)
    assert shown is not None
    client = TestClient(create_app(memory=True, app_codes=["demo-app"]))
    answer = client.post(
        "/mobile/1/appinstance?rt=1",
        headers={"Authorization": "App demo-app", "Content-Type": "application/json"},
        content=body.group(1),
    )
    assert answer.status_code == 200
    keys = re.findall(r'"(\w+)":', shown.group(1))
    assert list(answer.json()) == keys


def test_the_device_guide_example_runs() -> None:
    text = (ROOT / "docs" / "device.md").read_text()
    code = blocks(text, "python")[0]
    client = TestClient(create_app(memory=True, app_codes=["APP-CODE"]), base_url="http://testserver")
    namespace: dict[str, Any] = {"client": client}
    exec(compile(code, "docs/device.md", "exec"), namespace)
    assert namespace["phone"].reg_id


def test_the_readme_is_what_it_is_the_quickstart_one_example_per_command_the_picture_and_links() -> None:
    from mobsim.cli import COMMANDS

    assert set(re.findall(r"^## (.+)$", README, flags=re.M)) == {"Quickstart", "Usage", "Architecture"}
    examples = [line.split()[1] for block in blocks(README.split("## Usage")[1], "console") for line in
                block.splitlines() if line.startswith("mobsim ")]  # fmt: skip
    assert sorted(examples) == sorted(COMMANDS), examples  # one example per command, each once
    picture = README.split("## Architecture")[1]
    assert "server_stub/: protocol" in picture and "-> fastpath -> sdk_api -> rules -> store" in picture
    assert len(README) < 8000


def _slug(heading: str) -> str:
    """MkDocs' anchor of a heading (Python-Markdown's toc slugify)."""
    text = re.sub(r"[`*]", "", heading).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[-\s]+", "-", text).strip("-")


def test_the_readmes_links_reach_existing_pages_and_headings() -> None:
    links = re.findall(r"\]\(([^)#]+\.md)(?:#([^)]+))?\)", README)
    assert len(links) >= 8
    for target, anchor in links:
        page = (ROOT / target).read_text()
        if anchor:
            headings = {_slug(h) for h in re.findall(r"^#+ (.+)$", page, flags=re.M)}
            assert anchor in headings, (target, anchor)


@pytest.mark.parametrize("page", ["README.md", *DOCS])
def test_no_page_names_a_path_outside_the_repository(page: str) -> None:
    text = README if page == "README.md" else DOCS[page]
    assert "/work/" not in text and "../shared" not in text and "shared/reference" not in text


def test_the_site_has_every_page_in_its_navigation() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    for page in DOCS:
        assert page.removeprefix("docs/") in config, page
