"""Reporters: a rich table with a verdict, JUnit XML and JSON for CI."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console
from rich.table import Table

from .model import NO_API_KEY, Exchange, Result, Verdict
from .runner import Report

__all__ = ["print_report", "to_junit", "write_json", "write_junit"]

_STYLE = {Verdict.PASS: "green", Verdict.FAIL: "bold red", Verdict.SKIP: "yellow"}


def exchange_text(exchange: Exchange) -> str:
    lines = [f"> {exchange.method} {exchange.url}"]
    lines += [f"> {k}: {v}" for k, v in exchange.request_headers.items()]
    if exchange.request_body:
        lines.append(f"> {exchange.request_body}")
    lines.append(f"< {exchange.status if exchange.status is not None else 'no answer'}")
    lines += [f"< {k}: {v}" for k, v in exchange.response_headers.items()]
    if exchange.response_body:
        lines.append(f"< {exchange.response_body}")
    return "\n".join(lines)


def failure_text(result: Result) -> str:
    text = f"expected: {result.expected}\nobserved: {result.observed}"
    if result.exchange is not None:
        text += "\n" + exchange_text(result.exchange)
    return text


def print_report(report: Report, console: Console | None = None, *, verbose: bool = False) -> None:
    console = console or Console()
    table = Table(title=f"mobsim check: {report.target}", show_lines=False)
    table.add_column("Check", no_wrap=True)
    table.add_column("Platform")
    table.add_column("Verdict")
    table.add_column("Statement / why it failed")
    for result in report.results:
        detail = result.check.statement
        if result.verdict is Verdict.FAIL:
            detail += f"\n[red]expected {result.expected}; observed {result.observed}[/red]"
        elif result.verdict is Verdict.SKIP:
            detail += f"\n[yellow]{result.reason}[/yellow]"
        style = _STYLE[result.verdict]
        table.add_row(result.check.id, result.platform, f"[{style}]{result.verdict.value}[/{style}]", detail)
    console.print(table)
    for result in report.failed:
        console.rule(f"[red]{result.name}[/red] {result.check.statement}")
        console.print(f"protects: {result.check.protects}", markup=False)
        console.print(failure_text(result), markup=False, highlight=False)
    if not report.inspection:
        console.print("The target has no inspection API: the checks that need it were skipped.")
    if any(r.reason == NO_API_KEY for r in report.results):
        console.print("No Push API key: the checks that send a message were skipped (--api-key KEY runs them).")
    passed, failed, skipped = (report.count(v) for v in (Verdict.PASS, Verdict.FAIL, Verdict.SKIP))
    counts = f"{passed} passed, {failed} failed, {skipped} skipped"
    verdict = "[bold green]PASS[/bold green]" if report.passed else "[bold red]FAIL[/bold red]"
    console.print(f"{verdict}: {counts} ({report.requests} requests in {report.seconds:.1f} s, run id {report.run_id})")


def to_junit(report: Report) -> ET.Element:
    suite = ET.Element(
        "testsuite",
        name="mobsim check",
        tests=str(len(report.results)),
        failures=str(report.count(Verdict.FAIL)),
        skipped=str(report.count(Verdict.SKIP)),
        errors="0",
        time=f"{report.seconds:.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name, value in (("target", report.target), ("runId", report.run_id), ("inspection", str(report.inspection)),
                        ("pushApi", str(report.push_api))):  # fmt: skip
        ET.SubElement(properties, "property", name=name, value=value)
    for result in report.results:
        case = ET.SubElement(
            suite,
            "testcase",
            classname=f"mobsim.check.{result.platform}",
            name=f"{result.check.id} {result.check.statement}",
            time=f"{result.seconds:.3f}",
        )
        if result.verdict is Verdict.FAIL:
            failure = ET.SubElement(case, "failure", message=f"expected {result.expected}; observed {result.observed}")
            failure.text = failure_text(result) + f"\nprotects: {result.check.protects}"
        elif result.verdict is Verdict.SKIP:
            ET.SubElement(case, "skipped", message=result.reason)
    return suite


def write_junit(report: Report, path: str | Path) -> None:
    tree = ET.ElementTree(to_junit(report))
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)


def write_json(report: Report, path: str | Path) -> None:
    Path(path).write_text(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
