"""Conformance: does a backend behave as the Mobile Messaging SDKs expect (``mobsim check``)?

The catalogue (:mod:`conformance.checks`) holds one check per rule; :func:`run_checks` runs them
with virtual devices and raw wire requests through any ``httpx.Client``; :mod:`conformance.report`
prints a table and writes JUnit XML and JSON.
"""

from .checks import CATALOGUE, by_id
from .model import Check, Exchange, Result, Scope, Verdict
from .runner import PLATFORMS, Report, has_inspection, run_checks

__all__ = [
    "CATALOGUE",
    "PLATFORMS",
    "Check",
    "Exchange",
    "Report",
    "Result",
    "Scope",
    "Verdict",
    "by_id",
    "has_inspection",
    "run_checks",
]
