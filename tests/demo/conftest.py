"""A small demo audience generated once per session and shared by the demo tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from demohelpers import UNTIL, Generated, generate

from demo.run import DemoConfig


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    """160 devices, 14 days, retail, a world mix of locales."""
    path = tmp_path_factory.mktemp("demo") / "small.jsonl"
    yield generate(DemoConfig(devices=160, days=14, seed=5, until=UNTIL), path)
