"""``mobsim check``: run the conformance catalogue against a backend (or the bundled server).

The target policy is :mod:`mobsim.targets` (remote targets need ``--allow-remote-target`` and are
capped at 10 requests per second unless ``--max-rps`` says otherwise); a ``--target`` gets the
preflight request first (and, with ``--api-key``, one read of the Push API's logs that checks the
key). Checks that send a message need the target's Push API key (``--api-key``; the bundled server's
own key without ``--target``); without one they are skipped. Exit codes (:mod:`mobsim.exitcodes`):
0 every selected check passed or was skipped and at least one ran; 1 a check failed, or nothing was
checked (no selected check concerns the selected platforms, or every one was skipped); 2 bad
options, an unconfirmed remote target or a failed preflight; 130 interrupted (the first Ctrl-C or
SIGTERM stops after the current check and prints what ran; no report files are written then).
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
TARGET_PATIENCE = 3.0
"""Seconds a check looks again, against a ``--target``, for a sent message or a report the backend
shows late (the bundled server shows them at once)."""


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


def _check_api_key(url: str, key: str, timeout: float) -> None:
    """One read of ``GET /push/3/logs`` (it changes nothing): a key the target refuses is a
    `TargetError`, as a wrong app code is; any other answer lets the checks show what is wrong."""
    import httpx

    try:
        answer = httpx.get(url + "/push/3/logs", params={"limit": "1"}, timeout=timeout,
                           headers={"Authorization": f"App {key}", "Accept": "application/json"})  # fmt: skip
    except httpx.HTTPError as exc:
        raise TargetError(f"{url}: the Push API check failed: {exc}") from None
    if answer.status_code in (401, 403):
        status = f"{answer.status_code} on GET /push/3/logs"
        raise TargetError(f"{url} rejects the Push API key {mask_code(key)} ({status}): check --api-key")


class _Stopped(Exception):
    """Raised between two checks after the first Ctrl-C or SIGTERM."""


def check_command(args: argparse.Namespace) -> int:
    import httpx
    from rich.console import Console

    import conformance
    from conformance import CATALOGUE, PLATFORMS, Report, Result, Verdict
    from conformance.html_report import write_html
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
        api_key: str | None = args.api_key
        patience = 0.0
        if target is not None:
            preflight(target.url, target.app_code, timeout=min(args.timeout, 5.0))
            if api_key:
                _check_api_key(target.url, api_key, timeout=min(args.timeout, 5.0))
            url, code, max_rps = target.url, target.app_code, target.max_rps
            patience = TARGET_PATIENCE
        else:
            from server_stub.serve import BackgroundServer, ServeConfig

            config = ServeConfig(port=0, app_codes=[args.app_code] if args.app_code else [],
                                 api_keys=[api_key] if api_key else [])  # fmt: skip
            server = BackgroundServer(config).start()
            url, code, api_key = server.url, server.app_code, server.api_key
            max_rps = args.max_rps or 0.0
    except (TargetError, RuntimeError) as exc:  # RuntimeError: the bundled server refuses --app-code, --api-key
        console.print(f"mobsim check: {exc}", markup=False, soft_wrap=True)
        return exitcodes.USAGE
    hooks: dict[str, list[Any]] = {"request": [_Pace(max_rps)]} if max_rps > 0 else {}
    where = "the bundled reference server" if server else url
    sending = f"Push API key {mask_code(api_key)}" if api_key else "no Push API key: the checks that send one skip"
    console.print(
        f"mobsim check: {where} (app {mask_code(code)}), platforms {', '.join(platforms)}; {sending}",
        markup=False,
        soft_wrap=True,
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
                on_result=on_result, api_key=api_key, patience=patience,
            )  # fmt: skip
    except (_Stopped, KeyboardInterrupt):
        partial = Report(url, run_id, tuple(p for p in PLATFORMS if p in platforms), inspection, done,
                         push_api=bool(api_key))  # fmt: skip
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
    if args.html:
        write_html(report, args.html)
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
        "a --target gets one preflight request first (reachable, app code accepted). The checks that send a "
        "message need the target's Push API key (--api-key; the bundled server uses its own); without one they "
        "are skipped. "
        "Exit codes: 0 every selected check passed or was skipped and at least one ran; 1 a check failed, or "
        "nothing was checked (every selected check skipped); 2 bad options, an unconfirmed remote target or a "
        "failed preflight; 130 interrupted.",
    )
    add_target_arguments(check, default_remote_rps=REMOTE_MAX_RPS)
    check.add_argument("--platform", choices=["ios", "android", "all"], default="all", help="dialects (default all)")
    check.add_argument("--junit", metavar="FILE", help="write a JUnit XML report")
    check.add_argument("--json", metavar="FILE", help="write a JSON report")
    check.add_argument("--html", metavar="FILE", help="write an HTML report (one page, no script, works offline)")
    check.add_argument("--only", action="append", metavar="ID", help="run only this check or area (PER, PER-003...)")
    check.add_argument("--timeout", type=float, default=20.0, help="seconds per request (default 20)")
    check.add_argument(
        "--api-key",
        metavar="KEY",
        help="a Push API key of the target (sent as 'App KEY') for the checks that send a message; without one "
        "they are skipped (the bundled server: its own key, or this one)",
    )
    check.set_defaults(handler=check_command)
