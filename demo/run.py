"""A demo run: the audience's history to a JSONL file, to a target, and a file replayed later.

The history runs all persons together in time order, with the campaigns at their times (a
campaign's segment is evaluated on the audience as it is then), so the requests of the persons
interleave. Generation is deterministic: the same options give the same requests in the same
order, and a run can restart anywhere by generating again and skipping what was done:

- ``--out FILE``: ``FILE.checkpoint`` holds the options' fingerprint, the byte offset after the
  last complete step and the number of requests before it. On a restart with the same options
  the file is cut back to that offset; the history is generated again from its start (in memory:
  the reference server in this process must hold the audience as it was) and what follows the
  checkpoint is written. The checkpoint goes away when the run completes.
- a target (direct run, or a replay): requests are sent one by one; after each answer the
  checkpoint records how many were sent (or the byte offset in the file) and how much of its
  ``.ids`` log, the push registration ids the target answered (one line each), belongs to them.
  A restart skips what was sent. An interruption (Ctrl-C, or ``should_stop``) is honoured between
  two requests, so nothing is sent twice; only a hard kill between an answer and its checkpoint
  can repeat one request.
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

from simulator import AppConfig, VirtualClock

from .audience import AudienceOptions, parse_locales
from .campaigns import saved_segments, schedule
from .history import History, Tally, people, window
from .recording import BASE_URL, InProcessServer, RecordingTransport, dumps_line, iso_ms
from .replay import IdLog, Pacer, Replayer, create_definitions, create_segments
from .verticals import vertical

__all__ = ["DemoConfig", "Outcome", "Progress", "generate_to_file", "generate_to_target", "replay_file"]

FORMAT = 2
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
    campaigns: bool = True
    """Campaigns to the vertical's segments in the history (``--no-campaigns``: none)."""

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
    """Callbacks for a progress display: ``start(total, done)`` hours of history, ``advance(hours, requests)``."""

    start: Callable[[int, int], None] = lambda total, done: None
    advance: Callable[[int, int], None] = lambda hours, requests: None


