"""``mobsim serve``: the reference profile server in the foreground."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def serve_command(args: argparse.Namespace) -> int:
    from contract.secrets import mask
    from server_stub.faults import parse_faults
    from server_stub.messaging import PushLatency
    from server_stub.protocol import ConnectionLimits
    from server_stub.serve import ServeConfig, bind, build_server, resolve_inspect_token, run_forever, url_of

    config = ServeConfig(
        host=args.host,
        port=args.port,
        db=None if args.memory else Path(args.db),
        app_codes=list(args.app_code or []),
        log_level=args.log_level,
        access_log=args.access_log,
        latency_ms=max(0.0, args.latency_ms),
        strict=args.strict,
        api_keys=list(args.api_key or []),
        push_latency=PushLatency.parse(args.push_latency),
        jwt_keys=list(args.jwt_key or []),
        faults=list(args.fault or []),
        limits=ConnectionLimits(
            max_header_bytes=args.max_header_bytes,
            request_timeout=args.request_timeout,
            max_connections=args.max_connections,
        ),
        inspect_token=args.inspect_token,
    )
    generated = resolve_inspect_token(config)
    try:  # before binding: a bad spec is a one-line error and exit 2
        faults = parse_faults(config.faults)
    except ValueError as exc:
        print(f"mobsim serve: {exc}", file=sys.stderr)
        return 2
    stack = None
    try:
        if args.providers:
            stack = _start_providers(args, config)
        sock = bind(config.host, config.port)
        server, apps = build_server(config)
    except (OSError, RuntimeError) as exc:
        if stack is not None:
            stack.stop()
        print(f"mobsim serve: {exc}", file=sys.stderr)
        return 2
    url = url_of(sock)
    store = "memory (nothing is kept)" if config.db is None else f"SQLite file {config.db}"
    print(f"mobsim reference server on {url}", flush=True)
    print(f"  store:         {store}")
    for app in apps:
        code = mask(app["code"]) if app["code"] in config.app_codes else app["code"]  # a given one is known
        print(f"  app code:      {code}   (account {app['account']}, header hash {app['codeHash']})")
        for jwt_key in server.jwt_keys.of(app["code"]):
            secret = jwt_key.describe()["secret"]
            print(f"  JWT key:       kid {jwt_key.kid} (secret {secret}): its user calls take Bearer JWTs")
    print(f"  SDK base URL:  {url}/   (Authorization: App <app code>)")
    for key in config.api_keys or server.messaging.api_keys():
        shown = mask(key) if key in config.api_keys else key  # the container log shows no given secret
        print(f"  Push API key:  {shown}   (Authorization: App <API key>; POST {url}/push/3/messages)")
    if stack is None:
        print(f"  push provider: {url}/provider/1/deliveries   (latency {config.push_latency} ms, median:p95)")
    else:
        print(f"  push:          sent through these providers (counts: GET {url}/inspect/relay)")
        for line in stack.describe():
            print(f"  {line}")
    print(f"  inspection:    {url}/inspect/persons   docs: {url}/docs", flush=True)
    hint = "   (in a browser, open it once with ?token=<token>)" if config.inspect_token else ""
    print(f"  web page:      {url}/{f'?token={config.inspect_token}' if generated else hint}", flush=True)
    if generated:
        print(f"  inspect token: {config.inspect_token}   (generated: the server is off loopback; send "
              "'Authorization: Bearer <token>' to /inspect and /docs; mobsim's tools read "
              "MOBSIM_INSPECT_TOKEN)", flush=True)  # fmt: skip
    elif config.inspect_token:
        print(
            f"  inspect token: {mask(config.inspect_token)}   (as given: 'Authorization: Bearer <token>')", flush=True
        )
    else:
        print("  inspect token: none (loopback: the inspection API answers this machine only)", flush=True)
    for number, fault in enumerate(faults, 1):
        print(f"  {f'fault {number}:':<15}{fault.spec}   (counters: GET {url}/inspect/faults)", flush=True)
    if config.strict:
        print(f"  strict mode:   violations at {url}/inspect/violations (or: mobsim violations --target {url})")
        _log_violations()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            run_forever(config, sock, server)
    finally:
        if stack is not None:
            stack.stop()
    return 0


def _start_providers(args: argparse.Namespace, config: Any) -> Any:
    """FCM, HMS and APNs on loopback in this process (providers/stack.py); the server then sends
    through them, and the hand-off latency is theirs (build_server: the server sends at once).
    Raises RuntimeError with the reason."""
    from providers.stack import StackOptions, start_stack

    options = StackOptions(host=config.host, port=args.providers_port, apns_port=args.apns_port,
                           folder=Path(args.apns_dir), latency=config.push_latency,
                           faults=list(args.providers_fault or []), inspect_token=config.inspect_token)  # fmt: skip
    stack = start_stack(options)
    config.relay = stack.targets
    return stack


def _log_violations() -> None:
    """Strict mode logs each violation (logger ``mobsim.strict``) on stderr, whatever --log-level says."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger("mobsim.strict")
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False


