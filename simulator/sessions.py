"""Session tracking and session reports (App Launch), per platform.

State: `DeviceState.sessions`, a list of `[start_ms, end_ms, start_reported]`.

Android (`UserSessionTracker`): one active session, the last entry. A tick (on foreground and every
5 s) starts a new session when `now - end > 30 000 ms`; the previous one stays as a stored bound.
Reports carry the active start and the stored bounds; success drops the bounds.

iOS (`UserSessionService`): a tick extends every session whose end is within the last 30 s, or
opens `[now, now + 5 s]`. Reports carry every unreported start and every finished session
(`end <= now - 30 s`) as bounds; success marks the starts reported and drops finished sessions.
"""

from __future__ import annotations

from typing import Any

from contract.formats import format_epoch
from contract.sessions import SESSION_TIMEOUT_MS, ended, starts_new_session

__all__ = [
    "HEARTBEAT",
    "TIMEOUT_MS",
    "android_pause",
    "android_report",
    "android_reported",
    "android_tick",
    "current_session_start",
    "ios_report",
    "ios_reported",
    "ios_tick",
    "report_body",
]

HEARTBEAT = 5.0
TIMEOUT_MS = SESSION_TIMEOUT_MS
_MIN_IOS_MS = 5_000


def android_tick(sessions: list[list[int]], now_ms: int) -> bool:
    """Returns True when a new session started after a previous one (a report is due)."""
    current = sessions[-1] if sessions else None
    if current is None or starts_new_session(current[1], now_ms):
        sessions.append([now_ms, now_ms, 0])
        return current is not None
    current[1] = now_ms
    return False


def android_pause(sessions: list[list[int]], now_ms: int) -> None:
    if sessions:
        sessions[-1][1] = now_ms


def android_report(sessions: list[list[int]]) -> tuple[list[str], dict[str, str]] | None:
    """(sessionStarts, sessionBounds), or None when nothing new is there to report."""
    if not sessions:
        return None
    current = sessions[-1]
    bounds = {format_epoch(s / 1000): format_epoch(e / 1000) for s, e, _ in sessions[:-1]}
    if current[2] and not bounds:
        return None
    return [format_epoch(current[0] / 1000)], bounds


def android_reported(sessions: list[list[int]]) -> None:
    """After success: the stored bounds are gone, the active start is reported."""
    del sessions[:-1]
    sessions[0][2] = 1


def ios_tick(sessions: list[list[int]], now_ms: int) -> None:
    live = [s for s in sessions if not ended(s[1], now_ms)]
    for session in live:
        session[1] = max(session[1], now_ms)
    if not live:
        sessions.append([now_ms, now_ms + _MIN_IOS_MS, 0])


def ios_report(sessions: list[list[int]], now_ms: int) -> tuple[list[str], dict[str, str]] | None:
    starts = [format_epoch(s / 1000) for s, _, reported in sessions if not reported]
    bounds: dict[str, str] = {}
    for start, end, _ in sessions:
        if ended(end, now_ms):
            key = format_epoch(start / 1000)
            bounds[key] = max(bounds.get(key, ""), format_epoch(end / 1000))
    if not starts and not bounds:
        return None
    return starts, bounds


def ios_reported(sessions: list[list[int]], now_ms: int) -> list[list[int]]:
    kept = [s for s in sessions if not ended(s[1], now_ms)]
    for session in kept:
        session[2] = 1
    return kept


def current_session_start(sessions: list[list[int]] | None, now_ms: int, *, ios: bool) -> int | None:
    """Start of the session the `sessionId` header names (iOS: one that ended < 30 s ago)."""
    if not sessions:
        return None
    current = sessions[-1]
    if ios and ended(current[1], now_ms):
        return None
    return current[0]


def report_body(
    starts: list[str], bounds: dict[str, str], system: dict[str, Any], *, omit_empty: bool = False
) -> dict[str, Any]:
    """Android (`UserSessionEventBody`) always sends both members, ``[]``/``{}`` when empty; iOS
    (`UserSessionMapper.requestPayload`, ``omit_empty``) leaves an empty one out."""
    body: dict[str, Any] = {"systemData": system}
    if starts or not omit_empty:
        body["sessionStarts"] = starts
    if bounds or not omit_empty:
        body["sessionBounds"] = bounds
    return body
