"""What the load generator costs: CPU per simulated request against a bare Locust user, memory of a
million parked devices, and the highest arrival rate one worker holds.

Everything runs in one go against the same fast loopback server (``bench/_fastserver.py``: asyncio
+ uvloop + httptools, canned valid answers, its own process on its own core, bound to 127.0.0.1;
its CPU share is printed to show it is never the bottleneck):

1. **CPU per request.** One Locust process (no ``--processes``), headless, think time 0, 100 users
   (enough to hold it at 100% of one core), pinned to one core. In a fixed window after a warm-up
   the bench reads the child's CPU time from ``/proc/<pid>/stat`` and counts the requests the
   server answered in the same window, for
   - the default mobsim scenario (``locust -f scenarios --think-time 0``, default personas and
     population), and
   - a bare ``FastHttpUser`` posting a JSON body in a loop (``bench/_bare_locustfile.py``), its
     request sized to the scenario's average one (head and body bytes, as the server counted them).
   The scenario's process first installs its installed base (``--installed-base yes``, the default:
   the population registered at test start, before the first user): its warm-up starts once the
   set-up has logged its result, so that the window holds the run's own requests only, and the
   set-up's CPU per device created and registered is printed on its own (start-up a run pays once).
   The two alternate for a few rounds so that drifts of a shared machine hit both; it prints
   requests/s and CPU µs per request of each run and the median ratio scenario / bare (aim: 1.25 or
   lower). Locust's own request count for the whole run (``--summary-file`` / ``--csv``) and the
   child's total CPU (``wait4``, start-up included) are printed beside them as a cross-check.
2. **Memory for one million parked devices in one worker.** Real devices (300, or 2000 without
   ``--quick``) drive one or two persona sessions against the reference server in-process
   (``TestClient``) and are parked; a fresh process then builds ``Population(1_000_000)``, fills
   every slot with a distinct bytes object of those sizes, marks each touched, and reports its RSS
   growth (aim: under 512 MB).
3. **Highest arrival rate with no dropped sessions.** The open model (``--arrival-rate R``, default
   think time, a pool of ``R * 40`` users) runs for a short time at rising rates (then bisects
   after the first drop); the highest rate whose summary has ``arrivals.dropped == 0`` is reported
   with the generator's CPU there. Short runs include the pool's start-up (spawning the users and
   their first connections); the open-file limit caps the rate this bench can try.

Run from the repository root (Linux; two cores or more give the server its own core)::

    .venv/bin/python bench/generator.py             # about four minutes
    .venv/bin/python bench/generator.py --quick     # under a minute: one round, short windows
    .venv/bin/python bench/generator.py --only cpu  # or memory, arrivals (which needs step 1 too)

Benchmarks print ratios measured side by side in one run; they are never timed assertions in tests.
A busy machine (the load average is printed first) makes every figure noisy.
"""

from __future__ import annotations

import argparse
import ast
import csv
import gc
import json
import math
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _loopback import fast_server as loopback_server
from _loopback import server_stats

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
APP_CODE = "BENCH-APP-CODE"
CPUS = sorted(os.sched_getaffinity(0))
# The generator gets the first core, the server the second (when there is one).
GENERATOR_CPU = CPUS[0]
SERVER_CPU = CPUS[1] if len(CPUS) > 1 else CPUS[0]
TICK = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def _pinned(cpu: int) -> Callable[[], None]:
    def pin() -> None:
        os.sched_setaffinity(0, {cpu})

    return pin


# --- the fast server ----------------------------------------------------------------------------
@contextmanager
def fast_server() -> Iterator[tuple[int, int]]:
    """(port, pid) of a fast loopback server in its own process, pinned to its own core."""
    with loopback_server(_pinned(SERVER_CPU)) as found:
        yield found


# --- one Locust child ---------------------------------------------------------------------------
@dataclass
class Measured:
    name: str
    requests: int = 0
    seconds: float = 0.0
    cpu: float = 0.0
    server_cpu: float = 0.0
    bytes_in: int = 0
    body_in: int = 0
    total_cpu: float = 0.0
    """The child's whole CPU time (start-up and imports included), from wait4."""
    locust_requests: int = 0
    locust_failures: int = 0
    locust_seconds: float = 0.0
    summary: dict[str, Any] | None = None
    setup: dict[str, Any] | None = None
    """The installed-base set-up at test start (``--installed-base yes``): its result line, and the
    child's CPU seconds from its first request to that line (``cpu``)."""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return 1e6 * self.cpu / self.requests if self.requests else math.inf

    @property
    def head_bytes(self) -> float:
        return (self.bytes_in - self.body_in) / self.requests if self.requests else 0.0

    @property
    def body_bytes(self) -> float:
        return self.body_in / self.requests if self.requests else 0.0


def run_locust(
    name: str,
    locustfile: str,
    args: Sequence[str],
    *,
    port: int,
    server_pid: int,
    warmup: float,
    window: float,
    workdir: Path,
    env: dict[str, str] | None = None,
    setup: bool = False,
) -> Measured:
    """Run one headless Locust process and measure a window after the first requests + warm-up.

    ``setup``: the process first installs its installed base (test start, before any user): the
    warm-up starts when its result is logged, so that the window holds the run's own requests only;
    the set-up's CPU is measured on its own."""
    run_time = math.ceil(warmup + window + 2)  # Locust's clock starts with its first users
    if setup:  # the shape's clock starts before the set-up: end the run with SIGUSR1 after the window
        run_time += _SETUP_ALLOWANCE
    log = (workdir / f"{name}.log").open("w")
    command = [
        sys.executable, "-m", "locust", "-f", locustfile, "--headless", "--host", f"http://127.0.0.1:{port}",
        "-t", f"{run_time}s", "--only-summary", "--loglevel", "WARNING", "--stop-timeout", "2", *args,
    ]  # fmt: skip
    proc = subprocess.Popen(
        command,
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        preexec_fn=_pinned(GENERATOR_CPU),
    )
    out = Measured(name)
    try:
        first = server_stats(port)["requests"]
        deadline = time.monotonic() + 30
        while server_stats(port)["requests"] == first:  # imports and spawning
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{name}: Locust sent nothing; see {workdir / (name + '.log')}")
            time.sleep(0.05)
        if setup:
            out.setup = _wait_for_setup(proc, workdir / f"{name}.log", name)
        time.sleep(warmup)
        s0, c0, k0, t0 = server_stats(port), process_cpu(proc.pid), process_cpu(server_pid), time.perf_counter()
        time.sleep(window)
        s1, c1, k1, t1 = server_stats(port), process_cpu(proc.pid), process_cpu(server_pid), time.perf_counter()
        if proc.poll() is not None:
            raise RuntimeError(f"{name}: Locust ended inside the window; see {workdir / (name + '.log')}")
        if setup:
            proc.send_signal(signal.SIGUSR1)  # the scenario's end of run, as its run time would end it
        out.requests = s1["requests"] - s0["requests"]
        out.bytes_in = s1["bytes_in"] - s0["bytes_in"]
        out.body_in = s1["body_in"] - s0["body_in"]
        out.seconds, out.cpu, out.server_cpu = t1 - t0, c1 - c0, k1 - k0
        deadline = time.monotonic() + run_time + 30
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                proc.returncode = os.waitstatus_to_exitcode(status)
                out.total_cpu = usage.ru_utime + usage.ru_stime
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name}: Locust did not stop")
            time.sleep(0.05)
    finally:
        if proc.returncode is None:
            proc.kill()
            proc.wait()
        log.close()
    return out


_SETUP_LINE = "installed base: {"
_SETUP_ALLOWANCE = 300
"""Seconds added to the run time of a process that installs its installed base first."""


