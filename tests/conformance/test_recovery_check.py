"""The recovery checks (`NOR-003` to `NOR-006`) start from a real ``NO_REGISTRATION`` and fail against a
server that cannot recover: one that answers ``NO_REGISTRATION`` forever, one that does not forget,
the old DELETE and sibling rules."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
from brokenkit import Mutate, Req
from starlette.types import ASGIApp

from conformance import CATALOGUE, Verdict, run_checks
from conformance.model import Result
from contract import ErrorCode
from server_stub import create_app
from server_stub.errors import ApiError
from server_stub.rules import context, installations

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CODE = "RECOVERY-CODE"
RECOVERY = ("NOR-003", "NOR-004", "NOR-005", "NOR-006")


def run(app: ASGIApp, *ids: str, inspection: bool | None = None) -> dict[str, Result]:
    checks = [c for c in CATALOGUE if c.id in (ids or RECOVERY)]
    with TestClient(app, base_url="http://testserver") as client:
        report = run_checks(client, "http://testserver", CODE, run_id="recovery", checks=checks, inspection=inspection)
    return {r.name: r for r in report.results}


def base() -> ASGIApp:
    return create_app(memory=True, app_codes=[CODE])


def verdicts(results: dict[str, Result]) -> dict[str, str]:
    return {name: r.verdict.value for name, r in results.items()}


ALL_PASS = {
    "NOR-003[android]": "pass",
    "NOR-004[ios]": "pass",
    "NOR-005[ios]": "pass",
    "NOR-006[ios]": "pass",
    "NOR-006[android]": "pass",
}


def test_the_reference_server_recovers() -> None:
    assert verdicts(run(base())) == ALL_PASS


def test_the_android_check_drives_the_sdk_recovery_from_a_real_no_registration() -> None:
    result = run(base(), "NOR-003")["NOR-003[android]"]
    lines = [e.line().split(" -> ")[0].replace("http://testserver", "").split("?")[0] for e in result.exchanges]
    reg_id = json.loads(result.exchanges[0].response_body)["pushRegId"]
    app = f"/mobile/1/appinstance/{reg_id}"
    assert lines[:5] == [
        "POST /mobile/1/appinstance",
        f"POST {app}/personalize",
        f"POST /inspect/installations/{reg_id}/uninstall",
        f"GET {app}",
        f"POST {app}",
    ]
    assert lines[5] == f"POST {app}/repersonalize"
    gone, patch = result.exchanges[3], result.exchanges[4]
    assert (gone.status, gone.message_id) == (404, "NO_REGISTRATION")
    assert patch.request_headers["X-HTTP-Method-Override"] == "PATCH"
    assert patch.request_headers["pushregistrationid"] == reg_id
    body = json.loads(patch.request_body)
    assert body["isPrimary"] is True and body["regEnabled"] is True and body["pushServiceToken"]
    assert {"os", "osVersion", "sdkVersion", "deviceModel", "pushServiceType"} <= set(body)
    assert patch.status == 200


def test_a_server_that_answers_no_registration_forever_fails_the_android_check(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(installations, "_revive", lambda *args: None)  # the tombstone is never revived
    results = run(base())
    assert verdicts(results) == {**ALL_PASS, "NOR-003[android]": "fail"}
    failed = results["NOR-003[android]"]
    assert "the recovery PATCH of the same pushRegId" in failed.expected
    assert failed.observed.startswith("404") and "NO_REGISTRATION" in failed.observed
    assert failed.exchange is not None and failed.exchange.request_headers.get("X-HTTP-Method-Override") == "PATCH"


def _never_forgets(req: Req) -> tuple[int, dict[str, str], bytes] | None:
    if req.path.startswith("/inspect/installations/") and req.path.endswith("/uninstall"):
        return 200, {"content-type": "application/json", "content-length": "2"}, b"{}"
    return None


def test_a_target_that_does_not_forget_fails_instead_of_passing_on_an_active_registration() -> None:
    results = run(Mutate(base(), request=_never_forgets), "NOR-003", "NOR-004")
    for name in ("NOR-003[android]", "NOR-004[ios]"):
        assert results[name].verdict is Verdict.FAIL
        assert "a 4xx with messageId NO_REGISTRATION" in results[name].expected
        assert results[name].observed.startswith("200 messageId=None")


def test_without_the_inspection_api_the_checks_that_forget_are_skipped_with_the_reason() -> None:
    results = run(base(), inspection=False)
    assert verdicts(results) == {**ALL_PASS, "NOR-003[android]": "skip", "NOR-004[ios]": "skip",
                                 "NOR-006[ios]": "skip", "NOR-006[android]": "skip"}  # fmt: skip
    reason = results["NOR-003[android]"].reason
    assert reason.startswith("needs the inspection API, which the target does not serve")
    assert "POST /inspect/installations/{pushRegId}/uninstall" in reason
    assert results["NOR-003[android]"].requests == 0


def test_delete_of_a_gone_registration_answered_no_registration_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def delete_installation(ctx: Any, reg_id: str) -> None:  # the old rule: the target must be active
        target = ctx.installation(reg_id)
        if ctx.caller.reg_id is not None and ctx.caller.reg_id != reg_id:
            ctx.installation(ctx.caller.reg_id)
        installations._end(ctx, target, "deleted")

    monkeypatch.setattr(installations, "delete_installation", delete_installation)
    monkeypatch.setattr("server_stub.rules.delete_installation", delete_installation)
    results = run(base())
    assert verdicts(results) == {**ALL_PASS, "NOR-005[ios]": "fail"}
    assert "DELETE of the same pushRegId again" in results["NOR-005[ios]"].expected


def test_a_gone_sibling_answered_no_registration_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    real = context.Context.sibling

    def sibling(self: context.Context, reg_id: str) -> context.Installation:
        try:
            return real(self, reg_id)
        except ApiError as exc:
            raise ApiError(ErrorCode.NO_REGISTRATION, exc.text) from None  # the old rule

    monkeypatch.setattr(context.Context, "sibling", sibling)
    results = run(base())
    assert verdicts(results) == {**ALL_PASS, "NOR-006[ios]": "fail", "NOR-006[android]": "fail"}
    assert "the primary PATCH of the gone sibling" in results["NOR-006[android]"].expected
