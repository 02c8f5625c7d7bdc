"""``mobsim check --html FILE``: the report as one static page, beside the JUnit and JSON ones.

A summary header (target, verdict, counts, requests, time, run id, what was available), then the
checks grouped by platform with the SDK release the probe's devices speak (the newest of each
SDK line, ``conformance.probe.NEWEST_BUILD``) and pass, fail and skip counts, then each failure:
the statement, what it protects (the reference note and section), expected against observed, the
SDK source files the cited sections name, and the exchange that showed it. Every value is
HTML-escaped; the page loads nothing (no script, no style sheet, no image).

:func:`to_html` is pure; :func:`sdk_sources` reads the reference notes (``docs/reference/``, when
they are there: a checkout or an editable install); :func:`write_html` writes the file.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from contract.dialect import Platform
from simulator.catalog import app_build

from .model import ANDROID_REF, IOS_REF, MSG_ANDROID_REF, MSG_IOS_REF, NO_API_KEY, Result, Verdict
from .probe import NEWEST_BUILD
from .report import exchange_text
from .runner import Report

__all__ = ["REFERENCE_DIR", "sdk_sources", "to_html", "write_html"]

REFERENCE_DIR = Path(__file__).resolve().parent.parent / "docs" / "reference"
"""The reference notes the checks cite (``protects``)."""
_CITATION = re.compile(r"([\w-]+\.md)((?:[\s,]*§\s*\d+(?:\.\d+)*)+)")
_SECTION = re.compile(r"§\s*(\d+(?:\.\d+)*)")
_HEADING = re.compile(r"^#{2,6}\s+(\d+(?:\.\d+)*)\.?\s")
_SOURCE = re.compile(r"[\w./-]+\.(?:java|kt|swift|m|h)\b")
_MAX_SOURCES = 8
_NAMES = {"ios": "iOS", "android": "Android"}
_NOTE_PLATFORM = {ANDROID_REF: "android", MSG_ANDROID_REF: "android", IOS_REF: "ios", MSG_IOS_REF: "ios"}
"""The SDK each reference note describes (the Push API's is the backend's, for both)."""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@cache
def _sections(path: Path) -> dict[str, list[str]]:
    """A reference note's numbered sections (``3.2`` → its lines, subsections apart)."""
    found: dict[str, list[str]] = {}
    current: str | None = None
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return found
    for line in lines:
        heading = _HEADING.match(line)
        if heading:
            current = heading.group(1)
        if current is not None:
            found.setdefault(current, []).append(line)
    return found


def sdk_sources(protects: str, platform: str | None = None, reference_dir: Path = REFERENCE_DIR) -> list[str]:
    """The SDK source files that the sections a check cites name (``mobile-api-android.md §3.2``:
    section 3.2 and its subsections), in the order they appear, at most 8; with ``platform``, only
    from the notes about that platform's SDK (and the Push API's)."""
    found: list[str] = []
    for note, sections in _CITATION.findall(protects):
        if platform is not None and _NOTE_PLATFORM.get(note, platform) != platform:
            continue
        parts = _sections(reference_dir / note)
        for number in _SECTION.findall(sections):
            for key, lines in parts.items():
                if key == number or key.startswith(number + "."):
                    for source in _SOURCE.findall("\n".join(lines)):
                        if source not in found:
                            found.append(source)
    return found[:_MAX_SOURCES]


