"""Realistic system data: a seed picks a phone (or a tablet), its OS, locale, carrier and app build.

`profile_for(platform, seed, tablet=)` is a pure function (same seed and form factor, same device)
drawing from the weighted tables in `_catalog_data`; a tablet draws its model from the tablet
tables and everything else exactly as the phone of that seed would. The device stores only the
seed, the tablet flag and the few values that change over its life (app version after an update,
OS version after an upgrade).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import cache, lru_cache
from typing import TypeVar
from zoneinfo import ZoneInfo

from faker import Faker

from contract.dialect import Platform

from . import _catalog_data as data

__all__ = ["APP_VERSIONS", "LOCALES", "Profile", "machine_id", "profile_for", "timezone_offset"]

LOCALES = data.LOCALES
"""Locales with their countries, timezones and carriers, and weights (``_catalog_data.LOCALES``)."""
APP_VERSIONS = data.APP_VERSIONS
"""The app builds and the SDK version each embeds, with adoption weights."""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Profile:
    """The system data of one phone (or tablet) with one build of the app."""

    platform: Platform
    manufacturer: str
    model: str
    device_name: str
    os_version: str
    api_level: int
    """Android `SDK_INT`; 0 on iOS."""
    codename: str
    abi: str
    locale: str
    language: str
    timezone: str
    carrier: str
    mnc: str
    mcc: str
    app_version: str
    sdk_version: str
    device_secure: bool
    tablet: bool = False

    def with_app(self, app_version: str, sdk_version: str | None = None) -> Profile:
        return replace(self, app_version=app_version, sdk_version=sdk_version or self.sdk_version)

    def with_os(self, os_version: str) -> Profile:
        return replace(self, os_version=os_version)


def machine_id(model: str) -> str:
    """The iOS machine identifier of a catalogue model (``iPhone 15`` → ``iPhone15,4``)."""
    return data.IOS_MACHINE_IDS.get(model, model)


def timezone_offset(platform: Platform, timezone: str, at: float) -> str:
    """`deviceTimezoneOffset` as each SDK formats it, at epoch second `at` (DST included).

    Android (ICU `ZZZZ`): `GMT+01:00`, and plain `GMT` for a zero offset; iOS: `GMT+00:00` too.
    """
    # Zone transitions fall on whole seconds, so the offset within one second is one value.
    return _offset_text(platform is Platform.IOS, timezone, math.floor(at))


@cache
def _zone(name: str) -> ZoneInfo:
    """Zones kept for good: `ZoneInfo`'s own cache holds only 8 strongly, and a miss reads the disk."""
    return ZoneInfo(name)


@lru_cache(maxsize=2048)
def _offset_text(ios: bool, timezone: str, at: int) -> str:
    offset = _zone(timezone).utcoffset(datetime.fromtimestamp(at, UTC))
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    if minutes == 0 and not ios:
        return "GMT"
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"GMT{sign}{hours:02d}:{mins:02d}"


@lru_cache(maxsize=32)
def _faker(locale: str) -> Faker:
    return Faker(locale)


def _pick(rng: random.Random, items: tuple[T, ...], weights: list[float]) -> T:
    return rng.choices(items, weights)[0]


@lru_cache(maxsize=65536)
def profile_for(platform: Platform, seed: int, *, tablet: bool = False) -> Profile:
    """The phone (or tablet) that `seed` stands for on `platform`; deterministic across processes."""
    rng = random.Random(f"{platform.value}:{seed}")
    loc = _pick(rng, data.LOCALES, [row[5] for row in data.LOCALES])
    faker_locale, language, mcc, zones, carriers, _ = loc
    timezone = _pick(rng, tuple(z for z, _ in zones), [w for _, w in zones])
    carrier = _pick(rng, carriers, [c[2] for c in carriers])
    app = _pick(rng, data.APP_VERSIONS, [row[3] for row in data.APP_VERSIONS])
    secure = rng.random() < 0.88
    if platform is Platform.IOS:
        return _ios_profile(rng, seed, faker_locale, language, timezone, carrier, mcc, app, secure, tablet)
    return _android_profile(rng, platform, faker_locale, language, timezone, carrier, mcc, app, secure, tablet)


def _ios_profile(
    rng: random.Random,
    seed: int,
    faker_locale: str,
    language: str,
    timezone: str,
    carrier: tuple[str, str, float],
    mcc: str,
    app: tuple[str, str, str, float],
    secure: bool,
    tablet: bool,
) -> Profile:
    models = data.IOS_TABLETS if tablet else data.IOS_MODELS
    model, low, high, _ = _pick(rng, models, [m[3] for m in models])
    kind = "iPad" if tablet else "iPhone"
    releases = tuple(r for major, rows in data.IOS_RELEASES.items() if low <= major <= high for r in rows)
    os_version = _pick(rng, tuple(r[0] for r in releases), [r[1] for r in releases])
    major = int(os_version.split(".")[0])
    if major >= 16:
        # Since iOS 16 UIDevice.name is the generic model name without a special entitlement.
        name = kind
    else:
        fake = _faker(faker_locale)
        fake.seed_instance(seed)
        name = f"{fake.first_name()}’s {kind}"
    carrier_name, mnc = carrier[0], carrier[1]
    if (major, int(os_version.split(".")[1])) >= (16, 4):
        # CTCarrier is deprecated since iOS 16.4 and answers placeholders.
        carrier_name, mnc, mcc = "--", "65535", "65535"
    return Profile(
        Platform.IOS, "Apple", model, name, os_version, 0, "", "", faker_locale, language, timezone,
        carrier_name, mnc, mcc, app[0], app[2], secure, tablet,
    )  # fmt: skip


def _android_profile(
    rng: random.Random,
    platform: Platform,
    faker_locale: str,
    language: str,
    timezone: str,
    carrier: tuple[str, str, float],
    mcc: str,
    app: tuple[str, str, str, float],
    secure: bool,
    tablet: bool,
) -> Profile:
    if platform is Platform.HUAWEI:
        models = data.HUAWEI_TABLETS if tablet else data.HUAWEI_MODELS
    else:
        models = data.ANDROID_TABLETS if tablet else data.ANDROID_MODELS
    manufacturer, model, name, levels, _ = _pick(rng, models, [m[4] for m in models])
    level = _pick(rng, levels, [data.ANDROID_API_WEIGHTS[v] for v in levels])
    release, codename = data.ANDROID_RELEASES[level]
    abi = _pick(rng, tuple(a for a, _ in data.ABIS), [w for _, w in data.ABIS])
    return Profile(
        platform, manufacturer, model, name, release, level, codename, abi, faker_locale, language, timezone,
        carrier[0], carrier[1], mcc, app[0], app[1], secure, tablet,
    )  # fmt: skip
