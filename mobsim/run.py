"""``mobsim run``: a load test in one command, with a verdict a CI can trust.

1. Every option is checked before any load: the option table of the scenarios
   (``scenarios/_options.py``, shared with ``locust -f scenarios``), the thresholds and the stats
   names they name, the target policy (``mobsim/targets.py``) and one preflight request.
2. Without ``--target`` the bundled reference server starts on loopback.
3. The installed base is registered before the measured window (``python -m scenarios._setup``,
   one process per Locust worker), unless the state file already holds it.
4. Locust runs the scenarios headless in a child process group (it patches the standard library
   for gevent, which must not touch this process); progress is read from its CSV files.
5. The summary joins Locust's stats, what each Locust process counted as acknowledged and pending,
   and what the server stored; the thresholds give the verdict and the exit code
   (``mobsim/exitcodes.py``). Ctrl-C or SIGTERM ends the load the way the run time does (reports
   included) and exits 130.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import scenarios
from scenarios import OPTIONS, add_run_options, plan_shape, state_header, validate

from . import __version__
from .exitcodes import FAILED, INTERRUPTED, PASSED, TOOL_FAILED, USAGE
from .output import Output
from .run_html import REPORT_NAME, write_reports
from .run_live import progress_line, read_live
from .run_providers import add_provider_arguments, journal_report, provider_problems, start_providers
from .run_report import (
    SCHEMA_VERSION,
    campaign_funnels,
    message_figures,
    print_summary,
    reconcile,
    reports_line,
    stored_counts,
    traffic_mix,
)
from .targets import (
    TargetError,
    add_target_arguments,
    is_loopback,
    mask_code,
    parse_timespan,
    preflight,
    target_from_args,
)
from .thresholds import (
    Threshold,
    check_endpoints,
    evaluate,
    from_max_fail_ratio,
    from_p95_ms,
    parse_threshold,
    write_junit,
)

__all__ = ["add_run_arguments", "register", "run_command", "setup_processes", "verdict"]

SCENARIOS_DIR = Path(scenarios.__file__).resolve().parent
STOP_TIMEOUT = 5
"""Seconds Locust gives sessions in progress when the run ends (or is interrupted)."""
_GROWING = ("rps", "requests")
"""Metrics that only grow during a run: ``--abort-on-fail`` never aborts on them."""
_ABORT_AFTER = 10.0
"""``--abort-on-fail`` judges after this many seconds of load (k6's ``delayAbortEval``)."""


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError("a ratio is between 0 and 1 (0.01 is 1%)")
    return value


def add_run_arguments(run: argparse.ArgumentParser) -> None:
    locust = run.add_argument_group("Locust options (with their Locust meaning)")
    locust.add_argument("-u", "--users", type=int, default=None, help="peak concurrent users (default 50)")
    locust.add_argument("-r", "--spawn-rate", type=float, default=10.0, help="users started per second (default 10)")
    locust.add_argument("-t", "--run-time", default="30s", help="how long to run: 30s, 2m, 1h30m (default 30s)")
    locust.add_argument("--csv", metavar="PREFIX", help="CSV stats prefix (default <out-dir>/stats)")
    locust.add_argument("--html", metavar="FILE", help="HTML report (default <out-dir>/report.html)")
    locust.add_argument("--tags", nargs="*", metavar="TAG", help="only these personas (browser, login, shopper...)")
    locust.add_argument("--exclude-tags", nargs="*", metavar="TAG", help="not these personas")
    locust.add_argument("--processes", type=int, default=None, help="Locust workers on this machine (-1: one per core)")
    locust.add_argument("--loglevel", default="WARNING", help="Locust's log level (default WARNING)")
    locust.add_argument(
        "locust_args",
        nargs="*",
        metavar="-- LOCUST OPTION",
        help="after --, Locust options mobsim run does not declare, passed as they are (e.g. -- --otel)",
    )
    target = run.add_argument_group("target")
    add_target_arguments(target)
    target.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="SPEC",
        help="a fault the bundled server injects from the start (docs/faults.md), e.g. 'status=503,rate=0.3' or "
        "'reset,rate=0.05'; repeatable; not with --target (in front of a real backend: mobsim proxy --fault)",
    )
    add_provider_arguments(target)
    groups = {"target": target, "audience and load model": run.add_argument_group("audience and load model")}
    add_run_options(groups)

    report = run.add_argument_group("reports and verdict")
    report.add_argument("--out-dir", default="mobsim-report", help="where reports go (default mobsim-report)")
    report.add_argument("--json", metavar="FILE", help="JSON summary (default <out-dir>/summary.json)")
    report.add_argument("--junit", metavar="FILE", help="JUnit XML with one test case per threshold")
    report.add_argument(
        "--threshold",
        type=parse_threshold,
        action="append",
        default=[],
        metavar="EXPR",
        help="k6-style: 'p95<300', 'POST /mobile/1/appinstance: p99<500', 'fail_ratio<0.01', 'rps>100'; repeatable",
    )
    report.add_argument("--max-fail-ratio", type=_ratio, help="shorthand for --threshold 'fail_ratio<=R'")
    report.add_argument(
        "--p95-ms",
        type=from_p95_ms,
        action="append",
        default=[],
        metavar="[ENDPOINT=]MS",
        help="shorthand for --threshold 'p95<=MS' (overall, or of one endpoint's stats name); repeatable",
    )
    report.add_argument(
        "--abort-on-fail",
        action="store_true",
        help=f"stop the load as soon as a latency or failure threshold fails (judged after {_ABORT_AFTER:g} s)",
    )


