"""Thresholds for ``mobsim run``: the pass/fail verdict a CI can trust (in the manner of k6).

A threshold is one condition on the run summary. ``--threshold EXPR`` (repeatable) takes the
grammar below; ``--max-fail-ratio R`` and ``--p95-ms [ENDPOINT=]MS`` are shorthands for
``fail_ratio<=R`` and ``[ENDPOINT: ]p95<=MS``.

Grammar::

    EXPR   := [STATS_NAME ":"] METRIC OP NUMBER ["ms"]
    METRIC := p50 | p90 | p95 | p99 | avg | max | rps | fail_ratio | failures | requests
    OP     := "<" | "<=" | ">" | ">=" | "==" | "!="
    NUMBER := digits with an optional fraction and exponent (300, 0.01, .5, 1e3); never negative

Examples: ``p99<500``, ``p95 <= 300``, ``fail_ratio<0.01``, ``rps>100``,
``POST /mobile/1/appinstance: p95<300``, ``PATCH /mobile/1/appinstance/{pushRegId}/user: avg<200``.

- Metric names are case-insensitive; whitespace around the name, the metric, the operator and the
  number is ignored.
- ``STATS_NAME`` is a Locust stats name exactly as in the summary (``POST /mobile/1/appinstance``;
  with ``--stats-by-platform`` it carries the platform: ``POST /mobile/1/appinstance (android)``).
  It is everything before the *last* colon: a name may itself contain spaces, ``/``, ``{``, ``}``
  and colons, the condition after the last colon never does. Without a name the condition applies
  to the overall totals.
- Latencies (``p50``, ``p90``, ``p95``, ``p99``, ``avg``, ``max``) are in milliseconds; a trailing
  ``ms`` is accepted on them (``p95<300ms``) and nowhere else. ``rps`` is requests per second over
  the run, ``fail_ratio`` the share of failed requests (a number from 0 to 1: 0.01 is 1%),
  ``failures`` and ``requests`` absolute counts.

Evaluation rules:

- Several summary rows with the same stats name (one stats name sent with different HTTP methods:
  Android sends PATCH as POST) are one endpoint: requests, failures and rps are summed,
  fail_ratio is failures/requests, p50/p90/p95/p99 and max are the worst row's, avg is the
  request-weighted mean.
- No requests (overall, or to the named endpoint, including a name absent from the summary) fails
  every threshold on it, whatever the condition: a dead run never passes. ``rps``, ``requests``
  and ``failures`` then report an observed 0, the other metrics no observation at all.
- A metric missing from the summary (or not a finite number) is "no data", and fails.
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "METRICS",
    "OPERATORS",
    "Result",
    "Threshold",
    "ThresholdError",
    "check_endpoints",
    "evaluate",
    "from_max_fail_ratio",
    "from_p95_ms",
    "parse_threshold",
    "write_junit",
]

LATENCY_METRICS = ("p50", "p90", "p95", "p99", "avg", "max")
METRICS = (*LATENCY_METRICS, "rps", "fail_ratio", "failures", "requests")
OPERATORS = ("<", "<=", ">", ">=", "==", "!=")

# Where each metric is read from in a summary row ("totals", or one of "endpoints").
_KEYS = {
    "p50": "p50",
    "p90": "p90",
    "p95": "p95",
    "p99": "p99",
    "avg": "avg_ms",
    "max": "max_ms",
    "rps": "rps",
    "fail_ratio": "fail_ratio",
    "failures": "failures",
    "requests": "requests",
}
_LABELS = {
    "avg": "average latency",
    "max": "max latency",
    "rps": "requests per second",
    "fail_ratio": "fail ratio",
    "failures": "failed requests",
    "requests": "requests",
}
_UNITS = {**dict.fromkeys(LATENCY_METRICS, " ms"), "rps": " req/s"}
# What a user may have meant by an operator that is not one.
_OPERATOR_HINTS = {"=": "==", "===": "==", "=>": ">=", "=<": "<=", "<>": "!=", "!": "!=", "<<": "<", ">>": ">"}
# Metrics with a meaningful value when nothing was requested (the value is 0).
_COUNTED = ("rps", "requests", "failures")
_NO_DATA: Mapping[str, float | None] = dict.fromkeys(METRICS, None)

_EXAMPLE = "such as 'p95<300' or 'POST /mobile/1/appinstance: p95<300'"
_NUMBER = re.compile(r"(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_OPERATOR_CHARS = re.compile(r"[<>=!]+")
_MS_SUFFIX = re.compile(r"\s*ms\Z", re.IGNORECASE)
_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class ThresholdError(argparse.ArgumentTypeError, ValueError):
    """A threshold that cannot be read. A ``ValueError``; also an ``argparse.ArgumentTypeError``,
    so that argparse shows the message as it is when a parser of this module is an argument's
    ``type``."""


@dataclass(frozen=True)
class Threshold:
    """One condition on the run summary."""

    expression: str  # as the user wrote it, whitespace runs collapsed (shorthands: the equivalent expression)
    metric: str  # one of METRICS
    op: str  # one of OPERATORS
    limit: float
    endpoint: str | None  # a stats name; None: the overall totals
    source: str  # "--threshold", "--max-fail-ratio" or "--p95-ms"

    def describe(self) -> str:
        """The condition in words: ``p95 of POST /mobile/1/appinstance < 300 ms``, ``p95 overall < 300 ms``."""
        where = f"of {self.endpoint}" if self.endpoint is not None else "overall"
        label = _LABELS.get(self.metric, self.metric)
        return f"{label} {where} {self.op} {_limit(self.limit)}{_UNITS.get(self.metric, '')}"


@dataclass(frozen=True)
class Result:
    """A threshold's verdict on one summary."""

    threshold: Threshold
    observed: float | None  # None: no data (the endpoint never requested, no request at all, a missing metric)
    passed: bool
    detail: str = ""  # why it failed without a comparison ("no requests", "no data for p90"), else ""

    def line(self) -> str:
        """``✓ p95<300  observed 12.5 ms``; ``✗ rps>100  observed 0 req/s, no requests``."""
        mark = "✓" if self.passed else "✗"
        parts = []
        if self.observed is not None:
            parts.append(f"observed {self._observed()}")
        if self.detail:
            parts.append(self.detail)
        return f"{mark} {self.threshold.expression}  {', '.join(parts)}"

    def failure_message(self) -> str:
        """``observed 412 ms, limit < 300 ms`` (the JUnit failure message)."""
        t = self.threshold
        limit = f"limit {t.op} {_limit(t.limit)}{_UNITS.get(t.metric, '')}"
        what = [f"observed {self._observed()}"] if self.observed is not None else []
        if self.detail:
            what.append(self.detail)
        return ", ".join([*what, limit])

    def _observed(self) -> str:
        assert self.observed is not None
        text = _observed(self.observed)
        if text == _limit(self.threshold.limit) and self.observed != self.threshold.limit:
            text = repr(self.observed)  # never show a rounded value that looks like the limit
        if self.threshold.metric == "fail_ratio":
            return f"{text} ({self.observed * 100:.2f}%)"
        return text + _UNITS.get(self.threshold.metric, "")


