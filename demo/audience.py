"""The audience: persons and their devices, drawn from ``(seed, options, person number)`` alone.

A person has a locale (and so a country, a timezone, a phone number plan and platform shares),
a locale-consistent name from faker, an email derived from it and a phone number. By default the
contacts are obviously synthetic (``demo/contacts.py``): the email is at a reserved example domain,
the phone lies in a range the country's regulator reserves for fiction, and a person of a country
without one has no phone; ``realistic_contacts`` gives realistic mail hosts and mobile numbers valid
for the country instead (the other draws are the same in both modes). A share of persons never
log in (anonymous installs). Most have one device; some have a phone and a tablet, a few a third
device. Each device gets a catalogue phone (or tablet) whose locale and timezone match its person
(the catalogue seed is searched), an app version that follows an adoption curve, a notification
opt-in drawn per platform, and its own session rate.
"""

from __future__ import annotations

import hashlib
import random
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any

from faker import Faker

from contract.dialect import Platform
from simulator import catalog
from simulator.catalog import profile_for

from .contacts import reserved_email, reserved_phone
from .verticals import Vertical

__all__ = [
    "LOCALES",
    "OPT_IN",
    "AudienceOptions",
    "DevicePlan",
    "PersonPlan",
    "Release",
    "parse_locales",
    "person_plan",
    "phone_number",
]


@dataclass(frozen=True)
class Country:
    code: str
    calling: str
    prefixes: tuple[str, ...]
    subscriber: int
    """Digits after the prefix."""
    leads: str
    """Allowed first digits of the subscriber number."""
    platforms: tuple[float, float, float]
    """Shares of android, ios, huawei (rounded public mobile OS shares)."""
    domains: tuple[str, ...]
    """Realistic mail hosts (``realistic_contacts`` only)."""


_ANY = "0123456789"
LOCALES: dict[str, Country] = {
    "en_US": Country("US", "1", ("201", "212", "305", "312", "415", "503", "617", "702", "713", "720", "917", "972"),
                     7, "23456789", (43, 57, 0), ("gmail.com", "yahoo.com", "outlook.com", "icloud.com")),
    "en_GB": Country("GB", "44", ("74", "75", "77", "78", "79"), 8, _ANY, (49, 51, 0),
                     ("gmail.com", "hotmail.co.uk", "outlook.com", "btinternet.com")),
    "de_DE": Country("DE", "49", ("151", "152", "157", "160", "170", "171", "172", "175", "176", "177", "179"),
                     8, _ANY, (61, 37, 2), ("gmx.de", "web.de", "gmail.com", "t-online.de")),
    "fr_FR": Country("FR", "33", ("6", "7"), 8, _ANY, (65, 33, 2),
                     ("gmail.com", "orange.fr", "free.fr", "laposte.net")),
    "es_ES": Country("ES", "34", ("6",), 8, _ANY, (73, 25, 2), ("gmail.com", "hotmail.es", "yahoo.es")),
    "it_IT": Country("IT", "39", ("320", "328", "333", "338", "340", "347", "348", "349", "351", "366", "380", "392"),
                     7, _ANY, (68, 30, 2), ("gmail.com", "libero.it", "virgilio.it", "hotmail.it")),
    "pt_BR": Country("BR", "55", ("119", "219", "319", "419", "519", "619", "719", "819"), 8, "6789",
                     (82, 17, 1), ("gmail.com", "hotmail.com", "uol.com.br", "bol.com.br")),
    "hr_HR": Country("HR", "385", ("91", "92", "95", "97", "98", "99"), 7, _ANY, (72, 22, 6),
                     ("gmail.com", "net.hr", "t-com.hr")),
    "pl_PL": Country("PL", "48", ("50", "51", "53", "57", "60", "66", "69", "72", "73", "78", "79", "88"),
                     7, _ANY, (75, 23, 2), ("gmail.com", "wp.pl", "onet.pl", "o2.pl")),
    "tr_TR": Country("TR", "90", ("530", "532", "533", "535", "536", "541", "542", "505", "506", "552", "555"),
                     7, _ANY, (72, 20, 8), ("gmail.com", "hotmail.com", "yandex.com")),
    "nl_NL": Country("NL", "31", ("6",), 8, "12345", (55, 45, 0), ("gmail.com", "ziggo.nl", "kpnmail.nl")),
    "en_IN": Country("IN", "91", ("6", "7", "8", "9"), 9, _ANY, (94, 5, 1),
                     ("gmail.com", "yahoo.co.in", "rediffmail.com")),
    "id_ID": Country("ID", "62", ("811", "812", "813", "821", "822", "852", "856", "857", "878", "896"), 8, _ANY,
                     (90, 9, 1), ("gmail.com", "yahoo.co.id")),
    "ja_JP": Country("JP", "81", ("70", "80", "90"), 8, _ANY, (32, 68, 0),
                     ("gmail.com", "docomo.ne.jp", "yahoo.co.jp")),
}  # fmt: skip
"""The catalogue's locales with their country's mobile numbering plan, platform shares and mail hosts
(the numbering plan and hosts are used with ``realistic_contacts`` only)."""

