"""A small, fast HTTP/1.1 keep-alive load client for benches on loopback (asyncio + uvloop).

It sends pre-built request bytes over N connections and counts answers by status class; the
server runs in another process, whose CPU time is read from ``/proc`` so that a bench can report
server CPU per request, which stays honest even when the client is the bottleneck.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:
    import uvloop
except ImportError:  # pragma: no cover - uvicorn[standard] brings it
    uvloop = None  # type: ignore[assignment]


def http_request(method: str, target: str, headers: dict[str, str], body: Any = None) -> bytes:
    data = b"" if body is None else json.dumps(body, separators=(",", ":")).encode()
    lines = [f"{method} {target} HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(data)}"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


@dataclass
class Result:
    requests: int = 0
    seconds: float = 0.0
    server_cpu: float = 0.0
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def cpu_us(self) -> float:
        return 1e6 * self.server_cpu / self.requests if self.requests else 0.0


def wait_up(url: str, deadline: float) -> None:
    """Until ``url``'s ``/health`` answers (a server a bench started), or ``RuntimeError`` at ``deadline``."""
    import urllib.request

    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url + "/health", timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"mobsim serve did not answer on {url}")


@contextmanager
def fast_server(preexec_fn: Callable[[], None] | None = None) -> Iterator[tuple[int, int]]:
    """(port, pid) of the fast loopback server (``bench/_fastserver.py``) in its own process;
    ``preexec_fn`` runs in the child first (the generator bench pins it to a core)."""
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve().parent / "_fastserver.py"), "0"],
        stdout=subprocess.PIPE, text=True, preexec_fn=preexec_fn,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("PORT "):
            raise RuntimeError(f"the fast server did not start: {line!r}")
        yield int(line.split()[1]), proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_stats(port: int) -> dict[str, int]:
    """The fast server's counters (``GET /bench/stats``: requests, bytes in and out)."""
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/bench/stats", timeout=5) as answer:
        data: dict[str, int] = json.loads(answer.read())
    return data


def process_cpu(pid: int) -> float:
    """User + system CPU seconds of a process (Linux)."""
    with open(f"/proc/{pid}/stat") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _worker(
    host: str, port: int, next_request: Callable[[], bytes | None], deadline: float, result: Result
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            request = next_request()
            if request is None:
                return
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            body = await reader.readexactly(length) if length else b""
            result.requests += 1
            result.statuses[status] += 1
            if status >= 400 and len(result.errors) < 5:
                result.errors.append(f"{status} {body[:200]!r} for {request.split(b' ', 2)[1]!r}")
    finally:
        writer.close()


def drive(
    port: int,
    requests: Iterator[bytes],
    *,
    seconds: float,
    connections: int = 32,
    server_pid: int | None = None,
) -> Result:
    """Send ``requests`` for ``seconds`` (or until they run out) and measure."""
    result = Result()

    def next_request() -> bytes | None:
        return next(requests, None)

    async def main() -> None:
        deadline = time.perf_counter() + seconds
        await asyncio.gather(*(_worker("127.0.0.1", port, next_request, deadline, result) for _ in range(connections)))

    cpu0 = process_cpu(server_pid) if server_pid else 0.0
    start = time.perf_counter()
    if uvloop is not None:
        uvloop.run(main())
    else:  # pragma: no cover
        asyncio.run(main())
    result.seconds = time.perf_counter() - start
    result.server_cpu = (process_cpu(server_pid) - cpu0) if server_pid else 0.0
    return result
