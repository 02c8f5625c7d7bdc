"""The generator's shortcuts give what the plain code gives: prebuilt JSON encoders, the null check
before Gson's strip, the identity and system-data caches of a woken device (issue 16)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from contract.codec import compact_encoder, encode_android, encode_ios, strip_nulls
from simulator import VirtualClock, VirtualDevice, core
from simulator.systemdata import system_data, system_hash

VALUES: list[Any] = [
    {"b": 1, "a": [1.5, None, "é<'&"], "c": {"z": None, "y": [True, False]}},
    ["h", 194413994397181, 0, None, [[1, 2, 1]], {"k": "v:null"}],
    'a "quoted" ’ string',
    {"n": -0.0, "big": 10**20, "f": 1e-7},
    [],
]


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize("sort_keys", [False, True])
def test_compact_encoder_writes_what_json_dumps_writes(value: Any, sort_keys: bool) -> None:
    expected = json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=sort_keys)
    assert compact_encoder(sort_keys=sort_keys)(value) == expected


@pytest.mark.parametrize("value", [v for v in VALUES if isinstance(v, dict)])
def test_the_body_encoders_are_the_plain_encodings(value: dict[str, Any]) -> None:
    plain = json.dumps(strip_nulls(value), separators=(",", ":"), ensure_ascii=False)
    for old, new in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("=", "\\u003d"), ("'", "\\u0027")):
        plain = plain.replace(old, new)
    assert encode_android(value, keep_nulls=False) == plain.encode()
    assert encode_ios(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode()


def test_a_gson_body_without_a_null_member_is_written_as_it_is() -> None:
    assert encode_android({"a": [None], "b": "x:null"}, keep_nulls=False) == b'{"a":[null],"b":"x:null"}'
    assert encode_android({"a": {"b": None}}, keep_nulls=False) == b'{"a":{}}'
    assert encode_android({"a": {"b": None}}, keep_nulls=True) == b'{"a":{"b":null}}'


def _device(platform: str = "android", seed: int = 11) -> VirtualDevice:
    return VirtualDevice.create(platform, "APP", seed=seed, transport=object(), clock=VirtualClock())  # type: ignore[arg-type]


def test_a_woken_device_shares_its_identity_and_an_update_changes_it() -> None:
    first, second = _device(), _device()
    assert first._static_headers is second._static_headers  # one identity, one read-only mapping
    user_agent = first._static_headers["User-Agent"]
    first.update_app("99.0.0", "13.0.0")
    assert first._static_headers["User-Agent"] != user_agent
    assert second._static_headers["User-Agent"] == user_agent
    first.reinstall()
    assert first.installation_id != second.installation_id


def test_the_identity_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core, "IDENTITY_CACHE_SIZE", 3)  # what earlier tests cached is evicted too
    for seed in range(100, 110):
        _device(seed=seed)
    assert len(core._IDENTITIES) == 3


@pytest.mark.parametrize("platform", ["android", "ios"])
def test_the_cached_system_data_is_the_derived_one(platform: str) -> None:
    device = _device(platform)
    for enabled in (True, False):
        device.set_notifications_enabled(enabled)
        device.clock.set(device.now() + 7200)  # past iOS's one-hour grace, where it reports the setting
        data, digest = device._system_now()
        expected = system_data(device.profile, device._notifications_enabled(), device.now())
        assert dict(data) == expected == device.system_data()
        assert digest == system_hash(device.platform, expected)
