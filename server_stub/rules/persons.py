"""Persons: personalize, depersonalize, the user PATCH and GET, and the merge of anonymous profiles.

The personalize algorithm (README, "Choices"; People reference section 5.4):

1. Resolve the identity values to the set P of persons that own any of them.
2. |P| > 1: ``AMBIGUOUS_PERSONALIZE_CANDIDATES``.
3. The device's person X, if it is identified and the identity does not fit it (P holds another
   person, or X has another externalUserId): ``PERSONALIZATION_IMPOSSIBLE`` without
   ``forceDepersonalize``; with it, the device is detached from X first.
4. The target is X if the identity fits it; else the one person in P; else a new person. An
   anonymous profile (a person without identities, made by a user PATCH on an anonymous device)
   becomes the target when P is empty, and is merged into the person in P otherwise.
5. Attach the device, add the identities, apply the attributes, promote LEAD to CUSTOMER unless
   ``keepAsLead``, and with ``setDeviceAsPrimary`` make the device the person's only primary.

User JWTs (docs/serve.md, "User JWTs"): in an application with JWT keys, personalize and a user
PATCH that changes the externalUserId need a Bearer token, and a Bearer call concerns the token's
``sub`` only (personalize names it; the user GET and PATCH act on the installation's user).
"""

from __future__ import annotations

import json
from typing import Any

from contract import ErrorCode, LimitViolation, limits
from contract.models import PersonalizeBody, User, UserAttributes

from ..errors import ApiError
from ..store import dumps
from .attributes import apply_custom_attributes
from .context import Context, Installation
from .identities import (
    Identity,
    add_identities,
    identities_of,
    normalize_external_user_id,
    owners,
    parse_identity,
    set_identities,
)
from .installations import installation_json, set_primary

__all__ = ["depersonalize", "get_user", "patch_user", "person_json", "personalize"]

_SCALAR_ATTRIBUTES = ("firstName", "lastName", "middleName", "gender", "birthday")


def _load(ctx: Context, person_id: int) -> tuple[str, dict[str, Any]]:
    row = ctx.db.execute("SELECT type, data FROM persons WHERE id=?", (person_id,)).fetchone()
    return row["type"], json.loads(row["data"])


def _save(ctx: Context, person_id: int, kind: str, data: dict[str, Any]) -> None:
    ctx.db.execute("UPDATE persons SET type=?, data=?, updated=? WHERE id=?", (kind, dumps(data), ctx.now(), person_id))


