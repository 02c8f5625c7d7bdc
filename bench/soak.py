"""Soak: does memory stay flat under long load? The server, the Locust master and a worker over time.

Starts ``mobsim serve`` (on a SQLite file by default: the in-memory store grows with what it stores,
by design), a Locust master and ``--workers`` workers running the mobsim scenarios, all as child
processes on 127.0.0.1, for ``--minutes`` (default 30) of headless load. Every ``--interval``
seconds (default: the run time / 30) it reads the resident set size of the server, the master and
the first worker from ``/proc/<pid>/status`` and Locust's request count so far (its CSV history),
and prints one row. The installed base is registered first, as ``mobsim run`` does (one set-up
process per worker slice), so that the samples are of the load alone. At the end, per process:

- ``first`` and ``last``: the mean RSS of the first and the last fifth of the samples taken after
  the warm-up (``--warmup`` seconds from Locust's first counted request, default a tenth of the
  run: the users spawn and the caches fill then);
- ``last/first``: their ratio, the figure to watch (flat is 1.00);
- ``slope``: the least-squares slope of RSS after the warm-up, in MB per hour.

Run from the repository root (Linux)::

    .venv/bin/python bench/soak.py                               # 30 minutes, 2 workers, 50 users
    .venv/bin/python bench/soak.py --minutes 2 --interval 5      # a quick look
    .venv/bin/python bench/soak.py --minutes 60 --users 200 --population 20000 --memory

Nothing here asserts; a busy machine makes the rates noisy (the load average is printed first),
not the memory figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loopback import wait_up

ROOT = Path(__file__).resolve().parents[1]
APP_CODE = "SOAK-APP"


PATIENT_MASTER = (
    "import sys, locust.runners, locust.main; locust.runners.HEARTBEAT_LIVENESS = 30; "
    "sys.argv[0] = 'locust'; sys.exit(locust.main.main())"
)
"""Locust's master, marking a worker missing after 30 missed heartbeats instead of 3. A worker's
test start (resuming its slice of the state file) holds its greenlets, heartbeats included, for as
long as it takes: on a busy machine that passed 3 s, the master marked both workers missing and
ended the test before its first request. The soak measures memory, not that."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> float:
    """Resident set size of a process in MB (VmRSS), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def requests_so_far(history: Path) -> int:
    """Locust's cumulative request count, from the last aggregated row of its CSV history."""
    try:
        rows = list(csv.DictReader(history.read_text().splitlines()))
    except OSError:
        return 0
    total = [r for r in rows if r.get("Name") == "Aggregated"]
    return int(total[-1]["Total Request Count"]) if total else 0


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) in MB per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    if var == 0:
        return 0.0
    return 3600 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var


