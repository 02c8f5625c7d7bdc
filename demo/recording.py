"""The in-process reference server, the recording transport and the JSONL format.

The devices of a demo talk to the reference server in this process (``server_stub.inprocess``,
through ``simulator.transport.InProcessTransport``: no socket, no thread), and every exchange is
recorded by ``simulator.transport.RecordingTransport``. The server's push registration ids and
message ids are random, so the transport hands the devices deterministic ones instead (derived
from the seed, the person and a counter; from the campaign's bulk id and the registration) and
translates both ways; the requests it records are therefore the same, byte for byte, on every run
with the same seed and options.

A JSONL file starts with one header line (``{"mobsim": "demo", ...}``: the options, the vertical's
event definitions, its saved segments and the campaigns of the window) and then holds one request
per line, in the order of the history (the persons' requests interleave in time)::

    {"p": 12, "d": "12.0", "t": "2024-05-01T10:00:00.000Z", "m": "POST", "u": "/mobile/1/appinstance?rt=1",
     "h": {...}, "b": "{...}", "s": 200, "r": "<the pushRegId the create answered>"}

``p`` the person, ``d`` the device (person.number), ``t`` the device's clock, ``m``/``u``/``h``/``b``
method, path and query, headers and body as the SDK sent them, ``s`` the reference server's
status, ``r`` only on creates.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from server_stub.inprocess import InProcessServer as _Server
from simulator import Clock, Outgoing, Reply, TransportError, VirtualClock
from simulator.transport import InProcessTransport
from simulator.transport import RecordingTransport as _Recording

__all__ = ["BASE_URL", "InProcessServer", "PersonIds", "RecordingTransport", "dumps_line", "iso_ms", "translate"]

BASE_URL = "http://mobsim.demo"
_CREATE = "create_installation"


def dumps_line(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def iso_ms(epoch: float) -> str:
    moment = datetime.fromtimestamp(round(epoch, 3), UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class InProcessServer(_Server):
    """The in-process reference server of one demo app, on a virtual clock (set per person)."""

    def __init__(self, app_code: str) -> None:
        super().__init__(app_code, clock=VirtualClock())


_MESSAGE_CALLS = frozenset({"sync_messages", "seen_messages", "delivery_report"})
"""The Mobile API calls whose bodies carry message ids (``drIDs``, ``mIDs``, seen, ``dlrIds``)."""


class PersonIds:
    """One person's ids between the devices and the server: push registration ids derived from
    ``(seed, person, n)`` and message ids derived from the campaign and the registration, each with
    the server's own random one."""

    __slots__ = ("count", "messages_to_device", "messages_to_server", "person", "to_device", "to_server")

    def __init__(self, person: int) -> None:
        self.person = person
        self.to_server: dict[str, str] = {}
        self.to_device: dict[str, str] = {}
        self.messages_to_server: dict[str, str] = {}
        self.messages_to_device: dict[str, str] = {}
        self.count = 0


