"""``mobsim run``: a realistic load test in one command, with a summary and pass/fail gates.

It starts the bundled reference server on loopback (unless ``--target`` names another backend),
runs the Locust scenarios in ``scenarios/`` headless in a child process (Locust patches the
standard library for gevent, which must not touch this process), then reads the JSON summary the
Locust master wrote, prints it, writes the reports and applies the gates.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

import scenarios

from .targets import DEFAULT_REMOTE_MAX_RPS, TargetError, check_target, is_loopback, mask_code, parse_timespan

__all__ = ["Gate", "add_run_arguments", "evaluate_gates", "register", "run_command"]

SCENARIOS_DIR = Path(scenarios.__file__).resolve().parent


@dataclass(frozen=True)
class Gate:
    metric: str
    limit: float
    endpoint: str | None = None

    def describe(self) -> str:
        where = self.endpoint or "overall"
        return f"{self.metric} {where} ≤ {self.limit:g}"


def _p95_gate(text: str) -> Gate:
    name, sep, value = text.rpartition("=")
    try:
        limit = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--p95-ms {text!r}: write 500 or 'POST /mobile/1/appinstance=300'") from None
    return Gate("p95_ms", limit, name.strip() if sep else None)


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
    locust.add_argument("--csv", metavar="PREFIX", help="CSV stats prefix (default mobsim-report/stats)")
    locust.add_argument("--html", metavar="FILE", help="HTML report (default mobsim-report/report.html)")
    locust.add_argument("--tags", nargs="*", metavar="TAG", help="only these personas (browser, login, shopper...)")
    locust.add_argument("--exclude-tags", nargs="*", metavar="TAG", help="not these personas")
    locust.add_argument("--processes", type=int, default=None, help="Locust workers on this machine (-1: one per core)")
    locust.add_argument("--loglevel", default="WARNING", help="Locust's log level (default WARNING)")

    target = run.add_argument_group("target")
    target.add_argument("--target", metavar="URL", help="a backend to drive instead of the bundled server")
    target.add_argument("--app-code", metavar="CODE", help="its application code (needed with --target)")
    target.add_argument(
        "--allow-remote-target",
        action="store_true",
        help="confirm that you may send load to a target that is not on loopback",
    )
    target.add_argument(
        "--max-rps",
        type=float,
        default=None,
        help=f"cap on requests per second (default: none on loopback, {DEFAULT_REMOTE_MAX_RPS:g} elsewhere)",
    )

    audience = run.add_argument_group("audience and load model")
    audience.add_argument("--population", type=int, default=2000, help="devices in the population (default 2000)")
    audience.add_argument("--seed", type=int, default=1, help="population seed (default 1)")
    audience.add_argument("--personas", help="persona weights, e.g. browser=30,shopper=20")
    audience.add_argument("--platforms", help="platform shares, e.g. android=55,ios=38,huawei=7")
    audience.add_argument("--arrival-rate", type=float, default=0.0, help="open model: app sessions per second")
    audience.add_argument("--shape", default="constant", choices=["constant", "ramp", "day", "spike"])
    audience.add_argument("--ramp-time", type=float, help="ramp: seconds to full load")
    audience.add_argument("--day-length", type=float, help="day: seconds one compressed day lasts")
    audience.add_argument("--spike-at", type=float, help="spike: seconds until the push campaign")
    audience.add_argument("--spike-share", type=float, help="spike: share of the population that opens the app")
    audience.add_argument("--think-time", type=float, default=1.0, help="scale of think times in sessions (0: none)")
    audience.add_argument("--state-file", help="resume the population from this file and save it back")

    report = run.add_argument_group("reports and gates")
    report.add_argument("--out-dir", default="mobsim-report", help="where reports go (default mobsim-report)")
    report.add_argument("--json", metavar="FILE", help="JSON summary (default <out-dir>/summary.json)")
    report.add_argument("--max-fail-ratio", type=_ratio, help="fail the run above this share of failed requests")
    report.add_argument(
        "--p95-ms",
        type=_p95_gate,
        action="append",
        default=[],
        metavar="[ENDPOINT=]MS",
        help="fail the run when the p95 (overall, or of one endpoint's stats name) exceeds MS; repeatable",
    )


def evaluate_gates(summary: dict[str, Any], max_fail_ratio: float | None, gates: list[Gate]) -> list[str]:
    """The failed gates, each as a sentence (empty when the run passes)."""
    failed = []
    totals = summary["totals"]
    if max_fail_ratio is not None and totals["fail_ratio"] > max_fail_ratio:
        failed.append(f"fail ratio {totals['fail_ratio']:.4f} > {max_fail_ratio:g}")
    for gate in gates:
        if gate.endpoint is None:
            value = totals["p95"]
        else:
            rows = [e for e in summary["endpoints"] if e["name"] == gate.endpoint]
            if not rows:
                names = sorted({e["name"] for e in summary["endpoints"]})
                failed.append(f"no stats for {gate.endpoint!r}; names seen: {names}")
                continue
            value = max(row["p95"] for row in rows)
        if value > gate.limit:
            failed.append(f"p95 {gate.endpoint or 'overall'} {value:g} ms > {gate.limit:g} ms")
    return failed


def _locust_argv(args: argparse.Namespace, host: str, app_code: str, summary_path: Path, max_rps: float) -> list[str]:
    out = Path(args.out_dir)
    argv = [
        sys.executable, "-m", "locust", "-f", str(SCENARIOS_DIR), "--headless", "--only-summary",
        "--host", host, "--app-code", app_code,
        "--users", str(args.users), "--spawn-rate", str(args.spawn_rate), "--run-time", args.run_time,
        "--csv", args.csv or str(out / "stats"), "--html", args.html or str(out / "report.html"),
        "--loglevel", args.loglevel, "--summary-file", str(summary_path),
        "--population", str(args.population), "--seed", str(args.seed),
        "--arrival-rate", str(args.arrival_rate), "--shape", args.shape, "--think-time", str(args.think_time),
        "--max-rps", str(max_rps), "--stop-timeout", "5",
    ]  # fmt: skip
    optional = {
        "--personas": args.personas, "--platforms": args.platforms, "--ramp-time": args.ramp_time,
        "--day-length": args.day_length, "--spike-at": args.spike_at, "--spike-share": args.spike_share,
        "--state-file": args.state_file, "--processes": args.processes,
    }  # fmt: skip
    for flag, value in optional.items():
        if value is not None:
            argv += [flag, str(value)]
    if args.processes not in (None, 0, 1):
        # The master and its forked workers talk on loopback, on a port nobody else holds.
        port = str(_free_port())
        argv += ["--master-bind-host", "127.0.0.1", "--master-bind-port", port, "--master-port", port]
    if args.tags:
        argv += ["--tags", *args.tags]
    if args.exclude_tags:
        argv += ["--exclude-tags", *args.exclude_tags]
    return argv


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally blocks that stop Locust and the server


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop(process: subprocess.Popen[bytes], grace: float = 20.0) -> None:
    """End Locust and the workers it forked (they share its process group). Workers outlive the
    master by a few seconds when it ends normally (they save their population slice): wait for
    them, then terminate whatever is left."""
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


def _print_summary(console: Console, summary: dict[str, Any], target: str, code: str) -> None:
    table = Table(title=f"mobsim run against {target} (app {mask_code(code)})", title_justify="left")
    table.add_column("sent as")
    table.add_column("endpoint", no_wrap=True)
    for column in ("requests", "fails", "req/s", "p50 ms", "p95 ms", "p99 ms"):
        table.add_column(column, justify="right")
    for row in summary["endpoints"]:
        table.add_row(
            row["method"], row["name"], str(row["requests"]), str(row["failures"]), f"{row['rps']:.1f}",
            f"{row['p50']:g}", f"{row['p95']:g}", f"{row['p99']:g}",
        )  # fmt: skip
    t = summary["totals"]
    table.add_section()
    table.add_row(
        "", "all", str(t["requests"]), str(t["failures"]), f"{t['rps']:.1f}", f"{t['p50']:g}", f"{t['p95']:g}",
        f"{t['p99']:g}",
    )  # fmt: skip
    console.print(table)
    s = summary["sessions"]
    console.print(
        f"app sessions {s['sessions']}, App Launches {s['launches']} (quick returns {s['quick_returns']}), "
        f"personalizations {s['personalizations']}, logouts {s['depersonalizations']}, "
        f"custom events {s['events']}, new installs {s['new_installs']}, uninstalls {s['uninstalls']}, "
        f"devices touched {summary['devices_touched']}"
    )
    if summary["business_errors"]:
        console.print(f"expected business errors (not failures): {summary['business_errors']}")
    if s.get("aborted"):
        console.print(f"[yellow]sessions cut short by an unexpected answer: {s['aborted']}[/]")
    if "arrivals" in summary:
        a = summary["arrivals"]
        console.print(
            f"open model: target {a['target_rate']:g} sessions/s, achieved {a['achieved_rate']:.2f}/s, "
            f"scheduled {a['scheduled']}, started {a['started']}, [bold]dropped {a['dropped']}[/] "
            "(could not start on time)"
        )
    for error in summary["errors"][:5]:
        console.print(f"[red]{error['occurrences']}× {error['method']} {error['name']}: {error['error']}[/]")
    for problem in summary.get("exceptions", [])[:3]:
        console.print(f"[red]{problem['count']}× exception in a task: {problem['msg']}[/]")


def _wait(process: subprocess.Popen[bytes], seconds: int, console: Console) -> int:
    with Progress(
        TextColumn("[bold]load test[/]"), BarColumn(), TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeRemainingColumn(), console=console, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("run", total=seconds)
        started = time.monotonic()
        while process.poll() is None:
            progress.update(task, completed=min(seconds, time.monotonic() - started))
            time.sleep(0.25)
    return process.returncode


def run_command(args: argparse.Namespace) -> int:
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)
    try:
        seconds = parse_timespan(args.run_time)
        if args.users is None:
            args.users = max(50, int(args.arrival_rate * 40)) if args.arrival_rate > 0 else 50
        if args.users < 1 or args.population < 1:
            raise TargetError("--users and --population must be at least 1")
        target = check_target(args.target) if args.target else None
        if target is not None and not args.app_code:
            raise TargetError("--target needs --app-code: the application code of that backend")
        if target is not None and not is_loopback(target) and not args.allow_remote_target:
            raise TargetError(
                f"{target} is not on loopback: add --allow-remote-target to confirm you may load it "
                f"(it is then capped at --max-rps, default {DEFAULT_REMOTE_MAX_RPS:g})"
            )
    except TargetError as exc:
        console.print(f"[red]mobsim run: {exc}[/]")
        return 2
    max_rps = args.max_rps if args.max_rps is not None else (
        DEFAULT_REMOTE_MAX_RPS if target is not None and not is_loopback(target) else 0.0
    )  # fmt: skip
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / ".locust-summary.json"
    summary_path.unlink(missing_ok=True)
    server = None
    if target is None:
        from server_stub.serve import BackgroundServer, ServeConfig

        server = BackgroundServer(ServeConfig(port=0)).start()
        target, app_code = server.url, server.app_code
        console.print(f"bundled reference server on {target} (in memory)")
    else:
        app_code = args.app_code
    try:
        argv = _locust_argv(args, target, app_code, summary_path, max_rps)
        console.print(f"running {args.users} users for {seconds} s against {target} (app {mask_code(app_code)})")
        signal.signal(signal.SIGTERM, _terminated)
        log_path = out / "locust.log"
        with log_path.open("wb") as log:
            env = {
                k: v for k, v in os.environ.items() if k != "LOCUST_SKIP_MONKEY_PATCH"
            }  # Locust needs gevent's patch
            process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
            try:
                code = _wait(process, seconds, console)
            finally:
                _stop(process)
        stats = server.profiles.store.db.execute("SELECT count(*) FROM installations").fetchone()[0] if server else None
    finally:
        if server is not None:
            server.stop()
    if not summary_path.exists():
        tail = log_path.read_text(errors="replace")[-3000:]
        console.print(f"[red]mobsim run: Locust exited with {code} and wrote no summary. {log_path} ends with:[/]")
        console.print(tail, markup=False, highlight=False)
        return 3
    summary = json.loads(summary_path.read_text())
    summary_path.unlink()
    failed = evaluate_gates(summary, args.max_fail_ratio, args.p95_ms)
    summary["gates"] = {
        "max_fail_ratio": args.max_fail_ratio,
        "p95_ms": [gate.describe() for gate in args.p95_ms],
        "failed": failed,
        "passed": not failed,
    }
    summary["target"] = {"url": target, "bundled": server is not None, "app_code": mask_code(app_code)}
    if stats is not None:
        summary["target"]["installations_on_server"] = stats
    json_path = Path(args.json) if args.json else out / "summary.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(summary, indent=2))
    _print_summary(console, summary, target, app_code)
    console.print(f"reports: {args.html or out / 'report.html'}, {args.csv or out / 'stats'}_*.csv, {json_path}")
    if failed:
        for line in failed:
            console.print(f"[red]gate failed: {line}[/]")
        return 1
    if args.max_fail_ratio is not None or args.p95_ms:
        console.print("[green]all gates passed[/]")
    return 0


def register(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run a realistic load test (against the bundled server unless --target) and summarise it",
        description="Run the Locust scenarios headless against the bundled reference server (default) or a "
        "backend given with --target, print a summary, write HTML, CSV and JSON reports, and apply gates.",
    )
    add_run_arguments(run)
    run.set_defaults(handler=run_command)
