"""What a running load test looks like from outside: Locust's CSV files, read while it runs.

Locust rewrites ``<prefix>_stats.csv`` (cumulative, per endpoint) and appends to
``<prefix>_stats_history.csv`` every second. :func:`read_live` turns them into the summary's shape
(``totals``, ``endpoints``, ``users``), so that progress lines and ``--abort-on-fail`` use the same
figures and the same threshold code as the final verdict.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

__all__ = ["progress_line", "read_live"]

_LATENCY_COLUMNS = {"p50": "50%", "p90": "90%", "p95": "95%", "p99": "99%"}


def _number(row: dict[str, str], column: str) -> float:
    try:
        return float(row.get(column) or 0)
    except ValueError:
        return 0.0


def _row(row: dict[str, str]) -> dict[str, Any]:
    requests = int(_number(row, "Request Count"))
    failures = int(_number(row, "Failure Count"))
    out: dict[str, Any] = {
        "name": row.get("Name", ""),
        "method": row.get("Type", ""),
        "requests": requests,
        "failures": failures,
        "fail_ratio": failures / requests if requests else 0.0,
        "rps": _number(row, "Requests/s"),
        "avg_ms": _number(row, "Average Response Time"),
        "max_ms": _number(row, "Max Response Time"),
    }
    for key, column in _LATENCY_COLUMNS.items():
        out[key] = _number(row, column)
    return out


def _read(path: Path) -> list[dict[str, str]]:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    return list(csv.DictReader(io.StringIO(text)))


_TAIL = 64 * 1024
"""Bytes of the history read for the live figures: its latest rows are enough, and with
``--csv-full-history`` (a row per endpoint and second) the whole file of a long run is megabytes."""


def _read_tail(path: Path, size: int = _TAIL) -> list[dict[str, str]]:
    """The rows of the last ``size`` bytes of a CSV file (whole rows only), under its header."""
    try:
        with path.open("rb") as handle:
            header = handle.readline()
            start = max(len(header), handle.seek(0, os.SEEK_END) - size)
            handle.seek(start)
            body = handle.read()
    except OSError:
        return []
    if start > len(header):
        body = body[body.find(b"\n") + 1 :]  # the row cut by the start
    return list(csv.DictReader(io.StringIO((header + body).decode("utf-8", errors="replace"))))


def read_live(prefix: str | Path) -> dict[str, Any] | None:
    """The cumulative stats so far, or None before Locust wrote any."""
    rows = _read(Path(f"{prefix}_stats.csv"))
    if not rows:
        return None
    endpoints, totals = [], None
    for row in rows:
        if row.get("Name") == "Aggregated":
            totals = _row(row)
        else:
            endpoints.append(_row(row))
    if totals is None:
        return None
    users = 0
    history = _read_tail(Path(f"{prefix}_stats_history.csv"))
    for row in reversed(history):
        if row.get("Name") == "Aggregated":
            users = int(_number(row, "User Count"))
            totals["current_rps"] = _number(row, "Requests/s")
            totals["current_p95"] = _number(row, "95%")
            break
    return {"totals": totals, "endpoints": endpoints, "users": users}


def progress_line(elapsed: float, total: float, live: dict[str, Any] | None) -> str:
    """One plain line for a CI log: elapsed, users, rps, failures, p95."""
    head = f"[mobsim run] {min(elapsed, total):5.0f}/{total:.0f} s"
    if live is None:
        return f"{head}  starting"
    if elapsed > total:
        head += " (finishing sessions in progress)"
    t = live["totals"]
    rps = t.get("current_rps", t["rps"])
    p95 = t.get("current_p95", t["p95"])
    return (
        f"{head}  users {live['users']}  rps {rps:.1f}  requests {t['requests']}  "
        f"failures {t['failures']} ({t['fail_ratio']:.2%})  p95 {p95:g} ms"
    )
