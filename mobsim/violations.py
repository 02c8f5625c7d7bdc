"""``mobsim violations``: what a strict reference server (``mobsim serve --strict``) saw clients do wrong.

The target follows :mod:`mobsim.targets`: off loopback it needs ``--allow-remote-target`` (no app
code: it reads the inspection API). Exit codes: 0 no violation recorded, 1 violations recorded,
2 bad options, an unconfirmed remote target, a target that cannot be reached or has no strict mode.
"""

from __future__ import annotations

import argparse
from typing import Any

from . import exitcodes
from .targets import ALLOW_REMOTE_HELP, TargetError, resolve_url_target

__all__ = ["register"]


def violations_command(args: argparse.Namespace) -> int:
    import httpx
    from rich.console import Console

    from contract.headers import inspection_headers

    console = Console()
    try:
        target = resolve_url_target(args.target, allow_remote=args.allow_remote_target)
    except TargetError as exc:
        console.print(f"mobsim violations: {exc}", markup=False, soft_wrap=True)
        return exitcodes.USAGE
    params = {"limit": str(args.limit)}
    if args.installation:
        params["pushRegId"] = args.installation
    if args.rule:
        params["rule"] = args.rule
    try:
        with httpx.Client(timeout=20, headers=inspection_headers()) as client:
            answer = client.get(target + "/inspect/violations", params=params)
            summary = client.get(target + "/inspect/violations/summary").json() if answer.status_code == 200 else {}
    except httpx.HTTPError as exc:
        console.print(f"mobsim violations: cannot reach {target}: {exc}", markup=False, soft_wrap=True)
        return exitcodes.USAGE
    if answer.status_code != 200:
        console.print(f"mobsim violations: {target} has no strict mode: start it with `mobsim serve --strict`",
                      markup=False)  # fmt: skip
        return exitcodes.USAGE
    found: list[dict[str, Any]] = answer.json()["violations"]
    if not found:
        console.print("No protocol violations recorded.")
        return exitcodes.PASSED
    by_installation: dict[str, list[dict[str, Any]]] = {}
    for item in found:
        by_installation.setdefault(item["installation"], []).append(item)
    for installation, items in by_installation.items():
        platform = items[0].get("platform") or "unknown platform"
        console.rule(f"installation {installation} ({platform}): {len(items)} violations", style="red")
        rules: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            rules.setdefault(item["rule"], []).append(item)
        for rule, seen in rules.items():
            first = seen[0]
            console.print(f"[bold]{rule}[/bold] {first['title']} (x{len(seen)})", highlight=False)
            for item in seen[:3]:
                console.print(f"  seen:  {item['request']}: {item['seen']}", markup=False, highlight=False)
            console.print(f"  SDK:   {first['sdk']}", markup=False, highlight=False)
            console.print(f"  fix:   {first['fix']}", markup=False, highlight=False)
    counts = ", ".join(f"{rule} {n}" for rule, n in summary.get("byRule", {}).items())
    console.print(f"{summary.get('total', len(found))} violations: {counts}")
    return exitcodes.FAILED


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "violations",
        help="show the protocol violations a strict server recorded, per installation",
        description="Print, per installation, each protocol violation a `mobsim serve --strict` server recorded: "
        "the rule, what was seen, what the SDK does and how to fix it. Exit codes: 0 none recorded, 1 violations "
        "recorded, 2 bad options, an unconfirmed remote target, or a target unreachable or not in strict mode.",
    )
    parser.add_argument("--target", required=True, metavar="URL", help="the strict server's base URL")
    parser.add_argument("--allow-remote-target", action="store_true", help=ALLOW_REMOTE_HELP)
    parser.add_argument("--installation", metavar="ID", help="one installation (pushRegId or installationid)")
    parser.add_argument("--rule", metavar="RULE", help="one rule (SESSION-30S, DIALECT-PATCH...)")
    parser.add_argument("--limit", type=int, default=1000, help="at most this many violations (default 1000)")
    parser.set_defaults(handler=violations_command)
