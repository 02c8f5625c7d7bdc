from __future__ import annotations

import pytest

from scenarios import DAY_PROFILE, curve, day_level, ramp_level, spike_level


def test_ramp_goes_from_zero_to_full_then_holds() -> None:
    assert ramp_level(0, 30) == 0.0
    assert ramp_level(15, 30) == 0.5
    assert ramp_level(30, 30) == 1.0
    assert ramp_level(300, 30) == 1.0
    assert ramp_level(5, 0) == 1.0


def test_day_follows_the_hourly_profile_and_wraps() -> None:
    period = 2400.0  # 100 s per hour
    assert day_level(0, period) == DAY_PROFILE[0]
    assert day_level(400, period) == DAY_PROFILE[4]
    assert day_level(2000, period) == DAY_PROFILE[20] == 1.0
    assert day_level(450, period) == pytest.approx((DAY_PROFILE[4] + DAY_PROFILE[5]) / 2)
    assert day_level(period, period) == DAY_PROFILE[0]
    assert day_level(0, period, start_hour=20) == 1.0
    assert min(DAY_PROFILE) == DAY_PROFILE[4]  # the night trough is near 4 am


def test_spike_rises_fast_and_decays_within_a_minute() -> None:
    assert spike_level(10, at=30, baseline=0.2, peak=1.0) == 0.2
    assert spike_level(35, at=30, baseline=0.2, peak=1.0) == pytest.approx(1.0)
    late = spike_level(30 + 65, at=30, baseline=0.2, peak=1.0)
    assert 0.2 < late < 0.22


def test_unknown_shape_names_the_choices() -> None:
    with pytest.raises(ValueError, match="constant, ramp, day or spike"):
        curve("sawtooth")
    assert curve("constant").level(123) == 1.0
