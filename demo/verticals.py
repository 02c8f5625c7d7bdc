"""The verticals: what a retail, media, banking or travel app reports to People.

Each vertical has its event definitions (field types per the People rules: ``String``, ``Decimal``,
``Numeric``, ``Boolean``, ``DateTime``), the funnels its sessions walk through with falling
conversion, a few browsing events, and the person and installation custom attributes and tags
that such an app sets. Everything is drawn from a ``random.Random`` the caller owns, so the same
seed gives the same values.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["VERTICALS", "Funnel", "Vertical", "vertical"]

Values = dict[str, Any]


@dataclass(frozen=True)
class Funnel:
    """Steps in order; ``conversion[i]`` is the share of step ``i`` that goes on to step ``i + 1``."""

    name: str
    steps: tuple[str, ...]
    conversion: tuple[float, ...]
    weight: float
    """How often a session opens this funnel, relative to the vertical's other funnels."""

    def __post_init__(self) -> None:
        assert len(self.conversion) == len(self.steps) - 1


@dataclass(frozen=True)
class Vertical:
    name: str
    definitions: tuple[dict[str, Any], ...]
    funnels: tuple[Funnel, ...]
    browse: str
    """The browsing event (several per session, outside the funnels)."""
    funnel_rate: float
    """The share of sessions that enter a funnel."""
    weekly: tuple[float, ...]
    """Session rate by weekday (Monday first), relative."""
    hourly: tuple[float, ...]
    """Session rate by local hour, relative."""
    context: Callable[[random.Random, str, float], Values]
    """Values one funnel carries through its steps (sku, price...): ``(rng, country, when)``."""
    browse_values: Callable[[random.Random], Values]
    person_attributes: Callable[[random.Random, str], Values]
    installation_attributes: Callable[[random.Random, str], Values]
    tags: tuple[tuple[str, float], ...]
    """Tags and the share of persons that carry each."""
    fields: dict[str, tuple[str, ...]] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "fields", {d["definitionId"]: tuple(f["name"] for f in d["fields"]) for d in self.definitions}
        )

    def properties(self, definition_id: str, values: Values) -> Values:
        return {name: values[name] for name in self.fields[definition_id] if name in values}

    def person_tags(self, rng: random.Random) -> list[str]:
        return [tag for tag, share in self.tags if rng.random() < share]


def _definition(definition_id: str, title: str, description: str, **fields: str) -> dict[str, Any]:
    return {
        "definitionId": definition_id,
        "title": title,
        "description": description,
        "fields": [{"name": name, "type": kind} for name, kind in fields.items()],
    }


_CURRENCY = {
    "US": "USD", "GB": "GBP", "DE": "EUR", "FR": "EUR", "ES": "EUR", "IT": "EUR", "BR": "BRL", "HR": "EUR",
    "PL": "PLN", "TR": "TRY", "NL": "EUR", "IN": "INR", "ID": "IDR", "JP": "JPY",
}  # fmt: skip
_PRICE_SCALE = {"USD": 1.0, "GBP": 0.8, "EUR": 0.92, "BRL": 5.0, "PLN": 4.0, "TRY": 32.0, "INR": 83.0,
                "IDR": 16000.0, "JPY": 155.0}  # fmt: skip
_AIRPORTS = {
    "US": ("JFK", "ORD", "DEN", "LAX", "ATL"), "GB": ("LHR", "MAN", "LGW"), "DE": ("FRA", "MUC", "BER"),
    "FR": ("CDG", "ORY", "NCE"), "ES": ("MAD", "BCN", "LPA"), "IT": ("FCO", "MXP", "NAP"),
    "BR": ("GRU", "GIG", "BSB"), "HR": ("ZAG", "SPU", "DBV"), "PL": ("WAW", "KRK", "GDN"),
    "TR": ("IST", "SAW", "AYT"), "NL": ("AMS", "EIN", "RTM"), "IN": ("DEL", "BOM", "BLR"),
    "ID": ("CGK", "DPS", "SUB"), "JP": ("HND", "NRT", "KIX"),
}  # fmt: skip
_DESTINATIONS = ("LHR", "CDG", "JFK", "DXB", "BCN", "FCO", "IST", "SIN", "BKK", "LIS", "ATH", "DPS", "HND", "CUN")


