"""Realistic system data: a seed picks a phone (or a tablet), its OS, locale, carrier and app build.

`profile_for(platform, seed, tablet=)` is a pure function (same seed and form factor, same device)
drawing from the weighted tables in `_catalog_data`; a tablet draws its model from the tablet
tables and everything else exactly as the phone of that seed would. The device stores only the
seed, the tablet flag and the few values that change over its life (app version after an update,
OS version after an upgrade).

SDK versions are real releases of each SDK line (`SDK_RELEASES`): an app build (`APP_VERSIONS`)
embeds one per platform, Huawei on the Huawei SDK's own line, and builds are weighted by adoption
(`adoption_weights`). What the SDK then reports for a profile (`ios_device_model`, the language
and offset spellings) is the SDK's own view of the phone. Sources: docs/reference/versions.md.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from functools import cache, lru_cache
from typing import NamedTuple, TypeVar
from zoneinfo import ZoneInfo

from faker import Faker

from contract.dialect import Platform

from . import _catalog_data as data
from .sdk_features import parse_version

__all__ = [
    "APP_VERSIONS",
    "CATALOGUE_DATE",
    "LOCALES",
    "SDK_RELEASES",
    "AppBuild",
    "Profile",
    "adoption_weights",
    "android_language",
    "app_build",
    "ios_device_model",
    "is_release",
    "machine_id",
    "newer_builds",
    "profile_for",
    "timezone_offset",
]

T = TypeVar("T")

LOCALES = data.LOCALES
"""Locales with their countries, timezones and carriers, and weights (``_catalog_data.LOCALES``)."""

CATALOGUE_DATE = date.fromisoformat(data.CATALOGUE_DATE)
"""The day the catalogue describes; build ages, and so the weights, count from it."""

SDK_RELEASES: dict[Platform, tuple[tuple[str, str], ...]] = {
    Platform.ANDROID: data.ANDROID_SDK_RELEASES,
    Platform.IOS: data.IOS_SDK_RELEASES,
    Platform.HUAWEI: data.HUAWEI_SDK_RELEASES,
}
"""Each SDK line's releases, (version, release date): the only versions a device claims."""
_RELEASED: dict[Platform, dict[str, date]] = {
    platform: {v: date.fromisoformat(d) for v, d in rows} for platform, rows in SDK_RELEASES.items()
}


def is_release(platform: Platform, version: str) -> bool:
    """Whether ``version`` is a release of ``platform``'s SDK line (Huawei has its own)."""
    return version in _RELEASED[platform]


def adoption_weights(
    releases: Iterable[tuple[str, str]],
    today: date = CATALOGUE_DATE,
    *,
    half_life_days: float = 120.0,
    max_span_days: float = 45.0,
    floor: float = 0.002,
) -> dict[str, float]:
    """Shares of an installed base by release, summing to 1: the days each release was the newest
    (at most ``max_span_days``; at least 1) times its survival since (halved every ``half_life_days``,
    never below ``floor``). Releases after ``today`` get nothing."""
    rows = sorted(((v, date.fromisoformat(d)) for v, d in releases), key=lambda r: r[1])
    rows = [r for r in rows if r[1] <= today]
    raw: dict[str, float] = {}
    for i, (version, day) in enumerate(rows):
        following = rows[i + 1][1] if i + 1 < len(rows) else today
        span = min(max((following - day).days, 1), max_span_days)
        raw[version] = span * max(0.5 ** ((today - day).days / half_life_days), floor)
    total = sum(raw.values())
    return {v: w / total for v, w in raw.items()}


class AppBuild(NamedTuple):
    """One build of the app and the SDK it embeds on each platform.

    The first four fields keep the shape of the old ``(app, Android SDK, iOS SDK, weight)`` rows."""

    version: str
    android: str
    ios: str
    weight: float
    """Its share of the installed base (``adoption_weights`` over the build dates)."""
    huawei: str
    released: str
    """The build date, ISO ``YYYY-MM-DD``."""

    def sdk(self, platform: Platform) -> str:
        """The SDK version this build embeds on ``platform``, on that platform's own line."""
        if platform is Platform.IOS:
            return self.ios
        return self.huawei if platform is Platform.HUAWEI else self.android


def _builds() -> tuple[AppBuild, ...]:
    weights = adoption_weights((row[0], row[1]) for row in data.APP_BUILDS)
    rows = sorted(data.APP_BUILDS, key=lambda row: row[1], reverse=True)
    return tuple(AppBuild(v, android, ios, weights.get(v, 0.0), huawei, day) for v, day, android, ios, huawei in rows)


APP_VERSIONS: tuple[AppBuild, ...] = _builds()
"""The app builds, newest first, each with the SDK it embeds per platform and its adoption weight."""
_BUILD = {b.version: b for b in APP_VERSIONS}
_BUILD_WEIGHTS = [b.weight for b in APP_VERSIONS]


