"""``mobsim run``'s own HTML report: ``<out-dir>/mobsim-report.html``, beside Locust's ``report.html``.

One static page, readable offline and without JavaScript: the verdict and its reason, the
thresholds with what was observed, charts over time (inline SVG drawn here, each with a table of
the same figures), the endpoints, the traffic mix, the reconciliation, the campaign funnels, the
push providers' journal and the run's other figures. Every value from the summary or the CSV files
is HTML-escaped; the page loads nothing (no script, no style sheet, no image, no font). The figures
over time are Locust's history CSV as :mod:`mobsim.run_history` reads it.

:func:`render` is pure (the summary and a read history in, a string out); :func:`write_reports`
writes the page and links Locust's report to it (:func:`link_locust_report`: a plain ``<div>``
after the real ``<body>`` tag, no script, so Locust's page, a JavaScript app mounted on ``#root``,
works as before).
"""

from __future__ import annotations

import html
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .run_history import LAUNCH_STATS_NAME, History, points, read_history

__all__ = ["REPORT_NAME", "link_locust_report", "render", "svg_chart", "write_reports"]

REPORT_NAME = "mobsim-report.html"
"""The page's file name, in the run's ``--out-dir``."""
TABLE_ROWS = 240
"""At most this many rows in the table under the charts."""
_MARKER = "<!-- mobsim: link to mobsim's report -->"
_FUNNEL = ("sent", "handed", "delivered", "seen", "opened", "converted", "expired")


def _e(value: object) -> str:
    """Any value as escaped HTML text (quotes too, so that it is safe in an attribute)."""
    return html.escape(str(value), quote=True)


# -- SVG charts ---------------------------------------------------------------------------------------

_W, _H = 760, 250
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 16, 42, 44
_COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df")


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks if span > 0 else 1.0
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0):
        if raw <= factor * magnitude:
            return factor * magnitude
    return 10.0 * magnitude


_TIME_STEPS = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def _time_step(span: float, ticks: int = 8) -> float:
    """A step for the time axis in whole seconds, minutes or hours."""
    wanted = span / ticks
    return float(next((s for s in _TIME_STEPS if s >= wanted), 86400 * math.ceil(wanted / 86400)))


def _number(value: float) -> str:
    if value == int(value):
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


def _clock(seconds: float) -> str:
    """An x tick: seconds up to 10 minutes, then m:ss, then h:mm:ss."""
    if seconds < 600:
        return f"{_number(seconds)} s"
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"


Series = tuple[str, Sequence[tuple[float, float | None]]]
"""A chart line: its label and its (x, y) points; a None y is a gap."""


