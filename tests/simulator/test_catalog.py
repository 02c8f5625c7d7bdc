"""Catalogues, tokens and time-zone offsets: real SDK releases per line, date-coherent app builds,
their adoption weights, app updates, and the offset and language spellings of each SDK."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, timedelta

import pytest

from simulator import Platform, profile_for
from simulator import _catalog_data as data
from simulator.catalog import (
    APP_VERSIONS,
    CATALOGUE_DATE,
    SDK_RELEASES,
    adoption_weights,
    android_language,
    app_build,
    is_release,
    newer_builds,
    timezone_offset,
)
from simulator.tokens import installation_id, push_token

A, IOS, H = Platform.ANDROID, Platform.IOS, Platform.HUAWEI
JAN, JUL = 1_704_067_200.0, 1_719_792_000.0  # 2024-01-01, 2024-07-01
LONDON_DST_2024 = 1_711_846_800  # 2024-03-31T01:00:00Z: Europe/London goes from +00:00 to +01:00
SEEDS = range(3000)


def test_token_formats():
    assert re.fullmatch(r"[0-9a-f]{64}", push_token(Platform.IOS, 1, 0, 1))
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}:APA91b[A-Za-z0-9_-]{134}", push_token(Platform.ANDROID, 1, 0, 1))
    assert re.fullmatch(r"IQAAAACy0[A-Za-z0-9_-]{121}", push_token(Platform.HUAWEI, 1, 0, 1))
    assert push_token(Platform.IOS, 1, 0, 1) != push_token(Platform.IOS, 1, 0, 2) != push_token(Platform.IOS, 1, 1, 2)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", installation_id(1, 0))


# -- time-zone offsets ------------------------------------------------------------------------


@pytest.mark.parametrize("platform", list(Platform))
@pytest.mark.parametrize(
    ("zone", "at", "expected"),
    [
        ("Europe/London", JAN, "GMT+00:00"),  # zero: never a bare "GMT" (libcore createGmtOffsetString)
        ("Atlantic/Canary", JAN, "GMT+00:00"),
        ("UTC", JUL, "GMT+00:00"),
        ("Europe/London", JUL, "GMT+01:00"),
        ("Europe/London", LONDON_DST_2024 - 1, "GMT+00:00"),  # the last second before the switch
        ("Europe/London", LONDON_DST_2024, "GMT+01:00"),
        ("Europe/Zagreb", JAN, "GMT+01:00"),
        ("Europe/Zagreb", JUL, "GMT+02:00"),
        ("America/New_York", JAN, "GMT-05:00"),
        ("America/Sao_Paulo", JUL, "GMT-03:00"),
        ("Asia/Kolkata", JAN, "GMT+05:30"),  # half-hour zones keep their minutes
        ("Asia/Kathmandu", JAN, "GMT+05:45"),
        ("America/St_Johns", JAN, "GMT-03:30"),
        ("America/St_Johns", JUL, "GMT-02:30"),
        ("Asia/Jayapura", JAN, "GMT+09:00"),
    ],
)
def test_timezone_offsets_as_each_sdk_formats_them(platform, zone, at, expected):
    assert timezone_offset(platform, zone, at) == expected


def test_every_catalogue_zone_is_spelled_with_sign_hours_and_minutes():
    zones = {zone for row in data.LOCALES for zone, _ in row[3]}
    for platform in Platform:
        for zone in zones:
            for at in (JAN, JUL):
                assert re.fullmatch(r"GMT[+-]\d\d:\d\d", timezone_offset(platform, zone, at)), (zone, at)


# -- language ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "android"), [("id", "in"), ("he", "iw"), ("yi", "ji"), ("en", "en"), ("in", "in"), ("ja", "ja")]
)
def test_android_reports_the_legacy_iso_codes(language, android):
    assert android_language(language) == android


def test_languages_per_platform_match_the_locale():
    for platform in Platform:
        profiles = [profile_for(platform, seed) for seed in range(2000)]
        assert "id_ID" in {p.locale for p in profiles}
        for p in profiles:
            code = p.locale.split("_")[0]
            assert p.language == (code if platform is IOS else android_language(code)), p
        indonesian = {p.language for p in profiles if p.locale == "id_ID"}
        assert indonesian == ({"id"} if platform is IOS else {"in"})


# -- release lists ----------------------------------------------------------------------------

NEVER_RELEASED = {
    A: ["5.1.0", "5.2.6", "6.5.0", "8.3.0", "13.0.X", "13.9.4", "13.9.5", "14.3.1"],
    IOS: ["13.13.0", "13.14.0", "15.4.1", "10.6.1", "11.0.1"],
    H: ["7.7.0", "7.8.0", "2.1.1", "2.1.3", "8.7.3."],
}


@pytest.mark.parametrize("platform", list(Platform))
def test_release_lists_hold_real_numeric_versions_once_each(platform):
    rows = SDK_RELEASES[platform]
    versions = [v for v, _ in rows]
    assert len(versions) == len(set(versions))
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", v) for v in versions)
    assert all(date.fromisoformat("2021-01-01") <= date.fromisoformat(d) <= CATALOGUE_DATE for _, d in rows)
    for version in NEVER_RELEASED[platform]:
        assert not is_release(platform, version), version


def test_release_lists_end_at_each_lines_newest_release():
    newest = {p: max(SDK_RELEASES[p], key=lambda r: r[1])[0] for p in Platform}
    assert newest == {A: "15.0.0", IOS: "15.5.2", H: "8.11.1"}
    assert date(2026, 6, 30) == CATALOGUE_DATE


# -- app builds -------------------------------------------------------------------------------


def test_every_build_embeds_real_releases_of_each_line_out_at_its_date():
    assert len(APP_VERSIONS) >= 6
    for build in APP_VERSIONS:
        built = date.fromisoformat(build.released)
        assert built <= CATALOGUE_DATE
        for platform in Platform:
            version = build.sdk(platform)
            assert is_release(platform, version), (build.version, platform, version)
            released = date.fromisoformat(dict(SDK_RELEASES[platform])[version])
            assert built - timedelta(days=120) <= released <= built, (build.version, platform, version)


def test_huawei_builds_are_on_the_huawei_line():
    for build in APP_VERSIONS:
        assert is_release(H, build.huawei) and build.huawei.split(".")[0] in {"6", "7", "8"}
        assert build.huawei != build.android


def test_builds_are_newest_first_and_keep_the_old_row_shape():
    dates = [b.released for b in APP_VERSIONS]
    assert dates == sorted(dates, reverse=True)
    version, android, ios, weight = APP_VERSIONS[0][:4]  # demo/audience.py reads rows by index
    assert (version, android, ios, weight) == (
        APP_VERSIONS[0].version,
        APP_VERSIONS[0].android,
        APP_VERSIONS[0].ios,
        APP_VERSIONS[0].weight,
    )


def test_build_weights_follow_adoption():
    weights = [b.weight for b in APP_VERSIONS]
    assert sum(weights) == pytest.approx(1.0)
    assert all(w > 0 for w in weights)
    assert max(weights) == APP_VERSIONS[0].weight  # the newest build is the most common
    assert APP_VERSIONS[-1].weight < 0.05  # a thin tail of old builds
    assert sum(b.weight for b in APP_VERSIONS if b.released >= "2026-01-01") > 0.6


def test_adoption_weights_count_span_and_age_and_skip_the_future():
    releases = [("1.0.0", "2026-01-01"), ("1.1.0", "2026-01-02"), ("2.0.0", "2026-04-01"), ("3.0.0", "2026-08-01")]
    w = adoption_weights(releases, date(2026, 6, 30))
    assert set(w) == {"1.0.0", "1.1.0", "2.0.0"} and sum(w.values()) == pytest.approx(1.0)
    assert w["1.0.0"] < w["1.1.0"]  # newest for one day only
    assert w["2.0.0"] > w["1.1.0"]  # younger, same capped span
    tail = adoption_weights([("0.1.0", "2010-01-01"), ("9.0.0", "2026-06-29")], date(2026, 6, 30))
    assert tail["0.1.0"] > 0  # the floor keeps old versions alive


def test_profiles_claim_only_their_lines_releases_and_their_builds_sdk():
    for platform in Platform:
        counts: Counter[str] = Counter()
        for seed in SEEDS:
            p = profile_for(platform, seed)
            build = app_build(p.app_version)
            assert build is not None and p.sdk_version == build.sdk(platform)
            assert is_release(platform, p.sdk_version)
            counts[p.app_version] += 1
        assert set(counts) == {b.version for b in APP_VERSIONS}
        assert counts.most_common(1)[0][0] in {b.version for b in APP_VERSIONS[:4]}


def test_an_app_update_moves_each_platform_to_the_new_builds_sdk_on_its_own_line():
    newest = APP_VERSIONS[0]
    for platform in Platform:
        old = profile_for(platform, 5).with_app(APP_VERSIONS[-1].version)
        assert old.sdk_version == APP_VERSIONS[-1].sdk(platform)
        assert newest in newer_builds(old.app_version) and APP_VERSIONS[-1] not in newer_builds(old.app_version)
        new = old.with_app(newest.version)
        assert (new.app_version, new.sdk_version) == (newest.version, newest.sdk(platform))
    huawei = profile_for(H, 5).with_app(newest.version, newest.android)  # an Android version for a Huawei phone
    assert huawei.sdk_version == newest.huawei
    ios = profile_for(IOS, 5).with_app("4.8.0", "13.11.1")  # a real release is kept as given
    assert ios.sdk_version == "13.11.1"
    other = profile_for(A, 5).with_app("9.9.9", "13.2.0")  # an unknown build keeps the given version
    assert other.sdk_version == "13.2.0" and other.with_app("9.9.10").sdk_version == "13.2.0"
    assert newer_builds(newest.version) == ()


def test_profiles_are_deterministic():
    first = [profile_for(p, s, tablet=t) for p in Platform for s in range(50) for t in (False, True)]
    profile_for.cache_clear()
    again = [profile_for(p, s, tablet=t) for p in Platform for s in range(50) for t in (False, True)]
    assert first == again


# -- models -----------------------------------------------------------------------------------


def test_catalogue_is_weighted_and_consistent():
    android = [profile_for(Platform.ANDROID, seed) for seed in SEEDS]
    makers = Counter(p.manufacturer for p in android)
    assert makers.most_common(1)[0][0] == "samsung" and {"Xiaomi", "Google", "OPPO"} <= set(makers)
    huawei = {profile_for(Platform.HUAWEI, seed).manufacturer for seed in range(200)}
    assert huawei == {"HUAWEI"}
    ios = [profile_for(Platform.IOS, seed) for seed in range(1000)]
    assert all(p.model.startswith("iPhone") and p.manufacturer == "Apple" for p in ios)
    assert {"iPhone 17 Pro", "iPhone 16", "iPhone 15"} <= {p.model for p in ios}


def test_every_ios_model_has_a_machine_id():
    for model, low, high, weight in data.IOS_MODELS + data.IOS_TABLETS:
        assert model in data.IOS_MACHINE_IDS and low <= high and weight > 0
        assert data.IOS_MACHINE_IDS[model].startswith("iPad" if model.startswith("iPad") else "iPhone")
    assert len(set(data.IOS_MACHINE_IDS.values())) == len(data.IOS_MACHINE_IDS)


def test_old_ios_devices_have_a_personal_name():
    names = {profile_for(Platform.IOS, s).device_name for s in SEEDS}
    assert "iPhone" in names and any(n.endswith("’s iPhone") for n in names)
    for s in range(500):
        p = profile_for(Platform.IOS, s)
        major = int(p.os_version.split(".")[0])
        assert (p.device_name == "iPhone") == (major >= 16), p  # UIDevice.name is generic from iOS 16
