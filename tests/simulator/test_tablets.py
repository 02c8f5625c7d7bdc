"""Tablets: the catalogue's tablet tables, the `tablet` choice, and that the device keeps it."""

from __future__ import annotations

import httpx
import pytest
from simhelpers import CODE, START

from simulator import Platform, VirtualClock, VirtualDevice, profile_for
from simulator import _catalog_data as data
from simulator.state import DeviceState, Flag

PHONES = {
    Platform.IOS: {m[0] for m in data.IOS_MODELS},
    Platform.ANDROID: {m[1] for m in data.ANDROID_MODELS},
    Platform.HUAWEI: {m[1] for m in data.HUAWEI_MODELS},
}
TABLETS = {
    Platform.IOS: {m[0] for m in data.IOS_TABLETS},
    Platform.ANDROID: {m[1] for m in data.ANDROID_TABLETS},
    Platform.HUAWEI: {m[1] for m in data.HUAWEI_TABLETS},
}
SEEDS = range(400)


def _create(platform: str, seed: int = 42, **kwargs: bool) -> VirtualDevice:
    return VirtualDevice.create(
        platform, CODE, seed=seed, transport=httpx.Client(), clock=VirtualClock(START), **kwargs
    )


def test_tablet_tables_are_apart_from_the_phone_tables() -> None:
    for platform in Platform:
        assert TABLETS[platform] and not TABLETS[platform] & PHONES[platform]
    assert all(name.startswith("iPad") for name in TABLETS[Platform.IOS])
    for _, _, _, levels, weight in data.ANDROID_TABLETS + data.HUAWEI_TABLETS:
        assert weight > 0 and all(level in data.ANDROID_RELEASES for level in levels)
    for _, low, high, weight in data.IOS_TABLETS:
        assert weight > 0 and any(low <= major <= high for major in data.IOS_RELEASES)


@pytest.mark.parametrize("platform", list(Platform))
def test_a_tablet_profile_has_a_tablet_model_and_a_phone_never_does(platform: Platform) -> None:
    tablets = [profile_for(platform, seed, tablet=True) for seed in SEEDS]
    phones = [profile_for(platform, seed) for seed in SEEDS]
    assert all(p.tablet and p.model in TABLETS[platform] for p in tablets)
    assert all(not p.tablet and p.model in PHONES[platform] for p in phones)
    assert len({p.model for p in tablets}) > 1  # weighted draw, not one fixed model
    if platform is Platform.IOS:
        assert all("iPad" in p.device_name for p in tablets)
        assert all("iPhone" in p.device_name for p in phones)


@pytest.mark.parametrize("platform", list(Platform))
def test_a_tablet_keeps_the_rest_of_its_seeds_draw(platform: Platform) -> None:
    # Only the model (and what follows from it) differs: locale, carrier and app build are the seed's.
    for seed in range(50):
        phone, tablet = profile_for(platform, seed), profile_for(platform, seed, tablet=True)
        assert (phone.locale, phone.timezone, phone.app_version) == (tablet.locale, tablet.timezone, tablet.app_version)


@pytest.mark.parametrize("platform", ["ios", "android", "huawei"])
def test_same_seed_and_flag_same_tablet(platform: str) -> None:
    a, b = _create(platform, tablet=True), _create(platform, tablet=True)
    phone = _create(platform)
    assert a.tablet and b.tablet and not phone.tablet
    assert a.profile == b.profile and a.system_data() == b.system_data()
    assert a.profile.model in TABLETS[Platform(platform)]
    assert phone.profile.model in PHONES[Platform(platform)]
    assert profile_for(Platform(platform), 42, tablet=True) is profile_for(Platform(platform), 42, tablet=True)


@pytest.mark.parametrize("platform", ["ios", "android", "huawei"])
def test_park_resume_and_reinstall_keep_the_tablet(platform: str) -> None:
    device = _create(platform, tablet=True)
    blob = device.park()
    resumed = VirtualDevice.resume(blob, CODE, transport=httpx.Client(), clock=VirtualClock(START))
    assert resumed.tablet and resumed.profile == device.profile
    resumed.reinstall()
    assert resumed.tablet and resumed.profile.model == device.profile.model
    phone = VirtualDevice.resume(_create(platform).park(), CODE, transport=httpx.Client(), clock=VirtualClock(START))
    assert not phone.tablet


def test_the_tablet_is_a_flag_bit_and_old_blobs_read_as_phones() -> None:
    state = DeviceState(Platform.ANDROID, 7)
    assert DeviceState.unpack(state.pack()).flags == 0
    old = b'["a",7]'  # a blob packed before tablets existed
    assert not DeviceState.unpack(old).has(Flag.TABLET)
    assert not VirtualDevice.resume(old, CODE, transport=httpx.Client(), clock=VirtualClock(START)).tablet
    state.set(Flag.TABLET)
    packed = state.pack()
    assert DeviceState.unpack(packed).has(Flag.TABLET)
    assert len(packed) <= len(b'["a",7,0,0,0,null,128]')
