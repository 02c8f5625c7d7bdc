"""Catalogues, tokens and time-zone offsets."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from simulator import Platform, profile_for
from simulator.catalog import timezone_offset
from simulator.tokens import installation_id, push_token

JAN, JUL = 1_704_067_200.0, 1_719_792_000.0  # 2024-01-01, 2024-07-01


def test_token_formats():
    assert re.fullmatch(r"[0-9a-f]{64}", push_token(Platform.IOS, 1, 0, 1))
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}:APA91b[A-Za-z0-9_-]{134}", push_token(Platform.ANDROID, 1, 0, 1))
    assert re.fullmatch(r"IQAAAACy0[A-Za-z0-9_-]{121}", push_token(Platform.HUAWEI, 1, 0, 1))
    assert push_token(Platform.IOS, 1, 0, 1) != push_token(Platform.IOS, 1, 0, 2) != push_token(Platform.IOS, 1, 1, 2)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", installation_id(1, 0))


@pytest.mark.parametrize(
    ("platform", "zone", "at", "expected"),
    [
        (Platform.ANDROID, "Europe/Zagreb", JAN, "GMT+01:00"),
        (Platform.ANDROID, "Europe/Zagreb", JUL, "GMT+02:00"),
        (Platform.ANDROID, "Europe/London", JAN, "GMT"),
        (Platform.IOS, "Europe/London", JAN, "GMT+00:00"),
        (Platform.IOS, "America/New_York", JAN, "GMT-05:00"),
        (Platform.HUAWEI, "Asia/Kolkata", JAN, "GMT+05:30"),
    ],
)
def test_timezone_offsets_as_each_sdk_formats_them(platform, zone, at, expected):
    assert timezone_offset(platform, zone, at) == expected


def test_catalogue_is_weighted_and_consistent():
    android = [profile_for(Platform.ANDROID, seed) for seed in range(3000)]
    makers = Counter(p.manufacturer for p in android)
    assert makers.most_common(1)[0][0] == "samsung" and {"Xiaomi", "Google", "OPPO"} <= set(makers)
    assert all(p.sdk_version.startswith(("13.", "14.", "15.")) for p in android)
    huawei = {profile_for(Platform.HUAWEI, seed).manufacturer for seed in range(200)}
    assert huawei == {"HUAWEI"}
    ios = [profile_for(Platform.IOS, seed) for seed in range(1000)]
    assert all(p.model.startswith("iPhone") and p.manufacturer == "Apple" for p in ios)
    assert all(p.sdk_version.startswith(("13.", "15.")) for p in ios)
    for p in android + ios:
        language = p.locale.split("_")[0]
        assert p.language == language  # language matches the faker locale


def test_old_ios_devices_have_a_personal_name():
    names = {profile_for(Platform.IOS, s).device_name for s in range(3000)}
    assert "iPhone" in names and any(n.endswith("’s iPhone") for n in names)