def _wait_for_setup(proc: subprocess.Popen[bytes], log: Path, name: str) -> dict[str, Any]:
    """The installed base's result (``scenarios._runtime.RunState.establish_base`` logs it), once the
    set-up is over, with the child's CPU seconds from now (its first request) to then."""
    started = process_cpu(proc.pid)
    deadline = time.monotonic() + 600
    while True:
        text = log.read_text(errors="replace")
        at = text.find(_SETUP_LINE)
        if at >= 0 and "}" in text[at:]:
            cpu = process_cpu(proc.pid) - started
            line = text[at + len(_SETUP_LINE) - 1 :].split("\n", 1)[0]
            result: dict[str, Any] = ast.literal_eval(line)
            result["cpu"] = cpu
            return result
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{name}: the installed base never finished; see {log}")
        time.sleep(0.05)


def _csv_totals(prefix: Path) -> tuple[int, int]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["Name"] == "Aggregated":
                return int(row["Request Count"]), int(row["Failure Count"])
    return 0, 0


# --- 1. CPU per request -------------------------------------------------------------------------
def run_scenario(
    name: str, port: int, server_pid: int, *, users: int, warmup: float, window: float, work: Path
) -> Measured:
    summary_file = work / f"{name}.json"
    m = run_locust(
        name,
        str(ROOT / "scenarios"),
        ["-u", str(users), "-r", str(users), "--app-code", APP_CODE, "--think-time", "0",
         "--create-definitions", "no", "--summary-file", str(summary_file)],
        port=port, server_pid=server_pid, warmup=warmup, window=window, workdir=work, setup=True,
    )  # fmt: skip
    m.summary = json.loads(summary_file.read_text())
    totals = m.summary["totals"]
    m.locust_requests, m.locust_failures = totals["requests"], totals["failures"]
    m.locust_seconds = m.summary["duration_s"]
    return m


def run_bare(name: str, port: int, server_pid: int, sizes: dict[str, str], **kw: Any) -> Measured:
    m = run_locust(
        name,
        str(BENCH / "_bare_locustfile.py"),
        ["-u", str(kw["users"]), "-r", str(kw["users"]), "--csv", str(kw["work"] / name)],
        port=port, server_pid=server_pid, warmup=kw["warmup"], window=kw["window"], workdir=kw["work"], env=sizes,
    )  # fmt: skip
    m.locust_requests, m.locust_failures = _csv_totals(kw["work"] / name)
    return m


def measure_cpu(
    port: int, server_pid: int, *, users: int, warmup: float, window: float, rounds: int, work: Path
) -> list[tuple[Measured, Measured]]:
    """``rounds`` pairs (bare, scenario), run alternately so that drifts of the machine hit both."""
    pairs: list[tuple[Measured, Measured]] = []
    sizes: dict[str, str] = {}
    kw: dict[str, Any] = {"users": users, "warmup": warmup, "window": window, "work": work}
    for index in range(rounds):
        scenario = run_scenario(f"scenario-{index}", port, server_pid, **kw)
        if not sizes:  # the bare request is sized to the scenario's average request
            sizes = {
                "MOBSIM_BARE_HEAD_BYTES": str(round(scenario.head_bytes)),
                "MOBSIM_BARE_BODY_BYTES": str(round(scenario.body_bytes)),
            }
        bare = run_bare(f"bare-{index}", port, server_pid, sizes, **kw)
        pairs.append((bare, scenario))
    return pairs


def _pooled(runs: Sequence[Measured], name: str) -> Measured:
    out = Measured(name)
    for m in runs:
        out.requests += m.requests
        out.seconds += m.seconds
        out.cpu += m.cpu
        out.server_cpu += m.server_cpu
        out.bytes_in += m.bytes_in
        out.body_in += m.body_in
        out.total_cpu += m.total_cpu
        out.locust_requests += m.locust_requests
        out.locust_failures += m.locust_failures
    out.summary = runs[-1].summary
    return out