# -- checks before load ----------------------------------------------------------------------------


def _known_names(stats_by_platform: bool) -> list[str]:
    from contract.endpoints import ENDPOINTS

    names = sorted({e.stats_name for e in ENDPOINTS})
    if stats_by_platform:
        names = [f"{name} ({platform})" for name in names for platform in ("ios", "android", "huawei")]
    return names


def _thresholds(args: argparse.Namespace) -> list[Threshold]:
    found: list[Threshold] = list(args.threshold)
    if args.max_fail_ratio is not None:
        found.append(from_max_fail_ratio(args.max_fail_ratio))
    found += args.p95_ms
    return found


def _processes(value: int | None) -> int:
    """How many Locust worker processes: 0 or 1 for none (a local runner)."""
    if value is None or value in (0, 1):
        return 1
    if value == -1:
        return os.cpu_count() or 1
    if value < -1 or value > 256:
        raise TargetError(f"--processes {value}: give a number of workers from 1 to 256, or -1 for one per core")
    return value


@dataclass
class Plan:
    """What the checks before load decided."""

    seconds: int
    users: int
    workers: int
    thresholds: list[Threshold]
    target_url: str | None
    app_code: str
    max_rps: float
    shape_text: str
    ramp_time: float
    day_length: float
    spike_at: float


def _check(args: argparse.Namespace) -> Plan:
    """Every check that can run before load; ``TargetError`` with all problems found."""
    problems: list[str] = []
    seconds = 0
    try:
        seconds = parse_timespan(args.run_time)
        if seconds < 1:
            problems.append(f"--run-time {args.run_time!r}: the run needs at least 1 second")
    except TargetError as exc:
        problems.append(str(exc))
    if args.users is None:
        args.users = max(50, int(args.arrival_rate * 40)) if args.arrival_rate > 0 else 50
    if args.users < 1:
        problems.append(f"--users {args.users}: at least 1")
    if not args.spawn_rate > 0:
        problems.append(f"--spawn-rate {args.spawn_rate:g}: must be above 0")
    workers = 1
    try:
        workers = _processes(args.processes)
    except TargetError as exc:
        problems.append(str(exc))
    problems += validate(args, tags=args.tags, exclude_tags=args.exclude_tags)
    thresholds = _thresholds(args)
    problems += check_endpoints(thresholds, _known_names(args.stats_by_platform))
    if args.abort_on_fail and not thresholds:
        problems.append("--abort-on-fail needs a threshold (--threshold, --max-fail-ratio or --p95-ms)")
    if args.state_file and Path(args.state_file).is_file():
        try:
            seed, size = state_header(Path(args.state_file))
        except ValueError as exc:
            problems.append(str(exc))
        else:
            if (seed, size) != (args.seed, args.population):
                problems.append(
                    f"--state-file {args.state_file} holds population seed {seed} of {size} devices; this run has "
                    f"--seed {args.seed} --population {args.population}: use those, or a new state file"
                )
    problems += _fault_problems(args)
    problems += provider_problems(args)
    target = None
    try:
        target = target_from_args(args)
    except TargetError as exc:
        problems.append(str(exc))
    if problems:
        raise TargetError("\n".join(problems))
    bundled_key = SimpleNamespace(**{**vars(args), "api_key": args.api_key or (None if target else "bundled")})
    shape = plan_shape(bundled_key, seconds, args.users)  # the bundled server always has a Push API key
    return Plan(
        seconds, args.users, workers, thresholds,
        target.url if target else None, target.app_code if target else "", target.max_rps if target else 0.0,
        shape.text, shape.ramp_time, shape.day_length, shape.spike_at,
    )  # fmt: skip


