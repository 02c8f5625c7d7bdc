"""Where traffic goes: loopback targets are free; anything else needs an explicit confirmation and
is held to a request-rate cap, so that nobody load-tests a production backend by accident."""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

__all__ = ["DEFAULT_REMOTE_MAX_RPS", "TargetError", "check_target", "is_loopback", "mask_code", "parse_timespan"]

DEFAULT_REMOTE_MAX_RPS = 50.0


class TargetError(ValueError):
    """A target or option that mobsim refuses, with what to do about it."""


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_target(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetError(f"--target {url!r} is not an http(s) URL such as https://mobile.example.com")
    return url.rstrip("/")


def mask_code(code: str) -> str:
    """Application codes are secrets on a real backend: show the first and last four characters."""
    return code if len(code) <= 8 else f"{code[:4]}…{code[-4:]}"


_SPAN = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def parse_timespan(text: str) -> int:
    """``90``, ``90s``, ``2m``, ``1h30m`` → seconds (Locust's ``--run-time`` syntax)."""
    match = _SPAN.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise TargetError(f"--run-time {text!r}: write it as 30s, 2m or 1h30m")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds
