"""``mobsim replay FILE --target URL --app-code CODE``: send a ``mobsim demo --out`` file (or a
``mobsim proxy --record`` one) to a backend.

The app code and its hash header are replaced, the recorded push registration ids are mapped to
those the target assigns, and the event definitions and saved segments in the file's header are
created on a target that has the inspection API. The campaigns of the file's history were sent in
the recording's process: the file holds their SDK traffic (delivery and seen reports of message ids
the target never sent, which it accepts and ignores; the opens' sessions and conversions), not the
campaigns. ``FILE.replay-checkpoint`` (with ``FILE.replay-checkpoint.ids``, the registration ids the
target answered) keeps the progress: run the same command again after an interruption and it goes
on from the next request.

The target follows :mod:`mobsim.targets` (off loopback: ``--allow-remote-target``, at most 50
requests per second unless ``--max-rps`` says otherwise, ``0`` for no cap) and gets one preflight
request before the first request of the file. Exit codes (:mod:`mobsim.exitcodes`): 0 every request
was sent and answered with the status it had in the recording; 1 a request could not be sent (the
replay stops; run it again to resume), some answers differ from the recording (they are listed), or
the file holds no request; 2 bad options, a missing or foreign file, an unconfirmed remote target, a
failed preflight or a checkpoint of another replay; 130 interrupted (Ctrl-C or SIGTERM), resumable.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import exitcodes
from .demo import interruptible, stopped
from .targets import TargetError, add_target_arguments, mask_code, preflight, target_from_args

__all__ = ["register"]


def replay_command(args: argparse.Namespace) -> int:
    import httpx

    from demo.run import read_header, replay_file

    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    path = Path(args.file)
    try:
        target = target_from_args(args)
        if target is None:  # argparse requires --target: a caller that built args by hand
            raise TargetError("give --target URL --app-code CODE")
        if not path.is_file():
            raise TargetError(f"{path} does not exist")
        read_header(path)
        preflight(target.url, target.app_code)
    except (TargetError, ValueError) as exc:
        console.print(f"mobsim replay: {exc}", style="red", markup=False, soft_wrap=True)
        return exitcodes.USAGE
    checkpoint = Path(args.checkpoint or f"{path}.replay-checkpoint")
    console.print(
        f"mobsim replay: {path} → {target.url} (app code {mask_code(target.app_code)}, {target.cap()})", markup=False
    )
    bar = Progress(
        TextColumn("[bold]replay"), BarColumn(), DownloadColumn(), TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(), TimeRemainingColumn(), console=console, disable=not console.is_terminal,
    )  # fmt: skip
    task = bar.add_task("replay", total=path.stat().st_size, rate="")
    sent = {"n": 0}

    def progress(done: int, total: int) -> None:
        sent["n"] += 1
        elapsed = bar.tasks[task].elapsed or 0.0
        if sent["n"] % 50 == 0 or done == total:
            rate = f"{sent['n'] / elapsed:,.0f} req/s" if elapsed > 0 else ""
            bar.update(task, completed=done, rate=rate)

    try:
        with interruptible() as stop, bar, httpx.Client(timeout=30.0) as client:
            result = replay_file(
                path, client, target.url, target.app_code, checkpoint,
                max_rps=target.max_rps, should_stop=lambda: stop[0], progress=progress,
            )  # fmt: skip
    except (KeyboardInterrupt, ConnectionError, ValueError) as exc:
        return stopped(console, "replay", "replay", exc)
    _report(console, result)
    if result["interrupted"]:
        return exitcodes.INTERRUPTED
    if result["unexpected"]:
        console.print("mobsim replay: the target answered some requests unlike the recording (above)",
                      style="red", markup=False)  # fmt: skip
        return exitcodes.FAILED
    if result["sent"] == 0 and not result["resumed"]:
        console.print(
            f"mobsim replay: {path} holds no request: nothing was sent", style="red", markup=False, soft_wrap=True
        )
        return exitcodes.FAILED
    return exitcodes.PASSED


def _report(console: Console, result: dict[str, Any]) -> None:
    if result["interrupted"]:
        console.print("[yellow]Interrupted: run the same command again to resume.[/]")
    console.print(f"sent {result['sent']:,} requests{' (resumed)' if result['resumed'] else ''}; "
                  f"answers {result['statuses']}")  # fmt: skip
    if result["unexpected"]:
        console.print(f"[yellow]answers unlike the recording:[/] {result['unexpected']}")
    if result["definitionsCreated"] != "created":
        console.print("The target has no inspection API: create these event definitions there:")
        console.print(json.dumps(result["definitions"]))
    segments = result.get("segments") or []
    if segments and result.get("segmentsCreated") == "created":
        console.print("saved segments on the target: " + ", ".join(repr(s["name"]) for s in segments))
    elif segments:
        console.print("The target did not take the demo's saved segments (POST /inspect/segments); their queries:")
        console.print(json.dumps(segments))
    campaigns = result.get("campaigns") or []
    if campaigns:
        console.print(
            f"The file holds the SDK traffic of {len(campaigns)} campaigns sent in the recording's process (delivery "
            "and seen reports, the opens' sessions, conversions); the target never sent those messages, so it "
            "accepts their reports and counts no campaign (mobsim demo printed their reach).",
            markup=False, soft_wrap=True,
        )  # fmt: skip


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "replay",
        help="send a mobsim demo --out file to a backend",
        description="Send the SDK requests of a mobsim demo JSONL file to a backend, mapping app code and "
        "push registration ids, after one preflight request; resumes after an interruption. "
        "Exit codes: 0 every answer as in the recording; 1 a request failed, an answer differs from the recording, "
        "or the file holds no request; 2 bad options or file, an unconfirmed remote target or a failed preflight; "
        "130 interrupted (run again to resume).",
    )
    parser.add_argument("file", metavar="FILE", help="a file written by mobsim demo --out or mobsim proxy --record")
    add_target_arguments(parser, required=True)
    parser.add_argument("--checkpoint", metavar="FILE", help="progress file (default FILE.replay-checkpoint)")
    parser.set_defaults(handler=replay_command)
