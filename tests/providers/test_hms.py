"""HMS Push Kit on loopback: client credentials, the send, result codes at their boundaries."""

from __future__ import annotations

import json
from typing import Any

import pytest
from providerkit import T0, World, hms_body, token_of

from contract.dialect import Platform

APP = "101234567"
SEND = f"/v1/{APP}/messages:send"


def send(world: World, body: Any, access: str | None) -> Any:
    headers = {"Authorization": f"Bearer {access}"} if access else {}
    return world.client.post(SEND, content=json.dumps(body), headers=headers)


def devices(count: int, first: int = 1) -> list[str]:
    return [token_of(Platform.HUAWEI, route) for route in range(first, first + count)]


def test_client_credentials_yield_a_one_hour_token() -> None:
    world = World()
    answer = world.client.post("/oauth2/v3/token", data={"grant_type": "client_credentials", "client_id": APP,
                                                         "client_secret": "s"})  # fmt: skip
    assert answer.status_code == 200 and answer.json()["expires_in"] == 3600 and answer.json()["access_token"]


@pytest.mark.parametrize(
    ("fields", "sub_error"),
    [
        ({"grant_type": "password", "client_id": APP, "client_secret": "s"}, 20001),
        ({"grant_type": "client_credentials", "client_id": "app-1", "client_secret": "s"}, 20002),
        ({"grant_type": "client_credentials", "client_id": APP, "client_secret": ""}, 20003),
    ],
)
def test_a_bad_token_request_is_400_with_its_sub_error(fields: dict[str, str], sub_error: int) -> None:
    answer = World().client.post("/oauth2/v3/token", data=fields)
    assert answer.status_code == 400 and answer.json()["sub_error"] == sub_error


def test_known_clients_need_their_secret() -> None:
    world = World(hms_clients={APP: "right"})
    wrong = world.client.post("/oauth2/v3/token", data={"grant_type": "client_credentials", "client_id": APP,
                                                        "client_secret": "wrong"})  # fmt: skip
    assert wrong.status_code == 400


def test_a_send_to_devices_is_80000000_with_a_request_id_and_one_journal_entry_per_token() -> None:
    world = World()
    tokens = devices(3)
    answer = send(world, hms_body(tokens), world.hms_token())
    body = answer.json()
    assert answer.status_code == 200 and body["code"] == "80000000" and body["requestId"].isdigit()
    assert [a.token for a in world.journal.accepted] == tokens
    entry = world.journal.accepted[0]
    assert entry.message_id == body["requestId"] and entry.campaign == "bulk-1"
    assert isinstance(entry.payload["data"], str)
    assert json.loads(entry.payload["data"])["org_ib_d"]["messageId"] == "m-1"


def test_1000_tokens_are_accepted_and_1001_or_none_are_80300010() -> None:
    world = World()
    access = world.hms_token()
    assert send(world, hms_body(devices(1000)), access).json()["code"] == "80000000"
    assert send(world, hms_body(devices(1001)), access).json()["code"] == "80300010"
    assert send(world, hms_body([]), access).json()["code"] == "80300010"
    assert send(world, {"message": {"data": "x", "token": "one"}}, access).json()["code"] == "80300010"


def test_the_body_without_tokens_may_be_4096_bytes_not_4097() -> None:
    world = World()
    access = world.hms_token()
    overhead = len(json.dumps({"data": ""}, separators=(",", ":")))
    fits = hms_body(devices(1000), data="x" * (4096 - overhead))  # 1000 tokens do not count
    assert send(world, fits, access).json()["code"] == "80000000"
    answer = send(world, hms_body(devices(1), data="x" * (4097 - overhead)), access)
    assert answer.status_code == 200 and answer.json()["code"] == "80300008"


def test_some_bad_tokens_are_a_partial_success_naming_them() -> None:
    world = World()
    good = devices(2)
    stranger = token_of(Platform.HUAWEI, 0)
    world.journal.uninstall("hms", good[1])
    answer = send(world, hms_body([good[0], good[1], stranger]), world.hms_token())
    body = answer.json()
    assert body["code"] == "80100000"
    assert json.loads(body["msg"]) == {"success": 1, "failure": 2, "illegal_tokens": [good[1], stranger]}
    assert [a.token for a in world.journal.accepted] == [good[0]]
    assert [(r.token, r.reason) for r in world.journal.rejected] == [(good[1], "80300007"), (stranger, "80300007")]


def test_all_bad_tokens_are_80300007() -> None:
    world = World()
    answer = send(world, hms_body([token_of(Platform.HUAWEI, 0), "junk"]), world.hms_token())
    assert answer.json()["code"] == "80300007" and world.journal.accepted == []


def test_the_access_token_expires_at_the_exact_second_with_80200003() -> None:
    world = World()
    access = world.hms_token()
    world.clock.now = T0 + 3599.999
    assert send(world, hms_body(devices(1)), access).json()["code"] == "80000000"
    world.clock.now = T0 + 3600
    answer = send(world, hms_body(devices(1)), access)
    assert (answer.status_code, answer.json()["code"]) == (401, "80200003")


def test_a_missing_unknown_or_other_apps_token_is_80200001() -> None:
    world = World()
    other = world.hms_token("999")
    for access in (None, "nope", other):
        answer = send(world, hms_body(devices(1)), access)
        assert (answer.status_code, answer.json()["code"]) == (401, "80200001"), access


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ("not json", "80100003"),
        ({"message": "x"}, "80100003"),
        ({"message": {"token": ["t"], "data": {"k": "v"}}}, "80100001"),
        ({"validate_only": "no", "message": {"token": ["t"], "data": "x"}}, "80100001"),
    ],
)
def test_malformed_bodies_get_their_codes(body: Any, code: str) -> None:
    world = World()
    raw = body if isinstance(body, str) else json.dumps(body)
    answer = world.client.post(SEND, content=raw, headers={"Authorization": f"Bearer {world.hms_token()}"})
    assert answer.status_code == 200 and answer.json()["code"] == code


def test_validate_only_answers_success_and_delivers_nothing() -> None:
    world = World()
    body = {"validate_only": True, **hms_body(devices(2))}
    assert send(world, body, world.hms_token()).json()["code"] == "80000000"
    assert world.journal.accepted == []


def test_android_data_wins_over_message_data() -> None:
    world = World()
    body = hms_body(devices(1), data="outer", android={"data": '{"inner": 1}'})
    send(world, body, world.hms_token())
    assert world.journal.accepted[0].payload == {"data": '{"inner": 1}'}
