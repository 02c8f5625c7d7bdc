"""Recovery after ``NO_REGISTRATION``: the revival of an uninstalled registration by its own device's
PATCH, the person link, ``deleted`` final, idempotent DELETE, and gone siblings as ``NOT_FOUND``.

The rules: server_stub/rules/installations.py (module docstring); the SDK side:
docs/reference/mobile-api-android.md §3.5 and docs/reference/mobile-api-ios-and-people.md §4.6.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from stubkit import (
    ANDROID_SYSTEM,
    APP_CODE,
    OTHER_APP,
    SYSTEM,
    Clock,
    Device,
    Inspector,
    MakeDevice,
    assert_empty_ok,
    assert_error,
    ts,
)

from contract import Dialect
from server_stub import create_app
from server_stub.rules.installations import REVIVALS_KEPT

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient


def ok(response: httpx.Response) -> None:
    assert response.status_code == 200, response.text


def recovery_body(device: Device) -> dict[str, Any]:
    """Android's PATCH after ``handleNoRegistrationError``: token, all system data, isPrimary, regEnabled."""
    return {**SYSTEM[device.dialect], "pushServiceToken": device.token, "isPrimary": True, "regEnabled": True}


def state_of(inspector: Inspector, device: Device) -> tuple[str, int, list[str]]:
    found = inspector.installation(device.reg_id or "")
    return found["state"], found["revivals"], found["revived"]


def uninstall(inspector: Inspector, device: Device) -> None:
    assert inspector.post(f"/installations/{device.reg_id}/uninstall")["state"] == "uninstalled"


# ---------------------------------------------------------------------------------------------
# the revival


def test_android_recovery_revives_the_registration_and_repersonalize_relinks_it(
    new_device: MakeDevice, inspector: Inspector, clock: Clock
) -> None:
    device = new_device(Dialect.ANDROID)
    ok(device.personalize({"externalUserId": "back"}, {"firstName": "Ana"}))
    person = inspector.find("back")["id"]
    clock.advance(1)
    uninstall(inspector, device)
    clock.advance(1)
    # before the revival PATCH every call about the registration is NO_REGISTRATION (Android's sync
    # that got the error sends its other calls too, and only sets flags)
    for answer in (
        device.get(),
        device.session([ts(2)]),
        device.sync(),
        device.repersonalize({"externalUserId": "back"}),
        device.patch({"isPrimary": True, "regEnabled": True}),  # no token: not a revival
    ):
        assert_error(answer, 404, "NO_REGISTRATION", "no registration")
    assert state_of(inspector, device) == ("uninstalled", 0, [])

    assert_empty_ok(device.patch(recovery_body(device)))
    assert state_of(inspector, device) == ("active", 1, [ts(2)])
    found = inspector.installation(device.reg_id or "")
    assert (found["personId"], found["isPrimary"], found["pushServiceToken"]) == (None, True, device.token)
    # the revival is no Install (no registration was created) and the person lost the device
    assert inspector.names(pushRegId=device.reg_id) == ["Install", "Personalize", "Uninstall"]
    assert list(device.user_json()) == ["instances"]  # anonymous: only its own installation
    assert inspector.person(person)["installations"] == []

    assert_empty_ok(device.repersonalize({"externalUserId": "back"}, {"firstName": "Ana"}))
    user = device.user_json()
    assert (user["externalUserId"], user["firstName"], user["type"]) == ("back", "Ana", "CUSTOMER")
    assert inspector.names(pushRegId=device.reg_id) == ["Install", "Personalize", "Uninstall", "Personalize"]
    found = inspector.installation(device.reg_id or "")
    assert (found["personId"], found["isPrimary"], found["state"]) == (person, True, "active")
    # the Mobile API never answers the revival count
    assert not {"_revived", "revivals", "revived"} & set(device.installation_json())
    assert device.sync().status_code == 200


def test_the_revival_is_android_and_huawei_s_recovery_not_ios_s(new_device: MakeDevice, inspector: Inspector) -> None:
    android = new_device(Dialect.ANDROID)
    uninstall(inspector, android)
    assert_empty_ok(android.patch({"pushServiceToken": "fresh-token"}))
    assert state_of(inspector, android)[:2] == ("active", 1)
    assert android.installation_json()["regEnabled"] is True
    ios = new_device(Dialect.IOS)  # iOS answers NO_REGISTRATION with a new registration
    uninstall(inspector, ios)
    refused = ios.patch({"pushServiceToken": "f" * 64})
    assert refused.status_code >= 400 and "NO_REGISTRATION" in refused.text
    assert state_of(inspector, ios)[:2] == ("uninstalled", 0)


