"""The reference server as a push backend: it sends its messages through FCM, HMS and APNs
(``mobsim serve --providers``) instead of handing them out itself (server_stub/provider.py)."""

from .loop import ProviderRelay
from .senders import ApnsSender, FcmSender, HmsSender
from .targets import ApnsTarget, FcmTarget, HmsTarget, Outcome, RelayTargets

__all__ = ["ApnsSender", "ApnsTarget", "FcmSender", "FcmTarget", "HmsSender", "HmsTarget", "Outcome",
           "ProviderRelay", "RelayTargets"]  # fmt: skip