def register(commands: Any) -> None:
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
    serve.add_argument(
        "--strict",
        action="store_true",
        help="record every protocol violation clients make (answers unchanged): /inspect/violations",
    )
    serve.add_argument(
        "--api-key",
        action="append",
        metavar="KEY",
        help="a Push API key to accept (repeatable); without one the server creates one and prints it",
    )
    serve.add_argument(
        "--push-latency",
        default="300:1500",
        type=_latency,
        metavar="MEDIAN_MS[:P95_MS]",
        help="the simulated push provider's hand-off latency, lognormal (default 300:1500; P95 defaults to 5x)",
    )
    serve.add_argument(
        "--jwt-key",
        action="append",
        type=_jwt_key,
        metavar="APP_CODE:KID:SECRET_HEX",
        help="a user-JWT key of an application (repeatable; key id and hex secret as the app profile shows them): "
        "its user calls then take Bearer JWTs signed with it (HS256), and personalize needs one",
    )
    limits = serve.add_argument_group("connection limits (a client cannot exhaust the server)")
    limits.add_argument(
        "--max-header-bytes",
        type=_at_least(1024, int),
        default=32 * 1024,
        metavar="BYTES",
        help="the request line and headers at most (default 32768); over it: 431 and the connection closes",
    )
    limits.add_argument(
        "--request-timeout",
        type=_at_least(0.001, float),
        default=30.0,
        metavar="SECONDS",
        help="a request must arrive whole within this from its first byte (default 30); else the connection closes",
    )
    limits.add_argument(
        "--max-connections",
        type=_at_least(1, int),
        default=4096,
        metavar="N",
        help="open connections at most (default 4096); over it the longest idle one closes, or 503",
    )
    serve.add_argument(
        "--inspect-token",
        metavar="TOKEN",
        help="the token /inspect and /docs need (Authorization: Bearer TOKEN); default: "
        "MOBSIM_INSPECT_TOKEN, else none on loopback and a generated one, printed, off loopback",
    )
    serve.add_argument(
        "--fault",
        action="append",
        metavar="SPEC",
        help="inject a fault (repeatable), e.g. 'status=503,rate=0.3,until=40': docs/faults.md",
    )
    providers = serve.add_argument_group("push providers (docs/providers.md)")
    providers.add_argument(
        "--providers",
        action="store_true",
        help="send the pushes through FCM, HMS and APNs served on loopback by this process (as a real backend "
        "does) instead of handing them out at /provider/1/deliveries; the devices take them from the providers' feed",
    )
    providers.add_argument(
        "--providers-port", type=int, default=8090, metavar="N",
        help="with --providers: the FCM/HMS/feed/journal port (default 8090; 0 picks one)",
    )  # fmt: skip
    providers.add_argument(
        "--apns-port", type=int, default=2197, metavar="N",
        help="with --providers: the APNs port (default 2197, APNs' own alternative port; 0 picks one)",
    )  # fmt: skip
    providers.add_argument(
        "--apns-dir", default="mobsim-apns", metavar="DIR",
        help="with --providers: the CA, APNs certificate and AuthKey .p8 (made once; default mobsim-apns)",
    )  # fmt: skip
    providers.add_argument("--providers-fault", action="append", metavar="SPEC",
                           help="with --providers: a fault the providers inject into the server's sends (repeatable; "
                           "docs/faults.md), e.g. 'status=503,rate=0.2'")  # fmt: skip
    serve.set_defaults(handler=serve_command)


def _at_least(floor: float, kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value < floor:
            raise argparse.ArgumentTypeError(f"{text} is below the minimum {floor:g}")
        return value

    return parse


def _jwt_key(text: str) -> Any:
    from server_stub.jwt_keys import parse_jwt_key

    try:
        return parse_jwt_key(text)
    except ValueError as exc:  # the message never repeats the secret
        raise argparse.ArgumentTypeError(str(exc)) from None


def _latency(text: str) -> str:
    from server_stub.messaging import PushLatency

    try:
        PushLatency.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text
