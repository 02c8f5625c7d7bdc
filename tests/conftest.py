"""Suite-wide settings.

Locust monkey-patches the standard library for gevent when it is imported. The test process also
runs the reference server in threads and asyncio loops, so the patch is skipped here: Locust's
runners and users still work on gevent greenlets, and the tests that need the real thing (headless
runs, distributed mode) start Locust in child processes, where it patches as usual.

**Wall-bound files run beside the rest.** The tests of :data:`BESIDE` start real ``mobsim run``
(and Locust) processes and mostly wait for their run time (about 200 s of wall time, a fraction of it CPU). When
a session selects them together with other tests, they run in one child pytest started at the
beginning of the session, while this process runs everything else; each of their items here then
reports the child's outcome for it (pass, skip, or the failure with its text). Run such a file alone
(or set ``MOBSIM_TESTS_INLINE=1``) to run it in this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")

BESIDE = (
    "tests/scenarios/test_run_command.py",
    "tests/scenarios/test_run_faults.py",
    "tests/scenarios/test_run_providers.py",
    "tests/scenarios/test_separate_hosts.py",
)
_CHILD_ENV = "MOBSIM_TESTS_CHILD"
_ROOT = Path(__file__).resolve().parent.parent


class _Beside:
    def __init__(self, nodeids: list[str]) -> None:
        self.report = Path(tempfile.mkstemp(prefix="mobsim-beside-", suffix=".xml")[1])
        self.log = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 (read when the child ends)
        env = {**os.environ, _CHILD_ENV: "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={self.report}", *nodeids],
            cwd=_ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.outcomes: dict[str, tuple[str, str]] | None = None

    def outcome(self, nodeid: str) -> tuple[str, str]:
        if self.outcomes is None:
            self.proc.wait(timeout=1800)
            self.outcomes = self._read()
        return self.outcomes.get(nodeid, ("error", self._tail("the child pytest reported nothing for this test")))

    def _read(self) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        try:
            root = ET.parse(self.report).getroot()
        except (ET.ParseError, OSError):
            return found
        for case in root.iter("testcase"):
            module = (case.get("classname") or "").replace(".", "/")
            nodeid = f"{module}.py::{case.get('name')}"
            for kind in ("failure", "error", "skipped"):
                element = case.find(kind)
                if element is not None:
                    text = (element.text or "") + "\n" + (element.get("message") or "")
                    found[nodeid] = ("skipped" if kind == "skipped" else "failed", text.strip())
                    break
            else:
                found[nodeid] = ("passed", "")
        return found

    def _tail(self, why: str) -> str:
        self.log.seek(0)
        return f"{why} (exit {self.proc.returncode}); its output ends:\n" + self.log.read()[-4000:]


_STATE: dict[str, Any] = {"beside": None}


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(_CHILD_ENV) or os.environ.get("MOBSIM_TESTS_INLINE") or config.getoption("collectonly"):
        return
    beside = [item for item in items if item.nodeid.split("::", 1)[0] in BESIDE]
    if not beside or len(beside) == len(items):
        return
    runner = _Beside([item.nodeid for item in beside])
    _STATE["beside"] = runner
    for item in beside:
        item.runtest = _reporter(runner, item.nodeid)  # type: ignore[method-assign]
        item.fixturenames[:] = []  # its fixtures run in the child
    # Theirs last: this process's own tests run while the child works.
    items[:] = [item for item in items if item not in beside] + beside


def _reporter(runner: _Beside, nodeid: str) -> Any:
    def runtest() -> None:
        status, text = runner.outcome(nodeid)
        if status == "skipped":
            pytest.skip(text.splitlines()[0] if text else "skipped in the child pytest")
        if status != "passed":
            pytest.fail(f"in the child pytest (tests/conftest.py BESIDE):\n{text}", pytrace=False)

    return runtest


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    runner: _Beside | None = _STATE["beside"]
    if runner is not None and runner.proc.poll() is None:
        runner.proc.kill()
