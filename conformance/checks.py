"""The catalogue: every rule a backend must honour for the SDKs to work, as data and a small body.

A body drives virtual devices (the SDK's own traffic) and raw wire requests (built from
``contract``) through a :class:`~conformance.probe.Probe`; it returns to pass, calls
``p.fail``/``p.expect*`` to fail with the exchange that showed it, or raises ``CheckSkipped``.
A device call that raises a ``SimulatorError`` fails the check with that error. The messaging
checks that need a message (``api_key=True``) send it to their own registration through the
target's Push API with the run's key (`Probe.send_message`); without a key they are skipped.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

from contract import format_epoch
from contract import headers as h
from contract.messages import parse_sync_payload

from .model import ANDROID_REF, IOS_REF, MSG_ANDROID_REF, MSG_IOS_REF, PUSH_REF, Check, Exchange, Scope, trim
from .probe import Probe

__all__ = ["CATALOGUE", "by_id"]

CATALOGUE: list[Check] = []
Body = Callable[[Probe], None]


def check(
    id: str,
    statement: str,
    protects: str,
    *,
    scope: Scope = Scope.ANY,
    inspection: bool | str = False,
    api_key: bool = False,
) -> Callable[[Body], Body]:
    """``inspection``: True, or what the check needs the inspection API for (the skip reason tells it)."""
    use = inspection if isinstance(inspection, str) else ""

    def register(body: Body) -> Body:
        CATALOGUE.append(Check(id, statement, protects, body, scope, bool(inspection), id.split("-")[0], api_key, use))
        return body

    return register


def by_id(check_id: str) -> Check:
    for item in CATALOGUE:
        if item.id == check_id:
            return item
    raise KeyError(check_id)


def _instances(p: Probe, user: Any, what: str) -> dict[str, dict[str, Any]]:
    instances = user.get("instances") if isinstance(user, dict) else None
    p.expect(isinstance(instances, list), f"{what} carries `instances`", f"instances={instances!r}")
    assert isinstance(instances, list)
    return {str(i.get("pushRegId")): i for i in instances if isinstance(i, dict)}


def _get_user(p: Probe, reg_id: str) -> dict[str, Any]:
    return p.json_of(p.call("get_user", reg_id=reg_id), "GET user")


def _get_installation(p: Probe, reg_id: str) -> dict[str, Any]:
    return p.json_of(p.call("get_installation", reg_id=reg_id), "GET installation")


# -- registration -----------------------------------------------------------------------------------


@check(
    "REG-001",
    "Creating a registration answers 2xx with a non-empty pushRegId",
    f"Android stores the pushRegId of the create answer and every later call uses it ({ANDROID_REF} §3.2); "
    f"iOS keeps it in the keychain ({IOS_REF} §3.2, §4.6).",
)
def registration_answers_push_reg_id(p: Probe) -> None:
    reg_id = p.register()
    answer = p.call("get_installation", reg_id=reg_id)
    data = p.json_of(answer, "GET of the new registration")
    p.expect(data.get("pushRegId") == reg_id, f"GET installation answers pushRegId {reg_id}",
             f"pushRegId={data.get('pushRegId')!r}", answer)  # fmt: skip


@check(
    "REG-002",
    "`rt=1` makes installation answers carry the pushServiceToken that was sent",
    f"iOS creates with `?rt=1` and reads the installation back with its token ({IOS_REF} §1, §3.2); Android "
    f"takes pushServiceToken from the create answer ({ANDROID_REF} §3.2).",
    scope=Scope.IOS,
)
def rt_returns_the_token(p: Probe) -> None:
    identity, body = p.raw_identity()
    answer = p.call("create_installation", body=body, identity=identity)
    data = p.json_of(answer, "create with rt=1")
    p.expect(data.get("pushServiceToken") == body["pushServiceToken"], "the sent pushServiceToken in the answer",
             f"pushServiceToken={data.get('pushServiceToken')!r}", answer)  # fmt: skip
    reg_id = data.get("pushRegId")
    p.expect(isinstance(reg_id, str) and reg_id, "a pushRegId in the answer", f"{data}", answer)
    fetched = p.call("get_installation", reg_id=str(reg_id), identity=identity)
    got = p.json_of(fetched, "GET installation with rt=1")
    p.expect(got.get("pushServiceToken") == body["pushServiceToken"], "the token in GET ...?rt=1",
             f"pushServiceToken={got.get('pushServiceToken')!r}", fetched)  # fmt: skip


@check(
    "REG-003",
    "`ri` makes the user answer list the person's installations, the caller's included",
    f"both SDKs fetch the user with `ri` and show `instances` to the app; Android finds its own entry there "
    f"({ANDROID_REF} §2.3; {IOS_REF} §4.1, §4.5).",
)
def ri_lists_instances(p: Probe) -> None:
    phone, tablet = p.person("ri", devices=2)
    assert phone.reg_id and tablet.reg_id
    user = _get_user(p, phone.reg_id)
    found = _instances(p, user, "GET user with ri")
    p.expect({phone.reg_id, tablet.reg_id} <= set(found), "both installations of the person in `instances`",
             f"instances={sorted(str(k) for k in found)}")  # fmt: skip


# -- PATCH -------------------------------------------------------------------------------------------


def _patch_round_trip(p: Probe) -> None:
    device = p.device()
    assert device.reg_id
    name = p.uid("attr")
    answer = p.call("patch_installation", reg_id=device.reg_id, body={"customAttributes": {name: "v1"}})
    p.expect_ok(answer, "installation PATCH")
    got = _get_installation(p, device.reg_id)
    p.expect((got.get("customAttributes") or {}).get(name) == "v1", f"customAttributes.{name} == 'v1' after the PATCH",
             f"customAttributes={got.get('customAttributes')!r}")  # fmt: skip
    answer = p.call("patch_user", reg_id=device.reg_id, body={"firstName": "Patched"})
    p.expect_ok(answer, "user PATCH")
    user = _get_user(p, device.reg_id)
    p.expect(user.get("firstName") == "Patched", "firstName 'Patched' after the user PATCH",
             f"firstName={user.get('firstName')!r}")  # fmt: skip


@check(
    "PAT-001",
    "A real PATCH updates the installation and the user",
    f"iOS sends installation and user changes as HTTP PATCH ({IOS_REF} §1, §11).",
    scope=Scope.IOS,
)
def real_patch(p: Probe) -> None:
    _patch_round_trip(p)


@check(
    "PAT-002",
    "POST with `X-HTTP-Method-Override: PATCH` updates the installation and the user",
    f"Android never sends PATCH: it POSTs with the override header ({ANDROID_REF} §0, §8.1).",
    scope=Scope.ANDROID,
)
def override_patch(p: Probe) -> None:
    _patch_round_trip(p)


@check(
    "PAT-003",
    "`null` in a PATCH body deletes the field or custom attribute",
    f"both SDKs delete user fields and custom attributes by sending explicit nulls ({ANDROID_REF} §8.1; "
    f"{IOS_REF} §4.3).",
)
def null_deletes(p: Probe) -> None:
    device = p.device()
    assert device.reg_id
    a, b = p.uid("a"), p.uid("b")
    device.save_user(firstName="Ana", customAttributes={a: "x", b: "y"})
    device.save_user(firstName=None, customAttributes={a: None})
    user = _get_user(p, device.reg_id)
    attrs = user.get("customAttributes") or {}
    p.expect("firstName" not in user or user["firstName"] is None, "firstName deleted by null",
             f"firstName={user.get('firstName')!r}")  # fmt: skip
    p.expect(a not in attrs and attrs.get(b) == "y", f"{a} deleted, {b} kept", f"customAttributes={attrs!r}")
    device.save_installation(customAttributes={a: "x", b: "y"})
    device.save_installation(customAttributes={a: None})
    got = _get_installation(p, device.reg_id)
    attrs = got.get("customAttributes") or {}
    p.expect(a not in attrs and attrs.get(b) == "y", f"installation {a} deleted, {b} kept",
             f"customAttributes={attrs!r}")  # fmt: skip


@check(
    "PAT-004",
    "A PATCH changes only what it names (custom attributes merge key by key)",
    f"both SDKs send only the delta of unreported changes ({ANDROID_REF} §3.6; {IOS_REF} §4.2, §3.3).",
)
def partial_updates(p: Probe) -> None:
    device = p.device()
    assert device.reg_id
    a, b = p.uid("a"), p.uid("b")
    device.save_user(firstName="Ana", customAttributes={a: "x"})
    device.save_user(lastName="Lee", customAttributes={b: "y"})
    user = _get_user(p, device.reg_id)
    attrs = user.get("customAttributes") or {}
    p.expect(user.get("firstName") == "Ana" and user.get("lastName") == "Lee", "firstName kept, lastName added",
             f"firstName={user.get('firstName')!r} lastName={user.get('lastName')!r}")  # fmt: skip
    p.expect(attrs.get(a) == "x" and attrs.get(b) == "y", "both custom attributes", f"customAttributes={attrs!r}")
    device.save_installation(customAttributes={a: "x"})
    device.save_installation(customAttributes={b: "y"})
    attrs = _get_installation(p, device.reg_id).get("customAttributes") or {}
    p.expect(attrs.get(a) == "x" and attrs.get(b) == "y", "both installation custom attributes",
             f"customAttributes={attrs!r}")  # fmt: skip


# -- personalize ----------------------------------------------------------------------------------------


@check(
    "PER-001",
    "Personalize with a new identity creates a CUSTOMER and answers the user with `instances`",
    f"the personalize answer is merged into the stored user; Android reads its own entry from `instances` "
    f"({ANDROID_REF} §3.3, §2.3; {IOS_REF} §5.1).",
)
def personalize_new_person(p: Probe) -> None:
    device = p.device()
    assert device.reg_id
    external = p.uid("new")
    user = device.personalize({"externalUserId": external}, {"firstName": "Nova"})
    p.expect(user.get("externalUserId") == external, f"externalUserId {external} in the answer",
             f"externalUserId={user.get('externalUserId')!r}")  # fmt: skip
    p.expect(device.reg_id in _instances(p, user, "the personalize answer"), "the own installation in `instances`",
             f"instances={user.get('instances')!r}")  # fmt: skip
    p.expect(user.get("type", "CUSTOMER") == "CUSTOMER", "type CUSTOMER", f"type={user.get('type')!r}")


@check(
    "PER-002",
    "Personalize with an existing identity joins that person (its data, its installations)",
    f"a second device logging in sees the same user ({IOS_REF} §5.1, §5.4; {ANDROID_REF} §3.3).",
)
def personalize_existing_person(p: Probe) -> None:
    (phone,) = p.person("existing", firstName="Ada")
    tablet = p.device()
    assert phone.reg_id and tablet.reg_id
    user = tablet.personalize({"externalUserId": p.uid("existing")})
    found = _instances(p, user, "the personalize answer")
    p.expect({phone.reg_id, tablet.reg_id} <= set(found), "both devices in `instances`",
             f"instances={sorted(str(k) for k in found)}")  # fmt: skip
    p.expect(user.get("firstName") == "Ada", "the person's firstName 'Ada'", f"firstName={user.get('firstName')!r}")


@check(
    "PER-003",
    "Identity values owned by two persons: `AMBIGUOUS_PERSONALIZE_CANDIDATES`",
    f"the SDKs surface this code to the app and drop the unreported identity ({ANDROID_REF} §7; {IOS_REF} §5.3, §5.4).",
)
def personalize_ambiguous(p: Probe) -> None:
    first, second, third = p.device(), p.device(), p.device()
    first.personalize({"externalUserId": p.uid("one"), "emails": [p.email("one")]})
    second.personalize({"externalUserId": p.uid("two"), "phones": [p.phone("two")]})
    assert third.reg_id
    body = {"userIdentity": {"emails": [{"address": p.email("one")}], "phones": [{"number": p.phone("two")}]}}
    answer = p.call("personalize", reg_id=third.reg_id, body=body)
    p.expect_error(answer, "AMBIGUOUS_PERSONALIZE_CANDIDATES", "personalize with two persons' values")


@check(
    "PER-004",
    "Personalizing a personalized device as someone else without force: `PERSONALIZATION_IMPOSSIBLE`",
    f"the SDK's personalize without forceDepersonalize must not move a device between persons "
    f"({ANDROID_REF} §3.3, §7; {IOS_REF} §5.1, §5.3).",
)
def personalize_without_force(p: Probe) -> None:
    (device,) = p.person("first")
    assert device.reg_id
    body = {"userIdentity": {"externalUserId": p.uid("second")}}
    answer = p.call("personalize", reg_id=device.reg_id, body=body, flags={"forceDepersonalize": False})
    p.expect_error(answer, "PERSONALIZATION_IMPOSSIBLE", "personalize as another person without force")


@check(
    "PER-005",
    "`forceDepersonalize` moves a personalized device to the new person",
    f"with forceDepersonalize the SDK wipes locally and expects the device detached first "
    f"({ANDROID_REF} §3.3; {IOS_REF} §5.1).",
)
def personalize_with_force(p: Probe) -> None:
    device, witness = p.person("first", devices=2)
    assert device.reg_id and witness.reg_id
    user = device.personalize({"externalUserId": p.uid("second")}, force_depersonalize=True)
    p.expect(user.get("externalUserId") == p.uid("second"), "the new externalUserId",
             f"externalUserId={user.get('externalUserId')!r}")  # fmt: skip
    left = _instances(p, _get_user(p, witness.reg_id), "the first person's user")
    p.expect(device.reg_id not in left, "the device no longer on the first person",
             f"first person's instances={sorted(str(k) for k in left)}")  # fmt: skip


@check(
    "PER-006",
    "`keepAsLead` creates (or keeps) the person as a LEAD",
    f"keepAsLead=true prevents Lead→Customer promotion ({ANDROID_REF} §3.3; {IOS_REF} §5.1).",
)
def personalize_keep_as_lead(p: Probe) -> None:
    device = p.device()
    user = device.personalize({"externalUserId": p.uid("lead")}, keep_as_lead=True)
    p.expect(user.get("type") == "LEAD", "type LEAD in the answer", f"type={user.get('type')!r}")


@check(
    "PER-007",
    "`setDeviceAsPrimary` makes the device the person's only primary",
    f"setDeviceAsPrimary=true marks this installation primary for the user ({ANDROID_REF} §3.3, §3.7; {IOS_REF} §4.5).",
)
def personalize_set_primary(p: Probe) -> None:
    (phone,) = p.person("primary")
    phone.set_primary()
    tablet = p.device()
    assert phone.reg_id and tablet.reg_id
    user = tablet.personalize({"externalUserId": p.uid("primary")}, set_as_primary=True)
    found = _instances(p, user, "the personalize answer")
    primaries = sorted(str(k) for k, v in found.items() if v.get("isPrimary") is True)
    p.expect(primaries == [tablet.reg_id], f"only {tablet.reg_id} primary", f"primary: {primaries}")


@check(
    "PER-008",
    "Taking another person's identity by user PATCH: `USER_MERGE_INTERRUPTED`",
    f"the SDKs treat it as an invalid parameter and drop the unreported identity ({ANDROID_REF} §7; {IOS_REF} "
    f"§4.2, §5.3).",
)
def merge_interrupted(p: Probe) -> None:
    first, second = p.device(), p.device()
    first.personalize({"externalUserId": p.uid("one"), "emails": [p.email("one")]})
    second.personalize({"externalUserId": p.uid("two")})
    assert second.reg_id
    answer = p.call("patch_user", reg_id=second.reg_id, body={"emails": [{"address": p.email("one")}]})
    p.expect_error(answer, "USER_MERGE_INTERRUPTED", "a user PATCH with another person's email")


# -- depersonalize and primary ------------------------------------------------------------------------------


@check(
    "DEP-001",
    "Depersonalize detaches the device: its user is anonymous, the person no longer lists it",
    f"logout: the SDK wipes locally, then reports it; pending until acknowledged ({ANDROID_REF} §3.4; {IOS_REF} §5.2).",
)
def depersonalize_self(p: Probe) -> None:
    device, witness = p.person("self", devices=2)
    assert device.reg_id and witness.reg_id
    device.depersonalize()
    p.expect(not device.depersonalize_pending, "the depersonalize acknowledged", "still pending")
    user = _get_user(p, device.reg_id)
    p.expect(not user.get("externalUserId"), "an anonymous user", f"externalUserId={user.get('externalUserId')!r}")
    left = _instances(p, _get_user(p, witness.reg_id), "the person's user")
    p.expect(device.reg_id not in left, "the device gone from the person",
             f"instances={sorted(str(k) for k in left)}")  # fmt: skip


@check(
    "DEP-002",
    "Depersonalize of another installation of the same person detaches that one only",
    f"`depersonalizeInstallation(otherRegId)` POSTs on the other id with the caller's pushregistrationid "
    f"({ANDROID_REF} §3.4; {IOS_REF} §5.2).",
)
def depersonalize_other(p: Probe) -> None:
    phone, tablet = p.person("remote", devices=2)
    assert phone.reg_id and tablet.reg_id
    phone.depersonalize_installation(tablet.reg_id)
    remote = _get_user(p, tablet.reg_id)
    p.expect(not remote.get("externalUserId"), "the other device anonymous",
             f"externalUserId={remote.get('externalUserId')!r}")  # fmt: skip
    own = _get_user(p, phone.reg_id)
    p.expect(own.get("externalUserId") == p.uid("remote"), "the calling device still personalized",
             f"externalUserId={own.get('externalUserId')!r}")  # fmt: skip


@check(
    "PRI-001",
    "A person has at most one primary installation: making one primary clears the others",
    f"the SDK sets the flag on one installation and clears it locally on the others ({ANDROID_REF} §3.7; "
    f"{IOS_REF} §4.5).",
)
def single_primary(p: Probe) -> None:
    phone, tablet = p.person("single", devices=2)
    assert phone.reg_id and tablet.reg_id
    phone.set_primary()
    phone.set_primary(tablet.reg_id)
    found = _instances(p, _get_user(p, phone.reg_id), "GET user")
    primaries = sorted(str(k) for k, v in found.items() if v.get("isPrimary") is True)
    p.expect(primaries == [tablet.reg_id], f"only {tablet.reg_id} primary", f"primary: {primaries}")


# -- attributes ----------------------------------------------------------------------------------------------


@check(
    "ATT-001",
    "Person attributes and tags saved on one device are seen from another device of the person",
    f"fetchUser on any device returns the person's data ({IOS_REF} §2.2, §4.1, §4.4; {ANDROID_REF} §2.2).",
)
def person_data_shared(p: Probe) -> None:
    phone, tablet = p.person("shared", devices=2)
    phone.save_user(lastName="Shared", tags=["vip", p.uid("tag")])
    user = tablet.fetch_user()
    p.expect(user.get("lastName") == "Shared", "lastName 'Shared' on the second device",
             f"lastName={user.get('lastName')!r}")  # fmt: skip
    p.expect(sorted(user.get("tags") or []) == sorted(["vip", p.uid("tag")]), "both tags on the second device",
             f"tags={user.get('tags')!r}")  # fmt: skip


@check(
    "ATT-002",
    "Installation custom attributes stay on their installation",
    f"installation data belongs to the device, not the person ({IOS_REF} §2.1, §2.2; {ANDROID_REF} §2.1).",
)
def installation_data_not_shared(p: Probe) -> None:
    phone, tablet = p.person("own", devices=2)
    name = p.uid("device")
    phone.save_installation(customAttributes={name: "phone-only"})
    mine = phone.fetch_installation().get("customAttributes") or {}
    p.expect(mine.get(name) == "phone-only", f"{name} on the phone", f"customAttributes={mine!r}")
    theirs = tablet.fetch_installation().get("customAttributes") or {}
    p.expect(name not in theirs, f"no {name} on the tablet", f"customAttributes={theirs!r}")


@check(
    "ATT-003",
    "Custom attributes keep their type: string, integer, decimal, boolean, date, datetime, list of objects",
    f"the SDKs decode custom attributes by JSON type and date shape ({IOS_REF} §4.3; {ANDROID_REF} §2.4).",
)
def custom_attribute_types(p: Probe) -> None:
    device = p.device()
    values: dict[str, Any] = {
        "s": "text",
        "i": 42,
        "d": 9.5,
        "b": True,
        "day": "2024-05-01",
        "at": "2024-05-01T10:00:00Z",
        "list": [{"sku": "a1", "qty": 2}],
    }
    sent = {p.uid(k): v for k, v in values.items()}
    device.save_user(customAttributes=sent)
    got = _get_user(p, device.reg_id or "").get("customAttributes") or {}
    for name, value in sent.items():
        seen = got.get(name)
        same = seen == value and type(seen) is type(value)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            same = isinstance(seen, (int, float)) and not isinstance(seen, bool) and seen == value
        if isinstance(value, str) and isinstance(seen, str) and value.endswith("Z"):
            same = seen.replace("+00:00", "Z").replace(".000", "") == value
        p.expect(same, f"{name} == {value!r}", f"{name} = {seen!r}")


@check(
    "ATT-004",
    "Custom attribute limits: a 4096-character value is kept, a longer one or a name with `[` is refused",
    f"the SDKs validate the same limits client side; the backend must refuse with an invalid-parameter code "
    f"({IOS_REF} §4.2, §4.3; {ANDROID_REF} §5.3, §7).",
)
def custom_attribute_limits(p: Probe) -> None:
    device = p.device()
    assert device.reg_id
    name = p.uid("long")
    answer = p.call("patch_user", reg_id=device.reg_id, body={"customAttributes": {name: "x" * 4096}})
    p.expect_ok(answer, "a 4096-character value")
    answer = p.call("patch_user", reg_id=device.reg_id, body={"customAttributes": {p.uid("over"): "x" * 4097}})
    p.expect_error(answer, "REQUEST_FORMAT_INVALID", "a 4097-character value")
    answer = p.call("patch_user", reg_id=device.reg_id, body={"customAttributes": {p.uid("bad[1]"): "x"}})
    p.expect_error(answer, "REQUEST_FORMAT_INVALID", "a name with '['")


# -- events -----------------------------------------------------------------------------------------------------


def _definition(p: Probe) -> str:
    definition = f"ck{p.run_id}{p.check_id.replace('-', '')}{p.platform.value}"
    p.inspect("POST", "/inspect/event-definitions",
              body={"definitionId": definition, "fields": [{"name": "amount", "type": "Numeric"}]})  # fmt: skip
    return definition


@check(
    "EVT-001",
    "`validate=false` batches are accepted (2xx) even with an unknown definition",
    f"iOS keeps a failed batch and re-sends it forever, Android drops it; a batch must not fail as a whole "
    f"({IOS_REF} §8.1, §8.2; {ANDROID_REF} §5.1).",
)
def batch_accepted(p: Probe) -> None:
    device = p.device()
    assert device.reg_id
    body = {"events": [{"definitionId": p.uid("unknown").replace("-", ""), "date": format_epoch(p.clock.now()),
                        "properties": {"x": 1}}]}  # fmt: skip
    answer = p.call("custom_events", reg_id=device.reg_id, body=body, flags={"validate": False})
    p.expect_ok(answer, "a validate=false batch")


@check(
    "EVT-002",
    "`validate=true` with an unknown definition: `REQUEST_FORMAT_INVALID`",
    f"submitEvent(event, listener) hands the server's verdict to the app ({ANDROID_REF} §5.1, §5.2; {IOS_REF} §8.1).",
)
def validated_unknown(p: Probe) -> None:
    device = p.device()
    assert device.reg_id
    body = {"events": [{"definitionId": p.uid("nope").replace("-", ""), "date": format_epoch(p.clock.now())}]}
    answer = p.call("custom_events", reg_id=device.reg_id, body=body, flags={"validate": True})
    p.expect_error(answer, "REQUEST_FORMAT_INVALID", "a validated event of an unknown definition")


@check(
    "EVT-003",
    "`validate=true` with a known definition and fitting properties is accepted and stored",
    f"submitEvent(event, listener) reports success only on 2xx ({ANDROID_REF} §5.1; {IOS_REF} §8.1, §8.2).",
    inspection=True,
)
def validated_known(p: Probe) -> None:
    definition = _definition(p)
    device = p.device()
    device.submit_event(definition, {"amount": 12.5}, validate=True)
    found = p.inspect("GET", "/inspect/events", params={"pushRegId": device.reg_id, "definitionId": definition})
    events = found.get("events") if isinstance(found, dict) else None
    p.expect(isinstance(events, list) and len(events) == 1, "one stored event", f"events={events!r}")


@check(
    "EVT-004",
    "`validate=false` batches store their valid events",
    f"batched events are the bulk of custom events ({ANDROID_REF} §5.1; {IOS_REF} §8.1, §8.2).",
    inspection=True,
)
def batch_stored(p: Probe) -> None:
    definition = _definition(p)
    device = p.device()
    device.submit_event(definition, {"amount": 1})
    device.submit_event(definition, {"amount": 2})
    device.advance(10)
    found = p.inspect("GET", "/inspect/events", params={"pushRegId": device.reg_id, "definitionId": definition})
    events = found.get("events") if isinstance(found, dict) else None
    p.expect(isinstance(events, list) and len(events) == 2, "two stored events", f"events={events!r}")


# -- sessions ----------------------------------------------------------------------------------------------------


def _launches(p: Probe, reg_id: str) -> list[Any]:
    found = p.inspect("GET", "/inspect/events", params={"pushRegId": reg_id, "definitionId": "AppLaunch"})
    events = found.get("events") if isinstance(found, dict) else None
    p.expect(isinstance(events, list), "an events list", f"{found!r}")
    assert isinstance(events, list)
    return events


@check(
    "SES-001",
    "Session reports (starts, bounds, system data) are accepted",
    f"both SDKs report sessions on start and foreground ({ANDROID_REF} §4; {IOS_REF} §7.1).",
)
def session_report_accepted(p: Probe) -> None:
    device = p.device()
    assert device.reg_id
    now = p.clock.now()
    body = {"systemData": device.system_data(), "sessionStarts": [format_epoch(now)],
            "sessionBounds": {format_epoch(now - 600): format_epoch(now - 540)}}  # fmt: skip
    p.expect_ok(p.call("session_report", reg_id=device.reg_id, body=body), "a session report")


@check(
    "SES-002",
    "A session start reported twice is one App Launch",
    f"the SDKs re-send starts they are not sure were reported (retries, reports on every foreground) "
    f"({ANDROID_REF} §4, §6.1; {IOS_REF} §7.1, §7.2).",
    inspection=True,
)
def session_dedup(p: Probe) -> None:
    reg_id = p.register()
    start = format_epoch(p.clock.now())
    body = {"sessionStarts": [start]}
    p.expect_ok(p.call("session_report", reg_id=reg_id, body=body), "the first report")
    p.expect_ok(p.call("session_report", reg_id=reg_id, body=body), "the same report again")
    bounds = {"sessionBounds": {start: format_epoch(p.clock.now() + 60)}}
    p.expect_ok(p.call("session_report", reg_id=reg_id, body=bounds), "the session's bound")
    launches = _launches(p, reg_id)
    p.expect(len(launches) == 1, "one App Launch", f"{len(launches)} App Launches")


@check(
    "SES-003",
    "A session start reported only as a bound is an App Launch",
    f"Android reports sessions that began before registration only in sessionBounds ({ANDROID_REF} §4; "
    f"{IOS_REF} §7.2).",
    inspection=True,
)
def session_bound_counts(p: Probe) -> None:
    reg_id = p.register()
    now = p.clock.now()
    body = {"sessionBounds": {format_epoch(now - 300): format_epoch(now - 200)}}
    p.expect_ok(p.call("session_report", reg_id=reg_id, body=body), "a report with one bound")
    launches = _launches(p, reg_id)
    p.expect(len(launches) == 1, "one App Launch", f"{len(launches)} App Launches")


# -- NO_REGISTRATION -----------------------------------------------------------------------------------------------


@check(
    "NOR-001",
    "Every call on an unknown pushRegId answers `NO_REGISTRATION`",
    f"NO_REGISTRATION (case-insensitive) is what starts each SDK's recovery ({ANDROID_REF} §3.5, §7; {IOS_REF} §4.6).",
)
def unknown_registration(p: Probe) -> None:
    gone = p.uid("no-such-registration")
    calls: list[tuple[str, dict[str, Any] | None]] = [
        ("patch_installation", {"isPrimary": False}),
        ("get_user", None),
        ("patch_user", {"firstName": "x"}),
        ("personalize", {"userIdentity": {"externalUserId": p.uid("x")}}),
        ("session_report", {"sessionStarts": [format_epoch(p.clock.now())]}),
        ("custom_events", {"events": [{"definitionId": "x", "date": format_epoch(p.clock.now())}]}),
    ]
    for name, body in calls:
        p.expect_error(p.call(name, reg_id=gone, body=body), "NO_REGISTRATION", name)


@check(
    "NOR-002",
    "iOS recovery: after `DELETE`, calls answer `NO_REGISTRATION` and a new registration works",
    f"iOS forgets the id on NO_REGISTRATION and registers anew at once ({IOS_REF} §4.6).",
    scope=Scope.IOS,
)
def ios_recovery(p: Probe) -> None:
    device = p.device()
    old = device.reg_id
    assert old
    p.expect_ok(p.call("delete_installation", reg_id=old), "DELETE of the registration")
    p.expect_error(p.call("get_installation", reg_id=old), "NO_REGISTRATION", "GET of the deleted registration")
    device.sync()
    p.expect(device.reg_id and device.reg_id != old, "a new pushRegId after the recovery",
             f"pushRegId {device.reg_id!r} (was {old!r})")  # fmt: skip
    user = device.personalize({"externalUserId": p.uid("back")})
    p.expect(user.get("externalUserId") == p.uid("back"), "the new registration personalizes",
             f"externalUserId={user.get('externalUserId')!r}")  # fmt: skip


FORGET = (
    "to make the target forget a registration as the push provider's uninstall feedback does: "
    "POST /inspect/installations/{pushRegId}/uninstall"
)


def _forgotten(p: Probe, label: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A registration of this platform personalized with ``uid(label)`` (firstName ``Back``), then
    forgotten by the target (the push provider's uninstall feedback, through the inspection API), and
    the target's ``NO_REGISTRATION`` to the device's own next call: the start of each SDK's recovery.
    The pushRegId, the device's headers and its create body."""
    identity, body = p.raw_identity()
    reg_id = p.register(identity=identity, body=body)
    ident = {"userIdentity": {"externalUserId": p.uid(label)}, "userAttributes": {"firstName": "Back"}}
    p.json_of(p.call("personalize", reg_id=reg_id, identity=identity, body=ident), "personalize")
    p.inspect("POST", f"/inspect/installations/{reg_id}/uninstall")
    p.expect_error(p.call("get_installation", reg_id=reg_id, identity=identity), "NO_REGISTRATION",
                   "the device's own call after the target forgot its registration")  # fmt: skip
    return reg_id, identity, body


