"""``mobsim check``: run the conformance catalogue against a backend (or the bundled server).

The target policy is :mod:`mobsim.targets` (remote targets need ``--allow-remote-target`` and are
capped at 10 requests per second unless ``--max-rps`` says otherwise); a ``--target`` gets the
preflight request first. Exit codes (:mod:`mobsim.exitcodes`): 0 every selected check passed or was
skipped and at least one ran; 1 a check failed, or nothing was checked (no selected check concerns
the selected platforms, or every one was skipped); 2 bad options, an unconfirmed remote target or a
failed preflight; 130 interrupted (the first Ctrl-C or SIGTERM stops after the current check and
prints what ran; no report files are written then).
"""

from __future__ import annotations

import argparse
import secrets
import time
from typing import Any

from . import exitcodes
from .targets import TargetError, add_target_arguments, mask_code, preflight, target_from_args

__all__ = ["REMOTE_MAX_RPS", "register"]

REMOTE_MAX_RPS = 10.0
"""Requests per second against a target off loopback (the whole suite is a few hundred requests)."""


class _Pace:
    """An httpx request hook that spaces requests to at most ``rps`` per second."""

    def __init__(self, rps: float) -> None:
        self.interval = 1.0 / rps
        self.next = 0.0

    def __call__(self, request: Any) -> None:
        now = time.monotonic()
        if now < self.next:
            time.sleep(self.next - now)
        self.next = max(now, self.next) + self.interval


class _Stopped(Exception):
    """Raised between two checks after the first Ctrl-C or SIGTERM."""


def check_command(args: argparse.Namespace) -> int:
    import httpx
    from rich.console import Console

    import conformance
    from conformance import CATALOGUE, PLATFORMS, Report, Result, Verdict
    from conformance.report import print_report, write_json, write_junit

    from .demo import interruptible

    console = Console()
    platforms = PLATFORMS if args.platform == "all" else (args.platform,)
    checks = CATALOGUE
    if args.only:
        wanted = {item.upper() for item in args.only}
        checks = [c for c in CATALOGUE if c.id in wanted or c.area in wanted]
        unknown = wanted - {c.id for c in checks} - {c.area for c in checks}
        if unknown:
            console.print(f"mobsim check: no check {', '.join(sorted(unknown))}", markup=False, soft_wrap=True)
            return exitcodes.USAGE
    server = None
    try:
        if args.timeout <= 0:
            raise TargetError("--timeout must be more than 0 seconds")
        target = target_from_args(args)
        if target is not None:
            preflight(target.url, target.app_code, timeout=min(args.timeout, 5.0))
            url, code, max_rps = target.url, target.app_code, target.max_rps
        else:
            from server_stub.serve import BackgroundServer, ServeConfig

            server = BackgroundServer(ServeConfig(port=0, app_codes=[args.app_code] if args.app_code else [])).start()
            url, code = server.url, server.app_code
            max_rps = args.max_rps or 0.0
    except (TargetError, RuntimeError) as exc:  # RuntimeError: the bundled server refuses --app-code
        console.print(f"mobsim check: {exc}", markup=False, soft_wrap=True)
        return exitcodes.USAGE
    hooks: dict[str, list[Any]] = {"request": [_Pace(max_rps)]} if max_rps > 0 else {}
    where = "the bundled reference server" if server else url
    console.print(
        f"mobsim check: {where} (app {mask_code(code)}), platforms {', '.join(platforms)}", markup=False, soft_wrap=True
    )
    run_id = secrets.token_hex(4)
    done: list[Result] = []
    inspection = True

    try:
        with interruptible() as stop, httpx.Client(timeout=args.timeout, event_hooks=hooks) as client:

            def on_result(result: Result) -> None:
                done.append(result)
                if stop[0]:
                    raise _Stopped

            inspection = conformance.has_inspection(client, url)
            report = conformance.run_checks(
                client, url, code, platforms=platforms, checks=checks, run_id=run_id, inspection=inspection,
                on_result=on_result,
            )  # fmt: skip
    except (_Stopped, KeyboardInterrupt):
        partial = Report(url, run_id, tuple(p for p in PLATFORMS if p in platforms), inspection, done)
        if done:
            print_report(partial, console)
        console.print(
            f"mobsim check: interrupted after {len(done)} result{'' if len(done) == 1 else 's'}; "
            "no report files written",
            markup=False,
            soft_wrap=True,
        )
        return exitcodes.INTERRUPTED
    finally:
        if server is not None:
            server.stop()
    print_report(report, console)
    if args.junit:
        write_junit(report, args.junit)
    if args.json:
        write_json(report, args.json)
    if not report.passed:
        return exitcodes.FAILED
    if not report.results or all(r.verdict is Verdict.SKIP for r in report.results):
        why = "no selected check concerns these platforms" if not report.results else "every selected check skipped"
        console.print(f"mobsim check: nothing was checked ({why})", markup=False, style="red", soft_wrap=True)
        return exitcodes.FAILED
    return exitcodes.PASSED


def register(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="check a backend against what the SDKs expect (conformance)",
        description="Run scripted virtual devices and raw wire requests through every rule a backend must honour "
        "for the Mobile Messaging SDKs. Without --target the bundled reference server is started and checked; "
        "a --target gets one preflight request first (reachable, app code accepted). "
        "Exit codes: 0 every selected check passed or was skipped and at least one ran; 1 a check failed, or "
        "nothing was checked (every selected check skipped); 2 bad options, an unconfirmed remote target or a "
        "failed preflight; 130 interrupted.",
    )
    add_target_arguments(check, default_remote_rps=REMOTE_MAX_RPS)
    check.add_argument("--platform", choices=["ios", "android", "all"], default="all", help="dialects (default all)")
    check.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    check.add_argument("--json", metavar="FILE", help="write a JSON report")
    check.add_argument("--only", action="append", metavar="ID", help="run only this check or area (PER, PER-003...)")
    check.add_argument("--timeout", type=float, default=20.0, help="seconds per request (default 20)")
    check.set_defaults(handler=check_command)
