"""``mobsim providers``: FCM HTTP v1 and HMS Push Kit on loopback for a push backend to send to.

Serves the send and token endpoints (providers/fcm.py, providers/hms.py), the deliveries feed that
hands the accepted sends to the virtual devices (``GET /provider/1/deliveries``, the reference
server's shape) and the journal (``GET /journal``, ``GET /journal/verify``). Loopback only unless
``--allow-remote-bind``. ``--service-account FILE`` writes a service-account JSON whose key the token
endpoint verifies. ``--apns-port N`` also starts the loopback APNs (providers/apns.py, HTTP/2 + TLS)
on the same journal, with its ``.p8`` key in ``--apns-dir``. ``--tls`` serves the FCM/HMS listener over
HTTPS; both TLS listeners use the local CA and server certificate in ``--apns-dir`` (providers/tls.py).
``mobsim providers --verify URL`` is the CI check: exit 0 when the journal's checks pass, 1 when they
fail, 2 when the URL cannot be read (``--ca FILE`` for an https URL). ``--fault SPEC`` (repeatable;
docs/faults.md) injects faults into FCM, HMS and APNs, ``/inspect/faults`` changes them while it runs.
docs/providers.md is the user's page.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from . import exitcodes

__all__ = ["journal_check", "register"]


def _latency(text: str) -> Any:
    from server_stub.messaging import PushLatency

    try:
        return PushLatency.parse(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def journal_check(url: str, expected: Sequence[str] = (), *, trust: Any = True) -> dict[str, Any]:
    """``GET <url>/journal/verify`` of running providers: ``{"ok", "problems", "summary"}``. Raises
    httpx.HTTPError (``HTTPStatusError`` for a non-2xx answer), or ValueError/KeyError/TypeError for
    an answer that is not the journal's."""
    import httpx

    target = url.rstrip("/") + "/journal/verify"
    answer = httpx.get(target, params=[("expected", token) for token in expected], timeout=30, verify=trust)
    answer.raise_for_status()  # a 404: no journal there (a feed that is not mobsim providers')
    body = answer.json()
    if not isinstance(body["problems"], list) or not isinstance(body["summary"], dict):
        raise TypeError(f"{target} answered no journal check")
    return dict(body)


def verify(url: str, expected: list[str], ca: str | None = None) -> int:
    """Print the journal's problems at ``url`` (a providers base URL); 0 none, 1 some, 2 unreadable.
    An https URL is verified against ``ca`` (a PEM file) when given, else the system's trust store."""
    import ssl

    import httpx

    target = url.rstrip("/") + "/journal/verify"
    tls: dict[str, Any] = {}
    if target.startswith("https://"):
        try:
            tls["verify"] = ssl.create_default_context(cafile=ca)
        except (OSError, ssl.SSLError) as exc:
            print(f"mobsim providers: cannot read the CA file --ca {ca}: {exc}", file=sys.stderr)
            return exitcodes.USAGE
    try:
        body = journal_check(url, expected, trust=tls.get("verify", True))
        problems = body["problems"]
    except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
        hint = ""
        if tls and ca is None:
            hint = " (a mobsim providers --tls listener: trust its CA with --ca DIR/ca.pem)"
        print(f"mobsim providers: cannot read {target}: {exc}{hint}", file=sys.stderr)
        return exitcodes.USAGE
    summary = body.get("summary", {})
    print(f"journal: {summary.get('accepted', 0)} accepted, {summary.get('rejected', 0)} rejected")
    for problem in problems:
        print(f"  FAIL {problem}")
    if not problems:
        print("  every check passed")
    return exitcodes.FAILED if problems else exitcodes.PASSED


def _expected(path: str | None) -> list[str]:
    if path is None:
        return []
    text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    return [line.strip() for line in text.splitlines() if line.strip()]


