"""``mobsim``: one command over the reference server, the virtual devices and the load scenarios."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .run import add_run_arguments, run_command

__all__ = ["main"]


def _serve(args: argparse.Namespace) -> int:
    from server_stub.serve import ServeConfig, bind, build_server, run_forever, url_of

    config = ServeConfig(
        host=args.host,
        port=args.port,
        db=None if args.memory else Path(args.db),
        app_codes=list(args.app_code or []),
        log_level=args.log_level,
        access_log=args.access_log,
        latency_ms=max(0.0, args.latency_ms),
    )
    try:
        sock = bind(config.host, config.port)
        server, apps = build_server(config)
    except (OSError, RuntimeError) as exc:
        print(f"mobsim serve: {exc}", file=sys.stderr)
        return 2
    url = url_of(sock)
    store = "memory (nothing is kept)" if config.db is None else f"SQLite file {config.db}"
    print(f"mobsim reference server on {url}", flush=True)
    print(f"  store:         {store}")
    for app in apps:
        print(f"  app code:      {app['code']}   (account {app['account']}, header hash {app['codeHash']})")
    print(f"  SDK base URL:  {url}/   (Authorization: App <app code>)")
    print(f"  inspection:    {url}/inspect/persons   docs: {url}/docs", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        run_forever(config, sock, server)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mobsim",
        description="Simulate the mobile devices of a push-messaging audience (Infobip Mobile Messaging SDK).",
    )
    parser.add_argument("--version", action="version", version=f"mobsim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    serve = commands.add_parser(
        "serve",
        help="run the reference profile server (the Mobile API with the People rules)",
        description="Run the bundled reference profile server. It prints its base URL and an app code.",
    )
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8080, help="port (default 8080; 0 picks a free one)")
    store = serve.add_mutually_exclusive_group()
    store.add_argument(
        "--db", default="mobsim.db", metavar="PATH", help="SQLite file to keep data in (default mobsim.db)"
    )
    store.add_argument("--memory", action="store_true", help="keep everything in memory (lost on exit)")
    serve.add_argument(
        "--app-code",
        action="append",
        metavar="CODE",
        help="an application code to accept (repeatable); without one the server creates one",
    )
    serve.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.add_argument(
        "--latency-ms", type=float, default=0.0, help="delay every answer (a slow backend for load-model tests)"
    )
    serve.set_defaults(handler=_serve)

    run = commands.add_parser(
        "run",
        help="run a realistic load test (against the bundled server unless --target) and summarise it",
        description="Run the Locust scenarios headless against the bundled reference server (default) or a "
        "backend given with --target, print a summary, write HTML, CSV and JSON reports, and apply gates.",
    )
    add_run_arguments(run)
    run.set_defaults(handler=run_command)
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
