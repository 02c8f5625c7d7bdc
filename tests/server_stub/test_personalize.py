"""The personalize matrix (People section 5.4 as the README makes it exact), primary devices,
anonymous profiles, depersonalize, and custom attribute types and limits."""

from __future__ import annotations

from typing import Any

import pytest
from stubkit import OTHER_APP, SYSTEM, Device, Inspector, MakeDevice, assert_empty_ok, assert_error, ts

from contract import Dialect

ALICE = {
    "externalUserId": "alice",
    "phones": [{"number": "385911111111"}],
    "emails": [{"address": "Alice@Example.com"}],
}


def primaries(inspector: Inspector, person_id: int) -> list[str]:
    return [i["pushRegId"] for i in inspector.person(person_id)["installations"] if i["isPrimary"]]


def regs(user: dict[str, Any]) -> list[str]:
    return [i["pushRegId"] for i in user["instances"]]


@pytest.fixture
def alice(new_device: MakeDevice, dialect: Dialect) -> Device:
    """A device personalized as Alice (externalUserId, phone and email)."""
    device = new_device(dialect)
    response = device.personalize(ALICE, {"firstName": "Alice", "tags": ["t0"], "customAttributes": {"color": "blue"}})
    assert response.status_code == 200, response.text
    return device


# ---------------------------------------------------------------------------------------------
# create or attach


def test_a_new_identity_creates_a_customer(device: Device, inspector: Inspector) -> None:
    response = device.personalize({"externalUserId": "new"})
    instance = {"pushRegId": device.reg_id, "isPrimary": False, "regEnabled": True, **SYSTEM[device.dialect]}
    assert response.json() == {"externalUserId": "new", "type": "CUSTOMER", "instances": [instance]}
    persons = inspector.persons()
    assert [(p["id"], p["externalUserId"], p["type"]) for p in persons] == [(1, "new", "CUSTOMER")]
    assert regs(persons[0]) == [device.reg_id]


@pytest.mark.parametrize(
    "identity",
    [
        {"externalUserId": "alice"},
        {"phones": [{"number": "+385 91 111 1111"}]},
        {"phones": [{"number": "00385911111111"}]},
        {"emails": [{"address": "alice@example.com"}]},
        {"emails": [{"address": "ALICE@EXAMPLE.COM"}]},
        {"externalUserId": "alice", "emails": [{"address": "alice@example.COM"}]},
    ],
    ids=["externalUserId", "phone-formatted", "phone-00", "email", "email-upper", "two-kinds"],
)
def test_an_existing_person_is_found_by_each_identity_kind(
    alice: Device, new_device: MakeDevice, inspector: Inspector, identity: dict[str, Any]
) -> None:
    second = new_device(alice.dialect)
    response = second.personalize(identity)
    assert response.status_code == 200
    user = response.json()
    # the person as it was: nothing renamed, the email as first given
    assert (user["externalUserId"], user["phones"], user["emails"]) == (
        "alice",
        [{"number": "385911111111"}],
        [{"address": "Alice@Example.com"}],
    )
    assert (user["firstName"], user["tags"], user["customAttributes"]) == ("Alice", ["t0"], {"color": "blue"})
    assert regs(user) == [alice.reg_id, second.reg_id]
    assert len(inspector.persons()) == 1


def test_new_phones_and_emails_accumulate_on_the_same_person(alice: Device, inspector: Inspector) -> None:
    response = alice.personalize({"externalUserId": "alice", "phones": [{"number": "385922222222"}]})
    assert response.json()["phones"] == [{"number": "385911111111"}, {"number": "385922222222"}]
    response = alice.personalize({"emails": [{"address": "second@example.com"}]})
    assert response.json()["emails"] == [{"address": "Alice@Example.com"}, {"address": "second@example.com"}]
    assert len(inspector.persons()) == 1
    assert inspector.find("385922222222", "PHONE")["id"] == inspector.find("SECOND@example.com", "EMAIL")["id"]


