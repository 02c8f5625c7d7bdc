"""What ``mobsim run`` reports: the reconciliation, the traffic mix, ``summary.json`` and the console.

The counts are what the target acknowledged (a 2xx that carried them, counted by the devices:
``simulator.outcomes``), next to what was still pending in the devices when the run ended and, on a
target with mobsim's inspection API (the bundled server included), what the server stored during
the run: the difference of its event counts after and before the measured window.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx

from contract.headers import inspection_headers

from .output import Output
from .thresholds import Result

__all__ = [
    "SCHEMA_VERSION",
    "campaign_funnels",
    "message_figures",
    "print_summary",
    "reconcile",
    "reports_line",
    "stored_counts",
    "traffic_mix",
]

SCHEMA_VERSION = 1
"""``summary.json``'s schema; raised whenever a key changes meaning or goes away."""

STANDARD_EVENTS = ("Install", "Uninstall", "Personalize", "Depersonalize", "AppLaunch")
_STORED_AS = {
    "installs": "Install",
    "launches": "AppLaunch",
    "personalizations": "Personalize",
    "depersonalizations": "Depersonalize",
}
_LABELS = {
    "installs": "installs (registrations)",
    "launches": "App Launches",
    "personalizations": "personalizations",
    "depersonalizations": "logouts (depersonalize)",
    "events": "custom events",
    "user_updates": "user updates",
}


def stored_counts(url: str, app_code: str, *, timeout: float = 10.0) -> dict[str, int] | None:
    """The event counts of the app's account on a target with the inspection API (standard events
    by name, custom events summed as ``custom``, rejected ones as ``rejected``), or None when the
    target has no inspection API or does not list this app."""
    try:
        with httpx.Client(base_url=url, timeout=timeout) as client:
            apps = client.get("/inspect/applications", headers=inspection_headers())
            if apps.status_code != 200:
                return None
            listed = apps.json()
            rows = listed.get("applications", listed) if isinstance(listed, dict) else listed
            account = next((a.get("account") for a in rows if isinstance(a, dict) and a.get("code") == app_code), None)
            if account is None:
                return None
            answer = client.get("/inspect/event-counts", params={"account": account}, headers=inspection_headers())
            if answer.status_code != 200:
                return None
            data = answer.json()
    except (httpx.HTTPError, ValueError, AttributeError, TypeError):
        return None
    counts = data.get("counts", {}) if isinstance(data, dict) else {}
    out = {name: int(counts.get(name, 0)) for name in STANDARD_EVENTS}
    out["custom"] = sum(int(n) for name, n in counts.items() if name not in STANDARD_EVENTS)
    out["rejected"] = int(data.get("rejected", 0))
    return out


FUNNEL = ("sent", "handed", "delivered", "seen", "opened", "converted", "expired")
"""A campaign's funnel as the reference server counts it (``GET /inspect/campaigns``)."""


def campaign_funnels(
    url: str, app_code: str, *, since: datetime | None = None, timeout: float = 10.0
) -> list[dict[str, Any]] | None:
    """The funnel of each campaign of the app (created at or after ``since``) on a target with
    campaign metrics (``GET /inspect/campaigns``), newest first, or None."""
    params: dict[str, Any] = {"applicationCode": app_code, "limit": 100}
    if since is not None:
        params["since"] = since.isoformat()
    try:
        with httpx.Client(base_url=url, timeout=timeout) as client:
            answer = client.get("/inspect/campaigns", params=params, headers=inspection_headers())
            if answer.status_code != 200:
                return None
            data = answer.json()
    except (httpx.HTTPError, ValueError):
        return None
    rows = data.get("campaigns", data) if isinstance(data, dict) else data
    if not isinstance(rows, list):
        return None
    out = []
    for row in rows:
        if isinstance(row, dict):
            out.append({"bulkId": row.get("bulkId"), **{k: int(row.get(k) or 0) for k in FUNNEL}})
    return out


def message_figures(counts: Mapping[str, int], acknowledged: Mapping[str, int]) -> dict[str, int]:
    """What the run's devices did with pushes, and what the target acknowledged of it."""
    return {
        "received": int(counts.get("pushes_received", 0)),
        "held_for_a_session": int(counts.get("pushes_held", 0)),
        "dropped_by_the_sdk": int(counts.get("pushes_dropped", 0)),
        "stale_token": int(counts.get("pushes_stale", 0)),
        "not_for_this_run": int(counts.get("pushes_unroutable", 0)),
        "from_message_syncs": int(acknowledged.get("messages_synced", 0)),
        "delivery_reports_acknowledged": int(acknowledged.get("deliveries", 0)),
        "seen_acknowledged": int(acknowledged.get("seen", 0)),
        "opens": int(counts.get("opens", 0)),
        "conversions": int(counts.get("conversions", 0)),
    }


