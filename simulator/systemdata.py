"""System data and User-Agent of a device, as each SDK assembles them.

Android: the `SystemData` 10 fields plus `os`, in `AppInstance` field order, change-detected by a
hash over the 10 fields. iOS: `SystemData.requestPayload` (also `pushServiceType`), change-detected
by a hash over all its values. The hashes never go on the wire; only equality matters, so both use
CRC-32 over the values.
"""

from __future__ import annotations

import zlib
from typing import Any

from contract.codec import ANDROID_FIELD_ORDER, android_order
from contract.dialect import Platform
from contract.headers import android_user_agent, ios_user_agent

from .catalog import Profile, machine_id, timezone_offset

__all__ = ["ANDROID_FIELD_ORDER", "android_order", "extension_user_agent", "system_data", "system_hash", "user_agent"]


def system_data(profile: Profile, notifications_enabled: bool, now: float) -> dict[str, Any]:
    """The full system data payload (Android: with `os`, without `pushServiceType`)."""
    offset = timezone_offset(profile.platform, profile.timezone, now)
    if profile.platform is Platform.IOS:
        return {
            "sdkVersion": profile.sdk_version,
            "pushServiceType": "APNS",
            "os": "iOS",
            "osVersion": profile.os_version,
            "deviceManufacturer": "Apple",
            "notificationsEnabled": notifications_enabled,
            "deviceModel": profile.model,
            "appVersion": profile.app_version,
            "deviceSecure": profile.device_secure,
            "language": profile.language,
            "deviceName": profile.device_name,
            "deviceTimezoneOffset": offset,
        }
    return {
        "notificationsEnabled": notifications_enabled,
        "sdkVersion": profile.sdk_version,
        "appVersion": profile.app_version,
        "os": "Android",
        "osVersion": profile.os_version,
        "deviceManufacturer": profile.manufacturer,
        "deviceModel": profile.model,
        "deviceSecure": profile.device_secure,
        "language": profile.language,
        "deviceTimezoneOffset": offset,
        "deviceName": profile.device_name,
    }


def system_hash(platform: Platform, data: dict[str, Any]) -> int:
    """Non-zero change-detection hash (0 means "never reported")."""
    if platform is Platform.IOS:
        text = ",".join(str(data[k]) for k in sorted(data))
    else:
        text = ",".join(str(v) for k, v in data.items() if k != "os")
    return zlib.crc32(text.encode("utf-8")) or 1


def extension_user_agent(profile: Profile, bundle_id: str) -> str:
    """The iOS Notification Service Extension's own User-Agent (`MMNSEDeliveryReporter.buildUserAgent`,
    15.0.0 on): the extension's bundle id, the raw machine id, no carrier fields."""
    return ios_user_agent(
        profile.sdk_version,
        ["iOS", profile.os_version, "", machine_id(profile.model), "", bundle_id + ".NotificationServiceExtension",
         profile.app_version, profile.device_name, "", "", ""],
    )  # fmt: skip


def user_agent(profile: Profile, app_name: str, bundle_id: str) -> str:
    if profile.platform is Platform.IOS:
        return ios_user_agent(
            profile.sdk_version,
            ["iOS", profile.os_version, "", profile.model, "", bundle_id, profile.app_version,
             profile.device_name, profile.carrier, profile.mnc, profile.mcc],
        )  # fmt: skip
    return android_user_agent(
        profile.sdk_version,
        [profile.codename, profile.os_version, profile.abi, profile.model, profile.manufacturer, app_name,
         profile.app_version, profile.device_name, profile.carrier, profile.mnc, profile.mcc,
         profile.carrier, profile.mnc, profile.mcc],
    )  # fmt: skip
