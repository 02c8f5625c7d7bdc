"""A campaign to a million parked installations in one worker: the fan-out, the provider's hand-off
and the devices' receive-and-report, against the harness's plain request rate.

Three processes, loopback only (127.0.0.1):

- **build** (``--build``, a child, not measured): ``--installations`` devices of a default
  ``Population`` (seed 7: 55% Android, 38% iOS, 7% Huawei) as the installed-base set-up leaves them
  after their install session (registered, token reported, one session, in the background, parked),
  written straight into a state file (``Population.save``, what ``mobsim run --state-file`` keeps)
  and into a server database (one ``installations`` row each, the data of the device's own
  registration body, its route-carrying push token, anonymous), by as many processes as there are
  cores, instead of a million HTTP registrations (``bench/installed_base.py``: at least 38 minutes).
  Every run first drives one device per platform through its real install session against the
  reference server in-process and checks that the built device and row equal it.
- **server** (``--serve``, a child): the reference server (``create_app``, uvicorn + httptools +
  uvloop, the memory store as ``mobsim run``'s bundled server, or ``--store file``), the database
  loaded into it, the push provider's latency 0 (every message is due at once, so the hand-off is
  measured by throughput, not by the latency distribution). Its CPU is read from ``/proc``.
- **the load generator** (this process): the ``Population`` loaded from the state file,
  ``scenarios.PushReceiver``, and the sessions ``mobsim run``'s push receiver makes
  (``scenarios/audience.py``): the devices' ``LocustTransport`` over a Locust ``FastHttpSession``
  (with Locust's request statistics), a second session that polls the provider. Its CPU is
  ``time.process_time``. That devices' session has Locust's default ``max_retries``, so
  ``LocustTransport`` takes its public path; ``--fast-path`` gives it ``max_retries=0`` (a
  ``FastHttpUser``'s session), and without it the plain loop is also measured on the fast path.

What it measures, in this order, in one run:

1. **target and enqueue**: the saved segment ``Notifications on`` (``notificationsEnabled`` true:
   every built installation), then one ``POST /push/3/messages`` to it (mobsim's ``SEGMENT``
   destination, ``scenarios.campaign_request``: the spike's campaign; ``--destination
   registrations`` sends ``REGISTRATION`` batches of 10,000 instead, a request and a bulk each).
   Wall time and server CPU, in all and per 1,000 installations; the answer's size (one entry per
   message, as the Push API answers) and the time to read it; the longest a plain request waited
   meanwhile (the send is one transaction on the server's event loop). The segment's count
   (``GET /inspect/segments/{name}/count``) is timed alone as the targeting part.
2. **hand-off**: ``GET /provider/1/deliveries?shard=0&of=1&limit=--page`` (the poller) until every
   message is handed: deliveries per second of wall time and per second of the server's CPU, and
   the generator's CPU to fetch them.
3. **receive and report**: each page goes to ``PushReceiver.handle`` as it arrives (the first
   ``--receive`` deliveries, default all; the rest are only handed): the device is woken, takes the
   push as its SDK does (Android and Huawei: a messages sync with ``drIDs``; iOS: the Notification
   Service Extension's delivery report) and is parked. Pushes per second of the generator's CPU,
   the follow-up requests by endpoint and their failures, the server's CPU per follow-up request.
   Nobody opens (the open sessions come minutes later and are the scenario's ordinary sessions).
4. **the reference**, in rounds between the pages, every ``--interleave`` pushes (so that the drifts
   of a shared machine hit it and the measured alike): the harness's plain request rate, a bare
   loop of the devices' transport on a cheap endpoint (``GET /health``) with a parked device's
   headers; the same on the fast path (see above); and each kind of follow-up request, captured
   once, replayed in a bare loop of the same transport (its transport and server cost without
   the device's logic).
5. **funnel**: ``GET /inspect/campaigns/{bulkId}`` (sent, handed and delivered must equal what was
   sent, handed and received) and its time (``mobsim push --watch`` asks every 5 s).

Then the ratios: pushes received and reported per generator CPU second over plain requests per
generator CPU second (1.0: a push costs the generator one plain request), the same with the fetch,
for the follow-up request alone and for the replayed ones; and the server's CPU per push (its
share of the send, the hand-off, the follow-up) against its CPU per plain request.

Run from the repository root (Linux)::

    .venv/bin/python bench/campaign.py --installations 100000    # 3.5 minutes on 2 cores (more if shared)
    .venv/bin/python bench/campaign.py --receive 50000           # 1,000,000 installations, 6.5 minutes
    .venv/bin/python bench/campaign.py --installations 20000 --fast-path

Figures are CPU seconds where it matters (the machine may be shared: the load average and a CPU
probe, a fixed piece of Python, are printed at the start and the end; on a busy machine wall times
grow more than CPU seconds, and the ratios, measured side by side, move least). One push at a time
goes to the devices, as the harness's receiver hands them (one greenlet): the wall rate is the
generator's and the server's CPU per push added up, plus loopback. Nothing here is a timed
assertion.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _loopback import process_cpu

from contract import format_epoch
from contract.dialect import Platform
from scenarios import Population
from simulator import AppConfig, DeviceState, VirtualClock, VirtualDevice

APP = "BENCH-CAMPAIGN-APP"
API_KEY = "bench-campaign-key"
SEED = 7
SEGMENT = "Notifications on"
SEGMENT_QUERY = {"filter": {"notificationsEnabled": True}}
REGISTRATION_BATCH = 10_000
"""Destinations per request with ``--destination registrations`` (a body stays under 1 MiB)."""
BUILD_SLICE = 10_000


# --- the installed base, built directly ---------------------------------------------------------
def reg_id_of(index: int) -> str:
    """The push registration id of device ``index``: a UUID4 as the server makes, fixed by the index."""
    return str(uuid.UUID(bytes=hashlib.blake2b(f"bench-campaign:{index}".encode(), digest_size=16).digest(), version=4))


class _Nowhere:
    """The transport of a device being built: it sends nothing."""

    def send(self, request: Any) -> Any:
        raise AssertionError(f"a built device sent {request!r}")


def built_device(population: Population, index: int, clock: VirtualClock) -> tuple[VirtualDevice, dict[str, Any]]:
    """Device ``index`` as its install session leaves it (registered, one session, in the
    background), and the data the server keeps of its registration (``installations.data``)."""
    device = VirtualDevice.create(
        population.platform_of(index),
        population.app,
        seed=population.device_seed(index),
        transport=_Nowhere(),
        clock=clock,
        tablet=population.is_tablet(index),
        route=index + 1,
    )
    state = device.state
    state.token = 1
    body = device._create_body()  # what the registration sends (system data, token)
    state.reg_id = reg_id_of(index)
    state.token_acked = state.token
    state.installation = {"isPrimary": False, "regEnabled": True}  # the server's answer
    device._installation_created()
    start = int(clock.now() * 1000)
    if state.platform is Platform.IOS:
        state.keychain_reg_id = state.reg_id
        state.sessions = [[start + 5_000, start + 10_000, 1]]  # the timer's first tick, 5 s in, reports it
    else:
        state.sessions = [[start, start + 12_000, 0]]  # the create came alone: reported with the next sync
    if state.platform is Platform.HUAWEI:
        state.base_url_checked = int(clock.now())  # Huawei checks the base URL even with the app's URL
    data = {key: value for key, value in body.items() if key != "isPrimary"}
    data.setdefault("regEnabled", True)
    return device, data


_POPULATION: list[Population] = []


def _population(size: int, base_url: str = "http://127.0.0.1:1") -> Population:
    return Population(size, SEED, AppConfig(APP, base_url=base_url))


def _build_slice(task: tuple[int, int, int, float]) -> tuple[list[bytes], list[tuple[Any, ...]]]:
    """Parked blobs and installation rows of devices ``start`` to ``stop`` (in a pool worker)."""
    from server_stub.rules.installations import platform_of
    from server_stub.store import dumps

    size, start, stop, now = task
    if not _POPULATION:
        _POPULATION.append(_population(size))
    population = _POPULATION[0]
    clock = VirtualClock(now)
    stamp = format_epoch(now)
    blobs, rows = [], []
    for index in range(start, stop):
        device, data = built_device(population, index, clock)
        blobs.append(device.park())
        rows.append((device.reg_id, APP, None, "active", platform_of(data), device.installation_id, 0, dumps(data),
                     stamp, stamp))  # fmt: skip
    return blobs, rows


def check_template(population: Population, now: float) -> list[str]:
    """Drive one device per platform through its real install session (start, 12 s, background)
    against the reference server in this process; what differs from the built device and row."""
    from server_stub.inprocess import InProcessServer
    from simulator.transport import InProcessTransport

    problems = []
    for platform in ("android", "ios", "huawei"):
        index = next((i for i in range(min(population.size, 1000)) if population.platform_of(i) == platform), None)
        if index is None:
            continue
        clock = VirtualClock(now)
        server = InProcessServer(APP, clock=clock)
        real = VirtualDevice.create(platform, population.app, seed=population.device_seed(index),
                                    transport=InProcessTransport(server), clock=clock,
                                    tablet=population.is_tablet(index), route=index + 1)  # fmt: skip
        real.start()
        real.advance(12)
        real.background()
        built, data = built_device(population, index, VirtualClock(now))
        a, b = DeviceState.unpack(real.park()), DeviceState.unpack(built.park())
        for name in DeviceState._ORDER:
            mine, theirs = getattr(b, name), getattr(a, name)
            if name in ("reg_id", "keychain_reg_id"):  # the server chose the real one
                mine, theirs = mine is not None, theirs is not None
            if name == "base_url" and theirs == "http://mobsim.inprocess" and mine is None:
                continue  # the base-URL check answered the server's own URL (as the bench's server will)
            if mine != theirs:
                problems.append(f"{platform} device {name}: built {mine!r}, installed {theirs!r}")
        with server.profiles.store.transaction() as db:
            row = db.execute("SELECT data FROM installations WHERE reg_id=?", (real.reg_id,)).fetchone()
        stored = json.loads(row["data"])
        if stored != data:
            keys = sorted(k for k in stored.keys() | data.keys() if stored.get(k) != data.get(k))
            problems.append(f"{platform} installation data differs in {keys}")
        server.close()
    return problems


def build(size: int, folder: Path) -> None:
    """(child) The state file and the server database of ``size`` devices; prints a JSON line."""
    from multiprocessing import get_context

    from server_stub.store import Store

    started = time.perf_counter()
    now = time.time()
    population = _population(size)
    _POPULATION.append(population)  # the pool's workers inherit it
    problems = check_template(population, now)
    store = Store(folder / "server.db")
    tasks = [(size, start, min(size, start + BUILD_SLICE), now) for start in range(0, size, BUILD_SLICE)]
    processes = max(1, min(len(os.sched_getaffinity(0)), len(tasks)))
    platforms: Counter[str] = Counter()
    with store.transaction() as db, get_context("fork").Pool(processes) as pool:
        db.execute("INSERT INTO applications VALUES (?,?,?,?)", (APP, "campaign bench", "default", format_epoch(now)))
        index = 0
        for blobs, rows in pool.imap(_build_slice, tasks):
            for blob in blobs:
                population.store(index, blob)
                index += 1
            platforms.update(row[4] for row in rows)
            db.executemany(
                "INSERT INTO installations (reg_id, app_code, person_id, state, platform, installation_id,"
                " is_primary, data, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?)",
                rows,
            )
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    population.save(folder / "devices.state")
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "processes": processes, "platforms": platforms, "problems": problems}))


# --- the server -----------------------------------------------------------------------------------
def serve(path: str, kind: str) -> None:
    """(child) The reference server on 127.0.0.1 with the built database; prints its port."""
    import uvicorn

    from server_stub import ProfileServer, Store, create_app
    from server_stub.messaging import PushLatency
    from server_stub.serve import bind

    started = time.perf_counter()
    if kind == "memory":
        store = Store(None)
        source = sqlite3.connect(path)
        source.backup(store.db)
        source.close()
    else:
        store = Store(path)
    app = create_app(server=ProfileServer(store), app_codes=[APP], api_keys=[API_KEY], push_latency=PushLatency(0, 0))
    sock = bind("127.0.0.1", 0)
    print(json.dumps({"port": sock.getsockname()[1], "load_seconds": time.perf_counter() - started}), flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False, lifespan="off")).run(sockets=[sock])


# --- measuring ------------------------------------------------------------------------------------
@dataclass
class Window:
    """What one phase cost: items, wall seconds, generator and server CPU seconds."""

    items: int = 0
    wall: float = 0.0
    gen_cpu: float = 0.0
    server_cpu: float = 0.0

    def add(self, other: Window) -> None:
        self.items += other.items
        self.wall += other.wall
        self.gen_cpu += other.gen_cpu
        self.server_cpu += other.server_cpu

    def per_gen_cpu(self) -> float:
        return self.items / self.gen_cpu if self.gen_cpu else 0.0

    def per_server_cpu(self) -> float:
        return self.items / self.server_cpu if self.server_cpu else 0.0

    def per_wall(self) -> float:
        return self.items / self.wall if self.wall else 0.0


class Meter:
    """Measures a block of work: ``meter.run(work)``, ``work`` returning how many items it did."""

    def __init__(self, server_pid: int) -> None:
        self.pid = server_pid

    def run(self, work: Callable[[], int]) -> Window:
        wall0, gen0, server0 = time.perf_counter(), time.process_time(), process_cpu(self.pid)
        items = work()
        wall1, gen1, server1 = time.perf_counter(), time.process_time(), process_cpu(self.pid)
        return Window(items, wall1 - wall0, gen1 - gen0, server1 - server0)


def cpu_probe() -> float:
    """Milliseconds of CPU a fixed piece of pure Python takes (a parked device unpacked and packed
    20,000 times): printed at the start and the end, to tell a slow or shared machine."""
    blob = DeviceState(Platform.ANDROID, 1).pack()
    began = time.process_time()
    for _ in range(20_000):
        DeviceState.unpack(blob).pack()
    return 1000 * (time.process_time() - began)


def bare_loop(transport: Any, request: Any, count: int) -> Callable[[], int]:
    """A plain request loop: ``request`` sent ``count`` times over ``transport``."""

    def loop() -> int:
        for _ in range(count):
            transport.send(request)
        return count

    return loop


class Capture:
    """A transport that keeps the first request of each endpoint it carries."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.first: dict[str, Any] = {}

    def send(self, request: Any) -> Any:
        self.first.setdefault(request.wire.endpoint.name, request)
        return self.inner.send(request)