def reconcile(
    acknowledged: Mapping[str, int],
    pending: Mapping[str, int],
    before: Mapping[str, int] | None,
    after: Mapping[str, int] | None,
) -> dict[str, Any]:
    """One row per kind: acknowledged, pending in devices, stored by the server, the difference."""
    stored_known = before is not None and after is not None
    rows = []
    for kind in ("installs", "launches", "personalizations", "depersonalizations", "events", "user_updates"):
        acked = int(acknowledged.get(kind, 0))
        if kind == "personalizations":
            acked += int(acknowledged.get("repersonalizations", 0))
        row: dict[str, Any] = {
            "kind": kind,
            "label": _LABELS[kind],
            "acknowledged": acked,
            "pending": int(pending.get(kind, 0)),
            "stored": None,
            "difference": None,
        }
        if stored_known and kind != "user_updates":
            assert before is not None and after is not None
            name = _STORED_AS.get(kind, "custom")
            stored = after.get(name, 0) - before.get(name, 0)
            row["stored"] = stored
            row["difference"] = stored - acked
            if kind == "events":
                row["rejected"] = after.get("rejected", 0) - before.get("rejected", 0)
                row["difference"] = stored + row["rejected"] - acked
        rows.append(row)
    agree = stored_known and all(r["difference"] in (None, 0) for r in rows)
    return {"stored_available": stored_known, "rows": rows, "agree": agree}