FAULTS_NEED_BUNDLED = "faults are injected by the bundled server; in front of a real backend use mobsim proxy --fault"


def _fault_problems(args: argparse.Namespace) -> list[str]:
    """``--fault``: each spec parsed as the bundled server will (``server_stub.faults``), and none
    with ``--target``."""
    specs = list(getattr(args, "fault", None) or [])
    if not specs:
        return []
    if args.target:
        return [f"--fault with --target: {FAULTS_NEED_BUNDLED}"]
    from server_stub.faults import parse_faults

    try:
        parse_faults(specs)
    except ValueError as exc:
        return [str(exc)]
    return []


# -- interruption ------------------------------------------------------------------------------------


class Interrupt:
    """Ctrl-C and SIGTERM: the first asks the run to stop gracefully, a second one forces it."""

    def __init__(self) -> None:
        self.count = 0
        self.at: float | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Interrupt:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *_: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: Any) -> None:
        self.count += 1
        self.at = self.at or time.monotonic()

    @property
    def requested(self) -> bool:
        return self.count > 0


# -- processes ------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _end_group(process: subprocess.Popen[Any], grace: float = 20.0) -> None:
    """End a child and the processes it forked (they share its process group): wait for them
    (Locust workers outlive the master by a moment, writing their counts), then terminate."""
    if process.poll() is not None:
        deadline = time.monotonic() + grace
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _group_alive(process.pid):
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        deadline = time.monotonic() + 10
        while _group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    if process.poll() is None:
        process.wait()


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"}  # Locust needs gevent's patch


def _option_argv(args: argparse.Namespace, overrides: dict[str, Any]) -> list[str]:
    """Every option of the shared table with this run's value, so both sides agree on it."""
    argv: list[str] = []
    for option in OPTIONS:
        value = overrides.get(option.dest, getattr(args, option.dest, None))
        if option.flag:
            argv += [f"--{option.name}"] if value else []
        elif value is not None and value != "":
            argv += [f"--{option.name}", str(value)]
    return argv


# -- the installed base ----------------------------------------------------------------------------


def setup_processes(workers: int, host: str, cores: int | None = None) -> int:
    """How many set-up processes install the base: one per Locust worker for a target on another
    machine; on this machine's loopback the server needs a core of its own (the set-up is bound by
    the server's CPU: bench/installed_base.py measured two set-up processes on two cores slower than
    one), so at most one fewer than the cores."""
    if not is_loopback(host):
        return workers
    return max(1, min(workers, (cores or os.cpu_count() or 1) - 1))


