"""The campaigns of a demo's history: a few a week per vertical, to saved segments of the vertical.

Each vertical has its saved segments (``POST /inspect/segments``: recent cart abandoners, free-plan
viewers, loan offer viewers, searchers who did not book...) and its campaign kinds: a broadcast to
the predefined "Active Mobile Users" and targeted ones, each on fixed weekdays at a fixed UTC time.
:func:`schedule` places them in the window (from its third day to half a day before its end, so the
segments have history and the recipients time to open). Each occurrence is one ``POST
/push/3/messages`` with a ``SEGMENT`` destination (mobsim's extension) under a bulk id made of the
vertical, the kind and the date, sent by the reference server of the demo's process at its time.

Who opens (:func:`open_delay`): a share of the notifications shown (the kind's share, more for a
device used often, a quarter of it at night in the device's timezone), most within minutes, some
hours later; a share of those who open convert: they walk the campaign's funnel to its conversion
event in the session the tap opens. Everything is drawn from the caller's ``random.Random``.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = [
    "ACTIVE",
    "CAMPAIGN_KEY",
    "DELIVERIES_PATH",
    "SEND_PATH",
    "Campaign",
    "CampaignKind",
    "kinds",
    "open_delay",
    "saved_segments",
    "schedule",
]

ACTIVE = "Active Mobile Users"
"""The reference server's predefined segment: an App Launch in the last 30 days."""
CAMPAIGN_KEY = "mobsim-demo-campaigns"
"""The Push API key the demo registers on its in-process server."""
SEND_PATH = "/push/3/messages"
DELIVERIES_PATH = "/provider/1/deliveries"

_DAY = 86400.0
_MEDIAN_RATE = 0.27
"""The median device's sessions per day (demo/audience.py): the open share is scaled around it."""
_NIGHT = 0.25


@dataclass(frozen=True)
class CampaignKind:
    """A recurring campaign of a vertical."""

    key: str
    title: str
    text: str
    segment: str
    weekdays: tuple[int, ...]
    """Monday is 0."""
    hour: float
    """The send time, UTC hours."""
    funnel: str
    """The vertical's funnel a converting user walks after the open..."""
    conversion: str
    """... up to and including this step: the campaign's conversion event."""
    open_share: float
    """The share of shown notifications tapped (a median device, daytime)."""
    convert_share: float
    """The share of openers who convert."""
    deeplink: str
    context: dict[str, Any] = field(default_factory=dict)
    """Funnel values the campaign fixes (the product of a card offer...)."""
    validity_hours: int = 24


@dataclass(frozen=True)
class Campaign:
    """One send of a kind: its bulk id and time (UTC epoch seconds)."""

    kind: CampaignKind
    bulk_id: str
    at: float

    def request(self, app_code: str) -> dict[str, Any]:
        """The ``POST /push/3/messages`` body: one message to the kind's saved segment."""
        kind = self.kind
        return {
            "messages": [
                {
                    "sender": app_code,
                    "destinations": [{"type": "SEGMENT", "segment": kind.segment}],
                    "content": {"type": "TEXT", "title": kind.title, "text": kind.text},
                    "options": {
                        "validityPeriod": {"amount": kind.validity_hours, "timeUnit": "HOURS"},
                        "onTapButtonAction": {"type": "DEEP_LINK", "resource": kind.deeplink},
                        "campaignReferenceId": kind.key,
                    },
                }
            ],
            "options": {"schedule": {"bulkId": self.bulk_id}},
        }

    def describe(self) -> dict[str, Any]:
        """What the file's header says about it."""
        moment = datetime.fromtimestamp(self.at, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"bulkId": self.bulk_id, "campaign": self.kind.key, "title": self.kind.title,
                "segment": self.kind.segment, "sendAt": moment, "conversion": self.kind.conversion}  # fmt: skip


def _recent(definition: str, days: int) -> dict[str, Any]:
    return {
        "definitionId": definition,
        "occurrenceCondition": {"operation": "GREATER_OR_EQUAL", "times": 1},
        "timelineCondition": {"occurred": "ALL", "operator": "AFTER", "start": days, "units": "DAYS"},
    }


def _none_since(definition: str, days: int) -> dict[str, Any]:
    return {
        "definitionId": definition,
        "timelineCondition": {"occurred": "NOT", "operator": "AFTER", "start": days, "units": "DAYS"},
    }


def _among(attribute: str, *values: str) -> dict[str, Any]:
    return {f"customAttributes.{attribute}": {"#in": list(values)}}


_SEGMENTS: dict[str, tuple[tuple[str, dict[str, Any]], ...]] = {
    "retail": (
        ("Cart abandoners", {"events": [_recent("addedToCart", 3), _none_since("purchaseCompleted", 3)]}),
        ("Gold and platinum members", {"filter": _among("loyaltyTier", "gold", "platinum")}),
    ),
    "media": (
        ("Unfinished watching", {"events": [_recent("playbackStarted", 3), _none_since("playbackCompleted", 3)]}),
        ("Free plan", {"filter": {"customAttributes.subscriptionPlan": "free"}}),
    ),
    "banking": (
        ("Loan offer viewers",
         {"events": [_recent("loanOfferViewed", 7), _none_since("loanApplicationSubmitted", 30)]}),
        ("Affluent without a card", {"filter": {"#and": [_among("customerSegment", "affluent", "private"),
                                                         {"customAttributes.hasCreditCard": False}]}}),
    ),
    "travel": (
        ("Searched, not booked", {"events": [_recent("flightSearched", 3), _none_since("bookingCompleted", 14)]}),
        ("Gold and platinum flyers", {"filter": _among("loyaltyLevel", "gold", "platinum")}),
    ),
}  # fmt: skip

