"""Sending recorded SDK requests to a backend: the app code swapped, push registration ids mapped.

A recorded create (``"r"``: the id the recording's server answered) is sent first; the id the
target answers replaces the recorded one in every later path, header and body of that person
(ids never cross persons: each person has its own small map, since persons' requests interleave).
``Authorization: App <code>`` and the ``applicationcode`` hash header get the target's code. The
ids a target answered are appended to an :class:`IdLog` as they come, so that a checkpoint only
records how much of the log is valid.

Message ids (delivery and seen reports of the demo's campaigns) are sent as recorded: the target
never sent those messages, and a backend ignores reports of ids it does not know.

A ``mobsim proxy --record`` file adds two things (server_stub/proxy_recording.py): a line's ``x``
names the other persons whose ids it holds (their maps apply too), and a ``{"definition": ...}``
line is an event definition to create before the events that follow.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import httpx

from contract.formats import app_code_hash
from contract.headers import inspection_headers

from .recording import translate

__all__ = ["IdLog", "Pacer", "Replayer", "create_definitions", "create_segments"]


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


IdMaps = dict[int, dict[str, str]]
"""Per person: recorded push registration id → the target's."""


class IdLog:
    """The push registration ids a target answered, one ``[person, recorded, target]`` line each,
    appended (and flushed) as they come; ``offset`` is how much of the file holds them."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self._handle: IO[bytes] | None = None

    def open(self, offset: int | None) -> IdMaps:
        """Start a new log (``None``) or continue one from a checkpoint: the maps its first ``offset`` bytes hold."""
        maps: IdMaps = {}
        if offset is None or not self.path.exists():
            self._handle = self.path.open("wb")
            self.offset = 0
            return maps
        self._handle = self.path.open("r+b")
        data = self._handle.read(offset)
        for raw in data.splitlines():
            person, recorded, answered = json.loads(raw)
            maps.setdefault(person, {})[recorded] = answered
        self._handle.truncate(len(data))
        self._handle.seek(len(data))
        self.offset = len(data)
        return maps

    def append(self, person: int, recorded: str, answered: str) -> None:
        if self._handle is None:
            return
        raw = (json.dumps([person, recorded, answered]) + "\n").encode()
        self._handle.write(raw)
        self._handle.flush()
        self.offset += len(raw)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Replayer:
    def __init__(
        self,
        client: httpx.Client,
        base_url: str,
        app_code: str,
        pacer: Pacer | None = None,
        *,
        on_id: Callable[[int, str, str], None] | None = None,
    ) -> None:
        self.client = client
        self.base_url = base_url.rstrip("/")
        self.authorization = f"App {app_code}"
        self.code_hash = app_code_hash(app_code)
        self.pacer = pacer or Pacer(0)
        self.on_id = on_id
        """Told each id the target answers to a create: ``(person, recorded, answered)``."""
        self.ids: IdMaps = {}
        self.sent = 0
        self.statuses: Counter[int] = Counter()
        self.unexpected: Counter[str] = Counter()
        """``"<status> <method> <path>"`` of answers that differ from the recorded status."""

    def restore(self, ids: IdMaps) -> None:
        self.ids = {person: dict(found) for person, found in ids.items()}

    def send(self, line: dict[str, Any]) -> int:
        if "definition" in line:  # a mobsim proxy recording's (server_stub/proxy_recording.py)
            return self._define(line["definition"])
        person: int = line["p"]
        ids = self.ids.setdefault(person, {})
        mapping = ids
        for other in line.get("x", ()):  # a proxy's: the persons whose ids the request names too
            mapping = {**self.ids.get(other, {}), **mapping}
        headers = dict(line["h"])
        for key in headers:
            lower = key.lower()
            if lower == "authorization" and headers[key].startswith("App "):
                headers[key] = self.authorization
            elif lower == "applicationcode":
                headers[key] = self.code_hash
        body = None if line["b"] is None else line["b"].encode("utf-8")
        url, headers, body = translate(line["u"], headers, body, mapping)
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
                answered = json.loads(response.content)["pushRegId"]
            except (ValueError, KeyError, TypeError):
                self.unexpected[f"{status} create without pushRegId"] += 1
            else:
                ids[recorded] = answered
                if self.on_id is not None:
                    self.on_id(person, recorded, answered)
        return status

    def _define(self, definition: dict[str, Any]) -> int:
        """Create an event definition a proxy recording inferred; one the target refuses is listed."""
        try:
            response = self.client.post(
                f"{self.base_url}/inspect/event-definitions", json=definition, headers=inspection_headers()
            )
        except httpx.RequestError as exc:
            raise ConnectionError(f"POST {self.base_url}/inspect/event-definitions: {exc}") from exc
        if response.status_code not in (200, 201, 409):
            name = definition.get("definitionId")
            self.unexpected[f"{response.status_code} event definition {name!r} not created (create it by hand)"] += 1
        return response.status_code


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
            response = client.post(
                f"{base_url.rstrip('/')}/inspect/event-definitions", json=definition, headers=inspection_headers()
            )
        except httpx.RequestError:
            return "unsupported"
        if response.status_code in (404, 405, 401, 403):
            return "unsupported"
        if response.status_code not in (200, 201, 409):
            return "unsupported"
    return "created"


def create_segments(client: httpx.Client, base_url: str, segments: list[dict[str, Any]]) -> str:
    """Save the demo's segments on a target with the inspection API (``POST /inspect/segments``).

    Returns ``"created"`` (all created or there already), ``"none"`` (no segments) or
    ``"unsupported"`` (no such API, or a query it refuses: the caller prints them)."""
    if not segments:
        return "none"
    for segment in segments:
        try:
            response = client.post(
                f"{base_url.rstrip('/')}/inspect/segments", json=segment, headers=inspection_headers()
            )
        except httpx.RequestError:
            return "unsupported"
        if response.status_code not in (200, 201, 409):
            return "unsupported"
    return "created"