def test_same_person_again_is_no_new_person_and_no_error(alice: Device, inspector: Inspector) -> None:
    for force in (False, True):
        response = alice.personalize({"externalUserId": "alice"}, force=force)
        assert response.status_code == 200
        assert response.json()["externalUserId"] == "alice"
    assert len(inspector.persons()) == 1
    # a fitting identity stays on the person: no detach, even with forceDepersonalize
    assert inspector.names(pushRegId=alice.reg_id) == ["Install", "Personalize"]


# ---------------------------------------------------------------------------------------------
# conflicts


def test_ambiguous_candidates_change_nothing(alice: Device, new_device: MakeDevice, inspector: Inspector) -> None:
    bob = new_device(alice.dialect)
    bob.personalize({"externalUserId": "bob"})
    third = new_device(alice.dialect)
    before = inspector.persons()
    for identity in (
        {"externalUserId": "bob", "emails": [{"address": "alice@example.com"}]},
        {"externalUserId": "bob", "phones": [{"number": "385911111111"}]},
        # a value of Alice's with a new externalUserId: Alice has another one
        {"externalUserId": "carol", "phones": [{"number": "385911111111"}]},
    ):
        response = third.personalize(identity)
        assert_error(response, 409, "AMBIGUOUS_PERSONALIZE_CANDIDATES", "personalize with values of one person")
    assert inspector.persons() == before
    assert list(third.user_json()) == ["instances"]  # still anonymous


def test_a_person_keeps_one_external_user_id(alice: Device, inspector: Inspector) -> None:
    # already Alice's device, Alice's phone with another externalUserId: does not fit Alice
    response = alice.personalize({"externalUserId": "alias", "phones": [{"number": "385911111111"}]})
    assert_error(response, 409, "PERSONALIZATION_IMPOSSIBLE")
    # with force the device leaves Alice, and the identity still names Alice by phone and another id
    response = alice.personalize({"externalUserId": "alias", "phones": [{"number": "385911111111"}]}, force=True)
    assert_error(response, 409, "AMBIGUOUS_PERSONALIZE_CANDIDATES", "whose externalUserId is not 'alias'")
    person = inspector.find("alice")
    assert person["externalUserId"] == "alice"
    assert regs(alice.user_json()) == [alice.reg_id]  # all or nothing: the device is still Alice's
    with pytest.raises(AssertionError):
        inspector.find("alias")


def test_already_personalized_with_another_person(
    alice: Device, new_device: MakeDevice, inspector: Inspector, dialect: Dialect
) -> None:
    bob = new_device(dialect)
    bob.personalize({"externalUserId": "bob"}, {"lastName": "B"})
    response = alice.personalize({"externalUserId": "bob"})
    assert_error(response, 409, "PERSONALIZATION_IMPOSSIBLE", "personalized with another person")
    assert alice.user_json()["externalUserId"] == "alice"

    response = alice.personalize({"externalUserId": "bob"}, force=True)
    assert response.status_code == 200
    assert response.json()["lastName"] == "B"
    assert regs(response.json()) == [alice.reg_id, bob.reg_id]  # in the order they registered
    # Alice keeps her data and history, without the device
    alice_person = inspector.find("alice")
    assert (alice_person["firstName"], alice_person["installations"]) == ("Alice", [])
    assert alice_person["eventCounts"] == {"Depersonalize": 1, "Install": 1, "Personalize": 1}
    assert len(inspector.persons()) == 2


def test_an_identity_that_does_not_fit_needs_force(alice: Device, inspector: Inspector) -> None:
    # nobody owns "carol", but Alice's device belongs to a person with another externalUserId
    assert_error(alice.personalize({"externalUserId": "carol"}), 409, "PERSONALIZATION_IMPOSSIBLE")
    response = alice.personalize({"externalUserId": "carol"}, force=True)
    assert response.status_code == 200
    user = response.json()
    assert regs(user) == [alice.reg_id]
    assert {key: value for key, value in user.items() if key != "instances"} == {
        "externalUserId": "carol",
        "type": "CUSTOMER",
    }
    assert [p["externalUserId"] for p in inspector.persons()] == ["alice", "carol"]