OPT_IN: dict[str, float] = {"ios": 0.56, "android": 0.81, "huawei": 0.78}
"""Notification opt-in rates per platform (iOS asks; Android 13+ asks too, older versions do not)."""

_PLATFORMS = ("android", "ios", "huawei")
_CATALOGUE_WEIGHTS = {row[0]: row[5] for row in catalog.LOCALES}


def parse_locales(text: str | None) -> dict[str, float]:
    """``"de_DE,en_GB"`` or ``"de_DE=70,en_GB=30"``; None: every catalogue locale by its weight."""
    if not text:
        return dict(_CATALOGUE_WEIGHTS)
    shares: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        name = name.strip()
        if name not in LOCALES:
            raise ValueError(f"--locale {name!r}: choose from {', '.join(LOCALES)}")
        try:
            shares[name] = float(value) if sep else 1.0
        except ValueError:
            raise ValueError(f"--locale {part!r}: the share must be a number") from None
        if shares[name] < 0:
            raise ValueError(f"--locale {part!r}: the share must not be negative")
    if not shares or sum(shares.values()) <= 0:
        raise ValueError("--locale: give at least one locale with a positive share")
    return shares


@dataclass(frozen=True)
class Release:
    """The app release that comes out during the window, and the versions before it."""

    version: str
    sdk: dict[str, str]
    at: float
    before: tuple[tuple[str, dict[str, str], float], ...]
    """(version, SDK per platform, share) of the installed base when the window opens."""


@dataclass(frozen=True)
class AudienceOptions:
    seed: int
    start: float
    end: float
    vertical: Vertical
    locales: dict[str, float]
    anonymous_share: float = 0.35
    devices_per_person: tuple[float, float, float] = (0.8, 0.16, 0.04)
    realistic_contacts: bool = False
    """Realistic mail hosts and valid national mobile numbers instead of reserved domains and fiction ranges."""
    release: Release = field(init=False)
    phone_ranks: _PhoneRanks = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        rows = catalog.APP_VERSIONS
        sdks = [{"android": r.android, "huawei": r.huawei, "ios": r.ios} for r in rows]
        release = Release(
            rows[0][0],
            sdks[0],
            self.start + 0.35 * (self.end - self.start),
            tuple((r[0], sdk, r[3]) for r, sdk in zip(rows[1:], sdks[1:], strict=True)),
        )
        object.__setattr__(self, "release", release)
        object.__setattr__(self, "phone_ranks", _PhoneRanks(self))


class _PhoneRanks:
    """Each logged-in person's rank among the logged-in persons of its country before it.

    The ``k``-th phone holder of a country gets its ``k``-th reserved number. The ranks depend on
    the earlier persons' locales and logins, two cheap draws each, scanned once and remembered.
    """

    def __init__(self, options: AudienceOptions) -> None:
        self.options = options
        self.ranks: list[int | None] = []
        self.counts: Counter[str] = Counter()

    def rank(self, index: int) -> int | None:
        """None for an anonymous person (it never sends its identity)."""
        while len(self.ranks) <= index:
            _, locale, anonymous = _head(self.options, len(self.ranks))
            if anonymous:
                self.ranks.append(None)
            else:
                country = LOCALES[locale].code
                self.ranks.append(self.counts[country])
                self.counts[country] += 1
        return self.ranks[index]


