"""The Push API: authentication, bodies, destinations and who is eligible, the answers of every send
endpoint in the document's shapes and envelopes (docs/push-api.md)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from fastapi import FastAPI
from pushkit import API_KEY, TEXT, PushApi, assert_api_error, assert_api_exception, reg
from starlette.testclient import TestClient
from stubkit import APP_CODE, OTHER_APP, Device, Inspector, MakeDevice

from contract import Dialect, Platform
from contract import push_api as pa
from contract.messages import parse_sync_payload
from server_stub import segments
from server_stub.http import PUSH_MAX_BODY

PENDING = pa.PENDING_ACCEPTED.json()


def statuses(answer: dict[str, Any]) -> list[str]:
    return [m["status"]["name"] for m in answer["messages"]]


def synced(found: Device) -> list[str]:
    """The message ids the device's next sync answers."""
    response = found.sync({})
    assert response.status_code == 200, response.text
    platform = Platform.IOS if found.dialect is Dialect.IOS else Platform.ANDROID
    return [m.message_id for m in (parse_sync_payload(platform, p) for p in response.json()["payloads"]) if m]


# ---------------------------------------------------------------------------------------------
# authentication

SENDS = [
    ("POST", "/push/3/messages", 3),
    ("GET", "/push/3/reports", 3),
    ("GET", "/push/3/logs", 3),
    ("POST", "/push/2/message/single", 2),
    ("POST", "/push/2/message/multi", 2),
    ("GET", "/push/1/inbox/reports", 1),
]


