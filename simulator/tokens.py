"""Identifiers a phone makes for itself: cloud push tokens and the per-install UUID.

Every value is derived from the device seed and two counters (reinstalls, token refreshes), so the
parked state stores two small integers instead of a 160-character token.
"""

from __future__ import annotations

import base64
import hashlib

from contract.dialect import Platform
from contract.messages import route_bytes

__all__ = ["installation_id", "push_token"]


def _stream(label: str, size: int) -> bytes:
    out = b""
    block = 0
    while len(out) < size:
        out += hashlib.blake2b(f"{label}#{block}".encode(), digest_size=64).digest()
        block += 1
    return out[:size]


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def push_token(platform: Platform, seed: int, install: int, generation: int, route: int = 0) -> str:
    """The cloud token of one install after `generation` refreshes.

    FCM: 22-character instance id, `:APA91b`, 134 base64url characters (163 in all);
    HMS: `IQAAAACy0` and base64url, 130 characters; APNs: 32 bytes as 64 lower-case hex digits.
    A device with a ``route`` (its place in a population) carries it in the first 8 random bytes
    (`contract.messages.route_bytes`), so the simulated push provider can find it.
    """
    raw = _stream(f"token:{platform.value}:{seed}:{install}:{generation}", 128)
    if route:
        raw = route_bytes(route) + raw[8:]
    if platform is Platform.IOS:
        return raw[:32].hex()
    if platform is Platform.HUAWEI:
        return ("IQAAAACy0" + _b64url(raw[:96]))[:130]
    return _b64url(raw[:16]) + ":APA91b" + _b64url(raw[16:117])[:134]


def installation_id(seed: int, install: int) -> str:
    """A random-looking UUID4, fixed per (device, install)."""
    raw = bytearray(_stream(f"install:{seed}:{install}", 16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