@check(
    "NOR-003",
    "Android recovery: after `NO_REGISTRATION` the same pushRegId PATCHed with its token works again, and "
    "`repersonalize` re-links its person",
    f"Android keeps its pushRegId on NO_REGISTRATION, PATCHes it with the token, all system data, isPrimary and "
    f"regEnabled, then POSTs /repersonalize with the stored user; it never registers anew ({ANDROID_REF} §3.5).",
    scope=Scope.ANDROID,
    inspection=FORGET,
)
def android_recovery(p: Probe) -> None:
    reg_id, identity, body = _forgotten(p, "again")
    patch = {**body, "isPrimary": True, "regEnabled": True}
    p.expect_ok(p.call("patch_installation", reg_id=reg_id, identity=identity, body=patch),
                "the recovery PATCH of the same pushRegId (token, system data, isPrimary, regEnabled)")  # fmt: skip
    again = {"userIdentity": {"externalUserId": p.uid("again")}, "userAttributes": {"firstName": "Back"}}
    p.expect_ok(p.call("repersonalize", reg_id=reg_id, identity=identity, body=again), "repersonalize")
    got = _get_installation_as(p, reg_id, identity)
    p.expect(got.get("pushRegId") == reg_id, f"GET installation answers pushRegId {reg_id}",
             f"pushRegId={got.get('pushRegId')!r}")  # fmt: skip
    user = p.json_of(p.call("get_user", reg_id=reg_id, identity=identity), "GET user")
    p.expect(user.get("externalUserId") == p.uid("again") and user.get("firstName") == "Back",
             f"the device back on its person: externalUserId {p.uid('again')}, firstName 'Back'",
             f"externalUserId={user.get('externalUserId')!r} firstName={user.get('firstName')!r}")  # fmt: skip
    p.expect(reg_id in _instances(p, user, "GET user"), "the registration in the person's `instances`",
             f"instances={user.get('instances')!r}")  # fmt: skip