def test_a_phone_that_nobody_owns_fits_the_current_person(alice: Device, inspector: Inspector) -> None:
    response = alice.personalize({"phones": [{"number": "385933333333"}]})
    assert response.status_code == 200
    assert inspector.find("385933333333", "PHONE")["externalUserId"] == "alice"


# ---------------------------------------------------------------------------------------------
# LEAD and CUSTOMER


def test_keep_as_lead(new_device: MakeDevice, dialect: Dialect, inspector: Inspector) -> None:
    first = new_device(dialect)
    assert first.personalize({"externalUserId": "lead"}, keep_as_lead=True).json()["type"] == "LEAD"
    second = new_device(dialect)
    assert second.personalize({"externalUserId": "lead"}, keep_as_lead=True).json()["type"] == "LEAD"
    assert inspector.stats()["persons"] == {"LEAD": 1}
    # default: a LEAD is promoted
    third = new_device(dialect)
    assert third.personalize({"externalUserId": "lead"}).json()["type"] == "CUSTOMER"
    # and a CUSTOMER is never demoted
    assert first.personalize({"externalUserId": "lead"}, keep_as_lead=True).json()["type"] == "CUSTOMER"
    assert inspector.stats()["persons"] == {"CUSTOMER": 1}


# ---------------------------------------------------------------------------------------------
# primary devices


def test_set_device_as_primary_keeps_one_primary(
    new_device: MakeDevice, dialect: Dialect, inspector: Inspector
) -> None:
    a, b, c = new_device(dialect), new_device(dialect), new_device(dialect)
    a.personalize({"externalUserId": "p"}, primary=True)
    person = inspector.find("p")["id"]
    assert primaries(inspector, person) == [a.reg_id]
    # joining without the flag: the primary stays
    b.personalize({"externalUserId": "p"})
    assert primaries(inspector, person) == [a.reg_id]
    c.personalize({"externalUserId": "p"}, primary=True)
    assert primaries(inspector, person) == [c.reg_id]
    response = b.personalize({"externalUserId": "p"}, primary=True)
    assert [(i["pushRegId"], i["isPrimary"]) for i in response.json()["instances"]] == [
        (a.reg_id, False),
        (b.reg_id, True),
        (c.reg_id, False),
    ]


def test_primary_on_a_sibling_moves_it(new_device: MakeDevice, dialect: Dialect, inspector: Inspector) -> None:
    a, b = new_device(dialect), new_device(dialect)
    a.personalize({"externalUserId": "sib"}, primary=True)
    b.personalize({"externalUserId": "sib"})
    person = inspector.find("sib")["id"]
    # A makes its sibling B primary (a PATCH of B carrying only the flag)
    assert_empty_ok(a.patch({"isPrimary": True}, target=b.reg_id))
    assert a.last is not None and a.last.body == {"isPrimary": True}
    assert primaries(inspector, person) == [b.reg_id]
    assert_empty_ok(b.patch({"isPrimary": False}, target=a.reg_id))
    assert primaries(inspector, person) == [b.reg_id]
    assert_empty_ok(b.patch({"isPrimary": False}))
    assert primaries(inspector, person) == []
    assert_empty_ok(b.patch({"isPrimary": True}, target=a.reg_id))
    assert primaries(inspector, person) == [a.reg_id]


def test_a_primary_device_joining_a_person_with_a_primary_loses_its_flag(
    new_device: MakeDevice, inspector: Inspector
) -> None:
    a, b = new_device(), new_device()
    a.personalize({"externalUserId": "two"}, primary=True)
    b.patch({"isPrimary": True})  # primary while anonymous
    b.personalize({"externalUserId": "two"})
    assert primaries(inspector, inspector.find("two")["id"]) == [a.reg_id]