class _Hours:
    """Hours of the window done, for the progress display."""

    def __init__(self, progress: Progress, start: float, days: int) -> None:
        self.progress, self.start, self.total = progress, start, days * 24
        self.done = self.requests = 0
        progress.start(self.total, 0)

    def step(self, moment: float, requests: int) -> None:
        self.requests += requests
        hour = min(self.total, int((moment - self.start) // 3600))
        if hour > self.done:
            self.progress.advance(hour - self.done, self.requests)
            self.done, self.requests = hour, 0

    def finish(self) -> None:
        if self.done < self.total:
            self.progress.advance(self.total - self.done, self.requests)


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
    segments_created: str = ""
    segments: list[dict[str, Any]] = field(default_factory=list)
    """The vertical's saved segments (``POST /inspect/segments`` bodies) the campaigns go to."""
    campaigns: list[dict[str, Any]] = field(default_factory=list)
    """Each campaign of a completed run: what it was, the segment's size at the send, the server's
    funnel (``/inspect/campaigns/{bulkId}`` at the window's end) and what the devices did."""


class _Generator:
    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.options = config.audience()
        self.server = InProcessServer(config.app_code)
        self.definitions = [dict(d) for d in self.options.vertical.definitions]
        for definition in self.definitions:
            status, _ = self.server.post("/inspect/event-definitions", definition)
            assert status == 201, status
        name, start, end = self.options.vertical.name, self.options.start, self.options.end
        self.segments = saved_segments(name) if config.campaigns else []
        for segment in self.segments:
            status, answer = self.server.post("/inspect/segments", segment)
            assert status == 201, (status, answer)
        self.campaigns = schedule(name, start, end) if config.campaigns else []
        self.lines: list[str] = []
        self.transport = RecordingTransport(self.server, config.seed, self.lines.append)
        self.app = AppConfig(config.app_code, base_url=BASE_URL, app_name=APP_NAMES[config.vertical])
        self.tally = Tally()

    def header(self) -> dict[str, Any]:
        return {
            "mobsim": "demo",
            "format": FORMAT,
            "options": asdict(self.config),
            "window": [iso_ms(self.options.start), iso_ms(self.options.end)],
            "definitions": self.definitions,
            "segments": self.segments,
            "campaigns": [c.describe() for c in self.campaigns],
        }

    def steps(self) -> Iterator[tuple[float, list[str]]]:
        """Each step of the history: its time and its requests (valid until the next step)."""
        history = History(self.options, self.app, self.transport, self.tally, self.campaigns)
        for moment in history.run(people(self.options, self.config.devices)):
            yield moment, self.lines
            self.lines.clear()

    def finish(self) -> list[dict[str, Any]]:
        """The server's clock to the window's end; each campaign's figures."""
        self.server.clock = VirtualClock(self.options.end)
        report = []
        for campaign in self.campaigns:
            funnel = self.server.get(f"/inspect/campaigns/{campaign.bulk_id}")
            devices: dict[str, int] = dict(self.tally.campaigns.get(campaign.bulk_id, {}))
            report.append({**campaign.describe(), "funnel": {k: funnel[k] for k in _FUNNEL},
                           "devices": dict(sorted(devices.items()))})  # fmt: skip
        return report


_FUNNEL = ("sent", "handed", "delivered", "seen", "opened", "converted", "expired", "undeliverable", "pending")


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
    """Write the header and every request to ``out`` (resuming from ``out.checkpoint``)."""
    checkpoint = out.with_name(out.name + ".checkpoint")
    config = _config_from_checkpoint(checkpoint, config)
    generator = _Generator(config)
    state = _read_checkpoint(checkpoint, config.fingerprint())
    skip = 0 if state is None else int(state["lines"])
    outcome = Outcome(generator.tally, config, generator.definitions, resumed=state is not None,
                      server=generator.server, segments=generator.segments)  # fmt: skip
    hours = _Hours(progress or Progress(), generator.options.start, config.days)
    handle = out.open("r+b" if state is not None else "wb")
    done = 0
    try:
        if state is None:
            handle.write((dumps_line(generator.header()) + "\n").encode())
        else:
            handle.truncate(state["offset"])
            handle.seek(state["offset"])

        def save() -> None:
            handle.flush()
            _write_json(checkpoint, {"fingerprint": config.fingerprint(), "config": asdict(config),
                                     "offset": handle.tell(), "lines": max(done, skip)})  # fmt: skip

        save()
        last = time.monotonic()
        for moment, lines in generator.steps():
            fresh = lines[max(0, skip - done) :]
            if fresh:
                handle.write(("\n".join(fresh) + "\n").encode())
                outcome.requests += len(fresh)
            done += len(lines)
            hours.step(moment, len(lines))
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
    hours.finish()
    outcome.campaigns = generator.finish()
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
    config = _config_from_checkpoint(checkpoint, config)
    generator = _Generator(config)
    fingerprint = config.fingerprint() + ":" + hashlib.sha256(f"{target}|{app_code}".encode()).hexdigest()[:8]
    state = _read_checkpoint(checkpoint, fingerprint)
    skip = 0 if state is None else int(state["sent"])
    outcome = Outcome(generator.tally, config, generator.definitions, resumed=state is not None,
                      server=generator.server)  # fmt: skip
    outcome.definitions_created = create_definitions(client, target, generator.definitions)
    outcome.segments = generator.segments
    outcome.segments_created = create_segments(client, target, generator.segments)
    ids = IdLog(_ids_path(checkpoint))
    replayer = Replayer(client, target, app_code, Pacer(max_rps), on_id=ids.append)
    replayer.restore(ids.open(None if state is None else state["ids"]))
    hours = _Hours(progress or Progress(), generator.options.start, config.days)
    number = 0

    def save(sent: int) -> None:
        _write_json(checkpoint, {"fingerprint": fingerprint, "config": asdict(config), "sent": sent,
                                 "ids": ids.offset})  # fmt: skip

    try:
        for moment, lines in generator.steps():
            if number + len(lines) <= skip:
                number += len(lines)
                hours.step(moment, len(lines))
                if should_stop():
                    outcome.interrupted = True
                    break
                continue
            for line in lines:
                if number < skip:
                    number += 1
                    continue
                if should_stop():
                    save(number)
                    outcome.interrupted = True
                    break
                replayer.send(json.loads(line))
                outcome.requests += 1
                number += 1
                save(number)
            if outcome.interrupted:
                break
            hours.step(moment, len(lines))
    finally:
        ids.close()
    outcome.replay = _replay_summary(replayer)
    if outcome.interrupted:
        return outcome
    hours.finish()
    outcome.campaigns = generator.finish()
    checkpoint.unlink(missing_ok=True)
    _ids_path(checkpoint).unlink(missing_ok=True)
    return outcome


def _ids_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".ids")


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
    ids = IdLog(_ids_path(checkpoint))
    replayer = Replayer(client, target, app_code, Pacer(max_rps), on_id=ids.append)
    result: dict[str, Any] = {
        "definitions": header["definitions"],
        "resumed": state is not None,
        "segments": header.get("segments", []),
        "campaigns": header.get("campaigns", []),
    }
    result["definitionsCreated"] = create_definitions(client, target, header["definitions"])
    result["segmentsCreated"] = create_segments(client, target, result["segments"])
    interrupted = False
    try:
        replayer.restore(ids.open(None if state is None else state["ids"]))
        with path.open("rb") as handle:
            handle.readline()
            offset = handle.tell()
            if state is not None:
                offset = state["offset"]
                handle.seek(offset)
            progress(offset, size)
            for raw in handle:
                if should_stop():
                    interrupted = True
                    break
                replayer.send(json.loads(raw))
                offset += len(raw)
                _write_json(checkpoint, {"fingerprint": fingerprint, "offset": offset, "ids": ids.offset})
                progress(offset, size)
    finally:
        ids.close()
    if not interrupted:
        checkpoint.unlink(missing_ok=True)
        _ids_path(checkpoint).unlink(missing_ok=True)
    result.update(_replay_summary(replayer), interrupted=interrupted)
    return result