def currency(country: str) -> str:
    return _CURRENCY.get(country, "EUR")


def _price(rng: random.Random, country: str, low: float, high: float) -> float:
    scale = _PRICE_SCALE[currency(country)]
    value = rng.lognormvariate(0, 0.6) * (low + high) / 2
    return round(min(max(value, low), high) * scale, 0 if scale >= 100 else 2)


def _date(when: float, rng: random.Random, low_days: int, high_days: int) -> str:
    moment = datetime.fromtimestamp(when, UTC) - timedelta(days=rng.randint(low_days, high_days))
    return moment.strftime("%Y-%m-%d")


def _future(when: float, rng: random.Random, low_days: int, high_days: int) -> str:
    moment = datetime.fromtimestamp(when, UTC) + timedelta(
        days=rng.randint(low_days, high_days), hours=rng.randint(6, 21)
    )
    return moment.strftime("%Y-%m-%dT%H:00:00Z")


_DAY_SHAPE = (
    0.15, 0.08, 0.05, 0.04, 0.05, 0.15, 0.45, 0.85, 1.0, 0.9, 0.85, 0.95,
    1.2, 1.15, 0.9, 0.85, 0.9, 1.05, 1.3, 1.55, 1.7, 1.55, 1.05, 0.5,
)  # fmt: skip
"""A mobile app's day in local time: the night trough, the commute, the lunch bump, the evening peak."""

_BANK_DAY = (
    0.08, 0.04, 0.03, 0.03, 0.05, 0.2, 0.7, 1.3, 1.5, 1.3, 1.1, 1.1,
    1.35, 1.25, 1.0, 0.95, 1.0, 1.15, 1.2, 1.1, 0.95, 0.75, 0.45, 0.2,
)  # fmt: skip


# -- retail ------------------------------------------------------------------------------------------

_RETAIL_CATEGORIES = ("shoes", "outerwear", "electronics", "beauty", "home", "toys", "sports", "kitchen")


def _retail_context(rng: random.Random, country: str, when: float) -> Values:
    price = _price(rng, country, 4, 400)
    quantity = 1 if rng.random() < 0.8 else rng.randint(2, 4)
    return {
        "sku": f"SKU-{rng.randint(1, 2500):05d}",
        "category": rng.choice(_RETAIL_CATEGORIES),
        "price": price,
        "currency": currency(country),
        "quantity": quantity,
        "cartValue": round(price * quantity, 2),
        "items": quantity,
        "orderId": f"ORD-{rng.getrandbits(40):010X}",
        "total": round(price * quantity, 2),
        "paymentMethod": rng.choices(
            ("card", "paypal", "applePay", "googlePay", "cashOnDelivery"), (45, 20, 15, 15, 5)
        )[0],
        "onSale": rng.random() < 0.3,
    }