def _install_base(
    args: argparse.Namespace, plan: Plan, host: str, app_code: str, state: Path, out: Output, interrupt: Interrupt
) -> dict[str, Any] | None:
    """Run the set-up processes; their merged result, or None when interrupted."""
    common = _option_argv(args, {"app_code": app_code, "state_file": str(state), "max_rps": plan.max_rps})
    count = setup_processes(plan.workers, host)
    processes = []
    for index in range(count):
        argv = [sys.executable, "-m", "scenarios._setup", "--host", host, "--slice", f"{index}/{count}", *common]
        processes.append(
            subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=_child_env(),
                start_new_session=True,
            )
        )
    progress: dict[int, tuple[int, int]] = {}
    results: dict[int, dict[str, Any]] = {}
    errors: dict[int, str] = {}

    def read(k: int, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with contextlib.suppress(ValueError):
                data = json.loads(line)
                if "progress" in data:
                    progress[k] = (int(data["progress"][0]), int(data["progress"][1]))
                if "result" in data:
                    results[k] = data["result"]
        assert process.stderr is not None
        errors[k] = process.stderr.read()[-2000:]

    readers = [threading.Thread(target=read, args=(k, p), daemon=True) for k, p in enumerate(processes)]
    for reader in readers:
        reader.start()
    last = 0.0
    started = time.monotonic()
    try:
        while any(p.poll() is None for p in processes):
            if interrupt.requested:
                return None
            now = time.monotonic()
            if now - last >= (1.0 if out.terminal else 5.0):
                last = now
                done = sum(d for d, _ in progress.values())
                total = sum(t for _, t in progress.values())
                if total:
                    out.progress(f"[mobsim run] installing the base: {done}/{total} devices ({now - started:.0f} s)")
            time.sleep(0.2)
        for reader in readers:
            reader.join(timeout=5)
    finally:
        for process in processes:
            _end_group(process, grace=0.0)
    failed = [k for k, p in enumerate(processes) if p.returncode != 0 or k not in results]
    if failed:
        raise RuntimeError(f"the installed-base set-up failed: {errors.get(failed[0], '').strip()[-1500:]}")
    counted = ("devices", "registered", "personalized", "failed", "requests", "resumed")
    merged: dict[str, Any] = dict.fromkeys(counted, 0)
    merged.update(seconds=round(time.monotonic() - started, 3), errors={})
    for result in results.values():
        for key in counted:
            merged[key] += int(result.get(key, 0))
        for code, n in result.get("errors", {}).items():
            merged["errors"][code] = merged["errors"].get(code, 0) + n
    return merged


# -- the load ---------------------------------------------------------------------------------------


def _locust_argv(args: argparse.Namespace, plan: Plan, host: str, app_code: str, paths: dict[str, Path]) -> list[str]:
    argv = [
        sys.executable, "-m", "locust", "-f", str(SCENARIOS_DIR), "--headless", "--only-summary",
        "--host", host, "--users", str(plan.users), "--spawn-rate", str(args.spawn_rate), "--run-time",
        f"{plan.seconds}s", "--csv", str(paths["csv"]), "--html", str(paths["html"]), "--loglevel", args.loglevel,
        "--stop-timeout", str(STOP_TIMEOUT), "--csv-full-history",  # per-endpoint history: mobsim's report charts
    ]  # fmt: skip
    overrides: dict[str, Any] = {
        "app_code": app_code,
        "summary_file": str(paths["summary"]),
        "max_rps": plan.max_rps,
        "ramp_time": plan.ramp_time,
        "day_length": plan.day_length,
        "spike_at": plan.spike_at,
        "state_file": str(paths["state"]),
        "installed_base": "no",  # installed (or deliberately not) before Locust starts
    }
    argv += _option_argv(args, overrides)
    if plan.workers > 1:
        # The master and its forked workers talk on loopback, on a port nobody else holds.
        port = str(_free_port())
        argv += ["--processes", str(plan.workers), "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                 "--master-port", port]  # fmt: skip
    if args.tags:
        argv += ["--tags", *args.tags]
    if args.exclude_tags:
        argv += ["--exclude-tags", *args.exclude_tags]
    return argv + list(args.locust_args or ())


def _abort_due(plan: Plan, live: dict[str, Any] | None) -> list[str]:
    if live is None or not live["totals"]["requests"]:
        return []
    judged = [t for t in plan.thresholds if t.metric not in _GROWING]
    return [r.line() for r in evaluate(judged, live) if not r.passed and r.observed is not None]


def _drive(
    process: subprocess.Popen[bytes],
    plan: Plan,
    args: argparse.Namespace,
    paths: dict[str, Path],
    out: Output,
    interrupt: Interrupt,
) -> tuple[int, list[str]]:
    """Wait for Locust, with progress; ask it to stop on Ctrl-C or a failed threshold (SIGUSR1:
    it then ends as at the end of its run time). Its exit code and the abort reasons."""
    started = time.monotonic()
    last_line = last_judge = 0.0
    stop_sent: float | None = None
    aborted: list[str] = []
    line_every = 0.5 if out.terminal else 5.0
    while process.poll() is None:
        now = time.monotonic()
        if (interrupt.requested or aborted) and stop_sent is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGUSR1)
            stop_sent = now
            out.line("[mobsim run] stopping: sessions in progress get a few seconds, then the reports are written")
        if stop_sent is not None and (interrupt.count > 1 or now - stop_sent > STOP_TIMEOUT + 20):
            _end_group(process, grace=0.0)
            break
        if now - last_line >= line_every:
            last_line = now
            out.progress(progress_line(now - started, plan.seconds, read_live(paths["csv"])))
        if args.abort_on_fail and not aborted and now - started >= _ABORT_AFTER and now - last_judge >= 2.0:
            last_judge = now
            aborted = _abort_due(plan, read_live(paths["csv"]))
        time.sleep(0.2)
    return process.wait(), aborted


# -- the command ------------------------------------------------------------------------------------


def run_command(args: argparse.Namespace) -> int:
    out = Output()
    began = time.monotonic()
    try:
        plan = _check(args)
        if plan.target_url is not None:
            preflight(plan.target_url, plan.app_code)
    except TargetError as exc:
        for line in str(exc).splitlines():
            out.line(f"mobsim run: {line}", "bad")
        out.line(f"nothing was sent (checked in {time.monotonic() - began:.1f} s)")
        return USAGE
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".mobsim-run-", dir=out_dir))
    paths = {
        "summary": scratch / "locust-summary.json",
        "csv": Path(args.csv) if args.csv else out_dir / "stats",
        "html": Path(args.html) if args.html else out_dir / "report.html",
        "mobsim_html": out_dir / REPORT_NAME,
        "log": out_dir / "locust.log",
        "json": Path(args.json) if args.json else out_dir / "summary.json",
        "state": Path(args.state_file) if args.state_file else scratch / "installed-base.state",
    }
    with Interrupt() as interrupt:
        try:
            return _run(args, plan, paths, out, interrupt)
        finally:
            for leftover in scratch.glob("*"):
                leftover.unlink(missing_ok=True)
            with contextlib.suppress(OSError):
                scratch.rmdir()


