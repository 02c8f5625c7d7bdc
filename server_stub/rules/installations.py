"""Installations: create, PATCH (own data, or the primary flag of a sibling), GET, DELETE, uninstall."""

from __future__ import annotations

import uuid
from typing import Any

from contract import ErrorCode
from contract.models import Installation as InstallationBody

from ..errors import ApiError
from ..store import dumps
from .attributes import apply_custom_attributes
from .context import Context, Installation

__all__ = [
    "create_installation",
    "delete_installation",
    "get_installation",
    "installation_json",
    "patch_installation",
    "set_primary",
    "uninstall",
]

_NOT_STORED = frozenset({"pushRegId", "isPrimary", "customAttributes"})


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
    body.update(inst.data)
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
    """PATCH own installation; on a sibling of the same person only ``{"isPrimary": bool}``."""
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
    inst = ctx.installation(reg_id)
    _apply(ctx, inst, body)
    ctx.db.execute("UPDATE installations SET platform=? WHERE reg_id=?", (inst.platform, inst.reg_id))
    ctx.save_installation(inst)


def get_installation(ctx: Context, reg_id: str, *, with_token: bool) -> dict[str, Any]:
    return installation_json(ctx.own_installation(reg_id), with_token=with_token)


def _end(ctx: Context, inst: Installation, state: str) -> None:
    ctx.db.execute(
        "UPDATE installations SET state=?, is_primary=0, updated=? WHERE reg_id=?",
        (state, ctx.now(), inst.reg_id),
    )
    ctx.record_event("Uninstall", person_id=inst.person_id, reg_id=inst.reg_id)


def delete_installation(ctx: Context, reg_id: str) -> None:
    """iOS deletes the registration it finds in the keychain after a reinstall, as its new self."""
    target = ctx.installation(reg_id)
    if ctx.caller.reg_id is not None and ctx.caller.reg_id != reg_id:
        ctx.installation(ctx.caller.reg_id)
    _end(ctx, target, "deleted")


def uninstall(ctx: Context, reg_id: str) -> dict[str, Any]:
    """What the push provider's feedback tells a backend: the app is gone from the device."""
    row = ctx.db.execute("SELECT * FROM installations WHERE reg_id=?", (reg_id,)).fetchone()
    if row is None or row["state"] != "active":
        raise ApiError(ErrorCode.NOT_FOUND, f"no active installation {reg_id!r}")
    inst = Installation.from_row(row)
    _end(ctx, inst, "uninstalled")
    return {"pushRegId": reg_id, "state": "uninstalled"}
