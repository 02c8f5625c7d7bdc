"""How secrets appear where people read them: logs, errors, banners of what was given.

Application codes, API keys, push tokens, inspection tokens and JWT secrets are secrets on a real
backend. Wherever mobsim writes one into a log line or an error message it writes :func:`mask` of
it: the first four characters and an ellipsis, or the ellipsis alone for a value of eight
characters or fewer (whose first four would be half of it).
"""

from __future__ import annotations

__all__ = ["mask"]

KEEP = 4


def mask(secret: str) -> str:
    """``secret`` as a log or an error may show it: never the whole, nor most of a short one."""
    if len(secret) <= 2 * KEEP:
        return "…" if secret else ""
    return secret[:KEEP] + "…"