@dataclass(slots=True)
class DevicePlan:
    person: int
    number: int
    kind: str
    """``phone`` or ``tablet`` (a tablet reports a catalogue tablet model)."""
    platform: str
    seed: int
    timezone: str
    opt_in: bool
    primary: bool
    app_version: str
    sdk_version: str
    rate: float
    """Sessions per day on an average weekday."""
    installed: float
    """The first session is not before this time."""
    update_at: float | None
    """When the window's release is installed (None: never in the window)."""
    uninstall_at: float | None = None
    reinstall_at: float | None = None

    @property
    def key(self) -> str:
        return f"{self.person}.{self.number}"


@dataclass(slots=True)
class PersonPlan:
    index: int
    locale: str
    country: str
    anonymous: bool
    identity: dict[str, Any]
    attributes: dict[str, Any]
    login_session: int
    """The session (0-based, on the phone) where the person logs in first."""
    devices: list[DevicePlan]


def _unit(*parts: object) -> int:
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big")


@lru_cache(maxsize=32)
def _faker(locale: str) -> Faker:
    return Faker(locale)


_FOLD = str.maketrans({"đ": "dj", "Đ": "Dj", "ß": "ss", "ł": "l", "Ł": "L", "ı": "i", "ø": "o", "æ": "ae"})


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.translate(_FOLD)).encode("ascii", "ignore").decode()
    return "".join(c for c in folded.lower() if c.isalnum())


def phone_number(country: Country, rng: random.Random, seed: int, person: int) -> str:
    """A mobile number valid for the country (``realistic_contacts``), unique per (seed, person)."""
    digits = country.subscriber - 1
    space = 10**digits
    unique = (_unit("phone", seed) + person * 7_919_017) % space  # a bijection on person < space
    subscriber = rng.choice(country.leads) + f"{unique:0{digits}d}"
    return f"+{country.calling} {rng.choice(country.prefixes)} {subscriber}"


def _names(locale: str, seed: int) -> tuple[str, str, str, str, str]:
    """(first, last, gender, ascii first, ascii last)."""
    fake = _faker(locale)
    fake.seed_instance(seed)
    female = seed % 2 == 0
    first = fake.first_name_female() if female else fake.first_name_male()
    last = fake.last_name_female() if female and hasattr(fake, "last_name_female") else fake.last_name()
    if locale == "ja_JP":
        fake.seed_instance(seed)
        romanized = fake.first_romanized_name_female() if female else fake.first_romanized_name_male()
        return first, last, "Female" if female else "Male", romanized.lower(), _ascii(fake.last_romanized_name())
    return first, last, "Female" if female else "Male", _ascii(first) or "user", _ascii(last) or "mobile"


def _pick(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), list(weights.values()))[0]


def _catalogue_seed(
    platform: str, locale: str, timezone: str | None, *parts: object, tablet: bool = False
) -> tuple[int, str]:
    """A catalogue seed whose device has this locale (and timezone): the first match in a fixed sequence."""
    kind = Platform(platform)
    for attempt in range(2000):
        candidate = _unit("device", *parts, attempt) >> 16
        profile = profile_for(kind, candidate, tablet=tablet)
        if profile.locale == locale and (timezone is None or profile.timezone == timezone):
            return candidate, profile.timezone
    return candidate, profile.timezone  # pragma: no cover - every locale has a share of a few percent


def _head(options: AudienceOptions, index: int) -> tuple[random.Random, str, bool]:
    """The person's generator after its first two draws: the locale and whether it stays anonymous."""
    rng = random.Random(f"mobsim-demo:{options.seed}:{options.vertical.name}:{index}")
    locale = _pick(rng, options.locales)
    return rng, locale, rng.random() < options.anonymous_share


