"""Push providers on loopback (issue 14): FCM HTTP v1, HMS Push Kit and APNs imitations that a push
backend sends to, a journal of what it sent (:mod:`providers.journal`), and a deliveries feed that
hands the accepted sends to mobsim's virtual devices. docs/providers.md is the user's page."""

from __future__ import annotations

from .errors import ProviderError
from .journal import Accepted, Journal, Provider, Rejected

__all__ = ["Accepted", "Journal", "Provider", "ProviderError", "Rejected"]
