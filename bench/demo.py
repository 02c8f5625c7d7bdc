"""Demo generation speed: events (and requests) generated per second on one core.

    .venv/bin/python bench/demo.py [--devices 10000] [--days 30] [--vertical retail]

1. ``--out`` generation: every device driven through its history against the reference server in
   this process, every request recorded to a JSONL file (what ``mobsim demo --out`` does).
2. The file replayed into a fresh in-process reference server (the server side alone: what a
   replay into ``mobsim serve`` costs, without sockets).

It prints wall and CPU seconds, requests and events per CPU second, and whether the aim (a
10,000-device, 30-day audience in under two minutes on one core) is met.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import httpx

# Run as a script, this file's directory comes first on sys.path, and its name would hide the
# `demo` package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from demo.recording import InProcessServer  # noqa: E402
from demo.replay import Replayer  # noqa: E402
from demo.run import DemoConfig, generate_to_file  # noqa: E402


class _Answer:
    def __init__(self, status: int, content: bytes) -> None:
        self.status_code, self.content = status, content


class _InProcessClient:
    """The ``request`` of an httpx client, onto the in-process server (no HTTP)."""

    def __init__(self, server: InProcessServer) -> None:
        self.server = server

    def request(self, method: str, url: str, headers: dict[str, str], content: bytes | None) -> _Answer:
        path, _, query = url.removeprefix("http://bench").partition("?")
        status, _, body = self.server.request(method, path, query, headers, content)
        return _Answer(status, body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--vertical", default="retail")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    config = DemoConfig(args.devices, args.days, args.seed, args.vertical, until="2024-06-01T00:00:00Z")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        wall, cpu = time.perf_counter(), time.process_time()
        outcome = generate_to_file(config, path, checkpoint_every=5.0)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        events = sum(outcome.tally.events.values())
        size = path.stat().st_size
        print(f"generation to JSONL: {args.devices:,} devices x {args.days} days, vertical {args.vertical}")
        print(f"  persons {outcome.tally.persons:,}, sessions {outcome.tally.counts['sessions']:,}, "
              f"custom events {events:,}, requests {outcome.requests:,}, file {size / 1e6:,.1f} MB")  # fmt: skip
        print(f"  wall {wall:,.1f} s, CPU {cpu:,.1f} s: {events / cpu:,.0f} events and "
              f"{outcome.requests / cpu:,.0f} requests per CPU second")  # fmt: skip
        aim = "met" if args.devices >= 10_000 and args.days >= 30 and wall < 120 else "not met"
        scaled = wall * (10_000 / args.devices) * (30 / args.days)
        print(f"  aim (10,000 devices x 30 days < 120 s on one core): {aim}; this rate scales to about {scaled:,.0f} s")

        server = InProcessServer("BENCH")
        replayer = Replayer(cast(httpx.Client, _InProcessClient(server)), "http://bench", "BENCH")
        for definition in outcome.definitions:
            server.post("/inspect/event-definitions", definition)
        wall, cpu = time.perf_counter(), time.process_time()
        with path.open("rb") as handle:
            handle.readline()
            for raw in handle:
                line: dict[str, Any] = json.loads(raw)
                replayer.send(line)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        stats = server.get("/inspect/stats")
        print("replay of the file into the in-process reference server:")
        print(f"  {replayer.sent:,} requests, answers {dict(replayer.statuses)}, wall {wall:,.1f} s, CPU {cpu:,.1f} s: "
              f"{events / cpu:,.0f} events and {replayer.sent / cpu:,.0f} requests per CPU second")  # fmt: skip
        print(f"  server: {stats['persons']} persons, events {stats['events']['counts']}")


if __name__ == "__main__":
    main()