@pytest.mark.parametrize(("method", "path", "version"), SENDS, ids=[f"{m} {p}" for m, p, _ in SENDS])
@pytest.mark.parametrize(
    ("authorization", "reason"),
    [
        (None, "send 'Authorization: App <API key>'"),
        (f"App {APP_CODE}", "that is an application code, not an API key"),
        ("App not-a-key", "unknown API key"),
        (f"Basic {API_KEY}", "API keys only"),
        (f"Bearer {API_KEY}", "API keys only"),
        ("App", "API keys only"),
    ],
    ids=["missing", "app-code", "unknown", "basic", "bearer", "empty"],
)
def test_every_push_endpoint_needs_an_api_key(
    push: PushApi, client: TestClient, method: str, path: str, version: int, authorization: str | None, reason: str
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.request(method, path, headers=headers, json={"messages": []})
    if version == 3:
        assert_api_error(response, 401, ("Authorization", reason))
        body = response.json()
        assert body["description"] == "The request lacks valid authentication credentials for the requested resource."
        assert body["resources"] == [
            {"name": "API Authentication", "url": "https://www.infobip.com/docs/essentials/api-authentication"}
        ]
    else:
        assert_api_exception(response, 401, "UNAUTHORIZED", reason)


def test_the_key_is_checked_before_the_body(push: PushApi, client: TestClient) -> None:
    response = client.post("/push/3/messages", content=b"{not json", headers={"Authorization": "App nope"})
    assert_api_error(response, 401)


def test_a_key_of_another_account_cannot_send_from_this_accounts_app(
    app: FastAPI, push: PushApi, inspector: Inspector, new_device: MakeDevice
) -> None:
    inspector.post("/applications", {"code": "theirs", "account": "other"}, status=201)
    app.state.profiles.messaging.add_api_key("their-key", account="other")
    phone = new_device(Dialect.ANDROID)
    theirs = PushApi(push.client, "their-key")
    body = {"messages": [theirs.message([reg(phone)])]}
    assert_api_error(theirs.call("POST", "/push/3/messages", json=body), 400,
                     ("messages[0].sender", "is not an application code of this account"))  # fmt: skip
    answer = theirs.send([reg(phone)], sender="theirs")
    assert statuses(answer) == ["UNDELIVERABLE_NOT_DELIVERED"]  # our installation is not in their app
    assert push.logs()["results"] == []  # nor does our account see their bulk


# ---------------------------------------------------------------------------------------------
# bodies: a clear 400 with the property, never a 500

MESSAGE = {"sender": APP_CODE, "destinations": [{"type": "REGISTRATION", "pushRegistrationId": "r"}], "content": TEXT}


def with_message(**changes: Any) -> dict[str, Any]:
    return {"messages": [{**MESSAGE, **changes}]}


BAD_BODIES: list[tuple[str, Any, str, str]] = [
    ("not-json", b"{not json", "", "Invalid JSON"),
    ("empty", b"", "", "a JSON body (PushUnificationRequest) is required"),
    ("array", [], "", "an object"),
    ("no-messages", {}, "messages", "Field required"),
    ("zero-messages", {"messages": []}, "messages", "at least 1 item"),
    ("no-sender", {"messages": [{k: v for k, v in MESSAGE.items() if k != "sender"}]}, "messages[0].sender",
     "Field required"),
    ("sender-number", with_message(sender=5), "messages[0].sender", "valid string"),
    ("no-destinations", with_message(destinations=[]), "messages[0].destinations", "at least 1 item"),
    ("unknown-type", with_message(destinations=[{"type": "TAG", "tag": "x"}]), "messages[0].destinations[0].type",
     "'REGISTRATION'"),
    ("no-registration-id", with_message(destinations=[{"type": "REGISTRATION"}]), "messages[0].destinations[0]",
     "a REGISTRATION destination needs pushRegistrationId"),
    ("no-external-id", with_message(destinations=[{"type": "EXTERNAL_USER_ID"}]), "messages[0].destinations[0]",
     "needs externalUserId"),
    ("no-segment-name", with_message(destinations=[{"type": "SEGMENT"}]), "messages[0].destinations[0]",
     "needs segment"),
    ("empty-multiple", with_message(destinations=[{"type": "MULTIPLE", "$or": []}]), "messages[0].destinations[0]",
     "needs a non-empty $or or $and"),
    ("no-content", {"messages": [{k: v for k, v in MESSAGE.items() if k != "content"}]}, "messages[0].content",
     "Field required"),
    ("empty-text", with_message(content={"type": "TEXT", "text": ""}), "messages[0].content.text", "at least 1"),
    ("long-text", with_message(content={"type": "TEXT", "text": "x" * 4001}), "messages[0].content.text",
     "at most 4000"),
    ("long-title", with_message(content={"type": "TEXT", "text": "x", "title": "t" * 51}),
     "messages[0].content.title", "at most 50"),
    ("image-no-url", with_message(content={"type": "IMAGE", "text": "x"}), "messages[0].content",
     "IMAGE content needs url"),
    ("content-type", with_message(content={"type": "VIDEO", "text": "x"}), "messages[0].content.type", "'TEXT'"),
    ("silent-string", with_message(options={"isSilent": "true"}), "messages[0].options.isSilent", "valid boolean"),
    ("send-at-format", with_message(options={"sendAt": "tomorrow"}), "messages[0].options.sendAt",
     "not a date-time"),
    ("send-at-no-zone", with_message(options={"sendAt": "2024-05-02T12:00:00.000"}), "messages[0].options.sendAt",
     "no time zone"),
    ("validity-unit", with_message(options={"validityPeriod": {"amount": 5, "timeUnit": "DAYS"}}),
     "messages[0].options.validityPeriod.timeUnit", "'SECONDS'"),
    ("custom-payload-list", with_message(options={"customPayload": [1]}), "messages[0].options.customPayload",
     "an object"),
    ("bulk-id-long", {**with_message(), "options": {"schedule": {"bulkId": "b" * 101}}}, "options.schedule.bulkId",
     "at most 100"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "where", "text"), [b[1:] for b in BAD_BODIES], ids=[b[0] for b in BAD_BODIES])
def test_a_bad_body_is_a_400_naming_the_property(push: PushApi, body: Any, where: str, text: str) -> None:
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    assert_api_error(push.call("POST", "/push/3/messages", **kwargs), 400, (where, text))


def test_every_violation_is_listed(push: PushApi) -> None:
    body = with_message(destinations=[{"type": "EMAIL"}], content={"type": "TEXT", "text": ""})
    found = assert_api_error(push.call("POST", "/push/3/messages", json=body), 400)
    assert [v["property"] for v in found] == ["messages[0].destinations[0]", "messages[0].content.text"]


@pytest.mark.parametrize(
    ("options", "where", "text"),
    [
        ({"validityPeriod": {"amount": 29, "timeUnit": "SECONDS"}}, "messages[0].options.validityPeriod",
         "at least 30 seconds"),
        ({"validityPeriod": {"amount": 0}}, "messages[0].options.validityPeriod", "at least 30 seconds"),
        ({"validityPeriod": {"amount": -5, "timeUnit": "HOURS"}}, "messages[0].options.validityPeriod",
         "at least 30 seconds"),
        ({"sendAt": "2024-10-28T12:00:00.001+0000"}, "messages[0].options.sendAt", "at most 180 days"),
    ],
    ids=["29-seconds", "zero", "negative", "180-days-and-1-ms"],
)  # fmt: skip
def test_the_rules_refuse_a_validity_under_30_seconds_and_a_send_beyond_180_days(
    push: PushApi, new_device: MakeDevice, options: dict[str, Any], where: str, text: str
) -> None:
    phone = new_device(Dialect.ANDROID)
    body = {"messages": [push.message([reg(phone)], **options)]}
    assert_api_error(push.call("POST", "/push/3/messages", json=body), 400, (where, text))
    assert push.logs()["results"] == []  # nothing of a refused request is kept


def test_thirty_seconds_and_180_days_are_accepted(push: PushApi, new_device: MakeDevice) -> None:
    phone = new_device(Dialect.ANDROID)
    assert statuses(push.send([reg(phone)], validityPeriod={"amount": 30, "timeUnit": "SECONDS"})) == [
        "PENDING_ACCEPTED"
    ]
    assert statuses(push.send([reg(phone)], sendAt="2024-10-28T12:00:00.000+0000")) == ["PENDING_ACCEPTED"]


@pytest.mark.parametrize(
    ("sender", "text"),
    [("no-such-app", "'no-such-app' is not an application code of this account")],
)
def test_the_sender_is_an_application_of_the_account(push: PushApi, sender: str, text: str) -> None:
    body = {"messages": [MESSAGE, {**MESSAGE, "sender": sender}]}
    assert_api_error(push.call("POST", "/push/3/messages", json=body), 400, ("messages[1].sender", text))


def test_a_bulk_id_is_used_once(push: PushApi, new_device: MakeDevice) -> None:
    phone = new_device(Dialect.IOS)
    assert push.send([reg(phone)], schedule={"bulkId": "summer-sale"})["bulkId"] == "summer-sale"
    body = {"messages": [push.message([reg(phone)])], "options": {"schedule": {"bulkId": "summer-sale"}}}
    assert_api_error(push.call("POST", "/push/3/messages", json=body), 400,
                     ("options.schedule.bulkId", "bulk 'summer-sale' exists already"))  # fmt: skip


def test_a_body_over_the_limit_is_413(push: PushApi) -> None:
    response = push.call("POST", "/push/3/messages", content=b" " * (PUSH_MAX_BODY + 1))
    assert_api_error(response, 413)


@pytest.mark.parametrize(
    ("filters", "where"),
    [({"$or": [{"plan": {"#gt": 1}}]}, "messages[0].destinations[0].$or[0]"),
     ({"$and": [{"plan": None}]}, "messages[0].destinations[0].$and[0]")],
    ids=["object", "null"],
)  # fmt: skip
def test_a_filter_value_is_a_scalar(push: PushApi, new_device: MakeDevice, filters: dict[str, Any], where: str) -> None:
    new_device(Dialect.IOS)
    body = {"messages": [push.message([{"type": "MULTIPLE", **filters}])]}
    assert_api_error(push.call("POST", "/push/3/messages", json=body), 400, (where, "a string, a number or a boolean"))


@pytest.mark.parametrize(
    ("destination", "where", "text"),
    [({"type": "EMAIL", "email": "not-an-email"}, "messages[0].destinations[0].email", "not a valid address"),
     ({"type": "PHONE_NUMBER", "phoneNumber": "12ab"}, "messages[0].destinations[0].phoneNumber",
      "not an international number")],
    ids=["email", "phone"],
)  # fmt: skip
def test_a_malformed_address_is_a_400(push: PushApi, destination: dict[str, Any], where: str, text: str) -> None:
    body = {"messages": [push.message([destination])]}
    assert_api_error(push.call("POST", "/push/3/messages", json=body), 400, (where, text))


# ---------------------------------------------------------------------------------------------
# the v3 answer


def test_the_answer_is_the_documents_shape(push: PushApi, new_device: MakeDevice) -> None:
    phone = new_device(Dialect.ANDROID)
    answer = push.send([reg(phone, messageId="my-id-1")], schedule={"bulkId": "b-1"})
    assert answer == {
        "bulkId": "b-1",
        "messages": [
            {
                "messageId": "my-id-1",
                "status": {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
                           "description": "Message accepted, pending for delivery"},
                "destination": phone.reg_id,
            }
        ],
    }  # fmt: skip
    generated = push.send([reg(phone)])
    assert len(generated["bulkId"]) == 20
    message_id = generated["messages"][0]["messageId"]
    assert len(message_id) == 24 and "-" not in message_id[8:9]  # never UUID-shaped (seen reports flow)


def test_a_message_id_is_used_once(push: PushApi, new_device: MakeDevice) -> None:
    phone, tablet = new_device(Dialect.ANDROID), new_device(Dialect.IOS)
    push.send([reg(phone, messageId="once")])
    answer = push.send([reg(phone, messageId="once"), reg(tablet, messageId="twice"), reg(phone, messageId="twice")])
    assert [(m["messageId"], m["status"]["name"]) for m in answer["messages"]] == [
        ("once", "REJECTED_DUPLICATE_MESSAGE_ID"),
        ("twice", "PENDING_ACCEPTED"),
        ("twice", "REJECTED_DUPLICATE_MESSAGE_ID"),
    ]
    assert answer["messages"][0]["status"]["groupName"] == "REJECTED"
    assert synced(tablet) == ["twice"]


def test_several_messages_share_one_bulk(push: PushApi, new_device: MakeDevice) -> None:
    phone, tablet = new_device(Dialect.ANDROID), new_device(Dialect.IOS, app_code=OTHER_APP)
    other = push.message([reg(tablet)], sender=OTHER_APP, content={"type": "TEXT", "text": "other"})
    body = {"messages": [push.message([reg(phone)]), other]}
    response = push.call("POST", "/push/3/messages", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert statuses(answer) == ["PENDING_ACCEPTED", "PENDING_ACCEPTED"]
    assert {r["bulkId"] for r in push.logs()["results"]} == {answer["bulkId"]}
    assert push.campaign(answer["bulkId"])["application"] is None  # two senders
    assert push.campaign(answer["bulkId"])["sent"] == 2


# ---------------------------------------------------------------------------------------------
# destinations


@pytest.fixture
def ana(new_device: MakeDevice) -> list[Device]:
    """Ana's iPhone (primary) and Android tablet, with an email and a phone; Bo's phone."""
    phone = new_device(Dialect.IOS)
    identity = {
        "externalUserId": "ana",
        "emails": [{"address": "Ana@Example.com"}],
        "phones": [{"number": "+385 91 123 4567"}],
    }
    assert phone.personalize(identity, primary=True).status_code == 200
    tablet = new_device(Dialect.ANDROID)
    assert tablet.personalize({"externalUserId": "ana"}).status_code == 200
    bo = new_device(Dialect.ANDROID)
    assert bo.personalize({"externalUserId": "bo"}, {"customAttributes": {"plan": "gold"}}).status_code == 200
    return [phone, tablet, bo]


@pytest.mark.parametrize(
    "destination",
    [
        {"type": "EXTERNAL_USER_ID", "externalUserId": "ana"},
        {"type": "EMAIL", "email": "ana@example.COM"},
        {"type": "PHONE_NUMBER", "phoneNumber": "385911234567"},
        {"type": "MULTIPLE", "$or": [{"externalUserId": "ana"}, {"email": "nobody@example.com"}]},
    ],
    ids=["external-user-id", "email", "phone", "multiple"],
)
def test_a_person_destination_reaches_the_persons_installations(
    push: PushApi, ana: list[Device], destination: dict[str, Any]
) -> None:
    phone, tablet, bo = ana
    answer = push.send([destination])
    assert [m["destination"] for m in answer["messages"]] == [phone.reg_id, tablet.reg_id]
    assert statuses(answer) == ["PENDING_ACCEPTED", "PENDING_ACCEPTED"]
    assert len(synced(phone)) == len(synced(tablet)) == 1
    assert synced(bo) == []
    only_primary = push.send([{**destination, "targetOnlyPrimaryDevices": True}])
    assert [m["destination"] for m in only_primary["messages"]] == [phone.reg_id]


@pytest.mark.parametrize(
    "destination",
    [
        {"type": "EXTERNAL_USER_ID", "externalUserId": "nobody"},
        {"type": "EMAIL", "email": "nobody@example.com"},
        {"type": "PHONE_NUMBER", "phoneNumber": "+44 20 7946 0000"},
        {"type": "MULTIPLE", "$and": [{"externalUserId": "ana"}, {"externalUserId": "bo"}]},
    ],
    ids=["external-user-id", "email", "phone", "multiple"],
)
def test_a_destination_that_reaches_nobody_is_undeliverable(
    push: PushApi, ana: list[Device], destination: dict[str, Any]
) -> None:
    answer = push.send([destination])
    assert statuses(answer) == ["UNDELIVERABLE_NO_DESTINATION"]
    assert answer["messages"][0]["status"]["groupName"] == "UNDELIVERABLE"
    assert answer["messages"][0]["destination"] == destination.get("externalUserId", destination.get(
        "email", destination.get("phoneNumber", "MULTIPLE")))  # fmt: skip
    assert [r["status"]["name"] for r in push.reports()] == ["UNDELIVERABLE_NO_DESTINATION"]


def test_multiple_filters_on_custom_attributes_and_registrations(
    push: PushApi, ana: list[Device], new_device: MakeDevice
) -> None:
    phone, tablet, bo = ana
    assert tablet.patch({"customAttributes": {"DeviceType": "business"}}).status_code == 200
    assert phone.patch({"customAttributes": {"DeviceType": "personal"}}).status_code == 200

    def reached(**filters: Any) -> list[str | None]:
        answer = push.send([{"type": "MULTIPLE", **filters}])
        return [m["destination"] for m in answer["messages"] if m["status"]["name"] == "PENDING_ACCEPTED"]

    # the document's example: devices whose DeviceType is personal or business
    assert reached(**{"$or": [{"DeviceType": "personal"}, {"DeviceType": "business"}]}) == [phone.reg_id, tablet.reg_id]
    assert reached(**{"$and": [{"DeviceType": "business"}, {"externalUserId": "ana"}]}) == [tablet.reg_id]
    # a person's custom attribute, an installation's own first; $or and $and together
    assert reached(**{"$or": [{"plan": "gold"}]}) == [bo.reg_id]
    assert reached(**{"$or": [{"plan": "gold"}, {"DeviceType": "business"}], "$and": [{"externalUserId": "bo"}]}) == [
        bo.reg_id
    ]
    # several keys in one filter all hold
    assert reached(**{"$or": [{"pushRegistrationId": phone.reg_id, "DeviceType": "business"}]}) == []
    assert reached(**{"$or": [{"pushRegistrationId": phone.reg_id, "phoneNumber": "+385911234567"}]}) == [phone.reg_id]


def test_a_segment_destination_reaches_the_segments_installations(
    push: PushApi, ana: list[Device], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, tablet, bo = ana
    calls: list[tuple[str, str, str]] = []

    def segment_reg_ids(db: Any, account: str, app_code: str, name: str, now: Any = None) -> list[str]:
        calls.append((account, app_code, name))
        if name != "gold":
            from contract import ErrorCode
            from server_stub import ApiError

            raise ApiError(ErrorCode.NOT_FOUND, f"no segment {name!r}")
        return [str(bo.reg_id), str(tablet.reg_id), "gone"]

    monkeypatch.setattr(segments, "segment_reg_ids", segment_reg_ids, raising=False)
    answer = push.send([{"type": "SEGMENT", "segment": "gold"}])
    assert [m["destination"] for m in answer["messages"]] == [bo.reg_id, tablet.reg_id]
    assert calls == [("default", APP_CODE, "gold")]
    assert push.campaign(answer["bulkId"])["target"] == [
        {"sender": APP_CODE, "destinations": [{"type": "SEGMENT", "address": "gold"}]}
    ]
    body = {"messages": [push.message([{"type": "SEGMENT", "segment": "silver"}])]}
    assert_api_error(push.call("POST", "/push/3/messages", json=body), 400,
                     ("messages[0].destinations[0].segment", "no segment 'silver'"))  # fmt: skip
    empty = push.send([{"type": "SEGMENT", "segment": "gold", "targetOnlyPrimaryDevices": True}])
    assert statuses(empty) == ["UNDELIVERABLE_NO_DESTINATION"]


def test_one_message_reaches_an_installation_once(push: PushApi, ana: list[Device]) -> None:
    phone, tablet, _ = ana
    answer = push.send([reg(phone), {"type": "EXTERNAL_USER_ID", "externalUserId": "ana"}, reg(phone)])
    assert [m["destination"] for m in answer["messages"]] == [phone.reg_id, tablet.reg_id]
    assert len(synced(phone)) == 1


def test_a_client_message_id_names_the_first_installation_of_a_person(push: PushApi, ana: list[Device]) -> None:
    phone = ana[0]
    answer = push.send([{"type": "EXTERNAL_USER_ID", "externalUserId": "ana", "messageId": "for-ana"}])
    ids = [m["messageId"] for m in answer["messages"]]
    assert ids[0] == "for-ana" and ids[1] != "for-ana"
    assert synced(phone) == ["for-ana"]


# ---------------------------------------------------------------------------------------------
# eligibility


def test_a_registration_that_cannot_receive_is_undeliverable_with_the_reason(
    push: PushApi, new_device: MakeDevice, inspector: Inspector
) -> None:
    disabled, uninstalled, deleted, fine = (new_device(Dialect.ANDROID) for _ in range(4))
    theirs = new_device(Dialect.IOS, app_code=OTHER_APP)
    assert disabled.patch({"regEnabled": False}).status_code == 200
    inspector.post(f"/installations/{uninstalled.reg_id}/uninstall")
    assert new_device(Dialect.IOS).delete(deleted.reg_id or "").status_code == 200
    answer = push.send([reg(r) for r in (disabled, uninstalled, deleted, theirs, fine)] + [reg("no-such-reg")])
    got = [(m["status"]["name"], m["destination"]) for m in answer["messages"]]
    assert got == [
        ("UNDELIVERABLE_NOT_DELIVERED", disabled.reg_id),
        ("UNDELIVERABLE_NOT_DELIVERED", uninstalled.reg_id),
        ("UNDELIVERABLE_NOT_DELIVERED", deleted.reg_id),
        ("UNDELIVERABLE_NOT_DELIVERED", theirs.reg_id),
        ("PENDING_ACCEPTED", fine.reg_id),
        ("UNDELIVERABLE_NOT_DELIVERED", "no-such-reg"),
    ]
    errors = {r["to"]: (r["error"]["name"], r["error"]["id"], r["error"]["permanent"]) for r in push.reports()}
    assert errors == {
        disabled.reg_id: ("EC_REGISTRATION_ID_DISABLED", 8013, True),
        uninstalled.reg_id: ("EC_DEVICE_APP_UNINSTALL", 8001, True),
        deleted.reg_id: ("EC_NO_REGISTRATION_ID_FOUND", 8004, True),
        theirs.reg_id: ("EC_NO_REGISTRATION_ID_FOUND", 8004, True),
        "no-such-reg": ("EC_NO_REGISTRATION_ID_FOUND", 8004, True),
    }
    assert synced(fine) != [] and synced(disabled) == []
    assert disabled.patch({"regEnabled": True}).status_code == 200
    assert statuses(push.send([reg(disabled)])) == ["PENDING_ACCEPTED"]


def test_a_not_primary_registration_with_primary_only_reaches_nobody(push: PushApi, ana: list[Device]) -> None:
    phone, tablet, _ = ana
    answer = push.send([reg(tablet, targetOnlyPrimaryDevices=True), reg(phone, targetOnlyPrimaryDevices=True)])
    assert statuses(answer) == ["UNDELIVERABLE_NO_DESTINATION", "PENDING_ACCEPTED"]


def test_a_person_reaches_only_installations_attached_now_of_the_sender_app(
    push: PushApi, ana: list[Device], new_device: MakeDevice
) -> None:
    phone, tablet, _ = ana
    other = new_device(Dialect.IOS, app_code=OTHER_APP)
    assert other.personalize({"externalUserId": "ana"}).status_code == 200
    assert tablet.depersonalize().status_code == 200  # logged out: no longer Ana's
    disabled = new_device(Dialect.ANDROID)
    assert disabled.personalize({"externalUserId": "ana"}).status_code == 200
    assert disabled.patch({"regEnabled": False}).status_code == 200
    answer = push.send([{"type": "EXTERNAL_USER_ID", "externalUserId": "ana"}])
    assert [m["destination"] for m in answer["messages"]] == [phone.reg_id]
    from_other = push.send([{"type": "EXTERNAL_USER_ID", "externalUserId": "ana"}], sender=OTHER_APP)
    assert [m["destination"] for m in from_other["messages"]] == [other.reg_id]
    assert synced(tablet) == []  # the message sent before the logout stays its own
    # a registration destination still reaches a logged-out installation: it is the app's
    assert statuses(push.send([reg(tablet)])) == ["PENDING_ACCEPTED"]


def test_a_uninstalled_person_device_is_not_reached(push: PushApi, ana: list[Device], inspector: Inspector) -> None:
    phone, tablet, _ = ana
    inspector.post(f"/installations/{tablet.reg_id}/uninstall")
    answer = push.send([{"type": "EXTERNAL_USER_ID", "externalUserId": "ana"}])
    assert [m["destination"] for m in answer["messages"]] == [phone.reg_id]


# ---------------------------------------------------------------------------------------------
# content as the devices receive it


def test_the_options_become_the_message_the_sdks_read(push: PushApi, new_device: MakeDevice) -> None:
    phone, iphone = new_device(Dialect.ANDROID), new_device(Dialect.IOS)
    options = {
        "soundEnabled": True,
        "soundName": "bell.wav",
        "vibrationEnabled": False,
        "isSilent": False,
        "category": "mm_accept_decline",
        "customPayload": {"deal": 42, "nested": {"a": [1, None]}},
        "showMirroredPush": True,
        "mirroredPushStyle": "MODAL",
        "onTapButtonAction": {"type": "DEEP_LINK", "resource": "app://offer"},
    }
    content = {"type": "IMAGE", "title": "Sale", "text": "Half price", "url": "https://example.com/i.png"}
    answer = push.send([reg(phone), reg(iphone)], content=content, schedule={"bulkId": "rich"}, **options)
    for found, platform in ((phone, Platform.ANDROID), (iphone, Platform.IOS)):
        (payload,) = found.sync({}).json()["payloads"]
        message = parse_sync_payload(platform, payload)
        assert message is not None
        assert (message.title, message.text, message.sound, message.category) == (
            "Sale", "Half price", "bell.wav", "mm_accept_decline")  # fmt: skip
        assert message.custom_payload == {"deal": 42, "nested": {"a": [1, None]}}
        assert (message.in_app, message.deeplink, message.bulk_id) == (True, "app://offer", "rich")
        assert message.extra_internal["atts"] == [{"t": "image", "url": "https://example.com/i.png"}]
        assert message.send_date_time == 1714564800000
        assert message.message_id in [m["messageId"] for m in answer["messages"]]
    (android,) = phone.sync({}).json()["payloads"]
    assert android["gcm.notification.vibrate"] == "false"


def test_a_silent_message(push: PushApi, new_device: MakeDevice) -> None:
    iphone = new_device(Dialect.IOS)
    push.send([reg(iphone)], isSilent=True)
    (payload,) = iphone.sync({}).json()["payloads"]
    assert payload["aps"] == {"content-available": 1}
    assert payload["internalData"]["silent"] == {"body": TEXT["text"], "title": TEXT["title"]}


# ---------------------------------------------------------------------------------------------
# the deprecated v2 send


def test_v2_single_answers_one_bulk(push: PushApi, ana: list[Device]) -> None:
    body = {"from": APP_CODE, "to": {"externalUserId": "ana"}, "text": "Hello", "validityPeriod": 30,
            "validityPeriodTimeUnit": "MINUTES", "notificationOptions": {"title": "Hi", "badge": 1},
            "callbackData": "cb"}  # fmt: skip
    response = push.call("POST", "/push/2/message/single", json=body)
    assert response.status_code == 200, response.text
    (bulk,) = response.json()["bulks"]
    assert list(bulk) == ["to", "status", "messageCount", "bulkId"]
    assert bulk["to"] == {"externalUserId": "ana"}
    assert bulk["messageCount"] == 2
    assert bulk["status"] == PENDING and "action" not in bulk["status"]
    logs = push.logs(bulkId=bulk["bulkId"])["results"]
    assert [log["content"] for log in logs] == [{"type": "TEXT", "text": "Hello", "title": "Hi"}] * 2


def test_v2_multi_answers_a_bulk_per_message(push: PushApi, ana: list[Device]) -> None:
    phone, tablet, bo = ana
    body = {
        "messages": [
            {"from": APP_CODE, "to": {"pushRegistrationId": phone.reg_id}, "text": "one"},
            {"from": APP_CODE, "to": {"externalUserId": "nobody"}, "text": "two"},
            {"from": APP_CODE, "to": {"$or": [{"plan": "gold"}]}, "text": "three", "targetOnlyPrimaryDevices": False},
            {"from": APP_CODE, "to": {"externalUserId": "ana"}, "text": "four", "targetOnlyPrimaryDevices": True},
        ]
    }
    response = push.call("POST", "/push/2/message/multi", json=body)
    assert response.status_code == 200, response.text
    bulks = response.json()["bulks"]
    assert [(b["messageCount"], b["status"]["name"]) for b in bulks] == [
        (1, "PENDING_ACCEPTED"), (0, "UNDELIVERABLE_NO_DESTINATION"), (1, "PENDING_ACCEPTED"), (1, "PENDING_ACCEPTED")
    ]  # fmt: skip
    assert len({b["bulkId"] for b in bulks}) == 4
    assert synced(bo) != [] and len(synced(phone)) == 2 and synced(tablet) == []


@pytest.mark.parametrize(
    ("path", "body", "text"),
    [
        ("/push/2/message/single", {"to": {"externalUserId": "a"}, "text": "x"}, "from: Field required"),
        ("/push/2/message/single", {"from": APP_CODE, "to": {}, "text": "x"}, "to: Dictionary should have at least 1"),
        ("/push/2/message/single", {"from": APP_CODE, "to": {"externalUserId": "a"}, "text": ""}, "text: String"),
        ("/push/2/message/single", {"from": APP_CODE, "to": {"externalUserId": 5}, "text": "x"},
         "to.externalUserId: an address is a non-empty string"),
        ("/push/2/message/single", {"from": APP_CODE, "to": {"$or": "x"}, "text": "x"}, "to.$or: a list of filter"),
        ("/push/2/message/single", {"from": "nope", "to": {"externalUserId": "a"}, "text": "x"},
         "sender: 'nope' is not an application code"),
        ("/push/2/message/single", {"from": APP_CODE, "to": {"externalUserId": "a"}, "text": "x",
                                    "validityPeriod": 20, "validityPeriodTimeUnit": "SECONDS"}, "at least 30 seconds"),
        ("/push/2/message/single", {"from": APP_CODE, "to": {"externalUserId": "a"}, "text": "x",
                                    "notificationOptions": {"title": "t" * 46}}, "notificationOptions.title"),
        ("/push/2/message/multi", {"messages": []}, "messages: List should have at least 1 item"),
        ("/push/2/message/multi", b"[", "Invalid JSON"),
    ],
)  # fmt: skip
def test_v2_bad_bodies_are_bad_request(push: PushApi, path: str, body: Any, text: str) -> None:
    kwargs = {"content": body} if isinstance(body, bytes) else {"json": body}
    response = push.call("POST", path, **kwargs)
    assert_api_exception(response, 400, "BAD_REQUEST", text)
    errors = response.json()["requestError"]["serviceException"]["validationErrors"]
    assert isinstance(errors, dict) and all(isinstance(v, list) for v in errors.values())


def test_v2_validity_defaults_to_hours_and_is_capped_at_72(push: PushApi, new_device: MakeDevice) -> None:
    phone = new_device(Dialect.ANDROID)
    for validity, hours in ((1, 1), (100, 72)):
        body = {"from": APP_CODE, "to": {"pushRegistrationId": phone.reg_id}, "text": "x", "validityPeriod": validity}
        bulk_id = push.call("POST", "/push/2/message/single", json=body).json()["bulks"][0]["bulkId"]
        campaign = push.campaign(bulk_id)
        assert campaign["expiresAt"] == f"2024-05-0{1 + (12 + hours) // 24}T{(12 + hours) % 24:02d}:00:00Z"


def test_the_served_openapi_describes_the_push_api(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    for path in ("/push/3/messages", "/push/2/message/single", "/push/2/message/multi", "/push/3/reports",
                 "/push/3/logs", "/push/1/inbox/reports", "/provider/1/deliveries", "/inspect/campaigns"):  # fmt: skip
        assert path in schema["paths"], path
    body = schema["paths"]["/push/3/messages"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/PushUnificationRequest"}
    assert "$or" in schema["components"]["schemas"]["Destination"]["properties"]
    json.dumps(schema)


def test_the_guides_python_example_runs() -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "docs" / "push-api.md").read_text()
    (code,) = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    exec(compile(code, "docs/push-api.md", "exec"), {})