def test_an_anonymous_profile_merged_into_a_person_does_not_bring_a_second_primary(
    new_device: MakeDevice, inspector: Inspector
) -> None:
    a, b = new_device(), new_device()
    a.personalize({"externalUserId": "merge-primary"}, primary=True)
    b.patch({"isPrimary": True})
    b.patch_user({"firstName": "Anon"})  # an anonymous profile for B
    b.personalize({"externalUserId": "merge-primary"})
    assert primaries(inspector, inspector.find("merge-primary")["id"]) == [a.reg_id]


def test_primary_is_one_per_person_across_applications(new_device: MakeDevice, inspector: Inspector) -> None:
    ours = new_device(Dialect.IOS)
    theirs = new_device(Dialect.ANDROID, app_code=OTHER_APP)
    ours.personalize({"externalUserId": "apps"}, primary=True)
    response = theirs.personalize({"externalUserId": "apps"}, primary=True)
    assert [(i["pushRegId"], i["isPrimary"]) for i in response.json()["instances"]] == [
        (ours.reg_id, False),
        (theirs.reg_id, True),
    ]
    assert {i["application"] for i in inspector.find("apps")["installations"]} == {"stub-test-app-code", OTHER_APP}


def test_siblings_in_another_application_of_the_account(new_device: MakeDevice, inspector: Inspector) -> None:
    # `instances` lists the person's installations in every application; the SDK may act on any
    ours = new_device(Dialect.IOS)
    theirs = new_device(Dialect.ANDROID, app_code=OTHER_APP)
    ours.personalize({"externalUserId": "cross"}, primary=True)
    theirs.personalize({"externalUserId": "cross"})
    person = inspector.find("cross")["id"]
    assert regs(theirs.user_json()) == [ours.reg_id, theirs.reg_id]
    assert_empty_ok(ours.patch({"isPrimary": True}, target=theirs.reg_id))
    assert primaries(inspector, person) == [theirs.reg_id]
    assert_empty_ok(theirs.patch({"isPrimary": False}, target=theirs.reg_id))
    assert_empty_ok(theirs.depersonalize(target=ours.reg_id))
    assert [i["pushRegId"] for i in inspector.person(person)["installations"]] == [theirs.reg_id]
    assert list(ours.user_json()) == ["instances"]
    # GET and DELETE stay within the application
    assert_error(theirs.get(ours.reg_id), 404, "NO_REGISTRATION", "in this application")


def test_another_account_is_never_a_sibling(new_device: MakeDevice, inspector: Inspector) -> None:
    inspector.post("/applications", {"code": "acme-app", "account": "acme"}, status=201)
    ours = new_device(Dialect.IOS)
    acme = new_device(Dialect.IOS, app_code="acme-app")
    ours.personalize({"externalUserId": "same-id"})
    acme.personalize({"externalUserId": "same-id"})
    # NOT_FOUND, not NO_REGISTRATION: the caller's own registration is fine (both SDKs would reset it)
    assert_error(acme.patch({"isPrimary": True}, target=ours.reg_id), 404, "NOT_FOUND", "in this account")
    assert_error(acme.depersonalize(target=ours.reg_id), 404, "NOT_FOUND", "in this account")
    assert ours.user_json()["externalUserId"] == "same-id"


# ---------------------------------------------------------------------------------------------
# user PATCH and identities


@pytest.mark.parametrize(
    "body",
    [
        {"externalUserId": "alice"},
        {"phones": [{"number": "+385 91 111 1111"}]},
        {"emails": [{"address": "ALICE@example.com"}]},
        {"phones": [{"number": "385900000000"}, {"number": "385911111111"}]},
    ],
    ids=["externalUserId", "phone", "email", "one-of-two-phones"],
)
def test_user_patch_taking_anothers_identity(
    alice: Device, new_device: MakeDevice, inspector: Inspector, body: dict[str, Any]
) -> None:
    bob = new_device(alice.dialect)
    bob.personalize({"externalUserId": "bob"})
    assert_error(bob.patch_user(body), 409, "USER_MERGE_INTERRUPTED", "belongs to another person")
    assert "phones" not in bob.user_json()
    # an anonymous device cannot take it either, and no profile is made for it
    anonymous = new_device(alice.dialect)
    assert_error(anonymous.patch_user(body), 409, "USER_MERGE_INTERRUPTED")
    assert len(inspector.persons()) == 2


