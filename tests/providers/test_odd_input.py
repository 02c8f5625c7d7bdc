"""Odd bodies and parameters get a client-error answer, never a 500."""

from __future__ import annotations

import json

import pytest
from providerkit import World

ODD = [
    "", "null", "1", '"x"', "[]", "{}", '{"message": null}', '{"message": []}', '{"message": {"token": ["a"]}}',
    '{"message": {"token": {"a": 1}}}', '{"message": {"token": 5, "data": "x"}}',
    '{"message": {"token": "AAAAAAAAAAAAAAAAAAAAAAAA", "notification": "x", "android": {"ttl": 5, "priority": 3}}}',
    '{"message": {"token": "AAAAAAAAAAAAAAAAAAAAAAAA", "android": {"data": 5}}}',
    '{"message": {"token": [null, 1, "x"], "data": "x", "android": {"data": 1}}}',
    '{"message": {"token": ["x"], "data": "\\u0000"}, "validate_only": null}',
    "\xff\xfe", '{"message": {"token": "' + "A" * 5000 + '"}}',
]  # fmt: skip


@pytest.mark.parametrize("raw", ODD)
def test_odd_bodies_get_client_errors(raw: str) -> None:
    world = World()
    fcm = world.client.post("/v1/projects/p/messages:send", content=raw.encode("utf-8", "surrogateescape"),
                            headers={"Authorization": f"Bearer {world.fcm_token()}"})  # fmt: skip
    assert 400 <= fcm.status_code < 500 and "error" in fcm.json()
    hms = world.client.post("/v1/1/messages:send", content=raw.encode("utf-8", "surrogateescape"),
                            headers={"Authorization": f"Bearer {world.hms_token('1')}"})  # fmt: skip
    assert hms.status_code == 200 and hms.json()["code"] != "80000000"


@pytest.mark.parametrize("raw", ["", "grant_type=%ff&assertion=%ff.%ff.%ff", "assertion=e30.e30.e30&grant_type=x"])
def test_odd_token_requests_get_400(raw: str) -> None:
    world = World()
    headers = {"content-type": "application/x-www-form-urlencoded"}
    for path in ("/token", "/oauth2/v3/token"):
        answer = world.client.post(path, content=raw, headers=headers)
        assert answer.status_code == 400 and json.loads(answer.text)["error"]