def _start_server(path: Path, kind: str) -> tuple[subprocess.Popen[str], int, float]:
    proc = subprocess.Popen([sys.executable, __file__, "--serve", str(path), kind], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("{"):
        proc.kill()
        raise RuntimeError(f"the server did not start: {line!r}")
    started = json.loads(line)
    return proc, int(started["port"]), float(started["load_seconds"])


def _send_campaign(client: Any, size: int, destination: str, bulk: str) -> tuple[list[str], int, float, int]:
    """(bulk ids, answer bytes, seconds spent reading the answers, messages accepted)."""
    from scenarios import SEND_PATH, campaign_request

    auth = {"Authorization": f"App {API_KEY}"}
    if destination == "segment":
        bodies = [campaign_request(APP, SEGMENT, bulk)]
    else:
        bodies = []
        for n, start in enumerate(range(0, size, REGISTRATION_BATCH)):
            body = campaign_request(APP, SEGMENT, f"{bulk}-{n}")
            body["messages"][0]["destinations"] = [
                {"type": "REGISTRATION", "pushRegistrationId": reg_id_of(i)}
                for i in range(start, min(size, start + REGISTRATION_BATCH))
            ]
            bodies.append(body)
    size_in, reading, accepted, bulks = 0, 0.0, 0, []
    for body in bodies:
        answer = client.post(SEND_PATH, json=body, headers=auth)
        began = time.perf_counter()
        raw = answer.content
        if answer.status_code != 200:
            raise RuntimeError(f"the send answered {answer.status_code}: {raw[:300]!r}")
        data = json.loads(raw)
        reading += time.perf_counter() - began
        size_in += len(raw)
        accepted += sum(1 for m in data["messages"] if m["status"]["groupName"] == "PENDING")
        bulks.append(data["bulkId"])
    return bulks, size_in, reading, accepted


@dataclass
class Results:
    plain: Window
    """The plain request loops on the devices' transport, interleaved with the receiving."""
    plain_fast: Window | None
    """The same on LocustTransport's fast path, when the devices' transport takes the public one."""
    replayed: dict[str, Window]
    """Each kind of follow-up request, captured once and sent again, interleaved with the receiving."""
    rounds: int
    fast: bool
    stalled: tuple[float, int]
    """The longest a plain request waited while the send ran (s), and how many were answered."""
    saved: Window
    targeting: Window
    reached: int
    send: Window
    """Items: the messages accepted."""
    bulks: list[str]
    answer_bytes: int
    reading: float
    fetch: Window
    handle: Window
    follow_ups: Counter[str]
    failures: Counter[str]
    tally: dict[str, int]
    funnel: Counter[str]
    funnel_window: Window


def measure(args: argparse.Namespace) -> None:
    from scenarios import locust_transport

    LocustTransport = locust_transport()  # first: importing Locust monkey-patches (gevent)

    size = args.installations
    print(
        f"campaign bench: {size:,} parked installations in one worker, loopback, {args.store} store; "
        f"load average {os.getloadavg()[0]:.2f} on {len(os.sched_getaffinity(0))} cores"
    )
    print("CPU seconds: the server's from /proc, the generator's (this process) from time.process_time; "
          f"CPU probe {cpu_probe():.0f} ms")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="mobsim-campaign-") as tmp:
        folder = Path(tmp)
        built = subprocess.run(
            [sys.executable, __file__, "--build", str(size), str(folder)], capture_output=True, text=True, check=False
        )
        if built.returncode != 0:
            raise RuntimeError(f"the build failed: {built.stderr[-2000:]}")
        made = json.loads(built.stdout.strip().splitlines()[-1])
        mix = ", ".join(f"{name} {count:,}" for name, count in sorted(made["platforms"].items()))
        print(
            f"build (not measured): {size:,} parked devices and their installations ({mix}) in "
            f"{made['seconds']:.1f} s, {made['processes']} processes"
        )
        for problem in made["problems"]:
            print(f"  ! a built device differs from a really installed one: {problem}")
        if not made["problems"]:
            print("  one device per platform checked: built state and row equal those of a real install session")
        proc, port, load_seconds = _start_server(folder / "server.db", args.store)
        try:
            url = f"http://127.0.0.1:{port}"
            began = time.perf_counter()
            population = _population(size, url)
            population.load(folder / "devices.state")
            print(f"server loaded its database in {load_seconds:.1f} s, the generator its population in "
                  f"{time.perf_counter() - began:.1f} s")  # fmt: skip
            if args.store == "memory":
                (folder / "server.db").unlink()
            results = run(args, population, url, proc.pid, LocustTransport)
        finally:
            proc.terminate()
            proc.wait(30)
    report(args, population, results)
    print(f"load average {os.getloadavg()[0]:.2f}, CPU probe {cpu_probe():.0f} ms at the end")


