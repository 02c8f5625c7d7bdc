"""`mobsim check` against the bundled reference server: every check passes; reporters and the CLI."""

from __future__ import annotations

import json
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from brokenkit import Mutate, Req, error, rename_code

from conformance import CATALOGUE, Scope, Verdict, run_checks
from conformance.model import NO_API_KEY, REFERENCES
from conformance.report import print_report, write_json, write_junit
from mobsim.cli import main
from server_stub import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

CODE = "SUITE-CODE"
API_KEY = "SUITE-PUSH-KEY"


def test_the_reference_server_passes_every_check_on_every_platform(tmp_path: Path) -> None:
    app = create_app(memory=True, app_codes=[CODE], api_keys=[API_KEY])
    with TestClient(app, base_url="http://testserver") as client:
        report = run_checks(client, "http://testserver", CODE, api_key=API_KEY)
    assert report.inspection and report.push_api
    assert [r.name for r in report.results if r.verdict is not Verdict.PASS] == []
    ran = {(r.check.id, r.platform) for r in report.results}
    for check in CATALOGUE:
        expected = {"ios", "android"} if check.scope is Scope.ANY else {check.scope.value}
        assert {p for i, p in ran if i == check.id} == expected
    write_junit(report, tmp_path / "junit.xml")
    suite = ET.parse(tmp_path / "junit.xml").getroot()
    assert suite.get("tests") == str(len(report.results)) and suite.get("failures") == "0"
    write_json(report, tmp_path / "report.json")
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["verdict"] == "pass" and data["counts"]["pass"] == len(report.results) and data["pushApi"] is True
    assert {r["id"] for r in data["results"] if r["needsApiKey"]} == {c.id for c in CATALOGUE if c.needs_api_key}


def test_every_check_states_what_it_protects_with_the_reference() -> None:
    ids = [c.id for c in CATALOGUE]
    assert len(ids) == len(set(ids))
    for check in CATALOGUE:
        assert check.statement and "\n" not in check.statement
        assert any(ref in check.protects for ref in REFERENCES), check.id
    areas = {c.area for c in CATALOGUE}
    assert areas == {"REG", "PAT", "PER", "DEP", "PRI", "ATT", "EVT", "SES", "NOR", "ERR", "AUTH", "MSG", "DLR",
                     "SEEN", "MO", "RPT"}  # fmt: skip
    assert {c.area for c in CATALOGUE if c.needs_api_key} == {"MSG", "DLR", "SEEN", "RPT"}


def test_without_a_push_api_key_the_checks_that_send_are_skipped_with_the_reason(
    capsys: pytest.CaptureFixture[str],
) -> None:
    checks = [c for c in CATALOGUE if c.area in ("MSG", "MO", "RPT")]
    with TestClient(create_app(memory=True, app_codes=[CODE]), base_url="http://testserver") as client:
        report = run_checks(client, "http://testserver", CODE, checks=checks, platforms=["ios"])
    assert report.passed and not report.push_api
    skipped = {r.check.id for r in report.results if r.verdict is Verdict.SKIP}
    assert skipped == {c.id for c in checks if c.needs_api_key} and {"MSG-001", "MO-001"} <= {
        r.check.id for r in report.results if r.verdict is Verdict.PASS
    }
    assert all(r.reason == NO_API_KEY and r.requests == 0 for r in report.results if r.verdict is Verdict.SKIP)
    print_report(report)
    assert "No Push API key: the checks that send a message were skipped" in capsys.readouterr().out


def test_without_the_inspection_api_its_checks_are_skipped_not_failed() -> None:
    def no_inspection(req: Req) -> tuple[int, dict[str, str], bytes] | None:
        return error(404, "NOT_FOUND") if req.path.startswith("/inspect") else None

    app = Mutate(create_app(memory=True, app_codes=[CODE], api_keys=[API_KEY]), request=no_inspection)
    with TestClient(app, base_url="http://testserver") as client:
        report = run_checks(client, "http://testserver", CODE, platforms=["android"], api_key=API_KEY)
    assert not report.inspection and report.passed
    skipped = {r.check.id for r in report.results if r.verdict is Verdict.SKIP}
    assert skipped == {c.id for c in CATALOGUE if c.needs_inspection and c.platforms(("android",))}
    assert all(r.platform == "android" for r in report.results)


