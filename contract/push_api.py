"""Infobip's Push API as the reference server serves it: request bodies, statuses, errors, envelopes.

Field names, statuses and envelopes are those of Infobip's public OpenAPI document for mobile app
messaging (``openapi/infobip-mobile-app-messaging-openapi.json`` of the ``api-evangelist/infobip``
repository; condensed in docs/reference/push-api.md):

- ``POST /push/3/messages`` takes :class:`PushUnificationRequest` and answers
  ``{"bulkId", "messages": [{"messageId", "status", "destination"}]}``; its errors are the
  ``ApiError`` envelope (``errorCode``, ``description``, ``action``, ``violations``, ``resources``).
- ``POST /push/2/message/single`` / ``multi`` (deprecated in the document) take :class:`PushRequest`
  / :class:`PushRequestMulti` and answer ``{"bulks": [{"to", "status", "messageCount", "bulkId"}]}``;
  their errors are the ``ApiException`` envelope (``requestError.serviceException``).
- ``GET /push/3/reports`` and ``GET /push/3/logs`` answer :class:`Status` and :class:`Error` objects.

Request models are lenient about unknown keys and strict about types, like :mod:`contract.models`.
The destination type ``SEGMENT`` (``{"type": "SEGMENT", "segment": "<name>"}``) is a mobsim
extension: the document has no segment destination.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, model_validator

from .formats import parse_zoned
from .models import _finite_json

__all__ = [
    "API_ERROR_401",
    "API_ERROR_TEXTS",
    "DELIVERED_TO_HANDSET",
    "DESTINATION_TYPES",
    "EC_DEVICE_APP_UNINSTALL",
    "EC_NO_REGISTRATION_ID_FOUND",
    "EC_REGISTRATION_ID_DISABLED",
    "EXPIRED_EXPIRED",
    "GENERAL_STATUSES",
    "NO_ERROR",
    "PENDING_ACCEPTED",
    "PENDING_ENROUTE",
    "REJECTED_DUPLICATE_MESSAGE_ID",
    "UNDELIVERABLE_NOT_DELIVERED",
    "UNDELIVERABLE_NO_DESTINATION",
    "Content",
    "Destination",
    "Error",
    "MessageOptions",
    "PushMessage",
    "PushRequest",
    "PushRequestMulti",
    "PushUnificationRequest",
    "Status",
    "api_error",
    "api_exception",
    "format_push_time",
    "new_bulk_id",
    "parse_push_time",
]

# -- statuses and errors -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Status:
    """A ``MessageStatus``: group (``PENDING``, ``DELIVERED``...) and the status within it."""

    group_id: int
    group_name: str
    id: int
    name: str
    description: str

    def json(self, *, action: bool = False) -> dict[str, Any]:
        body: dict[str, Any] = {
            "groupId": self.group_id,
            "groupName": self.group_name,
            "id": self.id,
            "name": self.name,
            "description": self.description,
        }
        if action:
            body["action"] = ""
        return body


@dataclass(frozen=True, slots=True)
class Error:
    """A ``MessageError``: ``OK``/``NO_ERROR`` or why a message was not delivered."""

    group_id: int
    group_name: str
    id: int
    name: str
    description: str
    permanent: bool

    def json(self) -> dict[str, Any]:
        return {
            "groupId": self.group_id,
            "groupName": self.group_name,
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "permanent": self.permanent,
        }


# The four values the document's examples show, with their descriptions verbatim...
PENDING_ACCEPTED = Status(1, "PENDING", 26, "PENDING_ACCEPTED", "Message accepted, pending for delivery")
PENDING_ENROUTE = Status(1, "PENDING", 7, "PENDING_ENROUTE", "Message sent to next instance")
DELIVERED_TO_HANDSET = Status(3, "DELIVERED", 5, "DELIVERED_TO_HANDSET", "Message delivered to handset")
NO_ERROR = Error(0, "OK", 0, "NO_ERROR", "No Error", False)
# ...and, with short descriptions of mobsim's, ids and names from Infobip's status registry.
EXPIRED_EXPIRED = Status(4, "EXPIRED", 15, "EXPIRED_EXPIRED", "Message expired: no delivery report within its validity")
UNDELIVERABLE_NOT_DELIVERED = Status(2, "UNDELIVERABLE", 9, "UNDELIVERABLE_NOT_DELIVERED", "Message not delivered")
UNDELIVERABLE_NO_DESTINATION = Status(
    2, "UNDELIVERABLE", 66, "UNDELIVERABLE_NO_DESTINATION", "The destination resolves no push registration"
)
REJECTED_DUPLICATE_MESSAGE_ID = Status(
    5, "REJECTED", 23, "REJECTED_DUPLICATE_MESSAGE_ID", "A message with this messageId exists already"
)
EC_DEVICE_APP_UNINSTALL = Error(
    1, "HANDSET_ERRORS", 8001, "EC_DEVICE_APP_UNINSTALL", "User has uninstalled the application on device", True
)
EC_NO_REGISTRATION_ID_FOUND = Error(
    1,
    "HANDSET_ERRORS",
    8004,
    "EC_NO_REGISTRATION_ID_FOUND",
    "Registration with provided PushRegistrationId does not exist or has expired",
    True,
)
EC_REGISTRATION_ID_DISABLED = Error(
    3,
    "OPERATOR_ERRORS",
    8013,
    "EC_REGISTRATION_ID_DISABLED",
    "Push notifications cannot be delivered because the recipient's device is not able to receive them",
    True,
)

GENERAL_STATUSES = ("ACCEPTED", "PENDING", "UNDELIVERABLE", "DELIVERED", "EXPIRED", "REJECTED")
"""``MessageGeneralStatus``: the ``groupName`` values (and the logs' ``generalStatus`` filter)."""

DESTINATION_TYPES = ("REGISTRATION", "EXTERNAL_USER_ID", "EMAIL", "PHONE_NUMBER", "MULTIPLE", "SEGMENT")
"""The document's ``PushDestinationType`` values and mobsim's ``SEGMENT``."""

# -- envelopes -----------------------------------------------------------------------------------

API_ERROR_TEXTS: dict[int, tuple[str, str]] = {
    400: ("Request cannot be processed.", "Check the syntax, violations and adjust the request."),
    401: (
        "The request lacks valid authentication credentials for the requested resource.",
        "Check the resources and adjust authentication credentials.",
    ),
    403: (
        "Insufficient permissions to access the requested resource.",
        "Repeat the request with new or different credentials.",
    ),
    404: ("The requested resource was not found.", "Check the path of the request."),
    405: ("The method is not allowed on this resource.", "Check the method of the request."),
    413: ("The request body is too large.", "Send a smaller request."),
    429: ("Too many requests sent.", "Check request rate limit specified in the API endpoint documentation resource."),
    500: ("Something went wrong.", "Contact the support."),
}
"""``description`` and ``action`` per status: 400, 401, 403, 429 and 500 as the document has them."""

API_ERROR_401 = {"name": "API Authentication", "url": "https://www.infobip.com/docs/essentials/api-authentication"}


def api_error(status: int, violations: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The v3 ``ApiError`` envelope: ``errorCode`` ``E<status>``, the document's texts, violations."""
    description, action = API_ERROR_TEXTS.get(status, API_ERROR_TEXTS[400 if status < 500 else 500])
    return {
        "errorCode": f"E{status}",
        "description": description,
        "action": action,
        "violations": [{"property": where, "violation": text} for where, text in violations],
        "resources": [API_ERROR_401] if status == 401 else [],
    }


def api_exception(message_id: str, text: str) -> dict[str, Any]:
    """The ``ApiException`` envelope of the v1/v2 endpoints (``BAD_REQUEST``, ``UNAUTHORIZED``...)."""
    return {"requestError": {"serviceException": {"messageId": message_id, "text": text}}}


# -- values --------------------------------------------------------------------------------------


def format_push_time(epoch_ms: int) -> str:
    """``yyyy-MM-dd'T'HH:mm:ss.SSS+0000``, the document's date-time shape."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}+0000"


def parse_push_time(text: str) -> datetime:
    """A Push API date-time: ISO-8601 with a zone (``+0000``, ``+01:00``, ``Z``); ``ValueError`` else."""
    return parse_zoned(
        text,
        shape="a date-time such as 2026-07-23T12:55:35.086+0000",
        not_iso="{0} is not a date-time such as 2026-07-23T12:55:35.086+0000",
        no_zone="{0} has no time zone; write one, e.g. 2026-07-23T12:55:35.086+0000",
        out_of_range="{0} is out of range",
    )


def _push_time(text: str) -> str:
    parse_push_time(text)
    return text


def new_bulk_id() -> str:
    """A generated bulk id: 20 lower-case letters and digits, like the document's examples."""
    return secrets.token_hex(10)


# -- request bodies ------------------------------------------------------------------------------

PushTime = Annotated[StrictStr, AfterValidator(_push_time)]
Id = Annotated[StrictStr, Field(min_length=1, max_length=200)]
Short = Annotated[StrictStr, Field(max_length=1024)]
Payload = Annotated[dict[str, Any], AfterValidator(_finite_json)]
Filters = Annotated[list[dict[str, Any]], Field(max_length=100), AfterValidator(_finite_json)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, allow_inf_nan=False)


class Destination(_Model):
    """A ``PushDestination``: the type decides which address field is required."""

    type: Literal["REGISTRATION", "EXTERNAL_USER_ID", "EMAIL", "PHONE_NUMBER", "MULTIPLE", "SEGMENT"]
    pushRegistrationId: Id | None = None
    externalUserId: Id | None = None
    email: Short | None = None
    phoneNumber: Short | None = None
    segment: Id | None = None
    """mobsim extension: a segment's name (``type`` ``SEGMENT``)."""
    or_: Filters | None = Field(default=None, alias="$or")
    and_: Filters | None = Field(default=None, alias="$and")
    messageId: Id | None = None
    targetOnlyPrimaryDevices: StrictBool | None = None

    @model_validator(mode="after")
    def _address(self) -> Destination:
        field = {"REGISTRATION": "pushRegistrationId", "EXTERNAL_USER_ID": "externalUserId", "EMAIL": "email",
                 "PHONE_NUMBER": "phoneNumber", "SEGMENT": "segment"}.get(self.type)  # fmt: skip
        if field is not None and getattr(self, field) is None:
            raise ValueError(f"a {self.type} destination needs {field}")
        if self.type == "MULTIPLE" and not (self.or_ or self.and_):
            raise ValueError("a MULTIPLE destination needs a non-empty $or or $and")
        return self

    @property
    def address(self) -> str:
        """The destination address as given (a segment's name, ``MULTIPLE`` for filters)."""
        value = {
            "REGISTRATION": self.pushRegistrationId,
            "EXTERNAL_USER_ID": self.externalUserId,
            "EMAIL": self.email,
            "PHONE_NUMBER": self.phoneNumber,
            "SEGMENT": self.segment,
        }.get(self.type)
        return value if value is not None else self.type


class Content(_Model):
    """``PushOutboundContent``: ``TEXT`` or ``IMAGE`` (with ``url``)."""

    type: Literal["TEXT", "IMAGE"]
    title: Annotated[StrictStr, Field(max_length=50)] | None = None
    text: Annotated[StrictStr, Field(min_length=1, max_length=4000)]
    url: Annotated[StrictStr, Field(min_length=1, max_length=2048)] | None = None

    @model_validator(mode="after")
    def _image(self) -> Content:
        if self.type == "IMAGE" and self.url is None:
            raise ValueError("IMAGE content needs url")
        return self


class ValidityPeriod(_Model):
    amount: StrictInt
    timeUnit: Literal["SECONDS", "MINUTES", "HOURS"] | None = None


class PrimaryButtonAction(_Model):
    resource: Short | None = None
    type: Literal["WEB_VIEW_URL", "DEEP_LINK", "OPEN_URL_IN_BROWSER"] | None = None


class PlatformOptions(_Model):
    entityId: Annotated[StrictStr, Field(max_length=255)] | None = None
    applicationId: Annotated[StrictStr, Field(max_length=255)] | None = None


class MessageOptions(_Model):
    """``PushUnificationMessageOptions``: what mobsim reads; ``deliveryTimeWindow``, ``badge``,
    ``contentAvailable``, inbox and mirrored-push expiry options are accepted and not applied."""

    platform: PlatformOptions | None = None
    validityPeriod: ValidityPeriod | None = None
    deliveryTimeWindow: dict[str, Any] | None = None
    soundEnabled: StrictBool | None = None
    soundName: Short | None = None
    vibrationEnabled: StrictBool | None = None
    contentAvailable: StrictBool | None = None
    isSilent: StrictBool | None = None
    badge: StrictInt | None = None
    category: Short | None = None
    showMirroredPush: StrictBool | None = None
    mirroredPushStyle: Literal["MODAL", "BANNER"] | None = None
    mirroredPushExpirationPeriod: Annotated[StrictInt, Field(ge=0)] | None = None
    mirroredPushExpirationTimeUnit: Literal["MINUTES", "HOURS"] | None = None
    mirroredPushDismissTitle: Short | None = None
    mirroredPushOpenTitle: Short | None = None
    onTapButtonAction: PrimaryButtonAction | None = None
    inboxTopic: Short | None = None
    inboxMessageExpirationPeriod: StrictInt | None = None
    inboxMessageExpirationTimeUnit: Literal["DAYS", "MONTHS"] | None = None
    sendAt: PushTime | None = None
    customPayload: Payload | None = None
    campaignReferenceId: Annotated[StrictStr, Field(max_length=255)] | None = None


class DeliveryReporting(_Model):
    url: Short | None = None
    intermediateReport: StrictBool | None = None
    notify: StrictBool | None = None


class Webhooks(_Model):
    """Accepted; mobsim calls no webhook (``callbackData`` is echoed in reports)."""

    delivery: DeliveryReporting | None = None
    contentType: Short | None = None
    callbackData: Annotated[StrictStr, Field(max_length=4000)] | None = None


class PushMessage(_Model):
    """``PushUnificationMessage``: one content from one application to its destinations."""

    sender: Id
    destinations: Annotated[list[Destination], Field(min_length=1, max_length=10000)]
    content: Content
    options: MessageOptions | None = None
    webhooks: Webhooks | None = None


class SendingSpeedLimit(_Model):
    amount: StrictInt
    timeUnit: Literal["MINUTE", "HOUR", "DAY"] | None = None


class Schedule(_Model):
    bulkId: Annotated[StrictStr, Field(min_length=1, max_length=100)] | None = None
    sendAt: PushTime | None = None
    sendingSpeedLimit: SendingSpeedLimit | None = None


class RequestOptions(_Model):
    schedule: Schedule | None = None


class PushUnificationRequest(_Model):
    """The body of ``POST /push/3/messages``."""

    messages: Annotated[list[PushMessage], Field(min_length=1, max_length=1000)]
    options: RequestOptions | None = None


class NotificationOptions(_Model):
    """``PushRequestNotificationOptions`` of the v2 send."""

    title: Annotated[StrictStr, Field(max_length=45)] | None = None
    soundEnabled: StrictBool | None = None
    soundName: Short | None = None
    vibrationEnabled: StrictBool | None = None
    isSilent: StrictBool | None = None
    badge: StrictInt | None = None
    contentUrl: Annotated[StrictStr, Field(max_length=2048)] | None = None
    category: Short | None = None
    showInApp: StrictBool | None = None
    inAppStyle: Literal["MODAL", "BANNER"] | None = None
    inAppExpirationPeriod: Annotated[StrictInt, Field(ge=0)] | None = None
    inAppExpirationTimeUnit: Literal["MINUTES", "HOURS"] | None = None
    inAppDismissTitle: Short | None = None
    inAppOpenTitle: Short | None = None
    primaryButtonAction: PrimaryButtonAction | None = None
    inboxTopic: Short | None = None


class PushRequest(_Model):
    """The body of ``POST /push/2/message/single`` (one entry of ``multi``)."""

    sender: Annotated[StrictStr, Field(min_length=1, max_length=80, alias="from")]
    to: Annotated[dict[str, Any], Field(min_length=1, max_length=100), AfterValidator(_finite_json)]
    text: Annotated[StrictStr, Field(min_length=1, max_length=4000)]
    validityPeriod: Annotated[StrictInt, Field(ge=0)] | None = None
    validityPeriodTimeUnit: Literal["SECONDS", "MINUTES", "HOURS"] | None = None
    sendAt: PushTime | None = None
    customPayload: Payload | None = None
    notificationOptions: NotificationOptions | None = None
    notifyUrl: Short | None = None
    notifyContentType: Short | None = None
    callbackData: Annotated[StrictStr, Field(max_length=200)] | None = None
    targetOnlyPrimaryDevices: StrictBool | None = None


class PushRequestMulti(_Model):
    """The body of ``POST /push/2/message/multi``."""

    messages: Annotated[list[PushRequest], Field(min_length=1, max_length=1000)]
