"""System data and User-Agents as each SDK writes them: the literal ``null`` version of the builds
that lost it, the iOS SDK's machine-id table, the offset and language spellings."""

from __future__ import annotations

import re
from dataclasses import replace

import httpx
import pytest
import respx
from simhelpers import BASE, CODE, START, sent

from simulator import Platform, VirtualClock, VirtualDevice, profile_for
from simulator import _catalog_data as data
from simulator.catalog import APP_VERSIONS, ios_device_model, machine_id
from simulator.sdk_features import features
from simulator.systemdata import (
    device_model,
    extension_user_agent,
    system_data,
    system_hash,
    user_agent,
    wire_sdk_version,
)

A, IOS, H = Platform.ANDROID, Platform.IOS, Platform.HUAWEI
JAN, JUL = 1_704_067_200.0, 1_719_792_000.0  # 2024-01-01, 2024-07-01


def _on(platform: Platform, sdk_version: str, seed: int = 3, **changes: object):
    return replace(profile_for(platform, seed), sdk_version=sdk_version, **changes)


# -- sdkVersion "null" ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "version", "null"),
    [
        (A, "12.12.1", False),
        (A, "13.0.0", True),  # AGP 8 lost versionName (2344ccb4)
        (A, "13.1.2", True),
        (A, "13.2.1", True),
        (A, "13.2.2", False),  # BuildConfig.MM_SDK_VERSION (PR #467)
        (A, "15.0.0", False),
        (H, "6.11.0", False),
        (H, "7.0.0", True),  # the same build setup from 7.0.0 on, never fixed (inferred)
        (H, "8.11.1", True),
        (IOS, "15.5.2", False),
        (IOS, "13.0.0", False),  # iOS's own 13.x is not affected
    ],
)
def test_the_null_window_on_the_wire(platform, version, null):
    profile = _on(platform, version)
    wire = "null" if null else version
    assert wire_sdk_version(profile) == wire
    assert system_data(profile, True, JAN)["sdkVersion"] == wire
    agent = user_agent(profile, "App", "com.example.app")
    prefix = "MobileMessaging/" if platform is IOS else "Infobip Mobile API Client/"
    assert agent.startswith(f"{prefix}{wire}(")
    assert profile.sdk_version == version  # the profile keeps the claimed version
    assert features(platform, profile.sdk_version).sdk_version_null is null


def test_the_null_version_changes_the_hash_like_any_other_version():
    before, after = _on(A, "13.2.1"), _on(A, "13.2.2")
    assert system_hash(A, system_data(before, True, JAN)) != system_hash(A, system_data(after, True, JAN))
    assert system_data(_on(A, "13.0.0"), True, JAN) == system_data(_on(A, "13.2.1"), True, JAN)


def test_huawei_devices_of_the_catalogue_send_null_from_7_and_their_version_before():
    for seed in range(300):
        p = profile_for(H, seed)
        body = system_data(p, True, JAN)
        major = int(p.sdk_version.split(".")[0])
        assert body["sdkVersion"] == ("null" if major >= 7 else p.sdk_version)
    assert {b.huawei.split(".")[0] for b in APP_VERSIONS} >= {"6", "8"}  # both sides are drawn


def _router() -> respx.Router:
    mock = respx.Router(base_url=BASE, assert_all_mocked=True, assert_all_called=False)
    mock.get("/mobile/1/baseurl").respond(200, json={"baseUrl": BASE})
    mock.post("/mobile/1/appinstance").respond(200, json={"pushRegId": "REG-1", "isPrimary": False, "regEnabled": True})
    mock.post("/mobile/5/messages").respond(200, json={"payloads": []})
    mock.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    mock.post("/mobile/1/appinstance/REG-1").respond(200)
    return mock


@pytest.mark.parametrize(("platform", "version"), [("huawei", "8.11.1"), ("android", "13.2.0")])
def test_a_device_of_a_null_release_sends_null_in_its_requests(platform, version):
    router = _router()
    with httpx.Client(transport=httpx.MockTransport(router.handler)) as client:
        device = VirtualDevice.create(platform, CODE, seed=2, transport=client, clock=VirtualClock(START))
        device.update_app("9.0.0-test", version)
        device.start()
        device.advance(10)
    requests = sent(router)
    create = next(r for r in requests if r.target.startswith("/mobile/1/appinstance?"))
    assert create.body["sdkVersion"] == "null"
    assert all(r.headers["User-Agent"].startswith("Infobip Mobile API Client/null(") for r in requests)
    assert device.profile.sdk_version == version


# -- the iOS machine-id table -----------------------------------------------------------------


def test_the_table_is_the_sdks_180_entries():
    assert len(data.IOS_SDK_MACHINE_NAMES) == 180
    assert data.IOS_SDK_MACHINE_NAMES["iPhone15,3"] == "iPhone 14 Pro Max"  # its newest phone
    assert not any(k.startswith(("iPhone16,", "iPhone17,", "iPhone18,")) for k in data.IOS_SDK_MACHINE_NAMES)
    assert set(data.IOS_SDK_MACHINE_IDS_ADDED_10_8_3) <= set(data.IOS_SDK_MACHINE_NAMES)
    assert set(data.IOS_SDK_MACHINE_NAMES_BEFORE_10_8_3) <= set(data.IOS_SDK_MACHINE_NAMES)


