"""Where the reference server sends its pushes when it does not hand them out itself: the push
providers' URLs and the credentials a backend holds for each (a service account for FCM, an app id
and secret for HMS, a token-signing key for APNs), and what one send came to (:class:`Outcome`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

__all__ = ["ApnsTarget", "FcmTarget", "HmsTarget", "Outcome", "OutcomeKind", "RelayTargets"]

OutcomeKind = Literal["sent", "retry", "gone", "rejected"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """``sent``: the provider accepted it; ``retry``: try again (``after`` seconds at the earliest);
    ``gone``: the provider says the token is no longer valid (the app was uninstalled); ``rejected``:
    the provider refused this send for good. ``reason``: the provider's code (``UNREGISTERED``,
    ``Unregistered``, ``80300007``, ``QUOTA_EXCEEDED``, ``ConnectError``...)."""

    kind: OutcomeKind
    message_id: str
    reason: str = ""
    after: float = 0.0


@dataclass(frozen=True, slots=True)
class FcmTarget:
    """FCM HTTP v1: ``{base_url}/v1/projects/{project}/messages:send`` and the service account (its
    JSON content: ``client_email``, ``private_key``, ``private_key_id``, ``token_uri``)."""

    base_url: str
    project: str
    service_account: dict[str, Any]


@dataclass(frozen=True, slots=True)
class HmsTarget:
    """HMS Push Kit: ``{base_url}/v1/{app_id}/messages:send``; the token endpoint ``token_url``."""

    base_url: str
    token_url: str
    app_id: str
    client_secret: str


@dataclass(frozen=True, slots=True)
class ApnsTarget:
    """The APNs provider API (HTTP/2, TLS): ``{base_url}/3/device/{token}``; the server's CA to trust,
    the ES256 signing key (PKCS#8 PEM), its key id and team id, and the topic (the app's bundle id)."""

    base_url: str
    ca_file: Path
    key_pem: bytes
    key_id: str
    team_id: str
    topic: str


@dataclass(frozen=True, slots=True)
class RelayTargets:
    """One target per platform; a message of a platform without one is refused (``NO_PROVIDER``:
    ``UNDELIVERABLE``, as a backend without credentials for that platform cannot send it)."""

    fcm: FcmTarget | None = None
    hms: HmsTarget | None = None
    apns: ApnsTarget | None = None
