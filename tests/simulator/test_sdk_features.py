"""The version floors of each behaviour, per SDK line, at their exact boundaries
(simulator/sdk_features.py; the sources behind each are in docs/reference/versions.md)."""

from __future__ import annotations

import pytest

from contract.dialect import Platform
from simulator.sdk_features import at_least, features, parse_version

A, IOS, H = Platform.ANDROID, Platform.IOS, Platform.HUAWEI

# (flag, platform, the last version without it, the first with it)
FLOORS = [
    ("keep_as_lead", A, "13.0.3", "13.1.0"),
    ("keep_as_lead", IOS, "12.13.2", "12.14.0"),
    ("keep_as_lead", H, "6.7.1", "6.8.0"),
    ("set_device_as_primary", A, "14.16.0", "15.0.0"),
    ("set_device_as_primary", IOS, "15.4.0", "15.5.0"),
    ("debounce", A, "14.13.0", "14.14.0"),
    ("debounce", H, "8.10.0", "8.11.0"),
    ("stores_personalize_answer", A, "14.7.1", "14.7.2"),
    ("stores_personalize_answer", H, "8.10.0", "8.11.0"),
    ("jwt", A, "13.11.0", "13.12.0"),
    ("jwt", IOS, "13.5.2", "13.6.0"),
    ("jwt", H, "7.4.2", "7.5.0"),
    ("validates_user", A, "14.7.1", "14.7.2"),
    ("validates_user", IOS, "14.1.1", "14.1.2"),
    ("validates_user", H, "8.10.0", "8.11.0"),
    ("sdk_version_null", H, "6.11.0", "7.0.0"),
    ("base_url_reset_at_start", A, "12.4.0", "12.5.0"),
    ("app_url_disables_base_url", A, "12.4.0", "12.5.0"),
    ("base_url_compare", IOS, "8.5.0", "8.5.1"),
    ("base_url_resync", IOS, "10.5.0", "10.5.1"),
    ("base_url_check_at_start", IOS, "12.6.0", "12.6.1"),
    ("nse_registration_headers", IOS, "13.12.0", "13.12.1"),
    ("nse_standalone", IOS, "14.4.3", "15.0.0"),
    ("sorted_keys", IOS, "15.0.1", "15.1.0"),
]
NEVER = [
    ("set_device_as_primary", H),
    ("debounce", IOS),
    ("base_url_reset_at_start", H),
    ("base_url_reset_at_start", IOS),
    ("app_url_disables_base_url", H),
    ("app_url_disables_base_url", IOS),
    ("base_url_compare", A),
    ("base_url_resync", H),
    ("nse_standalone", A),
    ("sorted_keys", H),
    ("sdk_version_null", IOS),
]


@pytest.mark.parametrize(("flag", "platform", "before", "since"), FLOORS)
def test_each_behaviour_starts_at_its_release(flag: str, platform: Platform, before: str, since: str) -> None:
    assert getattr(features(platform, before), flag) is False
    assert getattr(features(platform, since), flag) is True
    assert getattr(features(platform, "99.0.0"), flag) is True


@pytest.mark.parametrize(("flag", "platform"), NEVER)
def test_behaviours_a_line_never_has(flag: str, platform: Platform) -> None:
    assert not any(getattr(features(platform, v), flag) for v in ("1.0.0", "8.11.1", "15.5.2", "99.0.0"))


def test_ios_always_stores_the_personalize_answer() -> None:
    assert features(IOS, "9.0.0").stores_personalize_answer and features(IOS, "15.5.2").stores_personalize_answer


def test_android_13_0_to_13_2_1_send_null_and_13_2_2_the_version() -> None:
    assert [features(A, v).sdk_version_null for v in ("12.12.1", "13.0.0", "13.2.1", "13.2.2", "15.0.0")] == [
        False, True, True, False, False]  # fmt: skip


def test_versions_parse_by_their_digits() -> None:
    assert parse_version("15.5.2") == (15, 5, 2)
    assert parse_version("15.5.2 (flutter 1.0)") == (15, 5, 2)
    assert parse_version("8.11") == (8, 11, 0)
    assert parse_version("10.0.0-rc1") == (10, 0, 0)
    assert parse_version("null") == (0, 0, 0)
    assert at_least("13.12.1", (13, 12, 1)) and not at_least("13.12.0", (13, 12, 1))
    assert features("ios", "15.5.2") is features(IOS, "15.5.2")  # cached per (platform, version)
