"""`mobsim.thresholds`: the grammar, the evaluation rules, the shorthands and the JUnit report."""

from __future__ import annotations

import argparse
import math
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from mobsim.thresholds import (
    METRICS,
    Result,
    Threshold,
    ThresholdError,
    check_endpoints,
    evaluate,
    from_max_fail_ratio,
    from_p95_ms,
    parse_threshold,
    write_junit,
)

INSTALL = "POST /mobile/1/appinstance"
USER = "PATCH /mobile/1/appinstance/{pushRegId}/user"
KNOWN = [INSTALL, USER, "GET /mobile/1/appinstance/{pushRegId}", "POST /mobile/5/messages"]


def totals(**values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "requests": 100,
        "failures": 1,
        "fail_ratio": 0.01,
        "rps": 10.0,
        "avg_ms": 50.0,
        "p50": 40.0,
        "p90": 80.0,
        "p95": 90.0,
        "p99": 120.0,
        "max_ms": 300.0,
    }
    row.update(values)
    return row


def endpoint(name: str, method: str = "POST", **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "name": name,
        "method": method,
        "requests": 100,
        "failures": 1,
        "rps": 10.0,
        "avg_ms": 50.0,
        "p50": 40.0,
        "p90": 80.0,
        "p95": 90.0,
        "p99": 120.0,
        "max_ms": 300.0,
    }
    row.update(values)
    return row


def summary(total: dict[str, Any] | None = None, *rows: dict[str, Any]) -> dict[str, Any]:
    return {"totals": total if total is not None else totals(), "endpoints": list(rows)}


def one(expression: str, data: dict[str, Any]) -> Result:
    (result,) = evaluate([parse_threshold(expression)], data)
    return result


# --- operators: exact boundaries ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("op", "observed", "passed"),
    [
        ("<", 300.0, False),
        ("<", 299.9, True),
        ("<", 300.1, False),
        ("<=", 300.0, True),
        ("<=", 299.9, True),
        ("<=", 300.1, False),
        (">", 300.0, False),
        (">", 300.1, True),
        (">", 299.9, False),
        (">=", 300.0, True),
        (">=", 300.1, True),
        (">=", 299.9, False),
        ("==", 300.0, True),
        ("==", 299.9, False),
        ("==", 300.1, False),
        ("!=", 300.0, False),
        ("!=", 299.9, True),
        ("!=", 300.1, True),
    ],
)
def test_every_operator_at_its_boundary(op: str, observed: float, passed: bool) -> None:
    result = one(f"p95{op}300", summary(totals(p95=observed)))
    assert result.observed == observed
    assert result.passed is passed
    assert result.detail == ""


@pytest.mark.parametrize("op", ["<", "<=", ">", ">=", "==", "!="])
def test_operators_on_an_endpoint_and_on_a_ratio(op: str) -> None:
    data = summary(totals(fail_ratio=0.01), endpoint(INSTALL, avg_ms=200.0))
    expected = {"<": False, "<=": True, ">": False, ">=": True, "==": True, "!=": False}[op]
    assert one(f"fail_ratio{op}0.01", data).passed is expected
    assert one(f"{INSTALL}: avg {op} 200", data).passed is expected


# --- metrics: each read from its own key ----------------------------------------------------------

DISTINCT = {
    "requests": 1000,
    "failures": 7,
    "fail_ratio": 0.25,  # deliberately not failures/requests: the totals' own figure is the one used
    "rps": 33.5,
    "avg_ms": 41.5,
    "p50": 11.0,
    "p90": 22.0,
    "p95": 33.0,
    "p99": 44.0,
    "max_ms": 55.0,
    # decoys: keys a careless reader could take
    "avg": 999.0,
    "max": 999.0,
    "p95_ms": 999.0,
    "median_response_time": 999.0,
}
OVERALL_EXPECTED = {
    "p50": 11.0,
    "p90": 22.0,
    "p95": 33.0,
    "p99": 44.0,
    "avg": 41.5,
    "max": 55.0,
    "rps": 33.5,
    "fail_ratio": 0.25,
    "failures": 7.0,
    "requests": 1000.0,
}


def test_the_expected_table_covers_every_metric() -> None:
    assert set(OVERALL_EXPECTED) == set(METRICS)