def _run(args: argparse.Namespace, plan: Plan, paths: dict[str, Path], out: Output, interrupt: Interrupt) -> int:
    started_at = datetime.now(UTC)
    server = None
    try:
        stack = start_providers(args, plan.target_url is None, paths["json"].parent)
    except RuntimeError as exc:
        out.line(f"mobsim run: {exc}", "bad")
        return TOOL_FAILED
    if plan.target_url is None:
        from server_stub.serve import BackgroundServer, ServeConfig

        db = Path(str(paths["state"]) + ".db") if args.state_file else None
        config = ServeConfig(port=0, db=db, faults=list(args.fault))
        if stack is not None:  # the server sends through them (and at once: build_server)
            config.relay = stack.targets
        server = BackgroundServer(config).start()
        host, app_code = server.url, server.app_code
        args.api_key = args.api_key or server.api_key  # the spike's campaign goes through its Push API
        kept = f"on {db}, beside the state file" if db else "in memory"
        out.line(f"bundled reference server on {host} ({kept})")
        for number, spec in enumerate(args.fault, 1):
            out.line(f"fault {number} injected by the bundled server: {spec}", "warn")
    else:
        host, app_code = plan.target_url, plan.app_code
        cap = f"at most {plan.max_rps:g} requests/s" if plan.max_rps else "no request-rate cap"
        out.line(f"target {host} (app {mask_code(app_code)}), {cap}")
    if stack is not None:
        args.deliveries_url = stack.feed_url
        if server is not None:
            out.line("push providers on loopback (the bundled server sends through them)")
        else:
            credentials = paths["json"].parent / "providers.json"
            out.line(f"push providers on loopback (send the backend's pushes here; credentials in {credentials})")
        for line in stack.describe():
            out.line(line)
        for number, spec in enumerate(args.providers_fault, 1):
            out.line(f"fault {number} injected by the providers: {spec}", "warn")
    providers: dict[str, Any] | None = None
    try:
        out.line(
            f"running {plan.users} users for {plan.seconds} s ({plan.shape_text}); population {args.population} "
            f"devices, seed {args.seed}, {plan.workers} Locust process{'es' if plan.workers > 1 else ''}"
        )
        setup: dict[str, Any] | None = None
        if args.installed_base == "yes":
            try:
                setup = _install_base(args, plan, host, app_code, paths["state"], out, interrupt)
            except RuntimeError as exc:
                out.line(f"mobsim run: {exc}", "bad")
                return TOOL_FAILED
            if setup is None:
                out.line("interrupted during the installed-base set-up: no load was sent", "warn")
                return INTERRUPTED
            out.line(
                f"installed base: {setup['registered']} devices registered ({setup['personalized']} logged in, "
                f"{setup['failed']} failed) in {setup['seconds']:.1f} s"
            )
        before = stored_counts(host, app_code)
        load_started = datetime.now(UTC)
        with paths["log"].open("wb") as log:
            argv = _locust_argv(args, plan, host, app_code, paths)
            # stdin from /dev/null: Locust reads keys from a terminal, and a reader outside the
            # terminal's foreground group is stopped by SIGTTIN (the run would hang).
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, env=_child_env())  # fmt: skip
            try:
                code, aborted = _drive(process, plan, args, paths, out, interrupt)
            finally:
                _end_group(process)
        after = stored_counts(host, app_code) if before is not None else None
        campaigns = campaign_funnels(host, app_code, since=started_at) or []
        relay = server.profiles.messaging.relay if server is not None else None
        providers = journal_report(args.deliveries_url, relay.snapshot() if relay is not None else None)
    finally:
        if server is not None:
            server.stop()
        if stack is not None:
            stack.stop()
            if server is not None:  # the bundled run's own CA and key, in a temporary folder
                shutil.rmtree(stack.options.folder, ignore_errors=True)
    if not paths["summary"].exists():
        tail = paths["log"].read_text(errors="replace")[-3000:]
        out.line(f"mobsim run: Locust exited with {code} and wrote no summary; {paths['log']} ends with:", "bad")
        out.line(tail)
        return INTERRUPTED if interrupt.requested else TOOL_FAILED
    locust_summary = json.loads(paths["summary"].read_text())
    summary = _summary(args, plan, locust_summary, paths, setup, before, after, host, app_code, server is not None)
    summary["campaigns"] = campaigns
    summary["providers"] = providers
    summary["started_at"] = started_at.isoformat()
    summary["load_started_at"] = load_started.isoformat()
    summary["ended_at"] = datetime.now(UTC).isoformat()
    results = evaluate(plan.thresholds, summary)
    code = verdict(summary, results, aborted, interrupt.requested)
    paths["json"].parent.mkdir(parents=True, exist_ok=True)
    paths["json"].write_text(json.dumps(summary, indent=2))
    if args.junit:
        write_junit(results, args.junit, duration_s=summary.get("duration_s", 0.0))
    problem = write_reports(summary, paths["csv"], paths["mobsim_html"], locust_html=paths["html"],
                            summary_json=paths["json"])  # fmt: skip
    print_summary(out, summary, results)
    if problem:
        out.line(problem, "warn")
    out.line(reports_line(paths, args.junit, page_written=problem is None))
    judged = summary["verdict"]
    out.line(f"verdict: {judged['result']} (exit {code}): {judged['reason']}", "ok" if code == PASSED else "bad")
    return code