def test_user_patch_replaces_lists(alice: Device) -> None:
    assert_empty_ok(alice.patch_user({"phones": [{"number": "385944444444"}], "tags": ["x", "y"]}))
    user = alice.user_json()
    assert (user["phones"], user["tags"], user["emails"]) == (
        [{"number": "385944444444"}],
        ["x", "y"],
        [{"address": "Alice@Example.com"}],
    )
    assert_empty_ok(alice.patch_user({"phones": [], "tags": None}))
    user = alice.user_json()
    assert ("phones" in user, "tags" in user) == (False, False)


def test_the_last_identity_cannot_be_removed(alice: Device) -> None:
    assert_empty_ok(alice.patch_user({"phones": None, "emails": None}))
    assert_error(alice.patch_user({"externalUserId": None}), 400, "USER_IDENTITY_INVALID", "depersonalize instead")
    assert alice.user_json()["externalUserId"] == "alice"


def test_a_freed_identity_can_be_taken(alice: Device, new_device: MakeDevice) -> None:
    assert_empty_ok(alice.patch_user({"emails": []}))
    bob = new_device(alice.dialect)
    bob.personalize({"externalUserId": "bob"})
    assert_empty_ok(bob.patch_user({"emails": [{"address": "alice@example.com"}]}))
    assert bob.user_json()["emails"] == [{"address": "alice@example.com"}]


def test_persons_are_per_account(new_device: MakeDevice, inspector: Inspector) -> None:
    created = inspector.post("/applications", {"code": "elsewhere", "account": "acme"}, status=201)
    assert created["account"] == "acme"
    ours = new_device(Dialect.IOS)
    theirs = new_device(Dialect.IOS, app_code="elsewhere")
    ours.personalize({"externalUserId": "same-name"})
    theirs.personalize({"externalUserId": "same-name"})
    assert [i["pushRegId"] for i in inspector.find("same-name")["installations"]] == [ours.reg_id]
    other = inspector.get("/persons", identifier="same-name", account="acme")
    assert [i["pushRegId"] for i in other["installations"]] == [theirs.reg_id]
    assert other["id"] != inspector.find("same-name")["id"]


# ---------------------------------------------------------------------------------------------
# anonymous profiles


def test_an_anonymous_profile_is_adopted(device: Device, inspector: Inspector) -> None:
    assert_empty_ok(device.patch_user({"firstName": "Dee", "customAttributes": {"likes": "tea"}}))
    anonymous = inspector.person_of(device.reg_id or "")
    assert (anonymous["type"], anonymous["firstName"], "externalUserId" in anonymous) == ("LEAD", "Dee", False)
    user = device.user_json()
    assert (user["firstName"], user["type"]) == ("Dee", "LEAD")

    response = device.personalize({"externalUserId": "dee"})
    assert response.json()["firstName"] == "Dee"
    assert response.json()["type"] == "CUSTOMER"
    persons = inspector.persons()
    assert [(p["id"], p.get("externalUserId")) for p in persons] == [(anonymous["id"], "dee")]


