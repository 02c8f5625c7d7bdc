"""``mobsim push``: the request it builds from its options, and every exit code (the backend mocked)."""

from __future__ import annotations

import json

import httpx
import pytest
import respx

from mobsim.cli import build_parser, main
from mobsim.exitcodes import FAILED, PASSED, USAGE
from mobsim.push import build_request

URL = "http://127.0.0.1:9"
BASE = ["push", "--target", URL, "--api-key", "KEY", "--text", "Hi"]


def parsed(*extra: str) -> object:
    return build_parser().parse_args([*BASE, *extra])


def test_every_destination_kind_and_option_becomes_the_documented_request() -> None:
    args = parsed("--segment", "VIP", "--external-user-id", "u1", "--external-user-id", "u2", "--registration-id",
                  "R1", "--email", "a@example.com", "--phone-number", "385911234567", "--primary-only", "--title",
                  "T", "--silent", "--validity-minutes", "30", "--bulk-id", "B-1", "--send-at",
                  "2026-12-01T18:00:00.000+0000")  # fmt: skip
    body = build_request(args, "APP")  # type: ignore[arg-type]
    (message,) = body["messages"]
    assert body["options"] == {"schedule": {"bulkId": "B-1"}}
    assert message["sender"] == "APP"
    assert message["destinations"] == [
        {"type": "SEGMENT", "segment": "VIP", "targetOnlyPrimaryDevices": True},
        {"type": "EXTERNAL_USER_ID", "externalUserId": "u1", "targetOnlyPrimaryDevices": True},
        {"type": "EXTERNAL_USER_ID", "externalUserId": "u2", "targetOnlyPrimaryDevices": True},
        {"type": "REGISTRATION", "pushRegistrationId": "R1", "targetOnlyPrimaryDevices": True},
        {"type": "EMAIL", "email": "a@example.com", "targetOnlyPrimaryDevices": True},
        {"type": "PHONE_NUMBER", "phoneNumber": "385911234567", "targetOnlyPrimaryDevices": True},
    ]
    assert message["content"] == {"text": "Hi", "type": "TEXT", "title": "T"}
    assert message["options"] == {"isSilent": True, "validityPeriod": {"amount": 30, "timeUnit": "MINUTES"},
                                  "sendAt": "2026-12-01T18:00:00.000+0000"}  # fmt: skip


def test_a_plain_send_has_no_options() -> None:
    body = build_request(parsed("--external-user-id", "u1"), "APP")  # type: ignore[arg-type]
    (message,) = body["messages"]
    assert "options" not in message and "options" not in body
    assert message["destinations"] == [{"type": "EXTERNAL_USER_ID", "externalUserId": "u1"}]


def test_it_sends_with_the_api_key_and_the_only_application_and_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url=URL) as router:
        router.get("/inspect/applications").respond(200, json={"applications": [{"code": "APP-1"}]})
        send = router.post("/push/3/messages").respond(200, json={"bulkId": "B", "messages": [{"messageId": "m"}] * 3})
        assert main([*BASE, "--segment", "VIP"]) == PASSED
    request = send.calls.last.request
    assert request.headers["Authorization"] == "App KEY"
    assert json.loads(request.content)["messages"][0]["sender"] == "APP-1"
    assert "bulk B: 3 messages" in capsys.readouterr().out


def test_a_campaign_that_reaches_nobody_exits_1() -> None:
    with respx.mock(base_url=URL) as router:
        router.post("/push/3/messages").respond(200, json={"bulkId": "B", "messages": []})
        assert main([*BASE, "--app-code", "APP", "--segment", "Nobody"]) == FAILED


def test_a_refused_send_exits_2_with_the_backends_error(capsys: pytest.CaptureFixture[str]) -> None:
    body = {"requestError": {"serviceException": {"messageId": "UNAUTHORIZED", "text": "Invalid login details"}}}
    with respx.mock(base_url=URL) as router:
        router.post("/push/3/messages").respond(401, json=body)
        assert main([*BASE, "--app-code", "APP", "--segment", "VIP"]) == USAGE
    assert "refused the send (401): UNAUTHORIZED: Invalid login details" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--app-code", "APP"], "say who gets it"),
        (["--app-code", "APP", "--segment", "VIP", "--text", " "], "--text must not be empty"),
        (["--segment", "VIP"], "the target has 2 applications"),
    ],
)
def test_bad_options_exit_2_before_anything_is_sent(capsys: pytest.CaptureFixture[str], argv: list[str],
                                                    message: str) -> None:  # fmt: skip
    with respx.mock(base_url=URL, assert_all_called=False) as router:
        router.get("/inspect/applications").respond(200, json=[{"code": "A"}, {"code": "B"}])
        send = router.post("/push/3/messages").respond(200, json={"messages": []})
        assert main([*BASE, *argv]) == USAGE
        assert not send.called
    assert message in capsys.readouterr().err


def test_a_remote_target_needs_confirmation(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["push", "--target", "https://push.example.com", "--api-key", "K", "--text", "x", "--segment", "S"]
    assert main(argv) == USAGE
    assert "--allow-remote-target" in capsys.readouterr().err


def test_an_unreachable_target_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with respx.mock(base_url=URL) as router:
        router.post("/push/3/messages").mock(side_effect=httpx.ConnectError("refused"))
        assert main([*BASE, "--app-code", "APP", "--segment", "VIP"]) == USAGE
    assert "cannot be reached" in capsys.readouterr().err
