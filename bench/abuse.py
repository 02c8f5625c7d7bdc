"""What hostile or careless clients do to a normal client of ``mobsim serve``, side by side in one run.

Starts ``mobsim serve --db <temporary file> --port 0 --request-timeout 5`` as a subprocess (its URL
and app code read from the banner it prints) over a population of ``--persons`` persons, built
into the file first by ``bench/segments.py``'s builder (installations, App Launch and purchase
events: a second instead of minutes of Mobile API calls). The server starts with a soft open-file
limit of ``--server-nofile`` (1,024, a common default; the hard limit is left as it is) so that its
own raise of that limit shows. A normal client, a simulated Android device (``simulator``,
``VirtualDevice.save_user``: the SDK's user ``PATCH``, or ``--normal get``: its user ``GET``),
sends ``--requests`` requests, one every ``--interval`` ms, alone and then beside each abuse:

1. ``heavy``: two clients looping a 100-condition ``/inspect/persons/query`` that walks every
   person (99 ``LAST`` App Launch conditions and one of an event nobody has): their answers are
   counted (``422`` after the 2 s budget: docs/segments.md "Limits and the time budget");
2. ``plain``: two clients looping a plain persons query (``tier`` = gold, 100 a page);
3. ``slowloris``: ``--slowloris`` connections each sending a header byte a second; how many of
   them the server closed (``--request-timeout``: docs/serve.md "Connections") and when;
4. ``flood``: ``--floods`` connections sending endless headers (16 KiB at a time, reconnecting
   after each answer); the server's RSS and peak RSS (``/proc/<pid>/status``) before and after,
   and what each connection got (``431`` after ``--max-header-bytes``);
5. ``idle``: ``--idle`` silent connections, more than the server's starting descriptor limit
   would hold: the normal client's failures beside them, the server's open descriptors and its
   raised limit (``--max-connections``);

then one keep-alive connection that gets a ``400`` and sends another request on it (a 4xx or 500
answer keeps the connection open). It prints one row per scenario (median, p99 and max latency
of the normal client, failures, alone and beside) with the ratio of p99 beside to p99 alone, and
what each abuse got. Everything is on loopback; nothing is asserted; the load average is printed
first, since a busy machine makes every figure noisy.

Run from the repository root::

    .venv/bin/python bench/abuse.py                         # 5,000 persons, about a minute
    .venv/bin/python bench/abuse.py --persons 20000 --requests 400
    .venv/bin/python bench/abuse.py --only heavy idle       # some of the scenarios
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import queue
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from segments import build

from simulator import VirtualDevice
from simulator.core import AppConfig

REPO = Path(__file__).resolve().parent.parent
QUERY = "/inspect/persons/query"
HEAVY = {
    "events": [{"definitionId": "AppLaunch", "timelineCondition": {"occurred": "LAST", "operator": "EMPTY"}}] * 99
    + [{"definitionId": "neverSent"}]
}
PLAIN = {"filter": {"customAttributes.tier": "gold"}, "limit": 100}
SCENARIOS = ("heavy", "plain", "slowloris", "flood", "idle", "error")


# --- the server process ----------------------------------------------------------------------
class Server:
    """``mobsim serve`` in a subprocess; its URL and app code from the banner it prints."""

    def __init__(self, db: Path, folder: Path, request_timeout: float, nofile: int) -> None:
        def lower_limit() -> None:  # in the child, before exec: the limit many systems start with
            if nofile:
                hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
                resource.setrlimit(resource.RLIMIT_NOFILE, (min(nofile, hard), hard))

        self.stderr_path = folder / "serve.stderr"
        self.stderr = open(self.stderr_path, "w")  # noqa: SIM115 - closed in stop()
        args = ["--db", str(db), "--port", "0", "--request-timeout", str(request_timeout), "--log-level", "warning"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mobsim", "serve", *args],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=self.stderr,
            text=True,
            preexec_fn=lower_limit,
        )
        self.pid = self.process.pid
        lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, args=(lines,), daemon=True).start()
        self.banner: list[str] = []
        deadline = time.monotonic() + 60
        while not any("inspection:" in line for line in self.banner):
            try:
                line = lines.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                line = None
            if line is None:
                raise RuntimeError(f"mobsim serve did not start: {self.banner} {self.stderr_path.read_text()[-2000:]}")
            self.banner.append(line)
        self.url = self.banner[0].rsplit(" ", 1)[1]
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))
        self.app_code = next(line.split()[2] for line in self.banner if line.strip().startswith("app code:"))

    def _read(self, lines: queue.Queue[str | None]) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    def status(self, key: str) -> int:
        """A ``kB`` figure of ``/proc/<pid>/status`` (VmRSS, VmHWM), in bytes."""
        with open(f"/proc/{self.pid}/status") as handle:
            for line in handle:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def descriptors(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def nofile(self) -> str:
        with open(f"/proc/{self.pid}/limits") as handle:
            for line in handle:
                if line.startswith("Max open files"):
                    soft, hard = line.split()[3:5]
                    return f"{soft} (hard {hard})"
        return "?"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.stderr.close()


# --- the normal client -----------------------------------------------------------------------
@dataclass
class Latency:
    seconds: list[float] = field(default_factory=list)
    failures: int = 0
    errors: list[str] = field(default_factory=list)
    wall: float = 0.0

    def quantile(self, q: float) -> float:
        ordered = sorted(self.seconds)
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))] if ordered else 0.0

    def cells(self) -> str:
        p50, p99, top = (1000 * self.quantile(q) for q in (0.5, 0.99, 1.0))
        return f"{p50:7.1f} {p99:8.1f} {top:8.1f} {self.failures:5d}"


class NormalClient:
    """One simulated Android device: registered once, then its user PATCH (or GET) in a loop."""

    def __init__(self, url: str, app_code: str, kind: str, interval: float) -> None:
        self.client = httpx.Client(timeout=httpx.Timeout(10.0))
        self.device = VirtualDevice.create("android", AppConfig(app_code, base_url=url), seed=13, transport=self.client)
        self.device.start()  # launch into the foreground: registers
        self.kind, self.interval = kind, 0.0
        self.counter = itertools.count()
        self.measure(20)  # warm up: connection, caches
        self.interval = interval

    def one(self) -> None:
        if self.kind == "get":
            self.device.fetch_user()
        else:
            self.device.save_user(firstName=f"Ana{next(self.counter)}")

    def measure(self, count: int) -> Latency:
        result = Latency()
        begun = time.perf_counter()
        for n in range(count):
            time.sleep(max(0.0, begun + n * self.interval - time.perf_counter()))  # one request per interval
            started = time.perf_counter()
            try:
                self.one()
            except Exception as exc:  # a failed request is a figure here, whatever it was
                result.failures += 1
                if len(result.errors) < 3:
                    result.errors.append(f"{type(exc).__name__}: {str(exc)[:120]}")
            result.seconds.append(time.perf_counter() - started)
        result.wall = time.perf_counter() - begun
        return result

    def close(self) -> None:
        self.client.close()


# --- the abuses ------------------------------------------------------------------------------
class Abuse:
    """Started before the normal client's measurement, stopped after it; ``stop`` says what it got."""

    name = ""
    title = ""

    def __init__(self, server: Server, args: argparse.Namespace) -> None:
        self.server, self.args = server, args
        self.halt = threading.Event()
        self.threads: list[threading.Thread] = []

    def spawn(self, work: Callable[[], None], count: int) -> None:
        for _ in range(count):
            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            self.threads.append(thread)

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> list[str]:
        self.halt.set()
        for thread in self.threads:
            thread.join(timeout=35)
        return []


