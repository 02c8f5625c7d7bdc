"""Helpers of the demo tests: generate a run and read its file back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from demo.run import DemoConfig, Outcome, generate_to_file
from server_stub.inprocess import InProcessServer

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


class InProcessHttp(httpx.BaseTransport):
    """An httpx transport onto an in-process reference server: no socket, no event loop."""

    def __init__(self, server: InProcessServer) -> None:
        self.server = server

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
        body = request.read()
        status, answered, content = self.server.request(
            request.method, request.url.path, request.url.query.decode(), headers, body or None
        )
        return httpx.Response(status, headers=answered, content=content)
