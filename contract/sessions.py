"""The 30-second rule: when a foreground is a new session (an App Launch), for both SDKs.

Both SDKs keep a session alive while the app comes back within 30 seconds of its last activity
(Android `UserSessionTracker`: a new session when `now - end > 30 000 ms`; iOS
`UserSessionService`: sessions that ended within the last 30 s are extended, older ones are
finished). The device applies the rule; the strict server judges a client's session reports by it.
See docs/reference/mobile-api-android.md §4 and mobile-api-ios-and-people.md §7.1.
"""

from __future__ import annotations

__all__ = ["SESSION_TIMEOUT_MS", "ended", "starts_new_session"]

SESSION_TIMEOUT_MS = 30_000
"""Milliseconds of inactivity after which the next foreground starts a new session."""


def starts_new_session(previous_end_ms: int, now_ms: int) -> bool:
    """Android: a tick at ``now_ms`` starts a new session after one that ended at ``previous_end_ms``
    only when strictly more than 30 s have passed (exactly 30 000 ms continues it)."""
    return now_ms - previous_end_ms > SESSION_TIMEOUT_MS


def ended(end_ms: int, now_ms: int) -> bool:
    """iOS: a session whose last activity was at ``end_ms`` is finished at ``now_ms`` (reported as a
    bound, no longer extended) once 30 s or more have passed."""
    return end_ms <= now_ms - SESSION_TIMEOUT_MS
