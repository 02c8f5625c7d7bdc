"""The mobsim locustfile: a simulated mobile audience.

    locust -f scenarios --host http://127.0.0.1:8080 --app-code CODE            # web UI
    locust -f scenarios --headless -u 50 -r 10 -t 1m --host ... --app-code ...  # headless
    locust -f scenarios --processes 4 ...                                        # one machine
    locust -f scenarios --master / --worker --master-host ...                    # many machines

Each Locust user checks a device out of the population, drives one app session of its persona,
parks it and takes another. Every request is reported under its endpoint template
(``POST /mobile/1/appinstance/{pushRegId}/personalize``). Personas are tasks tagged with their
names (``--tags shopper``) and weighted by ``--personas``. ``--arrival-rate`` switches to the open
model; ``--shape`` picks the load curve. mobsim's options are listed by ``locust -f scenarios
--help`` and shown in the web UI.
"""

# Locust first: it monkey-patches the standard library for gevent.
import locust  # isort: skip
import gc
import json
import logging
import random
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

import gevent
import gevent.event
import httpx
import locust.runners
from geventhttpclient import HTTPClient
from locust import FastHttpUser, LoadTestShape, events, run_single_user, tag, task
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.runners import MasterRunner, WorkerRunner

from contract.headers import inspection_headers
from scenarios import EVENT_DEFINITIONS, Session, add_options, persona_weights, run_session, settle, validate
from scenarios._options import plan_shape
from scenarios._pushes import DELIVERIES_PATH, OpenPolicy, PushReceiver, open_session, send_campaign
from scenarios._runtime import LocustTransport, RunState, shape_curve, summary
from simulator import ApiError, SimulatorError, VirtualDevice

# A worker's test start (installing its slice of the installed base, or resuming a large state file)
# can keep its greenlets busy for seconds on a loaded machine, heartbeats included; Locust's master
# marks a worker missing after 3 missed one-second heartbeats and may end the run with it. The
# master reads this when a worker connects: 30 missed heartbeats (30 s) before a worker is missing.
locust.runners.HEARTBEAT_LIVENESS = max(locust.runners.HEARTBEAT_LIVENESS, 30)

_ = locust
_STATE: dict[str, Any] = {"run": None, "parts": {}, "started": time.time(), "gc": None}


@events.init_command_line_parser.add_listener
def _options(parser: Any) -> None:
    add_options(parser)


def _run(environment: Environment) -> RunState:
    run: RunState | None = _STATE["run"]
    if run is None:
        run = _STATE["run"] = RunState(environment)
    return run


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    """Check mobsim's options before anything starts, weigh the persona tasks that survived
    ``--tags`` by ``--personas`` (new installs included), and let SIGUSR1 end the run the way its
    run time does (``mobsim run`` sends it on Ctrl-C: reports are written, workers give their
    final counts)."""
    opts = environment.parsed_options
    if opts is None or not hasattr(opts, "personas"):
        return
    problems = validate(opts, tags=opts.tags, exclude_tags=opts.exclude_tags)
    if problems:
        for problem in problems:
            sys.stderr.write(f"mobsim: {problem}\n")
        sys.exit(2)
    runner = environment.runner
    if runner is not None and not isinstance(runner, WorkerRunner):
        gevent.signal_handler(signal.SIGUSR1, runner.quit)
    weights = persona_weights(opts)
    present = {fn.__name__: fn for fn in MobileAudience.tasks if callable(fn)}
    copies = _thousandths({name: weights.get(name, 0.0) for name in present})
    weighted: list[Any] = []
    for name, fn in present.items():
        weighted += [fn] * copies[name]
    if weighted:
        MobileAudience.tasks = weighted


def _thousandths(weights: dict[str, float]) -> dict[str, int]:
    """Task copies per persona, 1000 in all (largest remainders), so a 3% share is 30 entries."""
    total = sum(weights.values())
    if total <= 0:
        return dict.fromkeys(weights, 0)
    quotas = {name: 1000 * w / total for name, w in weights.items()}
    copies = {name: int(q) for name, q in quotas.items()}
    by_remainder = sorted(quotas, key=lambda name: -(quotas[name] - copies[name]))
    for name in by_remainder[: 1000 - sum(copies.values())]:
        copies[name] += 1
    return copies


@events.test_start.add_listener
def _test_start(environment: Environment, **_: Any) -> None:
    _STATE["started"] = time.time()
    _ENDING.clear()
    if isinstance(environment.runner, MasterRunner):
        _create_definitions(environment)
        _plan_campaign(environment)
        return
    run = _run(environment)
    run.establish_base()
    _tune_gc()
    if run.arrivals is not None:
        run.arrivals.start()
    if not isinstance(environment.runner, WorkerRunner):
        _create_definitions(environment)
        _plan_campaign(environment)
    if run.host and run.receiver is None:
        run.receiver = gevent.spawn(_receive_pushes, environment, run)