def test_a_failure_shows_expected_observed_and_the_exchange(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    def no_content_length(
        req: Req, status: int, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        return status, {k: v for k, v in headers.items() if k != "content-length" or status < 400}, body

    app = Mutate(create_app(memory=True, app_codes=[CODE]), response=no_content_length)
    checks = [c for c in CATALOGUE if c.id in ("ERR-001", "REG-001")]
    report = run_checks(TestClient(app, base_url="http://testserver"), "http://testserver", CODE, checks=checks)
    assert [r.name for r in report.failed] == ["ERR-001[ios]", "ERR-001[android]"]
    failure = report.failed[0]
    assert "Content-Length" in failure.expected and failure.exchange is not None
    assert failure.exchange.status == 404 and "NO_REGISTRATION" in failure.exchange.response_body
    assert "SUITE-CODE" not in json.dumps(failure.to_dict())
    print_report(report)
    out = capsys.readouterr().out
    assert "FAIL" in out and "ERR-001" in out and "< 404" in out
    write_junit(report, tmp_path / "j.xml")
    failures = ET.parse(tmp_path / "j.xml").getroot().findall(".//failure")
    assert len(failures) == 2 and "protects:" in (failures[0].text or "")


@pytest.mark.slow
def test_the_cli_checks_the_bundled_server_and_writes_reports(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", "--platform", "ios", "--junit", str(tmp_path / "j.xml"), "--json", str(tmp_path / "r.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "PASS" in out
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["verdict"] == "pass" and {r["platform"] for r in data["results"]} == {"ios"}
    assert ET.parse(tmp_path / "j.xml").getroot().get("failures") == "0"


def test_the_cli_refuses_a_remote_target_without_confirmation(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--target", "https://mobile.example.com", "--app-code", "SECRET-CODE-1234"]) == 2
    out = capsys.readouterr().out
    assert "--allow-remote-target" in out and "SECRET-CODE-1234" not in out
    assert main(["check", "--target", "http://127.0.0.1:9", "--only", "NOPE-1", "--app-code", "x"]) == 2


@pytest.mark.slow
def test_the_cli_exits_non_zero_when_a_check_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import server_stub.serve
    from server_stub.serve import BackgroundServer, ServeConfig

    with BackgroundServer(ServeConfig(port=0, app_codes=["REAL"])) as server:  # a wrong code: the preflight says so
        code = main(["check", "--target", server.url, "--app-code", "WRONG", "--only", "REG-001", "--only", "AUTH"])
    out = capsys.readouterr().out
    assert code == 2
    assert "rejects the app code … (401 INVALID_APPLICATION_CODE)" in out and "REG-001" not in out  # masked

    real = server_stub.serve.create_app  # type: ignore[attr-defined]
    broken = rename_code("INVALID_APPLICATION_CODE", "FORBIDDEN", 403)
    monkeypatch.setattr(server_stub.serve, "create_app", lambda **kw: Mutate(real(**kw), response=broken))
    with BackgroundServer(ServeConfig(port=0, app_codes=["REAL"])) as server:
        code = main(["check", "--target", server.url, "--app-code", "REAL", "--only", "REG-001", "--only", "AUTH"])
    out = capsys.readouterr().out
    assert code == 1
    assert "AUTH-001" in out and "FORBIDDEN" in out


def test_the_guide_lists_every_check_and_every_strict_rule() -> None:
    from server_stub.strict import RULES

    guide = (Path(__file__).resolve().parents[2] / "docs" / "check.md").read_text()
    for check in CATALOGUE:
        assert f"| `{check.id}` | {check.scope.value} | {check.statement}" in guide, check.id
        assert ("(API key)" in guide.split(f"| `{check.id}` |")[1].split("\n")[0]) == check.needs_api_key, check.id
    for rule in RULES.values():
        assert f"| `{rule.id}` | {rule.title} | {rule.sdk} |" in guide, rule.id