def _no_token(device: Device) -> dict[str, Any]:
    return {key: value for key, value in recovery_body(device).items() if key != "pushServiceToken"}


@pytest.mark.parametrize(
    "body",
    [
        _no_token,
        lambda d: {**_no_token(d), "pushServiceToken": None},
        lambda d: {**_no_token(d), "pushServiceToken": ""},
    ],
    ids=["no token", "null token", "empty token"],
)
def test_no_revival_without_a_token(new_device: MakeDevice, inspector: Inspector, body: Any) -> None:
    device = new_device(Dialect.ANDROID)
    uninstall(inspector, device)
    assert_error(device.patch(body(device)), 404, "NO_REGISTRATION")
    assert state_of(inspector, device) == ("uninstalled", 0, [])


def test_no_revival_without_the_registration_header(new_device: MakeDevice, inspector: Inspector) -> None:
    device = new_device(Dialect.ANDROID)
    uninstall(inspector, device)
    gone = device.reg_id
    device.reg_id = None  # the path names the registration, no pushregistrationid header
    assert_error(device.patch(recovery_body(device), target=gone), 404, "NO_REGISTRATION")
    device.reg_id = gone
    assert state_of(inspector, device) == ("uninstalled", 0, [])


def test_no_revival_by_another_installation(new_device: MakeDevice, inspector: Inspector) -> None:
    gone, other = new_device(Dialect.ANDROID), new_device(Dialect.ANDROID)
    uninstall(inspector, gone)
    # the header names another (active) registration: a call about another installation
    assert_error(other.patch(recovery_body(gone), target=gone.reg_id), 404, "NOT_FOUND", "not an active installation")
    assert state_of(inspector, gone) == ("uninstalled", 0, [])


def test_no_revival_in_another_application(new_device: MakeDevice, inspector: Inspector) -> None:
    gone = new_device(Dialect.ANDROID)
    uninstall(inspector, gone)
    stranger = new_device(Dialect.ANDROID, register=False, app_code=OTHER_APP)
    stranger.reg_id = gone.reg_id  # claims the id, with another application's code
    assert_error(stranger.patch(recovery_body(gone)), 404, "NO_REGISTRATION", "in this application")
    assert state_of(inspector, gone) == ("uninstalled", 0, [])


def test_deleted_stays_final(new_device: MakeDevice, inspector: Inspector) -> None:
    old = new_device(Dialect.IOS)
    assert_empty_ok(new_device(Dialect.IOS).delete(old.reg_id or ""))
    assert_error(old.patch(recovery_body(old)), 404, "NO_REGISTRATION")
    assert state_of(inspector, old) == ("deleted", 0, [])
    # and the push provider's feedback cannot turn it into a revivable tombstone
    response = inspector.client.request("POST", f"/inspect/installations/{old.reg_id}/uninstall")
    assert_error(response, 404, "NOT_FOUND", "no active installation")


def test_an_unknown_registration_is_not_created_by_a_patch(new_device: MakeDevice, inspector: Inspector) -> None:
    device = new_device(Dialect.ANDROID, register=False)
    device.reg_id = "never-registered"
    assert_error(device.patch(recovery_body(device)), 404, "NO_REGISTRATION", "never-registered")
    assert inspector.stats()["installations"] == {}


def test_a_refused_recovery_patch_leaves_the_tombstone(new_device: MakeDevice, inspector: Inspector) -> None:
    device = new_device(Dialect.ANDROID)
    uninstall(inspector, device)
    body = {**recovery_body(device), "customAttributes": {"bad[name]": 1}}
    assert_error(device.patch(body), 400, "REQUEST_FORMAT_INVALID")
    assert state_of(inspector, device) == ("uninstalled", 0, [])
    assert inspector.installation(device.reg_id or "").get("customAttributes") is None