def report_cpu(
    pairs: list[tuple[Measured, Measured]], users: int, warmup: float, window: float
) -> tuple[float, Measured]:
    print(
        f"\n1. CPU per request: one Locust process pinned to one core, {users} users, think time 0; "
        f"{len(pairs)} alternating round(s) of a {window:.0f} s window after a {warmup:.0f} s warm-up"
    )
    print(
        f"   {'':<24}{'req/s':>8}{'CPU us/req':>12}{'gen CPU':>9}{'server CPU':>12}"
        f"{'req head+body B':>17}   Locust's own count: requests (failures), CPU incl. start-up"
    )

    def row(label: str, m: Measured) -> None:
        print(
            f"   {label:<24}{m.rps:>8.0f}{m.cpu_us:>12.1f}{m.cpu / m.seconds:>9.0%}{m.server_cpu / m.seconds:>12.0%}"
            f"{m.head_bytes:>11.0f} + {m.body_bytes:<3.0f}   {m.locust_requests} ({m.locust_failures}), "
            f"{m.total_cpu:.1f} s"
        )

    ratios = []
    for index, (bare, scenario) in enumerate(pairs):
        row(f"bare FastHttpUser #{index + 1}", bare)
        row(f"mobsim scenario   #{index + 1}", scenario)
        ratios.append(scenario.cpu_us / bare.cpu_us)
    ratio = statistics.median(ratios)
    bare_all = _pooled([b for b, _ in pairs], "bare")
    scenario_all = _pooled([s for _, s in pairs], "scenario")
    each = ", ".join(f"{r:.2f}" for r in ratios)
    print(
        f"   CPU per request, all rounds: bare {bare_all.cpu_us:.1f} us, scenario {scenario_all.cpu_us:.1f} us; "
        f"ratio scenario / bare {ratio:.2f} (median of {each}) (aim: 1.25 or lower)"
    )
    for index, (_, scenario) in enumerate(pairs):
        done = scenario.setup
        if done and done.get("devices"):
            devices, requests = done["devices"], max(1, done.get("requests", 0))
            print(
                f"   installed base #{index + 1} (test start, before the window): {devices} devices, {requests} "
                f"requests in {done.get('seconds', 0):.1f} s; {1e3 * done['cpu'] / devices:.2f} ms of CPU per device "
                f"created and registered ({1e6 * done['cpu'] / requests:.0f} us per request)"
            )
    if scenario_all.summary:
        sessions = scenario_all.summary["sessions"]
        per_session = scenario_all.summary["totals"]["requests"] / max(1, sessions["sessions"])
        print(
            f"   scenario (last round): {sessions['sessions']} sessions, {per_session:.1f} requests per session, "
            f"{scenario_all.summary['devices_touched']} devices touched, {sessions['aborted']} aborted"
        )
    return ratio, scenario_all