_KINDS: dict[str, tuple[CampaignKind, ...]] = {
    "retail": (
        CampaignKind("weekend-sale", "Weekend sale", "Up to 40% off all weekend, only in the app", ACTIVE, (5,), 9.0,
                     "purchase", "purchaseCompleted", 0.05, 0.12, "mobsimshop://sale"),
        CampaignKind("cart-reminder", "Still thinking it over?", "Your cart is waiting: free delivery until midnight",
                     "Cart abandoners", (1, 3), 18.0, "purchase", "purchaseCompleted", 0.11, 0.3, "mobsimshop://cart"),
        CampaignKind("members-preview", "Members' preview", "The new collection, early for gold and platinum members",
                     "Gold and platinum members", (2,), 11.5, "purchase", "purchaseCompleted", 0.08, 0.15,
                     "mobsimshop://new"),
    ),
    "media": (
        CampaignKind("new-episode", "New episode tonight", "The season finale is out: watch it now", ACTIVE, (4,),
                     17.0, "watch", "playbackStarted", 0.06, 0.4, "mobsimtv://new"),
        CampaignKind("continue-watching", "Pick up where you left off", "Your show is waiting at the good part",
                     "Unfinished watching", (0, 2), 19.0, "watch", "playbackCompleted", 0.1, 0.3,
                     "mobsimtv://continue"),
        CampaignKind("premium-trial", "30 days of Premium, free", "Ad-free, in 4K, on every screen: start your trial",
                     "Free plan", (6,), 16.0, "watch", "subscriptionStarted", 0.05, 0.1, "mobsimtv://premium"),
    ),
    "banking": (
        CampaignKind("instant-transfers", "Instant transfers are free", "This month every instant transfer is on us",
                     ACTIVE, (0,), 8.0, "transfer", "transferCompleted", 0.05, 0.25, "mobsimbank://transfer",
                     {"transferType": "instant"}),
        CampaignKind("loan-offer", "Your pre-approved loan", "A rate fixed for you, an answer in minutes",
                     "Loan offer viewers", (2,), 10.0, "loan", "loanApplicationSubmitted", 0.09, 0.12,
                     "mobsimbank://loan", {"product": "personalLoan"}),
        CampaignKind("cashback-card", "2% cashback on everything", "The new card for our best clients: no annual fee",
                     "Affluent without a card", (4,), 12.0, "loan", "loanApplicationSubmitted", 0.07, 0.08,
                     "mobsimbank://cards", {"product": "creditCard"}),
    ),
    "travel": (
        CampaignKind("getaway-deals", "Weekend getaway deals", "City breaks from 79: this weekend only", ACTIVE, (3,),
                     17.0, "booking", "bookingCompleted", 0.05, 0.06, "mobsimtravel://deals"),
        CampaignKind("price-drop", "Prices dropped on your search", "Fares for your dates just got cheaper",
                     "Searched, not booked", (1, 5), 18.5, "booking", "bookingCompleted", 0.1, 0.15,
                     "mobsimtravel://search"),
        CampaignKind("double-miles", "Double miles this week", "Gold and platinum flyers earn twice on every booking",
                     "Gold and platinum flyers", (0,), 9.0, "booking", "bookingCompleted", 0.07, 0.1,
                     "mobsimtravel://miles"),
    ),
}  # fmt: skip


def kinds(vertical: str) -> tuple[CampaignKind, ...]:
    return _KINDS.get(vertical, ())


def saved_segments(vertical: str) -> list[dict[str, Any]]:
    """The vertical's saved segments, as ``POST /inspect/segments`` bodies."""
    return [{"name": name, "query": query} for name, query in _SEGMENTS.get(vertical, ())]


def schedule(vertical: str, start: float, end: float) -> list[Campaign]:
    """The vertical's campaigns in ``[start + 2 days, end - 12 hours]``, by time."""
    first, last = start + 2 * _DAY, end - _DAY / 2
    found: list[Campaign] = []
    day = datetime.fromtimestamp(start, UTC).date()
    while (midnight := datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) <= last:
        for kind in kinds(vertical):
            at = midnight + kind.hour * 3600
            if day.weekday() in kind.weekdays and first <= at <= last:
                found.append(Campaign(kind, f"{vertical}-{kind.key}-{day.isoformat()}", at))
        day += timedelta(days=1)
    found.sort(key=lambda c: (c.at, c.bulk_id))
    return found


def open_delay(kind: CampaignKind, rate: float, local_hour: int, rng: random.Random) -> float | None:
    """Seconds from the push to the tap, or None when the notification is not opened."""
    engagement = min(2.5, max(0.35, math.sqrt(rate / _MEDIAN_RATE)))
    share = kind.open_share * engagement * (_NIGHT if local_hour >= 23 or local_hour < 7 else 1.0)
    if rng.random() >= share:
        return None
    if rng.random() < 0.65:  # at once: within minutes
        return min(1800.0, rng.lognormvariate(math.log(75.0), 1.0))
    return 1800.0 + min(20 * 3600.0, rng.expovariate(1 / (4 * 3600.0)))  # the next time they pick up the phone
