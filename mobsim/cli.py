"""``mobsim``: one command over the reference server, the virtual devices and the load scenarios.

Each command lives in its own module of this package, which exposes ``register(commands)``: it adds
its sub-parser and sets ``handler`` to a function of the parsed arguments returning the exit code.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Sequence

from . import __version__

__all__ = ["COMMANDS", "build_parser", "main"]

COMMANDS = ("serve", "run", "push", "check", "violations", "proxy", "demo", "replay", "providers")
"""The command modules, in the order ``mobsim --help`` lists them."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobsim",
        description="Simulate the mobile devices of a push-messaging audience (Infobip Mobile Messaging SDK).",
    )
    parser.add_argument("--version", action="version", version=f"mobsim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name in COMMANDS:
        importlib.import_module(f"mobsim.{name}").register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "port", 0) is not None and not 0 <= getattr(args, "port", 0) <= 65535:
        parser.error("--port must be 0 to 65535")
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