def _get_installation_as(p: Probe, reg_id: str, identity: dict[str, str]) -> dict[str, Any]:
    return p.json_of(p.call("get_installation", reg_id=reg_id, identity=identity), "GET installation")


@check(
    "NOR-004",
    "iOS recovery: after `NO_REGISTRATION` a new registration works and personalizes to the same person",
    f"iOS forgets its pushRegId on NO_REGISTRATION from any call and creates a registration with its token and "
    f"system data; it sends no repersonalize, the app personalizes again ({IOS_REF} §4.6).",
    scope=Scope.IOS,
    inspection=FORGET,
)
def ios_recovery_after_uninstall(p: Probe) -> None:
    old, identity, body = _forgotten(p, "again")
    answer = p.call("create_installation", body=body, identity=identity)
    data = p.json_of(answer, "the new registration after NO_REGISTRATION")
    new = data.get("pushRegId")
    p.expect(isinstance(new, str) and new, "a pushRegId in the registration answer", f"{data}", answer)
    assert isinstance(new, str)
    got = _get_installation_as(p, new, identity)
    p.expect(got.get("pushRegId") == new, f"GET installation answers pushRegId {new}",
             f"pushRegId={got.get('pushRegId')!r}")  # fmt: skip
    ident = {"userIdentity": {"externalUserId": p.uid("again")}}
    user = p.json_of(p.call("personalize", reg_id=new, identity=identity, body=ident), "personalize")
    p.expect(user.get("externalUserId") == p.uid("again") and user.get("firstName") == "Back",
             f"the person of {old}: externalUserId {p.uid('again')}, firstName 'Back'",
             f"externalUserId={user.get('externalUserId')!r} firstName={user.get('firstName')!r}")  # fmt: skip


