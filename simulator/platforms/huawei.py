"""The Huawei SDK line (`infobip/mobile-messaging-sdk-huawei`).

It is the Android SDK's code base with Huawei Mobile Services in place of Firebase, released on
its own version line: the same HTTP layer, retry policy, guards and sync order, so `HuaweiDevice`
is an `AndroidDevice` whose push service is HMS. What differs on the wire is already in the
contract and the catalogue: `pushServiceType` `HMS`, an HMS push token, the Huawei SDK's versions
and Huawei models in the User-Agent and system data.
"""

from __future__ import annotations

from contract.dialect import Platform

from .android import AndroidDevice

__all__ = ["HuaweiDevice"]


class HuaweiDevice(AndroidDevice):
    """An Android phone with HMS push running the Huawei SDK."""

    PLATFORM = Platform.HUAWEI
