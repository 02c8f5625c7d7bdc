"""Every SDK-facing endpoint in both dialects: iOS real PATCH and ``1``/``0``, Android POST with
``X-HTTP-Method-Override: PATCH`` and ``true``/``false``."""

from __future__ import annotations

import re
from typing import Any

import pytest
from starlette.testclient import TestClient
from stubkit import (
    ANDROID_SYSTEM,
    APP_CODE,
    IOS_SYSTEM,
    NOW,
    SYSTEM,
    Device,
    Inspector,
    MakeDevice,
    add_jwt_key,
    assert_empty_ok,
    assert_error,
    jwt,
    ts,
)

from contract import Dialect

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def installation(device: Device, **extra: Any) -> dict[str, Any]:
    """What the server answers for ``device``'s installation, without the token."""
    return {"pushRegId": device.reg_id, "isPrimary": False, "regEnabled": True, **SYSTEM[device.dialect], **extra}


# ---------------------------------------------------------------------------------------------
# create, PATCH, GET, DELETE appinstance


def test_create_answers_the_new_registration(new_device: MakeDevice, inspector: Inspector) -> None:
    ios = new_device(Dialect.IOS, register=False)
    created = ios.register()
    assert ios.last is not None and ios.last.target == "/mobile/1/appinstance?rt=1"
    assert UUID.fullmatch(created["pushRegId"])
    # rt=1: the token comes back
    assert created == installation(ios, pushServiceToken=ios.token)

    android = new_device(Dialect.ANDROID, register=False)
    created = android.register()
    assert android.last is not None and android.last.target == "/mobile/1/appinstance?ri=true"
    # no rt: no token
    assert created == installation(android)
    assert created["pushRegId"] != ios.reg_id

    assert inspector.installation(ios.reg_id or "")["platform"] == "ios"
    assert inspector.installation(android.reg_id or "")["platform"] == "android"
    assert inspector.installation(android.reg_id or "")["installationId"] == android.installation_id


@pytest.mark.parametrize(("query", "token"), [("rt=1", True), ("rt=true", True), ("rt=0", False), ("rt=false", False)])
def test_create_returns_the_token_only_with_rt_truthy(client: TestClient, query: str, token: bool) -> None:
    response = client.post(
        f"/mobile/1/appinstance?{query}",
        headers={"Authorization": f"App {APP_CODE}"},
        json={"pushServiceType": "HMS", "pushServiceToken": "hms-token", "os": "Android"},
    )
    assert response.status_code == 200
    body = response.json()
    assert ("pushServiceToken" in body) is token
    assert body["pushServiceType"] == "HMS"


def test_create_ignores_a_client_pushregid_and_stores_the_primary_flag(client: TestClient) -> None:
    response = client.post(
        "/mobile/1/appinstance",
        headers={"Authorization": f"App {APP_CODE}"},
        json={"pushRegId": "chosen-by-client", "isPrimary": True, "customAttributes": {}},
    )
    body = response.json()
    assert body["pushRegId"] != "chosen-by-client"
    assert body == {"pushRegId": body["pushRegId"], "isPrimary": True, "regEnabled": True, "customAttributes": {}}


def test_huawei_registers_as_huawei(new_device: MakeDevice, inspector: Inspector) -> None:
    huawei = new_device(Dialect.ANDROID, register=False)
    huawei.register(pushServiceType="HMS")
    assert inspector.installation(huawei.reg_id or "")["platform"] == "huawei"


def test_get_installation_token_follows_rt(device: Device) -> None:
    response = device.get()
    assert response.status_code == 200
    if device.dialect is Dialect.IOS:  # GET ?rt=1
        assert response.json() == installation(device, pushServiceToken=device.token)
    else:  # Android GETs without a query
        assert response.json() == installation(device)
    assert device.call("get_installation", query="rt=0").json() == installation(device)


def test_patch_installation_changes_only_what_it_names(device: Device) -> None:
    response = device.patch({"appVersion": "9.9", "customAttributes": {"a": 1, "b": "x"}})
    assert_empty_ok(response)
    assert device.last is not None
    if device.dialect is Dialect.ANDROID:
        assert device.last.method == "POST"
        assert dict(device.last.headers) == {"X-HTTP-Method-Override": "PATCH"}
    else:
        assert device.last.method == "PATCH"
    expected = installation(device, appVersion="9.9", customAttributes={"a": 1, "b": "x"})
    assert device.call("get_installation", query="rt=0").json() == expected

    # null deletes, absent keys stay, custom attributes merge key by key
    assert_empty_ok(device.patch({"deviceName": None, "customAttributes": {"b": None, "c": True}}))
    expected.pop("deviceName")
    expected["customAttributes"] = {"a": 1, "c": True}
    assert device.call("get_installation", query="rt=0").json() == expected

    # customAttributes: null deletes them all
    assert_empty_ok(device.patch({"customAttributes": None}))
    expected.pop("customAttributes")
    assert device.call("get_installation", query="rt=0").json() == expected


def test_patch_installation_token_and_flags(device: Device) -> None:
    assert_empty_ok(device.patch({"pushServiceToken": "new-token", "regEnabled": False, "isPrimary": True}))
    got = device.call("get_installation", query="rt=1").json()
    assert (got["pushServiceToken"], got["regEnabled"], got["isPrimary"]) == ("new-token", False, True)
    # regEnabled null: back to the default
    assert_empty_ok(device.patch({"regEnabled": None}))
    assert device.installation_json()["regEnabled"] is True


def test_an_empty_patch_changes_nothing(device: Device) -> None:
    before = device.installation_json()
    assert_empty_ok(device.patch({}))
    assert device.installation_json() == before


def test_ios_deletes_its_stale_registration_as_the_new_one(new_device: MakeDevice, inspector: Inspector) -> None:
    old = new_device(Dialect.IOS)
    old.personalize({"externalUserId": "keychain"})
    reinstalled = new_device(Dialect.IOS)  # a new registration after a reinstall
    assert reinstalled.last is not None
    response = reinstalled.delete(old.reg_id or "")
    assert reinstalled.last.method == "DELETE"
    assert reinstalled.last.target == f"/mobile/1/appinstance/{old.reg_id}"
    assert_empty_ok(response)

    assert_error(old.get(), 404, "NO_REGISTRATION")
    # a second DELETE of the gone id is 2xx and changes nothing (iOS would drop its new registration
    # on NO_REGISTRATION): tests/server_stub/test_registration_recovery.py has the rule's boundaries
    assert_empty_ok(reinstalled.delete(old.reg_id or ""))
    tombstone = inspector.installation(old.reg_id or "")
    assert (tombstone["state"], tombstone["isPrimary"]) == ("deleted", False)
    assert inspector.names(pushRegId=old.reg_id) == ["Install", "Personalize", "Uninstall"]
    # the person keeps the tombstone and its history; the SDK's user view no longer lists it
    assert [i["state"] for i in inspector.find("keychain")["installations"]] == ["deleted"]
    assert inspector.find("keychain")["eventCounts"] == {"Install": 1, "Personalize": 1, "Uninstall": 1}
    assert reinstalled.installation_json()["pushRegId"] == reinstalled.reg_id


# ---------------------------------------------------------------------------------------------
# user GET and PATCH


def test_get_user_of_an_anonymous_installation(client: TestClient, device: Device) -> None:
    # both SDKs send ri (iOS ri=1&rt=0, Android ri=true): the instances are the device's own
    assert device.user().json() == {"instances": [installation(device)]}
    path = f"/mobile/1/appinstance/{device.reg_id}/user"
    sent = device.headers(with_body=False)
    assert client.get(path, params={"ri": device.dialect.false}, headers=sent).json() == {}
    assert client.get(path, headers=sent).json() == {}


def test_get_user_ri_controls_instances(client: TestClient, device: Device) -> None:
    device.personalize({"externalUserId": "ri-user"})
    path = f"/mobile/1/appinstance/{device.reg_id}/user"
    sent = device.headers(with_body=False)
    with_instances = client.get(path, params={"ri": device.dialect.true}, headers=sent).json()
    without = client.get(path, params={"ri": device.dialect.false}, headers=sent).json()
    assert with_instances == {"externalUserId": "ri-user", "type": "CUSTOMER", "instances": [installation(device)]}
    assert without == {"externalUserId": "ri-user", "type": "CUSTOMER"}