@check(
    "NOR-005",
    "`DELETE` of a registration that is already gone answers 2xx, not `NO_REGISTRATION`",
    f"after a reinstall iOS DELETEs the keychain's old pushRegId as its new one and rewrites the keychain only on "
    f"a 2xx; on NO_REGISTRATION iOS ≥ 13.11.0 drops its new registration, older ones loop create → DELETE "
    f"({IOS_REF} §4.6).",
    scope=Scope.IOS,
)
def delete_is_idempotent(p: Probe) -> None:
    old = p.register()
    identity, body = p.raw_identity()
    new = p.register(identity=identity, body=body)
    p.expect_ok(p.call("delete_installation", reg_id=old, caller=new, identity=identity), "DELETE of the old pushRegId")
    p.expect_error(p.call("get_installation", reg_id=old), "NO_REGISTRATION", "GET of the deleted registration")
    p.expect_ok(p.call("delete_installation", reg_id=old, caller=new, identity=identity),
                "DELETE of the same pushRegId again")  # fmt: skip
    _get_installation_as(p, new, identity)


@check(
    "NOR-006",
    "A call about another installation that is gone is not answered `NO_REGISTRATION`",
    f"both SDKs read NO_REGISTRATION as the loss of their own registration: Android resets its own after a "
    f"sibling's primary PATCH answers it, iOS after any call ({ANDROID_REF} §3.5, §3.7; {IOS_REF} §4.5, §4.6).",
    inspection=FORGET,
)
def gone_sibling_not_no_registration(p: Probe) -> None:
    phone, tablet = p.person("family", devices=2)
    assert phone.reg_id and tablet.reg_id
    p.inspect("POST", f"/inspect/installations/{tablet.reg_id}/uninstall")
    calls = (
        ("patch_installation", {"isPrimary": True}, "the primary PATCH of the gone sibling"),
        ("depersonalize", None, "the depersonalize of the gone sibling"),
    )
    for name, body, what in calls:
        answer = p.call(name, reg_id=tablet.reg_id, caller=phone.reg_id, body=body)
        code = answer.message_id
        p.expect(code is None or code.upper() != "NO_REGISTRATION",
                 f"{what}: any answer but NO_REGISTRATION (the caller's own registration is fine)",
                 f"{answer.status} messageId={code}", answer)  # fmt: skip
    own = p.json_of(p.call("get_user", reg_id=phone.reg_id), "GET user of the caller")
    p.expect(own.get("externalUserId") == p.uid("family"), "the caller still personalized",
             f"externalUserId={own.get('externalUserId')!r}")  # fmt: skip


