"""A large send is written chunk by chunk (server_stub/rules/sending.py, docs/push-api.md): the same
answer as one unit, streamed; other requests answered between chunks; each chunk handed as it commits."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from fastapi import FastAPI
from pushkit import API_KEY, PushApi, device, reg
from starlette.testclient import TestClient
from stubkit import APP_CODE, Device

from contract import Platform
from server_stub import push_api, segments

SEGMENT = "chunked"


@pytest.fixture
def people(client: TestClient, push: PushApi, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Seven installations; the segment ``chunked`` holds them in a fixed order, with a disabled one,
    a person's second device and an id the store does not know among them."""
    found = [device(client, p, route=n + 1) for n, p in enumerate([Platform.ANDROID, Platform.IOS] * 3)]
    disabled = found[1]
    assert disabled.patch({"regEnabled": False}).status_code == 200
    ana = found[4]
    assert ana.personalize({"externalUserId": "ana"}).status_code == 200
    order = [found[0].reg_id, disabled.reg_id, "gone", found[2].reg_id, found[3].reg_id, ana.reg_id, found[5].reg_id]

    def segment_reg_ids(db: Any, account: str, app_code: str, name: str, now: Any = None) -> list[str]:
        return [str(r) for r in order] if name == SEGMENT else []

    monkeypatch.setattr(segments, "segment_reg_ids", segment_reg_ids, raising=False)
    return {"devices": found, "disabled": disabled, "ana": ana}


def request(people: dict[str, Any], **segment: Any) -> list[dict[str, Any]]:
    first = people["devices"][0]
    return [
        reg(first),  # reached again by the segment: once per message
        {"type": "SEGMENT", "segment": SEGMENT, **segment},
        {"type": "EXTERNAL_USER_ID", "externalUserId": "ana"},  # reached by the segment already: no entry
        reg("00000000-0000-4000-8000-000000000000"),  # unknown: an undeliverable entry, after the others
    ]