class _IdMapping:
    """Between the devices and the server: each person's devices (and the file) see ids derived from
    the seed; the server keeps its own random ones. Persons' histories interleave in time, so every
    person keeps its maps; the one acting is ``current``."""

    def __init__(self, inner: InProcessTransport, seed: int) -> None:
        self.inner = inner
        self.seed = seed
        self.current = PersonIds(0)
        self.persons: dict[int, PersonIds] = {}
        self.owners: dict[str, tuple[PersonIds, str]] = {}
        """A server push registration id: its person's ids and the device-side id."""
        self.created: str | None = None
        """The device-side id of the registration the last request created, if it did."""

    def begin_person(self, person: int) -> None:
        ids = self.persons.get(person)
        if ids is None:
            ids = self.persons[person] = PersonIds(person)
        self.current = ids

    def _new_id(self) -> str:
        ids = self.current
        digest = hashlib.blake2b(f"mobsim-demo-reg:{self.seed}:{ids.person}:{ids.count}".encode(), digest_size=16)
        ids.count += 1
        return str(uuid.UUID(bytes=digest.digest(), version=4))

    def add_message(self, server_reg_id: str, server_message_id: str, bulk_id: str) -> tuple[int, str] | None:
        """Map a message the server created for ``server_reg_id``; returns (person, device-side message id)."""
        owner = self.owners.get(server_reg_id)
        if owner is None:
            return None
        ids, device_reg_id = owner
        digest = hashlib.blake2b(f"mobsim-demo-message:{self.seed}:{bulk_id}:{device_reg_id}".encode(), digest_size=18)
        device_id = base64.urlsafe_b64encode(digest.digest()).decode()  # 24 characters, as the server's
        ids.messages_to_server[device_id] = server_message_id
        ids.messages_to_device[server_message_id] = device_id
        return ids.person, device_id

    def to_device_text(self, person: int, text: str) -> str:
        """``text`` (a push payload) with the person's server message ids replaced by the devices' ones."""
        ids = self.persons.get(person)
        if ids is None:
            return text
        for server_id, device_id in ids.messages_to_device.items():
            if server_id in text:
                text = text.replace(server_id, device_id)
        return text

    def send(self, request: Outgoing) -> Reply:
        self.created = None
        ids = self.current
        name = request.wire.endpoint.name
        messages = name in _MESSAGE_CALLS and bool(ids.messages_to_server)
        if ids.to_server or messages:
            path, _, query = request.url.partition("?")
            path, headers, body = translate(path, request.headers, request.content, ids.to_server)
            if messages and body is not None:
                _, _, body = translate("", {}, body, ids.messages_to_server)
            request = Outgoing(request.method, path + ("?" + query if query else ""), headers, body, request.wire)
        reply = self.inner.send(request)
        content = reply.content
        if name == _CREATE and reply.status == 200:
            server_id = json.loads(content)["pushRegId"]
            self.created = self._new_id()
            ids.to_server[self.created] = server_id
            ids.to_device[server_id] = self.created
            self.owners[server_id] = (ids, self.created)
        if ids.to_device and b"pushRegId" in content:
            for server_id, device_id in ids.to_device.items():
                content = content.replace(server_id.encode(), device_id.encode())
            reply = Reply(reply.status, reply.headers, content)
        if name == "sync_messages" and ids.messages_to_device and b"payloads" in content:
            for server_id, device_id in ids.messages_to_device.items():
                content = content.replace(server_id.encode(), device_id.encode())
            reply = Reply(reply.status, reply.headers, content)
        return reply


class RecordingTransport:
    """A device transport onto the in-process server that records every request as one JSONL line.

    ``begin_person(person, clock)`` and ``device`` before a device sends: the lines carry them.
    """

    def __init__(self, server: InProcessServer, seed: int, sink: Callable[[str], None]) -> None:
        self.server = server
        self.seed = seed
        self.sink = sink
        self.person = 0
        self.device = ""
        self.clock: Clock = server.clock
        self.requests = 0
        self.ids = _IdMapping(InProcessTransport(server), seed)
        self._recording = _Recording(self.ids, self._record)

    def begin_person(self, person: int, clock: Clock) -> None:
        """The person whose device sends next (its id maps, its clock also the server's)."""
        self.person, self.clock = person, clock
        self.server.clock = clock
        self.ids.begin_person(person)

    def send(self, request: Outgoing) -> Reply:
        return self._recording.send(request)

    def _record(self, request: Outgoing, reply: Reply | None, error: TransportError | None) -> None:
        if reply is None:
            return  # the in-process server always answers
        url = request.url[len(BASE_URL) :] if request.url.startswith(BASE_URL) else request.url
        line: dict[str, Any] = {
            "p": self.person,
            "d": self.device,
            "t": iso_ms(self.clock.now()),
            "m": request.method,
            "u": url,
            "h": request.headers,
            "b": None if request.content is None else request.content.decode("utf-8"),
            "s": reply.status,
        }
        if self.ids.created is not None:
            line["r"] = self.ids.created
        self.requests += 1
        self.sink(dumps_line(line))


def translate(
    path: str, headers: dict[str, str], body: bytes | None, ids: dict[str, str]
) -> tuple[str, dict[str, str], bytes | None]:
    """Replace push registration ids (keys of ``ids``) in the path, the header values and the body."""
    new_headers = headers
    for old, new in ids.items():
        if old in path:
            path = path.replace(old, new)
        if body is not None and old.encode() in body:
            body = body.replace(old.encode(), new.encode())
        for key, value in new_headers.items():
            if old in value:
                if new_headers is headers:
                    new_headers = dict(headers)
                new_headers[key] = value.replace(old, new)
    return path, new_headers, body