class Queries(Abuse):
    """``clients`` clients looping one persons query."""

    def __init__(self, server: Server, args: argparse.Namespace, body: dict[str, Any], name: str) -> None:
        super().__init__(server, args)
        self.body, self.name = body, name
        self.statuses: Counter[str] = Counter()
        self.times: list[float] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        self.spawn(self.loop, self.args.query_clients)
        time.sleep(0.3)  # the first queries are under way

    def loop(self) -> None:
        with httpx.Client(base_url=self.server.url, timeout=httpx.Timeout(30.0)) as client:
            while not self.halt.is_set():
                started = time.perf_counter()
                try:
                    status = str(client.post(QUERY, json=self.body).status_code)
                except httpx.HTTPError as exc:
                    status = type(exc).__name__
                with self.lock:
                    self.statuses[status] += 1
                    self.times.append(time.perf_counter() - started)

    def stop(self) -> list[str]:
        super().stop()
        ordered = sorted(self.times) or [0.0]
        answers = ", ".join(f"{n} × {status}" for status, n in sorted(self.statuses.items()))
        size = len(json.dumps(self.body))
        return [f"the query ({size:,} bytes of JSON): {answers}; each in {ordered[0]:.2f} to {ordered[-1]:.2f} s"]


def open_socket(port: int, timeout: float = 5.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def peek(sock: socket.socket) -> bytes | None:
    """What the server sent or b'' if it closed the connection; None while it is open and silent."""
    timeout = sock.gettimeout()  # a socket with a timeout would wait for data: look without waiting
    sock.setblocking(False)
    try:
        return sock.recv(4096, socket.MSG_PEEK)
    except BlockingIOError:
        return None
    except OSError:
        return b""
    finally:
        sock.settimeout(timeout)


def first_line(data: bytes) -> str:
    return data.split(b"\r\n", 1)[0].decode(errors="replace") if data else "closed, no answer"


class Held(Abuse):
    """Connections the bench holds open: what the server answered, and when it closed them."""

    def __init__(self, server: Server, args: argparse.Namespace) -> None:
        super().__init__(server, args)
        self.socks: list[socket.socket] = []
        self.opened = 0.0
        self.closed: dict[int, tuple[float, str]] = {}

    def open(self, count: int, first: bytes) -> None:
        self.opened = time.monotonic()
        for _ in range(count):
            try:
                sock = open_socket(self.server.port)
                if first:
                    sock.sendall(first)
                self.socks.append(sock)
            except OSError:
                break

    def check(self) -> None:
        for n, sock in enumerate(self.socks):
            if n not in self.closed:
                data = peek(sock)
                if data is not None:
                    self.closed[n] = (time.monotonic() - self.opened, first_line(data))

    def wait_closed(self, until: float) -> None:
        """Look until every connection is closed or ``until`` seconds after they were opened."""
        while len(self.closed) < len(self.socks) and time.monotonic() - self.opened < until:
            self.check()
            self.halt.wait(0.2)
        self.check()

    def closed_summary(self) -> str:
        if not self.closed:
            return f"the server closed 0 of {len(self.socks)}"
        ages = sorted(age for age, _ in self.closed.values())
        answers = Counter(answer for _, answer in self.closed.values())
        got = ", ".join(f"{n} × {answer}" for answer, n in answers.most_common())
        return (
            f"the server closed {len(self.closed)} of {len(self.socks)}, {ages[0]:.1f} to {ages[-1]:.1f} s "
            f"after they were opened ({got})"
        )

    def release(self) -> None:
        for sock in self.socks:
            with contextlib.suppress(OSError):
                sock.close()


class Slowloris(Held):
    name = "slowloris"

    def start(self) -> None:
        self.title = f"slowloris: {self.args.slowloris} connections, a header byte a second"
        self.open(self.args.slowloris, b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        self.spawn(self.drip, 1)

    def drip(self) -> None:
        while not self.halt.wait(1.0):
            for n, sock in enumerate(self.socks):
                if n not in self.closed:
                    with contextlib.suppress(OSError):
                        sock.send(b"a")
            self.check()

    def stop(self) -> list[str]:
        self.wait_closed(self.args.request_timeout + 3)
        super().stop()
        self.release()
        return [self.closed_summary()]


class Idle(Held):
    name = "idle"

    def start(self) -> None:
        self.limit_before = self.server.nofile()
        self.fds_before = self.server.descriptors()
        self.title = f"idle: {self.args.idle} silent connections"
        self.open(self.args.idle, b"")
        deadline = time.monotonic() + 5
        while self.server.descriptors() < self.fds_before + len(self.socks) and time.monotonic() < deadline:
            time.sleep(0.05)
        self.fds_during = self.server.descriptors()

    def stop(self) -> list[str]:
        fds_after_measure = self.server.descriptors()
        self.wait_closed(self.args.request_timeout + 3)
        super().stop()
        self.release()
        return [
            f"opened {len(self.socks)} of {self.args.idle}; the server's descriptors: {self.fds_before} before, "
            f"{self.fds_during} once they were accepted, {fds_after_measure} after the measurement; its open-file "
            f"limit {self.limit_before} (started with {self.args.server_nofile or 'the inherited limit'})",
            self.closed_summary() + " (silent: the request deadline)",
        ]


class Flood(Abuse):
    name = "flood"

    def start(self) -> None:
        self.title = f"header flood: {self.args.floods} connections of endless headers"
        self.rss_before, self.peak_before = self.server.status("VmRSS"), self.server.status("VmHWM")
        self.answers: Counter[str] = Counter()
        self.sent: list[int] = []
        self.lock = threading.Lock()
        self.spawn(self.flood, self.args.floods)
        time.sleep(0.2)

    def flood(self) -> None:
        cap = self.args.flood_mb * 2**20
        while not self.halt.is_set():
            answer, sent = self.one(cap)
            with self.lock:
                self.answers[answer] += 1
                self.sent.append(sent)
            self.halt.wait(0.1)  # then the same client comes back

    def one(self, cap: int) -> tuple[str, int]:
        """One connection sending headers until the server answers or closes (or ``cap`` bytes)."""
        try:
            sock = open_socket(self.server.port)
        except OSError as exc:
            return f"connect: {exc.strerror}", 0
        sent, chunk = 0, b"".join(b"X-Flood-%d: %s\r\n" % (n, b"a" * 1000) for n in range(16))
        try:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            while sent < cap:
                data = peek(sock)
                if data is not None:
                    return first_line(data), sent
                try:
                    sock.sendall(chunk)
                except OSError:
                    time.sleep(0.05)
                    return first_line(peek(sock) or b""), sent
                sent += len(chunk)
            return f"no answer after {sent:,} bytes", sent
        finally:
            sock.close()

    def stop(self) -> list[str]:
        super().stop()
        time.sleep(0.2)
        rss, peak = self.server.status("VmRSS"), self.server.status("VmHWM")
        mb = 2**20
        answers = ", ".join(f"{n} × {answer}" for answer, n in self.answers.most_common())
        return [
            f"{len(self.sent)} connections: {answers}; {sum(self.sent) / mb:.1f} MB of headers written in all, "
            f"up to {max(self.sent, default=0) / mb:.1f} MB on one before its answer came back (most of it unread, "
            "in the kernel's socket buffers)",
            f"server RSS {self.rss_before / mb:.1f} MB before, {rss / mb:.1f} MB after; "
            f"peak {self.peak_before / mb:.1f} → {peak / mb:.1f} MB",
        ]


# --- one keep-alive connection after an error -----------------------------------------------
def read_answer(sock: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        body += chunk
    return int(head[9:12]), body[:length]


def error_keeps_connection(server: Server) -> str:
    bad = b"{not json"
    request = (
        b"POST /mobile/1/appinstance HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: App %s\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (server.app_code.encode(), len(bad), bad)
    )
    try:
        with open_socket(server.port) as sock:
            sock.sendall(request)
            first, _ = read_answer(sock)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            second, _ = read_answer(sock)
        return f"a malformed body answered {first}; the next request on that connection: {second}"
    except OSError as exc:
        return f"the connection broke: {exc}"


# --- the run ---------------------------------------------------------------------------------
def raise_own_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))


def scenarios(server: Server, args: argparse.Namespace) -> Iterator[Abuse]:
    chosen = set(args.only or SCENARIOS)
    if "heavy" in chosen:
        heavy = Queries(server, args, HEAVY, "heavy")
        heavy.title = f"{args.query_clients} clients looping a heavy query (100 conditions)"
        yield heavy
    if "plain" in chosen:
        plain = Queries(server, args, PLAIN, "plain")
        plain.title = f"{args.query_clients} clients looping a plain query (tier = gold)"
        yield plain
    if "slowloris" in chosen:
        yield Slowloris(server, args)
    if "flood" in chosen:
        yield Flood(server, args)
    if "idle" in chosen:
        yield Idle(server, args)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=5000, help="persons in the database (default 5,000)")
    parser.add_argument("--requests", type=int, default=200, help="normal-client requests per measurement")
    parser.add_argument("--normal", choices=["patch", "get"], default="patch", help="the device's user PATCH or GET")
    parser.add_argument("--interval", type=float, default=15.0, help="ms from one normal request to the next")
    parser.add_argument("--query-clients", type=int, default=2, help="clients looping a query (heavy, plain)")
    parser.add_argument("--slowloris", type=int, default=200, help="slowloris connections")
    parser.add_argument("--floods", type=int, default=8, help="header-flood connections")
    parser.add_argument("--flood-mb", type=int, default=16, help="header bytes one flood connection sends at most")
    parser.add_argument("--idle", type=int, default=1100, help="silent connections")
    parser.add_argument("--request-timeout", type=float, default=5.0, help="the server's --request-timeout")
    parser.add_argument("--server-nofile", type=int, default=1024, help="the server's starting soft open-file limit")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS, help="run only these scenarios")
    args = parser.parse_args()
    raise_own_limit(args.idle + args.slowloris + 256)

    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    print(f"mobsim bench/abuse.py: {args.persons:,} persons, {args.requests} requests per measurement, loopback")
    print(f"load average {load} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="mobsim-abuse-") as name:
        folder = Path(name)
        db = folder / "abuse.db"
        store, seconds, counts = build(db, args.persons)
        store.close()
        print(f"population: {counts['persons']:,} persons, {counts['installations']:,} installations, "
              f"{counts['events']:,} events, built in {seconds:.1f} s")  # fmt: skip
        server = Server(db, folder, args.request_timeout, args.server_nofile)
        rows: list[tuple[str, Latency, Latency, list[str]]] = []
        extra = ""
        try:
            normal = NormalClient(server.url, server.app_code, args.normal, args.interval / 1000)
            print(f"{server.banner[0]} (pid {server.pid}), open-file limit {server.nofile()}")
            try:
                for abuse in scenarios(server, args):
                    alone = normal.measure(args.requests)
                    abuse.start()
                    try:
                        beside = normal.measure(args.requests)
                    finally:
                        notes = abuse.stop()
                    rows.append((abuse.title, alone, beside, notes))
                    print(f"  done: {abuse.name}", flush=True)
                if "error" in (args.only or SCENARIOS):
                    extra = error_keeps_connection(server)
            finally:
                normal.close()
        finally:
            server.stop()
            stderr = server.stderr_path.read_text().strip().splitlines()

    what = "user PATCH" if args.normal == "patch" else "user GET"
    print(f"\nnormal client: a simulated Android device's {what}, {args.requests} requests, one every "
          f"{args.interval:g} ms (or back to back when slower); ms")  # fmt: skip
    print(f"{'scenario':58} {'alone: p50':>10} {'p99':>8} {'max':>8} {'fail':>5}  "
          f"{'beside: p50':>11} {'p99':>8} {'max':>8} {'fail':>5}  {'p99 ×':>6}")  # fmt: skip
    for title, alone, beside, _ in rows:
        ratio = beside.quantile(0.99) / alone.quantile(0.99) if alone.quantile(0.99) else 0.0
        print(f"{title:58} {alone.cells():>39}  {beside.cells():>40}  {ratio:6.2f}")
    print()
    for title, _, beside, notes in rows:
        print(f"{title}:")
        notes = [*notes, f"normal client beside it: {len(beside.seconds)} requests in {beside.wall:.1f} s"]
        for note in notes + [f"normal client: {e}" for e in beside.errors]:
            print(f"  {note}")
    if extra:
        print(f"keep-alive after an error: {extra}")
    if stderr:
        print(f"server stderr: {len(stderr)} lines, the last: {stderr[-1][:160]}")


if __name__ == "__main__":
    main()
