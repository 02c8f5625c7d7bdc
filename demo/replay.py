"""Sending recorded SDK requests to a backend: the app code swapped, push registration ids mapped.

A recorded create (``"r"``: the id the recording's server answered) is sent first; the id the
target answers replaces the recorded one in every later path, header and body of that person
(ids never cross persons, so the map holds one person's ids). ``Authorization: App <code>`` and
the ``applicationcode`` hash header get the target's code.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from contract.formats import app_code_hash

from .recording import translate

__all__ = ["Pacer", "Replayer", "create_definitions"]


class Pacer:
    """At most ``rate`` requests per second (0: no cap), spread evenly."""

    def __init__(
        self,
        rate: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate, self.clock, self.sleep = rate, clock, sleep
        self._next = 0.0

    def wait(self) -> None:
        if self.rate <= 0:
            return
        now = self.clock()
        if self._next > now:
            self.sleep(self._next - now)
            now = self._next
        self._next = max(self._next, now) + 1.0 / self.rate


class Replayer:
    def __init__(self, client: httpx.Client, base_url: str, app_code: str, pacer: Pacer | None = None) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.authorization = f"App {app_code}"
        self.code_hash = app_code_hash(app_code)
        self.pacer = pacer or Pacer(0)
        self.person: int | None = None
        self.ids: dict[str, str] = {}
        self.sent = 0
        self.statuses: Counter[int] = Counter()
        self.unexpected: Counter[str] = Counter()
        """``"<status> <method> <path>"`` of answers that differ from the recorded status."""

    def restore(self, person: int | None, ids: dict[str, str]) -> None:
        self.person, self.ids = person, dict(ids)

    def send(self, line: dict[str, Any]) -> int:
        if line["p"] != self.person:
            self.person = line["p"]
            self.ids.clear()
        headers = dict(line["h"])
        for key in headers:
            lower = key.lower()
            if lower == "authorization" and headers[key].startswith("App "):
                headers[key] = self.authorization
            elif lower == "applicationcode":
                headers[key] = self.code_hash
        body = None if line["b"] is None else line["b"].encode("utf-8")
        url, headers, body = translate(line["u"], headers, body, self.ids)
        self.pacer.wait()
        try:
            response = self.client.request(line["m"], self.base_url + url, headers=headers, content=body)
        except httpx.RequestError as exc:
            raise ConnectionError(f"{line['m']} {self.base_url}{url}: {exc}") from exc
        status = response.status_code
        self.sent += 1
        self.statuses[status] += 1
        if status != line["s"]:
            self.unexpected[f"{status} {line['m']} {_template(line['u'])}"] += 1
        recorded = line.get("r")
        if recorded and 200 <= status < 300:
            try:
                self.ids[recorded] = json.loads(response.content)["pushRegId"]
            except (ValueError, KeyError, TypeError):
                self.unexpected[f"{status} create without pushRegId"] += 1
        return status


def _template(url: str) -> str:
    parts = url.partition("?")[0].split("/")
    if len(parts) > 4 and parts[3] == "appinstance" and parts[4]:
        parts[4] = "{pushRegId}"
    return "/".join(parts)


def create_definitions(client: httpx.Client, base_url: str, definitions: list[dict[str, Any]]) -> str:
    """Create the event definitions on a target with the inspection API.

    Returns ``"created"`` (all created or already there) or ``"unsupported"`` (no inspection API: the
    caller prints them as a list to create by hand).
    """
    for definition in definitions:
        try:
            response = client.post(f"{base_url.rstrip('/')}/inspect/event-definitions", json=definition)
        except httpx.RequestError:
            return "unsupported"
        if response.status_code in (404, 405, 401, 403):
            return "unsupported"
        if response.status_code not in (200, 201, 409):
            return "unsupported"
    return "created"