def traffic_mix(endpoints: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Requests per endpoint stats name (wire methods merged), largest share first."""
    by_name: dict[str, int] = {}
    for row in endpoints:
        by_name[row["name"]] = by_name.get(row["name"], 0) + int(row["requests"])
    total = sum(by_name.values()) or 1
    return [
        {"name": name, "requests": n, "share": round(n / total, 4)}
        for name, n in sorted(by_name.items(), key=lambda kv: (-kv[1], kv[0]))
    ]


def _ms(value: float) -> str:
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def _print_providers(out: Output, report: dict[str, Any] | None) -> None:
    """The push providers' journal (``--providers`` or a providers' ``--deliveries-url``)."""
    if not report:
        return
    if report.get("error"):
        out.line(f"push providers: {report['error']}", "bad")
        return
    if report.get("note"):
        out.line(f"push providers: {report['note']}")
        return
    journal = report["journal"]
    per = ", ".join(f"{name} {figures.get('accepted', 0)}" for name, figures in journal.get("providers", {}).items())
    verdict, tone = ("passed", "ok") if report["ok"] else ("FAILED", "bad")
    out.line(f"push providers: {journal.get('accepted', 0)} sends accepted ({per or 'none'}), "
             f"{journal.get('rejected', 0)} rejected; journal checks {verdict}", tone)  # fmt: skip
    for problem in report.get("problems", [])[:10]:
        out.line(f"  {problem}", "bad")


def reports_line(paths: Mapping[str, Any], junit: str | None, *, page_written: bool) -> str:
    """The run's closing list of its reports: mobsim's page first when it was written (a page that
    could not be written is not offered: its warning is printed above), then Locust's page, the CSV
    files, the JSON summary and the JUnit file when asked for."""
    files = [str(paths["mobsim_html"])] if page_written else []
    files += [str(paths["html"]), f"{paths['csv']}_*.csv", str(paths["json"])]
    return "reports: " + ", ".join(files + ([junit] if junit else []))


def print_summary(out: Output, summary: dict[str, Any], results: list[Result]) -> None:
    target = summary["target"]
    rows = [
        [row["method"], row["name"], str(row["requests"]), str(row["failures"]), f"{row['rps']:.1f}",
         _ms(row["p50"]), _ms(row["p95"]), _ms(row["p99"])]
        for row in summary["endpoints"]
    ]  # fmt: skip
    t = summary["totals"]
    rows.append(["", "all", str(t["requests"]), str(t["failures"]), f"{t['rps']:.1f}", _ms(t["p50"]),
                 _ms(t["p95"]), _ms(t["p99"])])  # fmt: skip
    out.table(
        f"mobsim run against {target['url']} (app {target['app_code']})",
        ["sent as", "endpoint", "requests", "fails", "req/s", "p50 ms", "p95 ms", "p99 ms"],
        rows,
        right=6,
    )
    mix = summary["traffic_mix"]
    if mix:
        out.line("traffic mix: " + ", ".join(f"{m['name']} {m['share']:.1%}" for m in mix))
    s = summary["sessions"]
    personas = ", ".join(f"{k} {v}" for k, v in sorted(summary.get("personas", {}).items()))
    out.line(f"app sessions {s.get('sessions', 0)} ({personas or 'none'}); quick returns {s.get('quick_returns', 0)}, "
             f"uninstalls {s.get('uninstalls', 0)}, devices driven {summary['devices_touched']}")  # fmt: skip
    base = summary.get("installed_base")
    if base:
        out.line(
            f"installed base: {base.get('registered', 0)} devices registered before the run "
            f"({base.get('personalized', 0)} logged in, {base.get('failed', 0)} failed) "
            f"in {base.get('seconds', 0):.1f} s; {base.get('resumed', 0)} resumed from the state file"
        )
    _print_providers(out, summary.get("providers"))
    rec = summary["reconciliation"]
    columns = ["what", "acknowledged", "pending"]
    if rec["stored_available"]:
        columns += ["stored", "difference"]
    table = []
    for row in rec["rows"]:
        cells = [row["label"], str(row["acknowledged"]), str(row["pending"])]
        if rec["stored_available"]:
            stored = "-" if row["stored"] is None else str(row["stored"])
            if row.get("rejected"):
                stored += f" (+{row['rejected']} rejected)"
            cells += [stored, "-" if row["difference"] is None else f"{row['difference']:+d}"]
        table.append(cells)
    out.table(
        "what the target acknowledged, what was still pending in the devices, what the server stored",
        columns,
        table,
        right=len(columns) - 1,
    )
    if rec["stored_available"]:
        if rec["agree"]:
            out.line("the server stored exactly what it acknowledged", "ok")
        else:
            out.line(
                "the server's counts differ from what it acknowledged: requests cut short at the end of the run "
                "(stored, answer never read) or answers that were lost",
                "warn",
            )
    else:
        out.line("the target has no inspection API: stored counts are not available")
    _print_messages(out, summary)
    if summary["business_errors"]:
        out.line(f"expected business errors (not failures): {summary['business_errors']}")
    _print_recovery(out, summary)
    if summary["sessions"].get("aborted"):
        out.line(f"sessions cut short by a simulator error (mobsim's own bug): {summary['sessions']['aborted']}",
                 "warn")  # fmt: skip
    if "arrivals" in summary:
        a = summary["arrivals"]
        out.line(
            f"open model: target {a['target_rate']:g} sessions/s, achieved {a['achieved_rate']:.2f}/s over "
            f"{a['seconds']:.1f} s, scheduled {a['scheduled']}, started {a['started']}, dropped {a['dropped']} "
            "(could not start on time)"
        )
    for error in summary["errors"][:5]:
        out.line(f"{error['occurrences']}x {error['method']} {error['name']}: {error['error']}", "bad")
    for problem in summary.get("exceptions", [])[:3]:
        out.line(f"{problem['count']}x exception in a session: {problem['msg']}", "bad")
    for result in results:
        out.line(result.line(), "ok" if result.passed else "bad")


def _print_recovery(out: Output, summary: dict[str, Any]) -> None:
    """What the devices did after failures: the errors the app got and went on after, what they
    sent again, and the transport's retries on a stale connection."""
    errors = summary.get("app_errors") or {}
    if errors:
        shown = ", ".join(f"{code} {n}" for code, n in sorted(errors.items(), key=lambda kv: (-kv[1], kv[0]))[:6])
        out.line(f"errors the SDK handed the app, after which the sessions went on: {sum(errors.values())} ({shown})")
    resent = {kind: n for kind, n in (summary.get("resent") or {}).items() if n}
    if resent:
        shown = ", ".join(f"{kind} {n}" for kind, n in resent.items())
        out.line(f"sent again by the devices after a failure (their SDK's retries and next triggers): {shown}")
    retried = int((summary.get("transport") or {}).get("retried_on_stale_connection", 0))
    if retried:
        out.line(f"requests sent again after a reused connection broke before any answer: {retried}")


def _print_messages(out: Output, summary: dict[str, Any]) -> None:
    figures = summary.get("messages") or {}
    campaigns = summary.get("campaigns") or []
    if not figures.get("received") and not campaigns:
        return
    n = {key: figures.get(key, 0) for key in figures}
    out.line(
        f"pushes: {n.get('received', 0)} taken by the devices' SDKs ({n.get('held_for_a_session', 0)} held for a "
        f"session, {n.get('dropped_by_the_sdk', 0)} dropped by the SDK), {n.get('from_message_syncs', 0)} messages "
        f"from message syncs; {n.get('delivery_reports_acknowledged', 0)} delivery reports and "
        f"{n.get('seen_acknowledged', 0)} seen reports acknowledged; {n.get('opens', 0)} opens, "
        f"{n.get('conversions', 0)} conversions"
    )
    if campaigns:
        out.table(
            "campaigns, as the server counts them",
            ["bulk", *FUNNEL],
            [[str(c["bulkId"]), *(str(c[k]) for k in FUNNEL)] for c in campaigns],
            right=len(FUNNEL),
        )
