"""Run the catalogue against a target: one probe per check and platform, a verdict for each."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from contract.headers import inspection_headers
from simulator.errors import SimulatorError

from .checks import CATALOGUE
from .model import NO_API_KEY, Check, CheckFailed, CheckSkipped, Result, Verdict
from .probe import Probe

__all__ = ["PLATFORMS", "Report", "has_inspection", "run_checks"]

PLATFORMS = ("ios", "android")


@dataclass
class Report:
    target: str
    run_id: str
    platforms: tuple[str, ...]
    inspection: bool
    results: list[Result] = field(default_factory=list)
    seconds: float = 0.0
    push_api: bool = False
    """A Push API key was given: the checks that send a message ran."""

    def count(self, verdict: Verdict) -> int:
        return sum(r.verdict is verdict for r in self.results)

    @property
    def passed(self) -> bool:
        return self.count(Verdict.FAIL) == 0

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.verdict is Verdict.FAIL]

    @property
    def requests(self) -> int:
        return sum(r.requests for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "runId": self.run_id,
            "platforms": list(self.platforms),
            "inspection": self.inspection,
            "pushApi": self.push_api,
            "verdict": "pass" if self.passed else "fail",
            "counts": {v.value: self.count(v) for v in Verdict},
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "results": [r.to_dict() for r in self.results],
        }


def has_inspection(client: httpx.Client, base_url: str) -> bool:
    """Whether the target serves mobsim's inspection API (``GET /inspect/stats``)."""
    try:
        answer = client.get(base_url.rstrip("/") + "/inspect/stats", headers=inspection_headers())
    except httpx.HTTPError:
        return False
    if answer.status_code != 200:
        return False
    try:
        return isinstance(answer.json(), dict)
    except ValueError:
        return False


def run_one(check: Check, platform: str, probe: Probe) -> Result:
    started = time.perf_counter()
    result = Result(check, platform, Verdict.PASS, 0.0)
    if check.needs_inspection and not probe.inspection:
        result.verdict, result.reason = Verdict.SKIP, "needs the inspection API, which the target does not serve"
        if check.inspection_use:
            result.reason += f" ({check.inspection_use})"
    elif check.needs_api_key and not probe.api_key:
        result.verdict, result.reason = Verdict.SKIP, NO_API_KEY
    else:
        try:
            check.body(probe)
        except CheckSkipped as exc:
            result.verdict, result.reason = Verdict.SKIP, exc.reason
        except CheckFailed as exc:
            result.verdict, result.expected, result.observed = Verdict.FAIL, exc.expected, exc.observed
            result.exchange = exc.exchange
        except SimulatorError as exc:
            result.verdict = Verdict.FAIL
            result.expected = "the SDK call succeeds"
            result.observed = f"{type(exc).__name__}: {exc}"
            result.exchange = probe.last
        except Exception as exc:  # an answer the check did not foresee: still the target's doing
            result.verdict = Verdict.FAIL
            result.expected = "answers the check can read"
            result.observed = f"the check stopped: {type(exc).__name__}: {exc}"
            result.exchange = probe.last
    result.seconds = time.perf_counter() - started
    result.exchanges = probe.recorder.exchanges
    result.requests = len(probe.recorder.exchanges)
    return result


def run_checks(
    client: httpx.Client,
    base_url: str,
    app_code: str,
    *,
    platforms: Sequence[str] = PLATFORMS,
    checks: Iterable[Check] = CATALOGUE,
    run_id: str | None = None,
    inspection: bool | None = None,
    on_result: Callable[[Result], None] | None = None,
    api_key: str | None = None,
    patience: float = 0.0,
) -> Report:
    """Every check for every selected platform it concerns. Identities are unique to ``run_id`` (random
    by default), so checks share no state and a run can be repeated against the same backend.

    ``api_key``: the target's Push API key, for the checks that send a message (without one they
    are skipped). ``patience``: seconds a check looks again for a sent message or a report that an
    asynchronous backend shows late (0: it looks once)."""
    run_id = run_id or secrets.token_hex(4)
    selected = tuple(p for p in PLATFORMS if p in platforms)
    if inspection is None:
        inspection = has_inspection(client, base_url)
    report = Report(base_url, run_id, selected, inspection, push_api=bool(api_key))
    started = time.perf_counter()
    for check in checks:
        for platform in check.platforms(selected):
            probe = Probe(
                client=client,
                base_url=base_url,
                app_code=app_code,
                platform=platform,
                run_id=run_id,
                check_id=check.id,
                inspection=inspection,
                api_key=api_key,
                patience=patience,
            )
            result = run_one(check, platform, probe)
            report.results.append(result)
            if on_result is not None:
                on_result(result)
    report.seconds = time.perf_counter() - started
    return report
