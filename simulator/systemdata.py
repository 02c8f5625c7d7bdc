"""System data and User-Agent of a device, as each SDK assembles them.

Android: the `SystemData` 10 fields plus `os`, in `AppInstance` field order, change-detected by a
hash over the 10 fields. iOS: `SystemData.requestPayload` (also `pushServiceType`), change-detected
by a hash over all its values. The hashes never go on the wire; only equality matters, so both use
CRC-32 over the values.

The values are the SDK's view of the profile: the version string a release writes (the literal
``null`` where its build lost it, `wire_sdk_version`), the iOS model name from that SDK's machine
table (`device_model`). The profile keeps the real version, which picks the device's behaviours.
"""

from __future__ import annotations

import zlib
from typing import Any

from contract.codec import ANDROID_FIELD_ORDER, android_order
from contract.dialect import Platform
from contract.headers import android_user_agent, ios_user_agent

from .catalog import Profile, ios_device_model, machine_id, timezone_offset
from .sdk_features import features

__all__ = [
    "ANDROID_FIELD_ORDER",
    "android_order",
    "device_model",
    "extension_user_agent",
    "system_data",
    "system_data_at",
    "system_hash",
    "user_agent",
    "wire_sdk_version",
]


def wire_sdk_version(profile: Profile) -> str:
    """The version the SDK writes into `sdkVersion` and its User-Agent: the literal ``null`` for
    the releases whose build lost it (Android 13.0.0 to 13.2.1; Huawei 7.0.0 on, inferred), else
    the version itself."""
    return "null" if features(profile.platform, profile.sdk_version).sdk_version_null else profile.sdk_version


def device_model(profile: Profile) -> str:
    """`deviceModel` and the User-Agent's model: Android's raw `Build.MODEL`; on iOS the name the
    SDK's machine-id table gives (``iPhone`` / ``iPad`` for an id it does not know)."""
    if profile.platform is Platform.IOS:
        return ios_device_model(machine_id(profile.model), profile.sdk_version)
    return profile.model


def system_data(profile: Profile, notifications_enabled: bool, now: float) -> dict[str, Any]:
    """The full system data payload (Android: with `os`, without `pushServiceType`)."""
    return system_data_at(profile, notifications_enabled, timezone_offset(profile.platform, profile.timezone, now))


def system_data_at(profile: Profile, notifications_enabled: bool, offset: str) -> dict[str, Any]:
    """`system_data` with the `deviceTimezoneOffset` already worked out (the only value that
    depends on the time)."""
    version = wire_sdk_version(profile)
    if profile.platform is Platform.IOS:
        return {
            "sdkVersion": version,
            "pushServiceType": "APNS",
            "os": "iOS",
            "osVersion": profile.os_version,
            "deviceManufacturer": "Apple",
            "notificationsEnabled": notifications_enabled,
            "deviceModel": device_model(profile),
            "appVersion": profile.app_version,
            "deviceSecure": profile.device_secure,
            "language": profile.language,
            "deviceName": profile.device_name,
            "deviceTimezoneOffset": offset,
        }
    return {
        "notificationsEnabled": notifications_enabled,
        "sdkVersion": version,
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
        wire_sdk_version(profile),
        ["iOS", profile.os_version, "", machine_id(profile.model), "", bundle_id + ".NotificationServiceExtension",
         profile.app_version, profile.device_name, "", "", ""],
    )  # fmt: skip


def user_agent(profile: Profile, app_name: str, bundle_id: str) -> str:
    """The app's User-Agent: the same version and model as its system data."""
    version = wire_sdk_version(profile)
    if profile.platform is Platform.IOS:
        return ios_user_agent(
            version,
            ["iOS", profile.os_version, "", device_model(profile), "", bundle_id, profile.app_version,
             profile.device_name, profile.carrier, profile.mnc, profile.mcc],
        )  # fmt: skip
    return android_user_agent(
        version,
        [profile.codename, profile.os_version, profile.abi, profile.model, profile.manufacturer, app_name,
         profile.app_version, profile.device_name, profile.carrier, profile.mnc, profile.mcc,
         profile.carrier, profile.mnc, profile.mcc],
    )  # fmt: skip
