"""Concurrent requests against the real server on loopback: one person per identity, no lost
update, one primary per person. Threads start together on a barrier; no sleeps."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from stubkit import Device, Inspector, ts

from contract import Dialect
from server_stub.serve import BackgroundServer, ServeConfig

pytestmark = pytest.mark.slow

N = 40
T = TypeVar("T")


def together(count: int, work: Callable[[int], T]) -> list[T]:
    """Run ``work(0..count-1)`` in threads released at once; re-raise the first failure."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException] = []

    def run(index: int) -> None:
        barrier.wait(timeout=30)
        try:
            results[index] = work(index)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a request did not finish"
    if errors:
        raise errors[0]
    return results


@pytest.fixture
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServeConfig(port=0)) as running:
        yield running


def pool(url: str) -> httpx.Client:
    """One thread-safe client with a connection per thread: N requests really in flight at once."""
    return httpx.Client(base_url=url, timeout=30, limits=httpx.Limits(max_connections=N, max_keepalive_connections=N))


@pytest.fixture
def devices(server: BackgroundServer) -> Iterator[list[Device]]:
    """N registered devices, half iOS and half Android."""
    with pool(server.url) as client:
        made = [Device(client, Dialect.IOS if i % 2 else Dialect.ANDROID, app_code=server.app_code) for i in range(N)]
        together(N, lambda i: made[i].register())
        yield made


@pytest.fixture
def inspector(server: BackgroundServer) -> Iterator[Inspector]:
    with httpx.Client(base_url=server.url) as client:
        yield Inspector(client)


def the_identity(index: int) -> dict[str, Any]:
    """One identity, written the ways devices write it."""
    phones = ["+385 91 777 7777", "385917777777", "00385917777777", "(385) 91-777-7777"]
    emails = ["Same@Example.com", "same@example.com", "SAME@EXAMPLE.COM"]
    return {
        "externalUserId": "same",
        "phones": [{"number": phones[index % len(phones)]}],
        "emails": [{"address": emails[index % len(emails)]}],
    }


def test_simultaneous_personalizations_of_one_identity_make_one_person(
    devices: list[Device], inspector: Inspector
) -> None:
    responses = together(N, lambda i: devices[i].personalize(the_identity(i), primary=True))
    assert Counter(r.status_code for r in responses) == {200: N}
    assert {r.json()["externalUserId"] for r in responses} == {"same"}
    persons = inspector.persons()
    assert len(persons) == 1
    person = inspector.person(persons[0]["id"])
    assert (person["externalUserId"], person["phones"], len(person["emails"])) == (
        "same",
        [{"number": "385917777777"}],
        1,
    )
    assert sorted(i["pushRegId"] for i in person["installations"]) == sorted(d.reg_id or "" for d in devices)
    assert [i["isPrimary"] for i in person["installations"]].count(True) == 1
    assert person["eventCounts"] == {"Install": N, "Personalize": N}
    # each answer saw the devices attached so far, itself included
    assert sorted(len(r.json()["instances"]) for r in responses) == list(range(1, N + 1))


