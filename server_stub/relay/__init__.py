"""The reference server as a push backend: it sends its messages through FCM, HMS and APNs
(``mobsim serve --providers``) instead of handing them out itself (server_stub/provider.py).

Only the targets are imported here: the relay (``server_stub.relay.loop``) and its senders
(``server_stub.relay.senders``) load httpx, which a server without providers never needs."""

from .targets import ApnsTarget, FcmTarget, HmsTarget, Outcome, RelayTargets

__all__ = ["ApnsTarget", "FcmTarget", "HmsTarget", "Outcome", "RelayTargets"]