@pytest.mark.parametrize("metric", METRICS)
def test_every_overall_metric_is_read_from_its_key(metric: str) -> None:
    result = one(f"{metric}=={OVERALL_EXPECTED[metric]!r}", summary(dict(DISTINCT)))
    assert result.observed == OVERALL_EXPECTED[metric]
    assert result.passed


@pytest.mark.parametrize("metric", METRICS)
def test_every_endpoint_metric_is_read_from_its_key(metric: str) -> None:
    row: dict[str, Any] = {k: v for k, v in DISTINCT.items() if k != "fail_ratio"}
    expected = dict(OVERALL_EXPECTED, fail_ratio=7 / 1000)  # rows carry no fail_ratio: failures/requests
    data = summary(totals(), endpoint(INSTALL, **row), endpoint("GET /mobile/3/version"))
    result = one(f"{INSTALL}: {metric}=={expected[metric]!r}", data)
    assert result.observed == expected[metric]
    assert result.passed


@pytest.mark.parametrize(
    ("metric", "key"),
    [
        ("p50", "p50"),
        ("p90", "p90"),
        ("p95", "p95"),
        ("p99", "p99"),
        ("avg", "avg_ms"),
        ("max", "max_ms"),
        ("rps", "rps"),
        ("fail_ratio", "fail_ratio"),
        ("failures", "failures"),
    ],
)
def test_a_metric_missing_from_the_totals_is_no_data_and_fails(metric: str, key: str) -> None:
    data = summary({k: v for k, v in totals(failures=None if key == "fail_ratio" else 1).items() if k != key})
    result = one(f"{metric}>=0", data)
    assert result.observed is None
    assert not result.passed
    assert result.detail == f"no data for {metric}"
    assert result.line() == f"✗ {metric}>=0  no data for {metric}"


@pytest.mark.parametrize(("metric", "key"), [("p90", "p90"), ("max", "max_ms"), ("avg", "avg_ms"), ("rps", "rps")])
def test_a_metric_missing_from_an_endpoint_row_is_no_data_and_fails(metric: str, key: str) -> None:
    row = {k: v for k, v in endpoint(INSTALL).items() if k != key}
    result = one(f"{INSTALL}: {metric}>=0", summary(totals(), row))
    assert (result.observed, result.passed, result.detail) == (None, False, f"no data for {metric}")


def test_missing_request_count_is_no_data_for_every_metric() -> None:
    data = summary({k: v for k, v in totals().items() if k != "requests"})
    for metric in METRICS:
        result = one(f"{metric}>=0", data)
        assert (result.observed, result.passed, result.detail) == (None, False, "no data for requests")


def test_overall_fail_ratio_falls_back_to_failures_over_requests() -> None:
    data = summary({k: v for k, v in totals(requests=200, failures=5).items() if k != "fail_ratio"})
    assert one("fail_ratio==0.025", data).observed == 0.025


@pytest.mark.parametrize("bad", [None, "12", True, math.nan, math.inf, [12]])
def test_values_that_are_not_finite_numbers_are_no_data(bad: Any) -> None:
    result = one("p95<300", summary(totals(p95=bad)))
    assert (result.observed, result.passed, result.detail) == (None, False, "no data for p95")


def test_integer_values_are_read_as_numbers() -> None:
    result = one("p95<300", summary(totals(p95=120)))
    assert result.observed == 120.0 and result.passed


# --- overall vs per endpoint, rows combined -------------------------------------------------------


def test_a_threshold_without_a_name_is_on_the_totals_and_with_one_on_that_endpoint() -> None:
    data = summary(totals(p95=100.0), endpoint(INSTALL, p95=400.0), endpoint(USER, p95=50.0))
    assert one("p95<300", data).observed == 100.0
    assert one("p95<300", data).passed
    assert one(f"{INSTALL}: p95<300", data).observed == 400.0
    assert not one(f"{INSTALL}: p95<300", data).passed
    assert one(f"{USER}: p95<300", data).observed == 50.0


