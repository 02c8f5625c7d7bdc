"""Rules pinned on both branches and at their exact boundaries, each test written against a
realistic mutation of the server that the rest of the suite let through (see each docstring)."""

from __future__ import annotations

from typing import Any

import pytest
from stubkit import APP_CODE, Clock, Device, Inspector, MakeDevice, add_jwt_key, assert_error, jwt, ts

from contract import Dialect

ALICE = {"externalUserId": "alice", "phones": [{"number": "385911111111"}], "emails": [{"address": "a@example.com"}]}
BOB_PHONE = {"number": "+385 92 222 2222"}
BOB_EMAIL = {"address": "Bob@Example.com"}


@pytest.fixture
def alice(new_device: MakeDevice, dialect: Dialect) -> Device:
    device = new_device(dialect)
    assert device.personalize(ALICE, {"firstName": "Alice"}).status_code == 200
    return device


@pytest.fixture
def bob(new_device: MakeDevice, dialect: Dialect) -> Device:
    device = new_device(dialect)
    identity = {"externalUserId": "bob", "phones": [BOB_PHONE], "emails": [BOB_EMAIL]}
    assert device.personalize(identity, {"lastName": "B"}).status_code == 200
    return device


def owner_of(inspector: Inspector, reg_id: str | None) -> Any:
    return inspector.person_of(reg_id or "").get("externalUserId")


# ---------------------------------------------------------------------------------------------
# personalize of an already-personalized device


@pytest.mark.parametrize(
    "identity",
    [{"phones": [BOB_PHONE]}, {"emails": [{"address": "bob@EXAMPLE.com"}]}, {"phones": [{"number": "385922222222"}]}],
    ids=["bobs-phone", "bobs-email", "bobs-phone-normalised"],
)
def test_another_persons_phone_or_email_is_personalization_impossible(
    alice: Device, bob: Device, inspector: Inspector, identity: dict[str, Any]
) -> None:
    """Mutation: `_fits` without its ownership check (``candidates - {person_id}``) fits the identity
    to the device's own person and answers 200 (the value stays Bob's, INSERT OR IGNORE)."""
    before = inspector.persons()
    response = alice.personalize(identity)
    assert_error(response, 409, "PERSONALIZATION_IMPOSSIBLE", "personalized with another person")
    assert inspector.persons() == before
    assert owner_of(inspector, alice.reg_id) == "alice"
    assert inspector.find("385922222222", "PHONE")["externalUserId"] == "bob"
    assert inspector.names(pushRegId=alice.reg_id) == ["Install", "Personalize"]
    # the other branch: with forceDepersonalize the device leaves Alice and joins Bob
    response = alice.personalize(identity, force=True)
    assert response.status_code == 200, response.text
    assert (response.json()["externalUserId"], response.json()["lastName"]) == ("bob", "B")
    assert owner_of(inspector, alice.reg_id) == "bob"
    assert inspector.find("alice")["installations"] == []
    assert inspector.names(pushRegId=alice.reg_id) == ["Install", "Personalize", "Depersonalize", "Personalize"]


def test_the_devices_own_phone_and_a_free_phone_fit(alice: Device, bob: Device, inspector: Inspector) -> None:
    """The fitting branch of the same rule: no detach, no new person, the free value is added."""
    for identity in ({"phones": [{"number": "00385911111111"}]}, {"phones": [{"number": "385933333333"}]}):
        response = alice.personalize(identity)
        assert response.status_code == 200, response.text
        assert response.json()["externalUserId"] == "alice"
    assert [p["number"] for p in inspector.find("alice")["phones"]] == ["385911111111", "385933333333"]
    assert inspector.names(pushRegId=alice.reg_id) == ["Install", "Personalize"]
    assert len(inspector.persons()) == 2


# ---------------------------------------------------------------------------------------------
# a user JWT is valid while `exp` is in the future: exactly now is expired


@pytest.mark.parametrize(("offset", "accepted"), [(0, False), (1, True)])
def test_a_jwt_expiring_exactly_now_is_refused(
    device: Device, clock: Clock, inspector: Inspector, offset: int, accepted: bool
) -> None:
    """Mutation: `expires <= now` turned `<` (a token in its last second accepted); the suite had
    only a long-expired and a far-future token."""
    assert device.personalize({"externalUserId": "jwt-user"}).status_code == 200
    add_jwt_key(inspector)
    expires = int(clock().timestamp()) + offset
    claims = {"typ": "Bearer", "sub": "jwt-user", "infobip-api-key": APP_CODE, "iat": 0, "exp": expires, "jti": "1"}
    device.authorization = "Bearer " + jwt(claims)
    if accepted:
        assert device.user().json()["externalUserId"] == "jwt-user"
    else:
        assert_error(device.user(), 401, "UNAUTHORIZED", "expired")


# ---------------------------------------------------------------------------------------------
# session bounds: an end before the start is refused, a zero-length session is not


def test_a_session_bound_may_end_when_it_starts(device: Device, inspector: Inspector) -> None:
    """Android reports a session that was paused the moment it began as `{start: start}` (second
    precision). Mutation: `last < first` turned `<=`, refusing it; the suite had only the 1 h-early end."""
    assert device.session([ts(60)], {ts(0): ts(0)}).status_code == 200
    sessions = inspector.installation(device.reg_id or "")["sessions"]
    assert [(s["start"], s["end"]) for s in sessions] == [(ts(0), ts(0)), (ts(60), None)]
    assert_error(device.session([], {ts(120): ts(119)}), 400, "REQUEST_FORMAT_INVALID", "before it starts")


# ---------------------------------------------------------------------------------------------
# a phone is at most 50 characters as written (People), 6 to 15 digits once normalised


@pytest.mark.parametrize(("length", "accepted"), [(50, True), (51, False)])
def test_a_phone_of_exactly_50_characters_is_read(device: Device, length: int, accepted: bool) -> None:
    """Mutation: `len(number) > PHONE_MAX` turned `>=`; the suite's phones were all far from 50."""
    written = "+385 91 123 4567".ljust(length - 1) + "8"  # 13 digits, padded with spaces
    assert len(written) == length
    response = device.personalize({"phones": [{"number": written}]})
    if accepted:
        assert response.json()["phones"] == [{"number": "3859112345678"}]
    else:
        assert_error(response, 400, "PHONE_INVALID", "longer than 50")