def test_an_anonymous_profile_is_merged_into_the_person(
    alice: Device, new_device: MakeDevice, inspector: Inspector
) -> None:
    device = new_device(alice.dialect)
    device.session([ts(-60)])
    assert_empty_ok(
        device.patch_user(
            {
                "firstName": "Dee",
                "lastName": "Anon",
                "tags": ["t1", "t0"],
                "customAttributes": {"color": "red", "size": 2},
            }
        )
    )
    anonymous_id = inspector.person_of(device.reg_id or "")["id"]
    response = device.personalize({"emails": [{"address": "alice@example.com"}]})
    user = response.json()
    # the person's values win; empty ones are filled; tags and custom attributes are united
    assert (user["firstName"], user["lastName"], user["tags"]) == ("Alice", "Anon", ["t0", "t1"])
    assert user["customAttributes"] == {"color": "blue", "size": 2}
    assert regs(user) == [alice.reg_id, device.reg_id]
    assert [p["id"] for p in inspector.persons()] == [inspector.find("alice")["id"]]
    assert anonymous_id != inspector.find("alice")["id"]
    # the anonymous installation's events went with it
    alice_id = inspector.find("alice")["id"]
    assert inspector.names(pushRegId=device.reg_id) == ["AppLaunch", "Install", "Personalize"]
    assert {e["personId"] for e in inspector.events(pushRegId=device.reg_id)} == {alice_id}


def test_events_of_an_anonymous_installation_move_to_the_person(device: Device, inspector: Inspector) -> None:
    inspector.define("viewed", [{"name": "page", "type": "String"}])
    device.session([ts(-100)], {ts(-200): ts(-150)})
    device.events([{"definitionId": "viewed", "date": ts(-90), "properties": {"page": "home"}}], validate=True)
    assert {e["personId"] for e in inspector.events(pushRegId=device.reg_id)} == {None}
    device.personalize({"externalUserId": "owner"})
    person = inspector.find("owner")
    assert person["eventCounts"] == {"AppLaunch": 2, "Install": 1, "Personalize": 1, "viewed": 1}
    assert [e["definitionId"] for e in person["events"]] == [
        "AppLaunch",
        "AppLaunch",
        "viewed",
        "Install",
        "Personalize",
    ]
    assert [(s["start"], s["end"], s["durationSeconds"]) for s in person["sessions"]] == [
        (ts(-200), ts(-150), 50),
        (ts(-100), None, None),
    ]


# ---------------------------------------------------------------------------------------------
# depersonalize


def test_depersonalize_detaches_and_the_person_keeps_its_data(alice: Device, inspector: Inspector) -> None:
    assert_empty_ok(alice.patch({"customAttributes": {"seat": "12A"}, "isPrimary": True}))
    alice.session([ts(0)])
    before = inspector.find("alice")
    assert_empty_ok(alice.depersonalize())
    # the device: anonymous, no installation custom attributes, not primary
    installation = alice.installation_json()
    assert ("customAttributes" in installation, installation["isPrimary"]) == (False, False)
    assert list(alice.user_json()) == ["instances"]
    # the person: same data, history kept (with the Depersonalize), no device
    after = inspector.find("alice")
    for key in ("firstName", "tags", "customAttributes", "phones", "emails", "type"):
        assert after[key] == before[key]
    assert after["installations"] == []
    assert after["eventCounts"] == {"AppLaunch": 1, "Depersonalize": 1, "Install": 1, "Personalize": 1}
    # events after depersonalize belong to the anonymous installation
    alice.session([ts(100)])
    assert inspector.events(pushRegId=alice.reg_id)[-1]["personId"] is None
    # and the identity is free for personalize again
    assert alice.personalize({"externalUserId": "alice"}).status_code == 200


@pytest.mark.parametrize(("dialect", "kept"), [(Dialect.ANDROID, False), (Dialect.IOS, True)])
def test_own_logout_clears_the_application_user_id_as_the_platforms_sdk_wipes_it(
    new_device: MakeDevice, dialect: Dialect, kept: bool
) -> None:
    device = new_device(dialect)
    assert device.personalize({"externalUserId": "bo"}).status_code == 200
    assert_empty_ok(device.patch({"applicationUserId": "app-bo"}))
    assert_empty_ok(device.depersonalize())
    assert ("applicationUserId" in device.installation_json()) is kept