# -- errors and auth ----------------------------------------------------------------------------------------------


@check(
    "ERR-001",
    "Errors carry the `requestError.serviceException` envelope with a Content-Length",
    f"Android reads an error body only when Content-Length > 0 (else code -1); both SDKs read messageId "
    f"({ANDROID_REF} §0.3; {IOS_REF} §5.3).",
)
def error_envelope(p: Probe) -> None:
    device = p.device()
    assert device.reg_id
    answers = [
        p.call("get_user", reg_id=p.uid("missing")),
        p.call("patch_user", reg_id=device.reg_id, content=b'{"firstName": '),
        p.call("personalize", reg_id=device.reg_id, body={"userIdentity": {"emails": [{"address": "not-an-email"}]}}),
    ]
    for answer in answers:
        p.expect(answer.status is not None and answer.status >= 400, "an error status", answer.line(), answer)
        length = {k.lower(): v for k, v in answer.response_headers.items()}.get("content-length")
        body_size = len(answer.response_body.encode())
        p.expect(length is not None and length.isdigit() and int(length) > 0,
                 "a Content-Length header > 0", f"Content-Length={length!r}", answer)  # fmt: skip
        p.expect(int(length or 0) == body_size or body_size > 1400, f"Content-Length == {body_size}",
                 f"Content-Length={length!r}", answer)  # fmt: skip
        p.expect(answer.message_id, "requestError.serviceException.messageId",
                 f"body={answer.response_body[:200]!r}", answer)  # fmt: skip
        data = answer.json()
        text = data["requestError"]["serviceException"].get("text")
        p.expect(isinstance(text, str), "requestError.serviceException.text", f"text={text!r}", answer)


