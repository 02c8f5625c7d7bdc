"""Push providers on loopback (issue 14): accepted sends per server CPU second, and one campaign.

What it measures, side by side in one run, against the real servers the bench starts on 127.0.0.1
(``mobsim providers --port 0 --apns-port 0 --latency 0`` in its own process: FCM and HMS on uvicorn
as the command runs them, APNs on its HTTP/2 + TLS thread in the same process), with this process
as the client:
- FCM (``POST /v1/projects/{project}/messages:send``), HMS (``POST /v1/{appId}/messages:send``,
  one token a request) and APNs (``POST /3/device/{token}`` over HTTP/2, token auth): rounds
  alternate between the three; each round sends ``--requests`` and reads the server's CPU from
  /proc. It prints, per provider, accepted sends per server CPU second (median of the rounds and
  their spread) and the ratio to FCM (the median of each round's ratio, so drift cancels);
- ``--campaign N``: on a fresh server, one campaign of N device tokens (the virtual devices' FCM
  tokens, their route in them: contract/messages.py ``token_route``) sent through FCM as a backend
  would (one request per token, 64 connections at once), then the journal's verify (every token
  exactly one message) and the deliveries feed drained; wall time, server CPU, sends/s, verdict.

The client (stdlib asyncio for HTTP/1.1, httpx with h2 for APNs) shares the 2 cores with the server,
so the wall-clock rates are the client's as much as the server's; the per-CPU-second figures are the
server's alone. It asserts nothing.

Run:   .venv/bin/python bench/providers.py                       (about half a minute)
       .venv/bin/python bench/providers.py --requests 500 --rounds 3 --campaign 2000   (a few seconds)
       .venv/bin/python bench/providers.py --campaign 100000     (the issue's 100,000 devices)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
import jwt
from _loopback import drive, http_request, process_cpu

from contract.dialect import Platform
from contract.messages import Message, fcm_data, hms_data
from simulator.tokens import push_token

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "mobsim-bench"
HMS_APP = "101234567"
AUD = "https://oauth2.googleapis.com/token"
SCOPE = "https://www.googleapis.com/auth/firebase.messaging"
ROUTES = 1000  # distinct devices the rate rounds cycle over
CAMPAIGN_CONNECTIONS = 64


@dataclass
class Server:
    proc: subprocess.Popen[str]
    port: int
    apns_url: str
    apns_dir: Path

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_server(folder: Path) -> Server:
    command = [sys.executable, "-m", "mobsim", "providers", "--port", "0", "--apns-port", "0",
               "--apns-dir", str(folder / "apns"), "--latency", "0", "--project", PROJECT]  # fmt: skip
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    port, apns_url = 0, ""
    for line in proc.stdout:
        if line.startswith("mobsim providers on "):
            port = int(line.rsplit(":", 1)[1])
        elif line.strip().startswith("APNs"):
            apns_url = line.split()[1]
        elif line.strip().startswith("faults"):
            break
    if not port or not apns_url:
        proc.terminate()
        raise SystemExit("bench: mobsim providers did not start (run it by hand to see why)")
    return Server(proc, port, apns_url, folder / "apns")


def b64(data: bytes) -> str:
    import base64

    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def fcm_access(port: int) -> str:
    """An access token from the FCM token endpoint (no service account given: any well-formed assertion)."""
    now = int(time.time())
    claims = (
        f'{{"iss":"bench@p.iam.gserviceaccount.com","aud":"{AUD}","scope":"{SCOPE}","iat":{now},"exp":{now + 3600}}}'
    )
    header = b64(b'{"alg":"RS256","typ":"JWT"}')
    assertion = f"{header}.{b64(claims.encode())}.c2lnbmF0dXJl"
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion}
    answer = httpx.post(f"http://127.0.0.1:{port}/token", data=grant, timeout=10)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def hms_access(port: int) -> str:
    grant = {"grant_type": "client_credentials", "client_id": HMS_APP, "client_secret": "bench"}
    answer = httpx.post(f"http://127.0.0.1:{port}/oauth2/v3/token", data=grant, timeout=10)
    answer.raise_for_status()
    return str(answer.json()["access_token"])


def token(platform: Platform, route: int) -> str:
    return push_token(platform, 7, route, 0, route=route)


def fcm_requests(access: str, tokens: list[str], campaign: str | None) -> Iterator[bytes]:
    headers = {"Authorization": f"Bearer {access}"}
    target = f"/v1/projects/{PROJECT}/messages:send"
    for i, device in enumerate(tokens):
        data = fcm_data(Message(message_id=f"m-{i}", text="Hello", title="Hi", bulk_id=campaign))
        yield http_request("POST", target, headers, {"message": {"token": device, "data": data}})


def hms_requests(access: str, tokens: list[str]) -> Iterator[bytes]:
    headers = {"Authorization": f"Bearer {access}"}
    for i, device in enumerate(tokens):
        data = hms_data(Message(message_id=f"m-{i}", text="Hello", title="Hi", bulk_id=None))
        yield http_request(
            "POST", f"/v1/{HMS_APP}/messages:send", headers, {"message": {"token": [device], "data": data}}
        )


def apns_round(server: Server, tokens: list[str], streams: int) -> tuple[int, float]:
    """(accepted, server CPU seconds) of one APNs round: ``streams`` concurrent HTTP/2 streams on one connection."""
    key = (server.apns_dir / "AuthKey_MOBSIMKEY1.p8").read_text()
    signed = jwt.encode({"iss": "MOBSIMTEAM", "iat": int(time.time())}, key, algorithm="ES256",
                        headers={"kid": "MOBSIMKEY1"})  # fmt: skip
    headers = {"authorization": f"bearer {signed}", "apns-topic": "com.example.app"}
    trust = ssl.create_default_context(cafile=str(server.apns_dir / "ca.pem"))
    body = b'{"aps":{"alert":"Hello"}}'
    queue = iter(tokens)
    accepted = 0

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        for device in queue:
            answer = await client.post(f"{server.apns_url}/3/device/{device}", content=body, headers=headers)
            accepted += answer.status_code == 200

    async def main() -> None:
        limits = httpx.Limits(max_connections=1)
        async with httpx.AsyncClient(http2=True, verify=trust, timeout=30, limits=limits) as client:
            await client.get(f"{server.apns_url}/")  # the TLS handshake, outside the measure
            cpu.append(process_cpu(server.proc.pid))
            await asyncio.gather(*(worker(client) for _ in range(streams)))

    cpu: list[float] = []
    asyncio.run(main())
    return accepted, process_cpu(server.proc.pid) - cpu[0]


def rates(server: Server, requests: int, rounds: int, connections: int) -> dict[str, list[float]]:
    """Accepted sends per server CPU second, per provider, one value a round (alternating)."""
    fcm, hms = fcm_access(server.port), hms_access(server.port)
    found: dict[str, list[float]] = {"FCM": [], "HMS": [], "APNs": []}
    for _ in range(rounds):
        for name in found:
            routes = [1 + i % ROUTES for i in range(requests)]
            if name == "APNs":
                accepted, cpu = apns_round(server, [token(Platform.IOS, r) for r in routes], connections)
            else:
                if name == "FCM":
                    sends = fcm_requests(fcm, [token(Platform.ANDROID, r) for r in routes], None)
                else:
                    sends = hms_requests(hms, [token(Platform.HUAWEI, r) for r in routes])
                result = drive(server.port, sends, seconds=600, connections=connections, server_pid=server.proc.pid)
                accepted, cpu = result.statuses[200], result.server_cpu
                if result.errors:
                    print(f"  {name}: {result.errors[0]}", file=sys.stderr)
            found[name].append(accepted / cpu if cpu else 0.0)
    return found


def campaign(folder: Path, count: int, connections: int) -> None:
    server = start_server(folder / "campaign")
    try:
        tokens = [token(Platform.ANDROID, route) for route in range(1, count + 1)]
        sends = fcm_requests(fcm_access(server.port), tokens, "bench-campaign")
        result = drive(server.port, sends, seconds=3600, connections=connections, server_pid=server.proc.pid)
        base = f"http://127.0.0.1:{server.port}"
        verdict = httpx.get(f"{base}/journal/verify", timeout=600).json()
        reached = verdict["summary"]["campaigns"].get("bench-campaign", {"messages": 0, "tokens": 0})
        started, drained = time.perf_counter(), 0
        while True:
            page = httpx.get(f"{base}/provider/1/deliveries?limit=1000", timeout=60).json()["deliveries"]
            if not page:
                break
            drained += len(page)
        drain_s = time.perf_counter() - started
    finally:
        server.stop()
    ok = verdict["ok"] and reached == {"messages": count, "tokens": count} and drained == count
    print(f"\ncampaign of {count:,} FCM tokens ({connections} connections, one request per token)")
    print(f"  sends: {result.statuses[200]:,} accepted in {result.seconds:.1f} s wall "
          f"({result.statuses[200] / result.seconds:,.0f} sends/s), server CPU {result.server_cpu:.1f} s "
          f"({result.statuses[200] / result.server_cpu:,.0f} sends per CPU second)")  # fmt: skip
    print(f"  verify: {'ok' if verdict['ok'] else 'FAILED'}: {reached['tokens']:,} tokens, "
          f"{reached['messages']:,} messages; {len(verdict['problems'])} problem(s)")  # fmt: skip
    print(f"  feed: {drained:,} deliveries drained in {drain_s:.1f} s")
    print(f"  campaign: {'every token exactly one message, all handed to the devices' if ok else 'INCOMPLETE'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000, help="sends per provider per round (default 2000)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--connections", type=int, default=16,
                        help="concurrent connections (HTTP/2 streams for APNs; default 16)")  # fmt: skip
    parser.add_argument("--campaign", type=int, default=10_000, metavar="N",
                        help="devices in the campaign (default 10,000; 0 skips; the issue asks 100,000)")  # fmt: skip
    args = parser.parse_args()
    print(f"providers bench: {args.rounds} rounds x {args.requests} sends per provider, "
          f"{args.connections} connections, {os.cpu_count()} CPUs, loopback")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mobsim-bench-providers-") as tmp:
        folder = Path(tmp)
        server = start_server(folder / "rates")
        try:
            found = rates(server, args.requests, args.rounds, args.connections)
        finally:
            server.stop()
        print(f"\n{'provider':<9} {'sends/CPU s (median)':>21} {'spread (min-max)':>18} {'ratio to FCM':>13}")
        for name, values in found.items():
            ratios = [v / f for v, f in zip(values, found["FCM"], strict=True) if f]
            ratio = statistics.median(ratios) if ratios else 0.0
            print(f"{name:<9} {statistics.median(values):>21,.0f} {min(values):>8,.0f}-{max(values):<9,.0f} "
                  f"{ratio:>13.2f}")  # fmt: skip
        if args.campaign:
            campaign(folder, args.campaign, CAMPAIGN_CONNECTIONS)


if __name__ == "__main__":
    main()
