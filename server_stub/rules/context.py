"""Who is calling, on which application and account, at what time; and shared row helpers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from contract import ErrorCode, format_datetime

from .. import live
from ..errors import ApiError
from ..store import dumps

__all__ = ["STANDARD_EVENTS", "Caller", "Context", "Installation"]

STANDARD_EVENTS = ("Install", "Uninstall", "Personalize", "Depersonalize", "AppLaunch")
"""Definition ids of the events the server records by itself; custom definitions may not reuse them."""


_INSTALLATION = (
    "SELECT reg_id, app_code, person_id, state, platform, is_primary, data FROM installations WHERE reg_id=?"
)
"""The columns :meth:`Installation.from_row` reads (not the row's times and installation id)."""


@dataclass(frozen=True, slots=True)
class Caller:
    app_code: str
    account: str
    reg_id: str | None = None
    """The ``pushregistrationid`` header: the installation making the call."""
    installation_id: str | None = None
    jwt_subject: str | None = None
    """A verified user JWT's ``sub`` (the call came with ``Bearer``; server_stub/jwt_keys.py)."""
    jwt_only: bool = False
    """The application has JWT keys: personalize and an externalUserId change need a user JWT."""


@dataclass(slots=True)
class Installation:
    reg_id: str
    app_code: str
    person_id: int | None
    state: str
    platform: str
    is_primary: bool
    data: dict[str, Any]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Installation:
        return cls(
            reg_id=row["reg_id"],
            app_code=row["app_code"],
            person_id=row["person_id"],
            state=row["state"],
            platform=row["platform"],
            is_primary=bool(row["is_primary"]),
            data=json.loads(row["data"]),
        )


@dataclass(slots=True)
class Context:
    db: sqlite3.Connection
    caller: Caller
    clock: Callable[[], datetime]

    def now(self) -> str:
        return format_datetime(self.clock())

    def installation(self, reg_id: str) -> Installation:
        """An active installation of the caller's application, or ``NO_REGISTRATION``."""
        row = self.db.execute(_INSTALLATION, (reg_id,)).fetchone()
        if row is None or row["state"] != "active" or row["app_code"] != self.caller.app_code:
            raise ApiError(ErrorCode.NO_REGISTRATION, f"no registration {reg_id!r} in this application")
        return Installation.from_row(row)

    def sibling(self, reg_id: str) -> Installation:
        """An active installation in any application of the caller's account, or ``NOT_FOUND``.

        A person's installations may be in several applications of the account (``instances``
        lists them all); the SDK sets the primary flag of, or logs out, any of them. A gone (or
        unknown) sibling is ``NOT_FOUND``, never ``NO_REGISTRATION``: both SDKs read that code as
        "my own registration is gone" and would reset their own, active, registration (Android's
        ``handleNoRegistrationError`` after a sibling PATCH, iOS's ``recoverRegistration`` after
        any call). Check the caller's own registration first.
        """
        row = self.db.execute(
            "SELECT i.* FROM installations i JOIN applications a ON a.code=i.app_code WHERE i.reg_id=? AND a.account=?",
            (reg_id, self.caller.account),
        ).fetchone()
        if row is None or row["state"] != "active":
            raise ApiError(
                ErrorCode.NOT_FOUND,
                f"installation {reg_id!r} is not an active installation in this account (unknown, deleted or "
                "uninstalled); the caller's own registration is fine",
            )
        return Installation.from_row(row)

    def own_installation(self, reg_id: str) -> Installation:
        """The path's installation, which must be the caller's own."""
        target = self.installation(reg_id)
        if self.caller.reg_id is not None and self.caller.reg_id != reg_id:
            self.installation(self.caller.reg_id)
            raise ApiError(
                ErrorCode.FORBIDDEN,
                f"installation {self.caller.reg_id!r} may not make this call on {reg_id!r}; "
                "the SDK makes it only on its own installation",
            )
        return target

    def save_installation(self, inst: Installation) -> None:
        self.db.execute(
            "UPDATE installations SET person_id=?, is_primary=?, data=?, updated=? WHERE reg_id=?",
            (inst.person_id, int(inst.is_primary), dumps(inst.data), self.now(), inst.reg_id),
        )

    def record_event(
        self,
        definition_id: str,
        *,
        person_id: int | None,
        reg_id: str | None,
        occurred: str | None = None,
        properties: dict[str, Any] | None = None,
    ) -> None:
        now = self.now()
        self.db.execute(
            "INSERT INTO events (account, person_id, reg_id, app_code, definition_id, occurred, properties, received)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (
                self.caller.account,
                person_id,
                reg_id,
                self.caller.app_code,
                definition_id,
                occurred or now,
                dumps(properties) if properties else None,
                now,
            ),
        )
        if definition_id == "AppLaunch":  # the live counters of /ui/live (server_stub/live.py)
            live.count(live.LAUNCHES)
        elif definition_id not in STANDARD_EVENTS:
            live.count(live.EVENTS)
