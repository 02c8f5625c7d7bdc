"""Faults on demand for FCM and HMS (``create_providers_app(faults=...)``, ``mobsim providers --fault``)."""

from __future__ import annotations

import json

import pytest
from providerkit import World, fcm_body, hms_body, token_of

from contract.dialect import Platform
from mobsim import exitcodes
from mobsim.cli import main
from server_stub.faults import FAULT_HEADER, FaultRegistry, parse_faults

FCM_SEND = "/v1/projects/p/messages:send"
HMS_SEND = "/v1/101234567/messages:send"


def world_with(*specs: str) -> World:
    return World(faults=FaultRegistry(parse_faults(specs)))


def fcm_send(world: World, access: str) -> int:
    body = json.dumps(fcm_body(token_of(Platform.ANDROID, 2)))
    answer = world.client.post(FCM_SEND, content=body, headers={"Authorization": f"Bearer {access}"})
    return answer.status_code


def test_a_503_fault_on_fcm_sends_answers_503_journals_nothing_and_counts() -> None:
    world = world_with("status=503,endpoint=/v1/projects/*/messages:send")
    access = world.fcm_token()  # the token endpoint is not under the glob: it is not faulted
    body = json.dumps(fcm_body(token_of(Platform.ANDROID, 2)))
    answer = world.client.post(FCM_SEND, content=body, headers={"Authorization": f"Bearer {access}"})
    assert answer.status_code == 503
    assert answer.headers[FAULT_HEADER] == "1"
    assert world.journal.summary()["accepted"] == 0
    assert world.journal.summary()["rejected"] == 0
    listed = world.client.get("/inspect/faults").json()["faults"]
    assert [(f["id"], f["matched"], f["injected"]) for f in listed] == [(1, 1, 1)]


def test_the_glob_spares_hms_and_a_deleted_fault_stops_acting() -> None:
    world = world_with("status=503,endpoint=/v1/projects/*/messages:send")
    access = world.hms_token()
    auth = {"Authorization": f"Bearer {access}"}
    hms = world.client.post(HMS_SEND, content=json.dumps(hms_body([token_of(Platform.HUAWEI, 3)])), headers=auth)
    assert hms.status_code == 200, hms.text
    assert world.client.get("/inspect/faults").json()["faults"][0]["matched"] == 0
    assert world.request("DELETE", "/inspect/faults/1").json()["injected"] == 0
    assert fcm_send(world, world.fcm_token()) == 200
    assert world.journal.summary()["accepted"] == 2


def test_faults_added_at_run_time_act_and_bad_ones_are_400() -> None:
    world = world_with()
    access = world.fcm_token()
    assert world.client.post("/inspect/faults", json={"spec": "status=429,rate=1"}).status_code == 201
    assert fcm_send(world, access) == 429
    bad = world.client.post("/inspect/faults", json={"spec": "status=abc"})
    assert bad.status_code == 400
    assert "status" in bad.text
    assert world.request("DELETE", "/inspect/faults/9").status_code == 404
    assert world.request("DELETE", "/inspect/faults").json() == {"deleted": 1}
    assert fcm_send(world, access) == 200


def test_without_a_registry_there_is_no_inspect_route() -> None:
    assert World().client.get("/inspect/faults").status_code == 404


def test_a_bad_fault_spec_exits_2_naming_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["providers", "--fault", "status=abc"]) == exitcodes.USAGE
    assert "--fault 'status=abc'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("platform", "fcm", "hms", "token_endpoints_faulted"),
    [("android", 503, 200, ("fcm",)), ("huawei", 200, 503, ("hms",)), ("ios", 200, 200, ())],
)
def test_platform_tells_fcm_from_hms_and_spares_the_feed_and_the_journal(
    platform: str, fcm: int, hms: int, token_endpoints_faulted: tuple[str, ...]
) -> None:
    world = world_with()
    fcm_access, hms_access = world.fcm_token(), world.hms_token()  # before the fault
    assert world.client.post("/inspect/faults", json={"spec": f"status=503,platform={platform}"}).status_code == 201
    assert fcm_send(world, fcm_access) == fcm
    body = json.dumps(hms_body([token_of(Platform.HUAWEI, 3)]))
    sent = world.client.post(HMS_SEND, content=body, headers={"Authorization": f"Bearer {hms_access}"})
    assert sent.status_code == hms
    form = {"grant_type": "client_credentials", "client_id": "101234567", "client_secret": "s"}
    assert (world.client.post("/oauth2/v3/token", data=form).status_code == 503) is ("hms" in token_endpoints_faulted)
    fcm_token = world.client.post("/token", data={"grant_type": "x"})
    assert (fcm_token.status_code == 503) is ("fcm" in token_endpoints_faulted)
    assert world.client.get("/provider/1/deliveries").status_code == 200
    assert world.client.get("/journal").status_code == 200
