"""Virtual devices that behave like the Infobip Mobile Messaging SDK on the wire.

`VirtualDevice` is one install of an app (iOS, Android, or Android with Huawei push) whose
requests a backend cannot tell from the real SDK's. `simulator.wire` is the shared wire contract.
"""

from . import wire
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
from .state import DeviceState
from .transport import HTTPXTransport, Outgoing, Reply, Transport
from .wire import Platform

__all__ = [
    "DEFAULT_BASE_URL",
    "ApiError",
    "AppConfig",
    "ClientError",
    "ClientValidationError",
    "Clock",
    "DepersonalizationInProgressError",
    "DeviceState",
    "HTTPXTransport",
    "IdentityInvalidError",
    "InvalidApplicationCodeError",
    "InvalidParameterError",
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