@pytest.mark.parametrize(
    ("machine", "version", "name"),
    [
        ("iPhone15,3", "15.5.2", "iPhone 14 Pro Max"),
        ("iPhone14,4", "15.5.2", "iPhone 13 Mini"),
        ("iPhone14,6", "13.11.1", "iPhone SE 3rd Gen"),
        ("iPhone10,3", "15.5.2", "iPhone X Global"),
        ("iPhone15,4", "15.5.2", "iPhone"),  # iPhone 15: newer than the table
        ("iPhone17,3", "15.5.2", "iPhone"),  # iPhone 16
        ("iPhone18,1", "15.5.2", "iPhone"),  # iPhone 17 Pro
        ("iPhone99,9", "15.5.2", "iPhone"),
        ("iPad13,18", "15.5.2", "iPad 10th Gen"),
        ("iPad14,8", "15.5.2", "iPad"),  # iPad Air 11-inch (M2)
        ("iPad16,3", "15.5.2", "iPad"),
        ("iPod9,1", "15.5.2", "7th Gen iPod"),
        ("iPod11,1", "15.5.2", "iPod touch"),
        ("arm64", "15.5.2", "iPhone Simulator"),
        # the table's history, at its boundaries
        ("iPhone14,7", "10.8.3", "iPhone 14"),
        ("iPhone14,7", "10.8.2", "iPhone"),
        ("iPad13,18", "10.8.2", "iPad"),
        ("iPad8,1", "10.8.3", "iPad Pro 11 inch 3rd Gen (WiFi)"),
        ("iPad8,1", "10.8.2", "iPad Pro 3rd Gen (11 inch, WiFi)"),
        ("iPad7,3", "10.8.2", "iPad Pro 10.5-inch"),
        ("iPhone14,5", "9.2.8", "iPhone 13"),
        ("iPhone14,5", "9.2.7", "iPhone"),
        ("iPad12,1", "9.2.7", "iPad"),
        ("iPhone12,1", "9.2.7", "iPhone 11"),
    ],
)
def test_device_model_is_the_tables_name_or_the_localized_model(machine, version, name):
    assert ios_device_model(machine, version) == name


def test_ios_system_data_and_user_agents_carry_the_sdks_names():
    newer = _on(IOS, "15.5.2", model="iPhone 16")
    body = system_data(newer, True, JAN)
    assert body["deviceModel"] == "iPhone" == device_model(newer)
    assert ";;iPhone;;" in user_agent(newer, "App", "com.example.app")
    assert ";;iPhone17,3;;" in extension_user_agent(newer, "com.example.app")  # the NSE sends the raw id
    mini = _on(IOS, "15.5.2", model="iPhone 13 mini")
    assert system_data(mini, True, JAN)["deviceModel"] == "iPhone 13 Mini"
    tablet = _on(IOS, "15.5.2", model="iPad Air 11-inch (M2)", tablet=True)
    assert system_data(tablet, True, JAN)["deviceModel"] == "iPad"


def test_no_catalogue_ios_device_reports_a_raw_id_or_a_marketing_name_outside_the_table():
    names = set(data.IOS_SDK_MACHINE_NAMES.values()) | {"iPhone", "iPad"}
    seen = set()
    for tablet in (False, True):
        for seed in range(600):
            p = profile_for(IOS, seed, tablet=tablet)
            model = system_data(p, True, JAN)["deviceModel"]
            assert model in names and "," not in model, (p.model, model)
            assert model == ios_device_model(machine_id(p.model), p.sdk_version)
            ua = user_agent(p, "App", "com.example.app").split("(", 1)[1].split(";")
            assert ua[3] == model
            seen.add(model)
    assert {"iPhone", "iPad", "iPhone 14 Pro Max", "iPad 10th Gen"} <= seen


def test_android_models_go_out_raw():
    p = profile_for(A, 4)
    assert system_data(p, True, JAN)["deviceModel"] == p.model == device_model(p)
    assert f";{p.model};{p.manufacturer};" in user_agent(p, "App", "com.example.app")


# -- offsets, language, the other fields ------------------------------------------------------


@pytest.mark.parametrize("platform", list(Platform))
@pytest.mark.parametrize(
    ("zone", "at", "expected"),
    [("Europe/London", JAN, "GMT+00:00"), ("Europe/London", JUL, "GMT+01:00"), ("Asia/Kolkata", JAN, "GMT+05:30")],
)
def test_system_data_offset(platform, zone, at, expected):
    profile = replace(profile_for(platform, 3), timezone=zone)
    assert system_data(profile, True, at)["deviceTimezoneOffset"] == expected


def test_indonesian_is_in_on_android_and_huawei_and_id_on_ios():
    for platform, code in ((A, "in"), (H, "in"), (IOS, "id")):
        p = next(profile_for(platform, s) for s in range(5000) if profile_for(platform, s).locale == "id_ID")
        assert system_data(p, True, JAN)["language"] == code


def test_every_field_has_its_sdks_type_and_shape():
    for platform in Platform:
        for seed in range(200):
            p = profile_for(platform, seed)
            body = system_data(p, seed % 2 == 0, JUL)
            assert isinstance(body["deviceSecure"], bool) and body["deviceSecure"] == p.device_secure
            assert body["notificationsEnabled"] is (seed % 2 == 0)
            assert re.fullmatch(r"[a-z]{2}", body["language"])
            assert re.fullmatch(r"GMT[+-]\d\d:\d\d", body["deviceTimezoneOffset"])
            assert body["os"] == ("iOS" if platform is IOS else "Android")
            assert body["deviceName"] == p.device_name
            if platform is IOS:
                assert body["deviceManufacturer"] == "Apple" and body["pushServiceType"] == "APNS"
            else:
                assert "pushServiceType" not in body and next(iter(body)) == "notificationsEnabled"
