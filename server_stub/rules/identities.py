"""Identities (externalUserId, phones, emails): each belongs to at most one person per account."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from contract import ErrorCode, LimitViolation, limits

from ..errors import ApiError
from .context import Context

__all__ = [
    "Identity",
    "add_identities",
    "identities_of",
    "normalize_external_user_id",
    "owners",
    "parse_identity",
    "set_identities",
]

Identity = tuple[str, str, str]
"""(kind, normalised value, value as given): kind is ``externalUserId``, ``phone`` or ``email``."""


def normalize_external_user_id(value: str | None) -> str | None:
    """People's rule for ``externalId``: ``"null"``, ``"Null"``, ``"NULL"`` (any case) are not values
    but JSON ``null`` (OAS-PEOPLE ``PushUserIdentity.externalId``). Otherwise the value is kept as
    given: externalIds are case-sensitive (DOC-PROFILE) and are not trimmed (no source says so)."""
    if value is not None and value.isascii() and value.lower() == "null":
        return None
    return value


def parse_identity(
    external_user_id: str | None, phones: Iterable[str] | None, emails: Iterable[str] | None
) -> list[Identity]:
    """Normalise and validate identity values; raises the SDK's validation codes."""
    external_user_id = normalize_external_user_id(external_user_id)
    user: dict[str, Any] = {
        "externalUserId": external_user_id,
        "phones": list(phones or []),
        "emails": list(emails or []),
    }
    try:
        limits.validate_user(user)
        result: list[Identity] = []
        if external_user_id is not None:
            result.append(("externalUserId", external_user_id, external_user_id))
        result += [("phone", limits.normalize_phone(p), limits.normalize_phone(p)) for p in user["phones"]]
        result += [("email", limits.normalize_email(e), e.strip()) for e in user["emails"]]
    except LimitViolation as exc:
        raise ApiError(exc.code, exc.text) from None
    return list({(kind, value): (kind, value, shown) for kind, value, shown in result}.values())


def owners(ctx: Context, identities: Iterable[Identity]) -> set[int]:
    """The persons of this account that own any of ``identities``."""
    found: set[int] = set()
    for kind, value, _ in identities:
        row = ctx.db.execute(
            "SELECT person_id FROM identities WHERE account=? AND kind=? AND value=?",
            (ctx.caller.account, kind, value),
        ).fetchone()
        if row is not None:
            found.add(row[0])
    return found


def identities_of(ctx: Context, person_id: int) -> list[Identity]:
    rows = ctx.db.execute(
        "SELECT kind, value, display FROM identities WHERE person_id=? ORDER BY rowid", (person_id,)
    ).fetchall()
    return [(r["kind"], r["value"], r["display"]) for r in rows]


def set_identities(ctx: Context, person_id: int, kind: str, identities: Iterable[Identity]) -> None:
    """Replace the person's identities of one kind; ``USER_MERGE_INTERRUPTED`` if another person owns one."""
    wanted = [ident for ident in identities if ident[0] == kind]
    taken = owners(ctx, wanted) - {person_id}
    if taken:
        raise ApiError(
            ErrorCode.USER_MERGE_INTERRUPTED,
            f"{kind} {wanted[0][2]!r} belongs to another person; merging persons from the device is refused",
        )
    if kind == "externalUserId" and len(wanted) > 1:
        raise ApiError(ErrorCode.USER_IDENTITY_INVALID, "a person has one externalUserId")
    ctx.db.execute("DELETE FROM identities WHERE person_id=? AND kind=?", (person_id, kind))
    ctx.db.executemany(
        "INSERT INTO identities (account, kind, value, person_id, display) VALUES (?,?,?,?,?)",
        [(ctx.caller.account, k, value, person_id, shown) for k, value, shown in wanted],
    )


def add_identities(ctx: Context, person_id: int, identities: Iterable[Identity]) -> None:
    """Add identities the person does not have yet (the caller checked ownership)."""
    ctx.db.executemany(
        "INSERT OR IGNORE INTO identities (account, kind, value, person_id, display) VALUES (?,?,?,?,?)",
        [(ctx.caller.account, kind, value, person_id, shown) for kind, value, shown in identities],
    )
