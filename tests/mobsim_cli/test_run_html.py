"""``mobsim run``'s HTML report (``mobsim/run_html.py``, ``mobsim/run_history.py``) without a
run: every section with the summary's own numbers, escaping of hostile names, an empty run, the
history read from Locust's CSV (exact rates, buckets, gaps), charts of 0, 1 and many points, a page
that loads nothing, and the link put into Locust's report. The real run's file is checked in
tests/scenarios/test_run_command.py."""

from __future__ import annotations

import copy
import html
import re
import tempfile
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from mobsim.run_history import LAUNCH_STATS_NAME, History, Sample, points, read_history
from mobsim.run_html import REPORT_NAME, link_locust_report, render, svg_chart, write_reports
from mobsim.run_live import read_live

HOSTILE_NAME = 'POST /x/<script>alert("e")</script>'
HOSTILE_EXPRESSION = "<img src=x onerror=alert(1)>: p95<300"
TARGET = "http://127.0.0.1:8080"


# fmt: off
def _summary() -> dict[str, Any]:
    endpoint = {"name": LAUNCH_STATS_NAME, "method": "POST", "requests": 60, "failures": 1, "rps": 2.0, "p50": 3.0,
                "p90": 5.0, "p95": 7.0, "p99": 11.0, "avg_ms": 3.5, "max_ms": 40.0}
    hostile = {**endpoint, "name": HOSTILE_NAME, "requests": 40, "failures": 0}
    rows = [
        {"kind": "installs", "label": "installs (registrations)", "acknowledged": 3, "pending": 0, "stored": 3,
         "difference": 0},
        {"kind": "launches", "label": "App Launches", "acknowledged": 57, "pending": 2, "stored": 58, "difference": 1},
        {"kind": "events", "label": "custom events", "acknowledged": 20, "pending": 4, "stored": 18, "difference": 0,
         "rejected": 2},
        {"kind": "user_updates", "label": "user updates", "acknowledged": 5, "pending": 0, "stored": None,
         "difference": None},
    ]
    return {
        "schema_version": 1,
        "mobsim_version": "0.1.0",
        "options": {"users": 10, "spawn_rate": 10.0, "run_time_s": 30, "shape_plan": "constant", "population": 200,
                    "seed": 1, "processes": 1, "faults": ["status=503,rate=0.3"]},
        "target": {"url": TARGET, "bundled": True, "app_code": "c76e…b403"},
        "started_at": "2026-01-01T10:00:00+00:00",
        "load_started_at": "2026-01-01T10:00:04+00:00",
        "ended_at": "2026-01-01T10:00:40+00:00",
        "duration_s": 31.2,
        "totals": {"requests": 100, "failures": 1, "fail_ratio": 0.01, "rps": 3.2, "p50": 3.0, "p90": 5.0,
                   "p95": 7.0, "p99": 11.0, "avg_ms": 3.5, "max_ms": 40.0},
        "endpoints": [endpoint, hostile],
        "traffic_mix": [{"name": LAUNCH_STATS_NAME, "requests": 60, "share": 0.6},
                        {"name": HOSTILE_NAME, "requests": 40, "share": 0.4}],
        "reconciliation": {"stored_available": True, "rows": rows, "agree": False},
        "thresholds": [
            {"expression": "p95<300", "source": "--threshold", "metric": "p95", "endpoint": None, "op": "<",
             "limit": 300.0, "observed": 7.0, "passed": True},
            {"expression": HOSTILE_EXPRESSION, "source": "--threshold", "metric": "p95", "endpoint": "x", "op": "<",
             "limit": 300.0, "observed": 312.5, "passed": False},
            {"expression": "fail_ratio<=0.001", "source": "--max-fail-ratio", "metric": "fail_ratio",
             "endpoint": None, "op": "<=", "limit": 0.001, "observed": None, "passed": False},
        ],
        "verdict": {"result": "failed", "exit_code": 1, "reason": "2 of 3 thresholds failed <b>"},
        "campaigns": [{"bulkId": "spike-<1>", "sent": 200, "handed": 200, "delivered": 190, "seen": 20,
                       "opened": 10, "converted": 4, "expired": 10}],
        "campaign": {"bulkId": "spike-<1>", "segment": "All installations", "messages": 200},
        "messages": {"received": 190, "opens": 10},
        "providers": {"feed": "http://127.0.0.1:9/deliveries", "ok": False, "problems": ["token <t> sent twice"],
                      "journal": {"accepted": 295, "rejected": 1, "providers": {"fcm": {"accepted": 161},
                                                                                 "apns": {"accepted": 134}}}},
        "sessions": {"sessions": 30, "launches": 28},
        "personas": {"browser": 12, "shopper": 18},
        "installed_base": {"devices": 196, "registered": 196, "failed": 0, "errors": {"503": 2}},
        "app_errors": {"GENERAL_ERROR": 3},
        "errors": [{"occurrences": 1, "method": "POST", "name": HOSTILE_NAME, "error": "HTTPError('503 <x>')"}],
        "exceptions": [],
    }
