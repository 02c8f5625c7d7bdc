"""Pydantic models of every Mobile API body, with field names exactly as the SDKs send them.

Request models are lenient about unknown keys (a backend ignores what it does not know; the strict
protocol checker reports them separately) and strict about types: ``"true"`` is not a boolean and
``"1"`` is not a number. Every field is optional so one model serves create, PATCH (absent keys stay
unchanged, ``null`` deletes; read ``model_fields_set``) and responses. Semantic limits (lengths,
counts, formats of phones and emails) live in :mod:`contract.limits`, which answers with the
SDK's own error codes.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
)

from .formats import format_datetime, parse_datetime

__all__ = [
    "BaseUrlResponse",
    "CustomAttributes",
    "CustomEvent",
    "CustomEventsBody",
    "DeliveryReportBody",
    "Email",
    "Installation",
    "MoMessage",
    "MoRequest",
    "MoResponse",
    "PersonalizeBody",
    "Phone",
    "SeenMessage",
    "SeenMessagesBody",
    "SessionReport",
    "SyncMessagesBody",
    "SyncMessagesResponse",
    "Timestamp",
    "User",
    "UserAttributes",
    "UserIdentity",
    "VersionResponse",
]

# Generous caps that keep a hostile body from costing memory; the SDK limits are in limits.py.
Text = Annotated[StrictStr, Field(max_length=8192)]
ShortText = Annotated[StrictStr, Field(max_length=1024)]
Number = StrictInt | StrictFloat
Scalar = StrictBool | StrictInt | StrictFloat | StrictStr
ListItem = dict[Annotated[str, Field(max_length=256)], Scalar | None]
CustomValue = Scalar | Annotated[list[ListItem], Field(max_length=1000)] | None
CustomAttributes = Annotated[dict[Annotated[str, Field(max_length=1024)], CustomValue], Field(max_length=1000)]
PushServiceType = Literal["APNS", "Firebase", "HMS", "GCM"]


def _canonical_timestamp(value: str) -> str:
    return format_datetime(parse_datetime(value))


def _finite_json(value: Any) -> Any:
    """Free-form JSON (an MO ``customPayload``): no NaN or Infinity, which are not JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("NaN and Infinity are not JSON numbers")
    if isinstance(value, dict):
        for item in value.values():
            _finite_json(item)
    elif isinstance(value, list):
        for item in value:
            _finite_json(item)
    return value


Timestamp = Annotated[StrictStr, Field(max_length=40), AfterValidator(_canonical_timestamp)]
"""An SDK timestamp, normalised to ``yyyy-MM-ddTHH:mm:ssZ`` (UTC)."""


