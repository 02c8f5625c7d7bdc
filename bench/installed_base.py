"""What the installed base costs: registering a population before the measured window.

``mobsim run`` installs every device of the population (but the ``newinstall`` persona's) before
Locust starts: ``python -m scenarios._setup``, one process per slice, each device living its install
session (registration, launch, a login for the personas that log in, a quick return, background)
on a backdated virtual clock. This bench runs exactly that against ``mobsim serve --memory`` in its
own process on loopback, for each population size asked, and prints side by side:

- wall time and devices per second (what a user waits);
- requests per device and requests per second;
- CPU per device of the set-up processes and of the server (read from ``/proc``), and the ratio
  set-up CPU / server CPU;
- the state file's bytes per device;
- the time for 1,000,000 devices extrapolated from the measured rate, when that size is not run.

Run from the repository root::

    .venv/bin/python bench/installed_base.py                        # 100,000 devices, 2 processes
    .venv/bin/python bench/installed_base.py --devices 10000 100000 1000000 --processes 2
    .venv/bin/python bench/installed_base.py --devices 20000 --processes 1 2   # processes side by side

Nothing here is a timed assertion; a busy machine makes every figure noisy (the load average is
printed first).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _loopback import process_cpu, wait_up

ROOT = Path(__file__).resolve().parents[1]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run_once(devices: int, processes: int) -> dict[str, Any]:
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mobsim", "serve", "--memory", "--port", str(port), "--app-code", "BENCH-APP"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    try:
        wait_up(url, time.monotonic() + 30)
        server_cpu0 = process_cpu(server.pid)
        with tempfile.TemporaryDirectory() as tmp:
            state = Path(tmp) / "base.state"
            started = time.monotonic()
            children = [
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "scenarios._setup",
                        "--host",
                        url,
                        "--slice",
                        f"{k}/{processes}",
                        "--app-code",
                        "BENCH-APP",
                        "--population",
                        str(devices),
                        "--state-file",
                        str(state),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                    cwd=ROOT,
                )
                for k in range(processes)
            ]
            results = []
            for child in children:
                out, err = child.communicate()
                lines = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
                final = [line for line in lines if "result" in line]
                if child.returncode != 0 or not final:
                    raise RuntimeError(f"set-up failed: {err[-1500:]}")
                results.append(final[-1]["result"])
            wall = time.monotonic() - started
            child_cpu = _children_cpu()
            state_bytes = sum(p.stat().st_size for p in Path(tmp).glob("base.state*"))
        server_cpu = process_cpu(server.pid) - server_cpu0
    finally:
        server.terminate()
        server.wait(timeout=30)
        _children_cpu()  # the server's own CPU, read from /proc above, is not the set-up's
    registered = sum(r["registered"] for r in results)
    requests = sum(r["requests"] for r in results)
    return {
        "devices": devices,
        "processes": processes,
        "registered": registered,
        "failed": sum(r["failed"] for r in results),
        "wall_s": wall,
        "devices_per_s": registered / wall,
        "requests_per_device": requests / max(1, registered),
        "rps": requests / wall,
        "setup_cpu_us_per_device": 1e6 * child_cpu / max(1, registered),
        "server_cpu_us_per_device": 1e6 * server_cpu / max(1, registered),
        "state_bytes_per_device": state_bytes / max(1, registered),
    }


_LAST_CHILDREN_CPU = [0.0]


def _children_cpu() -> float:
    """CPU seconds of the children reaped since the previous call."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = usage.ru_utime + usage.ru_stime
    spent, _LAST_CHILDREN_CPU[0] = total - _LAST_CHILDREN_CPU[0], total
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, nargs="+", default=[100_000])
    parser.add_argument("--processes", type=int, nargs="+", default=[2])
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    _children_cpu()
    header = (f"{'devices':>9} {'procs':>5} {'wall s':>8} {'dev/s':>7} {'req/dev':>7} {'req/s':>7} "
              f"{'set-up µs/dev':>13} {'server µs/dev':>13} {'ratio':>5} {'state B/dev':>11}")  # fmt: skip
    print(header)
    rows = []
    for devices in args.devices:
        for processes in args.processes:
            row = run_once(devices, processes)
            rows.append(row)
            ratio = row["setup_cpu_us_per_device"] / max(1.0, row["server_cpu_us_per_device"])
            print(
                f"{row['devices']:>9,} {row['processes']:>5} {row['wall_s']:>8.1f} {row['devices_per_s']:>7.0f} "
                f"{row['requests_per_device']:>7.2f} {row['rps']:>7.0f} {row['setup_cpu_us_per_device']:>13.0f} "
                f"{row['server_cpu_us_per_device']:>13.0f} {ratio:>5.2f} {row['state_bytes_per_device']:>11.0f}"
                + (f"   failed {row['failed']}" if row["failed"] else "")
            )
    if 1_000_000 not in args.devices and rows:
        largest = max(r["devices"] for r in rows)
        best = max((r for r in rows if r["devices"] == largest), key=lambda r: r["devices_per_s"])
        print(f"1,000,000 devices at the best rate measured at {largest:,} ({best['devices_per_s']:.0f}/s, "
              f"{best['processes']} set-up processes): at least {1_000_000 / best['devices_per_s'] / 60:.0f} minutes "
              "(the server's cost per device grows with its size)")  # fmt: skip


if __name__ == "__main__":
    main()
