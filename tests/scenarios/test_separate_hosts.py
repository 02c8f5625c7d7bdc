"""The Locust master and its workers on separate hosts: network namespaces on this one machine.

Three namespaces joined by a bridge inside the first: ``10.77.0.1`` holds ``mobsim serve`` and
the Locust master, ``10.77.0.2`` and ``10.77.0.3`` a worker each (``ip netns exec``). Each has
only its own address and loopback, so a worker can reach the master and the server only over the
bridge, as from another machine. The namespaces have no route out and the host's own network is
not touched: nothing leaves the machine. Needs root and ``ip netns``; skipped otherwise, with the
reason. The namespaces are deleted even when the test fails.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from contract.headers import INSPECT_TOKEN_ENV
from mobsim.run_report import reconcile
from scenarios import Population, Slice, merge_parts
from simulator import AppConfig

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="`ip` (iproute2) is not installed: no `ip netns`"),
]

SERVER = "10.77.0.1"
WORKERS = ("10.77.0.2", "10.77.0.3")
PORT, MASTER_PORT = 8080, 5557
APP_CODE = "SEPARATE-HOSTS"
POPULATION, SEED = 200, 5
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
TOKEN = "separate-hosts-inspect-token"
"""The server binds off loopback, so its inspection API needs a token: every process
gets it from the environment (MOBSIM_INSPECT_TOKEN, contract/headers.py)."""


def _ip(*args: str) -> None:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")


class Hosts:
    """The namespaces (the first holds the bridge) and the processes started in them."""

    def __init__(self, tag: str) -> None:
        self.names = [f"mobsim{tag}s", *(f"mobsim{tag}w{k}" for k in range(1, len(WORKERS) + 1))]
        self.processes: list[subprocess.Popen[bytes]] = []

    def create(self) -> None:
        first = self.names[0]
        for name in self.names:
            _ip("netns", "add", name)
            _ip("-n", name, "link", "set", "lo", "up")
        _ip("-n", first, "link", "add", "br0", "type", "bridge")
        _ip("-n", first, "addr", "add", f"{SERVER}/24", "dev", "br0")
        _ip("-n", first, "link", "set", "br0", "up")
        for k, (name, address) in enumerate(zip(self.names[1:], WORKERS, strict=True), start=1):
            _ip("-n", first, "link", "add", f"v{k}", "type", "veth", "peer", "name", "eth0", "netns", name)
            _ip("-n", first, "link", "set", f"v{k}", "master", "br0")
            _ip("-n", first, "link", "set", f"v{k}", "up")
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", "eth0")
            _ip("-n", name, "link", "set", "eth0", "up")

    def start(self, host: int, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}  # Locust patches as usual
        env[INSPECT_TOKEN_ENV] = TOKEN
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.names[host], *argv],
                stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
            )  # fmt: skip
        self.processes.append(proc)
        return proc

    def run(self, host: int, argv: list[str]) -> str:
        """A short command in a namespace; its standard output."""
        env = {**os.environ, INSPECT_TOKEN_ENV: TOKEN}
        proc = subprocess.run(
            ["ip", "netns", "exec", self.names[host], *argv], capture_output=True, timeout=30, env=env
        )
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
        return proc.stdout.decode()

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        for name in self.names:
            subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=10)


@pytest.fixture
def hosts() -> Iterator[Hosts]:
    made = Hosts(str(os.getpid()))
    try:
        try:
            made.create()
        except RuntimeError as exc:
            pytest.skip(f"cannot build the network namespaces here: {exc}")
        yield made
    finally:
        made.close()


def _wait_for(path: Path, text: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while text not in path.read_text(errors="replace"):
        assert proc.poll() is None, f"exited {proc.returncode} before {text!r}:\n{path.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"no {text!r} in {timeout} s:\n{path.read_text()[-3000:]}"
        time.sleep(0.05)


def _peers(pid: int, port: int) -> set[str]:
    """Remote IPv4 addresses of the established TCP connections to a local port, from the
    connection table of the network namespace process ``pid`` is in."""
    peers = set()
    for line in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, remote, state = fields[1], fields[2], fields[3]
        if state == "01" and int(local.split(":")[1], 16) == port:
            raw = bytes.fromhex(remote.split(":")[0])
            peers.add(".".join(str(b) for b in reversed(raw)))
    return peers


def _locust(*args: str) -> list[str]:
    return [sys.executable, "-m", "locust", "-f", str(SCENARIOS), *args]


def test_workers_on_their_own_hosts_drive_disjoint_slices_and_the_counts_reconcile(
    hosts: Hosts, tmp_path: Path
) -> None:
    server_log, master_log = tmp_path / "server.log", tmp_path / "master.log"
    summary, state = tmp_path / "summary.json", tmp_path / "state.bin"
    server = hosts.start(0, [sys.executable, "-m", "mobsim", "serve", "--host", SERVER, "--port", str(PORT),
                             "--memory", "--app-code", APP_CODE, "--log-level", "info", "--access-log"],
                         server_log)  # fmt: skip
    _wait_for(server_log, "Started server process", server)
    # No installed base: every registration is then a session's, counted by the devices, so the
    # reconciliation is exact (the set-up's own requests are not in the devices' counts).
    # The target is off loopback. Under Locust the target policy is the remote-target cap (50
    # requests/s; there is no --allow-remote-target, which is `mobsim run`'s): these private
    # addresses are the test's own, on this machine, so --max-rps 0 lifts it.
    master = hosts.start(0, _locust(
        "--master", "--master-bind-host", SERVER, "--master-bind-port", str(MASTER_PORT), "--expect-workers", "2",
        "--expect-workers-max-wait", "30", "--headless", "--only-summary", "-u", "10", "-r", "10", "-t", "5s",
        "--stop-timeout", "5", "--host", f"http://{SERVER}:{PORT}", "--app-code", APP_CODE,
        "--population", str(POPULATION), "--seed", str(SEED), "--think-time", "0.2", "--max-rps", "0",
        "--state-file", str(state), "--summary-file", str(summary), "--installed-base", "no",
    ), master_log)  # fmt: skip
    workers = [
        hosts.start(k, _locust("--worker", "--master-host", SERVER, "--master-port", str(MASTER_PORT)),
                    tmp_path / f"worker{k}.log")
        for k in range(1, len(WORKERS) + 1)
    ]  # fmt: skip
    connected: set[str] = set()
    deadline = time.monotonic() + 60
    while master.poll() is None:
        assert time.monotonic() < deadline, master_log.read_text()[-3000:]
        if connected != set(WORKERS):
            connected |= _peers(master.pid, MASTER_PORT)
        time.sleep(0.1)
    assert master.returncode == 0, master_log.read_text()[-3000:]
    for k, worker in enumerate(workers, start=1):
        assert worker.wait(timeout=20) == 0, (tmp_path / f"worker{k}.log").read_text()[-3000:]
    # The master saw each worker connect from that worker's own address.
    assert connected == set(WORKERS), connected

    # The server was driven from both worker addresses, and from nowhere else but the master's own
    # host (the event definitions, created by the master).
    sources = Counter(re.findall(r"(\d+\.\d+\.\d+\.\d+):\d+ - \"", server_log.read_text()))
    assert set(sources) <= {SERVER, *WORKERS}, sources
    assert all(sources[address] > 0 for address in WORKERS), sources

    # Each worker drove its own slice: device index modulo 2 is the worker's index.
    touched = []
    for k in range(2):
        population = Population(POPULATION, SEED, AppConfig("x"), slice_=Slice(k, 2))
        loaded = population.load(tmp_path / f"state.bin.{k}of2")
        indices = {index for index, _ in population.parked()}
        assert loaded == len(indices) > 0
        assert all(index % 2 == k for index in indices)
        touched.append(indices)
    assert not touched[0] & touched[1]

    # What the workers had acknowledged (each its own final counts) is what the server stored.
    parts: list[dict[str, Any]] = [json.loads((tmp_path / f"summary.json.part-{k}of2").read_text()) for k in range(2)]
    assert sorted(tuple(p["slice"]) for p in parts) == [(0, 2), (1, 2)]
    merged = merge_parts(parts)
    # Asked from the server's host, as `mobsim run` asks (with the token from the environment).
    stored = json.loads(hosts.run(0, [sys.executable, "-c", (
        "import json; from mobsim.run_report import stored_counts; "
        f"print(json.dumps(stored_counts('http://{SERVER}:{PORT}', '{APP_CODE}')))"
    )]))  # fmt: skip
    assert stored is not None, "the server's inspection API did not answer"
    rec = reconcile(merged["acknowledged"], merged["pending"], dict.fromkeys(stored, 0), stored)
    assert rec["agree"] is True, rec
    rows = {row["kind"]: row for row in rec["rows"]}
    assert rows["installs"]["stored"] == len(touched[0]) + len(touched[1])
    assert rows["personalizations"]["stored"] + rows["events"]["stored"] > 0
    result = json.loads(summary.read_text())
    assert result["totals"]["requests"] > 0 and result["totals"]["failures"] == 0, result["errors"]