def test_patch_user_semantics(device: Device) -> None:
    device.personalize({"externalUserId": "patcher"})
    response = device.patch_user(
        {
            "firstName": "Ana",
            "lastName": "Horvat",
            "gender": "Female",
            "birthday": "1990-02-28",
            "tags": ["vip", "beta", "vip"],
            "customAttributes": {"plan": "gold", "seats": 3, "since": "2024-01-31"},
        }
    )
    assert_empty_ok(response)
    assert device.last is not None
    assert device.last.method == ("PATCH" if device.dialect is Dialect.IOS else "POST")
    user = device.user_json()
    user.pop("instances")
    assert user == {
        "externalUserId": "patcher",
        "type": "CUSTOMER",
        "firstName": "Ana",
        "lastName": "Horvat",
        "gender": "Female",
        "birthday": "1990-02-28",
        "tags": ["vip", "beta"],
        "customAttributes": {"plan": "gold", "seats": 3, "since": "2024-01-31"},
    }

    # absent keys unchanged, null deletes, custom attributes merge key by key, tags replaced
    assert_empty_ok(
        device.patch_user({"lastName": None, "tags": ["new"], "customAttributes": {"seats": None, "extra": False}})
    )
    user = device.user_json()
    user.pop("instances")
    assert user == {
        "externalUserId": "patcher",
        "type": "CUSTOMER",
        "firstName": "Ana",
        "gender": "Female",
        "birthday": "1990-02-28",
        "tags": ["new"],
        "customAttributes": {"plan": "gold", "since": "2024-01-31", "extra": False},
    }


def test_patch_user_ignores_type_and_instances(device: Device) -> None:
    device.personalize({"externalUserId": "typed"}, keep_as_lead=True)
    assert_empty_ok(device.patch_user({"type": "CUSTOMER", "instances": [], "middleName": "Q"}))
    user = device.user_json()
    assert (user["type"], user["middleName"], len(user["instances"])) == ("LEAD", "Q", 1)


def test_patch_user_identity_fields(device: Device) -> None:
    device.personalize({"externalUserId": "ids"})
    assert_empty_ok(
        device.patch_user(
            {"phones": [{"number": "+385 91 000 0001"}], "emails": [{"address": "Ids@Example.com"}]},
        )
    )
    user = device.user_json()
    assert user["phones"] == [{"number": "385910000001"}]
    assert user["emails"] == [{"address": "Ids@Example.com"}]
    assert_empty_ok(device.patch_user({"externalUserId": "ids-2", "phones": None}))
    user = device.user_json()
    assert (user["externalUserId"], "phones" in user) == ("ids-2", False)


# ---------------------------------------------------------------------------------------------
# personalize, repersonalize, depersonalize


def test_personalize_answers_the_user_with_instances(device: Device, inspector: Inspector) -> None:
    response = device.personalize(
        {"externalUserId": "p-1", "phones": [{"number": "385911111111"}], "emails": [{"address": "p1@example.com"}]},
        {"firstName": "Pat", "customAttributes": {"score": 1.5}},
    )
    assert device.last is not None
    expected_query = {
        Dialect.IOS: "forceDepersonalize=0&keepAsLead=0&setDeviceAsPrimary=0",
        Dialect.ANDROID: "setDeviceAsPrimary=false&keepAsLead=false&forceDepersonalize=false",
    }[device.dialect]
    assert device.last.target.endswith(f"/personalize?{expected_query}")
    assert response.status_code == 200
    assert response.json() == {
        "externalUserId": "p-1",
        "phones": [{"number": "385911111111"}],
        "emails": [{"address": "p1@example.com"}],
        "firstName": "Pat",
        "customAttributes": {"score": 1.5},
        "type": "CUSTOMER",
        "instances": [installation(device)],
    }
    assert inspector.stats()["persons"] == {"CUSTOMER": 1}


def test_personalize_flags_in_both_spellings(device: Device) -> None:
    response = device.personalize({"externalUserId": "flags"}, keep_as_lead=True, primary=True)
    assert response.status_code == 200
    assert response.json()["type"] == "LEAD"
    assert response.json()["instances"][0]["isPrimary"] is True