def providers_command(args: argparse.Namespace) -> int:
    import uvicorn

    from providers.app import create_providers_app
    from providers.errors import ProviderError
    from providers.journal import Journal
    from providers.service_account import new_service_account
    from providers.stack import listener_config
    from providers.tls import ensure_certificates
    from server_stub.faults import FaultRegistry, parse_faults
    from server_stub.guard import is_loopback_host, token_from_env
    from server_stub.serve import bind, serve_until_stopped, url_of

    if args.verify is not None:
        try:
            return verify(args.verify, _expected(args.expected_tokens), _ca_file(args))
        except OSError as exc:
            print(f"mobsim providers: cannot read --expected-tokens: {exc.strerror}", file=sys.stderr)
            return exitcodes.USAGE
    if not is_loopback_host(args.host) and not args.allow_remote_bind:
        print(f"mobsim providers: {args.host} is not a loopback address: add --allow-remote-bind to listen "
              "there (anyone who reaches it can send and read the journal)", file=sys.stderr)  # fmt: skip
        return exitcodes.USAGE
    try:
        faults = FaultRegistry(parse_faults(args.fault))
    except ValueError as exc:
        print(f"mobsim providers: {exc} (docs/faults.md)", file=sys.stderr)
        return exitcodes.USAGE
    try:
        certs = ensure_certificates(args.apns_dir) if args.tls or args.apns_port is not None else None
    except ProviderError as exc:
        print(f"mobsim providers: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"mobsim providers: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    base = url_of(sock)
    if args.tls:
        base = "https://" + base.removeprefix("http://")
    keys: dict[str, bytes] = {}
    if args.service_account is not None:
        account = new_service_account(f"{base}/token", args.project)
        try:
            account.write(Path(args.service_account))
        except ProviderError as exc:
            sock.close()
            print(f"mobsim providers: {exc}", file=sys.stderr)
            return exitcodes.USAGE
        keys[account.key_id] = account.public_pem
    journal = Journal()
    app = create_providers_app(journal, latency=args.latency, fcm_quota=args.fcm_quota, fcm_keys=keys,
                               faults=faults)  # fmt: skip
    try:
        apns = _start_apns(args, journal, certs, faults)
    except ProviderError as exc:
        sock.close()
        print(f"mobsim providers: {exc}", file=sys.stderr)
        return exitcodes.USAGE
    print(f"mobsim providers on {base}")
    if args.tls and certs is not None:
        print(f"  CA               {certs.ca_cert}  (trust it: SSL_CERT_FILE, REQUESTS_CA_BUNDLE, --ca)")
    print(f"  FCM send         {base}/v1/projects/{args.project}/messages:send")
    print(f"  FCM token_uri    {base}/token" + (f"  (written to {args.service_account})" if keys else ""))
    print(f"  HMS token_server {base}/oauth2/v3/token")
    print(f"  HMS push_open_url {base}/v1/<appId>/messages:send")
    print(f"  deliveries       {base}/provider/1/deliveries  (latency {args.latency} ms)")
    print(f"  journal          {base}/journal  {base}/journal/verify")
    if apns is not None:
        folder = Path(args.apns_dir)
        print(f"  APNs             {apns.url}  (trust {apns.certificates.ca_cert}; token key "
              f"{folder / 'AuthKey_MOBSIMKEY1.p8'}, key id MOBSIMKEY1, team id MOBSIMTEAM)")  # fmt: skip
    reach = "FCM, HMS and APNs" if apns is not None else "FCM and HMS"
    print(f"  faults           {base}/inspect/faults  ({len(faults.entries())} in force; on {reach})")
    sys.stdout.flush()
    tls: dict[str, Any] = {}
    if args.tls and certs is not None:  # HTTP/1.1 over TLS (uvicorn speaks no HTTP/2; clients fall back)
        tls = {"ssl_certfile": str(certs.server_cert), "ssl_keyfile": str(certs.server_key)}
    # /inspect/faults guarded with MOBSIM_INSPECT_TOKEN when set, else this machine only
    config = listener_config(app, token=token_from_env(), tls=tls)
    try:
        serve_until_stopped(uvicorn.Server(config), sock)
    finally:
        if apns is not None:
            apns.stop()
    return exitcodes.PASSED


def _start_apns(args: argparse.Namespace, journal: Any, certs: Any, faults: Any) -> Any:
    """The loopback APNs on ``--apns-port`` (None without it), sharing the journal and the faults."""
    if args.apns_port is None:
        return None
    from providers.apns import ApnsConfig, ApnsServer, ensure_provider_key

    key = ensure_provider_key(args.apns_dir)
    config = ApnsConfig(keys={key.key_id: key})
    return ApnsServer(journal, certs, config, host=args.host, port=args.apns_port, faults=faults).start()


def _ca_file(args: argparse.Namespace) -> str | None:
    """The CA ``--verify`` trusts: ``--ca``, else ``--apns-dir``'s ``ca.pem`` when it exists, else none."""
    if args.ca is not None:
        return str(args.ca)
    default = Path(args.apns_dir) / "ca.pem"
    return str(default) if default.is_file() else None


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "providers",
        help="serve FCM HTTP v1, HMS Push Kit and APNs on loopback, with a journal of what a backend sent",
        description="Serve the FCM and HMS send and token endpoints a push backend calls (over HTTPS with --tls), "
        "and APNs with --apns-port, hand what they accept "
        "to mobsim's devices (GET /provider/1/deliveries) and keep a journal (GET /journal). With --verify URL: "
        "check a running one's journal; exit codes 0 every check passed, 1 a check failed, 2 bad options or the "
        "journal cannot be read.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8090, help="port (default 8090; 0 picks a free one)")
    parser.add_argument("--allow-remote-bind", action="store_true", help="confirm listening off loopback")
    parser.add_argument("--latency", type=_latency, default="300:1500", metavar="MEDIAN_MS[:P95_MS]",
                        help="hand-off latency of accepted sends (default 300:1500)")  # fmt: skip
    parser.add_argument("--fcm-quota", type=int, metavar="N", help="FCM sends per project per minute (default none)")
    parser.add_argument("--project", default="mobsim-demo", help="the FCM project id printed and written")
    parser.add_argument("--service-account", metavar="FILE",
                        help="write a service-account JSON (fresh RSA key, token_uri on this server)")  # fmt: skip
    parser.add_argument("--apns-port", type=int, metavar="N", help="also serve APNs (HTTP/2, TLS) here; 0 picks one")
    parser.add_argument("--tls", action="store_true",
                        help="serve FCM, HMS, the deliveries and the journal over HTTPS (HTTP/1.1), with the "
                        "server certificate of the local CA in --apns-dir")  # fmt: skip
    parser.add_argument("--apns-dir", default="mobsim-apns", metavar="DIR",
                        help="the local CA (ca.pem, to trust) and server certificate of --tls and APNs, and "
                        "APNs' AuthKey .p8 (made once; default mobsim-apns)")  # fmt: skip
    parser.add_argument("--fault", action="append", default=[], metavar="SPEC",
                        help="inject a fault into FCM, HMS and APNs (repeatable; docs/faults.md), e.g. "
                        "'status=503,endpoint=/v1/projects/*/messages:send,rate=0.3'")  # fmt: skip
    parser.add_argument("--verify", metavar="URL", help="check the journal of the providers at URL and exit")
    parser.add_argument("--ca", metavar="FILE",
                        help="with --verify of an https URL: the CA to trust (default: --apns-dir's ca.pem "
                        "when it exists, else the system's)")  # fmt: skip
    parser.add_argument("--expected-tokens", metavar="FILE",
                        help="with --verify: device tokens (one a line, - for stdin) to be reached")  # fmt: skip
    parser.set_defaults(handler=providers_command)
