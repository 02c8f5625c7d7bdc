"""``mobsim proxy --target URL``: a validating, recording proxy between an app's SDK and a real backend.

The proxy (server_stub/proxy.py) forwards every request to the target and answers with the target's
answer; ``--strict`` records the app's protocol violations (``mobsim violations --target <proxy>``),
``--fault SPEC`` injects faults toward the app, ``--record FILE`` writes a JSONL file that ``mobsim
replay`` sends later. The target follows :mod:`mobsim.targets`: off loopback it needs
``--allow-remote-target`` (no app code: the app's SDK sends its own). Exit codes: 0 stopped (Ctrl-C),
2 bad options, an unconfirmed remote target, a port in use or a recording file that exists.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import sys
from pathlib import Path
from typing import Any

from . import exitcodes
from .targets import ALLOW_REMOTE_HELP, TargetError, resolve_url_target

__all__ = ["register"]


def proxy_command(args: argparse.Namespace) -> int:
    from server_stub.faults import parse_faults
    from server_stub.guard import settle_token
    from server_stub.proxy import create_proxy, run_proxy
    from server_stub.proxy_recording import ProxyRecording
    from server_stub.serve import bind, url_of

    try:
        target = resolve_url_target(args.target, allow_remote=args.allow_remote_target)
        faults = parse_faults(args.fault or [])  # ValueError names the --fault and what is wrong
    except (TargetError, ValueError) as exc:
        return _usage(str(exc))
    token, generated = settle_token(args.inspect_token, args.host)
    record = Path(args.record) if args.record else None
    if record is not None and record.exists():
        return _usage(f"--record {record} exists: give a new file name (a recording is never overwritten)")
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        return _usage(str(exc))
    try:
        recording = None if record is None else ProxyRecording(record, target)
    except OSError as exc:
        sock.close()
        return _usage(f"--record {record}: {exc.strerror or exc}")
    app = create_proxy(target, timeout=args.timeout, strict=args.strict, recording=recording, faults=faults,
                       inspect_token=token)  # fmt: skip
    url = url_of(sock)
    _banner(args, url, target, [fault.spec for fault in faults], token if generated else None)
    with contextlib.suppress(KeyboardInterrupt):
        run_proxy(app, sock, log_level=args.log_level)
    if recording is not None:
        recording.close()
        print(f"mobsim proxy: recorded {recording.requests} requests in {record}", flush=True)
    return exitcodes.PASSED


def _usage(text: str) -> int:
    print(f"mobsim proxy: {text}", file=sys.stderr)
    return exitcodes.USAGE


def _banner(args: argparse.Namespace, url: str, target: str, faults: list[str], generated: str | None) -> None:
    """Where to point the app's SDK, the target, and where violations, faults and the recording are."""
    print(f"mobsim proxy on {url} → {target}")
    print(f"  SDK base URL:  {url}/   (give it to the app's SDK: withApiUri on Android, the base URL on iOS)")
    if args.host in ("0.0.0.0", "::"):
        print(f"                 (a phone reaches it at this machine's network address, port {url.rsplit(':', 1)[1]})")
    print(f"  target:        {target}   (its answers go to the app; none within {args.timeout:g} s: 504)")
    if args.strict:
        print(f"  strict mode:   violations at {url}/inspect/violations (or: mobsim violations --target {url})")
        from .serve import _log_violations

        _log_violations()
    else:
        print("  strict mode:   off (--strict records the app's protocol violations)")
    for number, spec in enumerate(faults, 1):
        print(f"  {f'fault {number}:':<15}{spec}   (toward the app; counters: GET {url}/inspect/faults)")
    if not faults:
        print(f"  faults:        none (--fault SPEC, or POST {url}/inspect/faults at run time)")
    if generated:
        print(f"  inspect token: {generated}   (generated: off loopback, /inspect/faults and /inspect/violations "
              "need 'Authorization: Bearer <token>')")  # fmt: skip
    if args.record:
        print(f"  recording:     {args.record}   (mode 0600, it holds push tokens and user data; send it with "
              f"mobsim replay {args.record} --target URL --app-code CODE)")  # fmt: skip
    else:
        print("  recording:     off (--record FILE keeps what the app sends, for mobsim replay)")
    sys.stdout.flush()


def _timeout(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0")
    return value


def register(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "proxy",
        help="a validating, recording proxy between an app's SDK and a real backend",
        description="Forward an app's SDK traffic to a backend and answer with its answers; --strict records "
        "the app's protocol violations (mobsim violations --target <proxy URL>), --fault injects faults toward "
        "the app, --record writes a JSONL file for mobsim replay. It prints the base URL to give the app's SDK. "
        "Exit codes: 0 stopped with Ctrl-C; 2 bad options, an unconfirmed remote target, a port in use or a "
        "recording file that exists.",
    )
    parser.add_argument(
        "--target", required=True, metavar="URL", help="the backend's base URL (off loopback: --allow-remote-target)"
    )
    parser.add_argument("--allow-remote-target", action="store_true", help=ALLOW_REMOTE_HELP)
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 for a phone)"
    )
    parser.add_argument("--port", type=int, default=8081, help="port (default 8081; 0 picks a free one)")
    parser.add_argument(
        "--strict",
        action="store_true",
        help="record every protocol violation the app makes (answers unchanged): /inspect/violations",
    )
    parser.add_argument(
        "--fault",
        action="append",
        metavar="SPEC",
        help="inject a fault toward the app (repeatable), e.g. 'status=503,rate=0.3,until=40': docs/faults.md",
    )
    parser.add_argument(
        "--record", metavar="FILE", help="write what the app sends (and the answers) to a new JSONL file for replay"
    )
    parser.add_argument(
        "--timeout",
        type=_timeout,
        default=55.0,
        metavar="S",
        help="seconds the target may take to answer, else 504 (default 55: under the SDK's 60)",
    )
    parser.add_argument(
        "--inspect-token",
        metavar="TOKEN",
        help="the token the proxy's own /inspect routes need (default: MOBSIM_INSPECT_TOKEN, else none on "
        "loopback and a generated one, printed, off loopback)",
    )
    parser.add_argument("--log-level", default="warning", choices=["critical", "error", "warning", "info", "debug"])
    parser.set_defaults(handler=proxy_command)
