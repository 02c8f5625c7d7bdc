"""``mobsim proxy --record FILE``: the exchanges a proxy forwarded, as a JSONL file ``mobsim replay`` sends.

The format is the demo's (demo/recording.py): a header line, then one request per line. The header
is a demo header with ``"source": "proxy"``, no definitions, segments or campaigns::

    {"mobsim": "demo", "format": 2, "source": "proxy", "options": {"target": ..., "started": ...}, ...}

A request line has the demo's keys (``p`` ``d`` ``t`` ``m`` ``u`` ``h`` ``b`` ``s``, ``r`` on a
create the target answered with a pushRegId) and a few of the proxy's own, which replay ignores or
reads as noted:

- ``p``: one number per installation (the ``installationid`` header; its registrations' pushRegIds
  map to it), since the proxy cannot know persons; ``d``: that installationid;
- ``x``: the other installations (``p`` numbers) whose pushRegIds the request names, e.g. a
  remote logout of a sibling (``POST /mobile/1/appinstance/{other}/depersonalize``): replay maps
  their ids too (demo/replay.py);
- ``a``: the target's answer body (decoded, at most :data:`ANSWER_KEPT` characters; absent when it
  came in an encoding the proxy does not read); ``ms``: how long the target took.

A line ``{"definition": {...}}`` comes before the first custom event of each definitionId the
target accepted: a definition inferred from the events' properties, which replay creates on a
target with the inspection API (``POST /inspect/event-definitions``), as it does with the demo
header's definitions.

Requests the target never answered (unreachable, timed out, answered by an injected fault) are not
recorded. The file holds what replay needs, secrets included: push tokens, user data, Bearer JWTs.
It is created with mode 0600 and never overwritten; the application code is kept only masked
(:func:`server_stub.guard.mask`: its first four characters; replay sends its own ``--app-code``).
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from contract import headers

from .guard import mask

__all__ = ["ANSWER_KEPT", "FORMAT", "ProxyRecording", "infer_definition"]

FORMAT = 2
"""The demo file format this writes (demo/run.py ``FORMAT``; a test holds them equal)."""
ANSWER_KEPT = 65536
"""Characters of an answer body kept in ``a``."""

log = logging.getLogger("mobsim.proxy")

_TOKEN = re.compile(r"[A-Za-z0-9_-]{8,200}")
"""Where a pushRegId may stand in a path, header or body (UUIDs and base64url ids alike)."""
_CREATE_PATH = "/mobile/1/appinstance"
_CUSTOM_EVENTS = "/user/events/custom"
_DEFINITION_ID = re.compile(r"[A-Za-z0-9]{1,36}")


def _iso_ms(epoch: float) -> str:
    moment = datetime.fromtimestamp(round(epoch, 3), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _field(name: str, values: list[Any], *, nested: bool) -> dict[str, Any]:
    present = [v for v in values if v is not None]
    if present and all(isinstance(v, bool) for v in present):
        return {"name": name, "type": "Boolean"}
    if present and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in present):
        return {"name": name, "type": "Decimal"}
    if not nested and present and all(isinstance(v, list) for v in present):
        items = [item for v in present for item in v if isinstance(item, dict)]
        return {"name": name, "type": "List", "fields": _fields(items, nested=True)}
    return {"name": name, "type": "String"}  # strings, dates (a String takes them) and the unknown


def _fields(objects: list[dict[str, Any]], *, nested: bool) -> list[dict[str, Any]]:
    values: dict[str, list[Any]] = {}
    for item in objects:
        for key, value in item.items():
            values.setdefault(key, []).append(value)
    return [_field(name, seen, nested=nested) for name, seen in values.items()]


def infer_definition(definition_id: str, events: list[dict[str, Any]]) -> dict[str, Any]:
    """An event definition that takes every property of ``events``: Boolean, Decimal, List of
    objects, else String (a date is a String: the proxy cannot tell a DateTime field)."""
    properties = [e["properties"] for e in events if isinstance(e.get("properties"), dict)]
    return {"definitionId": definition_id, "fields": _fields(properties, nested=False)}


class ProxyRecording:
    """Appends each exchange to ``path`` (created 0600; an existing file is ``FileExistsError``)."""

    def __init__(self, path: Path, target: str, *, wall: Callable[[], float] = time.time) -> None:
        self.path = path
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        self._handle: IO[str] | None = os.fdopen(fd, "w", encoding="utf-8")
        self._lock = threading.RLock()
        self.requests = 0
        self.failed: str | None = None
        """Why the recording stopped (a write failed), or None."""
        self._installations: dict[str, int] = {}
        self._registrations: dict[str, int] = {}
        self._definitions: set[str] = set()
        self._next = 1
        started = _iso_ms(wall())
        self._write(
            {
                "mobsim": "demo",
                "format": FORMAT,
                "source": "proxy",
                "options": {"target": target, "started": started},
                "window": [started, started],
                "definitions": [],
                "segments": [],
                "campaigns": [],
            }
        )

    # -- who sends -------------------------------------------------------------------------------

    def _person(self, installation_id: str, header_reg: str, path_reg: str) -> int:
        for found in (
            self._registrations.get(header_reg),
            self._installations.get(installation_id),
            self._registrations.get(path_reg) if not header_reg else None,
        ):
            if found is not None:
                person = found
                break
        else:
            person = self._next
            self._next += 1
        if installation_id:
            self._installations.setdefault(installation_id, person)
        if header_reg:
            self._registrations.setdefault(header_reg, person)
        elif path_reg:
            self._registrations.setdefault(path_reg, person)
        return person

    def _others(self, person: int, *texts: str) -> list[int]:
        found = {
            self._registrations[token]
            for text in texts
            for token in _TOKEN.findall(text)
            if token in self._registrations
        }
        found.discard(person)
        return sorted(found)

    # -- writing ---------------------------------------------------------------------------------

    def exchange(
        self,
        method: str,
        target: str,
        sent: Iterable[tuple[str, str]],
        body: bytes | None,
        status: int,
        answer: bytes | None,
        started: float,
        elapsed_ms: float,
    ) -> None:
        """Record one exchange the target answered (``sent``: the headers forwarded to it)."""
        with self._lock:
            try:
                self._exchange(method, target, sent, body, status, answer, started, elapsed_ms)
            except (OSError, ValueError) as exc:
                self.failed = f"{type(exc).__name__}: {exc}"
                log.error("the recording %s stopped: %s", self.path, self.failed)
                self.close()

    def _exchange(
        self,
        method: str,
        target: str,
        sent: Iterable[tuple[str, str]],
        body: bytes | None,
        status: int,
        answer: bytes | None,
        started: float,
        elapsed_ms: float,
    ) -> None:
        kept: dict[str, str] = {}
        for name, value in sent:
            if name.lower() == "authorization" and headers.parse_app_authorization(value) is not None:
                value = "App " + mask(headers.parse_app_authorization(value) or "")
            kept[name] = f"{kept[name]}, {value}" if name in kept else value
        lower = {k.lower(): v for k, v in kept.items()}
        path = target.partition("?")[0]
        parts = path.split("/")
        path_reg = parts[4] if len(parts) > 4 and parts[1:4] == ["mobile", "1", "appinstance"] else ""
        installation_id = lower.get(headers.INSTALLATION_ID, "")
        person = self._person(installation_id, lower.get(headers.PUSH_REGISTRATION_ID, ""), path_reg)
        text = None if body is None else body.decode("utf-8", errors="replace")
        line: dict[str, Any] = {
            "p": person,
            "d": installation_id,
            "t": _iso_ms(started),
            "m": method,
            "u": target,
            "h": kept,
            "b": text,
            "s": status,
        }
        others = self._others(person, target, text or "", *kept.values())
        if others:
            line["x"] = others
        answer_text = None if answer is None else answer.decode("utf-8", errors="replace")
        ok = 200 <= status < 300
        if ok and method == "POST" and path == _CREATE_PATH and answer_text is not None:
            reg_id = _json(answer_text).get("pushRegId")
            if isinstance(reg_id, str) and reg_id:
                line["r"] = reg_id
                self._registrations[reg_id] = person
        if answer_text is not None:
            line["a"] = answer_text[:ANSWER_KEPT]
        line["ms"] = round(elapsed_ms, 1)
        if ok and path.endswith(_CUSTOM_EVENTS) and text:
            for definition in self._new_definitions(_json(text)):
                self._write({"definition": definition})
        self._write(line)
        self.requests += 1

    def _new_definitions(self, body: dict[str, Any]) -> list[dict[str, Any]]:
        events = body.get("events")
        if not isinstance(events, list):
            return []
        by_key: dict[str, tuple[str, list[dict[str, Any]]]] = {}  # definition ids are case-insensitive
        for event in events:
            definition_id = event.get("definitionId") if isinstance(event, dict) else None
            if isinstance(definition_id, str) and _DEFINITION_ID.fullmatch(definition_id):
                key = definition_id.lower()
                if key not in self._definitions:
                    by_key.setdefault(key, (definition_id, []))[1].append(event)
        self._definitions.update(by_key)
        return [infer_definition(definition_id, found) for definition_id, found in by_key.values()]

    def _write(self, value: dict[str, Any]) -> None:
        if self._handle is None:
            return
        self._handle.write(_dumps(value) + "\n")
        self._handle.flush()

    def close(self) -> None:
        with self._lock:
            if self._handle is not None:
                handle, self._handle = self._handle, None
                handle.close()


def _json(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}
