"""Installations: create, PATCH (own data, or the primary flag of a sibling), GET, DELETE, uninstall,
and the revival of an uninstalled registration by its own device's recovery PATCH.

Tombstones (docs/serve.md, "Deletion"; docs/reference/mobile-api-android.md §3.5):

- ``uninstalled`` (the push provider's feedback) is revived when its own Android or Huawei device
  PATCHes it with a ``pushServiceToken`` (an iOS device registers anew instead): the path's id is
  the ``pushregistrationid`` header's, the application is the caller's. That is Android's recovery
  after ``NO_REGISTRATION`` (``handleNoRegistrationError``: same id, token, system data,
  ``isPrimary``, ``regEnabled``; then ``/repersonalize``). The revival
  records no ``Install`` (no registration was created: ``Install`` counts creates, as the run's
  reconciliation does) and detaches an identified person, which the following repersonalize
  re-links (a ``Personalize``); an anonymous profile (a person without identities) stays attached,
  since no repersonalize can name it. It is counted in the installation's ``_revived`` data,
  which the inspection API shows and the Mobile API never answers.
- ``deleted`` (iOS's keychain DELETE) is final.
- ``DELETE`` of a registration that is already gone answers 2xx (iOS ≥ 13.11.0 would drop its new
  registration on ``NO_REGISTRATION``); the caller's own registration must be active.
"""

from __future__ import annotations

import uuid
from typing import Any

from contract import ErrorCode
from contract.models import Installation as InstallationBody

from ..errors import ApiError
from ..store import dumps
from .attributes import apply_custom_attributes
from .context import Context, Installation
from .identities import identities_of

__all__ = [
    "create_installation",
    "delete_installation",
    "get_installation",
    "installation_json",
    "patch_installation",
    "revivals",
    "set_primary",
    "uninstall",
]

_NOT_STORED = frozenset({"pushRegId", "isPrimary", "customAttributes"})
REVIVED = "_revived"
"""The data key of an installation's revivals: ``{"count": n, "at": [the last REVIVALS_KEPT times]}``.
No body field starts with ``_``, so no client can set it; :func:`installation_json` leaves it out."""
REVIVALS_KEPT = 20


def platform_of(data: dict[str, Any]) -> str:
    service = data.get("pushServiceType")
    if service == "APNS" or data.get("os") == "iOS":
        return "ios"
    if service == "HMS":
        return "huawei"
    return "android"


def installation_json(inst: Installation, *, with_token: bool) -> dict[str, Any]:
    """The installation as the Mobile API answers it; the token only when asked (``rt``)."""
    body: dict[str, Any] = {"pushRegId": inst.reg_id, "isPrimary": inst.is_primary}
    body.update((name, value) for name, value in inst.data.items() if name != REVIVED)
    body.setdefault("regEnabled", True)
    if not with_token:
        body.pop("pushServiceToken", None)
    return body


def _apply(ctx: Context, inst: Installation, body: InstallationBody) -> None:
    fields = body.model_fields_set
    for name in type(body).model_fields:  # in the model's order: answers list fields stably
        if name not in fields or name in _NOT_STORED:
            continue
        value = getattr(body, name)
        if value is None:
            inst.data.pop(name, None)
        else:
            inst.data[name] = value
    if "customAttributes" in fields:
        delta = body.customAttributes
        current = inst.data.get("customAttributes")
        if delta is None:
            inst.data.pop("customAttributes", None)
        else:
            inst.data["customAttributes"] = apply_custom_attributes(ctx, "installation", current, delta)
    if "isPrimary" in fields:
        set_primary(ctx, inst, bool(body.isPrimary))
    inst.platform = platform_of(inst.data) if "pushServiceType" in fields or "os" in fields else inst.platform


def revivals(data: dict[str, Any]) -> tuple[int, list[str]]:
    """How many times an installation was revived, and when (the last :data:`REVIVALS_KEPT`)."""
    revived = data.get(REVIVED)
    if not isinstance(revived, dict):
        return 0, []
    return int(revived.get("count", 0)), list(revived.get("at", []))


def set_primary(ctx: Context, inst: Installation, primary: bool) -> None:
    """At most one primary device per person: making one primary clears the others."""
    if primary and inst.person_id is not None:
        ctx.db.execute(
            "UPDATE installations SET is_primary=0 WHERE person_id=? AND reg_id<>? AND is_primary=1",
            (inst.person_id, inst.reg_id),
        )
    inst.is_primary = primary


def create_installation(ctx: Context, body: InstallationBody, *, with_token: bool) -> dict[str, Any]:
    now = ctx.now()
    inst = Installation(
        reg_id=str(uuid.uuid4()),
        app_code=ctx.caller.app_code,
        person_id=None,
        state="active",
        platform="android",
        is_primary=False,
        data={},
    )
    _apply(ctx, inst, body)
    inst.data.setdefault("regEnabled", True)
    inst.platform = platform_of(inst.data)
    ctx.db.execute(
        "INSERT INTO installations (reg_id, app_code, person_id, state, platform, installation_id, is_primary,"
        " data, created, updated) VALUES (?,?,?,?,?,?,?,?,?,?)",
        (
            inst.reg_id,
            inst.app_code,
            None,
            "active",
            inst.platform,
            ctx.caller.installation_id,
            int(inst.is_primary),
            dumps(inst.data),
            now,
            now,
        ),
    )
    ctx.record_event("Install", person_id=None, reg_id=inst.reg_id)
    return installation_json(inst, with_token=with_token)