@pytest.mark.parametrize(("dialect", "kept"), [(Dialect.ANDROID, False), (Dialect.IOS, True)])
def test_an_anonymous_logout_and_a_forced_personalize_clear_what_the_sdk_wiped(
    new_device: MakeDevice, dialect: Dialect, kept: bool
) -> None:
    anonymous = new_device(dialect)
    assert_empty_ok(anonymous.patch({"applicationUserId": "app-x", "customAttributes": {"a": 1}}))
    assert_empty_ok(anonymous.depersonalize())
    installation = anonymous.installation_json()
    assert ("applicationUserId" in installation, "customAttributes" in installation) == (kept, False)
    forced = new_device(dialect)
    assert forced.personalize({"externalUserId": "cy"}).status_code == 200
    assert_empty_ok(forced.patch({"applicationUserId": "app-cy", "customAttributes": {"b": 2}}))
    assert forced.personalize({"externalUserId": "cy"}, force=True).status_code == 200  # fits: no detach
    installation = forced.installation_json()
    assert ("applicationUserId" in installation, "customAttributes" in installation) == (kept, False)


def test_a_remote_logout_keeps_the_siblings_application_user_id(alice: Device, new_device: MakeDevice) -> None:
    tablet = new_device(Dialect.ANDROID)
    tablet.personalize({"externalUserId": "alice"})
    assert_empty_ok(tablet.patch({"applicationUserId": "app-tablet"}))
    assert_empty_ok(alice.depersonalize(target=tablet.reg_id))
    assert tablet.installation_json()["applicationUserId"] == "app-tablet"  # that device wiped nothing


def test_remote_depersonalize_of_a_sibling(alice: Device, new_device: MakeDevice, inspector: Inspector) -> None:
    tablet = new_device(alice.dialect)
    tablet.personalize({"externalUserId": "alice"}, primary=True)
    tablet.patch({"customAttributes": {"room": "kitchen"}})
    assert_empty_ok(alice.depersonalize(target=tablet.reg_id))
    installation = inspector.installation(tablet.reg_id or "")
    assert (installation["personId"], installation["isPrimary"], "customAttributes" in installation) == (
        None,
        False,
        False,
    )
    assert regs(alice.user_json()) == [alice.reg_id]


# ---------------------------------------------------------------------------------------------
# attributes across devices


def test_person_attributes_are_seen_from_a_second_device(alice: Device, new_device: MakeDevice) -> None:
    second = new_device(Dialect.ANDROID if alice.dialect is Dialect.IOS else Dialect.IOS)
    second.personalize({"externalUserId": "alice"})
    assert_empty_ok(alice.patch_user({"middleName": "M", "customAttributes": {"level": 7}}))
    user = second.user_json()
    assert (user["middleName"], user["customAttributes"]) == ("M", {"color": "blue", "level": 7})


def test_installation_attributes_are_not_shared(alice: Device, new_device: MakeDevice) -> None:
    second = new_device(alice.dialect)
    second.personalize({"externalUserId": "alice"})
    assert_empty_ok(alice.patch({"customAttributes": {"wallpaper": "dark"}}))
    assert alice.installation_json()["customAttributes"] == {"wallpaper": "dark"}
    assert "customAttributes" not in second.installation_json()
    assert alice.user_json()["customAttributes"] == {"color": "blue"}
    instances = {i["pushRegId"]: i for i in second.user_json()["instances"]}
    assert instances[alice.reg_id]["customAttributes"] == {"wallpaper": "dark"}
    assert "customAttributes" not in instances[second.reg_id]


# ---------------------------------------------------------------------------------------------
# custom attribute types and limits


