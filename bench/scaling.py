"""How `mobsim run --processes N` scales on this machine's cores: the default scenario's request
rate with 1, 2, ... Locust workers, side by side in one run.

Each round is one whole ``mobsim run --target <fast server> --processes N`` (think time 0, 100
users per worker so that every worker is saturated, the installed base first, as a user runs it)
against the fast loopback server of the generator bench (``bench/_fastserver.py``: canned valid
answers at about 50 µs of its CPU per request, so it is not the bottleneck; its CPU share is
printed). Rounds alternate the worker counts so that drifts of a shared machine hit all of them.
Printed per round, and as the median of the rounds per worker count:

- **load req/s**: the requests the server answered per second while the users ran (from its own
  counter, sampled every 0.25 s, from 30% of the load time (at least 3 s: Locust's start and the
  spawn) to 2 s before its end: the steady state), and Locust's own figure for its whole run
  (``summary.json`` ``totals.rps``: the spawn included);
- **CPU µs/req**: the CPU of ``mobsim run`` and every process under it (master, workers, set-up
  processes), start-up and the installed base included, per request the server answered over the
  whole run: the larger of ``wait4``'s count (the processes that were waited for) and the sum of
  each process's CPU when last sampled (a worker the master never reaps counts too);
- **scaling**: load req/s of N workers over one worker's (linear: N), and the same per busy core
  (req/s divided by the cores the generator kept busy), which says whether the cost per request
  stays flat as workers are added.

The machine's cores are shared by the workers, the master and the server (it is not pinned): with
as many workers as cores, the server's share is taken from them, so the wall-clock scaling is at
most about (cores - server share) / 1.

Run from the repository root (Linux)::

    .venv/bin/python bench/scaling.py            # 3 rounds of 20 s per worker count, about 5 minutes
    .venv/bin/python bench/scaling.py --quick    # 1 round of 10 s each, about a minute
    .venv/bin/python bench/scaling.py --workers 1 2 4

Benchmarks print ratios measured side by side in one run; they are never timed assertions in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import fast_server, process_cpu, server_stats

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
APP_CODE = "BENCH-APP-CODE"
USERS_PER_WORKER = 100


@dataclass
class Round:
    workers: int
    load_rps: float = 0.0
    locust_rps: float = 0.0
    cpu_us: float = 0.0
    busy_cores: float = 0.0
    """The generator's CPU seconds per second while the users ran (all its processes)."""
    server_share: float = 0.0
    """The fast server's CPU seconds per second over the same time."""
    requests: int = 0
    failures: int = 0
    samples: list[tuple[float, int, float, float]] = field(default_factory=list)
    """(wall time, requests served, generator CPU, server CPU), every 0.25 s."""