# fmt: on


class _Tables(HTMLParser):
    """Every table of a page as rows of cell texts, and every attribute value that points somewhere."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.refs: list[str] = []
        self.tags: set[str] = set()
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.refs += [v or "" for k, v in attrs if k in ("href", "src", "xlink:href", "action", "srcset")]
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _parse(page: str) -> _Tables:
    parser = _Tables()
    parser.feed(page)
    return parser


def _table(page: str, first_header: str) -> list[list[str]]:
    return next(t for t in _parse(page).tables if t and t[0] and t[0][0] == first_header)


def _history(rows: list[str], full: bool = True) -> str:
    head = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,"
            "Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,"
            "Total Min Response Time,Total Max Response Time,Total Average Content Size")  # fmt: skip
    return head + "\n" + "\n".join(rows) + "\n"


def _row(t: int, users: int, name: str, requests: int, failures: int = 0, p: tuple[Any, Any, Any] = (2, 5, 9),
         top: Any = 12, method: str = "") -> str:  # fmt: skip
    p50, p95, p99 = p
    percentiles = f"{p50},1,1,1,1,{p95},1,{p99},1,1,{top}"
    return f"{t},{users},{method},{name},1.0,0.0,{percentiles},{requests},{failures},1,1.5,0.5,9,10"


FULL = [
    _row(100, 0, "Aggregated", 0, p=("N/A",) * 3, top="N/A"),
    _row(101, 2, f"{LAUNCH_STATS_NAME} (ios)", 1, method="POST"),
    _row(101, 2, f"{LAUNCH_STATS_NAME} (android)", 2, method="POST"),
    _row(101, 2, "GET /mobile/1/baseurl", 7, method="GET"),
    _row(101, 2, "Aggregated", 10, p=(0, 0, 0), top=0),  # Locust had no snapshot 10 s back yet: 0s
    _row(102, 3, f"{LAUNCH_STATS_NAME} (ios)", 4, method="POST"),
    _row(102, 3, f"{LAUNCH_STATS_NAME} (android)", 2, method="POST"),
    _row(102, 3, "Aggregated", 16, failures=1, p=(3, 6, 10)),
    _row(104, 5, f"{LAUNCH_STATS_NAME} (ios)", 10, method="POST"),
    _row(104, 5, f"{LAUNCH_STATS_NAME} (android)", 2, method="POST"),
    _row(104, 5, "Aggregated", 40, failures=1, p=(4, 8, 30), top=40),
    "not,a,row",
    _row(104, 4, f"{LAUNCH_STATS_NAME} (ios)", 11, method="POST"),  # the same second again: its last rows count
    _row(104, 4, f"{LAUNCH_STATS_NAME} (android)", 2, method="POST"),
    _row(104, 4, "Aggregated", 42, failures=1, p=(4, 8, 31), top=40),
]


def read_history_from(rows: list[str], folder: Path | None = None) -> History:
    path = Path(folder or tempfile.mkdtemp()) / "h.csv"
    path.write_text(_history(rows))
    return read_history(path)


def html_escaped(text: str) -> str:
    return html.escape(text, quote=True)


def test_every_section_is_there_with_the_summarys_numbers() -> None:
    summary = _summary()
    page = render(summary, History(), links=[("Locust's report (report.html)", "report.html")])
    for anchor in ("verdict", "thresholds", "over-time", "endpoints", "traffic-mix", "reconciliation", "campaigns",
                   "providers", "details"):  # fmt: skip
        assert f'id="{anchor}"' in page, anchor
    assert "verdict: failed</strong> (exit 1): 2 of 3 thresholds failed &lt;b&gt;" in page
    assert _table(page, "threshold")[1:] == [
        ["p95<300", "--threshold", "7 ms", "✓ pass"],
        [HOSTILE_EXPRESSION, "--threshold", "312.5 ms", "✗ fail"],
        ["fail_ratio<=0.001", "--max-fail-ratio", "no data", "✗ fail"],
    ]
    assert _table(page, "endpoint")[1:] == [
        [LAUNCH_STATS_NAME, "60", "60.0%"], [HOSTILE_NAME, "40", "40.0%"],
    ]  # fmt: skip
    endpoints = _table(page, "sent as")
    assert endpoints[-1] == ["", "all", "100", "1", "3.20", "3.00", "7.00", "11.0"]
    assert endpoints[2][:4] == ["POST", HOSTILE_NAME, "40", "0"]
    assert _table(page, "what")[1:] == [
        ["installs (registrations)", "3", "0", "3", "+0"],
        ["App Launches", "57", "2", "58", "+1"],
        ["custom events", "20", "4", "18 (+2 rejected)", "+0"],
        ["user updates", "5", "0", "-", "-"],
    ]
    assert "differ from what it acknowledged" in page
    funnel = _table(page, "step")
    assert [row[:2] for row in funnel[1:]] == [
        ["sent", "200"], ["handed", "200"], ["delivered", "190"], ["seen", "20"], ["opened", "10"],
        ["converted", "4"], ["expired", "10"],
    ]  # fmt: skip
    assert funnel[3][2] == "95.0%"
    assert "push providers: 295 sends accepted (fcm 161, apns 134), 1 rejected; journal checks FAILED" in page
    assert "token &lt;t&gt; sent twice" in page
    assert _table(page, "option")[1:4] == [["users", "10"], ["spawn rate", "10.0"], ["run time", "30 s"]]
    assert ["fault 1", "status=503,rate=0.3"] in _table(page, "option")
    assert ["GENERAL_ERROR", "3"] in _table(page, "errors the SDK handed the app")
    assert ["error 503", "2"] in _table(page, "installed base")


def test_hostile_names_and_expressions_are_escaped_everywhere() -> None:
    page = render(_summary(), read_history_from(FULL))
    assert "<script" not in page and "<img" not in page and "<b>" not in page
    assert html_escaped(HOSTILE_NAME) in page and html_escaped(HOSTILE_EXPRESSION) in page
    assert "spike-&lt;1&gt;" in page
    parser = _parse(page)
    assert parser.tags.isdisjoint({"script", "img", "iframe", "link", "object", "embed"})


def test_the_page_loads_nothing_and_names_no_outside_url(tmp_path: Path) -> None:
    page = render(_summary(), read_history_from(FULL, tmp_path), links=[("summary.json", "summary.json")])
    assert _parse(page).refs == ["summary.json"]  # the links given, and nothing else points anywhere
    assert re.findall(r"<[^>]*\b(?:src|href|srcset|action)\s*=[^>]*>", page) == ['<a href="summary.json">']
    assert "url(" not in page and "@import" not in page and "xmlns" not in page
    # The only addresses are the target's and the providers' feed, as text.
    rest = page.replace(TARGET, "").replace("http://127.0.0.1:9/deliveries", "")
    assert "http://" not in rest and "https://" not in rest


def test_an_empty_run_renders_with_what_is_missing_said() -> None:
    summary = {
        "target": {"url": TARGET, "bundled": False, "app_code": "ab…cd"},
        "totals": {"requests": 0, "failures": 0, "rps": 0.0, "p50": 0.0, "p95": 0.0, "p99": 0.0},
        "endpoints": [],
        "traffic_mix": [],
        "reconciliation": {"stored_available": False, "rows": [], "agree": False},
        "thresholds": [],
        "verdict": {"result": "failed", "exit_code": 1, "reason": "no request was sent"},
        "campaigns": [],
        "providers": None,
    }
    page = render(summary, History())
    assert "no request was sent" in page and "No request was sent." in page
    assert "No history" in page and "No threshold given" in page
    assert "stored counts are not available" in page
    assert 'id="campaigns"' not in page and 'id="providers"' not in page
    assert _table(page, "sent as")[1:] == [["", "all", "0", "0", "0.00", "0.00", "0.00", "0.00"]]


def test_the_history_gives_exact_rates_launches_and_gaps(tmp_path: Path) -> None:
    history = read_history_from(FULL, tmp_path)
    assert history.per_endpoint
    assert [s.t for s in history.samples] == [100, 101, 102, 104]
    assert [s.launches for s in history.samples] == [0, 3, 6, 13]  # both platforms' session reports
    assert [s.users for s in history.samples] == [0, 2, 3, 4]
    assert history.samples[1].p95 is None  # a window of 0s is no measure
    assert history.samples[-1].p99 == 31
    pts, width = points(history)
    assert width == 1
    assert [(p.x, p.seconds) for p in pts] == [(0, 0), (1, 1), (2, 1), (4, 2)]
    assert [p.rps for p in pts] == [None, 10, 6, 13]  # requests of each interval over its length
    assert [p.fail_rps for p in pts] == [None, 0, 1, 0]
    assert [p.launch_rps for p in pts] == [None, 3, 3, 3.5]
    bucketed, width = points(history, limit=2)
    assert width == 2
    assert [(p.x, p.seconds) for p in bucketed] == [(0, 0), (2, 2), (4, 2)]
    assert [p.rps for p in bucketed] == [None, 8, 13] and [p.users for p in bucketed] == [0, 3, 4]
    assert [p.p99 for p in bucketed] == [None, 10, 31]  # the worst of each bucket
    assert sum((p.rps or 0) * p.seconds for p in bucketed) == history.samples[-1].requests


def test_counts_that_restart_are_not_negative_rates() -> None:
    samples = [
        Sample(0, 1, 50, 2, 1, 2, 3, None),
        Sample(1, 1, 70, 2, 1, 2, 3, None),
        Sample(2, 1, 5, 0, 1, 2, 3, None),
    ]
    pts, _ = points(History(samples, per_endpoint=False))
    assert [p.rps for p in pts] == [None, 20, 5] and all(p.launch_rps is None for p in pts)


def test_an_aggregated_only_history_says_what_it_lacks(tmp_path: Path) -> None:
    rows = [_row(100, 0, "Aggregated", 0, p=("N/A",) * 3, top="N/A"), _row(101, 1, "Aggregated", 4, p=(0, 0, 0))]
    history = read_history_from(rows, tmp_path)
    assert not history.per_endpoint
    assert history.samples[1].launches is None and history.samples[1].p50 == 0  # cumulative, a true 0
    page = render(_summary(), history)
    assert "since the start (cumulative" in page and "<code>--csv-full-history</code>" in page
    assert "App Launches: session reports per second" not in page


def test_a_missing_or_foreign_history_is_empty(tmp_path: Path) -> None:
    assert read_history(tmp_path / "none.csv").samples == []
    (tmp_path / "other.csv").write_text("a,b\n1,2\n")
    assert read_history(tmp_path / "other.csv").samples == []
    (tmp_path / "blank.csv").write_text("")
    assert read_history(tmp_path / "blank.csv").samples == []


@pytest.mark.parametrize("n", [0, 1, 2, 500])
def test_charts_of_0_1_and_many_points(n: int) -> None:
    values = [(float(x), float(x % 7)) for x in range(n)]
    chart = svg_chart("Requests per second", "requests/s", [("requests/s", values), ("failures/s", [])])
    if n == 0:
        assert chart == '<p class="empty">Requests per second: no data.</p>'
        return
    assert chart.startswith('<svg class="chart" viewBox="0 0 760 250" role="img"')
    assert "<title>Requests per second</title>" in chart and ">requests/s</text>" in chart
    assert ">seconds since the load started</text>" in chart and ">0 s</text>" in chart
    assert ">failures/s</text>" in chart  # the legend names every series
    if n == 1:
        assert chart.count("<circle") == 1 and "<polyline" not in chart
    else:
        (line,) = re.findall(r'<polyline points="([^"]+)"', chart)
        assert len(line.split()) == n and "<circle" not in chart


def test_a_gap_splits_the_line_and_axes_have_readable_ticks() -> None:
    chart = svg_chart(
        "Latency", "ms", [("p95", [(0, 1.0), (1, 2.0), (2, None), (3, 4.0), (4, 3.0), (5, None), (6, 1)])]
    )
    assert chart.count("<polyline") == 2 and chart.count("<circle") == 1
    ticks = re.findall(r'class="yt">([^<]+)<', chart)
    assert ticks == ["0", "1", "2", "3", "4"]
    long = svg_chart("Users", "users", [("users", [(0, 0.0), (3600, 2.0)])], whole=True)
    assert re.findall(r'class="yt">([^<]+)<', long) == ["0", "1", "2"]  # no half a user
    assert ">1:00:00</text>" in long and ">10:00</text>" in long


LOCUST_PAGE = (
    "<!DOCTYPE html><html><head><script>var b='<body style=\"margin:0;\">';</script></head>\n"
    '<body>\n<div id="root"></div><script>window.templateArgs = {}</script></body></html>'
)


def test_locusts_report_gets_a_link_after_its_real_body_tag_once(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    locust = tmp_path / "sub" / "report.html"
    locust.write_text(LOCUST_PAGE)
    verdict = {"result": "passed", "reason": "all <3> requests succeeded"}
    assert link_locust_report(locust, tmp_path / REPORT_NAME, verdict)
    text = locust.read_text()
    head, body = text.split("</head>")
    assert head == LOCUST_PAGE.split("</head>")[0]  # the script's string is left alone
    assert body.startswith('\n<body><!-- mobsim: link to mobsim\'s report --><div id="mobsim-report-link"')
    assert '<a href="../mobsim-report.html">mobsim-report.html</a></div>\n<div id="root"></div>' in body
    assert "all &lt;3&gt; requests succeeded" in body and "<script" not in body.split('<div id="root">')[0]
    assert link_locust_report(locust, tmp_path / REPORT_NAME, verdict)
    assert locust.read_text() == text  # once only
    odd = tmp_path / "odd.html"
    odd.write_text("<p>not Locust's</p>")
    assert not link_locust_report(odd, tmp_path / REPORT_NAME, verdict) and odd.read_text() == "<p>not Locust's</p>"
    assert not link_locust_report(tmp_path / "none.html", tmp_path / REPORT_NAME, verdict)


def test_write_reports_writes_the_page_with_relative_links(tmp_path: Path) -> None:
    (tmp_path / "stats_stats_history.csv").write_text(_history(FULL))
    (tmp_path / "html").mkdir()
    locust = tmp_path / "html" / "my report.html"
    locust.write_text(LOCUST_PAGE)
    summary = _summary()
    problem = write_reports(summary, tmp_path / "stats", tmp_path / REPORT_NAME, locust_html=locust,
                            summary_json=tmp_path / "summary.json")  # fmt: skip
    assert problem is None
    page = (tmp_path / REPORT_NAME).read_text()
    assert _parse(page).refs == ["html/my%20report.html", "summary.json", "stats_stats_history.csv", "stats_stats.csv"]
    assert "App Launches: session reports per second" in page and "4 rows, one a second" in page
    assert "the target acknowledged 57 App Launches in all" in page
    assert 'href="../mobsim-report.html"' in locust.read_text()
    assert summary == _summary()  # the summary is left as it was
    blocked = tmp_path / "file"
    blocked.write_text("")
    said = write_reports(copy.deepcopy(summary), tmp_path / "stats", blocked / REPORT_NAME, locust_html=locust,
                         summary_json=tmp_path / "summary.json")  # fmt: skip
    assert said is not None and said.startswith("mobsim's HTML report was not written")


def test_live_figures_read_only_the_tail_of_a_long_full_history(tmp_path: Path) -> None:
    """``--csv-full-history`` makes the history megabytes in a long run; progress reads its end."""
    (tmp_path / "stats_stats.csv").write_text(
        "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,"
        "Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,"
        "99.99%,100%\n,Aggregated,10,0,3,4.5,1,80,10,2.5,0.5,3,4,5,6,7,8,9,10,11,12,80\n"
    )
    rows = [_row(t, t % 50, name, t) for t in range(3000) for name in (LAUNCH_STATS_NAME, "Aggregated")]
    rows.insert(2, '5,1,,"Aggregated')  # an open quote: a parse of the whole file would swallow every later row
    rows.append(_row(3000, 77, "Aggregated", 3000, p=(1, 42, 50)))
    (tmp_path / "stats_stats_history.csv").write_text(_history(rows))
    assert (tmp_path / "stats_stats_history.csv").stat().st_size > 300_000
    live = read_live(tmp_path / "stats")
    assert live is not None and live["users"] == 77 and live["totals"]["current_p95"] == 42


def test_a_feed_without_a_journal_is_a_note_on_the_page_and_in_the_console() -> None:
    import io

    from mobsim.output import Output
    from mobsim.run_report import print_summary

    note = "http://127.0.0.1:9 keeps no journal (its feed is not mobsim providers'): the journal checks were not run"
    console_keys = {"devices_touched": 10, "business_errors": {}, "errors": []}
    providers = {"feed": "http://127.0.0.1:9/provider/1/deliveries", "ok": None, "journal": None, "problems": [],
                 "note": note}  # fmt: skip
    summary = {**_summary(), **console_keys, "providers": providers}
    page = render(summary, History())
    assert f"<p>push providers: {note.replace(chr(39), '&#x27;')}</p>" in page and "journal checks passed" not in page
    stream = io.StringIO()
    print_summary(Output(stream, terminal=False), summary, [])
    assert f"push providers: {note}\n" in stream.getvalue()


@pytest.mark.parametrize(("written", "junit"), [(True, None), (False, None), (True, "out/j.xml"), (False, "j.xml")])
def test_the_reports_line_offers_the_page_only_when_it_was_written(written: bool, junit: str | None) -> None:
    from mobsim.run_report import reports_line

    paths = {"mobsim_html": Path("r/mobsim-report.html"), "html": Path("r/report.html"), "csv": Path("r/stats"),
             "json": Path("r/summary.json")}  # fmt: skip
    line = reports_line(paths, junit, page_written=written)
    rest = "r/report.html, r/stats_*.csv, r/summary.json" + (f", {junit}" if junit else "")
    assert line == "reports: " + ("r/mobsim-report.html, " if written else "") + rest