def test_repersonalize_relinks_after_no_registration(new_device: MakeDevice, inspector: Inspector) -> None:
    first = new_device(Dialect.ANDROID)
    first.personalize({"externalUserId": "re"}, {"firstName": "Re"}, keep_as_lead=True)
    # the same user on a new registration: repersonalize attaches it and keeps the LEAD type
    second = new_device(Dialect.ANDROID)
    response = second.repersonalize({"externalUserId": "re"}, {"customAttributes": {"score": 12345.0}})
    assert second.last is not None and second.last.target == f"/mobile/1/appinstance/{second.reg_id}/repersonalize"
    assert_empty_ok(response)
    person = inspector.find("re")
    assert person["type"] == "LEAD"
    assert [i["pushRegId"] for i in person["installations"]] == [first.reg_id, second.reg_id]
    assert person["customAttributes"] == {"score": 12345.0}
    # repersonalize of the same identity again: nothing changes
    assert_empty_ok(second.repersonalize({"externalUserId": "re"}))
    assert len(inspector.persons()) == 1


def test_depersonalize_own(device: Device, inspector: Inspector) -> None:
    device.personalize({"externalUserId": "leaver"}, {"firstName": "L"})
    device.patch({"customAttributes": {"seat": "12A"}, "isPrimary": True})
    response = device.depersonalize()
    assert device.last is not None and device.last.method == "POST" and device.last.body is None
    assert_empty_ok(response)
    assert device.user().json() == {"instances": [installation(device)]}
    assert inspector.find("leaver")["firstName"] == "L"
    # depersonalizing an anonymous installation is a no-op success
    assert_empty_ok(device.depersonalize())


def test_depersonalize_a_sibling(new_device: MakeDevice, dialect: Dialect, inspector: Inspector) -> None:
    phone = new_device(dialect)
    tablet = new_device(dialect)
    phone.personalize({"externalUserId": "family"})
    tablet.personalize({"externalUserId": "family"})
    assert_empty_ok(phone.depersonalize(target=tablet.reg_id))
    assert tablet.user().json() == {"instances": [installation(tablet)]}
    assert [i["pushRegId"] for i in phone.user_json()["instances"]] == [phone.reg_id]
    assert inspector.find("family")["eventCounts"] == {"Depersonalize": 1, "Install": 2, "Personalize": 2}


# ---------------------------------------------------------------------------------------------
# events


def test_session_report(device: Device, inspector: Inspector) -> None:
    response = device.session([ts(0)], {ts(-600): ts(-300)}, system={**SYSTEM[device.dialect], "appVersion": "4.0"})
    assert_empty_ok(response)
    assert inspector.names(pushRegId=device.reg_id) == ["AppLaunch", "Install", "AppLaunch"]
    assert device.installation_json()["appVersion"] == "4.0"


@pytest.mark.parametrize("validate", [True, False])
def test_custom_events(device: Device, inspector: Inspector, validate: bool) -> None:
    inspector.define("purchase", [{"name": "amount", "type": "Decimal"}])
    event = {"definitionId": "purchase", "date": ts(-5), "properties": {"amount": 9.5}}
    response = device.events([event], validate=validate)
    assert device.last is not None
    assert device.last.query == (("validate", device.dialect.true if validate else device.dialect.false),)
    assert_empty_ok(response)
    assert inspector.events(definitionId="purchase") == [
        {
            "definitionId": "purchase",
            "occurred": ts(-5),
            "received": NOW,
            "personId": None,
            "pushRegId": device.reg_id,
            "application": APP_CODE,
            "properties": {"amount": 9.5},
        }
    ]


# ---------------------------------------------------------------------------------------------
# messages, version, base URL


def test_messages_sync_has_no_payloads_yet(device: Device) -> None:
    for body in ({"mIDs": ["m1", "m2"], "drIDs": ["m2"]}, {}, None):
        response = device.sync(body)
        assert response.status_code == 200
        assert response.json() == {"payloads": []}
    assert device.last is not None and device.last.query == (("platformType", device.dialect.platform_type),)


def test_seen(device: Device) -> None:
    assert_empty_ok(device.seen(["m1", "m2"]))


def test_mo_answers_every_message_with_a_status(device: Device) -> None:
    response = device.mo(
        [
            {"destination": "shop", "text": "hello", "customPayload": {"k": [1, {"n": None}]}},
            {"messageId": "mine-1", "text": "again", "bulkId": "b", "initialMessageId": "i"},
        ]
    )
    assert response.status_code == 200
    assert response.json() == {
        "messages": [
            {
                "destination": "shop",
                "text": "hello",
                "customPayload": {"k": [1, {"n": None}]},
                "messageId": f"{device.reg_id}-mo-0",
                "statusCode": 0,
                "status": "SUCCESS",
            },
            {
                "messageId": "mine-1",
                "text": "again",
                "bulkId": "b",
                "initialMessageId": "i",
                "statusCode": 0,
                "status": "SUCCESS",
            },
        ]
    }