RETAIL = Vertical(
    name="retail",
    definitions=(
        _definition("screenView", "Screen view", "A screen of the app was shown", screen="String"),
        _definition(
            "productViewed",
            "Product viewed",
            "A product page was opened",
            sku="String",
            category="String",
            price="Decimal",
            currency="String",
            onSale="Boolean",
        ),
        _definition(
            "addedToCart",
            "Added to cart",
            "A product was put in the cart",
            sku="String",
            price="Decimal",
            quantity="Numeric",
            currency="String",
        ),
        _definition(
            "checkoutStarted",
            "Checkout started",
            "The checkout was opened",
            cartValue="Decimal",
            items="Numeric",
            currency="String",
        ),
        _definition(
            "purchaseCompleted",
            "Purchase completed",
            "An order was paid",
            orderId="String",
            total="Decimal",
            items="Numeric",
            currency="String",
            paymentMethod="String",
        ),
    ),
    funnels=(
        Funnel(
            "purchase",
            ("productViewed", "addedToCart", "checkoutStarted", "purchaseCompleted"),
            (0.32, 0.55, 0.68),
            1.0,
        ),
    ),
    browse="screenView",
    funnel_rate=0.55,
    weekly=(0.9, 0.9, 0.95, 1.0, 1.1, 1.25, 1.2),
    hourly=_DAY_SHAPE,
    context=_retail_context,
    browse_values=lambda rng: {"screen": rng.choice(("home", "search", "category", "offers", "wishlist", "account"))},
    person_attributes=lambda rng, country: {
        "loyaltyTier": rng.choices(("bronze", "silver", "gold", "platinum"), (55, 28, 13, 4))[0],
        "lifetimeValue": _price(rng, country, 0, 3000),
        "preferredCategory": rng.choice(_RETAIL_CATEGORIES),
        "marketingConsent": rng.random() < 0.62,
        "memberSince": f"{rng.randint(2015, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
    },
    installation_attributes=lambda rng, country: {
        "darkMode": rng.random() < 0.35,
        "preferredStore": f"store-{country.lower()}-{rng.randint(1, 40):03d}",
    },
    tags=(("newsletter", 0.45), ("vip", 0.06), ("bargainHunter", 0.22), ("giftBuyer", 0.12)),
)


# -- media ---------------------------------------------------------------------------------------------

_GENRES = ("drama", "comedy", "documentary", "sports", "kids", "thriller", "news", "reality")


def _media_context(rng: random.Random, country: str, when: float) -> Values:
    genre = rng.choice(_GENRES)
    return {
        "contentId": f"{genre[:3]}-{rng.randint(1, 9000):05d}",
        "genre": genre,
        "kind": rng.choices(("episode", "movie", "live", "clip"), (50, 20, 10, 20))[0],
        "durationSeconds": rng.choice((600, 1320, 2640, 3000, 6600)),
        "watchedPercent": round(rng.uniform(80, 100), 1),
        "plan": rng.choices(("basic", "premium", "family"), (50, 35, 15))[0],
        "price": _price(rng, country, 5, 18),
        "currency": currency(country),
        "trial": rng.random() < 0.6,
    }


MEDIA = Vertical(
    name="media",
    definitions=(
        _definition("screenView", "Screen view", "A screen of the app was shown", screen="String"),
        _definition(
            "contentViewed",
            "Content viewed",
            "A title's page was opened",
            contentId="String",
            genre="String",
            kind="String",
        ),
        _definition(
            "playbackStarted",
            "Playback started",
            "A title started playing",
            contentId="String",
            genre="String",
            durationSeconds="Numeric",
        ),
        _definition(
            "playbackCompleted",
            "Playback completed",
            "A title was watched to the end",
            contentId="String",
            watchedPercent="Decimal",
        ),
        _definition(
            "subscriptionStarted",
            "Subscription started",
            "A paid plan or a trial was started",
            plan="String",
            price="Decimal",
            currency="String",
            trial="Boolean",
        ),
    ),
    funnels=(
        Funnel(
            "watch",
            ("contentViewed", "playbackStarted", "playbackCompleted", "subscriptionStarted"),
            (0.62, 0.48, 0.05),
            1.0,
        ),
    ),
    browse="screenView",
    funnel_rate=0.7,
    weekly=(0.9, 0.9, 0.9, 0.95, 1.1, 1.3, 1.3),
    hourly=(
        0.25,
        0.12,
        0.06,
        0.04,
        0.04,
        0.08,
        0.25,
        0.5,
        0.6,
        0.55,
        0.55,
        0.6,
        0.8,
        0.8,
        0.7,
        0.7,
        0.8,
        1.0,
        1.3,
        1.7,
        2.0,
        2.1,
        1.7,
        0.9,
    ),
    context=_media_context,
    browse_values=lambda rng: {"screen": rng.choice(("home", "browse", "search", "myList", "downloads", "profile"))},
    person_attributes=lambda rng, country: {
        "subscriptionPlan": rng.choices(("free", "basic", "premium", "family"), (40, 30, 20, 10))[0],
        "favoriteGenre": rng.choice(_GENRES),
        "minutesWatched": rng.randint(0, 6000),
        "kidsProfile": rng.random() < 0.18,
    },
    installation_attributes=lambda rng, country: {
        "downloadQuality": rng.choice(("standard", "high")),
        "autoplay": rng.random() < 0.7,
    },
    tags=(("bingeWatcher", 0.2), ("sportsFan", 0.25), ("trialUser", 0.15), ("newsletter", 0.3)),
)