_log = logging.getLogger("mobsim.scenarios")


def real_spike(opts: Any) -> bool:
    """``--shape spike`` with a Push API key: the campaign is a real send, not modelled openers."""
    return bool(opts is not None and opts.shape == "spike" and getattr(opts, "api_key", ""))


def _plan_campaign(environment: Environment) -> None:
    """The spike's campaign, sent once by the master (or the only process) at the spike time."""
    opts = environment.parsed_options
    if not real_spike(opts) or not environment.host or _STATE.get("campaign_timer") is not None:
        return
    assert opts is not None
    at = plan_shape(opts, getattr(opts, "run_time", None), 0).spike_at
    _STATE["campaign_timer"] = gevent.spawn_later(at, _send_campaign, environment)


def _send_campaign(environment: Environment) -> None:
    opts = environment.parsed_options
    assert opts is not None and environment.host
    bulk_id = f"mobsim-spike-{int(time.time())}"
    record = send_campaign(environment.host, opts.app_code, opts.api_key, opts.spike_segment, bulk_id)
    _STATE["campaign"] = record
    if "error" in record:
        _log.error("the spike campaign failed: %s", record["error"])
    else:
        _log.warning("spike campaign %s: %d messages to %r", bulk_id, record["messages"], opts.spike_segment)


_ENDING = gevent.event.Event()
"""Set when the run is ending: a pause in progress returns at once (not at the end of its think time)."""


def _pause_for(run: RunState, device: VirtualDevice) -> Callable[[float], None]:
    """Wait ``seconds`` of real time (none once the run is ending), running the device's timers."""

    def pause(seconds: float) -> None:
        end = time.time() + (0.0 if run.stopping else seconds)
        while True:
            device.run_due()
            now = time.time()
            if now >= end or run.stopping:
                return
            due = device.next_due()
            _ENDING.wait(max(0.0, min(end, due if due is not None else end) - now))

    return pause


def _receive_pushes(environment: Environment, run: RunState) -> None:
    """Drain the reference server's simulated push provider for this slice's devices (a target
    without one answers 404: the run then has no pushes to receive). The polls go through
    geventhttpclient like the devices' requests (never blocking the other users), but report to no
    one: they are the provider's traffic, not the app's."""
    opts = environment.parsed_options
    assert opts is not None
    session = FastHttpSession(base_url=run.host, request_event=environment.events.request, user=None, max_retries=0)
    transport = LocustTransport(session, run.limiter, counts=run.transport_counts)
    poller = HTTPClient.from_url(run.host, network_timeout=30.0, connection_timeout=10.0)
    rng = random.Random()
    policy = OpenPolicy(share=opts.spike_share, median_delay=20.0) if real_spike(opts) else OpenPolicy()

    def open_later(delay: float, index: int, message_id: str) -> None:
        gevent.spawn_later(delay, _open, run, transport, rng, policy, index, message_id)

    receiver = PushReceiver(run.population, transport, run.tally, rng, policy, open_later,
                            hour=lambda: time.gmtime().tm_hour)  # fmt: skip
    feed = urlsplit(opts.deliveries_url or run.host.rstrip("/") + DELIVERIES_PATH)
    if opts.deliveries_url:  # a providers' feed: its own host
        poller = HTTPClient.from_url(f"{feed.scheme}://{feed.netloc}", network_timeout=30.0, connection_timeout=10.0)
    query = f"{feed.path}?shard={run.slice.index}&of={run.slice.count}&limit=500&wait=2"
    journal = feed.path.removesuffix(DELIVERIES_PATH) + "/journal/uninstall" if opts.deliveries_url else None
    headers = {"Authorization": f"App {opts.app_code}"}
    while not run.stopping:
        if journal is not None and receiver.gone:
            _report_gone(poller, journal, receiver.gone)
        try:
            answer = poller.get(query, headers=headers)
            status, body = answer.status_code, answer.read()
        except (OSError, gevent.Timeout) as exc:
            _log.debug("push provider unreachable: %s", exc)
            gevent.sleep(2.0)
            continue
        if status in (404, 405):
            _log.info("the target has no simulated push provider (%s): no pushes to receive", DELIVERIES_PATH)
            return
        if status != 200:
            gevent.sleep(2.0)
            continue
        try:
            deliveries = json.loads(body).get("deliveries") or []
        except (ValueError, AttributeError, TypeError):
            deliveries = []
        if run.stopping:
            return
        receiver.handle(deliveries)
        if not deliveries:
            gevent.sleep(0.2)