def test_ios_delivery_report(new_device: MakeDevice) -> None:
    device = new_device(Dialect.IOS)
    assert_empty_ok(device.delivery_report(["m1"]))
    # the Notification Service Extension may have no pushRegId to send (MMNSEDeliveryReporter)
    device.reg_id = None
    assert_empty_ok(device.delivery_report(["m2"]))


def test_version(device: Device) -> None:
    response = device.version()
    assert response.status_code == 200
    assert (
        response.json()
        == {
            Dialect.IOS: {
                "platformType": "APNS",
                "libraryVersion": "15.5.2",
                "updateUrl": "https://github.com/infobip/mobile-messaging-sdk-ios/releases",
            },
            Dialect.ANDROID: {
                "platformType": "GCM",
                "libraryVersion": "15.0.0",
                "updateUrl": "https://github.com/infobip/mobile-messaging-sdk-android/releases",
            },
        }[device.dialect]
    )


def test_version_defaults_to_gcm(client: TestClient) -> None:
    response = client.get("/mobile/3/version", headers={"Authorization": f"App {APP_CODE}"})
    assert response.json()["platformType"] == "GCM"


def test_base_url(device: Device) -> None:
    response = device.base_url()
    assert response.status_code == 200
    assert response.json() == {"baseUrl": "http://testserver"}


def test_version_and_base_url_need_no_registration(new_device: MakeDevice, dialect: Dialect) -> None:
    device = new_device(dialect, register=False)
    assert device.version().status_code == 200
    assert device.base_url().status_code == 200


# ---------------------------------------------------------------------------------------------
# authentication variants


def test_user_calls_accept_a_bearer_jwt(device: Device, clock: Any, inspector: Inspector) -> None:
    device.personalize({"externalUserId": "jwt-user"})
    add_jwt_key(inspector)  # the tokens verify against the application's key (test_jwt_verification.py)
    expires = int(clock().timestamp()) + 3600
    device.authorization = "Bearer " + jwt(
        {"typ": "Bearer", "sub": "jwt-user", "infobip-api-key": APP_CODE, "iat": 0, "exp": expires, "jti": "1"}
    )
    assert device.user().status_code == 200
    assert_empty_ok(device.patch_user({"firstName": "J"}))
    assert device.personalize({"externalUserId": "jwt-user"}).status_code == 200
    # other calls take the app code only
    assert_error(device.get(), 401, "INVALID_APPLICATION_CODE")
    assert_error(device.session([ts(0)]), 401, "INVALID_APPLICATION_CODE")


@pytest.mark.parametrize(
    "claims",
    [
        {"infobip-api-key": APP_CODE, "exp": 0},  # expired
        {"infobip-api-key": "unknown-code", "exp": 4102444800},
        {"exp": 4102444800},
        {"infobip-api-key": APP_CODE, "exp": "never"},
    ],
)
def test_bad_bearer_jwts_are_refused(device: Device, claims: dict[str, Any]) -> None:
    device.authorization = "Bearer " + jwt(claims)
    assert_error(device.user(), 401, "UNAUTHORIZED")


@pytest.mark.parametrize("token", ["a.b", "not-base64!.@@@.x", "e30.W10.x", "e30.bnVsbA.x"])
def test_malformed_bearer_tokens_are_refused(device: Device, token: str) -> None:
    device.authorization = f"Bearer {token}"
    assert_error(device.user(), 401, "UNAUTHORIZED")


def test_only_authorization_is_required(client: TestClient) -> None:
    # the applicationcode hash, User-Agent, installationid and foreground are informative only
    response = client.post("/mobile/1/appinstance?rt=1", headers={"Authorization": f"App {APP_CODE}"}, json=IOS_SYSTEM)
    assert response.status_code == 200
    # the scheme is case-insensitive
    response = client.post("/mobile/1/appinstance", headers={"Authorization": f"app {APP_CODE}"}, json=ANDROID_SYSTEM)
    assert response.status_code == 200
    assert response.json()["os"] == "Android"
