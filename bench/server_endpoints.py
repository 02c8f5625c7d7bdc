"""What each Mobile API call of the server's mixed workload costs, in process: CPU per request and
SQL statements per request by call, against the same app's ``GET /health``.

``bench/server.py`` measures the mixed workload over sockets (uvicorn, httptools, 32 connections),
where a machine's drifts hide changes under about 10%. This bench calls the ASGI app directly, as
``mobsim serve`` stacks it (the guard and the fault middleware around it), one request at a time
(no uvicorn, no sockets, so each request commits its own batch), over the same requests that
``bench/server.py`` sends (``mixed_requests``: session reports, syncs, custom events, installation
and user PATCHes, user fetches, personalize and depersonalize over registered devices), and prints
per call: the CPU µs per request (``time.process_time``), its ratio to ``GET /health`` through the
same app, and the SQL statements it ran (SQLite's trace callback, triggers not counted apart), with
the statements of the heaviest calls. Rounds alternate the memory and the SQLite file store; the
figures are the median of the rounds.

Run from the repository root::

    .venv/bin/python bench/server_endpoints.py            # 3 rounds of 4,000 requests per store
    .venv/bin/python bench/server_endpoints.py --quick    # 1 round of 1,500
    .venv/bin/python bench/server_endpoints.py --statements   # and each call's statements

Benchmarks print ratios measured side by side in one run; they are never timed assertions in tests.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from server import APP, create_requests, mixed_requests  # bench/server.py

Scope = dict[str, Any]
KINDS = ("session", "sync", "events", "patch_installation", "patch_user", "get_user", "personalize", "depersonalize")


def parse(raw: bytes) -> tuple[Scope, bytes]:
    """An HTTP/1.1 request's bytes (as ``bench/_loopback.http_request`` writes them) as an ASGI scope."""
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    method, target, _ = lines[0].split(b" ")
    path, _, query = target.partition(b"?")
    headers = [(k.strip().lower(), v.strip()) for k, v in (line.split(b":", 1) for line in lines[1:])]
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method.decode(),
        "scheme": "http", "path": path.decode(), "raw_path": path, "query_string": query, "root_path": "",
        "headers": headers, "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 8080),
    }  # fmt: skip
    return scope, body


def kind_of(scope: Scope) -> str:
    path, method = scope["path"], scope["method"]
    for suffix, kind in (("/session", "session"), ("/custom", "events"), ("/depersonalize", "depersonalize"),
                         ("/personalize", "personalize")):  # fmt: skip
        if path.endswith(suffix):
            return kind
    if path.startswith("/mobile/5/messages"):
        return "sync"
    if method == "GET":
        return "get_user"
    return "patch_user" if path.endswith("/user") else "patch_installation"


async def call(app: Any, scope: Scope, body: bytes) -> tuple[int, bytes]:
    """One request through the ASGI app: its status and body."""
    sent, status, chunks = False, [0], []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status[0] = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(dict(scope), receive, send)
    return status[0], b"".join(chunks)


def build(mode: str, folder: str) -> tuple[Any, Any]:
    """The app as ``mobsim serve`` stacks it, and its store's connection."""
    from server_stub import create_app
    from server_stub.faults import FaultMiddleware, FaultRegistry
    from server_stub.guard import Guard

    path = os.path.join(folder, f"endpoints-{time.monotonic_ns()}.db") if mode == "sqlite" else None
    app = create_app(memory=mode == "memory", db=path, app_codes=[APP])
    return Guard(FaultMiddleware(app, FaultRegistry(())), token=None, check_host=True), app.state.profiles.store.db


