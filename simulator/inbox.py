"""The messages a device holds: the SDK's message store, archive and seen queue, as one list.

State: `DeviceState.messages`, a list of ``[message_id, received_ms, sent_ms, flags, seen_ms]``,
oldest first. What each SDK keeps in several stores is one entry here:

- Android: the archive of received ids sent back as ``mIDs`` (`INFOBIP_SYNC_MESSAGES_IDS`, 7 days,
  at most 100), the delivery ids not reported yet (`INFOBIP_UNREPORTED_MESSAGE_IDS`), the seen ids
  with their time (`INFOBIP_UNREPORTED_SEEN_MESSAGE_IDS`);
- iOS: `MessageManagedObject` rows (``reportSent``, ``seenStatus``, ``seenDate``, ``creationDate`` =
  the server's send time), evicted after 14 days.

Entries older than the longest window the SDK keeps (`RETENTION_MS`) are dropped, and at most
`KEEP` entries are kept (the oldest go first), which bounds a parked device's size.
"""

from __future__ import annotations

from typing import Any

from contract.messages import ARCHIVE_DAYS, ARCHIVE_LIMIT

__all__ = [
    "ARCHIVE_MS",
    "KEEP",
    "RETENTION_MS",
    "Entry",
    "M",
    "add",
    "find",
    "flags",
    "prune",
    "set_flag",
]

DAY_MS = 86_400_000
ARCHIVE_MS = ARCHIVE_DAYS * DAY_MS
RETENTION_MS = 14 * DAY_MS
"""iOS `messagesRetentionPeriod` (14 days); Android's archive keeps 7 days."""
KEEP = ARCHIVE_LIMIT + 20
"""Entries kept at most: the archive's 100 plus a margin for unreported ones."""

Entry = list[Any]


class M:
    """Bits of an entry's flags."""

    REPORTED = 1
    """The server acknowledged its delivery (Android ``drIDs``; iOS ``reportSent``)."""
    SILENT = 2
    SEEN = 4
    """Marked seen (the seen time is the entry's last field)."""
    SEEN_SENT = 8
    """The server acknowledged the seen report."""
    SHOWN = 16
    """A notification is on screen: the user can tap it."""
    TAPPED = 32
    IN_APP = 64
    """An in-app message waits for the next foreground."""
    EXTENSION = 128
    """iOS: handed over by the Notification Service Extension, not processed by the app yet."""


def find(messages: list[Entry] | None, message_id: str) -> Entry | None:
    for entry in reversed(messages or ()):
        if entry[0] == message_id:
            return entry
    return None


def add(messages: list[Entry] | None, message_id: str, now_ms: int, sent_ms: int, flags: int) -> list[Entry]:
    out = messages if messages is not None else []
    out.append([message_id, now_ms, sent_ms, flags, 0])
    return out


def prune(messages: list[Entry] | None, now_ms: int) -> list[Entry] | None:
    """Drop entries past retention, then the oldest beyond `KEEP`."""
    if not messages:
        return None
    kept = [e for e in messages if now_ms - int(e[1]) <= RETENTION_MS]
    return kept[-KEEP:] or None


def flags(entry: Entry) -> int:
    return int(entry[3])


def set_flag(entry: Entry, flag: int, on: bool = True) -> None:
    entry[3] = (flags(entry) | flag) if on else (flags(entry) & ~flag)
