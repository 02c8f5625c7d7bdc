"""Three example person queries for the vertical, for the summary of a demo run."""

from __future__ import annotations

from typing import Any

from .verticals import Vertical

__all__ = ["example_queries"]


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