def test_rows_sharing_a_stats_name_are_one_endpoint() -> None:
    # Android sends the PATCH as a POST: one stats name, two rows.
    patch = endpoint(USER, "PATCH", requests=30, failures=3, rps=3.0, avg_ms=100.0, p50=10.0, p90=20.0)
    post = endpoint(USER, "POST", requests=10, failures=1, rps=1.0, avg_ms=200.0, p50=5.0, p90=90.0)
    patch.update(p95=300.0, p99=310.0, max_ms=320.0)
    post.update(p95=150.0, p99=400.0, max_ms=900.0)
    other = endpoint(INSTALL, requests=1000, failures=1000, rps=100.0, avg_ms=5000.0, p95=9999.0, max_ms=9999.0)
    data = summary(totals(), patch, other, post)
    observed = {metric: one(f"{USER}: {metric}>=0", data).observed for metric in METRICS}
    assert observed == {
        "requests": 40.0,  # summed
        "failures": 4.0,  # summed
        "rps": 4.0,  # summed
        "fail_ratio": 0.1,  # 4/40, not the mean of the rows' ratios
        "avg": 125.0,  # (100*30 + 200*10) / 40, not (100+200)/2
        "p50": 10.0,  # the worst row
        "p90": 90.0,
        "p95": 300.0,
        "p99": 400.0,
        "max": 900.0,
    }


def test_fail_ratio_of_combined_rows_is_failures_over_requests_not_mean_of_ratios() -> None:
    rows = [endpoint(USER, "PATCH", requests=1, failures=1), endpoint(USER, "POST", requests=99, failures=0)]
    assert one(f"{USER}: fail_ratio<=0.01", summary(totals(), *rows)).observed == 0.01


def test_a_combined_row_missing_a_metric_is_no_data_rather_than_the_other_rows_figure() -> None:
    incomplete = {k: v for k, v in endpoint(USER, "POST").items() if k != "p90"}
    result = one(f"{USER}: p90<1000", summary(totals(), endpoint(USER, "PATCH"), incomplete))
    assert (result.observed, result.passed, result.detail) == (None, False, "no data for p90")


def test_a_row_with_no_requests_does_not_weigh_on_the_combined_average() -> None:
    rows = [endpoint(USER, "PATCH", requests=20, avg_ms=80.0), endpoint(USER, "POST", requests=0, avg_ms=0.0)]
    assert one(f"{USER}: avg<100", summary(totals(), *rows)).observed == 80.0


# --- no data: a dead run never passes -------------------------------------------------------------


def test_an_endpoint_absent_from_the_summary_fails_every_threshold() -> None:
    data = summary(totals(), endpoint(INSTALL))
    latency = one("GET /nope: p95<300", data)
    assert (latency.observed, latency.passed, latency.detail) == (None, False, "no requests to GET /nope")
    assert latency.line() == "✗ GET /nope: p95<300  no requests to GET /nope"
    for expression in ["GET /nope: fail_ratio<=0.5", "GET /nope: failures==0", "GET /nope: requests<10"]:
        assert not one(expression, data).passed, expression


def test_an_endpoint_row_with_zero_requests_fails_even_though_its_figures_are_zero() -> None:
    data = summary(totals(), endpoint(INSTALL, requests=0, failures=0, rps=0.0, avg_ms=0.0, p95=0.0, max_ms=0.0))
    result = one(f"{INSTALL}: p95<300", data)
    assert (result.observed, result.passed) == (None, False)
    assert result.detail == f"no requests to {INSTALL}"
    assert not one(f"{INSTALL}: failures==0", data).passed


def test_zero_requests_overall_fails_every_threshold() -> None:
    # What Locust reports when nothing was sent: zeros everywhere, and a fail ratio of 0.
    dead = summary(totals(requests=0, failures=0, fail_ratio=0.0, rps=0.0, avg_ms=0.0, p50=0, p95=0, p99=0))
    for metric in METRICS:
        for expression in [f"{metric}>=0", f"{metric}<=1", f"{metric}!=0.5", f"{metric}==0"]:
            assert not one(expression, dead).passed, expression


@pytest.mark.parametrize("metric", ["p50", "p90", "p95", "p99", "avg", "max", "fail_ratio"])
def test_with_no_requests_a_latency_or_ratio_has_no_observation(metric: str) -> None:
    dead = summary(totals(requests=0, failures=0, fail_ratio=0.0, rps=0.0))
    result = one(f"{metric}<=1", dead)
    assert (result.observed, result.detail) == (None, "no requests")
    assert result.line() == f"✗ {metric}<=1  no requests"