# --- 2. memory ----------------------------------------------------------------------------------
def sample_blobs(count: int) -> list[bytes]:
    """Park ``count`` real devices after one or two persona sessions against the reference server."""
    import warnings
    from datetime import UTC, datetime

    sys.path.insert(0, str(ROOT))
    sys.modules.pop("server_stub", None)  # an old editable install may map it as a namespace package
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    import random

    from scenarios import Population, Session, Tally, no_expectations, run_session
    from server_stub import create_app
    from simulator import AppConfig, VirtualClock

    clock = VirtualClock()
    app = create_app(memory=True, app_codes=[APP_CODE], clock=lambda: datetime.fromtimestamp(clock.now(), UTC))
    rng, tally = random.Random(1), Tally()
    with TestClient(app) as client:
        population = Population(count, 1, AppConfig(APP_CODE, base_url=str(client.base_url)), clock=clock)
        personas = list(population.personas)
        for round_ in range(2):  # everyone once, then half of them come back
            for persona in personas:
                for _ in range(population.available(persona) // (1 + round_)):
                    got = population.checkout(persona, client)
                    if got is None:
                        break
                    index, device = got

                    def pause(seconds: float, device: Any = device) -> None:
                        device.advance(seconds)

                    run_session(persona, Session(device, index, population, rng, pause, tally, no_expectations))
                    population.park(index, device)
        return [blob for _, blob in population.parked()]


def _rss() -> int:
    gc.collect()
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def memory_child(samples_path: str, count: int) -> None:
    """In a fresh process: RSS growth of a Population of ``count`` devices, all parked."""
    from scenarios import Population
    from simulator import AppConfig

    samples = [bytes.fromhex(line) for line in Path(samples_path).read_text().split()]
    base = _rss()
    population = Population(count, 1, AppConfig(APP_CODE, base_url="http://127.0.0.1:1"))
    empty = _rss()
    n = len(samples)
    for index in range(count):
        # A distinct bytes object per device, as park() stores: the copy is made by bytes(memoryview).
        population._parked[index] = bytes(memoryview(samples[index % n]))
        population.touched.add(index)
    full = _rss()
    payload = sum(len(population._parked[i] or b"") for i in range(count))
    print(json.dumps({"devices": count, "base": base, "empty": empty, "full": full, "payload": payload}))


def measure_memory(count: int, samples: int, work: Path) -> dict[str, Any]:
    began = time.perf_counter()
    blobs = sample_blobs(samples)
    sampled = time.perf_counter() - began
    path = work / "blobs.txt"
    path.write_text("\n".join(blob.hex() for blob in blobs))
    answer = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(path), str(count)],
        capture_output=True, text=True, timeout=600, check=True, cwd=ROOT,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(answer.stdout.strip().splitlines()[-1])
    result["samples"] = len(blobs)
    result["sample_seconds"] = sampled
    return result


def report_memory(m: dict[str, Any]) -> float:
    devices = m["devices"]
    total = m["full"] - m["base"]
    structure = m["empty"] - m["base"]
    print(f"\n2. Memory: {devices:,} parked devices in one worker (blob sizes from {m['samples']} real devices)")
    print(
        f"   RSS growth {total / 2**20:.0f} MB = {total / devices:.0f} bytes per device "
        f"(population structure {structure / 2**20:.0f} MB; parked records {m['payload'] / devices:.0f} bytes "
        f"on average) (aim: under 512 MB)"
    )
    return float(total)


# --- 3. arrival rate ----------------------------------------------------------------------------
def try_rate(rate: float, port: int, server_pid: int, seconds: float, work: Path) -> dict[str, Any]:
    users = max(50, round(rate * 40))
    summary_file = work / f"arrivals-{rate:g}.json"
    m = run_locust(
        f"arrivals-{rate:g}",
        str(ROOT / "scenarios"),
        ["-u", str(users), "-r", str(users), "--app-code", APP_CODE, "--arrival-rate", f"{rate:g}",
         "--create-definitions", "no", "--summary-file", str(summary_file)],
        port=port, server_pid=server_pid, warmup=1.0, window=seconds - 1.0, workdir=work,
    )  # fmt: skip
    summary = json.loads(summary_file.read_text())
    arrivals = summary.get("arrivals", {})
    return {
        "rate": rate,
        "users": users,
        "dropped": int(arrivals.get("dropped", -1)),
        "started": int(arrivals.get("started", 0)),
        "achieved": float(arrivals.get("achieved_rate", 0.0)),
        "cpu": m.cpu / m.seconds if m.seconds else 0.0,
        "rps": m.rps,
        "failures": summary["totals"]["failures"],
    }


