"""The reference server sending through the loopback providers (``mobsim serve --providers``)
against its built-in hand-off: the cost per message of closing the loop the way a real backend does.

Two real ``mobsim serve --memory --push-latency 0`` processes on 127.0.0.1, one of them with
``--providers`` (FCM, HMS and APNs in the same process, so its CPU figure includes the providers'),
each with the same ``--devices`` virtual devices registered through the Mobile API (a third each
Android, iOS and Huawei, their route in their tokens). Rounds alternate between the two: one
campaign to every installation (``POST /push/3/messages`` to the ``All installations`` segment),
then the feed drained until every message is out (the server's own ``/provider/1/deliveries``, or
the providers' feed). Per mode it prints the wall time from the send to the last delivery and the
server process's CPU per message (from /proc), median of the rounds and their spread, and the
ratio providers / built-in (median of each round's ratio). It asserts nothing.

Run:   .venv/bin/python bench/relay.py                            (about a minute)
       .venv/bin/python bench/relay.py --devices 300 --rounds 2   (a few seconds)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from _loopback import process_cpu

from scenarios import EVERYONE, send_campaign
from simulator import AppConfig, VirtualDevice

ROOT = Path(__file__).resolve().parent.parent
PLATFORMS = ("android", "ios", "huawei")
PROVIDERS = ["--providers", "--providers-port", "0", "--apns-port", "0"]


@dataclass
class Served:
    name: str
    proc: subprocess.Popen[str]
    url: str = ""
    app_code: str = ""
    api_key: str = ""
    feed: str = ""
    wall: list[float] = field(default_factory=list)
    cpu_us: list[float] = field(default_factory=list)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=20)


def start(name: str, extra: list[str]) -> Served:
    command = [sys.executable, "-m", "mobsim", "serve", "--memory", "--port", "0", "--push-latency", "0", *extra]
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ})
    served = Served(name, proc)
    assert proc.stdout is not None
    for line in proc.stdout:
        words = line.split()
        if line.startswith("mobsim reference server on "):
            served.url = words[-1]
        elif line.strip().startswith("app code:"):
            served.app_code = words[2]
        elif line.strip().startswith("Push API key:"):
            served.api_key = words[3]
        elif line.strip().startswith("deliveries"):
            served.feed = words[1]
        elif line.strip().startswith("inspection:"):
            break
    served.feed = served.feed or f"{served.url}/provider/1/deliveries"
    return served


def register(served: Served, devices: int) -> None:
    config = AppConfig(served.app_code, base_url=served.url)
    with httpx.Client() as client:
        for index in range(1, devices + 1):
            device = VirtualDevice.create(PLATFORMS[index % 3], config, seed=index, route=index, transport=client)
            device.start()
            if not device.reg_id:
                raise SystemExit(f"{served.name}: device {index} did not register: {device.last_error}")


def one_round(served: Served, devices: int, bulk: str) -> None:
    headers = {"Authorization": f"App {served.app_code}"}
    cpu0, t0 = process_cpu(served.proc.pid), time.perf_counter()
    record = send_campaign(served.url, served.app_code, served.api_key, EVERYONE, bulk)
    if record.get("messages") != devices:
        raise SystemExit(f"{served.name}: the campaign reached {record.get('messages')} of {devices}: {record}")
    got = 0
    with httpx.Client(timeout=30) as client:
        while got < devices:
            answer = client.get(served.feed, params={"limit": 1000, "wait": 1}, headers=headers)
            got += len(answer.json()["deliveries"])
            if time.perf_counter() - t0 > 300:
                raise SystemExit(f"{served.name}: {got} of {devices} delivered after 300 s")
    served.wall.append(time.perf_counter() - t0)
    served.cpu_us.append((process_cpu(served.proc.pid) - cpu0) / devices * 1e6)


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):8.1f}  ({min(values):.1f}-{max(values):.1f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--devices", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        modes = [
            start("built-in hand-off", []),
            start("through providers", [*PROVIDERS, "--apns-dir", str(Path(folder) / "apns")]),
        ]
        try:
            for served in modes:
                began = time.perf_counter()
                register(served, args.devices)
                print(f"{served.name}: {args.devices} devices registered in {time.perf_counter() - began:.1f} s")
            for number in range(args.rounds):
                for served in modes if number % 2 == 0 else modes[::-1]:
                    one_round(served, args.devices, f"bench-relay-{number}")
        finally:
            for served in modes:
                served.stop()
    print(f"\ncampaign to {args.devices} devices, send to last delivery; median (spread) of {args.rounds} rounds")
    print(f"{'mode':<20} {'wall s':>8}            {'server CPU us/message':>22}")
    for served in modes:
        print(f"{served.name:<20} {spread(served.wall)}   {spread(served.cpu_us)}")
    builtin, relayed = modes
    cpu = statistics.median(r / b for r, b in zip(relayed.cpu_us, builtin.cpu_us, strict=True))
    wall = statistics.median(r / b for r, b in zip(relayed.wall, builtin.wall, strict=True))
    print(f"ratio providers / built-in: server CPU per message {cpu:.2f}, wall {wall:.2f}")


if __name__ == "__main__":
    main()