@pytest.mark.parametrize("metric", ["rps", "requests", "failures"])
def test_with_no_requests_a_count_or_rate_observes_zero_and_still_fails(metric: str) -> None:
    dead = summary(totals(requests=0, failures=0, fail_ratio=0.0, rps=0.0))
    for expression in [f"{metric}>100", f"{metric}<100"]:
        result = one(expression, dead)
        assert (result.observed, result.passed, result.detail) == (0.0, False, "no requests")


def test_rps_above_a_limit_on_a_dead_run_reads_observed_zero() -> None:
    dead = summary(totals(requests=0, failures=0, fail_ratio=0.0, rps=0.0))
    assert one("rps>100", dead).line() == "✗ rps>100  observed 0 req/s, no requests"
    absent = one(f"{INSTALL}: rps>100", summary(totals()))
    assert absent.observed == 0.0
    assert absent.line() == f"✗ {INSTALL}: rps>100  observed 0 req/s, no requests to {INSTALL}"


def test_a_summary_without_totals_or_endpoints_fails() -> None:
    overall = one("p95<300", {})
    assert (overall.observed, overall.passed, overall.detail) == (None, False, "no data for requests")
    assert one(f"{INSTALL}: p95<300", {"totals": totals()}).detail == f"no requests to {INSTALL}"
    assert one(f"{INSTALL}: p95<300", {"totals": totals(), "endpoints": None}).detail == f"no requests to {INSTALL}"


def test_evaluate_keeps_the_order_and_takes_any_iterable() -> None:
    thresholds = [parse_threshold("p95<300"), from_max_fail_ratio(0.5), parse_threshold("rps>1000")]
    results = evaluate(iter(thresholds), summary())
    assert [r.threshold for r in results] == thresholds
    assert [r.passed for r in results] == [True, True, False]
    assert evaluate([], summary()) == []


# --- the shorthands give the old gates' verdicts --------------------------------------------------


def old_gates_fail(data: dict[str, Any], max_fail_ratio: float | None, p95: list[tuple[str | None, float]]) -> bool:
    """The gates ``mobsim run`` had before thresholds (mobsim/run.py ``evaluate_gates``), restated."""
    t = data["totals"]
    failed = max_fail_ratio is not None and t["fail_ratio"] > max_fail_ratio
    for name, limit in p95:
        if name is None:
            value = t["p95"]
        else:
            rows = [e for e in data["endpoints"] if e["name"] == name]
            if not rows:
                failed = True
                continue
            value = max(row["p95"] for row in rows)
        failed = failed or value > limit
    return failed


@pytest.mark.parametrize("limit", [0.0, 0.01, 0.5, 1.0])
@pytest.mark.parametrize("ratio", [0.0, 0.0099, 0.01, 0.0101, 0.5, 1.0])
def test_max_fail_ratio_agrees_with_the_old_gate(limit: float, ratio: float) -> None:
    data = summary(totals(fail_ratio=ratio))
    (result,) = evaluate([from_max_fail_ratio(limit)], data)
    assert result.passed is not old_gates_fail(data, limit, [])
    assert result.passed is (ratio <= limit)


@pytest.mark.parametrize("observed", [0.0, 299.0, 299.9, 300.0, 300.1, 301.0, 5000.0])
@pytest.mark.parametrize("spec", ["300", f"{INSTALL}=300", f"{USER}=300"])
def test_p95_ms_agrees_with_the_old_gate(spec: str, observed: float) -> None:
    rows = [
        endpoint(INSTALL, p95=observed),
        endpoint(USER, "PATCH", p95=observed),
        endpoint(USER, "POST", p95=min(observed, 10.0)),
    ]
    data = summary(totals(p95=observed), *rows)
    threshold = from_p95_ms(spec)
    (result,) = evaluate([threshold], data)
    assert result.passed is not old_gates_fail(data, None, [(threshold.endpoint, 300.0)])
    assert result.passed is (observed <= 300.0)


def test_p95_ms_on_a_name_never_requested_fails_like_the_old_gate() -> None:
    data = summary(totals(), endpoint(INSTALL))
    threshold = from_p95_ms("GET /nope=300")
    assert not evaluate([threshold], data)[0].passed
    assert old_gates_fail(data, None, [(threshold.endpoint, 300.0)])


def test_unlike_the_old_gates_a_dead_run_fails_the_shorthands() -> None:
    dead = summary(totals(requests=0, failures=0, fail_ratio=0.0, rps=0.0, p95=0.0))
    assert not old_gates_fail(dead, 0.01, [(None, 300.0)])  # the old gates let it through
    results = evaluate([from_max_fail_ratio(0.01), from_p95_ms("300")], dead)
    assert [r.passed for r in results] == [False, False]