def patch_installation(ctx: Context, reg_id: str, body: InstallationBody) -> None:
    """PATCH own installation; on a sibling of the same person only ``{"isPrimary": bool}``.

    The own installation may be an ``uninstalled`` one that this PATCH revives (:func:`_revive`).
    """
    caller = ctx.caller.reg_id
    if caller is not None and caller != reg_id:
        own = ctx.installation(caller)
        target = ctx.sibling(reg_id)
        if body.model_fields_set != {"isPrimary"} or body.isPrimary is None:
            raise ApiError(
                ErrorCode.FORBIDDEN,
                'on another installation the SDK PATCHes only {"isPrimary": true|false}',
            )
        if own.person_id is None or own.person_id != target.person_id:
            raise ApiError(ErrorCode.FORBIDDEN, f"installation {reg_id!r} does not belong to the caller's person")
        set_primary(ctx, target, body.isPrimary)
        ctx.save_installation(target)
        return
    inst = _revive(ctx, reg_id, body) or ctx.installation(reg_id)
    stored_platform = inst.platform
    _apply(ctx, inst, body)
    if inst.platform != stored_platform:  # a new pushServiceType or os (the column segments query)
        ctx.db.execute("UPDATE installations SET platform=? WHERE reg_id=?", (inst.platform, inst.reg_id))
    ctx.save_installation(inst)


def _revive(ctx: Context, reg_id: str, body: InstallationBody) -> Installation | None:
    """The caller's own ``uninstalled`` registration made active again, or None (not a revival).

    A revival needs all of: the ``pushregistrationid`` header names the path's id, the row is in
    the caller's application and ``uninstalled`` (``deleted`` is final), and the body carries a
    non-empty ``pushServiceToken`` (Android's recovery PATCH always does: ``setCloudTokenReported
    (false)``). Anything else falls through to ``NO_REGISTRATION``. The body is applied by the
    caller as on an active installation, in the same transaction: a PATCH refused later undoes it.
    """
    if ctx.caller.reg_id != reg_id or "pushServiceToken" not in body.model_fields_set or not body.pushServiceToken:
        return None
    row = ctx.db.execute("SELECT * FROM installations WHERE reg_id=?", (reg_id,)).fetchone()
    if row is None or row["app_code"] != ctx.caller.app_code or row["state"] != "uninstalled":
        return None
    if row["platform"] == "ios":
        return None  # iOS answers NO_REGISTRATION with a new registration, never this recovery
    inst = Installation.from_row(row)
    if inst.person_id is not None and identities_of(ctx, inst.person_id):
        inst.person_id = None  # the SDK repersonalizes next, with its stored user
    inst.is_primary = False  # the tombstone lost it; the body's isPrimary sets it again
    count, times = revivals(inst.data)
    inst.data[REVIVED] = {"count": count + 1, "at": [*times, ctx.now()][-REVIVALS_KEPT:]}
    ctx.db.execute("UPDATE installations SET state='active' WHERE reg_id=?", (reg_id,))
    return inst


def get_installation(ctx: Context, reg_id: str, *, with_token: bool) -> dict[str, Any]:
    return installation_json(ctx.own_installation(reg_id), with_token=with_token)


def _end(ctx: Context, inst: Installation, state: str) -> None:
    ctx.db.execute(
        "UPDATE installations SET state=?, is_primary=0, updated=? WHERE reg_id=?",
        (state, ctx.now(), inst.reg_id),
    )
    ctx.record_event("Uninstall", person_id=inst.person_id, reg_id=inst.reg_id)


def delete_installation(ctx: Context, reg_id: str) -> None:
    """iOS deletes the registration it finds in the keychain after a reinstall, as its new self.

    The caller's own registration (the ``pushregistrationid`` header, or the path without one)
    must be active, else ``NO_REGISTRATION``. Another id that is not an active registration of the
    caller's application (deleted, uninstalled, unknown) is already gone: 2xx, nothing changes.
    iOS rewrites its keychain only on success, and on ``NO_REGISTRATION`` (≥ 13.11.0) drops its new
    registration and creates another (docs/reference/mobile-api-ios-and-people.md §4.6).
    """
    caller = ctx.caller.reg_id
    if caller is None or caller == reg_id:
        _end(ctx, ctx.installation(reg_id), "deleted")
        return
    ctx.installation(caller)
    row = ctx.db.execute(
        "SELECT * FROM installations WHERE reg_id=? AND app_code=? AND state='active'", (reg_id, ctx.caller.app_code)
    ).fetchone()
    if row is not None:
        _end(ctx, Installation.from_row(row), "deleted")


def uninstall(ctx: Context, reg_id: str) -> dict[str, Any]:
    """What the push provider's feedback tells a backend: the app is gone from the device."""
    row = ctx.db.execute("SELECT * FROM installations WHERE reg_id=?", (reg_id,)).fetchone()
    if row is None or row["state"] != "active":
        raise ApiError(ErrorCode.NOT_FOUND, f"no active installation {reg_id!r}")
    inst = Installation.from_row(row)
    _end(ctx, inst, "uninstalled")
    return {"pushRegId": reg_id, "state": "uninstalled"}
