"""Virtual devices that behave like the Infobip Mobile Messaging SDK on the wire.

`VirtualDevice` is one install of an app (iOS, Android, or Android with Huawei push) whose
requests a backend cannot tell from the real SDK's. The wire contract both sides share is the
top-level package `contract`; `simulator.wire` is kept as an alias of it (and `simulator.wire.<module>`
of its modules) for code written against the old layout.
"""

import importlib as _importlib
import sys as _sys

import contract as wire
from contract import Platform

from .catalog import Profile, profile_for
from .clock import Clock, RealClock, VirtualClock
from .core import DEFAULT_BASE_URL, AppConfig
from .device import VirtualDevice
from .errors import (
    ApiError,
    ClientError,
    ClientValidationError,
    DepersonalizationInProgressError,
    IdentityInvalidError,
    InvalidApplicationCodeError,
    InvalidParameterError,
    NoRegistrationError,
    PersonalizeConflictError,
    RegistrationGoneError,
    RequestFormatInvalidError,
    ServerError,
    SimulatorError,
    TransportError,
    UsageError,
    UserDataRestrictedError,
)
from .platforms import AndroidDevice, HuaweiDevice, IosDevice
from .state import DeviceState
from .transport import HTTPXTransport, Outgoing, Reply, Transport

__all__ = [
    "DEFAULT_BASE_URL",
    "AndroidDevice",
    "ApiError",
    "AppConfig",
    "ClientError",
    "ClientValidationError",
    "Clock",
    "DepersonalizationInProgressError",
    "DeviceState",
    "HTTPXTransport",
    "HuaweiDevice",
    "IdentityInvalidError",
    "InvalidApplicationCodeError",
    "InvalidParameterError",
    "IosDevice",
    "NoRegistrationError",
    "Outgoing",
    "PersonalizeConflictError",
    "Platform",
    "Profile",
    "RealClock",
    "RegistrationGoneError",
    "Reply",
    "RequestFormatInvalidError",
    "ServerError",
    "SimulatorError",
    "Transport",
    "TransportError",
    "UsageError",
    "UserDataRestrictedError",
    "VirtualClock",
    "VirtualDevice",
    "profile_for",
    "wire",
]

for _module in ("dialect", "endpoints", "errors", "formats", "headers", "limits", "models"):
    _sys.modules.setdefault(f"{__name__}.wire.{_module}", _importlib.import_module(f"contract.{_module}"))
_sys.modules.setdefault(f"{__name__}.wire", wire)
