"""``mobsim check``: run the conformance catalogue against a backend (or the bundled server)."""

from __future__ import annotations

import argparse
import time
from typing import Any

from .targets import TargetError, check_target, is_loopback, mask_code

__all__ = ["register"]

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


def check_command(args: argparse.Namespace) -> int:
    import httpx
    from rich.console import Console

    from conformance import CATALOGUE, PLATFORMS, run_checks
    from conformance.report import print_report, write_json, write_junit

    console = Console()
    platforms = PLATFORMS if args.platform == "all" else (args.platform,)
    checks = CATALOGUE
    if args.only:
        wanted = {item.upper() for item in args.only}
        checks = [c for c in CATALOGUE if c.id in wanted or c.area in wanted]
        unknown = wanted - {c.id for c in checks} - {c.area for c in checks}
        if unknown:
            console.print(f"mobsim check: no check {', '.join(sorted(unknown))}", markup=False)
            return 2
    server = None
    try:
        if args.target:
            target = check_target(args.target)
            if not args.app_code:
                raise TargetError("--target needs --app-code CODE (an application code of that backend)")
            if not is_loopback(target) and not args.allow_remote_target:
                raise TargetError(
                    f"{target} is not on loopback: add --allow-remote-target to confirm you may send it "
                    f"test traffic (a few hundred requests, at most {args.max_rps:g} per second)"
                )
            code = args.app_code
        else:
            from server_stub.serve import BackgroundServer, ServeConfig

            server = BackgroundServer(ServeConfig(port=0, app_codes=[args.app_code] if args.app_code else [])).start()
            target, code = server.url, server.app_code
    except TargetError as exc:
        console.print(f"mobsim check: {exc}", markup=False)
        return 2
    hooks: dict[str, list[Any]] = {}
    if not is_loopback(target):
        hooks["request"] = [_Pace(args.max_rps)]
    where = "the bundled reference server" if server else target
    console.print(f"mobsim check: {where} (app {mask_code(code)}), platforms {', '.join(platforms)}", markup=False)
    try:
        with httpx.Client(timeout=args.timeout, event_hooks=hooks) as client:
            report = run_checks(client, target, code, platforms=platforms, checks=checks)
    finally:
        if server is not None:
            server.stop()
    print_report(report, console)
    if args.junit:
        write_junit(report, args.junit)
    if args.json:
        write_json(report, args.json)
    return 0 if report.passed else 1


def register(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="check a backend against what the SDKs expect (conformance)",
        description="Run scripted virtual devices and raw wire requests through every rule a backend must honour "
        "for the Mobile Messaging SDKs. Without --target the bundled reference server is started and checked. "
        "Exit codes: 0 every check passed or was skipped, 1 a check failed, 2 bad options.",
    )
    check.add_argument("--target", metavar="URL", help="the backend's base URL (default: the bundled server)")
    check.add_argument("--app-code", metavar="CODE", help="an application code of the target")
    check.add_argument("--platform", choices=["ios", "android", "all"], default="all", help="dialects (default all)")
    check.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    check.add_argument("--json", metavar="FILE", help="write a JSON report")
    check.add_argument("--only", action="append", metavar="ID", help="run only this check or area (PER, PER-003...)")
    check.add_argument(
        "--allow-remote-target", action="store_true", help="confirm sending test traffic to a target off loopback"
    )
    check.add_argument(
        "--max-rps",
        type=float,
        default=REMOTE_MAX_RPS,
        help=f"request rate cap for a target off loopback (default {REMOTE_MAX_RPS:g})",
    )
    check.add_argument("--timeout", type=float, default=20.0, help="seconds per request (default 20)")
    check.set_defaults(handler=check_command)