def test_from_max_fail_ratio() -> None:
    threshold = from_max_fail_ratio(0.01)
    assert threshold == Threshold("fail_ratio<=0.01", "fail_ratio", "<=", 0.01, None, "--max-fail-ratio")
    assert from_max_fail_ratio(0).expression == "fail_ratio<=0"
    assert from_max_fail_ratio(1).limit == 1.0


@pytest.mark.parametrize("bad", [-0.01, 1.01, math.nan, math.inf, True])
def test_from_max_fail_ratio_refuses_what_is_not_a_ratio(bad: float) -> None:
    with pytest.raises(ThresholdError, match=r"--max-fail-ratio .*between 0 and 1"):
        from_max_fail_ratio(bad)


@pytest.mark.parametrize(
    ("text", "endpoint_name", "limit", "expression"),
    [
        ("500", None, 500.0, "p95<=500"),
        ("12.5", None, 12.5, "p95<=12.5"),
        (" 500 ", None, 500.0, "p95<=500"),
        ("500ms", None, 500.0, "p95<=500"),
        (f"{INSTALL}=300", INSTALL, 300.0, f"{INSTALL}: p95<=300"),
        (f" {INSTALL} = 300 ", INSTALL, 300.0, f"{INSTALL}: p95<=300"),
        (f"{USER}=200", USER, 200.0, f"{USER}: p95<=200"),
        ("GET /search?q=a=b=300", "GET /search?q=a=b", 300.0, "GET /search?q=a=b: p95<=300"),  # the LAST '='
    ],
)
def test_from_p95_ms(text: str, endpoint_name: str | None, limit: float, expression: str) -> None:
    threshold = from_p95_ms(text)
    assert threshold == Threshold(expression, "p95", "<=", limit, endpoint_name, "--p95-ms")


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the milliseconds are missing"),
        ("abc", "'abc' is not a number"),
        (f"{INSTALL}=", "the milliseconds are missing"),
        (f"{INSTALL}=fast", "'fast' is not a number"),
        ("=300", "the stats name before '=' is empty"),
        ("-5", "'-5' is not a number"),
        ("1e999", "'1e999' is not a number"),
        (f"{INSTALL}: 300", "is not a number"),
    ],
)
def test_from_p95_ms_errors_name_the_input(text: str, problem: str) -> None:
    with pytest.raises(ThresholdError) as caught:
        from_p95_ms(text)
    message = str(caught.value)
    assert message.startswith(f"--p95-ms {text!r}: ")
    assert problem in message
    assert "'POST /mobile/1/appinstance=300'" in message


# --- the grammar ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "name", "metric", "op", "limit"),
    [
        ("p99<500", None, "p99", "<", 500.0),
        ("p95 <= 300", None, "p95", "<=", 300.0),
        ("p95\t>=\t300", None, "p95", ">=", 300.0),
        ("fail_ratio<0.01", None, "fail_ratio", "<", 0.01),
        ("rps>100", None, "rps", ">", 100.0),
        ("failures==0", None, "failures", "==", 0.0),
        ("requests!=0", None, "requests", "!=", 0.0),
        ("p50<.5", None, "p50", "<", 0.5),
        ("p90<1e3", None, "p90", "<", 1000.0),
        ("max<300.", None, "max", "<", 300.0),
        ("P95<300", None, "p95", "<", 300.0),
        ("FAIL_RATIO <= 0.1", None, "fail_ratio", "<=", 0.1),
        ("Avg<200", None, "avg", "<", 200.0),
        ("p95<300ms", None, "p95", "<", 300.0),
        ("p95 < 300 MS", None, "p95", "<", 300.0),
        ("fail_ratio<=1", None, "fail_ratio", "<=", 1.0),
        (f"{INSTALL}: p95<300", INSTALL, "p95", "<", 300.0),
        (f"{INSTALL}:p95<300", INSTALL, "p95", "<", 300.0),
        (f"  {INSTALL}  :  p95  <  300  ", INSTALL, "p95", "<", 300.0),
        (f"{USER}: avg<200", USER, "avg", "<", 200.0),
        ("POST /mobile/1/appinstance (android): rps>1", "POST /mobile/1/appinstance (android)", "rps", ">", 1.0),
        ("GET /a:b: p95<1", "GET /a:b", "p95", "<", 1.0),
        ("weird: name:with: colons: max>=2", "weird: name:with: colons", "max", ">=", 2.0),
        ("GET /x::p95<1", "GET /x:", "p95", "<", 1.0),
        ("GET /x<y>: p95<1", "GET /x<y>", "p95", "<", 1.0),
        ("p95: p95<1", "p95", "p95", "<", 1.0),
    ],
)
def test_valid_expressions(text: str, name: str | None, metric: str, op: str, limit: float) -> None:
    threshold = parse_threshold(text)
    assert (threshold.endpoint, threshold.metric, threshold.op, threshold.limit) == (name, metric, op, limit)
    assert threshold.source == "--threshold"


