"""One class per SDK line: what each SDK does differently on the wire.

`VirtualDevice` (`simulator.device`, with `simulator.sync` and `simulator.core`) is the state
machine the SDKs share: registration, sessions, events, user data, the park format. Each class here
fills in its hooks with one SDK's rules, read from that SDK's sources:

- `IosDevice`: the iOS SDK (`infobip/mobile-messaging-sdk-ios`): no request retries, the keychain,
  sessions kept as a list, POST + method override, `1`/`0` flags.
- `AndroidDevice`: the Android SDK (`infobip/mobile-messaging-sdk-android`) with Firebase (FCM):
  the retry policy, `DebouncingGuard`, `performSyncActions`, the base-URL reset.
- `HuaweiDevice`: the Huawei SDK (`infobip/mobile-messaging-sdk-huawei`), its own version line on
  the Android SDK's code base, with Huawei Mobile Services (HMS) push.

`VirtualDevice.create(platform, ...)` and `VirtualDevice.resume(blob, ...)` return the right one.
"""

from __future__ import annotations

from contract.dialect import Platform

from ..device import VirtualDevice
from .android import AndroidDevice
from .huawei import HuaweiDevice
from .ios import IosDevice

__all__ = ["AndroidDevice", "HuaweiDevice", "IosDevice", "device_class"]


def device_class(platform: Platform | str) -> type[VirtualDevice]:
    """The class that models ``platform``'s SDK."""
    return {Platform.IOS: IosDevice, Platform.ANDROID: AndroidDevice, Platform.HUAWEI: HuaweiDevice}[Platform(platform)]