@check(
    "AUTH-001",
    "A missing or unknown application code: `INVALID_APPLICATION_CODE`, for every call",
    f"the SDK authenticates with `Authorization: App <code>` and reports the backend's code "
    f"({ANDROID_REF} §0.1, §7; {IOS_REF} §1.1, §5.3).",
)
def auth_failures(p: Probe) -> None:
    identity, body = p.raw_identity()
    wrong = dict(identity, Authorization=f"App {p.uid('wrong-code')}")
    p.expect_error(p.call("create_installation", body=body, identity=wrong), "INVALID_APPLICATION_CODE",
                   "create with an unknown app code")  # fmt: skip
    p.expect_error(p.call("create_installation", body=body, identity=identity, omit=["Authorization"]),
                   "INVALID_APPLICATION_CODE", "create without Authorization")  # fmt: skip
    reg_id = p.register()
    p.expect_error(p.call("get_user", reg_id=reg_id, identity=wrong), "INVALID_APPLICATION_CODE",
                   "GET user with an unknown app code")  # fmt: skip


# -- messages ------------------------------------------------------------------------------------------------------


def _receiver(p: Probe) -> tuple[str, dict[str, str]]:
    """A new registration of this check's platform and the headers its SDK sends (no pushregistrationid:
    `Probe.call` adds the caller's)."""
    identity, body = p.raw_identity()
    return p.register(identity=identity, body=body), identity