class _Body(BaseModel):
    # NaN and Infinity are not JSON: answering them back would break both SDKs' parsers.
    model_config = ConfigDict(extra="ignore", populate_by_name=True, allow_inf_nan=False)

    def to_wire(self) -> dict[str, Any]:
        """The keys that were set (explicit ``None`` included: on PATCH it means delete)."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)


class Installation(_Body):
    """``AppInstance`` (Android) / ``MMInstallation`` (iOS): registration, system data, flags."""

    pushRegId: ShortText | None = None
    regEnabled: StrictBool | None = None
    isPrimary: StrictBool | None = None
    notificationsEnabled: StrictBool | None = None
    sdkVersion: ShortText | None = None
    appVersion: ShortText | None = None
    os: ShortText | None = None
    osVersion: ShortText | None = None
    deviceManufacturer: ShortText | None = None
    deviceModel: ShortText | None = None
    deviceName: ShortText | None = None
    deviceSecure: StrictBool | None = None
    language: ShortText | None = None
    deviceTimezoneOffset: ShortText | None = None
    applicationUserId: ShortText | None = None
    customAttributes: CustomAttributes | None = None
    pushServiceType: PushServiceType | None = None
    pushServiceToken: Text | None = None
    # iOS modules announce themselves in system data (ChatService, MMInboxService, MMWebRTCService).
    inappchat: StrictBool | None = None
    inbox: StrictBool | None = None
    webrtcui: StrictBool | None = None


SYSTEM_DATA_FIELDS = (
    "sdkVersion",
    "appVersion",
    "os",
    "osVersion",
    "deviceManufacturer",
    "deviceModel",
    "deviceName",
    "deviceSecure",
    "language",
    "deviceTimezoneOffset",
    "notificationsEnabled",
    "pushServiceType",
    "inappchat",
    "inbox",
    "webrtcui",
)
"""Installation fields that are system data: a session report may carry them, nothing else."""


class Phone(_Body):
    number: ShortText
    preferred: StrictBool | None = None


class Email(_Body):
    address: ShortText
    preferred: StrictBool | None = None


Gender = Literal["Male", "Female"]
Phones = Annotated[list[Phone], Field(max_length=1000)]
Emails = Annotated[list[Email], Field(max_length=1000)]
Tags = Annotated[list[Annotated[StrictStr, Field(max_length=1024)]], Field(max_length=10000)]


class UserIdentity(_Body):
    externalUserId: ShortText | None = None
    phones: Phones | None = None
    emails: Emails | None = None


class UserAttributes(_Body):
    firstName: ShortText | None = None
    lastName: ShortText | None = None
    middleName: ShortText | None = None
    gender: Gender | None = None
    birthday: ShortText | None = None
    tags: Tags | None = None
    customAttributes: CustomAttributes | None = None


class User(UserIdentity, UserAttributes):
    """The user as PATCHed (a delta) and as answered (``UserBody``: with ``type`` and ``instances``)."""

    type: Literal["LEAD", "CUSTOMER"] | None = None
    instances: list[Installation] | None = None


class PersonalizeBody(_Body):
    userIdentity: UserIdentity
    userAttributes: UserAttributes | None = None


class SessionReport(_Body):
    """``user/events/session``: iOS sends many starts per report, Android the current one."""

    systemData: Installation | None = None
    sessionStarts: Annotated[list[Timestamp], Field(max_length=1000)] = Field(default_factory=list)
    sessionBounds: Annotated[dict[Timestamp, Timestamp], Field(max_length=1000)] = Field(default_factory=dict)


EventValue = Scalar | Annotated[list[ListItem], Field(max_length=1000)] | None


class CustomEvent(_Body):
    definitionId: ShortText
    date: Timestamp | None = None
    properties: Annotated[dict[Annotated[str, Field(max_length=1024)], EventValue], Field(max_length=1000)] | None = (
        None
    )


class CustomEventsBody(_Body):
    events: Annotated[list[CustomEvent], Field(max_length=1000)]


class SyncMessagesBody(_Body):
    mIDs: Annotated[list[ShortText], Field(max_length=1000)] | None = None
    drIDs: Annotated[list[ShortText], Field(max_length=1000)] | None = None


class SyncMessagesResponse(_Body):
    payloads: list[dict[str, Any]] = Field(default_factory=list)


class SeenMessage(_Body):
    messageId: ShortText
    timestampDelta: StrictInt
    inbox: StrictBool | None = None


class SeenMessagesBody(_Body):
    messages: Annotated[list[SeenMessage], Field(max_length=1000)]
    externalUserId: ShortText | None = None


class MoMessage(_Body):
    messageId: ShortText | None = None
    destination: ShortText | None = None
    text: Text | None = None
    initialMessageId: ShortText | None = None
    bulkId: ShortText | None = None
    customPayload: Annotated[dict[str, Any], AfterValidator(_finite_json)] | None = None
    statusCode: StrictInt | None = None
    status: ShortText | None = None


class MoRequest(_Body):
    sender: ShortText | None = Field(default=None, alias="from")
    messages: Annotated[list[MoMessage], Field(max_length=1000)]


class MoResponse(_Body):
    messages: list[MoMessage]


class DeliveryReportBody(_Body):
    """iOS Notification Service Extension delivery report."""

    dlrIds: Annotated[list[ShortText], Field(max_length=1000)]


class VersionResponse(_Body):
    platformType: str
    libraryVersion: str
    updateUrl: str


class BaseUrlResponse(_Body):
    baseUrl: str