# -- banking ------------------------------------------------------------------------------------------


def _banking_context(rng: random.Random, country: str, when: float) -> Values:
    product = rng.choices(("personalLoan", "creditCard", "mortgage", "carLoan"), (40, 35, 10, 15))[0]
    return {
        "accountType": rng.choices(("current", "savings", "credit"), (60, 25, 15))[0],
        "amount": _price(rng, country, 10, 2500),
        "currency": currency(country),
        "transferType": rng.choices(("domestic", "instant", "international"), (60, 30, 10))[0],
        "scheduled": rng.random() < 0.15,
        "product": product,
        "rate": round(rng.uniform(2.9, 14.9), 2),
        "termMonths": rng.choice((12, 24, 36, 60, 120, 360 if product == "mortgage" else 84)),
        "loanAmount": _price(rng, country, 1000, 60000),
    }


BANKING = Vertical(
    name="banking",
    definitions=(
        _definition("screenView", "Screen view", "A screen of the app was shown", screen="String"),
        _definition(
            "accountViewed", "Account viewed", "An account's balance and history were opened", accountType="String"
        ),
        _definition(
            "transferStarted", "Transfer started", "A payment form was opened", transferType="String", currency="String"
        ),
        _definition(
            "transferCompleted",
            "Transfer completed",
            "A payment was confirmed",
            amount="Decimal",
            currency="String",
            transferType="String",
            scheduled="Boolean",
        ),
        _definition(
            "loanOfferViewed", "Loan offer viewed", "A credit offer was shown", product="String", rate="Decimal"
        ),
        _definition(
            "loanApplicationStarted",
            "Loan application started",
            "An application form was opened",
            product="String",
            loanAmount="Decimal",
            termMonths="Numeric",
        ),
        _definition(
            "loanApplicationSubmitted",
            "Loan application submitted",
            "An application was sent",
            product="String",
            loanAmount="Decimal",
            termMonths="Numeric",
            currency="String",
        ),
    ),
    funnels=(
        Funnel("transfer", ("accountViewed", "transferStarted", "transferCompleted"), (0.4, 0.82), 3.0),
        Funnel("loan", ("loanOfferViewed", "loanApplicationStarted", "loanApplicationSubmitted"), (0.12, 0.45), 1.0),
    ),
    browse="screenView",
    funnel_rate=0.8,
    weekly=(1.15, 1.05, 1.0, 1.0, 1.15, 0.8, 0.65),
    hourly=_BANK_DAY,
    context=_banking_context,
    browse_values=lambda rng: {"screen": rng.choice(("dashboard", "cards", "payments", "savings", "offers", "help"))},
    person_attributes=lambda rng, country: {
        "customerSegment": rng.choices(("mass", "affluent", "private", "student"), (62, 22, 4, 12))[0],
        "hasCreditCard": rng.random() < 0.48,
        "hasMortgage": rng.random() < 0.22,
        "accountOpened": f"{rng.randint(2005, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
        "monthlyIncomeBand": rng.randint(1, 8),
    },
    installation_attributes=lambda rng, country: {
        "biometricLogin": rng.random() < 0.74,
        "balanceOnWidget": rng.random() < 0.2,
    },
    tags=(("salaryAccount", 0.55), ("investor", 0.1), ("eStatements", 0.6), ("travelInsurance", 0.08)),
)


