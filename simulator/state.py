"""The persistent state of one install: one small record, packed to bytes when parked.

Everything random (phone, tokens, installation UUID) is derived from `seed` and two counters, so
the record keeps only what the server or the app decided: the push registration id, acknowledged
and pending data, stored sessions and events, and flags. `pack()` writes a compact JSON array with
trailing defaults dropped (about 100-250 bytes for a typical device); `unpack()` reverses it, in
any process.
"""

from __future__ import annotations

import json
from operator import attrgetter
from typing import Any

from contract.codec import compact_encoder
from contract.dialect import Platform

__all__ = ["DeviceState", "Flag"]


class Flag:
    """Bits of `DeviceState.flags`."""

    FOREGROUND = 1
    UNINSTALLED = 2
    DEPERSONALIZE_PENDING = 4
    """Android `IS_DEPERSONALIZE_UNREPORTED`; iOS depersonalization status `pending`."""
    REPERSONALIZE = 8
    """Android `SHOULD_REPERSONALIZE`, set by `NO_REGISTRATION` handling."""
    NOTIFICATIONS_OFF = 16
    """The user denied notification permission (the OS value; iOS reports it only after 1 h)."""
    PUSH_TYPE_REPORTED = 32
    """Android `REPORTED_PUSH_SERVICE_TYPE` is set."""
    BASE_URL_FAILURE = 64
    """Unused (reserved: parked states may carry it). Android's "previous answer failed" lives in
    memory, as `BaseUrlManager.isPreviousFailed` does."""
    TABLET = 128
    """The device is a tablet (the catalogue draws a tablet model); fixed at install, kept for life."""


_PLATFORM_CODES = {Platform.IOS: "i", Platform.ANDROID: "a", Platform.HUAWEI: "h"}
_PLATFORMS = {code: platform for platform, code in _PLATFORM_CODES.items()}


class DeviceState:
    """One install's persistent data (what SharedPreferences, Core Data and the keychain hold)."""

    __slots__ = (
        "app_version",
        "base_url",
        "base_url_checked",
        "depersonalize_failures",
        "events",
        "flags",
        "install",
        "installation",
        "installation_dirty",
        "keychain_reg_id",
        "messages",
        "os_version",
        "platform",
        "reg_id",
        "registered_at",
        "route",
        "sdk_version",
        "seed",
        "sessions",
        "system_hash",
        "token",
        "token_acked",
        "unsent",
        "user",
        "user_dirty",
    )
    # Order of the packed array; keep appending, never reorder (parked devices depend on it).
    _ORDER = (
        "seed",
        "install",
        "token",
        "token_acked",
        "reg_id",
        "flags",
        "system_hash",
        "registered_at",
        "sessions",
        "keychain_reg_id",
        "installation",
        "installation_dirty",
        "user",
        "user_dirty",
        "events",
        "depersonalize_failures",
        "app_version",
        "os_version",
        "base_url",
        "sdk_version",
        "messages",
        "route",
        "base_url_checked",
        "unsent",
    )

    def __init__(self, platform: Platform, seed: int) -> None:
        self.platform = platform
        self.seed = seed
        self.install = 0
        """Reinstall counter: derives the installation UUID and the token namespace."""
        self.token = 0
        """Cloud token generation; 0 = no token yet."""
        self.token_acked = 0
        """The token generation the server acknowledged (Android `CLOUD_TOKEN_REPORTED`)."""
        self.reg_id: str | None = None
        self.keychain_reg_id: str | None = None
        """iOS only: the pushRegId in the keychain, which survives a reinstall."""
        self.flags = 0
        self.system_hash = 0
        """Hash of the last acknowledged system data; 0 = never (full set goes out)."""
        self.registered_at = 0
        """Epoch second of the first registration (iOS reports `notificationsEnabled` after 1 h)."""
        self.depersonalize_failures = 0
        self.app_version: str | None = None
        self.os_version: str | None = None
        self.sdk_version: str | None = None
        """App version, OS version and SDK version after an update (None: the catalogue's)."""
        self.installation: dict[str, Any] | None = None
        """Acknowledged app-set installation fields: isPrimary, regEnabled, applicationUserId, customAttributes."""
        self.installation_dirty: dict[str, Any] | None = None
        """Installation changes not acknowledged yet (`None` values delete)."""
        self.user: dict[str, Any] | None = None
        """The user as the server last acknowledged it."""
        self.user_dirty: dict[str, Any] | None = None
        """User changes not acknowledged yet (`None` values delete)."""
        self.sessions: list[list[int]] | None = None
        """`[start_ms, end_ms, start_reported]`; on Android the last entry is the active session."""
        self.events: list[list[Any]] | None = None
        """Stored batched custom events: `[definitionId, epoch_second, properties]`."""
        self.base_url: str | None = None
        """A base URL the server moved the device to (`New-Base-URL`)."""
        self.messages: list[list[Any]] | None = None
        """Messages received: `[messageId, received_ms, sent_ms, flags, seen_ms]` (`simulator.inbox`)."""
        self.base_url_checked = 0
        """Epoch second of the last base-URL check that counted (`GET /mobile/1/baseurl`; 0: never)."""
        self.route = 0
        """The device's route in its population (index + 1; 0 for none), carried in its push token so
        the simulated push provider finds it (`contract.messages.token_route`)."""
        self.unsent = 0
        """Bits of `simulator.outcomes.UNSENT_BITS`: kinds of work whose last request failed and that
        the SDK still holds to send again (mobsim's bookkeeping of re-sends, not SDK state)."""

    def has(self, flag: int) -> bool:
        return bool(self.flags & flag)

    def set(self, flag: int, on: bool = True) -> None:
        self.flags = (self.flags | flag) if on else (self.flags & ~flag)

    def pack(self) -> bytes:
        values: list[Any] = [_PLATFORM_CODES[self.platform], *_packed_fields(self)]
        while values and values[-1] in (None, 0):
            values.pop()
        return _ENCODE(values).encode("utf-8")

    @classmethod
    def unpack(cls, blob: bytes | str) -> DeviceState:
        if type(blob) is bytes and blob[:1] == b"[":  # what pack() wrote: UTF-8, no sniffing needed
            values = _DECODER.decode(blob.decode("utf-8", "surrogatepass"))
        else:
            values = json.loads(blob)
        state = cls(_PLATFORMS[values[0]], values[1])
        for name, value in zip(cls._ORDER[1:], values[2:], strict=False):
            setattr(state, name, value)
        return state

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, DeviceState):
            return NotImplemented
        return self.pack() == other.pack()

    def __hash__(self) -> int:
        return hash(self.pack())

    def __repr__(self) -> str:
        return f"<DeviceState {self.pack().decode()}>"


_packed_fields = attrgetter(*DeviceState._ORDER)
_ENCODE = compact_encoder()
"""`json.dumps(values, separators=(",", ":"), ensure_ascii=False)`, its encoder built once."""
_DECODER = json.JSONDecoder()