def test_the_expression_keeps_what_the_user_wrote_with_whitespace_normalised() -> None:
    assert parse_threshold("p95 < 300").expression == "p95 < 300"
    assert parse_threshold("  p95  <\t300 ").expression == "p95 < 300"
    assert parse_threshold(f"{INSTALL}: P95<300ms").expression == f"{INSTALL}: P95<300ms"


def test_a_name_keeps_its_inner_spacing_exactly() -> None:
    assert parse_threshold("GET  /a  b : p95<1").endpoint == "GET  /a  b"


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("p95<<3", "unknown operator '<<' (did you mean '<'?)"),
        ("p95=300", "unknown operator '=' (did you mean '=='?)"),
        ("p95=>300", "unknown operator '=>' (did you mean '>='?)"),
        ("p95<>300", "unknown operator '<>' (did you mean '!='?)"),
        ("p95 <== 300", "unknown operator '<=='"),
        ("", "the expression is empty"),
        ("   ", "the expression is empty"),
        ("p95", "no comparison operator"),
        ("p95 300", "no comparison operator"),
        ("<300", "no metric before '<'"),
        ("p96<300", "unknown metric 'p96'"),
        ("p95_ms<300", "unknown metric 'p95_ms' (did you mean 'p95'?)"),
        ("latency<300", "unknown metric 'latency'"),
        ("p 95<300", "'p 95' is not a metric (a stats name is followed by ':')"),
        (f"{INSTALL} p95<300", f"'{INSTALL} p95' is not a metric (a stats name is followed by ':')"),
        ("GET /a:b p95<300", "'b p95' is not a metric"),
        (": p95<300", "the stats name before ':' is empty"),
        (f"{INSTALL}:", "nothing after the last ':'"),
        (f"{INSTALL}: p95 300", "no comparison operator after the last ':'"),
        ("p95<", "no number after '<'"),
        ("p95<ms", "no number after '<'"),
        ("p95<abc", "'abc' is not a number"),
        ("p95<300s", "'300s' is not a number"),
        ("p95<3<4", "'3<4' is not a number"),
        ("p95<3 00", "'3 00' is not a number"),
        ("p95<inf", "'inf' is not a number"),
        ("p95<nan", "'nan' is not a number"),
        ("p95<0x10", "'0x10' is not a number"),
        ("p95<+3", "'+3' is not a number"),
        ("p95<-1", "the limit -1 is negative"),
        ("p95<1e999", "the limit 1e999 is too large"),
        ("rps>100ms", "'ms' only goes with a latency"),
        ("fail_ratio<1ms", "'ms' only goes with a latency"),
        ("fail_ratio<2", "a fail_ratio is between 0 and 1"),
        ("fail_ratio<1%", "'1%' is not a number"),
    ],
)
def test_malformed_expressions_say_what_is_wrong_and_name_the_input(text: str, problem: str) -> None:
    with pytest.raises(ThresholdError) as caught:
        parse_threshold(text)
    message = str(caught.value)
    assert message.startswith(f"--threshold {text!r}: ")
    assert problem in message
    assert "'p95<300'" in message and "'POST /mobile/1/appinstance: p95<300'" in message
    assert "metrics: p50, p90, p95, p99, avg, max, rps, fail_ratio, failures, requests" in message


