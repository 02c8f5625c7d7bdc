"""The pieces of ``mobsim run``'s verdict and report, without a run: every branch of the verdict,
the reconciliation rows, the traffic mix, plain output, and the live figures read from Locust's
CSV files."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest

from mobsim.exitcodes import FAILED, INTERRUPTED, PASSED
from mobsim.output import Output
from mobsim.run import verdict
from mobsim.run_live import progress_line, read_live
from mobsim.run_report import _print_messages, campaign_funnels, message_figures, reconcile, traffic_mix
from mobsim.targets import PREFLIGHT_USER_AGENT
from mobsim.thresholds import evaluate, parse_threshold
from server_stub.strict import PREFLIGHT_AGENT


def summary(requests: int = 100, failures: int = 0, **extra: Any) -> dict[str, Any]:
    totals = {"requests": requests, "failures": failures, "fail_ratio": failures / requests if requests else 0.0,
              "rps": 10.0, "avg_ms": 5.0, "max_ms": 50.0, "p50": 4.0, "p90": 8.0, "p95": 9.0, "p99": 20.0}  # fmt: skip
    return {"totals": totals, "endpoints": [], **extra}


@pytest.mark.parametrize(
    ("data", "thresholds", "aborted", "interrupted", "code", "reason"),
    [
        (summary(), [], [], False, PASSED, "all 100 requests succeeded (no threshold given)"),
        (summary(failures=1), [], [], False, FAILED, "1 of 100 requests failed (no threshold given)"),
        (summary(requests=0), [], [], False, FAILED, "no request was sent"),
        (summary(requests=0), ["p95<1000"], [], False, FAILED, "no request was sent"),
        (summary(failures=1), ["fail_ratio<0.05"], [], False, PASSED, "all 1 thresholds passed"),
        (summary(), ["p95<9"], [], False, FAILED, "1 of 1 thresholds failed"),
        (summary(), ["p95<=9"], [], False, PASSED, "all 1 thresholds passed"),
        (
            summary(),
            ["p95<100"],
            ["✗ p99<10"],
            False,
            FAILED,
            "aborted on a failed threshold (--abort-on-fail): ✗ p99<10",
        ),
        (summary(failures=5), [], [], True, INTERRUPTED, "interrupted (Ctrl-C or SIGTERM)"),
        (summary(exceptions=[{"count": 2, "msg": "boom"}]), [], [], False, FAILED, "2 exceptions in sessions"),
        (summary(installed_base={"failed": 3}), [], [], False, FAILED, "3 devices of the installed base failed"),
        (summary(installed_base={"failed": 0}), [], [], False, PASSED, "all 100 requests succeeded"),
        (summary(installed_base={"failed": 3}), ["p95<100"], [], False, PASSED, "all 1 thresholds passed"),
        (summary(exceptions=[{"count": 2, "msg": "boom"}]), ["p95<100"], [], False, PASSED, "all 1 thresholds passed"),
        (summary(campaign={"error": "401 API_KEY"}), [], [], False, FAILED, "the spike campaign was not sent: 401"),
        (summary(campaign={"error": "x"}), ["p95<100"], [], False, FAILED, "the spike campaign was not sent"),
        (
            summary(campaign={"messages": 0, "error": "segment 'S' holds no installation"}),
            [],
            [],
            False,
            FAILED,
            "the spike campaign reached no installation: segment 'S'",
        ),
        (summary(campaign={"bulkId": "b", "messages": 3}), [], [], False, PASSED, "all 100 requests succeeded"),
    ],
)
def test_every_branch_of_the_verdict(
    data: dict[str, Any], thresholds: list[str], aborted: list[str], interrupted: bool, code: int, reason: str
) -> None:
    results = evaluate([parse_threshold(t) for t in thresholds], data)
    assert verdict(data, results, aborted, interrupted) == code
    assert data["verdict"]["exit_code"] == code and data["verdict"]["reason"].startswith(reason)
    assert [t["expression"] for t in data["thresholds"]] == thresholds


def test_reconciliation_rows_and_their_differences() -> None:
    acked = {"installs": 3, "launches": 10, "personalizations": 2, "repersonalizations": 1, "events": 7,
             "user_updates": 4}  # fmt: skip
    before = {"Install": 5, "AppLaunch": 5, "Personalize": 1, "Depersonalize": 0, "custom": 10, "rejected": 1}
    after = {"Install": 8, "AppLaunch": 16, "Personalize": 4, "Depersonalize": 0, "custom": 15, "rejected": 3}
    rec = reconcile(acked, {"events": 2}, before, after)
    rows = {r["kind"]: r for r in rec["rows"]}
    assert (rows["installs"]["stored"], rows["installs"]["difference"]) == (3, 0)
    assert (rows["launches"]["stored"], rows["launches"]["difference"]) == (11, 1)  # stored, answer never read
    assert (rows["personalizations"]["acknowledged"], rows["personalizations"]["difference"]) == (3, 0)
    assert (rows["events"]["stored"], rows["events"]["rejected"], rows["events"]["difference"]) == (5, 2, 0)
    assert rows["events"]["pending"] == 2
    assert (rows["user_updates"]["stored"], rows["user_updates"]["difference"]) == (None, None)
    assert rec["stored_available"] is True and rec["agree"] is False
    after["AppLaunch"] = 15
    assert reconcile(acked, {}, before, after)["agree"] is True
    blind = reconcile(acked, {}, None, None)
    assert blind["stored_available"] is False and blind["agree"] is False
    assert all(r["stored"] is None for r in blind["rows"])


def test_the_traffic_mix_merges_wire_methods_of_one_name() -> None:
    rows = [
        {"name": "PATCH /x", "requests": 30},
        {"name": "PATCH /x", "requests": 10},
        {"name": "POST /y", "requests": 60},
    ]
    assert traffic_mix(rows) == [
        {"name": "POST /y", "requests": 60, "share": 0.6},
        {"name": "PATCH /x", "requests": 40, "share": 0.4},
    ]
    assert traffic_mix([]) == []


def test_plain_output_never_wraps_and_aligns_columns() -> None:
    stream = io.StringIO()
    out = Output(stream, terminal=False)
    name = "POST /mobile/1/appinstance/{pushRegId}/user/events/session"
    out.table("stats", ["endpoint", "requests"], [[name, "7"], ["GET /a", "1234"]], right=1)
    out.line('{"a": "' + "x" * 300 + '"}')
    lines = stream.getvalue().splitlines()
    assert lines[0] == "stats"
    assert lines[1] == "endpoint".ljust(len(name)) + "  requests"
    assert lines[3] == name + "  " + "7".rjust(8) and lines[4].endswith("    1234")
    assert len(lines[5]) == 309 and "\x1b[" not in stream.getvalue()


HEADER = ("Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
          "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
          "99.99%,100%")  # fmt: skip


def test_live_figures_come_from_locusts_csv_files(tmp_path: Path) -> None:
    prefix = tmp_path / "stats"
    assert read_live(prefix) is None
    (tmp_path / "stats_stats.csv").write_text(
        HEADER + "\nPOST,POST /a,10,2,3,4.5,1,80,10,2.5,0.5,3,4,5,6,7,8,9,10,11,12,80\n"
        ",Aggregated,10,2,3,4.5,1,80,10,2.5,0.5,3,4,5,6,7,8,9,10,11,12,80\n"
    )
    (tmp_path / "stats_stats_history.csv").write_text(
        "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%\n"
        "1,3,,Aggregated,2.0,0,1,1,1,1,1,6,1,1,1,1,1\n1,5,,Aggregated,3.0,0,1,1,1,1,1,7,1,1,1,1,1\n"
    )
    live = read_live(prefix)
    assert live is not None and live["users"] == 5
    t = live["totals"]
    assert (t["requests"], t["failures"], t["fail_ratio"], t["p95"], t["p90"], t["max_ms"]) == (10, 2, 0.2, 8, 7, 80)
    assert [r["name"] for r in live["endpoints"]] == ["POST /a"]
    assert [r.passed for r in evaluate([parse_threshold("fail_ratio<0.2"), parse_threshold("p95<9")], live)] == [
        False, True,
    ]  # fmt: skip
    line = progress_line(12.4, 30, live)
    assert line == "[mobsim run]    12/30 s  users 5  rps 3.0  requests 10  failures 2 (20.00%)  p95 7 ms"
    assert "finishing sessions in progress" in progress_line(33, 30, live)
    assert progress_line(1, 30, None).endswith("starting")


def test_strict_mode_knows_the_preflight_probe() -> None:
    assert PREFLIGHT_USER_AGENT.startswith(PREFLIGHT_AGENT)


@pytest.mark.parametrize("width", [60, 81, 82, 200])
def test_a_terminal_gets_a_table_that_fits_or_stacked_lines_never_a_cut_cell(width: int) -> None:
    from rich.console import Console

    stream = io.StringIO()
    out = Output(stream, terminal=True)
    out.console = Console(file=stream, width=width, color_system=None)
    name = "POST /mobile/1/appinstance/{pushRegId}/user/events/session"
    out.table("stats", ["endpoint", "requests", "p95 ms"], [[name, "123456", "7.5"]], right=2)
    text = stream.getvalue()
    assert name in text and "123456" in text and "7.5" in text and "…" not in text
    assert all(len(line) <= width for line in text.splitlines())
    assert ("┃" in text) == (width >= 82)  # cells 58 + 8 + 6, padding and borders 3 * 3 + 1: 82 columns


def test_the_set_up_leaves_a_core_to_a_server_on_this_machine() -> None:
    from mobsim.run import setup_processes

    assert setup_processes(2, "http://127.0.0.1:8080", cores=2) == 1
    assert setup_processes(4, "http://localhost:8080", cores=8) == 4
    assert setup_processes(8, "http://127.0.0.1:8080", cores=4) == 3
    assert setup_processes(1, "http://127.0.0.1:8080", cores=1) == 1
    assert setup_processes(4, "https://push.example.com", cores=2) == 4  # the server has cores of its own


def test_message_figures_come_from_what_the_devices_did_and_what_the_target_acknowledged() -> None:
    counts = {"pushes_received": 9, "pushes_held": 2, "pushes_dropped": 1, "opens": 3, "conversions": 1}
    acknowledged = {"messages_synced": 8, "deliveries": 7, "seen": 3}
    figures = message_figures(counts, acknowledged)
    assert figures == {"received": 9, "held_for_a_session": 2, "dropped_by_the_sdk": 1, "stale_token": 0,
                       "not_for_this_run": 0, "from_message_syncs": 8, "delivery_reports_acknowledged": 7,
                       "seen_acknowledged": 3, "opens": 3, "conversions": 1}  # fmt: skip


def test_campaign_funnels_read_the_inspection_api_and_tolerate_targets_without_it() -> None:
    from datetime import UTC, datetime

    import httpx
    import respx

    since = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    with respx.mock(base_url="http://127.0.0.1:9") as router:
        router.get("/inspect/campaigns", params={"applicationCode": "APP", "since": since.isoformat()}).respond(
            200, json={"campaigns": [{"bulkId": "B", "sent": 5, "delivered": 4}]}
        )
        rows = campaign_funnels("http://127.0.0.1:9", "APP", since=since)
    assert rows == [{"bulkId": "B", "sent": 5, "handed": 0, "delivered": 4, "seen": 0, "opened": 0, "converted": 0,
                     "expired": 0}]  # fmt: skip
    with respx.mock(base_url="http://127.0.0.1:9") as router:
        router.get("/inspect/campaigns").respond(404)
        assert campaign_funnels("http://127.0.0.1:9", "APP") is None
    with respx.mock(base_url="http://127.0.0.1:9") as router:
        router.get("/inspect/campaigns").mock(side_effect=httpx.ConnectError("down"))
        assert campaign_funnels("http://127.0.0.1:9", "APP") is None


def test_the_summary_prints_the_pushes_and_the_campaign_funnel() -> None:
    buffer = io.StringIO()
    out = Output(buffer, terminal=False)
    data = {"messages": message_figures({"pushes_received": 4, "opens": 1}, {"deliveries": 4}),
            "campaigns": [{"bulkId": "B-1", "sent": 4, "handed": 4, "delivered": 4, "seen": 1, "opened": 1,
                           "converted": 0, "expired": 0}]}  # fmt: skip
    _print_messages(out, data)
    text = buffer.getvalue()
    assert "pushes: 4 taken by the devices' SDKs" in text and "4 delivery reports" in text and "1 opens" in text
    assert "B-1" in text and "delivered" in text
    quiet = io.StringIO()
    _print_messages(Output(quiet, terminal=False), {"messages": message_figures({}, {}), "campaigns": []})
    assert quiet.getvalue() == ""