def test_the_first_value_fixes_the_type(alice: Device, new_device: MakeDevice) -> None:
    def patch(value: Any) -> Any:
        return alice.patch_user({"customAttributes": {"age": value}})

    assert_empty_ok(patch(30))
    for wrong in ("thirty", True, "2024-05-01", [{"a": 1}]):
        assert_error(patch(wrong), 400, "REQUEST_FORMAT_INVALID", "'age' is INTEGER")
    assert_error(patch(30.5), 400, "REQUEST_FORMAT_INVALID", "is DECIMAL")
    # Android re-sends fetched integers as doubles: an integral float fits an INTEGER
    assert_empty_ok(patch(31.0))
    assert alice.user_json()["customAttributes"]["age"] == 31.0
    # null deletes the value, not the type; the type is per account (another person, same rule)
    assert_empty_ok(patch(None))
    assert_error(patch("x"), 400, "REQUEST_FORMAT_INVALID")
    bob = new_device(alice.dialect)
    bob.personalize({"externalUserId": "bob"})
    assert_error(bob.patch_user({"customAttributes": {"AGE": "x"}}), 400, "REQUEST_FORMAT_INVALID", "'AGE' is INTEGER")
    # installation attributes have their own types
    assert_empty_ok(alice.patch({"customAttributes": {"age": "x"}}))
    assert_error(alice.patch({"customAttributes": {"age": 1}}), 400, "REQUEST_FORMAT_INVALID", "installation custom")


@pytest.mark.parametrize(
    ("first", "fits", "misfits"),
    [
        (1.5, [2, 3.25], ["1", False]),
        ("text", ["2024-05-01", "2024-05-01T10:00:00Z"], [1, True]),
        ("2024-05-01", ["2025-01-01"], ["text", 1]),
        ("2024-05-01T10:00:00Z", ["2025-01-01T00:00:00Z"], ["2025-01-01", "text"]),
        (False, [True], [0, "false"]),
        ([{"k": 1}], [[{"k": 2}, {"k": 3}]], ["k", 1]),
    ],
    ids=["DECIMAL", "STRING", "DATE", "DATE_TIME", "BOOLEAN", "LIST_OF_OBJECTS"],
)
def test_types(device: Device, first: Any, fits: list[Any], misfits: list[Any]) -> None:
    device.personalize({"externalUserId": "typed"})
    assert_empty_ok(device.patch_user({"customAttributes": {"attr": first}}))
    for value in fits:
        assert_empty_ok(device.patch_user({"customAttributes": {"attr": value}}))
    for value in misfits:
        assert_error(device.patch_user({"customAttributes": {"attr": value}}), 400, "REQUEST_FORMAT_INVALID")
    assert device.user_json()["customAttributes"] == {"attr": fits[-1]}


def test_custom_attribute_names_are_case_insensitive(alice: Device) -> None:
    assert_empty_ok(alice.patch_user({"customAttributes": {"Color": "green"}}))
    assert alice.user_json()["customAttributes"] == {"Color": "green"}
    assert_empty_ok(alice.patch_user({"customAttributes": {"COLOR": None}}))
    assert "customAttributes" not in alice.user_json()


def test_the_4096_limit(alice: Device) -> None:
    assert_empty_ok(alice.patch_user({"customAttributes": {"long": "x" * 4096}}))
    assert alice.user_json()["customAttributes"]["long"] == "x" * 4096
    assert_error(alice.patch_user({"customAttributes": {"long": "x" * 4097}}), 400, "REQUEST_FORMAT_INVALID", "4097")
    rows = [{"note": "y" * 1000} for _ in range(5)]
    assert_error(alice.patch_user({"customAttributes": {"rows": rows}}), 400, "REQUEST_FORMAT_INVALID", "limit is 4096")
    assert_error(alice.patch({"customAttributes": {"long": "x" * 4097}}), 400, "REQUEST_FORMAT_INVALID")
    assert alice.user_json()["customAttributes"]["long"] == "x" * 4096


def test_at_most_500_custom_attributes(alice: Device) -> None:
    assert_empty_ok(alice.patch_user({"customAttributes": {f"a{i}": i for i in range(499)}}))  # + color
    assert_error(alice.patch_user({"customAttributes": {"one_more": 1}}), 400, "REQUEST_FORMAT_INVALID", "501")
    assert_empty_ok(alice.patch_user({"customAttributes": {"one_more": 1, "a0": None}}))
    assert len(alice.user_json()["customAttributes"]) == 500
