"""What a conformance check is, and what it reports: data, no I/O."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NoReturn

if TYPE_CHECKING:
    from .probe import Probe

__all__ = [
    "Check",
    "CheckFailed",
    "CheckSkipped",
    "Exchange",
    "Result",
    "Scope",
    "Verdict",
]

TRIM = 1500
"""Bodies in a report are cut to this many characters."""

ANDROID_REF = "mobile-api-android.md"
IOS_REF = "mobile-api-ios-and-people.md"
MSG_ANDROID_REF = "messages-android.md"
MSG_IOS_REF = "messages-ios.md"
PUSH_REF = "push-api.md"
REFERENCES = (ANDROID_REF, IOS_REF, MSG_ANDROID_REF, MSG_IOS_REF, PUSH_REF)
"""The reference notes (docs/reference/) a check's ``protects`` cites."""
NO_API_KEY = "sends a message through the Push API: needs a Push API key (--api-key KEY)"
"""Why a check that sends a message is skipped without a key."""


class Verdict(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


class Scope(StrEnum):
    """Which SDK dialects a check concerns. ``ANY`` checks run once per selected platform."""

    ANY = "any"
    IOS = "ios"
    ANDROID = "android"


def trim(text: str, limit: int = TRIM) -> str:
    return text if len(text) <= limit else text[:limit] + f"… ({len(text) - limit} more characters)"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP request and its answer, as a report shows it (bodies trimmed, the app code masked)."""

    method: str
    url: str
    request_headers: Mapping[str, str]
    request_body: str
    status: int | None
    response_headers: Mapping[str, str]
    response_body: str

    def json(self) -> Any:
        """The answer's JSON, or None when it has none."""
        import json

        try:
            return json.loads(self.response_body) if self.response_body.strip() else None
        except ValueError:
            return None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def message_id(self) -> str | None:
        """``requestError.serviceException.messageId`` of the answer, if any."""
        data = self.json()
        try:
            value = data["requestError"]["serviceException"]["messageId"]
        except (TypeError, KeyError):
            return None
        return str(value)

    def line(self) -> str:
        return f"{self.method} {self.url} -> {self.status if self.status is not None else 'no answer'}"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["request_headers"] = dict(self.request_headers)
        data["response_headers"] = dict(self.response_headers)
        return data


class CheckFailed(Exception):
    def __init__(self, expected: str, observed: str, exchange: Exchange | None) -> None:
        super().__init__(f"expected {expected}; observed {observed}")
        self.expected, self.observed, self.exchange = expected, observed, exchange


class CheckSkipped(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def skip(reason: str) -> NoReturn:
    raise CheckSkipped(reason)


@dataclass(frozen=True, slots=True)
class Check:
    """One rule a backend must honour for the SDKs to work."""

    id: str
    statement: str
    """One line: what the backend does."""
    protects: str
    """The SDK behaviour that relies on it, with the reference file and section."""
    body: Callable[[Probe], None]
    scope: Scope = Scope.ANY
    needs_inspection: bool = False
    area: str = ""
    needs_api_key: bool = False
    """It sends a message through the Push API (``POST /push/3/messages``), with the run's API key."""
    inspection_use: str = ""
    """What it needs the inspection API for, told in the skip reason on a target without it."""

    def platforms(self, selected: tuple[str, ...]) -> list[str]:
        """The platforms this check runs for, given the selected ones (``ios``, ``android``)."""
        if self.scope is Scope.ANY:
            return list(selected)
        return [self.scope.value] if self.scope.value in selected else []


@dataclass(slots=True)
class Result:
    check: Check
    platform: str
    verdict: Verdict
    seconds: float
    expected: str = ""
    observed: str = ""
    reason: str = ""
    exchange: Exchange | None = None
    requests: int = 0
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.check.id}[{self.platform}]"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.check.id,
            "platform": self.platform,
            "statement": self.check.statement,
            "protects": self.check.protects,
            "scope": self.check.scope.value,
            "needsInspection": self.check.needs_inspection,
            "needsApiKey": self.check.needs_api_key,
            "verdict": self.verdict.value,
            "seconds": round(self.seconds, 4),
            "requests": self.requests,
            "expected": self.expected or None,
            "observed": self.observed or None,
            "reason": self.reason or None,
            "exchange": self.exchange.to_dict() if self.exchange else None,
        }