def test_simultaneous_personalizations_of_several_identities(devices: list[Device], inspector: Inspector) -> None:
    responses = together(N, lambda i: devices[i].personalize({"emails": [{"address": f"user{i % 8}@example.com"}]}))
    assert Counter(r.status_code for r in responses) == {200: N}
    persons = inspector.persons()
    assert sorted(p["emails"][0]["address"] for p in persons) == [f"user{n}@example.com" for n in range(8)]
    assert sorted(len(p["instances"]) for p in persons) == [N // 8] * 8


def test_simultaneous_custom_attribute_patches_lose_nothing(devices: list[Device], inspector: Inspector) -> None:
    together(N, lambda i: devices[i].personalize({"externalUserId": "shared"}))
    responses = together(N, lambda i: devices[i].patch_user({"customAttributes": {f"from{i}": i}, "tags": ["t"]}))
    assert Counter(r.status_code for r in responses) == {200: N}
    assert inspector.find("shared")["customAttributes"] == {f"from{i}": i for i in range(N)}
    # and the same attribute from everyone: one value wins, of the right type
    responses = together(N, lambda i: devices[i].patch_user({"customAttributes": {"last": i}}))
    assert Counter(r.status_code for r in responses) == {200: N}
    assert inspector.find("shared")["customAttributes"]["last"] in range(N)


def test_simultaneous_first_values_fix_one_type(devices: list[Device]) -> None:
    together(N, lambda i: devices[i].personalize({"externalUserId": f"typed{i}"}))

    def value(index: int) -> int | str:
        return index if index % 2 else f"text{index}"

    responses = together(N, lambda i: devices[i].patch_user({"customAttributes": {"contested": value(i)}}))
    # whichever type came first won; every write of the other type is refused
    assert Counter(r.status_code for r in responses) == {200: N // 2, 400: N // 2}
    winners = {type(value(i)) for i, r in enumerate(responses) if r.status_code == 200}
    assert len(winners) == 1


def test_simultaneous_primary_requests_leave_one_primary(devices: list[Device], inspector: Inspector) -> None:
    together(N, lambda i: devices[i].personalize({"externalUserId": "primary"}))
    responses = together(N, lambda i: devices[i].patch({"isPrimary": True}))
    assert Counter(r.status_code for r in responses) == {200: N}
    person = inspector.find("primary")
    assert [i["isPrimary"] for i in person["installations"]].count(True) == 1
    # and from siblings, each naming the next device
    responses = together(N, lambda i: devices[i].patch({"isPrimary": True}, target=devices[(i + 1) % N].reg_id))
    assert Counter(r.status_code for r in responses) == {200: N}
    assert [i["isPrimary"] for i in inspector.find("primary")["installations"]].count(True) == 1
    responses = together(N, lambda i: devices[i].personalize({"externalUserId": "primary"}, primary=True))
    assert Counter(r.status_code for r in responses) == {200: N}
    assert [i["isPrimary"] for i in inspector.find("primary")["installations"]].count(True) == 1


def test_simultaneous_retries_of_one_session_report_count_one_launch(
    server: BackgroundServer, inspector: Inspector
) -> None:
    with pool(server.url) as client:
        device = Device(client, Dialect.ANDROID, app_code=server.app_code)
        device.register()
        # the same report, re-sent N times at once, each with a later end of the last session
        responses = together(N, lambda i: device.session([ts(0)], {ts(-100): ts(-60 + i)}))
        assert Counter(r.status_code for r in responses) == {200: N}
        assert Counter(inspector.names(pushRegId=device.reg_id)) == {"AppLaunch": 2, "Install": 1}
        sessions = inspector.installation(device.reg_id or "")["sessions"]
        assert [(s["start"], s["end"]) for s in sessions] == [(ts(-100), ts(-60 + N - 1)), (ts(0), None)]


def test_two_servers_sharing_one_file(tmp_path: Path) -> None:
    """One file serves one server at a time (it holds ``F.lock``, server_stub/storage.py): a second
    server on it is refused at start, and the first one keeps its unique keys and serves on."""
    config = ServeConfig(port=0, db=tmp_path / "shared.db", app_codes=["SHARED-CODE"])
    with BackgroundServer(config) as one, pool(one.url) as first:
        with pytest.raises(RuntimeError, match=r"shared\.db is in use by another mobsim server"):
            BackgroundServer(config)
        devices = [Device(first, Dialect.IOS, app_code="SHARED-CODE") for i in range(N)]
        together(N, lambda i: devices[i].register())
        responses = together(N, lambda i: devices[i].personalize(the_identity(i), primary=True))
        assert Counter(r.status_code for r in responses) == {200: N}
        persons = Inspector(first).persons()
        assert [(p["externalUserId"], len(p["instances"])) for p in persons] == [("same", N)]
        assert [i["isPrimary"] for i in persons[0]["instances"]].count(True) == 1
