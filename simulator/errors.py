"""The one exception tree of the simulator.

Everything a device raises derives from `SimulatorError`:

    SimulatorError
    ├── TransportError                  the request never got an HTTP answer (SDK code -4)
    ├── ApiError                        the server answered an error (code, status, request, response)
    │   ├── ServerError                 5xx, and 2xx bodies carrying a `requestError`
    │   ├── InvalidApplicationCodeError INVALID_APPLICATION_CODE / 1 / 401
    │   ├── RegistrationGoneError       NO_REGISTRATION: the server does not know this pushRegId
    │   ├── InvalidParameterError       the SDK's "invalid parameter" codes (never retried)
    │   │   ├── IdentityInvalidError        USER_IDENTITY_INVALID, EMAIL_INVALID, PHONE_INVALID
    │   │   ├── RequestFormatInvalidError   REQUEST_FORMAT_INVALID
    │   │   ├── UserDataRestrictedError     USER_DATA_RESTRICTED
    │   │   └── PersonalizeConflictError    AMBIGUOUS_PERSONALIZE_CANDIDATES, PERSONALIZATION_IMPOSSIBLE,
    │   │                                   USER_MERGE_INTERRUPTED
    │   └── (any other code)            plain ApiError
    ├── ClientError                     the SDK refused locally; nothing was sent
    │   ├── ClientValidationError           data outside the SDK's limits (has `.code`)
    │   ├── NoRegistrationError             no pushRegId yet (Android 20006)
    │   └── DepersonalizationInProgressError a depersonalize is pending (Android 20007)
    └── UsageError                      the caller misused the simulator (uninstalled device,
                                        depersonalizing the own installation by id, ...)

`ApiError.will_retry` says whether the device scheduled a retry (Android policy: 2, 8, 18 s).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.errors import INVALID_PARAMETER_CODES

if TYPE_CHECKING:
    from .transport import Outgoing, Reply

__all__ = [
    "ApiError",
    "ClientError",
    "ClientValidationError",
    "DepersonalizationInProgressError",
    "IdentityInvalidError",
    "InvalidApplicationCodeError",
    "InvalidParameterError",
    "NoRegistrationError",
    "PersonalizeConflictError",
    "RegistrationGoneError",
    "RequestFormatInvalidError",
    "ServerError",
    "SimulatorError",
    "TransportError",
    "UsageError",
    "UserDataRestrictedError",
    "api_error",
]


class SimulatorError(Exception):
    """Root of every error a virtual device raises."""


class TransportError(SimulatorError):
    """No HTTP answer: connection refused, timeout, broken stream."""

    def __init__(self, message: str, request: Outgoing | None = None) -> None:
        super().__init__(message)
        self.request = request


class ApiError(SimulatorError):
    """The server answered with an error; `code` is `requestError.serviceException.messageId`.

    Internal codes follow the Android SDK: `-1` error without a readable body, `-2` 5xx JSON
    without `serviceException`, `-4` unreadable body.
    """

    def __init__(self, code: str, text: str, status: int, request: Outgoing, response: Reply) -> None:
        super().__init__(f"{request.method} {request.name}: {status} {code}: {text}")
        self.code = code
        self.text = text
        self.status = status
        self.request = request
        self.response = response
        self.will_retry = False


class ServerError(ApiError):
    """5xx, or a 2xx whose body carries a `requestError`."""


class InvalidApplicationCodeError(ApiError):
    pass


class RegistrationGoneError(ApiError):
    """`NO_REGISTRATION`: the device recovers as its SDK does (iOS registers anew, Android repersonalizes)."""

    recovered = False
    """The device has already reacted to this answer (iOS does on any call's error)."""


class InvalidParameterError(ApiError):
    """Codes the Android SDK never retries and after which it drops unreported user data."""


class IdentityInvalidError(InvalidParameterError):
    pass


class RequestFormatInvalidError(InvalidParameterError):
    pass


class UserDataRestrictedError(InvalidParameterError):
    pass


class PersonalizeConflictError(InvalidParameterError):
    pass


class ClientError(SimulatorError):
    """The SDK refused the call before sending anything."""


class ClientValidationError(ClientError):
    """Data outside the SDK's client-side limits; `code` is the code the server would answer."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code


class NoRegistrationError(ClientError):
    """The device has no push registration id yet (Android `NO_VALID_REGISTRATION`, 20006)."""


class DepersonalizationInProgressError(ClientError):
    """A depersonalize is pending (Android `DEPERSONALIZATION_IN_PROGRESS`, 20007)."""


class UsageError(SimulatorError):
    """A programming error in the caller, not something the SDK would report."""


_BY_CODE: dict[str, type[ApiError]] = {
    "NO_REGISTRATION": RegistrationGoneError,
    "INVALID_APPLICATION_CODE": InvalidApplicationCodeError,
    "1": InvalidApplicationCodeError,
    "USER_IDENTITY_INVALID": IdentityInvalidError,
    "EMAIL_INVALID": IdentityInvalidError,
    "PHONE_INVALID": IdentityInvalidError,
    "REQUEST_FORMAT_INVALID": RequestFormatInvalidError,
    "USER_DATA_RESTRICTED": UserDataRestrictedError,
    "AMBIGUOUS_PERSONALIZE_CANDIDATES": PersonalizeConflictError,
    "PERSONALIZATION_IMPOSSIBLE": PersonalizeConflictError,
    "USER_MERGE_INTERRUPTED": PersonalizeConflictError,
}


def api_error(code: str, text: str, status: int, request: Outgoing, response: Reply) -> ApiError:
    """The most specific `ApiError` for a `messageId` (matched case-insensitively, as the SDKs do)."""
    cls = _BY_CODE.get(code.upper())
    if cls is None:
        cls = InvalidParameterError if code.upper() in INVALID_PARAMETER_CODES else None
    if cls is None:
        cls = ServerError if status >= 500 or status < 300 else ApiError
    return cls(code, text, status, request, response)