def _nothing(p: Probe) -> dict[str, Any] | None:
    """The sync body of an SDK with neither archive nor delivery ids: none on Android, ``{}`` on iOS."""
    return {} if p.ios else None


def _message_id(payload: Any) -> str | None:
    """The id of a sync answer's entry, in either platform's shape."""
    if not isinstance(payload, dict):
        return None
    value = payload.get("messageId", payload.get("gcm.notification.messageId"))
    return value if isinstance(value, str) else None


def _sync(p: Probe, reg_id: str, identity: dict[str, str], body: dict[str, Any] | None,
          what: str) -> tuple[Exchange, list[Any]]:  # fmt: skip
    """One messages sync: its answer and the answer's ``payloads``."""
    answer = p.call("sync_messages", reg_id=reg_id, identity=identity, body=body)
    data = p.json_of(answer, what)
    payloads = data.get("payloads")
    p.expect(isinstance(payloads, list), f"{what}: `payloads`, a list", f"{trim(answer.response_body, 300)}", answer)
    assert isinstance(payloads, list)
    return answer, payloads


def _sync_until(p: Probe, reg_id: str, identity: dict[str, str], message_id: str, *, answered: bool,
                body: dict[str, Any] | None, what: str) -> tuple[Exchange, list[Any]]:  # fmt: skip
    """Sync until ``message_id`` is (or is no longer) in the answer, within the probe's patience;
    fails when it never is (or stays)."""

    def look() -> tuple[bool, tuple[Exchange, list[Any]]]:
        got = _sync(p, reg_id, identity, body, what)
        return (message_id in {_message_id(x) for x in got[1]}) == answered, got

    answer, payloads = p.eventually(look)
    ids = [_message_id(x) for x in payloads]
    p.expect((message_id in ids) == answered, f"{what}: {message_id} {'in' if answered else 'not in'} `payloads`",
             f"payloads ids {ids}", answer)  # fmt: skip
    return answer, payloads


def _report_delivery(p: Probe, reg_id: str, identity: dict[str, str], message_id: str) -> None:
    """The SDK's delivery report: Android in ``drIDs`` of the next sync (the id archived too), iOS's
    Notification Service Extension in ``dlrIds``."""
    if p.ios:
        answer = p.call("delivery_report", reg_id=reg_id, identity=identity, body={"dlrIds": [message_id]},
                        headers={h.FOREGROUND: "false"})  # fmt: skip
        p.expect_ok(answer, "the extension's delivery report")
    else:
        _sync(p, reg_id, identity, {"mIDs": [message_id], "drIDs": [message_id]}, "a sync reporting the delivery")


@check(
    "MSG-001",
    'The messages sync answers 2xx `{"payloads": [...]}` to each platform\'s bodies: the empty one, and `mIDs`',
    f"Android sends no body at all when it has neither archive nor delivery ids, iOS then sends `{{}}`; both read "
    f"`payloads` of the answer ({MSG_ANDROID_REF} §3.1, §3.2; {MSG_IOS_REF} §3.3, §3.4).",
)
def sync_answers_payloads(p: Probe) -> None:
    reg_id, identity = _receiver(p)
    _sync(p, reg_id, identity, _nothing(p), "a sync with nothing to report")
    _sync(p, reg_id, identity, {"mIDs": [p.uid("archived")]}, "a sync with an archive (mIDs)")


@check(
    "MSG-002",
    "A message sent to the installation is in its sync answer, in the platform's shape",
    f"Android reads flat `gcm.notification.*` strings, `customPayload` and `internalData` as JSON strings; iOS "
    f"the APNs dictionary (`messageId`, `aps.alert`, `internalData`, `customPayload`); an entry it cannot read "
    f"is dropped ({MSG_ANDROID_REF} §3.2, §3.3; {MSG_IOS_REF} §1.2, §3.4).",
    api_key=True,
)
def message_in_platform_shape(p: Probe) -> None:
    reg_id, identity = _receiver(p)
    custom = {"check": p.check_id, "n": 1}
    message_id, text = p.send_message(reg_id, title="mobsim check", custom=custom)
    answer, payloads = _sync_until(p, reg_id, identity, message_id, answered=True, body=_nothing(p),
                                   what="a sync after the send")  # fmt: skip
    payload = next(x for x in payloads if _message_id(x) == message_id)
    got = parse_sync_payload(p.platform, payload)
    shape = "the APNs dictionary" if p.ios else "flat gcm.notification.* strings with customPayload a JSON string"
    p.expect(got is not None and got.text == text and got.title == "mobsim check" and got.custom_payload == custom,
             f"{message_id} as {shape}: text {text!r}, title 'mobsim check', customPayload {custom}",
             f"{trim(json.dumps(payload), 500)}" + (" (the SDK drops it)" if got is None else ""), answer)  # fmt: skip


