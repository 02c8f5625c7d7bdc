"""What the push providers answered, written back (server_stub/rules/relaying.py ``settle_sends``) on a
real in-memory server: a retry is pending again and handed at its time; a gone token makes the message
``UNDELIVERABLE`` / ``EC_DEVICE_APP_UNINSTALL`` and uninstalls the installation that still holds it; a
rejected send is ``UNDELIVERABLE``; a message that is no longer pending is left as it is. The Push API's
reports and logs afterwards say so."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from pushkit import PushApi, device, reg
from starlette.testclient import TestClient
from stubkit import APP_CODE, OTHER_APP, Clock, Device, Inspector

from contract import Platform
from server_stub.rules.messages import epoch_ms
from server_stub.rules.relaying import settle_sends
from server_stub.server import ProfileServer


def settle(app: FastAPI, *settled: tuple[str, str, int]) -> int:
    server: ProfileServer = app.state.profiles
    return server.run(server.admin(), settle_sends, list(settled))


def row(app: FastAPI, message_id: str) -> dict[str, Any]:
    server: ProfileServer = app.state.profiles
    with server.store.transaction() as db:
        found = db.execute(
            "SELECT status, error, handed_at, deliver_at, done_at, delivered_at FROM messages WHERE message_id=?",
            (message_id,),
        ).fetchone()
    return dict(found)


def sent_one(push: PushApi, phone: Device, bulk: str | None = None, **message: Any) -> str:
    schedule = {"bulkId": bulk} if bulk else None
    (message_id,) = push.ids([reg(phone)], schedule=schedule, **message)
    return message_id


def handed(push: PushApi, app_code: str = APP_CODE) -> list[str]:
    return [d["messageId"] for d in push.deliveries(app_code=app_code, limit=1000)]


def log_status(push: PushApi, message_id: str) -> tuple[str, str]:
    (entry,) = push.logs(messageId=message_id)["results"]
    return entry["status"]["name"], entry["error"]["name"]


def now_ms(clock: Clock) -> int:
    return epoch_ms(clock())


# ---------------------------------------------------------------------------------------------
# retry


def test_a_retry_is_pending_again_and_handed_once_it_is_due(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock
) -> None:
    phone = device(client, Platform.ANDROID, route=1)
    message_id = sent_one(push, phone)
    assert handed(push) == [message_id]
    assert log_status(push, message_id) == ("PENDING_ENROUTE", "NO_ERROR")
    retry_at = now_ms(clock) + 1500
    assert settle(app, (message_id, "retry", retry_at)) == 0
    found = row(app, message_id)
    assert (found["status"], found["handed_at"], found["deliver_at"], found["error"]) == (
        "PENDING", None, retry_at, None)  # fmt: skip
    assert log_status(push, message_id) == ("PENDING_ACCEPTED", "NO_ERROR")
    assert handed(push) == []
    clock.advance(1.499)
    assert handed(push) == []  # not before its time
    clock.advance(0.001)
    assert handed(push) == [message_id]  # at its time, once
    assert handed(push) == []
    assert push.reports() == []  # not final


def test_a_retry_due_at_once_is_handed_at_once(app: FastAPI, push: PushApi, client: TestClient) -> None:
    """What the relay writes for the messages it claimed but never sent when it stops (retry_at 0)."""
    phone = device(client, Platform.IOS, route=2)
    first, second = sent_one(push, phone), sent_one(push, phone)
    assert handed(push) == [first, second]
    assert settle(app, (first, "retry", 0), (second, "retry", 0)) == 0
    assert handed(push) == [first, second]


# ---------------------------------------------------------------------------------------------
# gone


@pytest.mark.parametrize("platform", list(Platform), ids=str)
def test_a_gone_token_makes_the_message_undeliverable_and_uninstalls_its_installation(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, inspector: Inspector, platform: Platform
) -> None:
    phone = device(client, platform, route=3)
    message_id = sent_one(push, phone, "gone-1")
    assert handed(push) == [message_id]
    clock.advance(2)
    assert settle(app, (message_id, "gone", 0)) == 1
    found = row(app, message_id)
    assert (found["status"], found["error"], found["done_at"]) == (
        "UNDELIVERABLE", "EC_DEVICE_APP_UNINSTALL", now_ms(clock))  # fmt: skip
    assert inspector.installation(phone.reg_id or "")["state"] == "uninstalled"
    uninstalls = [e for e in inspector.events(pushRegId=phone.reg_id) if e["definitionId"] == "Uninstall"]
    assert [e["application"] for e in uninstalls] == [APP_CODE]
    (report,) = push.reports(bulkId="gone-1")
    assert (report["messageId"], report["doneAt"]) == (message_id, "2024-05-01T12:00:02.000+0000")
    assert (report["status"]["groupName"], report["status"]["name"]) == ("UNDELIVERABLE", "UNDELIVERABLE_NOT_DELIVERED")
    assert (report["error"]["name"], report["error"]["permanent"]) == ("EC_DEVICE_APP_UNINSTALL", True)
    assert handed(push) == []
    # the backend knows now: a later send to that registration is refused as uninstalled
    later = sent_one(push, phone, "gone-2")
    assert log_status(push, later) == ("UNDELIVERABLE_NOT_DELIVERED", "EC_DEVICE_APP_UNINSTALL")
    assert handed(push) == []


def test_a_gone_token_the_installation_has_since_replaced_leaves_it_active(
    app: FastAPI, push: PushApi, client: TestClient, inspector: Inspector
) -> None:
    phone = device(client, Platform.ANDROID, route=4)
    message_id = sent_one(push, phone)
    assert handed(push) == [message_id]
    refreshed = phone.patch({"pushServiceToken": "a-fresh-token-" + "0" * 40})
    assert refreshed.status_code == 200, refreshed.text
    assert settle(app, (message_id, "gone", 0)) == 0
    assert (row(app, message_id)["status"], row(app, message_id)["error"]) == (
        "UNDELIVERABLE", "EC_DEVICE_APP_UNINSTALL")  # fmt: skip
    assert inspector.installation(phone.reg_id or "")["state"] == "active"
    assert "Uninstall" not in inspector.names(pushRegId=phone.reg_id)


def test_two_gone_messages_of_one_installation_uninstall_it_once(
    app: FastAPI, push: PushApi, client: TestClient, inspector: Inspector
) -> None:
    phone = device(client, Platform.HUAWEI, route=5)
    first, second = sent_one(push, phone), sent_one(push, phone)
    assert settle(app, (first, "gone", 0), (second, "gone", 0), (first, "gone", 0)) == 1
    assert [row(app, m)["status"] for m in (first, second)] == ["UNDELIVERABLE", "UNDELIVERABLE"]
    assert inspector.names(pushRegId=phone.reg_id).count("Uninstall") == 1


@pytest.mark.parametrize("ended", ["deleted", "uninstalled"])
def test_a_gone_message_of_an_installation_that_already_ended_is_undeliverable(
    app: FastAPI, push: PushApi, client: TestClient, inspector: Inspector, ended: str
) -> None:
    phone = device(client, Platform.IOS, route=6)
    message_id = sent_one(push, phone)
    assert handed(push) == [message_id]
    if ended == "deleted":
        assert phone.delete(phone.reg_id or "").status_code < 300
    else:
        settle(app, (sent_one(push, phone), "gone", 0))  # another message's feedback came first
    assert inspector.installation(phone.reg_id or "")["state"] == ended
    assert settle(app, (message_id, "gone", 0)) == 0
    assert (row(app, message_id)["status"], row(app, message_id)["error"]) == (
        "UNDELIVERABLE", "EC_DEVICE_APP_UNINSTALL")  # fmt: skip
    assert inspector.installation(phone.reg_id or "")["state"] == ended


def test_a_gone_token_of_another_application_uninstalls_in_that_application(
    app: FastAPI, push: PushApi, client: TestClient, inspector: Inspector
) -> None:
    theirs = device(client, Platform.ANDROID, route=7, app_code=OTHER_APP)
    mine = device(client, Platform.ANDROID, route=8)
    (message_id,) = push.ids([reg(theirs)], sender=OTHER_APP)
    assert settle(app, (message_id, "gone", 0)) == 1
    assert inspector.installation(theirs.reg_id or "")["state"] == "uninstalled"
    assert inspector.installation(mine.reg_id or "")["state"] == "active"
    uninstall = [e for e in inspector.events(pushRegId=theirs.reg_id) if e["definitionId"] == "Uninstall"]
    assert [e["application"] for e in uninstall] == [OTHER_APP]


# ---------------------------------------------------------------------------------------------
# rejected


def test_a_rejected_send_is_undeliverable_and_leaves_the_installation_alone(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, inspector: Inspector
) -> None:
    phone = device(client, Platform.IOS, route=9)
    message_id = sent_one(push, phone, "rejected")
    assert handed(push) == [message_id]
    clock.advance(1)
    assert settle(app, (message_id, "rejected", 0)) == 0
    found = row(app, message_id)
    assert (found["status"], found["error"], found["done_at"]) == ("UNDELIVERABLE", "PROVIDER_REJECTED", now_ms(clock))
    assert inspector.installation(phone.reg_id or "")["state"] == "active"
    assert "Uninstall" not in inspector.names(pushRegId=phone.reg_id)
    (report,) = push.reports(bulkId="rejected")
    # no error code: the provider's reason is in the relay's counts (GET /inspect/relay)
    assert (report["status"]["name"], report["error"]["name"]) == ("UNDELIVERABLE_NOT_DELIVERED", "NO_ERROR")
    assert handed(push) == []


# ---------------------------------------------------------------------------------------------
# what is left alone


@pytest.mark.parametrize("kind", ["retry", "gone", "rejected"])
def test_a_message_delivered_before_its_answer_is_settled_is_left_as_it_is(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, inspector: Inspector, kind: str
) -> None:
    phone = device(client, Platform.IOS, route=10)  # iOS reports deliveries (Android syncs them)
    message_id = sent_one(push, phone)
    assert handed(push) == [message_id]
    clock.advance(1)
    assert phone.delivery_report([message_id]).status_code == 200
    before = row(app, message_id)
    assert before["status"] == "DELIVERED"
    clock.advance(1)
    assert settle(app, (message_id, kind, now_ms(clock) + 500)) == 0
    assert row(app, message_id) == before
    assert inspector.installation(phone.reg_id or "")["state"] == "active"
    assert log_status(push, message_id) == ("DELIVERED_TO_HANDSET", "NO_ERROR")
    clock.advance(1)
    assert handed(push) == []


def test_sent_answers_and_unknown_messages_change_nothing(
    app: FastAPI, push: PushApi, client: TestClient, inspector: Inspector
) -> None:
    phone = device(client, Platform.HUAWEI, route=11)
    message_id = sent_one(push, phone)
    assert handed(push) == [message_id]
    before = row(app, message_id)
    assert settle(app, (message_id, "sent", 0), ("no-such-message", "gone", 0), ("no-such-message", "retry", 0),
                  ("no-such-message", "rejected", 0)) == 0  # fmt: skip
    assert row(app, message_id) == before
    assert log_status(push, message_id) == ("PENDING_ENROUTE", "NO_ERROR")
    assert inspector.installation(phone.reg_id or "")["state"] == "active"


def test_each_message_of_a_batch_gets_its_own_answer(
    app: FastAPI, push: PushApi, client: TestClient, clock: Clock, inspector: Inspector
) -> None:
    phones = [device(client, platform, route=20 + i) for i, platform in enumerate(Platform)]
    ids = push.ids([reg(p) for p in phones], schedule={"bulkId": "mixed"})
    assert sorted(handed(push)) == sorted(ids)
    retry_at = now_ms(clock) + 250
    assert settle(app, (ids[0], "retry", retry_at), (ids[1], "gone", 0), (ids[2], "rejected", 0)) == 1
    assert [(row(app, m)["status"], row(app, m)["error"]) for m in ids] == [
        ("PENDING", None),
        ("UNDELIVERABLE", "EC_DEVICE_APP_UNINSTALL"),
        ("UNDELIVERABLE", "PROVIDER_REJECTED"),
    ]
    assert [inspector.installation(p.reg_id or "")["state"] for p in phones] == ["active", "uninstalled", "active"]
    assert sorted(r["messageId"] for r in push.reports(bulkId="mixed")) == sorted(ids[1:])
    clock.advance(0.25)
    assert handed(push) == [ids[0]]
