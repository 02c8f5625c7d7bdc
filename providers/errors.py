"""The providers package's one exception tree."""

from __future__ import annotations

__all__ = ["ProviderError"]


class ProviderError(Exception):
    """A provider cannot be set up as asked (bad option, missing dependency); the text says how to fix it."""