def measure_arrivals(estimate: float, port: int, server_pid: int, *, steps: int, seconds: float, work: Path) -> Any:
    """Walk up (x1.4) from a fifth of the think-time-0 estimate while nothing drops, then bisect.

    The pool is capped by the open-file limit: a session in flight holds its user's connection for
    about 25 s, so ``rate * 28`` descriptors must be available to Locust (and to the server)."""
    cap = max(10, resource.getrlimit(resource.RLIMIT_NOFILE)[0] // 28)
    rate = min(cap, max(10, round(estimate * 0.2)))
    tried: list[dict[str, Any]] = []
    best, worst = 0.0, math.inf
    for _ in range(steps):
        result = try_rate(rate, port, server_pid, seconds, work)
        tried.append(result)
        print(
            f"   {rate:>6g} sessions/s, {result['users']:>6} users: dropped {result['dropped']:>5}, "
            f"started {result['started']:>6} ({result['achieved']:.0f}/s), {result['rps']:.0f} req/s, "
            f"generator CPU {result['cpu']:.0%}{' (saturated: sessions stretch)' if result['cpu'] > 0.95 else ''}",
            flush=True,
        )
        if result["dropped"] == 0:
            best = max(best, rate)
        else:
            worst = min(worst, rate)
        if worst == math.inf:
            if rate >= cap:
                break
            rate = min(cap, round(rate * 1.4))
        else:
            if worst - best <= max(5.0, best * 0.08):
                break
            rate = round((best + worst) / 2) if best else max(5, round(rate * 0.6))
    return best, worst, tried, cap


# --- main ---------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows, fewer steps (under a minute)")
    parser.add_argument("--only", choices=["cpu", "memory", "arrivals"], help="run one part")
    parser.add_argument("--users", type=int, default=100, help="users for the CPU phase (default 100)")
    parser.add_argument("--rounds", type=int, default=0, help="alternating bare/scenario rounds (default 2; 1 quick)")
    parser.add_argument("--devices", type=int, default=1_000_000, help="parked devices (default 1,000,000)")
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], int(args.memory_child[1]))
        return
    quick = args.quick
    # The warm-up starts once the installed base is in (run_locust: setup), so it covers the first sessions only.
    warmup, window = (6.0, 4.0) if quick else (6.0, 10.0)
    rounds = args.rounds or (1 if quick else 2)
    began = time.perf_counter()
    os.sched_setaffinity(0, {SERVER_CPU})  # keep this process off the generator's core
    load = os.getloadavg()[0]
    print(
        f"generator bench on {len(CPUS)} cores (generator on core {GENERATOR_CPU}, server on core {SERVER_CPU})"
        + (" --quick" if quick else "")
        + f"; load average {load:.2f}"
        + (" (busy machine: figures will be noisy)" if load > 0.7 else "")
    )
    with tempfile.TemporaryDirectory(prefix="mobsim-generator-") as tmp:
        work = Path(tmp)
        with fast_server() as (port, server_pid):
            estimate = 0.0
            if args.only in (None, "cpu", "arrivals"):
                pairs = measure_cpu(
                    port, server_pid, users=args.users, warmup=warmup, window=window, rounds=rounds, work=work
                )
                _, scenario = report_cpu(pairs, args.users, warmup, window)
                if scenario.summary:
                    totals = scenario.summary["totals"]["requests"]
                    per_session = totals / max(1, scenario.summary["sessions"]["sessions"])
                    estimate = 1e6 / (scenario.cpu_us * per_session)
            if args.only in (None, "memory"):
                report_memory(measure_memory(args.devices, 300 if quick else 2000, work))
            if args.only in (None, "arrivals"):
                seconds = 6.0 if quick else 25.0
                steps = 2 if quick else 4
                print(
                    f"\n3. Arrival rate: open model, default think time, {seconds:.0f} s per rate (the pool's start-up "
                    f"included), a pool of rate x 40 users; think-time-0 estimate from step 1: {estimate:.0f}/s"
                )
                best, worst, tried, cap = measure_arrivals(
                    estimate, port, server_pid, steps=steps, seconds=seconds, work=work
                )
                at = next((t for t in tried if t["rate"] == best), None)
                above = f"; {worst:g}/s dropped sessions" if worst != math.inf else ""
                capped = f" (the open-file limit caps this bench at {cap}/s)" if best >= cap else ""
                cpu = f", generator CPU {at['cpu']:.0%} there" if at else ""
                print(f"   highest arrival rate with 0 dropped: {best:g} sessions/s{cpu}{above}{capped}")
    print(f"\n(bench took {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
