"""The loopback push providers in this process, beside the reference server (``mobsim serve
--providers``, ``mobsim run --providers``): FCM and HMS on one HTTP listener, APNs (HTTP/2, TLS) on
another, one journal, the deliveries feed, and the credentials a backend needs to send to them
(:attr:`ProviderStack.targets`: a fresh service account the FCM token endpoint verifies, an HMS app
id and secret, the APNs CA and token-signing key in ``folder``).

Each listener runs in a daemon thread of its own, so the server's event loop only sends to them.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from server_stub.faults import FaultRegistry, parse_faults
from server_stub.guard import Guard
from server_stub.messaging import PushLatency
from server_stub.protocol import ConnectionLimits, protocol_class
from server_stub.relay.targets import ApnsTarget, FcmTarget, HmsTarget, RelayTargets
from server_stub.serve import UvicornThread, bind, url_of

from .apns import ApnsConfig, ApnsServer, ensure_provider_key
from .app import create_providers_app
from .errors import ProviderError
from .journal import Journal
from .service_account import ServiceAccount, new_service_account
from .tls import ensure_certificates

__all__ = ["HMS_APP_ID", "ProviderStack", "StackOptions", "listener_config", "start_stack"]

HMS_APP_ID = "101234567"
"""The HMS app id (OAuth client id) the stack's credentials name."""
APNS_TOPIC = "org.mobsim.demo"


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    port: int = 0
    """FCM, HMS, the feed and the journal (0 picks a free port)."""
    apns_port: int = 0
    folder: Path = Path("mobsim-apns")
    """The CA, the APNs server certificate and the AuthKey ``.p8`` (made once, reused)."""
    latency: PushLatency = field(default_factory=PushLatency)
    faults: list[str] = field(default_factory=list)
    project: str = "mobsim-demo"
    inspect_token: str | None = None
    """The token ``/inspect/faults`` needs (none: this machine only, as the reference server's)."""


class ProviderStack:
    """FCM + HMS + feed + journal on ``url``, APNs on ``apns.url``; ``targets`` for the relay."""

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        o = self.options
        try:
            self.faults = FaultRegistry(parse_faults(o.faults))
        except ValueError as exc:
            raise ProviderError(f"--fault: {exc} (docs/faults.md)") from None
        self.journal = Journal()
        certificates = ensure_certificates(o.folder)  # before the socket: a bad folder leaks nothing
        key = ensure_provider_key(o.folder)
        self._sock = bind(o.host, o.port)
        self.url = url_of(self._sock)
        self.account: ServiceAccount = new_service_account(f"{self.url}/token", o.project)
        secret = secrets.token_urlsafe(24)
        app = create_providers_app(
            self.journal,
            latency=o.latency,
            fcm_keys={self.account.key_id: self.account.public_pem},
            hms_clients={HMS_APP_ID: secret},
            faults=self.faults,
        )
        self.app = app
        self._serving = UvicornThread(uvicorn.Server(listener_config(app, token=o.inspect_token)), self._sock)
        self.apns = ApnsServer(
            self.journal,
            certificates,
            ApnsConfig(keys={key.key_id: key}),
            host=o.host,
            port=o.apns_port,
            faults=self.faults,
        )
        self.key_file = Path(o.folder) / f"AuthKey_{key.key_id}.p8"
        self._apns_key = key
        self._hms_secret = secret

    @property
    def feed_url(self) -> str:
        return f"{self.url}/provider/1/deliveries"

    @property
    def targets(self) -> RelayTargets:
        """Where and how a backend sends to these providers (valid once started: APNs' port)."""
        return RelayTargets(
            fcm=FcmTarget(self.url, self.options.project, dict(self.account.info)),
            hms=HmsTarget(self.url, f"{self.url}/oauth2/v3/token", HMS_APP_ID, self._hms_secret),
            apns=ApnsTarget(
                self.apns.url,
                self.apns.certificates.ca_cert,
                self.key_file.read_bytes(),
                self._apns_key.key_id,
                self._apns_key.team_id,
                APNS_TOPIC,
            ),
        )

    def start(self, timeout: float = 10.0) -> ProviderStack:
        if not self._serving.start(timeout):
            raise ProviderError(f"the push providers did not start on {self.url}")
        self.apns.start()
        return self

    def stop(self) -> None:
        self.apns.stop()
        self._serving.stop()

    def describe(self) -> list[str]:
        """The lines ``mobsim serve --providers`` prints: each endpoint a backend is configured with."""
        project = self.options.project
        return [
            f"  FCM send          {self.url}/v1/projects/{project}/messages:send  (token_uri {self.url}/token)",
            f"  HMS               {self.url}/v1/{HMS_APP_ID}/messages:send  (token {self.url}/oauth2/v3/token)",
            f"  APNs              {self.apns.url}  (trust {self.apns.certificates.ca_cert}; key {self.key_file})",
            f"  deliveries        {self.feed_url}  (latency {self.options.latency} ms)",
            f"  journal           {self.url}/journal  {self.url}/journal/verify",
        ]

    def journal_report(self) -> dict[str, Any]:
        """The journal's summary and its checks' problems (what a run summary shows)."""
        problems = self.journal.verify(None)
        return {"summary": self.journal.summary(), "problems": problems, "ok": not problems}

    def __enter__(self) -> ProviderStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def listener_config(app: Any, *, token: str | None, tls: dict[str, Any] | None = None) -> uvicorn.Config:
    """uvicorn's configuration of the FCM/HMS/feed/journal listener (here and ``mobsim providers``):
    ``/inspect/faults`` guarded as the reference server's inspection API (``token``, else this
    machine only), mobsim's protocol (connection limits, and the socket a ``reset`` fault aborts),
    keep-alive as common front ends; ``tls``: uvicorn's ``ssl_certfile``/``ssl_keyfile``."""
    return uvicorn.Config(Guard(app, token=token, check_host=True), log_level="warning", lifespan="off",
                          timeout_keep_alive=75, http=protocol_class(ConnectionLimits()), **(tls or {}))  # fmt: skip


def start_stack(options: StackOptions) -> ProviderStack:
    """The stack, started; ``RuntimeError("--providers: <reason>")`` when it cannot be (a port taken,
    a bad fault spec, a CA folder that cannot be made), which the commands print as one line."""
    try:
        return ProviderStack(options).start()
    except (ProviderError, OSError) as exc:
        raise RuntimeError(f"--providers: {exc}") from None
