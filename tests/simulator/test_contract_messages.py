"""`contract.messages`: each platform's payload round-trips through the SDK's own drop rules, and
routes survive in push tokens without changing a token's shape."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from contract.dialect import Platform
from contract.messages import (
    Message,
    is_generated_id,
    new_message_id,
    parse_push,
    parse_sync_payload,
    push_payload,
    route_bytes,
    sync_payload,
    token_route,
)
from simulator.tokens import push_token

FULL = Message("ID-1", "Body", title="Title", silent=False, sound="default", vibrate=False, category="cat",
               custom_payload={"k": "v"}, send_date_time=1_700_000_000_123, bulk_id="B-1", in_app=True,
               deeplink="app://x", extra_internal={"atts": [{"t": "image", "url": "https://x/i.png"}]})  # fmt: skip


@pytest.mark.parametrize("platform", list(Platform))
@pytest.mark.parametrize("silent", [False, True])
def test_push_and_sync_payloads_round_trip(platform: Platform, silent: bool) -> None:
    message = replace(FULL, silent=silent)
    if platform is Platform.IOS:
        message = replace(message, vibrate=True)  # APNs has no vibrate flag: the iOS SDK reads none
    assert parse_push(platform, push_payload(message, platform)) == message
    assert parse_sync_payload(platform, sync_payload(message, platform)) == message


def test_android_sync_answers_carry_json_strings_and_string_booleans() -> None:
    entry = sync_payload(FULL, Platform.ANDROID)
    assert entry["gcm.notification.silent"] == "false" and entry["gcm.notification.vibrate"] == "false"
    assert json.loads(entry["customPayload"]) == {"k": "v"}
    assert json.loads(entry["internalData"])["sendDateTime"] == 1_700_000_000_123


def test_an_ios_silent_push_has_no_alert_and_its_text_in_internal_data() -> None:
    payload = push_payload(Message("S", "quiet", silent=True), Platform.IOS)
    assert payload["aps"] == {"content-available": 1}
    assert payload["internalData"]["silent"] == {"body": "quiet"}
    alert = push_payload(Message("A", "loud"), Platform.IOS)
    assert alert["aps"] == {"alert": {"body": "loud"}, "mutable-content": 1}


@pytest.mark.parametrize(
    "payload",
    [{"messageId": "x", "internalData": {"silent": "yes"}}, {"messageId": "x"}, {"aps": {"alert": "a"}}, "nope"],
)
def test_ios_refuses_what_mm_mtmessage_refuses(payload: object) -> None:
    assert parse_push(Platform.IOS, payload) is None


def test_an_android_sync_entry_without_text_is_dropped_unless_its_silent_part_has_it() -> None:
    entry = {"gcm.notification.messageId": "X", "internalData": json.dumps({"silent": {"body": "from silent"}})}
    assert parse_sync_payload(Platform.ANDROID, entry) is not None
    assert parse_sync_payload(Platform.ANDROID, {"gcm.notification.messageId": "X"}) is None


@pytest.mark.parametrize(
    ("message_id", "android", "ios"),
    [
        ("2f1e7b0c-1d2e-4f3a-9b8c-7d6e5f4a3b2c", True, True),
        ("2F1E7B0C-1D2E-4F3A-9B8C-7D6E5F4A3B2C", False, True),
        ("2f1e7b0c-1d2e-4f3a-9b8c-7d6e5f4a3b2cc", False, False),
        ("not-a-uuid", False, False),
    ],
)
def test_generated_ids_per_platform(message_id: str, android: bool, ios: bool) -> None:
    assert is_generated_id(message_id, Platform.ANDROID) is android
    assert is_generated_id(message_id, Platform.HUAWEI) is android
    assert is_generated_id(message_id, Platform.IOS) is ios


def test_server_message_ids_are_never_uuid_shaped() -> None:
    ids = {new_message_id() for _ in range(500)}
    assert len(ids) == 500 and not any(is_generated_id(i, Platform.IOS) for i in ids)


SHAPES = {
    Platform.ANDROID: re.compile(r"^[A-Za-z0-9_-]{22}:APA91b[A-Za-z0-9_-]{134}$"),
    Platform.HUAWEI: re.compile(r"^IQAAAACy0[A-Za-z0-9_-]{121}$"),
    Platform.IOS: re.compile(r"^[0-9a-f]{64}$"),
}


@pytest.mark.parametrize("platform", list(Platform))
@pytest.mark.parametrize("route", [1, 2, 1000, 2**32 - 1])
def test_routes_survive_in_tokens_of_the_same_shape(platform: Platform, route: int) -> None:
    token = push_token(platform, 99, 0, 1, route)
    assert SHAPES[platform].match(token) and token_route(platform, token) == route
    assert push_token(platform, 99, 0, 2, route) != token  # a refresh changes the token, not the route


@pytest.mark.parametrize("platform", list(Platform))
def test_a_token_without_a_route_has_none(platform: Platform) -> None:
    assert push_token(platform, 99, 0, 1) == push_token(platform, 99, 0, 1, 0)
    assert all(token_route(platform, push_token(platform, seed, 0, 1)) is None for seed in range(200))
    assert token_route(platform, "garbage!") is None


@pytest.mark.parametrize("route", [0, -1, 2**32])
def test_routes_out_of_range_are_refused(route: int) -> None:
    with pytest.raises(ValueError):
        route_bytes(route)