def _create(ctx: Context, kind: str) -> int:
    now = ctx.now()
    cursor = ctx.db.execute(
        "INSERT INTO persons (account, type, data, created, updated) VALUES (?,?,?,?,?)",
        (ctx.caller.account, kind, "{}", now, now),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def person_json(ctx: Context, person_id: int, *, with_instances: bool) -> dict[str, Any]:
    """The person as the Mobile API's ``UserBody``."""
    kind, data = _load(ctx, person_id)
    body: dict[str, Any] = {}
    phones, emails = [], []
    for ident_kind, _, shown in identities_of(ctx, person_id):
        if ident_kind == "externalUserId":
            body["externalUserId"] = shown
        elif ident_kind == "phone":
            phones.append({"number": shown})
        else:
            emails.append({"address": shown})
    if phones:
        body["phones"] = phones
    if emails:
        body["emails"] = emails
    body.update(data)
    body["type"] = kind
    if with_instances:
        rows = ctx.db.execute(
            "SELECT * FROM installations WHERE person_id=? AND state='active' ORDER BY created, rowid", (person_id,)
        ).fetchall()
        body["instances"] = [installation_json(Installation.from_row(r), with_token=False) for r in rows]
    return body


def _apply_attributes(ctx: Context, data: dict[str, Any], attrs: UserAttributes) -> None:
    fields = attrs.model_fields_set
    delta = {name: getattr(attrs, name) for name in fields}
    try:
        limits.validate_user(delta)
    except LimitViolation as exc:
        raise ApiError(exc.code, exc.text) from None
    for name in fields & {*_SCALAR_ATTRIBUTES, "tags"}:
        value = delta[name]
        if value is None:
            data.pop(name, None)
        else:
            data[name] = list(dict.fromkeys(value)) if name == "tags" else value
    if "customAttributes" in fields:
        if delta["customAttributes"] is None:
            data.pop("customAttributes", None)
        else:
            merged = apply_custom_attributes(ctx, "person", data.get("customAttributes"), delta["customAttributes"])
            data["customAttributes"] = merged
            if not merged:
                data.pop("customAttributes")


def _join_primary(ctx: Context, inst: Installation) -> None:
    """A device joining a person that has a primary device loses its own primary flag."""
    if inst.is_primary:
        taken = ctx.db.execute(
            "SELECT 1 FROM installations WHERE person_id=? AND is_primary=1 AND reg_id<>?",
            (inst.person_id, inst.reg_id),
        ).fetchone()
        inst.is_primary = taken is None


def _attach(ctx: Context, inst: Installation, person_id: int) -> None:
    inst.person_id = person_id
    _join_primary(ctx, inst)
    ctx.db.execute("UPDATE events SET person_id=? WHERE reg_id=? AND person_id IS NULL", (person_id, inst.reg_id))
    ctx.record_event("Personalize", person_id=person_id, reg_id=inst.reg_id)


def _wiped_like_the_sdk(inst: Installation) -> None:
    """What the device's SDK wipes locally on its own logout, and on a forced personalize: the
    installation's custom attributes, and (Android, Huawei: `APP_USER_ID`) its applicationUserId;
    iOS keeps the latter."""
    inst.data.pop("customAttributes", None)
    if inst.platform != "ios":
        inst.data.pop("applicationUserId", None)


def _detach(ctx: Context, inst: Installation) -> None:
    """The device becomes anonymous: its installation custom attributes and primary flag go."""
    ctx.record_event("Depersonalize", person_id=inst.person_id, reg_id=inst.reg_id)
    inst.person_id = None
    inst.is_primary = False
    inst.data.pop("customAttributes", None)


def _merge_anonymous(ctx: Context, source: int, target: int) -> None:
    """Fold an anonymous profile into an identified person: the target's values win."""
    _, src = _load(ctx, source)
    kind, dst = _load(ctx, target)
    for name in _SCALAR_ATTRIBUTES:
        if name in src and name not in dst:
            dst[name] = src[name]
    if "tags" in src:
        dst["tags"] = list(dict.fromkeys([*dst.get("tags", []), *src["tags"]]))
    if "customAttributes" in src:
        dst["customAttributes"] = {**src["customAttributes"], **dst.get("customAttributes", {})}
    _save(ctx, target, kind, dst)
    for table in ("installations", "events"):
        ctx.db.execute(f"UPDATE {table} SET person_id=? WHERE person_id=?", (target, source))
    ctx.db.execute("UPDATE identities SET person_id=? WHERE person_id=?", (target, source))
    ctx.db.execute("DELETE FROM persons WHERE id=?", (source,))


def _fits(ctx: Context, person_id: int, candidates: set[int], identity: list[Identity]) -> bool:
    if candidates - {person_id}:
        return False
    current = {value for kind, value, _ in identities_of(ctx, person_id) if kind == "externalUserId"}
    wanted = {value for kind, value, _ in identity if kind == "externalUserId"}
    return not (current and wanted and current != wanted)


def _candidate(ctx: Context, candidates: set[int], identity: list[Identity]) -> int:
    """The one person owning identity values, unless it has another ``externalUserId`` (a person has one)."""
    person_id = candidates.pop()
    current = {value for kind, value, _ in identities_of(ctx, person_id) if kind == "externalUserId"}
    wanted = {value for kind, value, _ in identity if kind == "externalUserId"}
    if current and wanted and current != wanted:
        raise ApiError(
            ErrorCode.AMBIGUOUS_PERSONALIZE_CANDIDATES,
            f"the identity's values belong to a person whose externalUserId is not {next(iter(wanted))!r}; "
            "personalize with values of one person",
        )
    return person_id


def _external_user_id(ctx: Context, person_id: int | None) -> str | None:
    if person_id is None:
        return None
    return next((value for kind, value, _ in identities_of(ctx, person_id) if kind == "externalUserId"), None)


def _shown(value: str | None) -> str:
    return "none" if value is None else repr(value[:60] + ("…" if len(value) > 60 else ""))


def _require_jwt(ctx: Context, what: str) -> None:
    """An application with JWT keys takes ``what`` only with a user JWT."""
    if ctx.caller.jwt_only and ctx.caller.jwt_subject is None:
        raise ApiError(
            ErrorCode.FORBIDDEN,
            f"this application takes user JWTs: {what} needs 'Authorization: Bearer <jwt>' issued for the "
            "user's externalUserId (the app's JwtSupplier), not the application code",
        )


def _jwt_for(ctx: Context, external_user_id: str | None, whose: str) -> None:
    """A Bearer call concerns the token's user: ``sub`` must be ``external_user_id``."""
    subject = ctx.caller.jwt_subject
    if subject is not None and subject != external_user_id:
        raise ApiError(
            ErrorCode.FORBIDDEN,
            f"the user JWT is for externalUserId {_shown(subject)} (its sub), but {whose} is "
            f"{_shown(external_user_id)}; send the token issued for that user",
        )


def _identity_of(body: PersonalizeBody) -> list[Identity]:
    ident = body.userIdentity
    identity = parse_identity(
        ident.externalUserId,
        [p.number for p in ident.phones or []],
        [e.address for e in ident.emails or []],
    )
    if not identity:
        raise ApiError(
            ErrorCode.USER_IDENTITY_INVALID,
            "userIdentity needs an externalUserId, a phone or an email (an externalUserId 'null' is none)",
        )
    return identity


def personalize(
    ctx: Context,
    reg_id: str,
    body: PersonalizeBody,
    *,
    force: bool = False,
    keep_as_lead: bool = False,
    set_as_primary: bool = False,
) -> dict[str, Any]:
    inst = ctx.own_installation(reg_id)
    _require_jwt(ctx, "personalize")
    identity = _identity_of(body)
    wanted = next((value for kind, value, _ in identity if kind == "externalUserId"), None)
    _jwt_for(ctx, wanted, "userIdentity.externalUserId")
    candidates = owners(ctx, identity)
    if len(candidates) > 1:
        raise ApiError(
            ErrorCode.AMBIGUOUS_PERSONALIZE_CANDIDATES,
            f"the identity points to {len(candidates)} different persons; personalize with values of one person",
        )
    target: int | None = None
    if inst.person_id is not None:
        identified = bool(identities_of(ctx, inst.person_id))
        if not identified:
            target = _candidate(ctx, candidates, identity) if candidates else inst.person_id
            if target != inst.person_id:
                _merge_anonymous(ctx, inst.person_id, target)
                inst.person_id = target
                _join_primary(ctx, inst)
            ctx.record_event("Personalize", person_id=target, reg_id=inst.reg_id)
        elif _fits(ctx, inst.person_id, candidates, identity):
            target = inst.person_id
        elif not force:
            raise ApiError(
                ErrorCode.PERSONALIZATION_IMPOSSIBLE,
                "the installation is personalized with another person; depersonalize first or set "
                "forceDepersonalize=true",
            )
        else:
            _detach(ctx, inst)
    if force:
        _wiped_like_the_sdk(inst)  # the SDK wiped its local data before it sent a forced personalize
    if target is None:
        if candidates:
            target = _candidate(ctx, candidates, identity)
        else:
            target = _create(ctx, "LEAD" if keep_as_lead else "CUSTOMER")
    if inst.person_id != target:
        _attach(ctx, inst, target)
    add_identities(ctx, target, identity)
    kind, data = _load(ctx, target)
    if body.userAttributes is not None:
        _apply_attributes(ctx, data, body.userAttributes)
    _save(ctx, target, kind if keep_as_lead else "CUSTOMER", data)
    if set_as_primary:
        set_primary(ctx, inst, True)
    ctx.save_installation(inst)
    return person_json(ctx, target, with_instances=True)


def depersonalize(ctx: Context, reg_id: str) -> None:
    """Detach the device from its person: the own installation, or another one of the same person
    (in any application of the account). The caller's own registration gone is ``NO_REGISTRATION``;
    another installation gone is ``NOT_FOUND`` (:meth:`Context.sibling`). What the server clears is
    what the SDK wiped locally, so that device and server agree afterwards: the installation's
    custom attributes and primary flag (both SDKs), and on an Android or Huawei device's own logout
    its ``applicationUserId``."""
    caller = ctx.caller.reg_id
    if caller is None or caller == reg_id:
        target = ctx.installation(reg_id)
    else:
        own = ctx.installation(caller)
        target = ctx.sibling(reg_id)
        if own.person_id is None or own.person_id != target.person_id:
            raise ApiError(
                ErrorCode.FORBIDDEN,
                f"installation {reg_id!r} does not belong to the caller's person; only a sibling can be logged out",
            )
    own_logout = caller is None or caller == reg_id
    if target.person_id is None:
        if own_logout:  # an anonymous device's logout: nothing to detach, its SDK wiped all the same
            _wiped_like_the_sdk(target)
            ctx.save_installation(target)
        return
    _detach(ctx, target)
    if own_logout:
        _wiped_like_the_sdk(target)
    ctx.save_installation(target)


def patch_user(ctx: Context, reg_id: str, body: User) -> None:
    """Apply a user delta: absent keys stay, ``null`` deletes, custom attributes merge key by key."""
    inst = ctx.own_installation(reg_id)
    current = _external_user_id(ctx, inst.person_id)
    _jwt_for(ctx, current, "the installation's user")
    fields = body.model_fields_set - {"type", "instances"}
    if not fields:
        return
    ident_fields = fields & {"externalUserId", "phones", "emails"}
    changes_id = "externalUserId" in fields and normalize_external_user_id(body.externalUserId) != current
    if changes_id and ctx.caller.jwt_only:
        raise ApiError(
            ErrorCode.FORBIDDEN,
            "this application takes user JWTs: the externalUserId changes only by personalize with the "
            "new user's JWT, not by a user PATCH",
        )
    identity = parse_identity(
        body.externalUserId,
        [p.number for p in body.phones or []],
        [e.address for e in body.emails or []],
    )
    if inst.person_id is None:
        if owners(ctx, identity):
            raise ApiError(
                ErrorCode.USER_MERGE_INTERRUPTED,
                "an identity in this PATCH belongs to another person; personalize to join that person",
            )
        inst.person_id = _create(ctx, "LEAD")
        ctx.db.execute(
            "UPDATE events SET person_id=? WHERE reg_id=? AND person_id IS NULL",
            (inst.person_id, inst.reg_id),
        )
        ctx.save_installation(inst)
    person_id = inst.person_id
    had_identity = bool(identities_of(ctx, person_id))
    for kind, field in (("externalUserId", "externalUserId"), ("phone", "phones"), ("email", "emails")):
        if field in ident_fields:
            set_identities(ctx, person_id, kind, identity)
    if had_identity and not identities_of(ctx, person_id):
        raise ApiError(
            ErrorCode.USER_IDENTITY_INVALID,
            "a personalized user must keep an externalUserId, a phone or an email; depersonalize instead",
        )
    kind, data = _load(ctx, person_id)
    attrs = UserAttributes.model_validate({name: getattr(body, name) for name in fields - ident_fields})
    _apply_attributes(ctx, data, attrs)
    _save(ctx, person_id, kind, data)


def get_user(ctx: Context, reg_id: str, *, with_instances: bool) -> dict[str, Any]:
    inst = ctx.own_installation(reg_id)
    _jwt_for(ctx, _external_user_id(ctx, inst.person_id), "the installation's user")
    if inst.person_id is None:
        own = installation_json(inst, with_token=False)
        return {"instances": [own]} if with_instances else {}
    return person_json(ctx, inst.person_id, with_instances=with_instances)