def shape(answer: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["destination"], m["status"]["name"]) for m in answer["messages"]]


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 6, 7, 1000])
def test_every_chunk_size_answers_what_one_unit_answers(
    push: PushApi, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    found: list[Device] = people["devices"]
    expected = [(found[0].reg_id, "PENDING_ACCEPTED")] + [
        (d.reg_id, "PENDING_ACCEPTED") for d in (found[2], found[3], found[4], found[5])
    ] + [("00000000-0000-4000-8000-000000000000", "UNDELIVERABLE_NOT_DELIVERED")]  # fmt: skip
    monkeypatch.setattr(push_api, "SEND_CHUNK", chunk)
    answer = push.send(request(people))
    assert shape(answer) == expected
    ids = [m["messageId"] for m in answer["messages"]]
    assert len(set(ids)) == len(ids)
    campaign = push.campaign(answer["bulkId"])
    assert (campaign["sent"], campaign["undeliverable"]) == (5, 1)


def test_the_answer_streams_only_past_one_chunk(
    push: PushApi, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # candidates: 1 (the registration) + 7 (the segment's ids) + 1 (ana) + 1 (the unknown one: none)
    body = {"messages": [push.message(request(people))]}
    monkeypatch.setattr(push_api, "SEND_CHUNK", 9)
    whole = push.call("POST", "/push/3/messages", json=body)
    assert whole.status_code == 200 and whole.headers["content-length"] == str(len(whole.content))
    monkeypatch.setattr(push_api, "SEND_CHUNK", 8)
    streamed = push.call("POST", "/push/3/messages", json=body)
    assert streamed.status_code == 200 and "content-length" not in streamed.headers
    assert streamed.headers["content-type"] == "application/json"
    assert shape(streamed.json()) == shape(whole.json())


def test_a_given_message_id_goes_to_the_first_eligible_installation_whatever_the_chunks(
    push: PushApi, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # chunk 1: the first candidate is reached already (by the registration), the second is
    # disabled, the third unknown: the id waits for the fourth
    monkeypatch.setattr(push_api, "SEND_CHUNK", 1)
    answer = push.send(request(people, messageId="for-the-segment"))
    given = [m["destination"] for m in answer["messages"] if m["messageId"] == "for-the-segment"]
    assert given == [people["devices"][2].reg_id]


def test_a_segment_that_reaches_nobody_is_one_undeliverable_entry_after_its_chunks(
    push: PushApi, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push_api, "SEND_CHUNK", 2)
    answer = push.send([{"type": "SEGMENT", "segment": SEGMENT, "targetOnlyPrimaryDevices": True}])
    assert shape(answer) == [(SEGMENT, "UNDELIVERABLE_NO_DESTINATION")]


def test_a_refused_large_send_writes_nothing(
    push: PushApi, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push_api, "SEND_CHUNK", 1)
    body = {"messages": [push.message(request(people)), push.message([reg(people["ana"])], sender="NOT-AN-APP")]}
    refused = push.call("POST", "/push/3/messages", json=body)
    assert refused.status_code == 400 and "messages[1].sender" in refused.text
    assert push.call("GET", "/inspect/campaigns").json()["total"] == 0
    assert push.deliveries() == []


# -- between chunks, on the server's event loop ---------------------------------------------------


async def _call(
    app: FastAPI,
    method: str,
    path: str,
    body: bytes = b"",
    on_body: Any = None,
    key: str = API_KEY,
    reg_id: str | None = None,
) -> tuple[int, bytes]:
    """One request through the ASGI app on this event loop; ``on_body(n)`` is awaited at each body part."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "scheme": "http",
             "path": path.split("?")[0], "raw_path": path.split("?")[0].encode(), "root_path": "",
             "query_string": path.partition("?")[2].encode(), "server": ("127.0.0.1", 80),
             "client": ("127.0.0.1", 5000),
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"authorization", f"App {key}".encode()),
                         (b"content-length", str(len(body)).encode())]}  # fmt: skip
    if reg_id is not None:
        scope["headers"].append((b"pushregistrationid", reg_id.encode()))
    sent = False
    status, parts = 0, []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            parts.append(message.get("body", b""))
            if on_body is not None:
                await on_body(len(parts))

    await app(scope, receive, send)
    return status, b"".join(parts)


def _segment_send(push: PushApi, bulk_id: str, *extra: dict[str, Any]) -> bytes:
    body = {"messages": [push.message([{"type": "SEGMENT", "segment": SEGMENT}, *extra])],
            "options": {"schedule": {"bulkId": bulk_id}}}  # fmt: skip
    return json.dumps(body).encode()


async def _writers_done() -> None:
    await asyncio.gather(*push_api._WRITERS, return_exceptions=True)


def test_other_requests_are_answered_and_deliveries_handed_while_the_send_is_written(
    app: FastAPI, push: PushApi, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push_api, "SEND_CHUNK", 2)
    seen: list[tuple[int, int]] = []

    async def between(part: int) -> None:
        status, campaign = await _call(app, "GET", "/inspect/campaigns/chunky")
        assert status == 200
        _, handed = await _call(app, "GET", "/provider/1/deliveries?limit=100", key=APP_CODE)
        seen.append((json.loads(campaign)["sent"], len(json.loads(handed)["deliveries"])))

    async def main() -> tuple[int, bytes]:
        return await _call(app, "POST", "/push/3/messages", _segment_send(push, "chunky"), on_body=between)

    status, answer = asyncio.run(main())
    assert status == 200
    assert [m["destination"] for m in json.loads(answer)["messages"]] == [
        d.reg_id for d in people["devices"] if d is not people["disabled"]
    ]
    sent = [n for n, _ in seen]
    # answered while the send was written: the count grew chunk by chunk (7 candidates in chunks
    # of 2), and every message was handed by the provider before the answer ended
    assert sent == sorted(sent) and sent[0] < 5 and sent[-1] == 5 and len(set(sent)) > 2
    assert sum(handed for _, handed in seen) == 5


def test_a_client_that_hangs_up_does_not_stop_the_send(
    app: FastAPI, push: PushApi, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push_api, "SEND_CHUNK", 1)

    async def hang_up(part: int) -> None:
        if part == 2:  # after the head and the first chunk's entries
            raise OSError("the client went away")

    async def main() -> None:
        with pytest.raises(OSError):
            await _call(app, "POST", "/push/3/messages", _segment_send(push, "gone"), on_body=hang_up)
        await _writers_done()

    asyncio.run(main())
    assert push.campaign("gone")["sent"] == 5


def test_a_message_id_written_by_another_request_meanwhile_is_a_duplicate_here(
    app: FastAPI, push: PushApi, people: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push_api, "SEND_CHUNK", 1)
    ana = people["ana"]
    late = {"type": "EXTERNAL_USER_ID", "externalUserId": "nobody-yet", "messageId": "shared-id"}
    other = json.dumps({"messages": [push.message([reg(ana, messageId="shared-id")])]}).encode()
    answers: list[bytes] = []

    async def meanwhile(part: int) -> None:
        if part == 2:  # the segment is being written; the later destination's id is still unwritten
            status, answer = await _call(app, "POST", "/push/3/messages", other)
            assert status == 200
            answers.append(answer)

    async def main() -> tuple[int, bytes]:
        return await _call(app, "POST", "/push/3/messages", _segment_send(push, "dup", late), on_body=meanwhile)

    status, answer = asyncio.run(main())
    assert status == 200
    (first,) = json.loads(answers[0])["messages"]
    assert (first["messageId"], first["status"]["name"]) == ("shared-id", "PENDING_ACCEPTED")  # first writer
    last = json.loads(answer)["messages"][-1]
    assert (last["messageId"], last["status"]["name"]) == ("shared-id", "REJECTED_DUPLICATE_MESSAGE_ID")


def test_a_device_that_logs_out_between_chunks_is_not_reached_by_its_persons_message(
    app: FastAPI, push: PushApi, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push_api, "SEND_CHUNK", 1)
    phones = [device(client, Platform.ANDROID, route=n + 1) for n in range(3)]
    for phone in phones:
        assert phone.personalize({"externalUserId": "dora"}).status_code == 200
    body = json.dumps({"messages": [push.message([{"type": "EXTERNAL_USER_ID", "externalUserId": "dora"}])]})

    async def log_out(part: int) -> None:
        if part == 2:  # the first phone is written; the last one logs out (on this event loop)
            status, _ = await _call(app, "POST", f"/mobile/1/appinstance/{phones[2].reg_id}/depersonalize",
                                    key=APP_CODE, reg_id=phones[2].reg_id)  # fmt: skip
            assert status == 200

    async def main() -> tuple[int, bytes]:
        return await _call(app, "POST", "/push/3/messages", body.encode(), on_body=log_out)

    status, answer = asyncio.run(main())
    assert status == 200
    assert [m["destination"] for m in json.loads(answer)["messages"]] == [phones[0].reg_id, phones[1].reg_id]
