"""Helpers shared by the simulator tests (imported as a top-level module by pytest's rootdir insertion)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import respx

BASE = "https://mobile.infobip.com"
CODE = "APP-CODE-123"
START = 1_714_557_600.0  # 2024-05-01T10:00:00Z


@dataclass
class Sent:
    method: str
    target: str
    headers: httpx.Headers
    body: Any
    raw: bytes


def sent(router: respx.Router) -> list[Sent]:
    """Every request the router saw, as (method, path?query, headers, parsed body, raw bytes)."""
    out = []
    for call in router.calls:
        request = call.request
        target = request.url.raw_path.decode()
        body = json.loads(request.content) if request.content else None
        out.append(Sent(request.method, target, request.headers, body, request.content))
    return out


def targets(router: respx.Router) -> list[str]:
    return [f"{s.method} {s.target}" for s in sent(router)]