def parse_threshold(text: str) -> Threshold:
    """The threshold ``text`` writes in the grammar of this module (``--threshold``)."""
    expression = " ".join(text.split())
    name, colon, condition = text.rpartition(":")
    endpoint = name.strip() if colon else None
    try:
        if not text.strip():
            raise _Problem("the expression is empty")
        metric, op, limit = _condition(condition, after_colon=bool(colon))
        if endpoint == "":
            raise _Problem("the stats name before ':' is empty")
    except _Problem as problem:
        raise ThresholdError(
            f"--threshold {text!r}: {problem}; expected [STATS NAME:] METRIC OP NUMBER {_EXAMPLE}; "
            f"metrics: {', '.join(METRICS)}; operators: {' '.join(OPERATORS)}"
        ) from None
    return Threshold(expression, metric, op, limit, endpoint, "--threshold")


def from_max_fail_ratio(ratio: float) -> Threshold:
    """``--max-fail-ratio R``: the run fails when the fail ratio is above R (``fail_ratio<=R``)."""
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 <= ratio <= 1:
        raise ThresholdError(f"--max-fail-ratio {ratio!r}: a ratio is between 0 and 1 (0.01 is 1%)")
    limit = float(ratio)
    return Threshold(f"fail_ratio<={_limit(limit)}", "fail_ratio", "<=", limit, None, "--max-fail-ratio")


