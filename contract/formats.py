"""Value formats shared by both SDK dialects: timestamps, dates, the app-code hash.

Both SDKs send timestamps as UTC with second precision and a literal ``Z``
(``yyyy-MM-dd'T'HH:mm:ss'Z'``) and dates as ``yyyy-MM-dd``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, date, datetime
from functools import lru_cache

__all__ = [
    "DATETIME_RE",
    "DATE_RE",
    "app_code_hash",
    "format_date",
    "format_datetime",
    "format_epoch",
    "is_date",
    "is_datetime",
    "parse_datetime",
]

DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def format_datetime(moment: datetime) -> str:
    """UTC, second precision, literal ``Z``: the only timestamp shape the SDKs send."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: pass an aware datetime (UTC)")
    utc = moment.astimezone(UTC)
    # not strftime("%Y"): it writes year 999 as "999", which no ISO-8601 parser reads back
    return f"{utc.year:04d}-{utc.month:02d}-{utc.day:02d}T{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d}Z"


def format_epoch(seconds: float) -> str:
    """Format epoch seconds the way the SDKs format a timestamp."""
    return _format_second(int(seconds))


@lru_cache(maxsize=4096)
def _format_second(second: int) -> str:
    """Timestamps repeat: a session's reports and a batch's events share a few seconds."""
    return format_datetime(datetime.fromtimestamp(second, UTC))


def format_date(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}-{day.day:02d}"


def parse_zoned(text: str, *, shape: str, not_iso: str, no_zone: str, out_of_range: str) -> datetime:
    """An ISO-8601 date-time with a zone, in UTC; ``ValueError`` with the given texts (each may name
    ``{text!r}`` as ``{0}``) for a non-string or over-long value (``shape``), anything else that is not
    ISO-8601, a missing zone, a moment out of range."""
    if not isinstance(text, str) or len(text) > 40:
        raise ValueError(shape)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(not_iso.format(repr(text))) from None
    if moment.tzinfo is None:
        raise ValueError(no_zone.format(repr(text)))
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(out_of_range.format(repr(text))) from None


def parse_datetime(text: str) -> datetime:
    """Parse an SDK timestamp. Accepts the canonical ``...ssZ`` and any ISO-8601 with an offset.

    Raises ``ValueError`` for anything else, including timestamps without a zone.
    """
    return parse_zoned(
        text,
        shape="timestamp must be an ISO-8601 string such as 2024-05-01T10:00:00Z",
        not_iso="{0} is not an ISO-8601 timestamp such as 2024-05-01T10:00:00Z",
        no_zone="{0} has no time zone; send UTC with a trailing Z",
        out_of_range="{0} is out of range in UTC",
    )


def is_datetime(text: str) -> bool:
    if not DATETIME_RE.match(text):
        return False
    try:
        datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return False
    return True


def is_date(text: str) -> bool:
    if not DATE_RE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def app_code_hash(application_code: str) -> str:
    """The ``applicationcode`` header: the first 10 lower-case hex digits of SHA-256 of the code."""
    return hashlib.sha256(application_code.encode("utf-8")).hexdigest()[:10]
