"""``mobsim demo``: a realistic audience with weeks of history, to a target or to a JSONL file.

The devices are driven against the reference server in this process (its answers, such as push
registration ids, shape what the SDKs send next) and every request is recorded. The history holds
campaigns too (``demo/campaigns.py``; ``--no-campaigns`` leaves them out): the reference server
in this process sends them to the vertical's saved segments and its provider hands the pushes to
the devices, whose delivery and seen reports, opens and conversions are recorded like the rest.
``--out FILE`` writes the requests (no network at all); ``--target URL --app-code CODE`` sends
each one to the target as it is made, with the target's own registration ids mapped in (see
``demo/run.py``): the target gets the campaigns' SDK traffic, not the campaigns (it never sent
those messages; its Push API needs a key and its pushes could not reach these devices). Either
resumes after an interruption when run again with the same options. The summary prints each
campaign's reach and funnel and example queries, the segments' sizes among them.

A ``--target`` follows :mod:`mobsim.targets` (off loopback: ``--allow-remote-target``, at most 50
requests per second unless ``--max-rps`` says otherwise, ``0`` for no cap) and gets one preflight
request before any traffic. Exit codes (:mod:`mobsim.exitcodes`): 0 the file was written, or every
request was sent and answered with the status the reference server gave; 1 a request could not be
sent (the run stops; run it again to resume), some answers differ from the reference server's (the
summary lists them), or nothing was sent; 2 bad options, an unconfirmed remote target, a failed
preflight or a checkpoint of other options; 130 interrupted (Ctrl-C or SIGTERM), resumable.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import exitcodes
from .targets import Target, TargetError, add_target_arguments, mask_code, preflight, target_from_args

__all__ = ["browser_lines", "interruptible", "register", "stopped"]


def stopped(console: Console, command: str, what: str, exc: BaseException) -> int:
    """What ``demo`` and ``replay`` say and answer when sending stops: aborted by a second Ctrl-C
    (130), a request that failed after the preflight (1: run it again to resume), or a file or
    checkpoint that does not fit the options (2)."""
    if isinstance(exc, KeyboardInterrupt):
        console.print(
            f"mobsim {command}: aborted; run the same command again to resume",
            style="yellow", markup=False, soft_wrap=True,
        )  # fmt: skip
        return exitcodes.INTERRUPTED
    if isinstance(exc, ConnectionError):
        console.print(
            f"mobsim {command}: a request failed, the {what} stopped: {exc}", style="red", markup=False, soft_wrap=True
        )
        console.print("Run the same command again to resume after the last answered request.", markup=False)
        return exitcodes.FAILED
    console.print(f"mobsim {command}: {exc}", style="red", markup=False, soft_wrap=True)
    return exitcodes.USAGE


@contextlib.contextmanager
def interruptible() -> Iterator[list[bool]]:
    """The first Ctrl-C (or SIGTERM) asks the run to stop between two requests; the second one aborts."""
    flag = [False]

    def stop(signum: int, frame: Any) -> None:
        if flag[0]:
            raise KeyboardInterrupt
        flag[0] = True

    previous = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for s in previous:
            signal.signal(s, stop)
    except ValueError:  # not the main thread (tests): no signal handling
        previous = {}
    try:
        yield flag
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=not console.is_terminal,
        transient=False,
    )


def demo_command(args: argparse.Namespace) -> int:
    from demo.run import DemoConfig, generate_to_file, generate_to_target
    from demo.run import Progress as Hooks

    console = Console(stderr=False)
    if not console.is_terminal:
        console = Console(width=120)
    try:
        if (args.target is None) == (args.out is None):
            raise TargetError("give either --target URL --app-code CODE or --out FILE.jsonl")
        if args.devices < 1 or args.days < 1:
            raise TargetError("--devices and --days must be at least 1")
        target: Target | None = target_from_args(args)
        from demo.audience import parse_locales

        parse_locales(args.locale)
        if target is not None:
            preflight(target.url, target.app_code)
    except (TargetError, ValueError) as exc:
        console.print(f"mobsim demo: {exc}", style="red", markup=False, soft_wrap=True)
        return exitcodes.USAGE
    config = DemoConfig(
        devices=args.devices,
        days=args.days,
        seed=args.seed,
        vertical=args.vertical,
        locales=args.locale,
        until=args.until,
        app_code=args.app_code if args.out and args.app_code else "mobsim-demo-app",
        realistic_contacts=args.realistic_contacts,
        campaigns=not args.no_campaigns,
    )
    bar = _progress(console)
    task = bar.add_task("hours of history", total=args.days * 24, rate="")
    counters = {"requests": 0}

    def start(total: int, done: int) -> None:
        bar.update(task, total=total, completed=done)

    def advance(hours: int, requests: int) -> None:
        counters["requests"] += requests
        elapsed = bar.tasks[task].elapsed or 0.0
        rate = f"{counters['requests'] / elapsed:,.0f} req/s" if elapsed > 0 else ""
        bar.update(task, advance=hours, rate=rate)

    where = str(args.out) if target is None else f"{target.url} (app code {mask_code(target.app_code)}, {target.cap()})"
    audience = f"{args.devices:,} devices, {args.days} days, vertical {args.vertical}, seed {args.seed}"
    console.print(f"mobsim demo: {audience} → {where}", markup=False, soft_wrap=True)
    try:
        with interruptible() as stop, bar:
            hooks = Hooks(start, advance)
            if target is None:
                outcome = generate_to_file(config, Path(args.out), should_stop=lambda: stop[0], progress=hooks)
            else:
                import httpx

                checkpoint = Path(args.checkpoint or f".mobsim-demo-{args.seed}-{args.vertical}.checkpoint")
                with httpx.Client(timeout=30.0) as client:
                    outcome = generate_to_target(
                        config, client, target.url, target.app_code, checkpoint,
                        max_rps=target.max_rps, should_stop=lambda: stop[0], progress=hooks,
                    )  # fmt: skip
    except (KeyboardInterrupt, ConnectionError, ValueError) as exc:
        return stopped(console, "demo", "run", exc)
    _summary(console, outcome, args, target.url if target else None)
    if outcome.interrupted:
        return exitcodes.INTERRUPTED
    if target is not None and outcome.replay.get("unexpected"):
        console.print(
            "mobsim demo: the target answered some requests unlike the reference server (above)",
            style="red", markup=False,
        )  # fmt: skip
        return exitcodes.FAILED
    if target is not None and outcome.requests == 0 and not outcome.resumed:
        console.print("mobsim demo: no request was sent", style="red", markup=False, soft_wrap=True)
        return exitcodes.FAILED
    return exitcodes.PASSED


def _summary(console: Console, outcome: Any, args: argparse.Namespace, target: str | None) -> None:
    from demo.queries import example_queries, reach_queries
    from demo.verticals import vertical

    tally = outcome.tally
    if outcome.interrupted:
        console.print("[yellow]Interrupted: run the same command again to resume where it stopped.[/]")
    counts = tally.counts
    console.print(f"\n[bold]Created[/] ({'resumed run' if outcome.resumed else 'this run'})")
    console.print(
        f"  persons        {tally.persons:,} ({tally.identified:,} who log in, "
        f"{tally.persons - tally.identified:,} anonymous installs); {counts['personalizations']:,} personalizations, "
        f"{counts['logouts']:,} logouts"
    )
    synthetic = "synthetic (example.com/.net/.org, phone numbers from ranges reserved for fiction)"
    console.print(f"  contacts       {'realistic' if outcome.config.realistic_contacts else synthetic}")
    devices = ", ".join(f"{k} {v:,}" for k, v in sorted(tally.devices.items()))
    kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(tally.kinds.items()))
    console.print(f"  devices        {sum(tally.devices.values()):,}: {devices} ({kinds}); "
                  f"notifications on {counts['optedIn']:,}")  # fmt: skip
    console.print(
        f"  app launches   {counts['launches']:,}; uninstalls {counts['uninstalls']:,}, reinstalls "
        f"{counts['reinstalls']:,}, app updates {counts['appUpdates']:,}"
    )
    console.print("  events         " + ", ".join(f"{k} {v:,}" for k, v in sorted(tally.events.items())))
    if outcome.config.campaigns:
        console.print(
            f"  pushes         {counts['pushesReceived']:,} received of {len(tally.campaigns):,} campaigns; "
            f"{counts['opens']:,} opened (tapped), {counts['conversions']:,} converted after the open"
        )
    console.print(f"  requests       {outcome.requests:,} in this process")
    if outcome.replay:
        console.print(f"  target answers {outcome.replay['statuses']}")
        if outcome.replay["unexpected"]:
            console.print(f"  [yellow]unlike the reference server:[/] {outcome.replay['unexpected']}")
    if args.out:
        console.print(
            f"  written to     {args.out} (send it with: mobsim replay {args.out} --target URL --app-code CODE)"
        )
    if target is None or outcome.definitions_created != "created":
        why = "to create on the target" if target else "the file's header carries them; replay creates them"
        console.print(f"\n[bold]Event definitions[/] ({why}):")
        console.print(json.dumps(outcome.definitions, indent=None))
    if target is not None and outcome.segments_created == "unsupported":
        console.print("\n[bold]Saved segments[/] (the target did not take them: POST /inspect/segments):")
        console.print(json.dumps(outcome.segments), markup=False)
    if outcome.interrupted:
        return
    _campaigns(console, outcome, target)
    options = outcome.config.audience()
    base = target or "http://127.0.0.1:8080"
    console.print("\n[bold]Example queries[/] (the inspection API of the reference server; mobsim serve):")
    for what, body in example_queries(vertical(args.vertical), options.start, options.end):
        found = ""
        if outcome.server is not None:
            status, result = outcome.server.post("/inspect/persons/query", body)
            found = f" → {result['total']:,} persons here" if status == 200 else f" → {status}"
        console.print(f"  # {what}{found}")
        console.print(f"  curl -s -X POST '{base}/inspect/persons/query' -H 'Content-Type: application/json' "
                      f"-d '{json.dumps(body)}'", soft_wrap=True)  # fmt: skip
    for what, method, path, body in reach_queries(outcome.campaigns):
        found = ""
        if outcome.server is not None:
            found = _reach_here(outcome.server, method, path, body)
        console.print(f"  # {what}{found}")
        shown = quote(path, safe="/?=&")
        if method == "GET":
            console.print(f"  curl -s '{base}{shown}'", soft_wrap=True)
        else:
            console.print(f"  curl -s -X POST '{base}{shown}' -H 'Content-Type: application/json' "
                          f"-d '{json.dumps(body)}'", soft_wrap=True)  # fmt: skip
    lines = browser_lines(args.out, target, outcome.definitions_created == "created")
    if lines:
        console.print()
    for line in lines:
        console.print(line, markup=False, soft_wrap=True)


SERVE_URL = "http://127.0.0.1:8080"
"""Where ``mobsim serve`` listens by default."""


def browser_lines(out: str | None, target: str | None, inspection: bool) -> list[str]:
    """The last lines of a demo: where to look at the audience in a browser (the reference server's
    page at ``/``). A target with mobsim's inspection API keeps running: its URL. The in-process
    server of ``--out`` is gone with this process: the commands that serve the file's audience.
    Another backend has no such page: nothing."""
    page = "in a browser: the audience, persons and segments"
    if target is not None:
        if not inspection:
            return []
        return [f"open {target.rstrip('/')}/ {page} (the campaigns stayed in this process: their figures are above)"]
    if out is None:
        return []
    file = Path(out)
    db = file.with_suffix(".db") if file.suffix != ".db" else file.with_name(file.name + ".db")
    return [
        "The audience lived in this process's reference server, which has stopped; to look at it in a browser, "
        "serve it from the file:",
        f"  mobsim serve --db {shlex.quote(str(db))} --app-code demo-app   # in one terminal",
        f"  mobsim replay {shlex.quote(out)} --target {SERVE_URL} --app-code demo-app   # in another",
        f"  then open {SERVE_URL}/ {page}",
    ]


def _reach_here(server: Any, method: str, path: str, body: Any) -> str:
    """What a reach query answers on the reference server of this process (at the window's end)."""
    if method == "POST":
        status, result = server.post(path, body)
        return f" → {result['total']:,} persons here" if status == 200 else f" → {status}"
    status, _, raw = server.request("GET", path)
    if status != 200:
        return f" → {status}"
    result = json.loads(raw)
    return f" → {result['persons']:,} persons, {result['installations']:,} installations here"


def _n(count: int, what: str) -> str:
    return f"{count:,} {what}{'' if count == 1 else 's'}"


def _campaigns(console: Console, outcome: Any, target: str | None) -> None:
    """Each campaign's reach and funnel (``GET /inspect/campaigns/{bulkId}`` in this process)."""
    if not outcome.campaigns:
        if outcome.config.campaigns:
            console.print("\n[bold]Campaigns[/]: none (they start on the window's third day: give --days 3 or more)")
        return
    where = "the target holds their SDK traffic, not the campaigns" if target else "replay sends their SDK traffic"
    console.print(
        f"\n[bold]Campaigns[/] ({len(outcome.campaigns)}, sent by the reference server in this process to saved "
        f"segments, POST /push/3/messages; {where}). Reach from the segment at the send, funnel from "
        "GET /inspect/campaigns/{bulkId} at the window's end:",
        soft_wrap=True,
    )
    totals: dict[str, int] = {}
    for campaign in outcome.campaigns:
        funnel, devices = campaign["funnel"], campaign["devices"]
        when = campaign["sendAt"].replace("T", " ")[:16]
        console.print(
            f"  {when}  {campaign['bulkId']}  {campaign['title']!r} → {campaign['segment']}: "
            f"{_n(devices.get('segmentPersons', 0), 'person')}, {_n(funnel['sent'], 'installation')}",
            markup=False, soft_wrap=True,
        )  # fmt: skip
        console.print(
            f"      delivered {funnel['delivered']:,}, seen {funnel['seen']:,}, opened {funnel['opened']:,} "
            f"({_n(devices.get('personsOpened', 0), 'person')}), converted {funnel['converted']:,}; "
            f"{devices.get('conversions', 0):,} {campaign['conversion']} after the open; expired {funnel['expired']:,}",
            markup=False, soft_wrap=True,
        )  # fmt: skip
        for key in ("sent", "delivered", "opened", "converted"):
            totals[key] = totals.get(key, 0) + funnel[key]
        totals["conversions"] = totals.get("conversions", 0) + devices.get("conversions", 0)
    sent = totals["sent"] or 1
    console.print(
        f"  in all: {totals['sent']:,} messages, {totals['delivered']:,} delivered ({totals['delivered'] / sent:.0%}), "
        f"{totals['opened']:,} opened ({totals['opened'] / sent:.1%}), {totals['conversions']:,} conversion events "
        "after an open (converted: any custom event within 24 h of the open)",
        markup=False, soft_wrap=True,
    )  # fmt: skip


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "demo",
        help="a realistic audience with weeks of history, to a target or a JSONL file",
        description="Persons on their phones and tablets with attributes, tags and weeks of app sessions, events "
        "and funnels, and campaigns to the vertical's saved segments with their delivery reports, opens and "
        "conversions (built in this process; --no-campaigns leaves them out), sent to a target (--target URL "
        "--app-code CODE, after one preflight request) or written as the SDK requests to a JSONL file "
        "(--out FILE, where --app-code is the code to record). "
        "Exit codes: 0 done (every answer as the reference server gave it); 1 a request failed or an answer differs "
        "from the reference server's; 2 bad options, an unconfirmed remote target or a failed preflight; "
        "130 interrupted (run again to resume).",
    )
    parser.add_argument("--devices", type=int, default=1000, help="devices in the audience (default 1000)")
    parser.add_argument("--days", type=int, default=30, help="days of history before --until (default 30)")
    parser.add_argument("--seed", type=int, default=1, help="the audience seed (default 1)")
    parser.add_argument("--vertical", default="retail", choices=["retail", "media", "banking", "travel"])
    parser.add_argument("--locale", help="locales and shares, e.g. de_DE or de_DE=70,en_GB=30 (default: a world mix)")
    parser.add_argument("--until", help="when the window ends, ISO date or time in UTC (default: today 00:00 UTC)")
    parser.add_argument(
        "--realistic-contacts",
        action="store_true",
        help="realistic email hosts and valid national phone numbers, which may be real people's (default: "
        "emails at example.com/.net/.org and numbers from ranges reserved for fiction; no phone where a country "
        "has none)",
    )
    parser.add_argument(
        "--no-campaigns",
        action="store_true",
        help="no campaigns in the history (default: a few a week to the vertical's saved segments, sent by the "
        "reference server in this process, with the delivery and seen reports, opens and conversions that follow)",
    )
    add_target_arguments(parser)
    parser.add_argument("--out", metavar="FILE.jsonl", help="write the SDK requests to this file instead")
    parser.add_argument("--checkpoint", metavar="FILE", help="with --target: where progress is kept for a resume")
    parser.set_defaults(handler=demo_command)