def run(args: argparse.Namespace, population: Population, url: str, pid: int, transport_type: Any) -> Results:
    import random

    import gevent
    import httpx
    from locust.contrib.fasthttp import FastHttpSession
    from locust.env import Environment
    from locust.event import EventHook

    from contract.endpoints import endpoint
    from scenarios import DELIVERIES_PATH, OpenPolicy, PushReceiver, Tally
    from simulator.transport import Outgoing

    size = population.size
    meter = Meter(pid)
    environment = Environment()
    environment.create_local_runner()  # Locust's request statistics, as in a run (no users start)
    requests: Counter[str] = Counter()
    failures: Counter[str] = Counter()

    def on_request(name: str, exception: Exception | None = None, **_: Any) -> None:
        requests[name] += 1
        if exception is not None:
            failures[name] += 1

    environment.events.request.add_listener(on_request)  # type: ignore[no-untyped-call]
    # As scenarios/audience.py's push receiver makes them: the devices' session (with --fast-path,
    # max_retries=0 as a FastHttpUser's session has) and the provider poller, which reports to no one
    retries: dict[str, Any] = {"max_retries": 0} if args.fast_path else {}
    session = FastHttpSession(base_url=url, request_event=environment.events.request, user=None, **retries)
    transport = transport_type(session)
    quiet = EventHook()  # type: ignore[no-untyped-call]
    poller = FastHttpSession(base_url=url, request_event=quiet, user=None, network_timeout=30.0)
    fast = transport_type(FastHttpSession(base_url=url, request_event=environment.events.request, user=None,
                                          max_retries=0))  # fmt: skip
    print(f"devices' transport: LocustTransport over a FastHttpSession, {'fast' if transport.fast else 'public'} "
          f"path (max_retries {session.client.max_retries})")  # fmt: skip
    client = httpx.Client(base_url=url, timeout=None)  # the campaign tool's calls (mobsim push uses httpx)

    # the plain request: the same transport, a cheap endpoint, a parked device's headers
    probe = VirtualDevice.resume(next(population.parked())[1], population.app, transport=transport)
    wire = endpoint("get_installation").build(probe.dialect, path_params={"pushRegId": probe.reg_id or "-"})
    health = Outgoing("GET", url + "/health", probe._headers(False), None, wire)
    bare_loop(transport, health, 500)()  # the connections, warm
    bare_loop(fast, health, 500)()

    # target and enqueue
    def save() -> int:
        client.post("/inspect/segments", json={"name": SEGMENT, "query": SEGMENT_QUERY}).raise_for_status()
        return 1

    reached: list[int] = []

    def count() -> int:
        answer = client.get(f"/inspect/segments/{SEGMENT}/count", params={"app_code": APP})
        answer.raise_for_status()
        reached.append(int(answer.json()["installations"]))
        return 1

    saved, targeting = meter.run(save), meter.run(count)
    sent: list[Any] = []

    def send_campaign() -> int:
        sent.extend(_send_campaign(client, size, args.destination, f"bench-campaign-{int(time.time())}"))
        return int(sent[3])

    # Meanwhile a plain request every 0.1 s, on a session that waits as long as it takes (the
    # sessions of a run give up sooner: a FastHttpUser's after 60 s, a bare FastHttpSession's, as the
    # push receiver's, after geventhttpclient's 5 s)
    patient = transport_type(FastHttpSession(base_url=url, request_event=quiet, user=None, max_retries=0,
                                             network_timeout=3600.0, connection_timeout=3600.0))  # fmt: skip
    patient.send(health)
    stalled = [0.0, 0]  # the longest a plain request waited while the send ran (s); how many were answered
    sending = [True]

    def probe_while_sending() -> None:
        while sending[0]:
            began = time.perf_counter()
            if patient.send(health).status == 200:
                stalled[1] += 1
            stalled[0] = max(stalled[0], time.perf_counter() - began)
            gevent.sleep(0.1)

    prober = gevent.spawn(probe_while_sending)
    gevent.sleep(0.2)
    send = meter.run(send_campaign)
    sending[0] = False
    prober.join()
    bulks, answer_bytes, reading, accepted = sent

    # hand-off and receive-and-report, page by page as the harness's receiver takes them; every
    # --interleave pushes, the plain loop and the replayed follow-ups, so that drifts of a shared
    # machine hit the reference and the measured alike
    tally = Tally()
    capture = Capture(transport)
    receiver = PushReceiver(population, capture, tally, random.Random(1), OpenPolicy(scale=0.0))
    receive_limit = size if args.receive is None else args.receive
    fetch, handle, plain, plain_fast = Window(), Window(), Window(), Window()
    replayed: dict[str, Window] = {}
    rounds = 0
    query = f"{DELIVERIES_PATH}?shard=0&of=1&limit={args.page}&wait=0"
    provider = {"Authorization": f"App {APP}"}
    page: list[Any] = []

    def fetch_page() -> int:
        answer = poller.get(query, headers=provider)
        if answer.status_code != 200:
            raise RuntimeError(f"the provider answered {answer.status_code}: {(answer.content or b'')[:300]!r}")
        page[:] = answer.json()["deliveries"]
        return len(page)

    def take(deliveries: list[Any]) -> Callable[[], int]:
        return lambda: (receiver.handle(deliveries), len(deliveries))[1]

    def reference_round() -> None:
        plain.add(meter.run(bare_loop(transport, health, 200)))
        if not transport.fast:
            plain_fast.add(meter.run(bare_loop(fast, health, 200)))
        for name, request in capture.first.items():
            replayed.setdefault(name, Window()).add(meter.run(bare_loop(transport, request, 100)))

    before = Counter(requests)
    next_round = 0
    while fetch.items < accepted:
        fetch.add(meter.run(fetch_page))
        if not page:
            break  # nothing left to hand (a message refused, or one not routable)
        taken = page[: max(0, receive_limit - handle.items)]
        if taken:
            handle.add(meter.run(take(taken)))
            receiver.transport = transport  # one request of each kind was captured: the rest go straight
        if handle.items >= next_round and (taken or not rounds):
            follow_ups = requests - before
            reference_round()
            rounds += 1
            before = Counter(requests) - follow_ups
            next_round += args.interleave
    follow_ups = requests - before
    follow_failures = Counter({k: v for k, v in failures.items() if k in follow_ups})
    if not rounds:
        reference_round()
        rounds = 1

    funnel: Counter[str] = Counter()

    def read_funnel() -> int:
        for bulk_id in bulks:
            answer = client.get(f"/inspect/campaigns/{bulk_id}")
            answer.raise_for_status()
            funnel.update({k: v for k, v in answer.json().items() if isinstance(v, int)})
        return len(bulks)

    funnel_window = meter.run(read_funnel)
    client.close()
    return Results(plain, plain_fast if plain_fast.items else None, replayed, rounds, transport.fast,
                   (stalled[0], int(stalled[1])), saved, targeting, reached[0], send, bulks, answer_bytes, reading,
                   fetch, handle, follow_ups, follow_failures, dict(tally.counts), funnel, funnel_window)  # fmt: skip