def test_threshold_error_is_a_value_error_that_argparse_shows_as_is() -> None:
    with pytest.raises(ValueError, match="p95<<3"):
        parse_threshold("p95<<3")
    parser = argparse.ArgumentParser(exit_on_error=False)
    parser.add_argument("--threshold", type=parse_threshold, action="append")
    parser.add_argument("--p95-ms", type=from_p95_ms, action="append")
    with pytest.raises(argparse.ArgumentError, match=r"unknown operator '<<'"):
        parser.parse_args(["--threshold", "p95<<3"])
    with pytest.raises(argparse.ArgumentError, match=r"--p95-ms 'x=fast'"):
        parser.parse_args(["--p95-ms", "x=fast"])
    args = parser.parse_args(["--threshold", "p95<300", "--threshold", f"{INSTALL}: rps>1", "--p95-ms", "500"])
    assert [t.expression for t in args.threshold] == ["p95<300", f"{INSTALL}: rps>1"]
    assert args.p95_ms[0].limit == 500.0


# --- describe and line ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (f"{INSTALL}: p95<300", f"p95 of {INSTALL} < 300 ms"),
        ("p95<300", "p95 overall < 300 ms"),
        ("p99 <= 12.5", "p99 overall <= 12.5 ms"),
        (f"{USER}: avg<200", f"average latency of {USER} < 200 ms"),
        ("max<1000", "max latency overall < 1000 ms"),
        ("rps>100", "requests per second overall > 100 req/s"),
        ("fail_ratio<0.01", "fail ratio overall < 0.01"),
        ("failures==0", "failed requests overall == 0"),
        (f"{INSTALL}: requests>=1000", f"requests of {INSTALL} >= 1000"),
    ],
)
def test_describe(text: str, words: str) -> None:
    assert parse_threshold(text).describe() == words


def test_describe_of_the_shorthands() -> None:
    assert from_p95_ms(f"{INSTALL}=300").describe() == f"p95 of {INSTALL} <= 300 ms"
    assert from_max_fail_ratio(0.01).describe() == "fail ratio overall <= 0.01"


def test_lines() -> None:
    data = summary(totals(p95=12.5, fail_ratio=0.0123, rps=33.33333), endpoint(INSTALL, p95=412.0))
    assert one("p95<300", data).line() == "✓ p95<300  observed 12.5 ms"
    assert one(f"{INSTALL}: p95<300", data).line() == f"✗ {INSTALL}: p95<300  observed 412 ms"
    assert one("rps>100", data).line() == "✗ rps>100  observed 33.33 req/s"
    assert one("fail_ratio<0.01", data).line() == "✗ fail_ratio<0.01  observed 0.0123 (1.23%)"
    assert one("failures<10", data).line() == "✓ failures<10  observed 1"
    assert one("avg<100", summary(totals(avg_ms=41.23456))).line() == "✓ avg<100  observed 41.23 ms"


def test_a_rounded_observation_never_looks_like_the_limit() -> None:
    assert one("p95<300", summary(totals(p95=299.999))).line() == "✓ p95<300  observed 299.999 ms"
    assert one("p95<300", summary(totals(p95=300.001))).line() == "✗ p95<300  observed 300.001 ms"
    assert one("p95<300", summary(totals(p95=300.0))).line() == "✗ p95<300  observed 300 ms"


# --- check_endpoints ------------------------------------------------------------------------------


def test_check_endpoints_passes_known_names_and_overall_thresholds() -> None:
    thresholds = [parse_threshold("p95<300"), parse_threshold(f"{INSTALL}: p95<300"), from_max_fail_ratio(0.1)]
    thresholds.append(from_p95_ms(f"{USER}=200"))
    assert check_endpoints(thresholds, KNOWN) == []
    assert check_endpoints(thresholds, iter(KNOWN)) == []  # any iterable, consumed once


def test_check_endpoints_suggests_the_closest_name() -> None:
    typo = parse_threshold("POST /mobile/1/appinstanc: p95<300")
    (error,) = check_endpoints([typo], KNOWN)
    assert error == (
        "--threshold 'POST /mobile/1/appinstanc: p95<300': no endpoint has the stats name "
        "'POST /mobile/1/appinstanc'; did you mean 'POST /mobile/1/appinstance'?"
    )


def test_check_endpoints_suggests_the_name_differing_only_in_case_or_spacing() -> None:
    (error,) = check_endpoints([parse_threshold("post  /mobile/5/MESSAGES: p95<300")], KNOWN)
    assert error.endswith("did you mean 'POST /mobile/5/messages'?")