@check(
    "MSG-003",
    "A message is answered by every sync until `drIDs` report its delivery, then no more",
    f"a sync answer is not a delivery: the SDK reports each message it took in `drIDs` of the next sync, and a "
    f"message still answered after that is taken again ({MSG_ANDROID_REF} §2.3, §3.3; {MSG_IOS_REF} §3.3, §3.4).",
    api_key=True,
)
def answered_until_reported(p: Probe) -> None:
    reg_id, identity = _receiver(p)
    message_id, _ = p.send_message(reg_id)
    _sync_until(p, reg_id, identity, message_id, answered=True, body=_nothing(p), what="a sync after the send")
    answer, payloads = _sync(p, reg_id, identity, _nothing(p), "the next sync")
    p.expect(message_id in {_message_id(x) for x in payloads}, f"{message_id} answered again (not reported yet)",
             f"payloads ids {[_message_id(x) for x in payloads]}", answer)  # fmt: skip
    _sync(p, reg_id, identity, {"drIDs": [message_id]}, "a sync reporting the delivery in drIDs")
    _sync_until(p, reg_id, identity, message_id, answered=False, body=_nothing(p),
                what=f"a sync after drIDs [{message_id}]")  # fmt: skip


@check(
    "MSG-004",
    "Ids in `mIDs` are not answered again",
    f"both SDKs send back the ids they hold (the last 7 days, at most 100) so the answer leaves them out "
    f"({MSG_ANDROID_REF} §3.1, §3.3; {MSG_IOS_REF} §3.3).",
    api_key=True,
)
def archive_not_answered(p: Probe) -> None:
    reg_id, identity = _receiver(p)
    held, _ = p.send_message(reg_id)
    new, _ = p.send_message(reg_id)
    answer, payloads = _sync_until(p, reg_id, identity, new, answered=True, body={"mIDs": [held]},
                                   what=f"a sync with mIDs [{held}]")  # fmt: skip
    ids = [_message_id(x) for x in payloads]
    p.expect(held not in ids, f"{held} (in mIDs) not in `payloads`", f"payloads ids {ids}", answer)


@check(
    "DLR-001",
    "The extension's delivery report (`dlrIds`) is acknowledged and the message is no longer answered",
    f"the Notification Service Extension reports each alert push; iOS before 15.0 counts only a 2xx, and never "
    f"puts a reported id in `drIDs` again ({MSG_IOS_REF} §2.2, §2.3, §3.3).",
    scope=Scope.IOS,
    api_key=True,
)
def extension_delivery_report(p: Probe) -> None:
    reg_id, identity = _receiver(p)
    message_id, _ = p.send_message(reg_id)
    _report_delivery(p, reg_id, identity, message_id)
    _sync_until(p, reg_id, identity, message_id, answered=False, body={}, what="a sync after the delivery report")


@check(
    "SEEN-001",
    "Seen reports are acknowledged (2xx), also when they name ids the backend does not know (Android)",
    f"Android re-sends an unacknowledged seen report with every sync and reports any id the app marks seen, iOS "
    f"re-sends until acknowledged ({MSG_ANDROID_REF} §5; {MSG_IOS_REF} §5).",
    api_key=True,
)
def seen_acknowledged(p: Probe) -> None:
    reg_id, identity = _receiver(p)
    message_id, _ = p.send_message(reg_id)
    _report_delivery(p, reg_id, identity, message_id)
    messages = [{"messageId": message_id, "timestampDelta": 4}]
    if not p.ios:
        messages.append({"messageId": p.uid("unknown"), "timestampDelta": 0})
    answer = p.call("seen_messages", reg_id=reg_id, identity=identity, body={"messages": messages})
    p.expect_ok(answer, "a seen report")


@check(
    "MO-001",
    "MO messages are answered each with its messageId, text and an integer statusCode",
    f"iOS drops answer entries without messageId, text and an Int statusCode (0 sent, 1 failed); Android maps "
    f"statusCode 0, 1, 2 to SUCCESS, ERROR, UNKNOWN ({MSG_IOS_REF} §7.2; {MSG_ANDROID_REF} §8).",
)
def mo_answered(p: Probe) -> None:
    reg_id, identity = _receiver(p)
    mo_id = str(uuid.uuid4())
    mo_id = mo_id.upper() if p.ios else mo_id  # NSUUID().uuidString; java.util.UUID
    text = f"mobsim check {p.run_id}"
    body = {"from": reg_id, "messages": [{"messageId": mo_id, "text": text, "customPayload": {"check": p.check_id}}]}
    answer = p.call("send_mo", reg_id=reg_id, identity=identity, body=body)
    data = p.json_of(answer, "the MO answer")
    entries = data.get("messages")
    entry = next((e for e in entries or [] if isinstance(e, dict) and e.get("messageId") == mo_id), None) if (
        isinstance(entries, list)) else None  # fmt: skip
    p.expect(entry is not None, f"an entry with messageId {mo_id} in `messages`", trim(answer.response_body, 300),
             answer)  # fmt: skip
    assert entry is not None
    code = entry.get("statusCode")
    codes = (0, 1) if p.ios else (0, 1, 2)
    p.expect(entry.get("text") == text, f"text {text!r} in the entry", f"text={entry.get('text')!r}", answer)
    p.expect(isinstance(code, int) and not isinstance(code, bool) and code in codes,
             f"an integer statusCode, one of {codes}", f"statusCode={code!r}", answer)  # fmt: skip


def _group(report: dict[str, Any]) -> Any:
    status = report.get("status")
    return status.get("groupName") if isinstance(status, dict) else None


@check(
    "RPT-001",
    "`GET /push/3/reports` returns a message's report once, DELIVERED after the device's delivery report",
    f"the Push API's reports are each returned once; the status follows the SDK's delivery report (Android "
    f"`drIDs`, iOS `dlrIds`) ({PUSH_REF} §5.1, §6; {MSG_ANDROID_REF} §9; {MSG_IOS_REF} §2.2).",
    api_key=True,
)
def report_once(p: Probe) -> None:
    reg_id, identity = _receiver(p)
    message_id, _ = p.send_message(reg_id)
    early = [r for r in p.reports(message_id) if _group(r) == "DELIVERED"]
    p.expect(not early, "no DELIVERED report before the delivery report", f"{trim(json.dumps(early), 300)}")
    _report_delivery(p, reg_id, identity, message_id)

    def look() -> tuple[bool, list[dict[str, Any]]]:
        found = p.reports(message_id)
        return bool(found), found

    found = p.eventually(look)
    groups = [_group(r) for r in found]
    p.expect(groups == ["DELIVERED"], f"one report of {message_id}, status group DELIVERED", f"groups {groups}")
    again = p.reports(message_id)
    p.expect(not again, f"no report of {message_id} the second time", f"{len(again)} again")
