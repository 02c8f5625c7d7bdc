"""The figures over time of a ``mobsim run``: Locust's ``<csv>_stats_history.csv``, read and bucketed.

Locust appends one ``Aggregated`` row a second (users; cumulative request and failure counts, from
which the requests of each interval are exact; latency percentiles) and, with
``--csv-full-history`` (which ``mobsim run`` passes), one row per endpoint before it. Then every
row's percentiles are Locust's over its last 10 seconds (without it: cumulative since the start),
and the session report's cumulative count (``POST /mobile/1/appinstance/{pushRegId}/user/events/session``,
the request that carries App Launches on every platform) gives the App Launch reports per second.
The file of a long run is large: it is streamed, and only the rows the charts need are kept.
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from contract.endpoints import endpoint

__all__ = ["CHART_POINTS", "LAUNCH_STATS_NAME", "History", "Point", "Sample", "points", "read_history"]

LAUNCH_STATS_NAME = endpoint("session_report").stats_name
"""The stats name of the session report, the request that carries App Launches on every platform."""
CHART_POINTS = 720
"""At most this many points a chart line: a longer run is drawn in buckets of several seconds."""


@dataclass(frozen=True)
class Sample:
    """One second of Locust's history: cumulative counts, and the levels at that second."""

    t: int
    users: int
    requests: int
    failures: int
    p50: float | None
    p95: float | None
    p99: float | None
    launches: int | None
    """Cumulative session reports (None: the file has no per-endpoint rows)."""


@dataclass
class History:
    samples: list[Sample] = field(default_factory=list)
    per_endpoint: bool = False
    """The file had per-endpoint rows (``--csv-full-history``): windowed percentiles, App Launches."""


def _float(text: str | None) -> float | None:
    try:
        value = float(text) if text not in (None, "", "N/A") else None
    except ValueError:
        return None
    return value if value is not None and math.isfinite(value) else None


def _int(text: str | None) -> int:
    value = _float(text)
    return int(value) if value is not None else 0


def _is_launch(name: str) -> bool:
    return name == LAUNCH_STATS_NAME or name.startswith(LAUNCH_STATS_NAME + " (")  # --stats-by-platform


def read_history(path: str | Path) -> History:
    """Locust's ``_stats_history.csv`` (streamed: a full history of a long run is large). A missing
    or unreadable file is an empty history; rows that are not Locust's are skipped."""
    history = History()
    by_time: dict[int, Sample] = {}
    try:
        with Path(path).open(newline="", encoding="utf-8", errors="replace") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if not header:
                return history
            col = {name: k for k, name in enumerate(header)}
            if not {"Timestamp", "Name", "User Count", "Total Request Count"} <= col.keys():
                return history
            launches: dict[tuple[str, str], int] = {}

            def cell(row: list[str], name: str) -> str | None:
                k = col.get(name)
                return row[k] if k is not None and k < len(row) else None

            for row in reader:
                if len(row) < len(header) or not row[col["Timestamp"]].isdigit():
                    continue
                name = row[col["Name"]]
                if name != "Aggregated":
                    history.per_endpoint = True
                    if _is_launch(name):
                        launches[(cell(row, "Type") or "", name)] = _int(cell(row, "Total Request Count"))
                    continue
                t = int(row[col["Timestamp"]])
                p50, p95, p99 = (_float(cell(row, k)) for k in ("50%", "95%", "99%"))
                if history.per_endpoint and not _float(cell(row, "100%")):
                    p50 = p95 = p99 = None  # Locust's window held no request (or it had no snapshot yet): 0s
                by_time[t] = Sample(  # a second written twice: its last row
                    t, _int(cell(row, "User Count")), _int(cell(row, "Total Request Count")),
                    _int(cell(row, "Total Failure Count")), p50, p95, p99, sum(launches.values()),
                )  # fmt: skip
                launches = {}
    except OSError:
        return history
    samples = [by_time[t] for t in sorted(by_time)]
    if not history.per_endpoint:
        samples = [Sample(s.t, s.users, s.requests, s.failures, s.p50, s.p95, s.p99, None) for s in samples]
    history.samples = samples
    return history


@dataclass(frozen=True)
class Point:
    """One interval of the charts: its end (seconds after the first sample) and its figures."""

    x: float
    seconds: float
    """The interval's length (0 for the first sample, which only has levels)."""
    users: int
    rps: float | None
    fail_rps: float | None
    launch_rps: float | None
    p50: float | None
    p95: float | None
    p99: float | None


def _grown(now: int, before: int) -> int:
    return now - before if now >= before else now  # counts restarted (Locust's --reset-stats)


def _worst(values: Iterable[float | None]) -> float | None:
    found = [v for v in values if v is not None]
    return max(found) if found else None


def points(history: History, limit: int = CHART_POINTS) -> tuple[list[Point], int]:
    """The history as at most ``limit`` points (and the bucket width in seconds): rates are the
    requests of each bucket over its length (exact, from the cumulative counts), users and
    latencies the highest of the bucket. The first sample is the baseline (levels only)."""
    samples = history.samples
    if not samples:
        return [], 1
    t0 = samples[0].t
    width = max(1, math.ceil((samples[-1].t - t0) / max(1, limit)))
    first = samples[0]
    out = [Point(0.0, 0.0, first.users, None, None, None, first.p50, first.p95, first.p99)]
    bucket: list[tuple[Sample, Sample]] = []

    def close() -> None:
        seconds = sum(s.t - prev.t for prev, s in bucket)
        requests = sum(_grown(s.requests, prev.requests) for prev, s in bucket)
        failures = sum(_grown(s.failures, prev.failures) for prev, s in bucket)
        launch_rps = None
        if history.per_endpoint:
            launches = sum(_grown(s.launches or 0, prev.launches or 0) for prev, s in bucket)
            launch_rps = launches / seconds
        out.append(Point(
            float(bucket[-1][1].t - t0), float(seconds), max(s.users for _, s in bucket), requests / seconds,
            failures / seconds, launch_rps, _worst(s.p50 for _, s in bucket), _worst(s.p95 for _, s in bucket),
            _worst(s.p99 for _, s in bucket),
        ))  # fmt: skip
        bucket.clear()

    for prev, sample in itertools.pairwise(samples):
        if bucket and (sample.t - t0 - 1) // width != (bucket[0][1].t - t0 - 1) // width:
            close()
        bucket.append((prev, sample))
    if bucket:
        close()
    return out, width
