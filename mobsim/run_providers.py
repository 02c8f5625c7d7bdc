"""``mobsim run --providers``: the push providers of a run, and their journal in its summary.

Bundled (no ``--target``): FCM, HMS and APNs start on loopback in this process (free ports), the
bundled server sends its pushes through them (server_stub/relay/), and the devices take them from
the providers' feed. With ``--target URL``: the same providers start for the backend under test to
send to (``--providers-port``, default 8090; ``--apns-port``, default 2197; the CA and key in
``mobsim-apns``); their endpoints and credentials are printed and written to
``<out-dir>/providers.json`` (0600). Either way, and whenever ``--deliveries-url`` names a providers'
feed, the summary's ``providers`` holds the journal's figures and checks (``/journal/verify``), and
a failed check fails the verdict. docs/providers.md has the page.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["add_provider_arguments", "journal_report", "provider_problems", "start_providers"]

DELIVERIES_SUFFIX = "/provider/1/deliveries"


def add_provider_arguments(group: Any) -> None:
    group.add_argument(
        "--providers",
        action="store_true",
        help="push through FCM, HMS and APNs on loopback: the bundled server sends through them (with --target: "
        "the backend under test does), the devices take their pushes from the providers' feed, and the "
        "summary holds the providers' journal (docs/providers.md)",
    )
    group.add_argument(
        "--providers-port", type=int, metavar="N",
        help="with --providers: the FCM/HMS/feed port (default: a free one; with --target 8090)",
    )  # fmt: skip
    group.add_argument(
        "--apns-port", type=int, metavar="N",
        help="with --providers: the APNs port (default: a free one; with --target 2197)",
    )  # fmt: skip
    group.add_argument(
        "--providers-fault", action="append", default=[], metavar="SPEC",
        help="with --providers: a fault the providers inject into the sends (repeatable; docs/faults.md)",
    )  # fmt: skip


def provider_problems(args: argparse.Namespace) -> list[str]:
    """The provider options' problems, before any work."""
    problems: list[str] = []
    if not args.providers:
        for flag, value in (("--providers-port", args.providers_port), ("--apns-port", args.apns_port),
                            ("--providers-fault", args.providers_fault)):  # fmt: skip
            if value:
                problems.append(f"{flag} needs --providers")
        return problems
    if args.deliveries_url:
        problems.append("--providers and --deliveries-url: --providers sets the feed itself; give one of them")
    for flag, value in (("--providers-port", args.providers_port), ("--apns-port", args.apns_port)):
        if value is not None and not 0 <= value <= 65535:
            problems.append(f"{flag} {value}: a port from 0 to 65535 (0 picks a free one)")
    if args.providers_fault:
        from server_stub.faults import parse_faults

        try:
            parse_faults(args.providers_fault)
        except ValueError as exc:
            problems.append(f"--providers-fault: {exc}")
    return problems


def start_providers(args: argparse.Namespace, bundled: bool, out_dir: Path) -> Any:
    """The run's :class:`providers.stack.ProviderStack`, started (None without ``--providers``);
    raises RuntimeError with the reason."""
    if not args.providers:
        return None
    from providers.stack import StackOptions, start_stack
    from server_stub.messaging import PushLatency

    default_port, default_apns = (0, 0) if bundled else (8090, 2197)
    folder = Path(tempfile.mkdtemp(prefix="mobsim-providers-")) if bundled else Path("mobsim-apns")
    options = StackOptions(
        port=default_port if args.providers_port is None else args.providers_port,
        apns_port=default_apns if args.apns_port is None else args.apns_port,
        folder=folder,
        latency=PushLatency(),
        faults=list(args.providers_fault),
    )
    try:
        stack = start_stack(options)
    except RuntimeError:
        if bundled:  # the run's own CA folder, made for nothing
            shutil.rmtree(folder, ignore_errors=True)
        raise
    if not bundled:
        _write_credentials(stack, out_dir / "providers.json")
    return stack


def _write_credentials(stack: Any, path: Path) -> None:
    """What the backend under test is configured with, for the run's lifetime (0600)."""
    targets = stack.targets
    body = {
        "fcm": {"send_url": f"{targets.fcm.base_url}/v1/projects/{targets.fcm.project}/messages:send",
                "service_account": targets.fcm.service_account},
        "hms": {"send_url": f"{targets.hms.base_url}/v1/{targets.hms.app_id}/messages:send",
                "token_url": targets.hms.token_url, "client_id": targets.hms.app_id,
                "client_secret": targets.hms.client_secret},
        "apns": {"url": targets.apns.base_url, "ca_file": str(targets.apns.ca_file), "key_file": str(stack.key_file),
                 "key_id": targets.apns.key_id, "team_id": targets.apns.team_id},
        "deliveries": stack.feed_url,
        "journal": f"{stack.url}/journal",
    }  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.chmod(0o600)
    path.write_text(json.dumps(body, indent=2))


def journal_report(feed_url: str | None, relay: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """``{"feed", "journal", "problems", "ok", "relay"}`` from the feed's providers (None when the
    devices used the target's own feed); ``error`` (and ``ok`` False) when the journal could not be
    read; ``note`` (``ok`` None, ``journal`` None) when the feed's server has no journal (a 404 with
    the Mobile API's ``NOT_FOUND`` envelope: the reference server's own feed given as
    ``--deliveries-url``), which fails nothing."""
    if not feed_url or not feed_url.endswith(DELIVERIES_SUFFIX):
        return None
    import httpx

    from .providers import journal_check

    base = feed_url.removesuffix(DELIVERIES_SUFFIX)
    report: dict[str, Any] = {"feed": feed_url, "relay": relay}
    try:
        body = journal_check(base)
        report.update(journal=body["summary"], problems=list(body["problems"]), ok=not body["problems"])
    except httpx.HTTPStatusError as exc:
        if not _no_journal_route(exc.response):
            report.update(error=f"GET {base}/journal/verify: {exc.response.status_code}", ok=False, problems=[])
        else:  # a feed without a journal (the reference server's own): the pushes came, nothing to check
            report.update(
                journal=None, problems=[], ok=None,
                note=f"{base} keeps no journal (its feed is not mobsim providers'): the journal checks were not run",
            )  # fmt: skip
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        report.update(error=f"GET {base}/journal/verify: {type(exc).__name__}: {exc}", ok=False, problems=[])
    return report


def _no_journal_route(answer: Any) -> bool:
    """Whether a refused ``/journal/verify`` is a Mobile API server's 404 for a route it does not
    have (the reference server's ``NOT_FOUND`` envelope): its feed keeps no journal. Any other
    answer (a proxy's plain 404 in front of real providers, a 5xx, a 401) is an unreadable journal."""
    if answer.status_code != 404:
        return False
    try:
        code = answer.json()["requestError"]["serviceException"]["messageId"]
    except (ValueError, KeyError, TypeError):
        return False
    return bool(code == "NOT_FOUND")
