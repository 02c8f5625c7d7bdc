"""Browser tests: Debian's Chromium (``/usr/bin/chromium``, installed by ``.ci/run``) driven by
Playwright's Python package, launched with ``executable_path`` (no browser download). Each page
fixture fails its test on any console error, uncaught page error, failed request or answer of 400
and above. Without Chromium the tests skip, unless ``MOBSIM_REQUIRE_BROWSER=1`` (CI) makes that a
failure. ``MOBSIM_SCREENSHOTS=DIR`` writes a screenshot of each view there (docs/images/)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
REQUIRED = os.environ.get("MOBSIM_REQUIRE_BROWSER") == "1"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
"""Without the background-networking flags Chromium tries Google's hosts, which a closed network refuses."""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One Chromium per test module: Playwright's sync API runs an event loop in this thread while it
    is open, and the tests after a browser module call ``asyncio.run`` (which refuses to run beside
    another loop), so it closes at the module's end."""
    if not Path(CHROMIUM).exists():
        reason = "Chromium is not installed (apt-get install chromium; .ci/run installs it)"
        if REQUIRED:
            pytest.fail(reason)
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


class Problems(list[str]):
    """What went wrong in the page: console errors, page errors, failed requests, 4xx/5xx answers.
    ``allow``: a text a test expects in one of them (a third party's known miss), else None."""

    allow: str | None = None

    def unexpected(self) -> list[str]:
        return [p for p in self if self.allow is None or (self.allow not in p and "ERR_FILE_NOT_FOUND" not in p)]


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems = Problems()
    opened.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    opened.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    opened.on("requestfailed", lambda r: problems.append(f"request failed: {r.url} {r.failure}"))
    opened.on("response", lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    opened.problems = problems
    yield opened
    context.close()
    assert not problems.unexpected(), problems