_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff;margin:0}
main{max-width:1080px;margin:0 auto;padding:16px 24px 48px}
h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.2em;margin:1.6em 0 .5em;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;margin:.4em 0 1em}th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f6f8fa}
.verdict{padding:12px 16px;border-radius:6px;font-size:1.1em;margin:12px 0}
.PASS{background:#dafbe1;border:1px solid #1a7f37}.FAIL{background:#ffebe9;border:1px solid #d1242f}
.pass{color:#1a7f37;font-weight:600}.fail{color:#d1242f;font-weight:600}.skip{color:#9a6700;font-weight:600}
.note{color:#59636e}pre{background:#f6f8fa;padding:8px;overflow-x:auto;white-space:pre-wrap;word-break:break-all}
section.failure{border-left:4px solid #d1242f;padding-left:12px;margin:1.2em 0}
dt{font-weight:600}dd{margin:0 0 .4em 1.2em}td code{white-space:nowrap}
"""


def _anchor(result: Result) -> str:
    return f"fail-{result.check.id}-{result.platform}"


def _sdk(platform: str) -> str:
    build = app_build(NEWEST_BUILD)
    try:
        version = build.sdk(Platform(platform)) if build is not None else None
    except ValueError:
        version = None
    name = _NAMES.get(platform, platform)
    return f"{name}: Mobile Messaging SDK {version} (app build {NEWEST_BUILD})" if version else name


def _verdict(report: Report) -> tuple[str, str]:
    """PASS or FAIL as ``mobsim check``'s exit code has it (nothing checked fails), and the line."""
    if not report.passed:
        return "FAIL", "FAIL"
    if not report.results or all(r.verdict is Verdict.SKIP for r in report.results):
        why = "no selected check concerns these platforms" if not report.results else "every selected check skipped"
        return "FAIL", f"FAIL: nothing was checked ({why})"
    return "PASS", "PASS"


def _header(report: Report) -> list[str]:
    counts = {v: report.count(v) for v in Verdict}
    verdict, verdict_line = _verdict(report)
    facts = [
        ("platforms", ", ".join(_NAMES.get(p, p) for p in report.platforms) or "none"),
        ("inspection API", "yes" if report.inspection else "no: the checks that need it were skipped"),
        ("Push API key", "yes" if report.push_api else "no: the checks that send a message were skipped"),
        ("run id", report.run_id),
        ("requests", str(report.requests)),
        ("time", f"{report.seconds:.1f} s"),
    ]
    rows = "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in facts)
    return [
        f"<h1>mobsim check: {_e(report.target)}</h1>",
        f'<div class="verdict {verdict}" id="verdict"><strong>{_e(verdict_line)}</strong>: '
        f"{counts[Verdict.PASS]} passed, {counts[Verdict.FAIL]} failed, {counts[Verdict.SKIP]} skipped</div>",
        f"<table>{rows}</table>",
    ]


def _platform(report: Report, platform: str) -> list[str]:
    results = [r for r in report.results if r.platform == platform]
    counts = {v: sum(r.verdict is v for r in results) for v in Verdict}
    parts = [
        f'<h2 id="platform-{_e(platform)}">{_e(_sdk(platform))}</h2>',
        f'<p><span class="pass">{counts[Verdict.PASS]} passed</span>, <span class="fail">{counts[Verdict.FAIL]} '
        f'failed</span>, <span class="skip">{counts[Verdict.SKIP]} skipped</span></p>',
    ]
    if not results:
        return [*parts, '<p class="note">No selected check concerns this platform.</p>']
    rows = []
    for r in results:
        verdict = r.verdict.value
        if r.verdict is Verdict.FAIL:
            detail = f'<a href="#{_e(_anchor(r))}">expected {_e(r.expected)}; observed {_e(r.observed)}</a>'
        elif r.verdict is Verdict.SKIP:
            detail = _e(r.reason)
        else:
            detail = ""
        rows.append(
            f"<tr><td><code>{_e(r.check.id)}</code></td><td>{_e(r.check.statement)}</td>"
            f'<td class="{verdict}">{_e(verdict)}</td><td>{detail}</td></tr>'
        )
    head = "<tr><th>check</th><th>the backend...</th><th>verdict</th><th>why it failed or skipped</th></tr>"
    return [*parts, f"<table>{head}{''.join(rows)}</table>"]


def _failure(result: Result, sources: Sequence[str]) -> str:
    cited = "".join(f"<li><code>{_e(s)}</code></li>" for s in sources)
    items = [
        ("statement", _e(result.check.statement)),
        ("protects", _e(result.check.protects)),
        ("expected", _e(result.expected)),
        ("observed", _e(result.observed)),
        (
            "SDK sources the cited sections name",
            f"<ul>{cited}</ul>" if cited else '<span class="note">none found (docs/reference/ not here)</span>',
        ),
    ]
    listed = "".join(f"<dt>{_e(k)}</dt><dd>{v}</dd>" for k, v in items)
    exchange = f"<pre>{_e(exchange_text(result.exchange))}</pre>" if result.exchange is not None else ""
    title = f"{result.check.id} on {_NAMES.get(result.platform, result.platform)}"
    return (
        f'<section class="failure" id="{_e(_anchor(result))}"><h3>{_e(title)}</h3><dl>{listed}</dl>{exchange}</section>'
    )


def to_html(report: Report, sources: Mapping[str, Sequence[str]] | None = None) -> str:
    """The page. ``sources``: a result's name (``REG-001[android]``) → the SDK source files its
    check's citations name for its platform (see :func:`sdk_sources`; none when not given)."""
    sources = sources or {}
    body = _header(report)
    for platform in report.platforms:
        body += _platform(report, platform)
    failed = report.failed
    if failed:
        body.append('<h2 id="failures">Failures</h2>')
        body += [_failure(r, sources.get(r.name, ())) for r in failed]
    if any(r.reason == NO_API_KEY for r in report.results):
        body.append('<p class="note">No Push API key: the checks that send a message were skipped (--api-key KEY '
                    "runs them).</p>")  # fmt: skip
    verdict = _verdict(report)[0]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>mobsim check: {verdict}</title><style>{_CSS}</style></head>\n"
        "<body><main>\n" + "\n".join(body) + "\n</main></body></html>\n"
    )


def write_html(report: Report, path: str | Path) -> None:
    sources = {r.name: sdk_sources(r.check.protects, r.platform) for r in report.failed}
    Path(path).write_text(to_html(report, sources), encoding="utf-8")
