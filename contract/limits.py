"""The limits and formats of user and installation data, shared by the device and the server.

The numbers are the SDKs' client-side limits (``UserDataValidator`` in both SDKs), which mirror the
People API. The device refuses to send data outside them; the server answers the SDK's error code.
Formats of phones and emails are checked by the backend only (the SDKs do not).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from .errors import ErrorCode
from .formats import is_date, is_datetime

__all__ = [
    "BODY_MAX",
    "CUSTOM_ATTRIBUTES_MAX",
    "CUSTOM_ATTRIBUTE_NAME_MAX",
    "CUSTOM_VALUE_MAX",
    "EMAILS_MAX",
    "EMAIL_MAX",
    "EXTERNAL_USER_ID_MAX",
    "MIDDLE_NAME_MAX",
    "NAME_MAX",
    "NUMBER_MAX",
    "PHONES_MAX",
    "PHONE_MAX",
    "PUSH_BODY_MAX",
    "TAGS_MAX",
    "TAG_MAX",
    "LimitViolation",
    "custom_value_type",
    "normalize_email",
    "normalize_phone",
    "validate_custom_attributes",
    "validate_user",
]

EXTERNAL_USER_ID_MAX = 256
NAME_MAX = 255
MIDDLE_NAME_MAX = 50
EMAIL_MAX = 255
EMAILS_MAX = 100
PHONES_MAX = 100
PHONE_MAX = 50
CUSTOM_VALUE_MAX = 4096
NUMBER_MAX = 9223372036854775807
"""The largest INTEGER or DECIMAL custom attribute value (People; a Java ``long``)."""
CUSTOM_ATTRIBUTE_NAME_MAX = 256
TAG_MAX = 256
# Where the references give no count, mobsim chooses (README, "Choices"):
TAGS_MAX = 1000
CUSTOM_ATTRIBUTES_MAX = 500
BODY_MAX = 1024 * 1024
"""The largest request body of the Mobile API and the inspection API (1 MiB; mobsim's choice, docs/serve.md
"Limits"): the SDKs' largest bodies (1000 custom events, a user with 500 custom attributes of 4096
characters) stay under it."""
PUSH_BODY_MAX = 8 * 1024 * 1024
"""The largest Push API body (8 MiB; mobsim's choice): one message to the 10,000 destinations the
contract allows (contract/push_api.py), every id and messageId at its 200-character maximum, is about
4.6 MB."""

_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)
_PHONE_SEPARATORS = re.compile(r"[\s().-]")


class LimitViolation(ValueError):
    """Data outside the SDK's limits; ``code`` is the Mobile API error code a server would answer."""

    def __init__(self, code: ErrorCode, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text


def normalize_email(address: str) -> str:
    """Emails are case-insensitive identities: compare and store them lower-cased."""
    return address.strip().lower()


def normalize_phone(number: str) -> str:
    """Phones are kept in international format as digits only (``+385 91 123`` -> ``38591123``).

    Raises :class:`LimitViolation` (``PHONE_INVALID``) for anything that is not 6 to 15 digits.
    """
    if len(number) > PHONE_MAX:
        raise LimitViolation(ErrorCode.PHONE_INVALID, f"phone {number[:20]!r}... is longer than {PHONE_MAX}")
    digits = _PHONE_SEPARATORS.sub("", number.strip())
    digits = digits.removeprefix("+").removeprefix("00") if digits.startswith(("+", "00")) else digits
    if not digits.isdigit() or not 6 <= len(digits) <= 15 or not digits.isascii():
        raise LimitViolation(
            ErrorCode.PHONE_INVALID,
            f"phone {number!r} is not an international number (6 to 15 digits with the country code, "
            "such as 385911234567)",
        )
    return digits


def _check_email(address: str) -> None:
    if len(address) > EMAIL_MAX:
        raise LimitViolation(ErrorCode.EMAIL_INVALID, f"email is longer than {EMAIL_MAX} characters")
    if not _EMAIL.match(address.strip()):
        raise LimitViolation(ErrorCode.EMAIL_INVALID, f"email {address!r} is not a valid address")


def _check_len(name: str, value: Any, limit: int, code: ErrorCode = ErrorCode.REQUEST_FORMAT_INVALID) -> None:
    if isinstance(value, str) and len(value) > limit:
        raise LimitViolation(code, f"{name} is {len(value)} characters long; the limit is {limit}")


def validate_user(user: Mapping[str, Any], *, check_formats: bool = True) -> None:
    """Check a user delta or personalize payload (flat keys: identity and attributes).

    ``check_formats=False`` applies only the SDK's client-side checks (lengths and counts).
    """
    external_id = user.get("externalUserId")
    if external_id is not None:
        if not external_id.strip():
            raise LimitViolation(ErrorCode.USER_IDENTITY_INVALID, "externalUserId is blank")
        _check_len("externalUserId", external_id, EXTERNAL_USER_ID_MAX, ErrorCode.USER_IDENTITY_INVALID)
    for key in ("firstName", "lastName"):
        _check_len(key, user.get(key), NAME_MAX)
    _check_len("middleName", user.get("middleName"), MIDDLE_NAME_MAX)
    emails = user.get("emails") or []
    if len(emails) > EMAILS_MAX:
        raise LimitViolation(ErrorCode.EMAIL_INVALID, f"{len(emails)} emails; the limit is {EMAILS_MAX}")
    for email in emails:
        address = email["address"] if isinstance(email, Mapping) else email
        _check_len("email", address, EMAIL_MAX, ErrorCode.EMAIL_INVALID)
        if check_formats:
            _check_email(address)
    phones = user.get("phones") or []
    if len(phones) > PHONES_MAX:
        raise LimitViolation(ErrorCode.PHONE_INVALID, f"{len(phones)} phones; the limit is {PHONES_MAX}")
    if check_formats:
        for phone in phones:
            normalize_phone(phone["number"] if isinstance(phone, Mapping) else phone)
    birthday = user.get("birthday")
    if birthday is not None and check_formats and not is_date(birthday):
        raise LimitViolation(ErrorCode.REQUEST_FORMAT_INVALID, f"birthday {birthday!r} is not a yyyy-MM-dd date")
    tags = user.get("tags") or []
    if len(tags) > TAGS_MAX:
        raise LimitViolation(ErrorCode.REQUEST_FORMAT_INVALID, f"{len(tags)} tags; the limit is {TAGS_MAX}")
    for tag in tags:
        _check_len("tag", tag, TAG_MAX)
        if not tag.strip():
            raise LimitViolation(ErrorCode.REQUEST_FORMAT_INVALID, "a tag is blank")
    custom = user.get("customAttributes")
    if custom:
        validate_custom_attributes(custom)


def custom_value_type(value: Any) -> str:
    """The People data type a custom attribute value implies (type inference by first value)."""
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "DECIMAL"
    if isinstance(value, list):
        return "LIST_OF_OBJECTS"
    if isinstance(value, str):
        if len(value) == 10 and is_date(value):
            return "DATE"
        if len(value) == 20 and is_datetime(value):
            return "DATE_TIME"
        return "STRING"
    raise LimitViolation(ErrorCode.REQUEST_FORMAT_INVALID, f"unsupported custom attribute value {value!r}")


def _check_number(name: str, value: Any) -> None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and not -NUMBER_MAX - 1 <= value <= NUMBER_MAX:
        raise LimitViolation(
            ErrorCode.REQUEST_FORMAT_INVALID,
            f"custom attribute {name!r}: numbers are -{NUMBER_MAX + 1} to {NUMBER_MAX}",
        )


def _check_list(name: str, items: list[Any]) -> None:
    keys: frozenset[str] | None = None
    types: dict[str, str] = {}
    for item in items:
        if not isinstance(item, Mapping) or not item:
            raise LimitViolation(
                ErrorCode.REQUEST_FORMAT_INVALID,
                f"custom attribute {name!r}: list items must be non-empty objects",
            )
        if keys is None:
            keys = frozenset(item)
        elif frozenset(item) != keys:
            raise LimitViolation(
                ErrorCode.REQUEST_FORMAT_INVALID,
                f"custom attribute {name!r}: every list item needs the same keys",
            )
        for key, value in item.items():
            if value is None:
                continue
            if isinstance(value, (list, dict)):
                raise LimitViolation(
                    ErrorCode.REQUEST_FORMAT_INVALID,
                    f"custom attribute {name!r}: list items must be flat objects",
                )
            _check_number(name, value)
            kind = custom_value_type(value)
            kind = "DECIMAL" if kind == "INTEGER" else kind
            if types.setdefault(key, kind) != kind:
                raise LimitViolation(
                    ErrorCode.REQUEST_FORMAT_INVALID,
                    f"custom attribute {name!r}: list key {key!r} mixes {types[key]} and {kind} values",
                )


def validate_custom_attributes(attributes: Mapping[str, Any]) -> None:
    """Names, value lengths (4096 on the string form, lists on their JSON) and list shapes."""
    if len(attributes) > CUSTOM_ATTRIBUTES_MAX:
        raise LimitViolation(
            ErrorCode.REQUEST_FORMAT_INVALID,
            f"{len(attributes)} custom attributes in one call; the limit is {CUSTOM_ATTRIBUTES_MAX}",
        )
    for name, value in attributes.items():
        if not name or len(name) > CUSTOM_ATTRIBUTE_NAME_MAX or any(c in name for c in "{}[]"):
            raise LimitViolation(
                ErrorCode.REQUEST_FORMAT_INVALID,
                f"custom attribute name {name[:40]!r} must be 1 to {CUSTOM_ATTRIBUTE_NAME_MAX} characters "
                "without {}[]",
            )
        if value is None:
            continue
        _check_number(name, value)
        size = len(json.dumps(value, separators=(",", ":"))) if isinstance(value, list) else len(str(value))
        if size > CUSTOM_VALUE_MAX:
            raise LimitViolation(
                ErrorCode.REQUEST_FORMAT_INVALID,
                f"custom attribute {name!r} is {size} characters; the limit is {CUSTOM_VALUE_MAX}",
            )
        if isinstance(value, list):
            _check_list(name, value)
        elif isinstance(value, dict):
            raise LimitViolation(
                ErrorCode.REQUEST_FORMAT_INVALID, f"custom attribute {name!r}: objects must be inside a list"
            )