def _summary(
    args: argparse.Namespace,
    plan: Plan,
    locust: dict[str, Any],
    paths: dict[str, Path],
    setup: dict[str, Any] | None,
    before: dict[str, int] | None,
    after: dict[str, int] | None,
    host: str,
    app_code: str,
    bundled: bool,
) -> dict[str, Any]:
    from scenarios import arrivals_summary, merge_parts

    parts = [json.loads(p.read_text()) for p in sorted(paths["summary"].parent.glob(paths["summary"].name + ".part-*"))]
    summary = dict(locust)
    if parts:  # each process's own final counts: exact, where the master's merge of reports may lag
        merged = merge_parts(parts)
        arrivals = merged.pop("arrivals")
        has_arrivals = merged.pop("has_arrivals")
        summary.update({k: v for k, v in merged.items() if k != "installed_base"})
        if has_arrivals and args.arrival_rate > 0:
            summary["arrivals"] = arrivals_summary(arrivals, args.arrival_rate)
        summary["resumed_devices"] = sum(int(p.get("resumed", 0)) for p in parts)
    summary["installed_base"] = setup
    summary["reconciliation"] = reconcile(summary.get("acknowledged", {}), summary.get("pending", {}), before, after)
    summary["messages"] = message_figures(summary.get("sessions", {}), summary.get("acknowledged", {}))
    summary["traffic_mix"] = traffic_mix(summary["endpoints"])
    options = {o.dest: getattr(args, o.dest, None) for o in OPTIONS if not o.locust_only and not o.secret}
    options.update(users=plan.users, spawn_rate=args.spawn_rate, run_time_s=plan.seconds, processes=plan.workers,
                   tags=args.tags, exclude_tags=args.exclude_tags, shape_plan=plan.shape_text,
                   ramp_time=plan.ramp_time, day_length=plan.day_length, spike_at=plan.spike_at,
                   max_rps=plan.max_rps, locust_args=list(args.locust_args or ()),
                   faults=list(args.fault))  # fmt: skip
    return {
        "schema_version": SCHEMA_VERSION,
        "mobsim_version": __version__,
        "options": options,
        "target": {"url": host, "bundled": bundled, "app_code": mask_code(app_code)},
        **summary,
    }