def _tree(root: int) -> dict[int, float]:
    """CPU seconds of a live process and of every live process under it, by pid (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    parent = int(handle.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry))
    found, stack = {}, [root]
    while stack:
        pid = stack.pop()
        try:
            found[pid] = process_cpu(pid)
        except OSError:
            continue
        stack.extend(children.get(pid, ()))
    return found


def run_round(workers: int, seconds: int, port: int, server_pid: int, work: Path) -> Round:
    out_dir = work / f"run-{workers}-{time.monotonic_ns()}"
    users = USERS_PER_WORKER * workers
    command = [
        str(ROOT / ".venv" / "bin" / "mobsim"), "run", "--target", f"http://127.0.0.1:{port}", "--app-code", APP_CODE,
        "--processes", str(workers), "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--think-time", "0",
        "--create-definitions", "no", "--out-dir", str(out_dir),
    ]  # fmt: skip
    if not Path(command[0]).exists():
        command[0:1] = [sys.executable, "-m", "mobsim"]
    result = Round(workers)
    first = server_stats(port)["requests"]
    proc = subprocess.Popen(command, cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    done = threading.Event()

    seen: dict[int, float] = {}
    """Each process of the run's tree, its CPU when last seen: a worker that ends (or that the
    master never reaps, so that wait4 never counts it) keeps its share."""

    def sample() -> None:
        while not done.is_set():
            with suppress(OSError):
                for pid, cpu in _tree(proc.pid).items():
                    seen[pid] = max(cpu, seen.get(pid, 0.0))
                result.samples.append(
                    (time.time(), server_stats(port)["requests"], sum(seen.values()), process_cpu(server_pid))
                )
            done.wait(0.25)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        done.set()
        sampler.join()
        if proc.returncode is None:
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    summary_file = out_dir / "summary.json"
    if proc.returncode != 0 or not summary_file.exists():
        verdict = json.loads(summary_file.read_text()).get("verdict") if summary_file.exists() else "no summary.json"
        raise RuntimeError(f"mobsim run --processes {workers} exited {proc.returncode}: {verdict}")
    summary = json.loads(summary_file.read_text())
    # wait4 counts the processes that were waited for; the samples, every one seen (up to 0.25 s short)
    total_cpu = max(usage.ru_utime + usage.ru_stime, sum(seen.values()))
    result.requests = server_stats(port)["requests"] - first
    result.cpu_us = 1e6 * total_cpu / result.requests
    totals = summary["totals"]
    result.locust_rps, result.failures = totals["rps"], totals["failures"]
    # the steady state: past the Locust processes' start and the spawn (the load's clock starts
    # before Locust is launched), and before the workers stop
    load_start = datetime.fromisoformat(summary["load_started_at"]).timestamp()
    end = datetime.fromisoformat(summary["ended_at"]).timestamp() - 2.0
    start = load_start + max(3.0, 0.3 * (end + 2.0 - load_start))
    window = [s for s in result.samples if start <= s[0] <= end]
    if len(window) < 2:
        raise RuntimeError(f"--processes {workers}: too few samples in the steady state ({len(window)})")
    (t0, n0, g0, k0), (t1, n1, g1, k1) = window[0], window[-1]
    result.load_rps = (n1 - n0) / (t1 - t0)
    result.busy_cores = (g1 - g0) / (t1 - t0)
    result.server_share = (k1 - k0) / (t1 - t0)
    return result


def report(rounds: list[Round], counts: list[int]) -> None:
    print(f"\n{'workers':>7} {'round':>5} {'load req/s':>11} {'Locust req/s':>13} {'CPU µs/req':>11} "
          f"{'gen cores':>10} {'server CPU':>11} {'failures':>9}")  # fmt: skip
    for n, r in enumerate(rounds, 1):
        print(f"{r.workers:>7} {n:>5} {r.load_rps:>11.0f} {r.locust_rps:>13.0f} {r.cpu_us:>11.0f} "
              f"{r.busy_cores:>10.2f} {r.server_share:>10.0%} {r.failures:>9}")  # fmt: skip
    medians: dict[int, dict[str, float]] = {}
    for count in counts:
        mine = [r for r in rounds if r.workers == count]
        medians[count] = {
            "rps": statistics.median(r.load_rps for r in mine),
            "per_core": statistics.median(r.load_rps / r.busy_cores for r in mine),
            "cpu_us": statistics.median(r.cpu_us for r in mine),
        }
    base = medians[counts[0]]
    print(f"\nmedians over the rounds; scaling against {counts[0]} worker(s) (linear: the ratio of the counts)")
    for count in counts:
        m = medians[count]
        spread = [r.load_rps for r in rounds if r.workers == count]
        print(
            f"  --processes {count}: {m['rps']:,.0f} req/s ({min(spread):,.0f}-{max(spread):,.0f}), "
            f"scaling {m['rps'] / base['rps']:.2f} (linear {count / counts[0]:.0f}, efficiency "
            f"{m['rps'] / base['rps'] / (count / counts[0]):.0%}); per busy core {m['per_core']:,.0f} req/s "
            f"({m['per_core'] / base['per_core']:.2f} of {counts[0]} worker(s)'); {m['cpu_us']:.0f} µs of CPU per "
            "request with start-up"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one round of 10 s per worker count")
    parser.add_argument("--rounds", type=int, default=0, help="rounds per worker count (default 3; 1 quick)")
    parser.add_argument("--seconds", type=int, default=0, help="run time of each round (default 20; 10 quick)")
    cores = len(os.sched_getaffinity(0))
    parser.add_argument("--workers", type=int, nargs="+", default=sorted({1, max(1, cores)}),
                        help=f"worker counts (default: 1 and this machine's {cores} cores)")  # fmt: skip
    args = parser.parse_args()
    rounds = args.rounds or (1 if args.quick else 3)
    seconds = args.seconds or (10 if args.quick else 20)
    counts = sorted(set(args.workers))
    load = os.getloadavg()[0]
    print(f"scaling bench on {cores} cores; load average {load:.2f}; worker counts {counts}, {rounds} round(s) of "
          f"{seconds} s, {USERS_PER_WORKER} users per worker, think time 0")  # fmt: skip
    started = time.perf_counter()
    results: list[Round] = []
    with tempfile.TemporaryDirectory(prefix="mobsim-scaling-") as folder, fast_server() as (port, server_pid):
        for _ in range(rounds):
            for count in counts:
                results.append(run_round(count, seconds, port, server_pid, Path(folder)))
                r = results[-1]
                print(f"  --processes {count}: {r.load_rps:,.0f} req/s, {r.busy_cores:.2f} cores busy", flush=True)
    report(results, counts)
    print(f"\n(bench took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