def report(args: argparse.Namespace, population: Population, r: Results) -> None:
    size = population.size
    send, fetch, handle, plain = r.send, r.fetch, r.handle, r.plain
    plain_rate = plain.per_gen_cpu()

    def us(seconds: float, items: int) -> float:
        return 1e6 * seconds / max(1, items)

    print(f"\n{'phase':36} {'items':>9} {'wall s':>8} {'server CPU s':>12} {'gen CPU s':>9}   per item, rates")
    print("-" * 118)

    def row(name: str, w: Window, text: str) -> None:
        print(f"{name:36} {w.items:>9,} {w.wall:>8.2f} {w.server_cpu:>12.2f} {w.gen_cpu:>9.2f}   {text}")

    def per_request(w: Window) -> str:
        return (f"{us(w.gen_cpu, w.items):.0f} µs gen CPU, {us(w.server_cpu, w.items):.0f} µs server CPU; "
                f"{w.per_wall():,.0f} req/s")  # fmt: skip

    row("save the segment", r.saved, "")
    row("count the segment (targeting)", r.targeting, f"{r.reached:,} installations reached")
    kind = "SEGMENT" if args.destination == "segment" else f"REGISTRATION x {REGISTRATION_BATCH:,}"
    row(f"send: {len(r.bulks)} POST /push/3/messages", send,
        f"{kind}; per 1,000: {1e6 * send.wall / max(1, send.items):.0f} ms wall, "
        f"{1e6 * send.server_cpu / max(1, send.items):.0f} ms server CPU; "
        f"answer {r.answer_bytes / 1e6:,.0f} MB, read in {r.reading:.1f} s")  # fmt: skip
    print(f"{'':36}   meanwhile (one plain request at a time, every 0.1 s) one waited up to {r.stalled[0]:.1f} s "
          f"for its answer; {r.stalled[1]} were answered")  # fmt: skip
    row(f"hand-off: provider pages of {args.page}", fetch,
        f"{fetch.per_server_cpu():,.0f} deliveries per server CPU s ({us(fetch.server_cpu, fetch.items):.0f} µs), "
        f"{fetch.per_wall():,.0f}/s wall; {us(fetch.gen_cpu, fetch.items):.0f} µs gen CPU to fetch")  # fmt: skip
    row("receive and report", handle,
        f"{handle.per_gen_cpu():,.0f} pushes per gen CPU s ({us(handle.gen_cpu, handle.items):.0f} µs), "
        f"{handle.per_wall():,.0f}/s wall")  # fmt: skip
    follow = sum(r.follow_ups.values())
    kinds = ", ".join(f"{name} {n:,}" for name, n in sorted(r.follow_ups.items()))
    print(f"{'':36}   follow-up: {follow:,} requests, {follow / max(1, handle.items):.2f} per push ({kinds}); "
          f"{sum(r.failures.values())} failed; {us(handle.server_cpu, follow):.0f} µs server CPU each")  # fmt: skip
    shown = {k: v for k, v in sorted(r.tally.items()) if v}
    print(f"{'':36}   devices: " + ", ".join(f"{k} {v:,}" for k, v in shown.items()))
    print(f"reference, in {r.rounds} rounds between the pages received:")
    row("  plain GET /health", plain, per_request(plain))
    if r.plain_fast is not None:
        row("  plain GET /health, fast path", r.plain_fast, per_request(r.plain_fast))
    for name, window in r.replayed.items():
        row(f"  replayed {name}", window, per_request(window))
    row("funnel: GET /inspect/campaigns/{id}", r.funnel_window,
        f"sent {r.funnel['sent']:,}, handed {r.funnel['handed']:,}, delivered {r.funnel['delivered']:,}")  # fmt: skip
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(f"generator peak RSS {rss / 2**20:,.0f} MB ({rss / size:,.0f} B per parked device, everything included)")

    gen_per_push = fetch.gen_cpu / max(1, fetch.items) + handle.gen_cpu / max(1, handle.items)
    server_per_push = (send.server_cpu / max(1, send.items) + fetch.server_cpu / max(1, fetch.items)
                       + handle.server_cpu / max(1, handle.items))  # fmt: skip
    server_plain = plain.server_cpu / max(1, plain.items)
    path = "fast" if r.fast else "public"
    print(f"\nratios to the harness's plain request rate: {plain_rate:,.0f} plain requests per generator CPU s "
          f"(the devices' transport, {path} path)")  # fmt: skip

    def ratio(name: str, rate: float) -> None:
        print(f"  {name:62} {rate / plain_rate:5.2f}   ({rate:,.0f}/s of generator CPU)")

    ratio("pushes received and reported / plain requests", handle.per_gen_cpu())
    ratio("the same, the provider fetch included", 1 / gen_per_push if gen_per_push else 0.0)
    if follow and handle.gen_cpu:
        ratio("follow-up requests / plain requests", follow / handle.gen_cpu)
    for name, window in r.replayed.items():
        ratio(f"replayed {name} / plain requests", window.per_gen_cpu())
    if r.plain_fast is not None:
        ratio("plain requests on the fast path / plain requests", r.plain_fast.per_gen_cpu())
    print(f"  server CPU per push (send + hand-off + follow-up) / per plain request: "
          f"{server_per_push / max(1e-9, server_plain):.1f}   ({1e6 * server_per_push:.0f} µs, "
          f"{1e6 * server_plain:.0f} µs)")  # fmt: skip
    larger = "server" if server_per_push > gen_per_push else "generator"
    print(f"  CPU per push: generator {1e6 * gen_per_push:.0f} µs (fetch + receive), server "
          f"{1e6 * server_per_push:.0f} µs: the {larger}'s is the larger")  # fmt: skip
    if handle.items < size:
        print(f"  ({handle.items:,} of {size:,} deliveries were taken by devices; the rest only handed off)")
    if r.funnel["delivered"] != r.tally.get("pushes_received", 0) or r.funnel["sent"] != send.items:
        print("  ! the funnel does not match what was sent and what the devices took")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--installations", type=int, default=1_000_000, help="parked installations (1,000,000)")
    parser.add_argument("--receive", type=int, help="deliveries the devices take (default all; the rest are handed)")
    parser.add_argument("--page", type=int, default=500, help="deliveries per provider request (500, as mobsim run)")
    parser.add_argument("--destination", choices=["segment", "registrations"], default="segment",
                        help="one SEGMENT send, or REGISTRATION batches of 10,000 (segment)")  # fmt: skip
    parser.add_argument("--store", choices=["memory", "file"], default="memory", help="the server's store (memory)")
    parser.add_argument("--fast-path", action="store_true",
                        help="the devices' session with max_retries=0 (LocustTransport's fast path)")  # fmt: skip
    parser.add_argument("--interleave", type=int, default=5000,
                        help="pushes received between two rounds of the plain and replayed loops (5,000)")  # fmt: skip
    parser.add_argument("--build", nargs=2, help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build:
        build(int(args.build[0]), Path(args.build[1]))
    elif args.serve:
        serve(args.serve[0], args.serve[1])
    else:
        measure(args)


if __name__ == "__main__":
    main()