def from_p95_ms(text: str) -> Threshold:
    """``--p95-ms 500`` or ``--p95-ms 'POST /mobile/1/appinstance=300'``: the run fails when the p95
    (overall, or of the stats name before the last ``=``) is above MS (``p95<=MS``)."""
    name, equals, value = text.rpartition("=")
    endpoint = name.strip() if equals else None
    value = _MS_SUFFIX.sub("", value.strip())
    problem = None
    if not _NUMBER.fullmatch(value) or not math.isfinite(float(value)):
        problem = f"{value!r} is not a number of milliseconds" if value else "the milliseconds are missing"
    elif endpoint == "":
        problem = "the stats name before '=' is empty"
    if problem is not None:
        raise ThresholdError(f"--p95-ms {text!r}: {problem}; write 500 or 'POST /mobile/1/appinstance=300'")
    limit = float(value)
    condition = f"p95<={_limit(limit)}"
    expression = condition if endpoint is None else f"{endpoint}: {condition}"
    return Threshold(expression, "p95", "<=", limit, endpoint, "--p95-ms")


def check_endpoints(thresholds: Iterable[Threshold], known_names: Iterable[str]) -> list[str]:
    """One sentence per threshold naming a stats name that is not in ``known_names`` (to refuse a
    typo before the load starts), with the closest known name when there is one."""
    known = sorted(set(known_names))
    folded = {_fold(name): name for name in known}
    errors = []
    for threshold in thresholds:
        name = threshold.endpoint
        if name is None or name in known:
            continue
        close = [folded[_fold(name)]] if _fold(name) in folded else difflib.get_close_matches(name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known names: {', '.join(known) or 'none'}"
        errors.append(f"{threshold.source} {_as_written(threshold)!r}: no endpoint has the stats name {name!r}; {hint}")
    return errors


def evaluate(thresholds: Iterable[Threshold], summary: Mapping[str, Any]) -> list[Result]:
    """Each threshold's verdict on ``summary`` (the summary.json of ``mobsim run``), in order."""
    totals = summary.get("totals")
    rows = summary.get("endpoints")
    endpoint_rows = [row for row in rows if isinstance(row, Mapping)] if isinstance(rows, Sequence) else []
    results = []
    for threshold in thresholds:
        if threshold.endpoint is None:
            values = _values([totals], overall=True) if isinstance(totals, Mapping) else _NO_DATA
            nothing = "no requests"
        else:
            same = [row for row in endpoint_rows if row.get("name") == threshold.endpoint]
            values = _values(same, overall=False)
            nothing = f"no requests to {threshold.endpoint}"
        results.append(_verdict(threshold, values, nothing))
    return results


def write_junit(
    results: list[Result],
    path: str | Path,
    *,
    suite: str = "mobsim run thresholds",
    duration_s: float = 0.0,
) -> None:
    """A JUnit XML report: one ``<testsuite>``, one ``<testcase>`` per threshold, a ``<failure>``
    in each one that failed."""
    failed = sum(1 for result in results if not result.passed)
    root = ET.Element(
        "testsuite",
        {
            "name": _xml(suite),
            "tests": str(len(results)),
            "failures": str(failed),
            "errors": "0",
            "skipped": "0",
            "time": f"{duration_s:.3f}",
        },
    )
    for result in results:
        case = ET.SubElement(
            root,
            "testcase",
            {"classname": "mobsim.thresholds", "name": _xml(result.threshold.expression), "time": "0"},
        )
        if not result.passed:
            failure = ET.SubElement(case, "failure", {"message": _xml(result.failure_message()), "type": "threshold"})
            failure.text = _xml(f"{result.line()}\n{result.threshold.source}: {result.threshold.describe()}\n")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    ET.ElementTree(root).write(target, encoding="utf-8", xml_declaration=True)


class _Problem(Exception):
    """What is wrong with an expression (made into a ThresholdError by ``parse_threshold``)."""


def _condition(text: str, *, after_colon: bool) -> tuple[str, str, float]:
    """``METRIC OP NUMBER`` → (metric, op, limit), or a _Problem saying what is wrong."""
    where = " after the last ':'" if after_colon else ""
    if not text.strip():
        raise _Problem(f"nothing{where}")
    found = _OPERATOR_CHARS.search(text)
    if found is None:
        raise _Problem(f"no comparison operator{where}")
    left, op, right = text[: found.start()].strip(), found.group(), text[found.end() :].strip()
    if op not in OPERATORS:
        hint = f" (did you mean {_OPERATOR_HINTS[op]!r}?)" if op in _OPERATOR_HINTS else ""
        raise _Problem(f"unknown operator {op!r}{hint}")
    if not left:
        raise _Problem(f"no metric before {op!r}")
    if not re.fullmatch(r"\w+", left):
        if after_colon:
            raise _Problem(f"{left!r} is not a metric")
        raise _Problem(f"{left!r} is not a metric (a stats name is followed by ':')")
    metric = left.lower()
    if metric not in METRICS:
        close = difflib.get_close_matches(metric, METRICS, n=1)
        raise _Problem(f"unknown metric {left!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if metric in LATENCY_METRICS:
        right = _MS_SUFFIX.sub("", right)
    if not right:
        raise _Problem(f"no number after {op!r}")
    if right.startswith("-") and _NUMBER.fullmatch(right[1:]):
        raise _Problem(f"the limit {right} is negative")
    if not _NUMBER.fullmatch(right):
        if metric not in LATENCY_METRICS and _NUMBER.fullmatch(_MS_SUFFIX.sub("", right)):
            raise _Problem(f"'ms' only goes with a latency ({', '.join(LATENCY_METRICS)}), not {metric}")
        raise _Problem(f"{right!r} is not a number (no units: latencies are in milliseconds)")
    limit = float(right)
    if not math.isfinite(limit):
        raise _Problem(f"the limit {right} is too large")
    if metric == "fail_ratio" and limit > 1:
        raise _Problem(f"a fail_ratio is between 0 and 1 (0.01 is 1%), not {right}")
    return metric, op, limit


def _number(value: Any) -> float | None:
    """A finite number from the summary, or None for anything else (missing, null, text, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _values(rows: list[Mapping[str, Any]], *, overall: bool) -> dict[str, float | None]:
    """Every metric of the rows taken as one endpoint (or of the one totals row); None: no data."""
    if not rows:
        return {metric: (0.0 if metric in _COUNTED else None) for metric in METRICS}
    columns = {metric: [_number(row.get(_KEYS[metric])) for row in rows] for metric in METRICS}

    def total(metric: str) -> float | None:
        column = columns[metric]
        return None if None in column else sum(v for v in column if v is not None)

    def worst(metric: str) -> float | None:
        column = columns[metric]
        return None if None in column else max(v for v in column if v is not None)

    requests, failures = total("requests"), total("failures")
    values: dict[str, float | None] = {"requests": requests, "failures": failures, "rps": total("rps")}
    for metric in ("p50", "p90", "p95", "p99", "max"):
        values[metric] = worst(metric)
    if len(rows) == 1:
        values["avg"] = columns["avg"][0]
    elif None in columns["avg"] or None in columns["requests"] or not requests:
        values["avg"] = None
    else:
        weighted = sum((a or 0.0) * (n or 0.0) for a, n in zip(columns["avg"], columns["requests"], strict=True))
        values["avg"] = weighted / requests
    ratio = columns["fail_ratio"][0] if overall else None
    if ratio is None and requests and failures is not None:
        ratio = failures / requests
    values["fail_ratio"] = ratio
    return values


def _verdict(threshold: Threshold, values: Mapping[str, float | None], nothing: str) -> Result:
    metric = threshold.metric
    requests = values["requests"]
    if requests is None:
        return Result(threshold, None, False, "no data for requests")
    if requests == 0:
        observed = values[metric] if metric in _COUNTED else None
        return Result(threshold, observed, False, nothing)
    observed = values[metric]
    if observed is None:
        return Result(threshold, None, False, f"no data for {metric}")
    return Result(threshold, observed, _compare(observed, threshold.op, threshold.limit))


def _compare(observed: float, op: str, limit: float) -> bool:
    if op == "<":
        return observed < limit
    if op == "<=":
        return observed <= limit
    if op == ">":
        return observed > limit
    if op == ">=":
        return observed >= limit
    if op == "==":
        return observed == limit
    if op == "!=":
        return observed != limit
    raise ValueError(f"unknown operator {op!r}")


def _limit(value: float) -> str:
    """A limit as written: 300, 0.01, 12.5."""
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def _observed(value: float) -> str:
    """An observation, rounded for reading: 412, 12.5, 412.35, 0.0123457."""
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if abs(value) >= 1:
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{value:.6g}"


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


def _as_written(threshold: Threshold) -> str:
    if threshold.source == "--p95-ms" and threshold.endpoint is not None:
        return f"{threshold.endpoint}={_limit(threshold.limit)}"
    if threshold.source == "--p95-ms":
        return _limit(threshold.limit)
    return threshold.expression


def _xml(text: str) -> str:
    """``text`` without the characters XML 1.0 cannot carry (control characters)."""
    return _XML_INVALID.sub("\ufffd", text)