def test_each_revival_is_counted_and_the_last_times_kept(
    new_device: MakeDevice, inspector: Inspector, clock: Clock
) -> None:
    device = new_device(Dialect.ANDROID)
    for n in range(REVIVALS_KEPT + 1):
        clock.advance(1)
        uninstall(inspector, device)
        assert_empty_ok(device.patch(recovery_body(device)))
        assert state_of(inspector, device)[:2] == ("active", n + 1)
    _, count, times = state_of(inspector, device)
    assert count == REVIVALS_KEPT + 1
    assert times == [ts(n) for n in range(2, REVIVALS_KEPT + 2)]  # the first one dropped
    listed = inspector.get("/installations", state="active")["installations"]
    assert [(i["pushRegId"], i["revivals"]) for i in listed] == [(device.reg_id, REVIVALS_KEPT + 1)]
    # a PATCH of the active registration is no revival
    assert_empty_ok(device.patch(recovery_body(device)))
    assert state_of(inspector, device)[1] == REVIVALS_KEPT + 1
    assert inspector.names(pushRegId=device.reg_id).count("Install") == 1


# ---------------------------------------------------------------------------------------------
# the person link


def test_an_anonymous_device_stays_anonymous(new_device: MakeDevice, inspector: Inspector) -> None:
    device = new_device(Dialect.ANDROID)
    uninstall(inspector, device)
    assert_empty_ok(device.patch(recovery_body(device)))
    assert list(device.user_json()) == ["instances"]  # anonymous: only its own installation
    assert inspector.installation(device.reg_id or "")["personId"] is None


def test_an_anonymous_profile_stays_attached(new_device: MakeDevice, inspector: Inspector) -> None:
    """A person without identities (a user PATCH on an anonymous device): no repersonalize can name
    it (Android's would carry an empty userIdentity), so the revival keeps the link."""
    device = new_device(Dialect.ANDROID)
    assert_empty_ok(device.patch_user({"firstName": "Nameless"}))
    person = inspector.installation(device.reg_id or "")["personId"]
    assert person is not None
    uninstall(inspector, device)
    assert_empty_ok(device.patch(recovery_body(device)))
    assert inspector.installation(device.reg_id or "")["personId"] == person
    assert device.user_json()["firstName"] == "Nameless"


def test_the_person_keeps_its_primary_device(new_device: MakeDevice, inspector: Inspector) -> None:
    """The recovery PATCH says isPrimary true; back on the person, the device joins as any device
    does: a person with a primary device keeps it."""
    phone, tablet = new_device(Dialect.ANDROID), new_device(Dialect.ANDROID)
    ok(phone.personalize({"externalUserId": "two"}, primary=True))
    ok(tablet.personalize({"externalUserId": "two"}))
    uninstall(inspector, tablet)
    assert_empty_ok(tablet.patch(recovery_body(tablet)))
    assert inspector.installation(phone.reg_id or "")["isPrimary"] is True
    assert_empty_ok(tablet.repersonalize({"externalUserId": "two"}))
    person = inspector.find("two")
    assert [(i["pushRegId"], i["isPrimary"]) for i in person["installations"]] == [
        (phone.reg_id, True),
        (tablet.reg_id, False),
    ]


def test_repersonalize_as_someone_else_after_the_revival(new_device: MakeDevice, inspector: Inspector) -> None:
    device = new_device(Dialect.ANDROID)
    ok(device.personalize({"externalUserId": "before"}))
    uninstall(inspector, device)
    assert_empty_ok(device.patch(recovery_body(device)))
    assert_empty_ok(device.repersonalize({"externalUserId": "after"}))
    assert device.user_json()["externalUserId"] == "after"
    assert inspector.find("before")["installations"] == []
    assert inspector.find("after")["type"] == "LEAD"  # repersonalize keeps a new person a LEAD


# ---------------------------------------------------------------------------------------------
# DELETE of a gone registration


def test_delete_of_a_gone_registration_is_2xx_and_changes_nothing(new_device: MakeDevice, inspector: Inspector) -> None:
    old, gone = new_device(Dialect.IOS), new_device(Dialect.IOS)
    uninstall(inspector, gone)
    reinstalled = new_device(Dialect.IOS)
    assert_empty_ok(reinstalled.delete(old.reg_id or ""))
    assert_empty_ok(reinstalled.delete(old.reg_id or ""))  # again: already deleted
    assert_empty_ok(reinstalled.delete(gone.reg_id or ""))  # uninstalled: stays uninstalled
    assert_empty_ok(reinstalled.delete("never-registered"))
    assert state_of(inspector, old)[0] == "deleted"
    assert state_of(inspector, gone)[0] == "uninstalled"
    assert inspector.names(pushRegId=old.reg_id) == ["Install", "Uninstall"]
    assert inspector.names(pushRegId=gone.reg_id) == ["Install", "Uninstall"]
    assert reinstalled.installation_json()["pushRegId"] == reinstalled.reg_id


