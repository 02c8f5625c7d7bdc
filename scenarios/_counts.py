"""The mobsim counters of a run, summed over its processes; no Locust here, so that ``mobsim run``
(which must not be patched by gevent) merges the part files with the same code as the master."""

from __future__ import annotations

from typing import Any

from ._personas import Tally

__all__ = ["arrivals_summary", "merge_parts"]


def merge_parts(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The mobsim counters of several processes, summed."""
    tally = Tally()
    touched = 0
    pending: dict[str, int] = {}
    transport: dict[str, int] = {}
    arrivals = {"scheduled": 0, "started": 0, "dropped": 0, "seconds": 0.0}
    setup: dict[str, Any] = {}
    for part in parts:
        tally.merge(part)
        touched += int(part.get("devices_touched", 0))
        for kind, n in part.get("pending", {}).items():
            pending[kind] = pending.get(kind, 0) + n
        for key, n in part.get("transport", {}).items():
            transport[key] = transport.get(key, 0) + int(n)
        for key, value in part.get("arrivals", {}).items():
            arrivals[key] = max(arrivals[key], value) if key == "seconds" else arrivals[key] + value
        for key, value in part.get("installed_base", {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                setup[key] = max(setup.get(key, 0), value) if key == "seconds" else setup.get(key, 0) + value
    return {
        "sessions": tally.counts,
        "personas": tally.personas,
        "business_errors": tally.business_errors,
        "acknowledged": tally.acknowledged,
        "resent": tally.resent,
        "app_errors": tally.app_errors,
        "pending": pending,
        "transport": transport,
        "devices_touched": touched,
        "arrivals": arrivals,
        "installed_base": setup or None,
        "has_arrivals": any("arrivals" in part for part in parts),
    }


def arrivals_summary(arrivals: dict[str, Any], target_rate: float) -> dict[str, Any]:
    """The open model's figures; the achieved rate is over the window arrivals were scheduled in."""
    seconds = arrivals.get("seconds") or 0.0
    return {
        **arrivals,
        "target_rate": target_rate,
        "achieved_rate": arrivals["started"] / seconds if seconds > 0 else 0.0,
    }