def person_plan(options: AudienceOptions, index: int) -> PersonPlan:
    """Person ``index`` of the audience with its devices; the same arguments, the same plan."""
    seed, vertical = options.seed, options.vertical
    rng, locale, anonymous = _head(options, index)
    country = LOCALES[locale]
    count = 1 if anonymous else rng.choices((1, 2, 3), options.devices_per_person)[0]
    first, last, gender, a_first, a_last = _names(locale, _unit("name", seed, index) >> 20)
    style = rng.randrange(4)
    local_part = (f"{a_first}.{a_last}", f"{a_first}{a_last}", f"{a_first[0]}{a_last}", f"{a_last}.{a_first}")[style]
    mail_host = rng.choice(country.domains)
    today = datetime.fromtimestamp(options.end, UTC).date()
    age_days = int(rng.triangular(18, 75, 34) * 365.25)
    birthday = date.fromordinal(today.toordinal() - age_days)
    national = phone_number(country, rng, seed, index)  # drawn in both modes: the rest of the plan is the same
    identity: dict[str, Any] = {"externalUserId": f"{vertical.name}-{seed}-{index:07d}"}
    if options.realistic_contacts:
        identity.update(emails=[f"{local_part}{index}@{mail_host}"], phones=[national])
    else:
        identity["emails"] = [reserved_email(local_part, seed, index)]
        rank = options.phone_ranks.rank(index)
        phone = None if rank is None else reserved_phone(country.code, seed, rank)
        if phone is not None:
            identity["phones"] = [phone]
    attributes: dict[str, Any] = {
        "firstName": first,
        "lastName": last,
        "gender": gender,
        "birthday": birthday,
        "customAttributes": vertical.person_attributes(rng, country.code),
    }
    tags = vertical.person_tags(rng)
    if tags:
        attributes["tags"] = tags
    login_session = 0 if rng.random() < 0.55 else 1 + int(rng.expovariate(0.5))
    devices = []
    timezone: str | None = None
    span = options.end - options.start
    release = options.release
    first_install = options.start if rng.random() < 0.7 else options.start + rng.random() * 0.9 * span
    shares = dict(zip(_PLATFORMS, country.platforms, strict=True))
    for number in range(count):
        kind = "phone" if number != 1 else "tablet"
        tablet_ios = rng.random() < 0.55 if kind == "tablet" else False
        platform = ("ios" if tablet_ios else "android") if kind == "tablet" else _pick(rng, shares)
        device_seed, timezone = _catalogue_seed(
            platform, locale, timezone, seed, index, number, tablet=kind == "tablet"
        )
        installed = (
            first_install
            if number == 0
            else min(first_install + rng.random() * 0.3 * span, options.start + 0.95 * span)
        )
        if installed >= release.at:
            version, sdk, update_at = release.version, release.sdk[platform], None
        else:
            row = rng.choices(release.before, [r[2] for r in release.before])[0]
            version, sdk = row[0], row[1][platform]
            update_at = None if rng.random() < 0.12 else max(installed, release.at) + rng.expovariate(1 / (4 * 86400))
        rate = min(8.0, rng.lognormvariate(-1.3, 0.9)) * (0.45 if kind == "tablet" else 1.0)
        plan = DevicePlan(
            person=index,
            number=number,
            kind=kind,
            platform=platform,
            seed=device_seed,
            timezone=timezone,
            opt_in=rng.random() < OPT_IN[platform],
            primary=not anonymous and number == 0 and (count > 1 or rng.random() < 0.4),
            app_version=version,
            sdk_version=sdk,
            rate=rate,
            installed=installed,
            update_at=update_at,
        )
        if rng.random() < 0.05:
            plan.uninstall_at = installed + rng.random() * (options.end - installed)
            if rng.random() < 0.4:
                plan.reinstall_at = plan.uninstall_at + rng.uniform(0.5, 10) * 86400
        devices.append(plan)
    return PersonPlan(index, locale, country.code, anonymous, identity, attributes, login_session, devices)
