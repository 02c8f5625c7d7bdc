"""The Android SDK's retry policy (`MRetryPolicy` DEFAULT); iOS never retries a request.

Delay before retry n (1..3) is n² × 2 seconds: 2, 8, 18. Only "backend communication" errors are
retried: a 5xx whose JSON body has no `serviceException` (code `-2`), and a 2xx carrying a
`requestError` outside the invalid-parameter codes. Network failures, empty-body 5xx, 5xx with a
`serviceException` and every 4xx are left to the next sync.
"""

from __future__ import annotations

from contract.errors import INVALID_PARAMETER_CODES
from contract.retry import BACKOFF_MULTIPLIER, MAX_RETRIES, delay

from .errors import ApiError, SimulatorError

__all__ = ["BACKOFF_MULTIPLIER", "MAX_RETRIES", "delay", "is_retryable"]


def is_retryable(error: SimulatorError) -> bool:
    if not isinstance(error, ApiError):
        return False
    if error.status >= 500:
        return error.code == "-2"
    if 200 <= error.status < 300:
        # compared exactly, as `MAsyncTask.invalidParameterErrorCodes.contains(code)` does: a 2xx
        # carrying `personalization_impossible` is retried (only NO_REGISTRATION's recovery
        # ignores the case, in `handleNoRegistrationError`)
        return error.code not in INVALID_PARAMETER_CODES
    return False