def test_check_endpoints_lists_the_known_names_when_nothing_is_close() -> None:
    (error,) = check_endpoints([parse_threshold("zzz: p95<300")], KNOWN)
    assert "no endpoint has the stats name 'zzz'" in error
    assert error.endswith("known names: " + ", ".join(sorted(KNOWN)))
    (none,) = check_endpoints([parse_threshold("zzz: p95<300")], [])
    assert none.endswith("known names: none")


def test_check_endpoints_gives_one_sentence_per_bad_threshold_in_the_shorthands_own_syntax() -> None:
    thresholds = [from_p95_ms("GET /mobile/1/appinstance/{pushregid}=300"), parse_threshold("p95<1")]
    thresholds.append(parse_threshold("GET /mobile/3/versoin: rps>1"))
    errors = check_endpoints(thresholds, KNOWN)
    assert len(errors) == 2
    assert errors[0].startswith("--p95-ms 'GET /mobile/1/appinstance/{pushregid}=300': ")
    assert errors[0].endswith("did you mean 'GET /mobile/1/appinstance/{pushRegId}'?")
    assert errors[1].startswith("--threshold 'GET /mobile/3/versoin: rps>1': ")


# --- JUnit ----------------------------------------------------------------------------------------


def test_junit_report(tmp_path: Path) -> None:
    data = summary(totals(p95=120.0), endpoint(INSTALL, p95=412.0))
    thresholds = [
        parse_threshold("p95<300"),
        parse_threshold(f"{INSTALL}: p95<300"),
        parse_threshold("GET /nope: p95<300"),
        from_max_fail_ratio(0.01),
        parse_threshold("rps>100"),
    ]
    results = evaluate(thresholds, data)
    path = tmp_path / "reports" / "junit.xml"  # a missing folder is created
    write_junit(results, path, duration_s=31.5)
    root = ET.parse(path).getroot()
    assert root.tag == "testsuite"
    assert root.get("name") == "mobsim run thresholds"
    assert (root.get("tests"), root.get("failures"), root.get("errors"), root.get("skipped")) == ("5", "3", "0", "0")
    assert root.get("time") == "31.500"
    cases = root.findall("testcase")
    assert [c.get("name") for c in cases] == [t.expression for t in thresholds]
    assert {c.get("classname") for c in cases} == {"mobsim.thresholds"}
    messages = [None if (f := c.find("failure")) is None else f.get("message") for c in cases]
    assert messages == [
        None,
        "observed 412 ms, limit < 300 ms",
        "no requests to GET /nope, limit < 300 ms",
        None,
        "observed 10 req/s, limit > 100 req/s",
    ]
    failure = cases[1].find("failure")
    assert failure is not None and failure.text is not None
    assert f"✗ {INSTALL}: p95<300  observed 412 ms" in failure.text
    assert f"--threshold: p95 of {INSTALL} < 300 ms" in failure.text


def test_junit_escapes_names_and_keeps_them_well_formed(tmp_path: Path) -> None:
    name = 'GET /a?x=1&y="<2>" \x1b'
    results = evaluate([parse_threshold(f"{name}: p95<300")], summary(totals(), endpoint(name, p95=500.0)))
    path = tmp_path / "junit.xml"
    write_junit(results, path, suite="nightly & <load>")
    root = ET.parse(path).getroot()
    assert root.get("name") == "nightly & <load>"
    case = root.find("testcase")
    assert case is not None
    assert case.get("name") == 'GET /a?x=1&y="<2>" \ufffd: p95<300'  # the control character replaced
    failure = case.find("failure")
    assert failure is not None and failure.get("message") == "observed 500 ms, limit < 300 ms"
    assert path.read_bytes().startswith(b"<?xml version='1.0' encoding='utf-8'?>")


def test_junit_with_everything_passing_and_with_nothing(tmp_path: Path) -> None:
    write_junit(evaluate([parse_threshold("p95<300"), parse_threshold("rps>1")], summary()), tmp_path / "a.xml")
    root = ET.parse(tmp_path / "a.xml").getroot()
    assert (root.get("tests"), root.get("failures"), root.findall("testcase/failure")) == ("2", "0", [])
    write_junit([], str(tmp_path / "b.xml"))
    empty = ET.parse(tmp_path / "b.xml").getroot()
    assert (empty.get("tests"), empty.get("failures"), empty.get("time")) == ("0", "0", "0.000")
