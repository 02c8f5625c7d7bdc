"""A demo run: the audience's history to a JSONL file, to a target, and a file replayed later.

Every way out is resumable. Generation is deterministic per person (each person's requests depend
on the seed, the options and the person only), so a run can restart at any person boundary and
produce the same bytes:

- ``--out FILE``: the file is written person by person; ``FILE.checkpoint`` holds the options'
  fingerprint, the byte offset after the last complete person, the next person and the tally.
  On a restart with the same options the file is cut back to that offset and generation goes on
  from that person. The checkpoint goes away when the run completes.
- a target (direct run, or a replay): requests are sent one by one; after each answer the
  checkpoint records how far the stream got (the person and how many of its requests were sent,
  or the byte offset in the file) and the current person's id map. A restart skips what was sent.
  An interruption (Ctrl-C, or ``should_stop``) is honoured between two requests, so nothing is
  sent twice; only a hard kill between an answer and its checkpoint can repeat one request.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from simulator import AppConfig

from .audience import AudienceOptions, PersonPlan, parse_locales
from .history import History, Tally, people, window
from .recording import BASE_URL, InProcessServer, RecordingTransport, dumps_line, iso_ms
from .replay import Pacer, Replayer, create_definitions
from .verticals import vertical

__all__ = ["DemoConfig", "Outcome", "Progress", "generate_to_file", "generate_to_target", "replay_file"]

FORMAT = 1
PLACEHOLDER_CODE = "mobsim-demo-app"
APP_NAMES = {"retail": "Mobsim Shop", "media": "Mobsim TV", "banking": "Mobsim Bank", "travel": "Mobsim Travel"}


@dataclass(frozen=True)
class DemoConfig:
    devices: int
    days: int
    seed: int = 1
    vertical: str = "retail"
    locales: str | None = None
    until: str | None = None
    """ISO date or time the window ends (default: today's midnight UTC, fixed when the run starts)."""
    app_code: str = PLACEHOLDER_CODE
    """The code the recorded requests carry (a replay swaps it)."""
    realistic_contacts: bool = False
    """Realistic emails and phone numbers (default: reserved example domains and fiction ranges)."""

    def resolved(self) -> DemoConfig:
        """The same options with ``until`` fixed, so that a resume uses the run's window."""
        if self.until is not None:
            return self
        now = datetime.now(UTC)
        return DemoConfig(**{**asdict(self), "until": now.strftime("%Y-%m-%dT00:00:00Z")})

    def audience(self) -> AudienceOptions:
        if self.devices < 1 or self.days < 1:
            raise ValueError("--devices and --days must be at least 1")
        assert self.until is not None, "resolve the window first"
        until = datetime.fromisoformat(self.until.replace("Z", "+00:00"))
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        start, end = window(self.days, until)
        return AudienceOptions(
            self.seed,
            start,
            end,
            vertical(self.vertical),
            parse_locales(self.locales),
            realistic_contacts=self.realistic_contacts,
        )

    def fingerprint(self) -> str:
        text = json.dumps({"format": FORMAT, **asdict(self)}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Progress:
    """Callbacks for a progress display: ``total`` devices, ``advance(devices, requests)``."""

    start: Callable[[int, int], None] = lambda total, done: None
    advance: Callable[[int, int], None] = lambda devices, requests: None


@dataclass
class Outcome:
    tally: Tally
    config: DemoConfig
    definitions: list[dict[str, Any]]
    requests: int = 0
    interrupted: bool = False
    resumed: bool = False
    server: InProcessServer | None = None
    """The in-process reference server (holds this process's part of the run)."""
    replay: dict[str, Any] = field(default_factory=dict)
    definitions_created: str = ""


class _Generator:
    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.options = config.audience()
        self.server = InProcessServer(config.app_code)
        self.definitions = [dict(d) for d in self.options.vertical.definitions]
        for definition in self.definitions:
            status, _ = self.server.post("/inspect/event-definitions", definition)
            assert status == 201, status
        self.lines: list[str] = []
        self.transport = RecordingTransport(self.server, config.seed, self.lines.append)
        self.app = AppConfig(config.app_code, base_url=BASE_URL, app_name=APP_NAMES[config.vertical])

    def header(self) -> dict[str, Any]:
        return {
            "mobsim": "demo",
            "format": FORMAT,
            "options": asdict(self.config),
            "window": [iso_ms(self.options.start), iso_ms(self.options.end)],
            "definitions": self.definitions,
        }

    def persons(self, tally: Tally, person: int, devices: int) -> Iterator[tuple[PersonPlan, list[str]]]:
        history = History(self.options, self.app, self.transport, tally)
        for plan in people(self.options, self.config.devices, person, devices):
            self.lines.clear()
            history.run_person(plan)
            yield plan, self.lines


def _write_json(path: Path, value: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value))
    os.replace(tmp, path)


def _read_checkpoint(path: Path, fingerprint: str) -> dict[str, Any] | None:
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    if state.get("fingerprint") != fingerprint:
        raise ValueError(
            f"{path} belongs to a run with other options; delete it to start again, or rerun with the same options"
        )
    return state


def _config_from_checkpoint(path: Path, config: DemoConfig) -> DemoConfig:
    """A resumed run keeps the window of the run it continues (``until`` fixed at its start)."""
    if config.until is None and path.exists():
        saved = json.loads(path.read_text()).get("config")
        if saved and all(saved.get(k) == v for k, v in asdict(config).items() if k != "until"):
            return DemoConfig(**saved)
    return config.resolved()


def generate_to_file(
    config: DemoConfig,
    out: Path,
    *,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
    checkpoint_every: float = 0.5,
) -> Outcome:
    """Write the header and every person's requests to ``out`` (resuming from ``out.checkpoint``)."""
    progress = progress or Progress()
    checkpoint = out.with_name(out.name + ".checkpoint")
    config = _config_from_checkpoint(checkpoint, config)
    generator = _Generator(config)
    state = _read_checkpoint(checkpoint, config.fingerprint())
    tally = Tally() if state is None else Tally.from_json(state["tally"])
    person, devices = (0, 0) if state is None else (state["person"], state["devices"])
    outcome = Outcome(tally, config, generator.definitions, resumed=state is not None, server=generator.server)
    progress.start(config.devices, devices)
    handle = out.open("r+b" if state is not None else "wb")
    try:
        if state is None:
            handle.write((dumps_line(generator.header()) + "\n").encode())
        else:
            handle.truncate(state["offset"])
            handle.seek(state["offset"])

        def save() -> None:
            handle.flush()
            _write_json(checkpoint, {"fingerprint": config.fingerprint(), "config": asdict(config),
                                     "offset": handle.tell(), "person": person, "devices": devices,
                                     "tally": tally.as_json()})  # fmt: skip

        save()
        last = time.monotonic()
        for plan, lines in generator.persons(tally, person, devices):
            if lines:
                handle.write(("\n".join(lines) + "\n").encode())
            person, devices = plan.index + 1, devices + len(plan.devices)
            outcome.requests += len(lines)
            progress.advance(len(plan.devices), len(lines))
            if should_stop():
                save()
                outcome.interrupted = True
                return outcome
            if time.monotonic() - last >= checkpoint_every:
                save()
                last = time.monotonic()
        handle.flush()
    finally:
        handle.close()
    checkpoint.unlink(missing_ok=True)
    return outcome


def generate_to_target(
    config: DemoConfig,
    client: httpx.Client,
    target: str,
    app_code: str,
    checkpoint: Path,
    *,
    max_rps: float = 0.0,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Progress | None = None,
) -> Outcome:
    """Generate and send each request to ``target`` as it is made (a file and its replay at once)."""
    progress = progress or Progress()
    config = _config_from_checkpoint(checkpoint, config)
    generator = _Generator(config)
    fingerprint = config.fingerprint() + ":" + hashlib.sha256(f"{target}|{app_code}".encode()).hexdigest()[:8]
    state = _read_checkpoint(checkpoint, fingerprint)
    tally = Tally() if state is None else Tally.from_json(state["tally"])
    person, devices, skip = (0, 0, 0) if state is None else (state["person"], state["devices"], state["sent"])
    outcome = Outcome(tally, config, generator.definitions, resumed=state is not None, server=generator.server)
    outcome.definitions_created = create_definitions(client, target, generator.definitions)
    replayer = Replayer(client, target, app_code, Pacer(max_rps))
    if state is not None:
        replayer.restore(state["person"], state["ids"])
    progress.start(config.devices, devices)
    start_tally = tally.as_json()

    def save(sent: int) -> None:
        _write_json(checkpoint, {"fingerprint": fingerprint, "config": asdict(config), "person": person,
                                 "devices": devices, "sent": sent, "ids": replayer.ids,
                                 "tally": start_tally})  # fmt: skip

    for plan, lines in generator.persons(tally, person, devices):
        person = plan.index
        for number, line in enumerate(lines):
            if number < skip:
                continue
            if should_stop():
                save(number)
                outcome.interrupted = True
                outcome.replay = _replay_summary(replayer)
                return outcome
            replayer.send(json.loads(line))
            outcome.requests += 1
            save(number + 1)
        skip = 0
        person, devices = plan.index + 1, devices + len(plan.devices)
        start_tally = tally.as_json()
        save(0)
        progress.advance(len(plan.devices), len(lines))
    checkpoint.unlink(missing_ok=True)
    outcome.replay = _replay_summary(replayer)
    return outcome


def _replay_summary(replayer: Replayer) -> dict[str, Any]:
    return {
        "sent": replayer.sent,
        "statuses": {str(k): v for k, v in sorted(replayer.statuses.items())},
        "unexpected": dict(replayer.unexpected.most_common(10)),
    }


def read_header(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        first = handle.readline()
    try:
        header: dict[str, Any] = json.loads(first)
    except ValueError:
        header = {}
    if header.get("mobsim") != "demo":
        raise ValueError(f"{path} is not a mobsim demo file (its first line is not the demo header)")
    return header


def replay_file(
    path: Path,
    client: httpx.Client,
    target: str,
    app_code: str,
    checkpoint: Path,
    *,
    max_rps: float = 0.0,
    should_stop: Callable[[], bool] = lambda: False,
    progress: Callable[[int, int], None] = lambda done, total: None,
) -> dict[str, Any]:
    """Send every request of a demo file to ``target``; resumes from ``checkpoint``."""
    header = read_header(path)
    size = path.stat().st_size
    fingerprint = hashlib.sha256(f"{header['options']}|{size}|{target}|{app_code}".encode()).hexdigest()[:16]
    state = _read_checkpoint(checkpoint, fingerprint)
    replayer = Replayer(client, target, app_code, Pacer(max_rps))
    result: dict[str, Any] = {"definitions": header["definitions"], "resumed": state is not None}
    result["definitionsCreated"] = create_definitions(client, target, header["definitions"])
    with path.open("rb") as handle:
        handle.readline()
        offset = handle.tell()
        if state is not None:
            offset = state["offset"]
            replayer.restore(state["person"], state["ids"])
            handle.seek(offset)
        progress(offset, size)
        interrupted = False
        for raw in handle:
            if should_stop():
                interrupted = True
                break
            replayer.send(json.loads(raw))
            offset += len(raw)
            _write_json(checkpoint, {"fingerprint": fingerprint, "offset": offset, "person": replayer.person,
                                     "ids": replayer.ids})  # fmt: skip
            progress(offset, size)
    if not interrupted:
        checkpoint.unlink(missing_ok=True)
    result.update(_replay_summary(replayer), interrupted=interrupted)
    return result