_PROVIDER = {"android": "fcm", "huawei": "hms", "ios": "apns"}


def _report_gone(poller: HTTPClient, path: str, gone: list[tuple[str, str]]) -> None:
    """Tell the providers which tokens' devices dropped them (uninstalled, refreshed): their next
    sends to those tokens get the provider's "gone" answer, as FCM, HMS and APNs learn it from phones."""
    while gone:
        platform, token = gone.pop()
        body = json.dumps({"provider": _PROVIDER.get(platform, platform), "token": token}).encode()
        try:
            poller.post(path, body=body, headers={"Content-Type": "application/json"}).read()
        except (OSError, gevent.Timeout) as exc:
            _log.debug("could not report a gone token to the providers: %s", exc)


def _open(
    run: RunState, transport: LocustTransport, rng: random.Random, policy: OpenPolicy, index: int, message_id: str
) -> None:
    """An open session: wait until the device is free, tap the notification, use the app a little."""
    population = run.population
    for _ in range(120):
        if run.stopping:
            return
        if not population.busy(index):
            break
        gevent.sleep(0.5)
    device = population.wake(index, transport)
    if device is None:
        run.tally.add("opens_missed")
        return
    try:
        session = Session(device, index, population, rng, _pause_for(run, device), run.tally, transport.expect,
                          run.think)  # fmt: skip
        try:
            open_session(session, message_id, policy, population.persona_of(index))
        finally:
            settle(session)  # the retries the SDK scheduled go out before the process is parked
    except (ApiError, SimulatorError):
        run.tally.add("aborted")  # only mobsim's own misuse (a UsageError): the app's errors are counted and passed
        device.background()
    finally:
        population.put_back(index, device)


_GC_THRESHOLD = (20_000, 10, 10)


def _tune_gc() -> None:
    """The garbage collector's policy while a load generator runs.

    Sessions leave no reference cycles worth collecting, but with many users interleaved, CPython's
    default (a collection every 700 net allocations; a full one walks every object: Locust, Faker's
    tables, the population) took 10-15% of the CPU. What is alive at the start is moved out of
    the collector's sight (``gc.freeze``) and the youngest generation may grow to 20,000 objects;
    :func:`_restore_gc` undoes both when the test stops.
    """
    if _STATE["gc"] is None:
        gc.collect()
        gc.freeze()
        _STATE["gc"] = gc.get_threshold()
        gc.set_threshold(*_GC_THRESHOLD)


def _restore_gc() -> None:
    saved = _STATE["gc"]
    if saved is not None:
        _STATE["gc"] = None
        gc.set_threshold(*saved)
        gc.unfreeze()


def _create_definitions(environment: Environment) -> None:
    opts = environment.parsed_options
    if opts is None or opts.create_definitions == "no" or not environment.host:
        return
    try:
        with httpx.Client(base_url=environment.host, timeout=5.0, headers=inspection_headers()) as client:
            for definition in EVENT_DEFINITIONS:
                answer = client.post("/inspect/event-definitions", json=definition)
                if answer.status_code not in (201, 409):
                    raise RuntimeError(f"{answer.status_code} {answer.text[:200]}")
    except (httpx.HTTPError, RuntimeError) as exc:
        if opts.create_definitions == "yes":
            raise
        _log.info("event definitions not created (no inspection API?): %s", exc)


@events.test_stopping.add_listener
def _test_stopping(environment: Environment, **_: Any) -> None:
    """No new sessions once the run is ending (tickets already late count as dropped), and the
    sessions in progress skip their remaining think times: they end within Locust's stop timeout
    instead of being killed in the middle of a request (whose answer would then go unread)."""
    run: RunState | None = _STATE["run"]
    if run is None:
        return
    run.stopping = True
    _ENDING.set()
    if run.arrivals is not None:
        run.arrivals.drain_late()
        run.arrivals.stop()


@events.test_stop.add_listener
def _test_stop(environment: Environment, **_: Any) -> None:
    _restore_gc()
    run_state: RunState | None = _STATE["run"]
    if run_state is not None and run_state.receiver is not None:
        run_state.receiver.kill(block=False)
        run_state.receiver = None
    run: RunState | None = _STATE["run"]
    if run is not None:
        if run.arrivals is not None:
            run.arrivals.stop()
        run.save()


@events.report_to_master.add_listener
def _report(client_id: str, data: dict[str, Any]) -> None:
    run: RunState | None = _STATE["run"]
    if run is not None:
        data["mobsim"] = run.snapshot()


@events.worker_report.add_listener
def _worker_report(client_id: str, data: dict[str, Any]) -> None:
    if "mobsim" in data:
        _STATE["parts"][client_id] = data["mobsim"]


