"""The Android SDK's retry schedule (`MRetryPolicy` DEFAULT); iOS never retries a request at once.

Retry n (1..3) waits n² × 2 seconds: 2, 8, 18. Which errors are retried is the client's reading of
an answer (`simulator.retry.is_retryable`); the schedule itself is what both the device and the
strict server (which flags retries faster than it) must agree on. See
docs/reference/mobile-api-android.md (`MRetryPolicy`, `MRetryableTask`).
"""

from __future__ import annotations

__all__ = ["BACKOFF_MULTIPLIER", "MAX_RETRIES", "delay"]

MAX_RETRIES = 3
BACKOFF_MULTIPLIER = 2


def delay(attempt: int) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based)."""
    return float(attempt * attempt * BACKOFF_MULTIPLIER)