def verdict(summary: dict[str, Any], results: list[Any], aborted: list[str], interrupted: bool) -> int:
    totals = summary["totals"]
    summary["thresholds"] = [
        {"expression": r.threshold.expression, "source": r.threshold.source, "metric": r.threshold.metric,
         "endpoint": r.threshold.endpoint, "op": r.threshold.op, "limit": r.threshold.limit,
         "observed": r.observed, "passed": r.passed, "line": r.line()}
        for r in results
    ]  # fmt: skip
    failed = [r for r in results if not r.passed]
    if interrupted:
        code, reason = INTERRUPTED, "interrupted (Ctrl-C or SIGTERM): the figures cover the load until then"
    elif totals["requests"] == 0:
        code, reason = FAILED, "no request was sent"
    elif aborted:
        code, reason = FAILED, "aborted on a failed threshold (--abort-on-fail): " + "; ".join(aborted)
    elif (summary.get("campaign") or {}).get("error"):
        what = "reached no installation" if summary["campaign"].get("messages") == 0 else "was not sent"
        code, reason = FAILED, f"the spike campaign {what}: {summary['campaign']['error'][:200]}"
    elif (summary.get("providers") or {"ok": True})["ok"] is False:
        report = summary["providers"]
        problems = report.get("problems") or [report.get("error", "")]
        code, reason = FAILED, f"the push providers' journal: {len(problems)} problems: " + "; ".join(problems)[:300]
    elif results:
        code = FAILED if failed else PASSED
        reason = (
            f"{len(failed)} of {len(results)} thresholds failed" if failed else f"all {len(results)} thresholds passed"
        )
    elif totals["failures"]:
        code, reason = FAILED, f"{totals['failures']} of {totals['requests']} requests failed (no threshold given)"
    elif (summary.get("installed_base") or {}).get("failed"):
        failed_setup = summary["installed_base"]["failed"]
        code, reason = FAILED, f"{failed_setup} devices of the installed base failed to register (no threshold given)"
    elif summary.get("exceptions"):
        code, reason = FAILED, f"{sum(e['count'] for e in summary['exceptions'])} exceptions in sessions"
    else:
        code, reason = PASSED, f"all {totals['requests']} requests succeeded (no threshold given)"
    result = {PASSED: "passed", FAILED: "failed", INTERRUPTED: "interrupted"}.get(code, "failed")
    summary["verdict"] = {"result": result, "exit_code": code, "reason": reason}
    return code


def register(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run a realistic load test (against the bundled server unless --target) and give a verdict",
        description="Run the Locust scenarios headless against the bundled reference server (default) or a "
        "backend given with --target, print a summary, write HTML, CSV, JSON (and JUnit) reports, and give a "
        "verdict. Exit codes: 0 passed; 1 a threshold failed, or with no threshold any request failed or none "
        "was sent; 2 bad options, an unconfirmed remote target or a failed preflight; 3 Locust failed; "
        "130 interrupted.",
    )
    add_run_arguments(run)
    run.set_defaults(handler=run_command)
