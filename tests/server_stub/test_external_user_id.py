"""How the server reads an externalUserId (server_stub/rules/identities.py): ``"null"`` in any case
is JSON null (OAS-PEOPLE ``PushUserIdentity.externalId``: "null", "Null", "NULL" "would be
considered as JSON null"); otherwise the value is kept as given, case-sensitive (DOC-PROFILE),
untrimmed, 1 to 256 characters. Before this, "NULL" became a person's externalUserId."""

from __future__ import annotations

import pytest
from stubkit import Device, Inspector, MakeDevice, assert_empty_ok, assert_error

from contract import Dialect
from server_stub.rules.identities import normalize_external_user_id

NULLS = ["null", "Null", "NULL", "nUlL"]


@pytest.mark.parametrize(
    ("value", "normalised"),
    [
        *((spelling, None) for spelling in NULLS),
        (None, None),
        ("nul", "nul"),
        ("nulll", "nulll"),
        (" null", " null"),  # not trimmed: an ordinary value
        ("null ", "null "),
        ("ｎｕｌｌ", "ｎｕｌｌ"),  # fullwidth letters are not the word null
        ("Alice", "Alice"),
    ],
)
def test_only_the_word_null_is_no_value(value: str | None, normalised: str | None) -> None:
    assert normalize_external_user_id(value) == normalised


@pytest.mark.parametrize("spelling", NULLS)
def test_personalize_with_a_null_word_alone_names_no_identity(
    device: Device, inspector: Inspector, spelling: str
) -> None:
    # before: 200, and a person whose externalUserId was "NULL"
    assert_error(device.personalize({"externalUserId": spelling}), 400, "USER_IDENTITY_INVALID", "'null' is none")
    assert inspector.persons() == []


def test_personalize_with_a_null_word_and_a_phone_is_by_the_phone(device: Device) -> None:
    response = device.personalize({"externalUserId": "NULL", "phones": [{"number": "+385 91 123 4567"}]})
    assert response.status_code == 200, response.text
    user = response.json()
    assert "externalUserId" not in user
    assert user["phones"] == [{"number": "385911234567"}]


def test_a_patch_with_a_null_word_deletes_the_external_user_id(new_device: MakeDevice) -> None:
    device = new_device(Dialect.ANDROID)
    assert device.personalize({"externalUserId": "ana", "emails": [{"address": "ana@example.com"}]}).status_code == 200
    assert_empty_ok(device.patch_user({"externalUserId": "Null"}))
    user = device.user_json()
    assert "externalUserId" not in user and user["emails"] == [{"address": "ana@example.com"}]


def test_a_null_word_cannot_remove_the_last_identity(new_device: MakeDevice) -> None:
    device = new_device(Dialect.IOS)
    assert device.personalize({"externalUserId": "ana"}).status_code == 200
    assert_error(device.patch_user({"externalUserId": "null"}), 400, "USER_IDENTITY_INVALID", "depersonalize")
    assert device.user_json()["externalUserId"] == "ana"


def test_external_user_ids_are_case_sensitive(new_device: MakeDevice, inspector: Inspector) -> None:
    first, second = new_device(Dialect.IOS), new_device(Dialect.ANDROID)
    assert first.personalize({"externalUserId": "Alice"}).status_code == 200
    assert second.personalize({"externalUserId": "alice"}).status_code == 200
    assert len(inspector.persons()) == 2
    assert first.user_json()["externalUserId"] == "Alice"


def test_external_user_ids_are_not_trimmed(new_device: MakeDevice, inspector: Inspector) -> None:
    first, second = new_device(Dialect.IOS), new_device(Dialect.ANDROID)
    assert first.personalize({"externalUserId": "alice"}).status_code == 200
    assert second.personalize({"externalUserId": " alice"}).status_code == 200
    assert second.user_json()["externalUserId"] == " alice"
    assert len(inspector.persons()) == 2


@pytest.mark.parametrize(("length", "accepted"), [(1, True), (256, True), (257, False), (1024, False)])
def test_the_length_is_1_to_256_characters(device: Device, length: int, accepted: bool) -> None:
    value = "é" * length  # characters, not UTF-8 bytes
    response = device.personalize({"externalUserId": value})
    if accepted:
        assert response.status_code == 200, response.text
        assert device.user_json()["externalUserId"] == value
    else:
        assert_error(response, 400, "USER_IDENTITY_INVALID", f"{length} characters long; the limit is 256")


@pytest.mark.parametrize(("length", "accepted"), [(256, True), (257, False)])
def test_a_patch_has_the_same_length_limit(new_device: MakeDevice, length: int, accepted: bool) -> None:
    device = new_device(Dialect.ANDROID)
    assert device.personalize({"externalUserId": "ana"}).status_code == 200
    response = device.patch_user({"externalUserId": "x" * length})
    if accepted:
        assert_empty_ok(response)
    else:
        assert_error(response, 400, "USER_IDENTITY_INVALID", "limit is 256")


@pytest.mark.parametrize("blank", ["", " ", "\t\n"])
def test_a_blank_external_user_id_is_refused(device: Device, blank: str) -> None:
    assert_error(device.personalize({"externalUserId": blank}), 400, "USER_IDENTITY_INVALID", "blank")
