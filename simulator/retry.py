"""The Android SDK's retry policy (`MRetryPolicy` DEFAULT); iOS never retries a request.

Delay before retry n (1..3) is n² × 2 seconds: 2, 8, 18. Only "backend communication" errors are
retried: a 5xx whose JSON body has no `serviceException` (code `-2`), and a 2xx carrying a
`requestError` outside the invalid-parameter codes. Network failures, empty-body 5xx, 5xx with a
`serviceException` and every 4xx are left to the next sync.
"""

from __future__ import annotations

from .errors import ApiError, SimulatorError
from .wire.errors import INVALID_PARAMETER_CODES

__all__ = ["BACKOFF_MULTIPLIER", "MAX_RETRIES", "delay", "is_retryable"]

MAX_RETRIES = 3
BACKOFF_MULTIPLIER = 2


def delay(attempt: int) -> float:
    """Seconds to wait before retry number `attempt` (1-based)."""
    return float(attempt * attempt * BACKOFF_MULTIPLIER)


def is_retryable(error: SimulatorError) -> bool:
    if not isinstance(error, ApiError):
        return False
    if error.status >= 500:
        return error.code == "-2"
    if 200 <= error.status < 300:
        return error.code.upper() not in INVALID_PARAMETER_CODES
    return False
