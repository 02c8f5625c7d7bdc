"""Personas: what one app session of each kind of user does with its device.

A persona is a plain function of a :class:`Session`; it never sleeps by itself but calls
``session.pause(seconds)``, which waits in real time under Locust (processing the device's
timers: heartbeats, event batches, retries) and advances a virtual clock in tests. Every session
launches the app, does a few things, goes to the background, and sometimes comes back within
30 seconds (the same session) before the device is parked; the next checkout, minutes later, is a
new App Launch.

An error the SDK hands the app (a refused login, a user save that got a 503, an event stored
without a registration) does not end the session: the app shows it and the user goes on
(:func:`app_call`), while the SDK keeps what it keeps and sends it again on its own triggers
(docs/device.md, "After a failure"). Before the device is parked, the retries its SDK scheduled
go out (:func:`settle`), as they would from an app left in the background.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from faker import Faker

from simulator import ApiError, SimulatorError, UsageError, VirtualDevice
from simulator.outcomes import ACK_KINDS, RESEND_KINDS

from ._population import Population

__all__ = [
    "EVENT_DEFINITIONS",
    "PERSONA_SESSIONS",
    "Session",
    "Tally",
    "app_call",
    "business_outcome",
    "no_expectations",
    "person_attributes",
    "run_session",
    "settle",
]

EVENT_DEFINITIONS: tuple[dict[str, Any], ...] = (
    {"definitionId": "screenView", "fields": [{"name": "screen", "type": "String"}]},
    {
        "definitionId": "productView",
        "fields": [
            {"name": "sku", "type": "String"},
            {"name": "category", "type": "String"},
            {"name": "price", "type": "Decimal"},
        ],
    },
    {
        "definitionId": "addToCart",
        "fields": [
            {"name": "sku", "type": "String"},
            {"name": "price", "type": "Decimal"},
            {"name": "quantity", "type": "Numeric"},
        ],
    },
    {
        "definitionId": "purchase",
        "fields": [
            {"name": "orderId", "type": "String"},
            {"name": "total", "type": "Decimal"},
            {"name": "items", "type": "Numeric"},
        ],
    },
)
"""The custom events the personas send; created on a target that has the inspection API."""

_SCREENS = ("home", "search", "category", "product", "cart", "profile", "settings", "offers")
_CATEGORIES = ("shoes", "outerwear", "electronics", "beauty", "home", "toys")
_COUNTERS = (
    "sessions", "launches", "quick_returns", "personalizations", "depersonalizations", "user_updates",
    "events", "uninstalls", "new_installs", "aborted", "unavailable", "app_errors",
    "pushes_received", "pushes_dropped", "pushes_held", "pushes_stale", "pushes_unroutable", "pushes_failed",
    "opens", "opens_missed", "conversions",
)  # fmt: skip


@dataclass
class Tally:
    """What the sessions did, beside the request stats: summed across workers for the summary."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_COUNTERS, 0))
    """What the sessions *did* (asked their devices for): sessions run, logins attempted..."""
    business_errors: dict[str, int] = field(default_factory=dict)
    acknowledged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ACK_KINDS, 0))
    """What the target acknowledged (a 2xx that carried it): the devices' observer feeds it."""
    resent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESEND_KINDS, 0))
    """Requests that carried again what a failed one carried (`simulator.outcomes`), by kind."""
    app_errors: dict[str, int] = field(default_factory=dict)
    """Errors the SDK handed the app, by code, after which the session went on (:func:`app_call`)."""
    personas: dict[str, int] = field(default_factory=dict)
    """Sessions run per persona."""

    def add(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n

    def ack(self, kind: str, n: int = 1) -> None:
        """The observer of the run's devices (`simulator.outcomes`)."""
        self.acknowledged[kind] = self.acknowledged.get(kind, 0) + n

    def resend(self, kind: str, n: int = 1) -> None:
        """The re-send observer of the run's devices (`simulator.outcomes`)."""
        self.resent[kind] = self.resent.get(kind, 0) + n

    def business(self, code: str) -> None:
        self.business_errors[code] = self.business_errors.get(code, 0) + 1

    def app_error(self, code: str) -> None:
        self.app_errors[code] = self.app_errors.get(code, 0) + 1
        self.add("app_errors")

    def snapshot(self) -> dict[str, Any]:
        """Cumulative counts (a worker reports them to the master, which keeps the latest)."""
        return {
            "counts": dict(self.counts),
            "business_errors": dict(self.business_errors),
            "acknowledged": dict(self.acknowledged),
            "resent": dict(self.resent),
            "app_errors": dict(self.app_errors),
            "personas": dict(self.personas),
        }

    def merge(self, part: dict[str, Any]) -> None:
        for name, n in part.get("counts", {}).items():
            self.add(name, n)
        for code, n in part.get("business_errors", {}).items():
            self.business_errors[code] = self.business_errors.get(code, 0) + n
        for kind, n in part.get("acknowledged", {}).items():
            self.ack(kind, n)
        for kind, n in part.get("resent", {}).items():
            self.resend(kind, n)
        for code, n in part.get("app_errors", {}).items():
            self.app_errors[code] = self.app_errors.get(code, 0) + n
        for persona, n in part.get("personas", {}).items():
            self.personas[persona] = self.personas.get(persona, 0) + n


@dataclass
class Session:
    device: VirtualDevice
    index: int
    population: Population
    rng: random.Random
    pause: Callable[[float], None]
    tally: Tally
    expect: Callable[[frozenset[str]], Any]
    """``with session.expect(codes)``: those error codes are business outcomes, not failures."""
    think: float = 1.0
    """Scale of think times (0 in benches: back-to-back requests)."""

    def wait(self, low: float, high: float) -> None:
        self.pause(self.think * self.rng.uniform(low, high))


_faker = Faker()


def person_attributes(population: Population, index: int) -> dict[str, Any]:
    first, last, tier = _person_names(population.seed, population.person_of(index))
    return {"firstName": first, "lastName": last, "customAttributes": {"loyaltyTier": tier}}


@lru_cache(maxsize=8192)
def _person_names(seed: int, person: int) -> tuple[str, str, str]:
    """A person's names, the same on every call (Faker seeded by person); kept for persons who
    personalize again (after a depersonalize or a reinstall), as seeding Faker is slow."""
    _faker.seed_instance(seed * 1_000_003 + person)
    return _faker.first_name(), _faker.last_name(), _faker.random_element(("none", "silver", "gold"))


@contextmanager
def app_call(s: Session) -> Iterator[None]:
    """One call of the app into the SDK whose error the app shows and gets past: the error is
    counted (by its code, ``Tally.app_errors``) and the session goes on. A `UsageError` is the
    simulator's misuse, not an answer the app could get: it still ends the session."""
    try:
        yield
    except UsageError:
        raise
    except SimulatorError as exc:
        s.tally.app_error(_code(exc))


def _code(error: SimulatorError) -> str:
    code = getattr(error, "code", None)
    status = getattr(error, "status", None)
    if isinstance(code, str) and code:
        return f"{status} {code}" if isinstance(status, int) else code
    return type(error).__name__


SETTLE_LIMIT = 60.0
"""Seconds a session waits at most, before its device is parked, for the retries its SDK scheduled
(Android's policy: 2 + 8 + 18 s for one call, and a sync can schedule several)."""


def settle(s: Session) -> None:
    """Let the retries the device's SDK scheduled go out before the device is parked (a parked
    device's process is gone, and its retries with it): an app left in the background keeps its
    process for minutes, and the retries run there. Returns at once when pauses do (the run is
    ending) and when nothing is scheduled (iOS never schedules any)."""
    device, waited = s.device, 0.0
    while (due := device.next_retry()) is not None and waited < SETTLE_LIMIT:
        wait = max(0.0, due - device.now()) + 0.01
        s.pause(wait)
        waited += wait
        if device.next_retry() == due and device.now() < due:
            return  # the pause returned early: the run is ending


def _launch(s: Session) -> None:
    s.device.foreground()
    s.tally.add("sessions")


def _leave(s: Session, body: Callable[[Session], None] | None = None) -> None:
    """Background the app; a quarter of users come back within 30 s (the same session)."""
    s.device.background()
    if s.rng.random() < 0.25:
        s.wait(3, 20)
        s.device.foreground()
        s.tally.add("quick_returns")
        if body:
            body(s)
        s.device.background()
    s.pause(s.think * 6.0)  # let batches and debounced reports go out before the process is parked


def _personalized(device: VirtualDevice) -> bool:
    return bool(device.user.get("externalUserId"))


def log_in(device: VirtualDevice, identity: dict[str, Any], attributes: dict[str, Any], *, primary: bool) -> None:
    """The app logs the user in; a primary device is asked for in the personalize where the SDK has
    ``setDeviceAsPrimary`` (Android 15.0.0, iOS 15.5.0), else saved on the installation after it."""
    native = primary and device.sdk.set_device_as_primary
    device.personalize(identity, attributes, set_as_primary=native)
    if primary and not native:
        device.set_primary()


def _login(s: Session, *, primary: bool = False) -> None:
    if _personalized(s.device) or s.device.depersonalize_pending:
        return
    with app_call(s):  # a refused login: the user carries on logged out (the next session tries again)
        log_in(s.device, s.population.identity(s.index), person_attributes(s.population, s.index), primary=primary)
    if _personalized(s.device):
        s.tally.add("personalizations")


def _screens(s: Session, count: int, events: bool = True) -> None:
    for _ in range(count):
        s.wait(1, 6)
        if events and s.rng.random() < 0.5:
            with app_call(s):
                s.device.submit_event("screenView", {"screen": s.rng.choice(_SCREENS)})
                s.tally.add("events")


def browser(s: Session) -> None:
    _launch(s)
    _screens(s, s.rng.randint(1, 4))
    _leave(s, lambda again: _screens(again, 1))


def login(s: Session) -> None:
    _launch(s)
    _login(s)
    roll = s.rng.random()
    if roll < 0.3:
        with app_call(s):  # a failed save stays with the SDK, unreported, for its next sync
            s.tally.add("user_updates")
            s.device.save_user(customAttributes={"lastVisitScreens": s.rng.randint(1, 20)})
    elif roll < 0.5:
        with app_call(s):
            s.device.fetch_user()
    _screens(s, s.rng.randint(1, 3))
    _leave(s, lambda again: _screens(again, 1))


def multidevice(s: Session) -> None:
    """A phone (even index) and a tablet (odd index) of one person; the phone is primary."""
    _launch(s)
    _login(s, primary=s.index % 2 == 0)
    if s.rng.random() < 0.2:
        with app_call(s):
            s.device.fetch_user()
    _screens(s, s.rng.randint(1, 3))
    _leave(s)


def shopper(s: Session) -> None:
    _launch(s)
    if s.rng.random() < 0.6:
        _login(s)
    for _ in range(s.rng.randint(1, 3)):
        s.wait(2, 8)
        sku = f"SKU-{s.rng.randint(1, 500):04d}"
        price = round(s.rng.uniform(5, 250), 2)
        with app_call(s):
            s.device.submit_event("productView", {"sku": sku, "category": s.rng.choice(_CATEGORIES), "price": price})
            s.tally.add("events")
        if s.rng.random() < 0.35:
            s.wait(1, 5)
            with app_call(s):
                s.device.submit_event("addToCart", {"sku": sku, "price": price, "quantity": s.rng.randint(1, 3)})
                s.tally.add("events")
            if s.rng.random() < 0.4:
                s.wait(3, 10)
                order = {"orderId": f"o-{s.index}-{s.rng.getrandbits(32):08x}", "total": price, "items": 1}
                with app_call(s), business_outcome(s, "REQUEST_FORMAT_INVALID"):
                    s.device.submit_event("purchase", order, validate=s.rng.random() < 0.3)
                s.tally.add("events")
    _leave(s)


def churner(s: Session) -> None:
    device = s.device
    if device.uninstalled:
        device.reinstall()
        s.tally.add("new_installs")
    _launch(s)
    if not _personalized(device):
        _login(s)
        _screens(s, s.rng.randint(1, 2))
        _leave(s)
        return
    _screens(s, s.rng.randint(1, 2))
    if s.rng.random() < 0.5:
        with app_call(s):  # a failed logout stays pending in the SDK, which sends it again
            s.tally.add("depersonalizations")
            device.depersonalize()
        _leave(s)
    else:
        device.background()
        s.pause(s.think * 6.0)
        device.uninstall()
        s.tally.add("uninstalls")


def newinstall(s: Session) -> None:
    """Every session is a fresh install: a new registration, the first launch, a look around."""
    if s.device.reg_id is not None or s.device.uninstalled:
        s.device.reinstall()
    s.tally.add("new_installs")
    _launch(s)
    _screens(s, s.rng.randint(1, 3), events=False)
    _leave(s)


PERSONA_SESSIONS: dict[str, Callable[[Session], None]] = {
    "browser": browser,
    "login": login,
    "multidevice": multidevice,
    "shopper": shopper,
    "churner": churner,
    "newinstall": newinstall,
}


def run_session(persona: str, s: Session) -> bool:
    """One session, then the device's scheduled retries (:func:`settle`); False when it ended early
    on an error the app could not have got (a `UsageError`: mobsim's own bug)."""
    s.tally.personas[persona] = s.tally.personas.get(persona, 0) + 1
    before = s.device.session_start
    try:
        PERSONA_SESSIONS[persona](s)
    except (ApiError, SimulatorError):
        s.tally.add("aborted")
        s.device.background()
        return False
    finally:
        settle(s)
        # a launch is a session the device recorded that it did not have before: iOS records one
        # at its timer's first tick, 5 s after the start (a shorter launch is none)
        after = s.device.session_start
        if after is not None and after != before:
            s.tally.add("launches")
    return True


@contextmanager
def business_outcome(s: Session, *codes: str) -> Iterator[None]:
    """Error codes that are an expected answer here (a backend without the event definitions
    rejects a validated event): counted as business outcomes, neither failures nor aborts."""
    expected = frozenset(codes)
    with s.expect(expected):
        try:
            yield
        except ApiError as exc:
            if exc.code not in expected:
                raise
            s.tally.business(exc.code)


@contextmanager
def no_expectations(_: frozenset[str]) -> Iterator[None]:
    """``Session.expect`` with no transport to tell (tests, scripts)."""
    yield