@dataclass
class Series:
    name: str
    pid: int
    samples: list[tuple[float, float]] = field(default_factory=list)

    def verdict(self, since: float) -> tuple[float, float, float, float]:
        """first, last, last/first, slope (MB/h) over the samples from ``since`` (process gone: left out)."""
        kept = [(t, v) for t, v in self.samples if t >= since and v > 0] or self.samples
        fifth = max(1, len(kept) // 5)
        first = sum(v for _, v in kept[:fifth]) / fifth
        last = sum(v for _, v in kept[-fifth:]) / fifth
        return first, last, last / first if first else 0.0, slope_per_hour(kept)


def install_base(url: str, state: Path, population: int, slices: int) -> float:
    """The installed base before the load, one set-up process per worker slice, as ``mobsim run``
    does (``python -m scenarios._setup``): set up inside Locust, at test start, it would hold each
    worker off its heartbeats for as long as it lasts. Returns the seconds it took."""
    started = time.monotonic()
    setups = [
        subprocess.Popen(
            [sys.executable, "-m", "scenarios._setup", "--host", url, "--slice", f"{k}/{slices}", "--app-code",
             APP_CODE, "--population", str(population), "--state-file", str(state)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT,
        )
        for k in range(slices)
    ]  # fmt: skip
    for setup in setups:
        _, err = setup.communicate()
        if setup.returncode != 0:
            raise RuntimeError(f"the installed base's set-up failed: {err.decode(errors='replace')[-1500:]}")
    return time.monotonic() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="load duration (default 30)")
    parser.add_argument("--interval", type=float, default=None, help="seconds between samples (default run/30)")
    parser.add_argument("--warmup", type=float, default=None, help="seconds left out of the verdict (default run/10)")
    parser.add_argument("--workers", type=int, default=2, help="Locust workers (default 2)")
    parser.add_argument("-u", "--users", type=int, default=50, help="Locust users (default 50)")
    parser.add_argument("--population", type=int, default=2000, help="devices (default 2000)")
    parser.add_argument("--think-time", type=float, default=1.0, help="scale of the think times (default 1)")
    parser.add_argument("--memory", action="store_true", help="serve from memory instead of a SQLite file")
    parser.add_argument("--keep", action="store_true", help="keep the logs, Locust's CSV and the database")
    args = parser.parse_args()
    seconds = args.minutes * 60
    interval = args.interval or max(1.0, seconds / 30)
    warmup = args.warmup if args.warmup is not None else seconds / 10

    port, master_port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if k not in ("LOCUST_SKIP_MONKEY_PATCH", "MOBSIM_INSPECT_TOKEN")}
    children: list[subprocess.Popen[bytes]] = []
    load = os.getloadavg()
    print(f"soak: {args.minutes:g} min, {args.workers} workers, {args.users} users, population {args.population}, "
          f"think time {args.think_time:g}, store {'memory' if args.memory else 'SQLite file'}, sample every "
          f"{interval:g} s, warm-up {warmup:g} s; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
          flush=True)  # fmt: skip
    work = Path(tempfile.mkdtemp(prefix="mobsim-soak-"))
    if True:

        def start(argv: list[str], log: str) -> subprocess.Popen[bytes]:
            with (work / log).open("wb") as out:
                proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
            children.append(proc)
            return proc

        try:
            store = ["--memory"] if args.memory else ["--db", str(work / "soak.db")]
            server = start(
                [sys.executable, "-m", "mobsim", "serve", "--port", str(port), *store, "--app-code", APP_CODE],
                "server.log",
            )
            wait_up(url, time.monotonic() + 30)
            state = work / "soak.state"
            setup_s = install_base(url, state, args.population, args.workers)
            print(f"installed base: {args.population} devices in {setup_s:.1f} s, before the load (as mobsim run)",
                  flush=True)  # fmt: skip
            locust = [sys.executable, "-m", "locust", "-f", str(ROOT / "scenarios")]
            master = start(
                [sys.executable, "-c", PATIENT_MASTER, "-f", str(ROOT / "scenarios"), "--master",
                 "--master-bind-host", "127.0.0.1", "--master-bind-port", str(master_port),
                 "--expect-workers", str(args.workers), "--headless", "--only-summary", "-u", str(args.users),
                 "-r", str(max(1, args.users // 5)), "-t", f"{int(seconds)}s", "--stop-timeout", "5",
                 "--host", url, "--app-code", APP_CODE, "--population", str(args.population),
                 "--think-time", str(args.think_time), "--state-file", str(state), "--installed-base", "no",
                 "--csv", str(work / "soak"), "--summary-file", str(work / "summary.json")],
                "master.log",
            )  # fmt: skip
            workers = [
                start([*locust, "--worker", "--master-host", "127.0.0.1", "--master-port", str(master_port)],
                      f"worker{k}.log")
                for k in range(args.workers)
            ]  # fmt: skip
            series = [Series("server", server.pid), Series("master", master.pid), Series("worker 1", workers[0].pid)]
            print(f"{'t s':>7} {'requests':>10} {'server MB':>10} {'master MB':>10} {'worker MB':>10}", flush=True)
            started = time.monotonic()
            next_sample = started
            load_started: float | None = None  # when Locust's first request was counted: the warm-up runs from there
            while master.poll() is None:
                now = time.monotonic()
                if now >= next_sample:
                    t = now - started
                    values = [rss_mb(s.pid) for s in series]
                    for s, v in zip(series, values, strict=True):
                        s.samples.append((t, v))
                    requests = requests_so_far(work / "soak_stats_history.csv")
                    if requests and load_started is None:
                        load_started = t
                    print(f"{t:7.0f} {requests:10d} " + " ".join(f"{v:10.1f}" for v in values), flush=True)
                    next_sample += interval
                time.sleep(min(0.5, max(0.05, next_sample - time.monotonic())))
            for worker in workers:
                worker.wait(timeout=60)
            summary_path = work / "summary.json"
            if master.returncode not in (0, 1) or not summary_path.exists():
                print((work / "master.log").read_text()[-3000:], file=sys.stderr)
                return 1
            summary = json.loads(summary_path.read_text())
            totals = summary["totals"]
            if not totals["requests"]:
                print((work / "worker0.log").read_text()[-3000:], file=sys.stderr)
                print("no request was sent: the worker's log ends as above", file=sys.stderr)
                return 1
            print(f"\nrequests {totals['requests']} ({totals['rps']:.1f}/s), failures {totals['failures']}, "
                  f"p95 {totals['p95']:.0f} ms; master exit code {master.returncode}")  # fmt: skip
            since = (load_started or 0.0) + warmup
            print(f"\nsamples from {since:.0f} s ({warmup:g} s after the first request was counted):")
            print(f"{'':10} {'first MB':>9} {'last MB':>9} {'last/first':>11} {'slope MB/h':>11}")
            for s in series:
                first, last, ratio, slope = s.verdict(since)
                print(f"{s.name:10} {first:9.1f} {last:9.1f} {ratio:11.2f} {slope:11.1f}")
            return 0
        finally:
            for proc in reversed(children):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT)
            for proc in reversed(children):
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if args.keep:
                print(f"logs, Locust's CSV and the database kept in {work}")
            else:
                shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