def svg_chart(
    title: str,
    unit: str,
    series: Sequence[Series],
    *,
    x_label: str = "seconds since the load started",
    whole: bool = False,
) -> str:
    """A line chart as inline SVG: axes with ticks and labels, a legend, a line per series (a dot
    where a point stands alone). ``whole``: the values are counts (no tick between two whole
    numbers). With no point at all, a sentence instead."""
    drawn = [(label, [(x, y) for x, y in pts if y is not None]) for label, pts in series]
    if not any(pts for _, pts in drawn):
        return f'<p class="empty">{_e(title)}: no data.</p>'
    xs = [x for _, pts in drawn for x, _ in pts]
    ys = [y for _, pts in drawn for _, y in pts]
    x_max = max(max(xs), 1.0)
    y_step = _nice_step(max(max(ys), 0.0) or 1.0)
    if whole:
        y_step = max(1.0, y_step)
    y_max = y_step * max(1, math.ceil(max(max(ys), 0.0) / y_step))
    inner_w, inner_h = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def px(x: float) -> float:
        return _LEFT + inner_w * x / x_max

    def py(y: float) -> float:
        return _TOP + inner_h * (1 - max(0.0, y) / y_max)

    parts = [
        f'<svg class="chart" viewBox="0 0 {_W} {_H}" role="img" aria-label="{_e(title)}">',
        f"<title>{_e(title)}</title>",
        f'<text x="{_LEFT}" y="15" class="ct">{_e(title)}</text>',
    ]
    k = 0
    while k * y_step <= y_max + 1e-9:
        y = k * y_step
        parts.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{py(y):.1f}" y2="{py(y):.1f}" class="grid"/>')
        parts.append(f'<text x="{_LEFT - 6}" y="{py(y) + 4:.1f}" class="yt">{_e(_number(y))}</text>')
        k += 1
    x_step = _time_step(x_max)
    k = 0
    while k * x_step <= x_max + 1e-9:
        x = k * x_step
        parts.append(
            f'<line x1="{px(x):.1f}" x2="{px(x):.1f}" y1="{_H - _BOTTOM}" y2="{_H - _BOTTOM + 4}" class="ax"/>'
        )
        parts.append(f'<text x="{px(x):.1f}" y="{_H - _BOTTOM + 16}" class="xt">{_e(_clock(x))}</text>')
        k += 1
    parts.append(f'<line x1="{_LEFT}" x2="{_W - _RIGHT}" y1="{_H - _BOTTOM}" y2="{_H - _BOTTOM}" class="ax"/>')
    parts.append(f'<line x1="{_LEFT}" x2="{_LEFT}" y1="{_TOP}" y2="{_H - _BOTTOM}" class="ax"/>')
    parts.append(f'<text x="{_LEFT + inner_w / 2:.0f}" y="{_H - 8}" class="xl">{_e(x_label)}</text>')
    parts.append(f'<text transform="translate(14 {_TOP + inner_h / 2:.0f}) rotate(-90)" class="xl">{_e(unit)}</text>')
    for n, (label, pts) in enumerate(series):
        colour = _COLOURS[n % len(_COLOURS)]
        runs: list[list[tuple[float, float]]] = [[]]
        for x, value in pts:
            if value is None:
                runs.append([])
            else:
                runs[-1].append((x, value))
        for run in runs:
            if len(run) == 1:
                x, y = run[0]
                parts.append(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>')
            elif run:
                line = " ".join(f"{px(x):.1f},{py(y):.1f}" for x, y in run)
                parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="1.6"/>')
        lx = _LEFT + 150 * n
        parts.append(f'<line x1="{lx}" x2="{lx + 18}" y1="28" y2="28" stroke="{colour}" stroke-width="3"/>')
        parts.append(f'<text x="{lx + 23}" y="32" class="lg">{_e(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)


# -- the page -----------------------------------------------------------------------------------------

_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff;margin:0}
main{max-width:1080px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.4em 0 1em;font-variant-numeric:tabular-nums}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right}th{background:#f6f8fa}
.verdict{padding:12px 16px;border-radius:6px;font-size:1.1em;margin:12px 0}
.passed{background:#dafbe1;border:1px solid #1a7f37}.failed{background:#ffebe9;border:1px solid #d1242f}
.interrupted{background:#fff8c5;border:1px solid #9a6700}
.ok{color:#1a7f37;font-weight:600}.bad{color:#d1242f;font-weight:600}.note,.empty{color:#59636e}
.bar{display:inline-block;height:.8em;background:#1f6feb;vertical-align:middle}
.chart{width:100%;max-width:760px;height:auto;display:block;margin:.6em 0}
.chart text{font:12px system-ui,sans-serif;fill:#1f2328}.chart .ct{font-weight:600;font-size:13px}
.chart .yt{text-anchor:end}.chart .xt,.chart .xl{text-anchor:middle}
.chart .grid{stroke:#eaeef2}.chart .ax{stroke:#59636e}
code{font-size:.92em}nav a{margin-right:1em}figure{margin:1em 0}
"""


def _table(head: Sequence[str], rows: Iterable[Sequence[object]], numeric_from: int = 1) -> str:
    """A table; cells are escaped (a cell of type :class:`_Raw` is already HTML)."""
    cls = [' class="n"' if k >= numeric_from else "" for k in range(len(head))]
    out = ["<table><tr>", *(f"<th{cls[k]}>{_e(h)}</th>" for k, h in enumerate(head)), "</tr>"]
    for row in rows:
        out.append("<tr>" + "".join(f"<td{cls[k] if k < len(cls) else ''}>{_cell(v)}</td>"
                                    for k, v in enumerate(row)) + "</tr>")  # fmt: skip
    out.append("</table>")
    return "".join(out)


class _Raw(str):
    """HTML built here (its parts escaped), to put in a table cell as it is."""


def _cell(value: object) -> str:
    if isinstance(value, _Raw):
        return str(value)
    if value is None:
        return "-"
    if isinstance(value, float):
        return _e(_figure(value))
    return _e(value)


def _figure(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _ok(passed: bool) -> _Raw:
    return _Raw('<span class="ok">✓ pass</span>' if passed else '<span class="bad">✗ fail</span>')


_UNITS = {"p50": " ms", "p90": " ms", "p95": " ms", "p99": " ms", "avg": " ms", "max": " ms", "rps": " req/s"}


def _observed(row: Mapping[str, Any]) -> str:
    value = row.get("observed")
    if value is None:
        return "no data"
    return f"{value:g}{_UNITS.get(str(row.get('metric')), '')}"


def _seconds(value: object) -> str | None:
    return None if value is None else f"{value} s"


def _head(summary: Mapping[str, Any], links: Sequence[tuple[str, str]]) -> list[str]:
    target = summary.get("target") or {}
    options = summary.get("options") or {}
    verdict = summary.get("verdict") or {}
    result = str(verdict.get("result", "unknown"))
    tone = result if result in ("passed", "failed", "interrupted") else "failed"
    where = "the bundled reference server" if target.get("bundled") else "the target"
    parts = [
        f"<h1>mobsim run against {_e(target.get('url', '?'))}</h1>",
        f'<p class="note">{_e(where)}, app {_e(target.get("app_code", "?"))}; mobsim '
        f"{_e(summary.get('mobsim_version', '?'))}; started {_e(summary.get('started_at', '?'))}, load from "
        f"{_e(summary.get('load_started_at', '?'))} to {_e(summary.get('ended_at', '?'))}</p>",
    ]
    if links:
        parts.append("<nav>" + "".join(f'<a href="{_e(href)}">{_e(label)}</a>' for label, href in links) + "</nav>")
    parts.append(
        f'<div class="verdict {_e(tone)}" id="verdict"><strong>verdict: {_e(result)}</strong> (exit '
        f"{_e(verdict.get('exit_code', '?'))}): {_e(verdict.get('reason', ''))}</div>"
    )
    load = [
        ("users", options.get("users")), ("spawn rate", options.get("spawn_rate")),
        ("run time", _seconds(options.get("run_time_s"))), ("shape", options.get("shape_plan")),
        ("population", options.get("population")), ("seed", options.get("seed")),
        ("Locust processes", options.get("processes")), ("duration", _seconds(summary.get("duration_s"))),
    ]  # fmt: skip
    load += [(f"fault {n}", spec) for n, spec in enumerate(options.get("faults") or [], 1)]
    parts.append(_table(["option", "value"], load, numeric_from=9))
    return parts


def _thresholds(summary: Mapping[str, Any]) -> list[str]:
    rows = summary.get("thresholds") or []
    parts = ['<h2 id="thresholds">Thresholds</h2>']
    if not rows:
        parts.append('<p class="note">No threshold given: the run passes when requests were sent and none '
                     "failed.</p>")  # fmt: skip
        return parts
    table = [
        [_Raw(f"<code>{_e(r.get('expression', ''))}</code>"), r.get("source") or "--threshold", _observed(r),
         _ok(bool(r.get("passed")))]
        for r in rows
    ]  # fmt: skip
    parts.append(_table(["threshold", "given as", "observed", "result"], table, numeric_from=2))
    return parts


def _figure_of(chart: str, caption: str) -> str:
    return f'<figure>{chart}<figcaption class="note">{_e(caption)}</figcaption></figure>'


def _charts(summary: Mapping[str, Any], history: History) -> list[str]:
    pts, width = points(history)
    parts = ['<h2 id="over-time">Over time</h2>']
    if not pts:
        parts.append('<p class="empty">No history: Locust wrote no <code>_stats_history.csv</code> rows.</p>')
        return parts
    each = f"Each point is {width} seconds" if width > 1 else "Each point is one second"
    rates = [p for p in pts if p.seconds > 0]
    parts.append(_figure_of(svg_chart("Requests per second", "requests/s", [
        ("requests/s", [(p.x, p.rps) for p in rates]), ("failures/s", [(p.x, p.fail_rps) for p in rates]),
    ]), f"{each}: the requests Locust counted in it over its length (from the cumulative counts)."))  # fmt: skip
    window = ("over Locust's last 10 seconds at each second" if history.per_endpoint
              else "since the start (cumulative: the history has no per-endpoint rows)")  # fmt: skip
    worst = f"; the highest of each {width} seconds" if width > 1 else ""
    parts.append(_figure_of(svg_chart("Latency percentiles", "ms", [
        ("p50", [(p.x, p.p50) for p in pts]), ("p95", [(p.x, p.p95) for p in pts]),
        ("p99", [(p.x, p.p99) for p in pts]),
    ]), f"Response-time percentiles of all requests, {window}{worst}."))  # fmt: skip
    users = [(p.x, float(p.users)) for p in pts]
    parts.append(_figure_of(svg_chart("Users", "users", [("users", users)], whole=True),
                            "Locust's running users (the highest of each point)."))  # fmt: skip
    if history.per_endpoint:
        chart = svg_chart("App Launches: session reports per second", "reports/s",
                          [("session reports/s", [(p.x, p.launch_rps) for p in rates])])  # fmt: skip
        parts.append(_figure_of(chart, f"{each}: requests to {LAUNCH_STATS_NAME}, the request that carries App "
                                f"Launches on every platform; {_launches(summary)}."))  # fmt: skip
    else:
        parts.append('<p class="empty">App Launches over time need the per-endpoint history (Locust\'s '
                     "<code>--csv-full-history</code>, which <code>mobsim run</code> passes).</p>")  # fmt: skip
    parts.append(_history_table(history))
    return parts


def _launches(summary: Mapping[str, Any]) -> str:
    rows = {r.get("kind"): r for r in (summary.get("reconciliation") or {}).get("rows", [])}
    acked = (rows.get("launches") or {}).get("acknowledged")
    if acked is None:
        return "a report may carry several session starts, or none (only session ends)"
    return f"a report may carry several session starts, or none; the target acknowledged {acked} App Launches in all"


def _history_table(history: History) -> str:
    pts, width = points(history, TABLE_ROWS)
    head = ["second", "users", "requests/s", "failures/s", "p50 ms", "p95 ms", "p99 ms", "session reports/s"]
    rows = [[_number(p.x), p.users, p.rps, p.fail_rps, p.p50, p.p95, p.p99, p.launch_rps] for p in pts]
    size = f"{len(rows)} rows, each {width} s" if width > 1 else f"{len(rows)} rows, one a second"
    return f"<details><summary>The figures over time as a table ({_e(size)})</summary>{_table(head, rows)}</details>"


def _endpoints(summary: Mapping[str, Any]) -> list[str]:
    rows = [
        [r.get("method", ""), r.get("name", ""), r.get("requests", 0), r.get("failures", 0), r.get("rps"),
         r.get("p50"), r.get("p95"), r.get("p99")]
        for r in summary.get("endpoints") or []
    ]  # fmt: skip
    t = summary.get("totals") or {}
    rows.append(["", "all", t.get("requests", 0), t.get("failures", 0), t.get("rps"), t.get("p50"), t.get("p95"),
                 t.get("p99")])  # fmt: skip
    head = ["sent as", "endpoint", "requests", "fails", "req/s", "p50 ms", "p95 ms", "p99 ms"]
    return ['<h2 id="endpoints">Endpoints</h2>', _table(head, rows, numeric_from=2)]


def _bar(share: float) -> _Raw:
    width = max(0.0, min(1.0, share)) * 100
    return _Raw(f'<span class="bar" style="width:{width:.1f}px"></span> {_e(f"{share:.1%}")}')


def _mix(summary: Mapping[str, Any]) -> list[str]:
    mix = summary.get("traffic_mix") or []
    parts = ['<h2 id="traffic-mix">Traffic mix</h2>']
    if not mix:
        return [*parts, '<p class="empty">No request was sent.</p>']
    rows = [[m.get("name", ""), m.get("requests", 0), _bar(float(m.get("share", 0.0)))] for m in mix]
    return [*parts, _table(["endpoint", "requests", "share"], rows)]


def _reconciliation(summary: Mapping[str, Any]) -> list[str]:
    rec = summary.get("reconciliation") or {}
    stored = bool(rec.get("stored_available"))
    head = ["what", "acknowledged", "pending in the devices", *(["stored", "difference"] if stored else [])]
    rows = []
    for r in rec.get("rows", []):
        row: list[object] = [r.get("label", r.get("kind", "")), r.get("acknowledged", 0), r.get("pending", 0)]
        if stored:
            shown = "-" if r.get("stored") is None else str(r["stored"])
            if r.get("rejected"):
                shown += f" (+{r['rejected']} rejected)"
            diff = r.get("difference")
            row += [shown, "-" if diff is None else f"{diff:+d}"]
        rows.append(row)
    parts = ['<h2 id="reconciliation">What the target acknowledged, what was pending, what the server stored</h2>',
             _table(head, rows)]  # fmt: skip
    if not stored:
        parts.append('<p class="note">The target has no inspection API: stored counts are not available.</p>')
    elif rec.get("agree"):
        parts.append('<p class="ok">The server stored exactly what it acknowledged.</p>')
    else:
        parts.append('<p class="bad">The server\'s counts differ from what it acknowledged: requests cut short at '
                     "the end of the run (stored, answer never read) or answers that were lost.</p>")  # fmt: skip
    return parts


def _campaigns(summary: Mapping[str, Any]) -> list[str]:
    campaigns = summary.get("campaigns") or []
    spike = summary.get("campaign")
    messages = summary.get("messages") or {}
    if not campaigns and not spike and not messages.get("received"):
        return []
    parts = ['<h2 id="campaigns">Campaigns and pushes</h2>']
    if spike:
        if spike.get("error"):
            parts.append(f'<p class="bad">The spike campaign failed: {_e(spike["error"])}</p>')
        else:
            parts.append(f"<p>The spike campaign <code>{_e(spike.get('bulkId'))}</code> to the segment "
                         f"{_e(spike.get('segment'))}: {_e(spike.get('messages'))} messages written by the "
                         "server.</p>")  # fmt: skip
    for c in campaigns:
        sent = int(c.get("sent") or 0)
        rows = [[k, c.get(k, 0), _bar(int(c.get(k) or 0) / sent if sent else 0.0)] for k in _FUNNEL]
        parts.append(f"<h3>Funnel of <code>{_e(c.get('bulkId'))}</code>, as the server counts it</h3>")
        parts.append(_table(["step", "messages", "of sent"], rows))
    if messages:
        labels = {k: k.replace("_", " ") for k in messages}
        parts.append("<h3>What the run's devices did with pushes</h3>")
        parts.append(_table(["figure", "count"], [[labels[k], v] for k, v in messages.items()]))
    return parts


def _providers(summary: Mapping[str, Any]) -> list[str]:
    report = summary.get("providers")
    if not report:
        return []
    parts = ['<h2 id="providers">Push providers</h2>']
    if report.get("error"):
        return [*parts, f'<p class="bad">push providers: {_e(report["error"])}</p>']
    if report.get("note"):
        return [*parts, f"<p>push providers: {_e(report['note'])}</p>"]
    journal = report.get("journal") or {}
    per = ", ".join(f"{name} {(f or {}).get('accepted', 0)}" for name, f in (journal.get("providers") or {}).items())
    verdict, tone = ("passed", "ok") if report.get("ok") else ("FAILED", "bad")
    parts.append(f'<p class="{tone}">push providers: {_e(journal.get("accepted", 0))} sends accepted '
                 f"({_e(per or 'none')}), {_e(journal.get('rejected', 0))} rejected; journal checks "
                 f"{verdict}</p>")  # fmt: skip
    problems = report.get("problems") or []
    if problems:
        parts.append("<ul>" + "".join(f'<li class="bad">{_e(p)}</li>' for p in problems) + "</ul>")
    relay = {k: v for k, v in (report.get("relay") or {}).items() if isinstance(v, int | float | str)}
    if relay:
        parts.append(_table(["the bundled server's relay", "value"], relay.items()))
    return parts


def _details(summary: Mapping[str, Any]) -> list[str]:
    parts = ['<h2 id="details">Sessions, set-up and errors</h2>']
    sessions = summary.get("sessions") or {}
    if sessions:
        parts.append(_table(["sessions", "count"], [[k.replace("_", " "), v] for k, v in sessions.items()]))
    personas = summary.get("personas") or {}
    if personas:
        parts.append(_table(["persona", "sessions"], sorted(personas.items())))
    base = summary.get("installed_base")
    if base:
        figures = [[k, v] for k, v in base.items() if not isinstance(v, dict)]
        figures += [[f"error {code}", n] for code, n in (base.get("errors") or {}).items()]
        parts.append(_table(["installed base", "value"], figures))
    if "arrivals" in summary:
        parts.append(_table(["open model", "value"], list((summary["arrivals"] or {}).items())))
    for key, title in (("app_errors", "errors the SDK handed the app"), ("resent", "sent again after a failure"),
                       ("transport", "the transport"), ("business_errors", "expected business errors")):  # fmt: skip
        values = {k: v for k, v in (summary.get(key) or {}).items() if v}
        if values:
            parts.append(_table([title, "count"], values.items()))
    errors = summary.get("errors") or []
    if errors:
        rows = [[e.get("occurrences"), e.get("method"), e.get("name"), e.get("error")] for e in errors]
        parts.append(_table(["failed", "method", "endpoint", "error"], rows, numeric_from=9))
    exceptions = summary.get("exceptions") or []
    if exceptions:
        rows = [[x.get("count"), x.get("msg")] for x in exceptions]
        parts.append(_table(["exceptions in sessions", "message"], rows, numeric_from=9))
    return parts


def render(summary: Mapping[str, Any], history: History, *, links: Sequence[tuple[str, str]] = ()) -> str:
    """The page for a run's summary (``summary.json``'s content) and its history. ``links``:
    (label, relative href) of the run's other reports."""
    verdict = (summary.get("verdict") or {}).get("result", "")
    body = [
        *_head(summary, links), *_thresholds(summary), *_charts(summary, history), *_endpoints(summary),
        *_mix(summary), *_reconciliation(summary), *_campaigns(summary), *_providers(summary), *_details(summary),
    ]  # fmt: skip
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>mobsim run: {_e(verdict)}</title><style>{_CSS}</style></head>\n"
        "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


# -- writing ------------------------------------------------------------------------------------------


def _href(target: Path, from_dir: Path) -> str:
    return quote(os.path.relpath(target.resolve(), from_dir.resolve()).replace(os.sep, "/"))


_BODY = re.compile(r"<body\b[^>]*>", re.IGNORECASE)


def link_locust_report(locust_html: Path, report: Path, verdict: Mapping[str, Any]) -> bool:
    """Put a link to mobsim's page at the top of Locust's report: a ``<div>`` right after the page's
    ``<body>`` tag (the first one after ``</head>``: the script in the head holds a ``<body`` in a
    string). No script, outside Locust's ``#root``. False when the file is not there or not Locust's
    shape; once only."""
    try:
        text = locust_html.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    if _MARKER in text:
        return True
    head_end = text.find("</head>")
    found = _BODY.search(text, head_end) if head_end >= 0 else None
    if found is None:
        return False
    href = _href(report, locust_html.parent)
    banner = (
        f'{_MARKER}<div id="mobsim-report-link" style="font:14px/1.5 system-ui,sans-serif;color:#1f2328;'
        'background:#fff8c5;border-bottom:1px solid #d4a72c;padding:6px 16px">'
        f"mobsim verdict: <strong>{_e(verdict.get('result', '?'))}</strong> ({_e(verdict.get('reason', ''))}). "
        f'Thresholds, reconciliation, funnels and charts: <a href="{_e(href)}">{_e(report.name)}</a></div>'
    )
    locust_html.write_text(text[: found.end()] + banner + text[found.end() :], encoding="utf-8")
    return True


def write_reports(
    summary: Mapping[str, Any], csv_prefix: str | Path, report: Path, *, locust_html: Path, summary_json: Path
) -> str | None:
    """Write mobsim's page and link Locust's report to it; a sentence when that failed, else None."""
    csv_prefix = Path(csv_prefix)
    here = report.parent
    links = [(f"Locust's report ({locust_html.name})", _href(locust_html, here)),
             (summary_json.name, _href(summary_json, here)),
             ("the history CSV", _href(Path(f"{csv_prefix}_stats_history.csv"), here)),
             ("the stats CSV", _href(Path(f"{csv_prefix}_stats.csv"), here))]  # fmt: skip
    try:
        page = render(summary, read_history(f"{csv_prefix}_stats_history.csv"), links=links)
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(page, encoding="utf-8")
    except OSError as exc:
        return f"mobsim's HTML report was not written: {exc}"
    link_locust_report(locust_html, report, summary.get("verdict") or {})
    return None
