"""Messages on the wire: what a push carries per platform, what a sync answer carries, how ids look.

One message (`Message`) has four encodings, each the shape that platform's SDK parses:

- **FCM** (Android SDK, `FirebaseMessageMapper.createMessage`): the data message
  ``{"org_ib_d": "<JSON string>"}`` whose JSON holds ``messageId``, ``text``, ``notification``
  ``{title, sound, vibrate, silent, category, contentUrl, inAppStyle}``, ``custom`` and ``internal``.
- **HMS** (Huawei SDK, `HmsMessageMapper.getIBData`): the data payload is one JSON string whose
  ``org_ib_d`` is a nested *object* (not a string) of the same fields.
- **APNs** (iOS SDK, `MM_MTMessage.init(payload:)`): ``{"messageId", "aps": {"alert": {"title",
  "body"}, "sound", "badge"}, "internalData": {"sendDateTime" (ms), ...}, "customPayload"}``; a
  silent push has no alert: ``aps`` is ``{"content-available": 1}`` and the text sits flat in
  ``internalData.silent`` ``{"title", "body", "sound", "category"}``.
- **Sync answers** (`POST /mobile/5/messages`): Android reads flat ``gcm.notification.*`` strings
  with ``customPayload`` and ``internalData`` as JSON *strings* (`MessageResponse`); iOS reads the
  APNs shape (`MessagesSyncResponse`).

`parse_push` / `parse_sync_payload` apply each SDK's drop rules (no ``messageId``, no text, a
silent part that is not an object), so the device and the strict server judge payloads alike.
Sources: docs/reference/messages.md.

Message ids: both SDKs refuse to send seen reports for ids shaped like a UUID (Android: lower-case
only, `MobileMessagingCore.filterOutGeneratedMessageIds`; iOS: any case, `Consts.UUIDRegexPattern`),
which they take for ids they generated themselves (MO). The reference server's ids are never
UUID-shaped (`new_message_id`).

Push tokens with a route: a simulated push provider must find the virtual device that holds a
token. mobsim's tokens for devices of a population carry the device's route (its index + 1)
scrambled into the bytes a real token has random (`route_bytes`, `token_route`): a real backend
cannot tell them from real tokens, and the bundled provider reads the route back.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from .dialect import Platform

__all__ = [
    "ARCHIVE_DAYS",
    "ARCHIVE_LIMIT",
    "Message",
    "apns_payload",
    "fcm_data",
    "hms_data",
    "is_generated_id",
    "new_message_id",
    "parse_push",
    "parse_sync_payload",
    "push_payload",
    "route_bytes",
    "sync_payload",
    "token_route",
]

ARCHIVE_DAYS = 7
"""Both SDKs send back (``mIDs``) the ids of messages received in the last 7 days..."""
ARCHIVE_LIMIT = 100
"""...at most 100 of them (`MESSAGE_ID_PARAMETER_LIMIT`; iOS `MessageFetchingSettings.fetchLimit`)."""

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_LOWER_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def is_generated_id(message_id: str, platform: Platform) -> bool:
    """True when the SDK takes ``message_id`` for one it generated and sends no seen report for it."""
    if platform is Platform.IOS:
        return _UUID.fullmatch(message_id) is not None
    return _LOWER_UUID.fullmatch(message_id) is not None


def new_message_id() -> str:
    """A server message id: 24 URL-safe characters, never UUID-shaped (so seen reports flow)."""
    return secrets.token_urlsafe(18)


@dataclass(frozen=True, slots=True)
class Message:
    """One message as a push backend sends it to one installation."""

    message_id: str
    text: str
    title: str | None = None
    silent: bool = False
    sound: str | None = None
    vibrate: bool = True
    category: str | None = None
    custom_payload: dict[str, Any] | None = None
    send_date_time: int = 0
    """Epoch milliseconds the backend sent it."""
    bulk_id: str | None = None
    in_app: bool = False
    """Shown as a modal in-app message (`internal.inApp`; the SDKs' MODAL style)."""
    deeplink: str | None = None
    extra_internal: dict[str, Any] = field(default_factory=dict)

    def internal(self) -> dict[str, Any]:
        out: dict[str, Any] = {"sendDateTime": self.send_date_time}
        if self.bulk_id:
            out["bulkId"] = self.bulk_id
        if self.in_app:
            out["inApp"] = True
        if self.deeplink:
            out["deeplink"] = self.deeplink
        out.update(self.extra_internal)
        return out


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _ib_data(m: Message) -> dict[str, Any]:
    notification: dict[str, Any] = {"vibrate": m.vibrate, "silent": m.silent}
    if m.title is not None:
        notification["title"] = m.title
    if m.sound is not None:
        notification["sound"] = m.sound
    if m.category is not None:
        notification["category"] = m.category
    return {
        "messageId": m.message_id,
        "text": m.text,
        "notification": notification,
        "custom": m.custom_payload or {},
        "internal": m.internal(),
    }


def fcm_data(m: Message) -> dict[str, str]:
    """The FCM data message: FCM data values are strings, so ``org_ib_d`` is a JSON string."""
    return {"org_ib_d": _compact(_ib_data(m))}


def hms_data(m: Message) -> str:
    """The HMS data payload: one JSON string with ``org_ib_d`` as a nested object."""
    return _compact({"org_ib_d": _ib_data(m)})


def apns_payload(m: Message) -> dict[str, Any]:
    internal = m.internal()
    aps: dict[str, Any]
    if m.silent:
        silent: dict[str, Any] = {"body": m.text}
        if m.title is not None:
            silent["title"] = m.title
        if m.sound is not None:
            silent["sound"] = m.sound
        if m.category is not None:
            silent["category"] = m.category
        internal["silent"] = silent
        aps = {"content-available": 1}
    else:
        alert: dict[str, Any] = {"body": m.text}
        if m.title is not None:
            alert["title"] = m.title
        aps = {"alert": alert}
        if m.sound is not None:
            aps["sound"] = m.sound
        if m.category is not None:
            aps["category"] = m.category
        aps["mutable-content"] = 1  # lets the Notification Service Extension report the delivery
    payload: dict[str, Any] = {"messageId": m.message_id, "aps": aps, "internalData": internal}
    if m.custom_payload:
        payload["customPayload"] = m.custom_payload
    return payload


def push_payload(m: Message, platform: Platform) -> Any:
    """What the push service hands the app on ``platform``."""
    if platform is Platform.IOS:
        return apns_payload(m)
    if platform is Platform.HUAWEI:
        return hms_data(m)
    return fcm_data(m)


def sync_payload(m: Message, platform: Platform) -> dict[str, Any]:
    """One entry of a ``/mobile/5/messages`` answer's ``payloads``, in the shape the SDK reads."""
    if platform is Platform.IOS:
        return apns_payload(m)
    out: dict[str, Any] = {"gcm.notification.messageId": m.message_id, "gcm.notification.body": m.text}
    if m.title is not None:
        out["gcm.notification.title"] = m.title
    if m.sound is not None:
        out["gcm.notification.sound"] = m.sound
    out["gcm.notification.vibrate"] = "true" if m.vibrate else "false"
    out["gcm.notification.silent"] = "true" if m.silent else "false"
    if m.category is not None:
        out["gcm.notification.category"] = m.category
    out["customPayload"] = _compact(m.custom_payload or {})
    out["internalData"] = _compact(m.internal())
    return out


# -- parsing, with each SDK's drop rules --------------------------------------------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _from_ib(data: Any) -> Message | None:
    if not isinstance(data, dict):
        return None
    message_id, text = data.get("messageId"), data.get("text")
    if not isinstance(message_id, str) or not message_id or not isinstance(text, str) or not text:
        return None  # MobileMessageHandler: no messageId / no text → dropped
    notification = data.get("notification")
    if not isinstance(notification, dict):
        return None  # FirebaseMessageMapper reads notification.inAppStyle unguarded
    internal, custom = _dict(data.get("internal")), _dict(data.get("custom"))
    return _message(message_id, text, notification.get("title"), bool(notification.get("silent")),
                    notification.get("sound"), notification.get("vibrate") is not False,
                    notification.get("category"), custom, internal)  # fmt: skip


def _message(
    message_id: str,
    text: str,
    title: Any,
    silent: bool,
    sound: Any,
    vibrate: bool,
    category: Any,
    custom: dict[str, Any] | None,
    internal: dict[str, Any],
) -> Message:
    known = ("sendDateTime", "bulkId", "inApp", "deeplink", "silent")
    send = internal.get("sendDateTime")
    return Message(
        message_id=message_id,
        text=text,
        title=title if isinstance(title, str) else None,
        silent=silent,
        sound=sound if isinstance(sound, str) else None,
        vibrate=vibrate,
        category=category if isinstance(category, str) else None,
        custom_payload=custom or None,
        send_date_time=int(send) if isinstance(send, int | float) and not isinstance(send, bool) else 0,
        bulk_id=internal.get("bulkId") if isinstance(internal.get("bulkId"), str) else None,
        in_app=internal.get("inApp") is True,
        deeplink=internal.get("deeplink") if isinstance(internal.get("deeplink"), str) else None,
        extra_internal={k: v for k, v in internal.items() if k not in known},
    )


def _from_apns(payload: Any) -> Message | None:
    if not isinstance(payload, dict):
        return None
    message_id = payload.get("messageId")
    if not isinstance(message_id, str) or not message_id:
        return None
    internal, custom = _dict(payload.get("internalData")), _dict(payload.get("customPayload"))
    aps = payload.get("aps") if isinstance(payload.get("aps"), dict) else None
    if "silent" in internal:
        silent = internal["silent"]
        if not isinstance(silent, dict):
            return None  # a silent part that is not a dictionary is refused
        return _message(message_id, str(silent.get("body") or ""), silent.get("title"), True, silent.get("sound"),
                        True, silent.get("category"), custom, internal)  # fmt: skip
    if aps is None:
        return None  # not silent and no aps
    alert = aps.get("alert")
    title, body = (alert.get("title"), alert.get("body")) if isinstance(alert, dict) else (None, alert)
    return _message(message_id, body if isinstance(body, str) else "", title, False, aps.get("sound"), True,
                    aps.get("category"), custom, internal)  # fmt: skip


def parse_push(platform: Platform, data: Any) -> Message | None:
    """The message a push delivers, or None when the SDK drops it."""
    if platform is Platform.IOS:
        return _from_apns(data)
    if platform is Platform.HUAWEI:
        try:
            outer = json.loads(data) if isinstance(data, str | bytes) else data
        except ValueError:
            return None
        return _from_ib(outer.get("org_ib_d")) if isinstance(outer, dict) else None
    if not isinstance(data, dict) or not isinstance(data.get("org_ib_d"), str):
        return None
    try:
        return _from_ib(json.loads(data["org_ib_d"]))
    except ValueError:
        return None


def _json_string(value: Any) -> dict[str, Any]:
    if not isinstance(value, str) or not value:
        return {}
    try:
        parsed = json.loads(value)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def parse_sync_payload(platform: Platform, payload: Any) -> Message | None:
    """One entry of a sync answer as the SDK maps it, or None when it is dropped."""
    if platform is Platform.IOS:
        return _from_apns(payload)
    if not isinstance(payload, dict):
        return None
    message_id = payload.get("gcm.notification.messageId")
    internal = _json_string(payload.get("internalData"))
    silent_part = _dict(internal.get("silent"))
    text = silent_part.get("body", payload.get("gcm.notification.body"))  # InternalDataMapper overwrites
    if not isinstance(message_id, str) or not message_id or not isinstance(text, str) or not text:
        return None
    return _message(message_id, text, silent_part.get("title", payload.get("gcm.notification.title")),
                    payload.get("gcm.notification.silent") == "true", payload.get("gcm.notification.sound"),
                    payload.get("gcm.notification.vibrate") != "false", payload.get("gcm.notification.category"),
                    _json_string(payload.get("customPayload")) or None, internal)  # fmt: skip


# -- routes in push tokens ----------------------------------------------------------------------

_ROUTE_KEY = (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5)
_MASK32 = 0xFFFFFFFF


def _round(half: int, key: int) -> int:
    x = (half * 0x85EBCA6B + key) & _MASK32
    x ^= x >> 13
    x = (x * 0xC2B2AE35) & _MASK32
    return x ^ (x >> 16)


def route_bytes(route: int) -> bytes:
    """8 random-looking bytes that encode ``route`` (1 to 2**32 - 1), for the start of a token."""
    if not 0 < route < 2**32:
        raise ValueError(f"route {route} is out of range")
    left, right = route, 0x4D4F4253  # "MOBS": checked when reading back
    for key in _ROUTE_KEY:
        left, right = right, left ^ _round(right, key & _MASK32)
    return ((left << 32) | right).to_bytes(8, "big")


def _route_of(raw: bytes) -> int | None:
    if len(raw) < 8:
        return None
    value = int.from_bytes(raw[:8], "big")
    left, right = value >> 32, value & _MASK32
    for key in reversed(_ROUTE_KEY):
        left, right = right ^ _round(left, key & _MASK32), left
    return left if right == 0x4D4F4253 and left else None


def token_route(platform: Platform, token: str) -> int | None:
    """The route a mobsim token carries, or None (a token of a device outside a population, or a real one)."""
    try:
        if platform is Platform.IOS:
            raw = bytes.fromhex(token[:16])
        elif platform is Platform.HUAWEI:
            body = token[9:21]
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        else:
            body = token[:12]
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (ValueError, binascii.Error):
        return None
    return _route_of(raw)