@events.quitting.add_listener
def _quitting(environment: Environment, **_: Any) -> None:
    """The master (or the only process) writes the summary; every process that drove devices
    writes its own final counts beside it (``FILE.part-<index>of<count>``), which the master's
    summary may miss the last seconds of."""
    opts = environment.parsed_options
    if opts is None or not getattr(opts, "summary_file", ""):
        return
    run: RunState | None = _STATE["run"]
    if run is not None:
        final = run.snapshot(final=True)
        name = f"{opts.summary_file}.part-{run.slice.index}of{run.slice.count}"
        Path(name).write_text(json.dumps(final))
    if isinstance(environment.runner, WorkerRunner):
        return
    parts = list(_STATE["parts"].values())
    if run is not None:
        parts.append(run.snapshot())
    result = summary(environment, parts, _STATE["started"])
    result["campaign"] = _STATE.get("campaign")
    if real_spike(opts) and result["campaign"] is None:
        result["campaign"] = {"segment": opts.spike_segment, "error": "the run ended before the spike time"}
    Path(opts.summary_file).write_text(json.dumps(result, indent=2))


_IDLE_WAIT = 30.0
"""Open model: how long an idle user waits for a ticket before its task ends and Locust starts the
next one. The pool is large (the rate times the session length, and more), so a short wait made
every idle user wake up and go through Locust's task loop each second for nothing."""


class MobileAudience(FastHttpUser):
    """A slot in the app's audience: it drives one device's app session after another."""

    personas: ClassVar[tuple[str, ...]] = ("browser", "login", "multidevice", "shopper", "churner", "newinstall")
    wait_time = staticmethod(lambda: 0.0)

    def __init__(self, environment: Environment) -> None:
        super().__init__(environment)
        self.mobsim = _run(environment)
        self.rng = random.Random()
        self.transport = LocustTransport(self.client, self.mobsim.limiter, counts=self.mobsim.transport_counts)

    def _pause(self, device: VirtualDevice) -> Callable[[float], None]:
        return _pause_for(self.mobsim, device)

    def session(self, persona: str) -> None:
        run = self.mobsim
        if run.stopping:
            gevent.sleep(1.0)  # the run is ending: no new session
            return
        if run.arrivals is not None:
            if not run.arrivals.take(timeout=_IDLE_WAIT):
                return
        elif run.think > 0:  # think time 0: Locust's own wait between tasks is the only yield needed
            _ENDING.wait(run.think * self.rng.uniform(0.5, 2.0))  # cut short when the run ends
        if run.stopping:
            return
        got = run.population.checkout(persona, self.transport)
        if got is None:
            run.tally.add("unavailable")
            gevent.sleep(1.0)
            return
        index, device = got
        if run.stats_by_platform:
            self.transport.suffix = f" ({device.platform.value})"
        try:
            session = Session(
                device,
                index,
                run.population,
                self.rng,
                self._pause(device),
                run.tally,
                self.transport.expect,
                run.think,
            )
            run_session(persona, session)
        finally:
            run.population.park(index, device)

    @tag("browser")
    @task(30)
    def browser(self) -> None:
        self.session("browser")

    @tag("login")
    @task(25)
    def login(self) -> None:
        self.session("login")

    @tag("multidevice")
    @task(10)
    def multidevice(self) -> None:
        self.session("multidevice")

    @tag("shopper")
    @task(20)
    def shopper(self) -> None:
        self.session("shopper")

    @tag("churner")
    @task(5)
    def churner(self) -> None:
        self.session("churner")

    @tag("newinstall")
    @task(10)
    def newinstall(self) -> None:
        self.session("newinstall")


class MobsimShape(LoadTestShape):
    """``--shape``: constant (plain Locust), ramp, day (a compressed day) or spike (a push campaign).

    In the closed model it scales ``--users``; in the open model (``--arrival-rate``) the users are a
    fixed pool and the shape scales the arrival rate instead.
    """

    use_common_options = True

    def tick(self) -> tuple[int, float] | None:
        opts = self.runner.environment.parsed_options if self.runner else None
        if opts is None:
            return None
        elapsed = self.get_run_time()
        if opts.run_time and elapsed >= opts.run_time:
            return None
        users = int(opts.num_users or 1)
        spawn_rate = float(opts.spawn_rate or 1)
        if opts.arrival_rate > 0 or opts.shape == "constant":
            return users, spawn_rate
        curve = shape_curve(opts)  # relative to --run-time (scenarios._options.plan_shape)
        level = curve.baseline if real_spike(opts) else curve.level(elapsed)  # the campaign brings the openers
        return max(1, round(users * level)), spawn_rate


if __name__ == "__main__":
    run_single_user(MobileAudience)
