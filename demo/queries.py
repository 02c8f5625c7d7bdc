"""Example queries for the summary of a demo run: three person queries for the vertical, and the
reach of its campaigns (the saved segments' sizes, who converted after a campaign)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .verticals import Vertical

__all__ = ["example_queries", "reach_queries"]


def example_queries(vertical: Vertical, start: float, end: float) -> list[tuple[str, dict[str, Any]]]:
    """(what it finds, body of ``POST /inspect/persons/query``) for the vertical's window."""
    funnel = vertical.funnels[0]
    first, last = funnel.steps[0], funnel.steps[-1]
    week = int(end - 7 * 86400)
    attribute, value = next(iter(_common_attribute(vertical).items()))
    tag = vertical.tags[0][0]
    return [
        (
            f"converted ({last}) in the window's last 7 days",
            {
                "events": [
                    {
                        "definitionId": last,
                        "occurrenceCondition": {"operation": "GREATER_OR_EQUAL", "times": 1},
                        "timelineCondition": {"occurred": "ALL", "operator": "AFTER_ABS", "start": week},
                    }
                ]
            },
        ),
        (
            f"{attribute} = {value!r} and tagged {tag!r}",
            {"filter": {"#and": [{f"customAttributes.{attribute}": value}, {"#contains": {"tags": tag}}]}},
        ),
        (
            f"active (3+ App Launches) with {first} but never {last}",
            {
                "filter": {"#exist": "externalUserId"},
                "events": [
                    {"definitionId": "AppLaunch", "occurrenceCondition": {"operation": "GREATER_OR_EQUAL", "times": 3}},
                    {"definitionId": first, "occurrenceCondition": {"operation": "GREATER_OR_EQUAL", "times": 1}},
                    {"definitionId": last, "timelineCondition": {"occurred": "NOT", "operator": "EMPTY"}},
                ],
            },
        ),
    ]


def _common_attribute(vertical: Vertical) -> dict[str, Any]:
    return {
        "retail": {"loyaltyTier": "silver"},
        "media": {"subscriptionPlan": "basic"},
        "banking": {"customerSegment": "mass"},
        "travel": {"loyaltyLevel": "blue"},
    }.get(vertical.name, {"firstName": "Ana"})


def reach_queries(campaigns: list[dict[str, Any]]) -> list[tuple[str, str, str, Any]]:
    """``(what it finds, method, path, body)`` about the campaigns of a run (``Outcome.campaigns``):
    each segment they went to (``GET /inspect/segments/{name}/count``: persons and installations it
    reaches now), and the persons with a campaign's conversion event in the 24 hours after it, for
    the campaign that most persons opened."""
    found: list[tuple[str, str, str, Any]] = []
    for name in dict.fromkeys(c["segment"] for c in campaigns):
        sends = sum(c["segment"] == name for c in campaigns)
        what = f"segment {name!r} at the window's end (it got {sends} campaign{'s' if sends > 1 else ''})"
        found.append((what, "GET", f"/inspect/segments/{name}/count", None))
    if campaigns:
        best = max(campaigns, key=lambda c: (c["devices"].get("personsOpened", 0), c["funnel"]["sent"]))
        at = int(datetime.fromisoformat(best["sendAt"].replace("Z", "+00:00")).timestamp())
        opened = best["devices"].get("personsOpened", 0)
        what = f"{best['conversion']} in the 24 hours after {best['bulkId']} (opened by {opened} persons)"
        body = {
            "events": [
                {
                    "definitionId": best["conversion"],
                    "occurrenceCondition": {"operation": "GREATER_OR_EQUAL", "times": 1},
                    "timelineCondition": {"occurred": "ALL", "operator": "BETWEEN_ABS", "start": at, "end": at + 86400},
                }
            ]
        }
        found.append((what, "POST", "/inspect/persons/query", body))
    return found