def test_delete_never_reaches_another_application(new_device: MakeDevice, inspector: Inspector) -> None:
    theirs = new_device(Dialect.IOS, app_code=OTHER_APP)
    ours = new_device(Dialect.IOS)
    assert_empty_ok(ours.delete(theirs.reg_id or ""))  # not a registration of this application: nothing to do
    assert state_of(inspector, theirs)[0] == "active"


def test_delete_by_a_gone_caller_is_no_registration(new_device: MakeDevice, inspector: Inspector) -> None:
    caller, target = new_device(Dialect.IOS), new_device(Dialect.IOS)
    uninstall(inspector, caller)
    assert_error(caller.delete(target.reg_id or ""), 404, "NO_REGISTRATION", caller.reg_id)
    assert state_of(inspector, target)[0] == "active"
    # without the header the path is the caller: its own registration gone
    anonymous = new_device(Dialect.IOS, register=False)
    assert_error(anonymous.delete(caller.reg_id or ""), 404, "NO_REGISTRATION", caller.reg_id)


# ---------------------------------------------------------------------------------------------
# calls about another installation whose target is gone


@pytest.fixture
def family(new_device: MakeDevice) -> tuple[Device, Device]:
    phone, tablet = new_device(Dialect.ANDROID), new_device(Dialect.IOS)
    for device in (phone, tablet):
        ok(device.personalize({"externalUserId": "family"}))
    return phone, tablet


@pytest.mark.parametrize("end", ["uninstalled", "deleted", "unknown"])
def test_a_gone_sibling_is_not_found(
    family: tuple[Device, Device], new_device: MakeDevice, inspector: Inspector, end: str
) -> None:
    phone, tablet = family
    target = tablet.reg_id or ""
    if end == "uninstalled":
        uninstall(inspector, tablet)
    elif end == "deleted":
        assert_empty_ok(new_device(Dialect.IOS).delete(target))
    else:
        target = "never-registered"
    assert_error(phone.patch({"isPrimary": True}, target=target), 404, "NOT_FOUND", "caller's own registration is fine")
    assert_error(phone.depersonalize(target=target), 404, "NOT_FOUND", "not an active installation")
    assert phone.installation_json()["pushRegId"] == phone.reg_id
    assert phone.user_json()["externalUserId"] == "family"


def test_a_gone_caller_about_an_active_sibling_is_no_registration(
    family: tuple[Device, Device], inspector: Inspector
) -> None:
    phone, tablet = family
    uninstall(inspector, phone)
    assert_error(phone.patch({"isPrimary": True}, target=tablet.reg_id), 404, "NO_REGISTRATION", phone.reg_id)
    assert_error(phone.depersonalize(target=tablet.reg_id), 404, "NO_REGISTRATION", phone.reg_id)
    assert tablet.user_json()["externalUserId"] == "family"


def test_a_sibling_is_revived_only_by_itself(family: tuple[Device, Device], inspector: Inspector) -> None:
    phone, tablet = family
    uninstall(inspector, tablet)
    body = {"isPrimary": True}
    assert_error(phone.patch(body, target=tablet.reg_id), 404, "NOT_FOUND")
    assert state_of(inspector, tablet) == ("uninstalled", 0, [])


# ---------------------------------------------------------------------------------------------
# the strict server: the recovery is no violation


@pytest.fixture
def strict_client(clock: Clock) -> Iterator[TestClient]:
    app = create_app(memory=True, app_codes=[APP_CODE], clock=clock, strict=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def test_the_strict_server_records_no_violation_for_the_recovery(strict_client: TestClient, clock: Clock) -> None:
    inspector = Inspector(strict_client)
    device = Device(strict_client, Dialect.ANDROID)
    device.register()
    ok(device.personalize({"externalUserId": "strict"}))
    uninstall(inspector, device)
    clock.advance(60)
    assert_error(device.session([ts(60)]), 404, "NO_REGISTRATION")
    clock.advance(60)
    assert_empty_ok(device.patch({**ANDROID_SYSTEM, "pushServiceToken": device.token, "isPrimary": True,
                                  "regEnabled": True}))  # fmt: skip
    assert_empty_ok(device.repersonalize({"externalUserId": "strict"}, {"firstName": "Back"}))
    assert inspector.get("/violations", pushRegId=device.reg_id) == {"total": 0, "violations": []}