async def measure(mode: str, count: int, folder: str) -> dict[str, Any]:
    app, db = build(mode, folder)
    regs = []
    for raw in create_requests(500, 1):
        status, answer = await call(app, *parse(raw))
        assert status == 200, (status, answer)
        regs.append(json.loads(answer)["pushRegId"])
    definition = {"definitionId": "purchase", "fields": [{"name": "amount", "type": "Decimal"},
                                                        {"name": "sku", "type": "String"}]}  # fmt: skip
    raw = b"POST /inspect/event-definitions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n\r\n"
    assert (await call(app, *parse(raw + json.dumps(definition).encode())))[0] in (200, 201)
    stream = mixed_requests(regs, 7)
    requests = [parse(next(stream)) for _ in range(count)]
    health = parse(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n\r\n")
    for _ in range(300):  # warm-up
        await call(app, *health)
    started = time.process_time()
    for _ in range(count):
        await call(app, *health)
    health_us = 1e6 * (time.process_time() - started) / count

    cpu: dict[str, list[float]] = collections.defaultdict(list)
    failures = 0
    for scope, body in requests:
        kind = kind_of(scope)
        started = time.process_time()
        status, _ = await call(app, scope, body)
        cpu[kind].append(time.process_time() - started)
        failures += status != 200
    # the statements, counted after the timing (the trace callback costs more than a statement)
    current = ["-"]
    calls: collections.Counter[str] = collections.Counter()
    statements: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    literal = re.compile(r"'[^']*'|\b\d+\b")
    db.set_trace_callback(lambda sql: statements[current[0]].update([literal.sub("?", " ".join(sql.split()))]))
    for scope, body in [parse(next(stream)) for _ in range(count // 4)]:
        current[0] = kind_of(scope)
        calls[current[0]] += 1
        await call(app, scope, body)
    db.set_trace_callback(None)
    return {"health_us": health_us, "cpu": cpu, "statements": statements, "calls": calls, "failures": failures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one round of 1,500 requests per store")
    parser.add_argument("--rounds", type=int, default=0, help="rounds per store (default 3; 1 quick)")
    parser.add_argument("--requests", type=int, default=0, help="requests per round (default 4,000; 1,500 quick)")
    parser.add_argument("--statements", action="store_true", help="print each call's statements")
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    count = args.requests or (1500 if args.quick else 4000)
    print(f"server endpoints bench: {rounds} round(s) of {count} mixed requests per store, in process; "
          f"load average {os.getloadavg()[0]:.2f}")  # fmt: skip
    results: dict[str, list[dict[str, Any]]] = {"memory": [], "sqlite": []}
    with tempfile.TemporaryDirectory(prefix="mobsim-endpoints-") as folder:
        for _ in range(rounds):
            for mode in results:
                results[mode].append(asyncio.run(measure(mode, count, folder)))
    for mode, runs in results.items():
        health = statistics.median(r["health_us"] for r in runs)
        total = statistics.median(
            1e6 * sum(sum(v) for v in r["cpu"].values()) / sum(len(v) for v in r["cpu"].values()) for r in runs
        )
        failures = sum(r["failures"] for r in runs)
        print(f"\n{mode}: GET /health through the app {health:.0f} µs; the mix {total:.0f} µs a request "
              f"({total / health:.1f}x /health); {failures} non-200 answers")  # fmt: skip
        print(f"  {'call':20} {'share':>6} {'µs/req':>7} {'x /health':>9} {'statements':>10}")
        last = runs[-1]
        weight = {k: sum(len(r["cpu"][k]) for r in runs) for k in KINDS}
        for kind in sorted(KINDS, key=lambda k: -statistics.median(1e6 * statistics.fmean(r["cpu"][k]) for r in runs)):
            per = statistics.median(1e6 * statistics.fmean(r["cpu"][kind]) for r in runs)
            share = weight[kind] * per / sum(weight[k] * statistics.median(
                1e6 * statistics.fmean(r["cpu"][k]) for r in runs) for k in KINDS)  # fmt: skip
            sql = sum(last["statements"][kind].values()) / max(1, last["calls"][kind])
            print(f"  {kind:20} {share:6.1%} {per:7.0f} {per / health:9.1f} {sql:10.1f}")
            if args.statements:
                for text, n in last["statements"][kind].most_common(12):
                    print(f"      {n / max(1, last['calls'][kind]):5.2f}  {text[:110]}")


if __name__ == "__main__":
    main()
