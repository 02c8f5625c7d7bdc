"""Reference server throughput on a mixed SDK workload, as a ratio to the same stack's static route.

What it measures, side by side in one run, for the memory store and the SQLite file store:
- a bare Starlette route (``phase bare``: ``GET /health``'s answer from a plain ``Starlette`` app
  with one route, on uvicorn with httptools and uvloop, in its own process), the issue-16 ceiling;
- a static JSON route on the same stack (``GET /health``: uvicorn with httptools + uvloop, the same
  O(1) dispatch and response helpers, no store access), as the ceiling; and a static route
  through FastAPI's own routing (``phase routed``), the stack the Mobile API used before the
  O(1) dispatch;
- the mixed SDK workload of registered devices (session reports with new starts, message syncs,
  custom event batches, installation and user PATCHes, user fetches, personalize, depersonalize);
- the server's CPU per request (read from /proc), which stays honest if the client saturates;
- memory per installation with 100,000 installations (half of them personalized).

The server is served as ``mobsim serve`` serves it: the guard and the fault middleware around the
app, uvicorn's httptools protocol with the connection limits (server_stub/protocol.py).

Aims (issue 16): mixed at half the bare route or better; SQLite within 20% of memory; < 2 KB per
installation at 1,000,000 installations (``--memory-only --installations 1000000``).

Rounds alternate the bare route, the memory store and the SQLite file (their order swapped every
other round; the bare route once more at the end), so that a machine's drifts hit every phase;
each round's mixed workload is compared with the bare route's runs just before and after it, and
the ratios are medians over the rounds with their spread.

Run:   .venv/bin/python bench/server.py            (three rounds: about three minutes)
       .venv/bin/python bench/server.py --quick    (one round of 2 s phases, 20k installations)
       .venv/bin/python bench/server.py --memory-only --installations 1000000   (memory per installation)
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _loopback import Result, drive, http_request
from fastapi import Request
from starlette.responses import Response

from server_stub.http import json_response

APP = "BENCH-APP-CODE"
AUTH = {"Authorization": f"App {APP}", "Accept": "application/json"}
EPOCH = 1_700_000_000


# --- the server process ----------------------------------------------------------------------
async def routed_static(request: Request) -> Response:
    """A static JSON route through FastAPI's own routing (not the Mobile API's O(1) dispatch)."""
    return json_response({"status": "ok", "service": "mobsim"})


def serve(mode: str, path: str | None) -> None:
    import uvicorn
    from starlette.applications import Starlette
    from starlette.routing import Route
    from starlette.types import ASGIApp

    from server_stub import create_app
    from server_stub.faults import FaultMiddleware, FaultRegistry
    from server_stub.guard import Guard
    from server_stub.protocol import ConnectionLimits, protocol_class
    from server_stub.serve import bind

    app: ASGIApp
    if mode == "bare":  # the ceiling: a plain Starlette route, nothing of ours but the JSON helper
        app = Starlette(routes=[Route("/health", routed_static, methods=["GET"])])
        http: Any = "httptools"
    else:  # as mobsim serve stacks it (server_stub/serve.py, _uvicorn)
        fastapi_app = create_app(memory=mode == "memory", db=None if mode == "memory" else path, app_codes=[APP])
        fastapi_app.add_api_route("/bench/static", routed_static, methods=["GET"])
        faults = FaultRegistry(())
        app = Guard(FaultMiddleware(fastapi_app, faults), token=None, check_host=True)
        http = protocol_class(ConnectionLimits())
    sock = bind("127.0.0.1", 0)
    print(sock.getsockname()[1], flush=True)
    config = uvicorn.Config(app, log_level="error", access_log=False, lifespan="off", http=http, loop="uvloop")
    uvicorn.Server(config).run(sockets=[sock])


def start_server(mode: str, path: str | None) -> tuple[subprocess.Popen[str], int]:
    args = [sys.executable, __file__, "--serve", mode] + ([path] if path else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    time.sleep(0.3)
    return proc, port


# --- the workload ----------------------------------------------------------------------------
def _ts(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(EPOCH + seconds))


def create_requests(count: int, seed: int) -> Iterator[bytes]:
    rng = random.Random(seed)
    for n in range(count):
        body = {
            "pushServiceType": "Firebase",
            "pushServiceToken": f"fcm{n:08d}:APA91b" + "x" * 120,
            "sdkVersion": "15.0.0",
            "appVersion": "3.2.1",
            "os": "Android",
            "osVersion": rng.choice(["12", "13", "14"]),
            "deviceManufacturer": "samsung",
            "deviceModel": "SM-S911B",
            "deviceName": "Galaxy S23",
            "deviceSecure": True,
            "language": "en",
            "deviceTimezoneOffset": "GMT+01:00",
            "notificationsEnabled": True,
        }
        yield http_request("POST", "/mobile/1/appinstance?ri=true", AUTH, body)


def register(port: int, count: int, pid: int) -> tuple[list[str], Result]:
    """Create installations and collect their pushRegIds (synchronously, one connection)."""
    import httpx

    regs: list[str] = []
    started = time.perf_counter()
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=AUTH) as client:
        client.post(
            "/inspect/event-definitions",
            json={
                "definitionId": "purchase",
                "fields": [{"name": "amount", "type": "Decimal"}, {"name": "sku", "type": "String"}],
            },
        )
        for n in range(count):
            body = {
                "pushServiceType": "Firebase",
                "pushServiceToken": f"tok{n}",
                "os": "Android",
                "sdkVersion": "15.0.0",
                "notificationsEnabled": True,
            }
            regs.append(client.post("/mobile/1/appinstance?ri=true", json=body).json()["pushRegId"])
    result = Result(requests=count, seconds=time.perf_counter() - started)
    return regs, result


def mixed_requests(regs: list[str], seed: int) -> Iterator[bytes]:
    """An endless SDK-like mix over registered devices."""
    rng = random.Random(seed)
    clock = itertools.count(1)
    override = {"X-HTTP-Method-Override": "PATCH"}
    mix = [
        ("session", 25),
        ("sync", 20),
        ("events", 15),
        ("patch_installation", 10),
        ("patch_user", 10),
        ("get_user", 8),
        ("personalize", 8),
        ("depersonalize", 4),
    ]
    kinds = [k for k, w in mix for _ in range(w)]
    while True:
        reg = rng.choice(regs)
        person = regs.index(reg) if len(regs) < 1 else hash(reg) % 5000
        headers = {**AUTH, "pushregistrationid": reg, "foreground": "true"}
        base = f"/mobile/1/appinstance/{reg}"
        kind = rng.choice(kinds)
        now = next(clock) * 40
        if kind == "session":
            body = {
                "sessionStarts": [_ts(now)],
                "sessionBounds": {_ts(now - 300): _ts(now - 100)},
                "systemData": {
                    "sdkVersion": "15.0.0",
                    "os": "Android",
                    "osVersion": "14",
                    "notificationsEnabled": True,
                    "language": "en",
                },
            }
            yield http_request("POST", f"{base}/user/events/session", headers, body)
        elif kind == "sync":
            yield http_request("POST", "/mobile/5/messages?platformType=GCM", headers, {"mIDs": ["m1", "m2"]})
        elif kind == "events":
            events = [
                {"definitionId": "purchase", "date": _ts(now), "properties": {"amount": 9.5, "sku": "A1"}}
                for _ in range(3)
            ]
            yield http_request("POST", f"{base}/user/events/custom?validate=false", headers, {"events": events})
        elif kind == "patch_installation":
            body = {"customAttributes": {"theme": rng.choice(["dark", "light"])}, "notificationsEnabled": True}
            yield http_request("POST", base, {**headers, **override}, body)
        elif kind == "patch_user":
            body = {"firstName": rng.choice(["Ana", "Ivo", "Mia"]), "customAttributes": {"visits": now % 97}}
            yield http_request("POST", f"{base}/user", {**headers, **override}, body)
        elif kind == "get_user":
            yield http_request("GET", f"{base}/user?ri=true", headers)
        elif kind == "personalize":
            body = {"userIdentity": {"externalUserId": f"user-{person}"}, "userAttributes": {"lastName": "Horvat"}}
            query = "forceDepersonalize=true&keepAsLead=false&setDeviceAsPrimary=false"
            yield http_request("POST", f"{base}/personalize?{query}", headers, body)
        else:
            yield http_request("POST", f"{base}/depersonalize", headers)


def static_requests(path: str) -> Iterator[bytes]:
    return itertools.repeat(http_request("GET", path, {"Accept": "application/json"}))


# --- memory per installation -----------------------------------------------------------------
def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def memory_probe(mode: str, count: int, path: str | None) -> None:
    """Run in a child: create ``count`` installations through the rules, print bytes per installation."""
    from contract import models
    from server_stub import ProfileServer, Store, rules

    server = ProfileServer(Store(None if mode == "memory" else path))
    server.add_application(APP)
    base = rss_bytes()
    caller = server.authenticate.__self__  # keep mypy quiet about unused names
    del caller
    for start in range(0, count, 1000):
        with server.store.transaction() as db:
            for n in range(start, min(count, start + 1000)):
                ctx = rules.Context(db, rules.Caller(app_code=APP, account="default"), server.clock)
                body = models.Installation.model_validate(
                    {
                        "pushServiceType": "Firebase",
                        "pushServiceToken": f"fcm{n:08d}:APA91b" + "x" * 120,
                        "sdkVersion": "15.0.0",
                        "appVersion": "3.2.1",
                        "os": "Android",
                        "osVersion": "14",
                        "deviceManufacturer": "samsung",
                        "deviceModel": "SM-S911B",
                        "deviceName": "Galaxy S23",
                        "deviceSecure": True,
                        "language": "en",
                        "deviceTimezoneOffset": "GMT+01:00",
                        "notificationsEnabled": True,
                        "customAttributes": {"theme": "dark"},
                    }
                )
                reg = rules.create_installation(ctx, body, with_token=False)["pushRegId"]
                if n % 2 == 0:
                    ctx = rules.Context(db, rules.Caller(app_code=APP, account="default", reg_id=reg), server.clock)
                    personalize = models.PersonalizeBody.model_validate(
                        {
                            "userIdentity": {
                                "externalUserId": f"user-{n}",
                                "emails": [{"address": f"u{n}@example.com"}],
                            },
                            "userAttributes": {"firstName": "Ana", "lastName": "Horvat", "tags": ["vip"]},
                        }
                    )
                    rules.personalize(ctx, reg, personalize)
    grown = rss_bytes() - base
    pages = server.store.db.execute("PRAGMA page_count").fetchone()[0]
    page_size = server.store.db.execute("PRAGMA page_size").fetchone()[0]
    print(grown / count, pages * page_size / count)


def measure_memory(mode: str, count: int, path: str | None) -> tuple[float, float]:
    args = [sys.executable, __file__, "--memory-probe", mode, str(count)] + ([path] if path else [])
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout.split()
    return float(out[0]), float(out[1])


# --- the report ------------------------------------------------------------------------------
def run_bare(seconds: float) -> Result:
    proc, port = start_server("bare", None)
    try:
        return drive(port, static_requests("/health"), seconds=seconds, server_pid=proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)


def run_mode(mode: str, seconds: float, devices: int, folder: str) -> dict[str, Result]:
    path = None if mode == "memory" else os.path.join(folder, f"bench-{mode}.db")
    proc, port = start_server(mode, path)
    try:
        results = {
            "static": drive(port, static_requests("/health"), seconds=seconds, server_pid=proc.pid),
            "routed": drive(port, static_requests("/bench/static"), seconds=seconds, server_pid=proc.pid),
        }
        regs, results["register"] = register(port, devices, proc.pid)
        results["mixed"] = drive(port, mixed_requests(regs, 7), seconds=seconds, server_pid=proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6.0, help="seconds per measured phase")
    parser.add_argument("--devices", type=int, default=2000, help="registered devices in the mixed workload")
    parser.add_argument("--installations", type=int, default=100_000, help="installations for the memory probe")
    parser.add_argument("--quick", action="store_true", help="2 s phases, 20k installations, one round")
    parser.add_argument("--rounds", type=int, default=0, help="rounds of bare, memory and sqlite (default 3; 1 quick)")
    parser.add_argument("--memory-only", action="store_true", help="only the memory per installation")
    parser.add_argument("--serve", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--memory-probe", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], args.serve[1] if len(args.serve) > 1 else None)
        return
    if args.memory_probe:
        probe = args.memory_probe
        memory_probe(probe[0], int(probe[1]), probe[2] if len(probe) > 2 else None)
        return
    if args.quick:
        args.seconds, args.installations, args.devices = 2.0, 20_000, 500
    if args.memory_only:
        with tempfile.TemporaryDirectory() as folder:
            for mode in ("memory", "sqlite"):
                rss, disk = measure_memory(mode, args.installations, os.path.join(folder, f"mem-{mode}.db"))
                print(
                    f"{mode:8} per installation at {args.installations:,}: {rss:,.0f} B of process memory, "
                    f"{disk:,.0f} B of database pages   aim < 2,048 B",
                    flush=True,
                )
        return
    rounds = args.rounds or (1 if args.quick else 3)
    print(f"mobsim bench/server.py: {args.seconds:g} s per phase, {args.devices} devices, loopback, 32 connections,"
          f" {rounds} round(s) of bare, memory, sqlite (then bare again); load {os.getloadavg()[0]:.2f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        # bare, memory, sqlite per round, and bare once more: drifts of the machine hit every phase
        bare: list[Result] = []
        table: dict[str, list[dict[str, Result]]] = {"memory": [], "sqlite": []}
        for n in range(rounds):
            bare.append(run_bare(args.seconds))
            for mode in ("memory", "sqlite") if n % 2 == 0 else ("sqlite", "memory"):  # neither always first
                table[mode].append(run_mode(mode, args.seconds, args.devices, folder))
        bare.append(run_bare(args.seconds))
        memory = {
            mode: measure_memory(mode, args.installations, os.path.join(folder, f"mem-{mode}.db"))
            for mode in ("memory", "sqlite")
        }
    print(f"\n{'store':8} {'phase':9} {'round':>5} {'req/s':>9} {'server CPU µs/req':>18} {'non-2xx':>8}")
    for n, res in enumerate(bare, 1):
        print(f"{'-':8} {'bare':9} {n:>5} {res.rps:9.0f} {res.cpu_us:18.0f} {0:8d}")
    for mode, runs in table.items():
        for n, results in enumerate(runs, 1):
            for phase, res in results.items():
                bad = sum(count for status, count in res.statuses.items() if status >= 300)
                cpu = f"{res.cpu_us:18.0f}" if res.server_cpu else f"{'-':>18}"
                print(f"{mode:8} {phase:9} {n:>5} {res.rps:9.0f} {cpu} {bad:8d}")
                for error in res.errors[:2]:
                    print(f"         ! {error}")
    print("\nmedians over the rounds (spread: lowest-highest round); each round against the mean of the bare")
    print("route's runs just before and after it")
    bare_rps = [(bare[n].rps + bare[n + 1].rps) / 2 for n in range(rounds)]
    bare_cpu = [(bare[n].cpu_us + bare[n + 1].cpu_us) / 2 for n in range(rounds)]

    def ratio(values: list[float]) -> str:
        return f"{statistics.median(values):.2f} ({min(values):.2f}-{max(values):.2f})"

    for mode, runs in table.items():
        mixed = [r["mixed"] for r in runs]
        print(
            f"{mode:8} mixed / bare Starlette route:             "
            f"{ratio([m.rps / b for m, b in zip(mixed, bare_rps, strict=True)])} "
            f"(by server CPU: {ratio([b / m.cpu_us for m, b in zip(mixed, bare_cpu, strict=True)])})   aim ≥ 0.50"
        )
        labels = (("static", "static (O(1) dispatch, /health):"), ("routed", "static through FastAPI routing: "))
        for phase, label in labels:
            by_rate = ratio([r["mixed"].rps / r[phase].rps for r in runs])
            by_cpu = ratio([r[phase].cpu_us / r["mixed"].cpu_us for r in runs])
            print(f"{mode:8} mixed / {label} {by_rate} (by server CPU: {by_cpu})")
        rates = [m.rps for m in mixed]
        print(f"{mode:8} mixed absolute: {statistics.median(rates):,.0f} req/s ({min(rates):,.0f}-{max(rates):,.0f})"
              "   architecture-sketch aim ≥ 5,500 req/s")  # fmt: skip
    pairs = [s["mixed"].rps / m["mixed"].rps for s, m in zip(table["sqlite"], table["memory"], strict=True)]
    print(f"sqlite / memory mixed throughput: {ratio(pairs)}   aim ≥ 0.80")
    for mode, (rss, disk) in memory.items():
        print(
            f"{mode:8} per installation at {args.installations:,}: {rss:,.0f} B of process memory, "
            f"{disk:,.0f} B of database pages   aim < 2,048 B"
        )


if __name__ == "__main__":
    main()
