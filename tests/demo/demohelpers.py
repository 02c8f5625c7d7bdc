"""Helpers of the demo tests: generate a run and read its file back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from demo.run import DemoConfig, Outcome, generate_to_file

UNTIL = "2024-06-01T00:00:00Z"


@dataclass
class Generated:
    config: DemoConfig
    path: Path
    outcome: Outcome
    header: dict[str, Any]
    lines: list[dict[str, Any]]


def generate(config: DemoConfig, path: Path) -> Generated:
    outcome = generate_to_file(config, path)
    raw = path.read_bytes().splitlines()
    return Generated(config, path, outcome, json.loads(raw[0]), [json.loads(line) for line in raw[1:]])