# -- travel ---------------------------------------------------------------------------------------------


def _travel_context(rng: random.Random, country: str, when: float) -> Values:
    origin = rng.choice(_AIRPORTS.get(country, ("FRA",)))
    destination = rng.choice([d for d in _DESTINATIONS if d != origin])
    passengers = rng.choices((1, 2, 3, 4), (45, 35, 10, 10))[0]
    price = _price(rng, country, 60, 1500) * passengers
    return {
        "origin": origin,
        "destination": destination,
        "departureDate": _future(when, rng, 3, 120),
        "passengers": passengers,
        "flightNumber": f"{rng.choice(('MB', 'XS', 'QX'))}{rng.randint(100, 9999)}",
        "cabin": rng.choices(("economy", "premiumEconomy", "business"), (82, 10, 8))[0],
        "price": round(price, 2),
        "currency": currency(country),
        "bookingId": "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(6)),
        "total": round(price * 1.08, 2),
        "nights": rng.randint(2, 14),
    }


TRAVEL = Vertical(
    name="travel",
    definitions=(
        _definition("screenView", "Screen view", "A screen of the app was shown", screen="String"),
        _definition(
            "flightSearched",
            "Flight searched",
            "A flight search was run",
            origin="String",
            destination="String",
            departureDate="DateTime",
            passengers="Numeric",
        ),
        _definition(
            "flightSelected",
            "Flight selected",
            "A fare was chosen from the results",
            flightNumber="String",
            cabin="String",
            price="Decimal",
            currency="String",
        ),
        _definition(
            "bookingStarted",
            "Booking started",
            "Passenger details were being entered",
            destination="String",
            price="Decimal",
            passengers="Numeric",
        ),
        _definition(
            "bookingCompleted",
            "Booking completed",
            "A trip was booked and paid",
            bookingId="String",
            destination="String",
            total="Decimal",
            currency="String",
            nights="Numeric",
        ),
    ),
    funnels=(
        Funnel(
            "booking",
            ("flightSearched", "flightSelected", "bookingStarted", "bookingCompleted"),
            (0.38, 0.5, 0.42),
            1.0,
        ),
    ),
    browse="screenView",
    funnel_rate=0.6,
    weekly=(1.0, 0.95, 0.95, 1.0, 1.05, 1.0, 1.15),
    hourly=_DAY_SHAPE,
    context=_travel_context,
    browse_values=lambda rng: {
        "screen": rng.choice(("home", "myTrips", "deals", "checkIn", "boardingPass", "profile"))
    },
    person_attributes=lambda rng, country: {
        "loyaltyLevel": rng.choices(("blue", "silver", "gold", "platinum"), (70, 18, 9, 3))[0],
        "homeAirport": rng.choice(_AIRPORTS.get(country, ("FRA",))),
        "tripsLastYear": rng.choices(range(0, 13), (20, 25, 18, 12, 8, 5, 4, 2, 2, 1, 1, 1, 1))[0],
        "prefersWindowSeat": rng.random() < 0.58,
    },
    installation_attributes=lambda rng, country: {
        "offlineBoardingPasses": rng.random() < 0.4,
        "displayCurrency": currency(country),
    },
    tags=(("businessTraveller", 0.15), ("familyTraveller", 0.25), ("lastMinute", 0.18), ("newsletter", 0.4)),
)

VERTICALS: dict[str, Vertical] = {v.name: v for v in (RETAIL, MEDIA, BANKING, TRAVEL)}


def vertical(name: str) -> Vertical:
    try:
        return VERTICALS[name]
    except KeyError:
        raise ValueError(f"unknown vertical {name!r}: choose one of {', '.join(VERTICALS)}") from None
