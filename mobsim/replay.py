"""``mobsim replay FILE --target URL --app-code CODE``: send a ``mobsim demo --out`` file to a backend.

The app code and its hash header are replaced, the recorded push registration ids are mapped to
those the target assigns, and the event definitions in the file's header are created on a target
that has the inspection API. ``FILE.replay-checkpoint`` keeps the progress: run the same command
again after an interruption and it goes on from the next request.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from .demo import add_target_arguments, confirm_target, interruptible
from .targets import TargetError, mask_code

__all__ = ["register"]


def replay_command(args: argparse.Namespace) -> int:
    import httpx

    from demo.run import replay_file

    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    path = Path(args.file)
    try:
        if not path.is_file():
            raise TargetError(f"{path} does not exist")
        target, max_rps = confirm_target(args.target, args.app_code, args.allow_remote_target, args.max_rps)
    except TargetError as exc:
        console.print(f"[red]mobsim replay: {exc}[/]")
        return 2
    checkpoint = Path(args.checkpoint or f"{path}.replay-checkpoint")
    console.print(f"mobsim replay: {path} → {target} (app code {mask_code(args.app_code)})")
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
                path, client, target, args.app_code, checkpoint,
                max_rps=max_rps, should_stop=lambda: stop[0], progress=progress,
            )  # fmt: skip
    except (ValueError, ConnectionError) as exc:
        console.print(f"[red]mobsim replay: {exc}[/]")
        return 2
    _report(console, result)
    return 130 if result["interrupted"] else 0


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


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "replay",
        help="send a mobsim demo --out file to a backend",
        description="Send the SDK requests of a mobsim demo JSONL file to a backend, mapping app code and "
        "push registration ids; resumes after an interruption.",
    )
    parser.add_argument("file", metavar="FILE", help="a file written by mobsim demo --out")
    parser.add_argument("--target", metavar="URL", required=True, help="the backend")
    parser.add_argument("--app-code", metavar="CODE", required=True, help="its application code")
    parser.add_argument("--checkpoint", metavar="FILE", help="progress file (default FILE.replay-checkpoint)")
    add_target_arguments(parser)
    parser.set_defaults(handler=replay_command)