def app_build(app_version: str) -> AppBuild | None:
    """The catalogue build of that app version, or None."""
    return _BUILD.get(app_version)


def newer_builds(app_version: str) -> tuple[AppBuild, ...]:
    """The builds an install of ``app_version`` can update to, newest first (all of them for a
    version the catalogue does not know)."""
    current = _BUILD.get(app_version)
    if current is None:
        return APP_VERSIONS
    return tuple(b for b in APP_VERSIONS if b.released > current.released)


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
        """After an app update. A catalogue build brings its own SDK on this platform's line, which
        also replaces a given version that is no release of this line (an Android version for a
        Huawei phone); an unknown build keeps the given version, or else the current one."""
        build = _BUILD.get(app_version)
        if build is not None and (sdk_version is None or not is_release(self.platform, sdk_version)):
            sdk_version = build.sdk(self.platform)
        return replace(self, app_version=app_version, sdk_version=sdk_version or self.sdk_version)

    def with_os(self, os_version: str) -> Profile:
        return replace(self, os_version=os_version)


def machine_id(model: str) -> str:
    """The iOS machine identifier of a catalogue model (``iPhone 15`` → ``iPhone15,4``)."""
    return data.IOS_MACHINE_IDS.get(model, model)


_ADDED_10_8_3 = frozenset(data.IOS_SDK_MACHINE_IDS_ADDED_10_8_3)
_ADDED_9_2_8 = frozenset(data.IOS_SDK_MACHINE_IDS_ADDED_9_2_8)


@lru_cache(maxsize=1024)
def ios_device_model(machine: str, sdk_version: str) -> str:
    """`deviceModel` as that iOS SDK version reports a machine id: its table's name, else
    `UIDevice.localizedModel` (``iPhone``, ``iPad``, ``iPod touch``), never the raw id.

    The table is the same from 10.8.3 to 15.5.2; 9.2.8 to 10.8.2 lack the ids 10.8.3 added and
    spell ten iPad Pros the old way; 6.0.1 to 9.2.7 also lack the ids 9.2.8 added (older SDKs are
    taken as 6.0.1)."""
    version = parse_version(sdk_version)
    name = data.IOS_SDK_MACHINE_NAMES.get(machine)
    if version < (10, 8, 3):
        name = None if machine in _ADDED_10_8_3 else data.IOS_SDK_MACHINE_NAMES_BEFORE_10_8_3.get(machine, name)
        if version < (9, 2, 8) and machine in _ADDED_9_2_8:
            name = None
    if name is not None:
        return name
    if machine.startswith("iPad"):
        return "iPad"
    return "iPod touch" if machine.startswith("iPod") else "iPhone"


_ANDROID_LEGACY_LANGUAGES = {"id": "in", "he": "iw", "yi": "ji"}


def android_language(language: str) -> str:
    """`Locale.getLanguage()` on Android: the old ISO 639 codes for Indonesian, Hebrew and Yiddish
    (``in``, ``iw``, ``ji``); every other code as it is. iOS reports the modern codes."""
    return _ANDROID_LEGACY_LANGUAGES.get(language, language)


def timezone_offset(platform: Platform, timezone: str, at: float) -> str:
    """`deviceTimezoneOffset` as each SDK formats it, at epoch second `at` (DST included).

    Both spell it `GMT±HH:MM`, `GMT+00:00` at a zero offset: Android's libcore writes `ZZZZ` with
    `TimeZone.createGmtOffsetString` (always a sign and both pairs), and the iOS SDK turns the
    formatter's bare `GMT` into `GMT+00:00`. `platform` is kept for callers; the spelling is one.
    """
    # Zone transitions fall on whole seconds, so the offset within one second is one value.
    return _offset_text(timezone, math.floor(at))


@cache
def _zone(name: str) -> ZoneInfo:
    """Zones kept for good: `ZoneInfo`'s own cache holds only 8 strongly, and a miss reads the disk."""
    return ZoneInfo(name)


@lru_cache(maxsize=2048)
def _offset_text(timezone: str, at: int) -> str:
    # The instant in the zone (a wall-clock time alone is ambiguous next to a DST change).
    offset = datetime.fromtimestamp(at, _zone(timezone)).utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
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
    app = _pick(rng, APP_VERSIONS, _BUILD_WEIGHTS)
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
    app: AppBuild,
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
        carrier_name, mnc, mcc, app.version, app.ios, secure, tablet,
    )  # fmt: skip


def _android_profile(
    rng: random.Random,
    platform: Platform,
    faker_locale: str,
    language: str,
    timezone: str,
    carrier: tuple[str, str, float],
    mcc: str,
    app: AppBuild,
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
        platform, manufacturer, model, name, release, level, codename, abi, faker_locale,
        android_language(language), timezone, carrier[0], carrier[1], mcc, app.version, app.sdk(platform), secure,
        tablet,
    )  # fmt: skip
