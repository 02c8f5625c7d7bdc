"""Load levels over time, as plain functions: the closed model scales users by them, the open model
scales the arrival rate. No Locust here, so they are testable on their own.

- ``ramp``: from 0 to full over ``ramp`` seconds, then full.
- ``day``: a day of mobile-app traffic compressed into ``period`` seconds: night trough near 4 am,
  a morning rise, a lunch bump and the evening peak near 9 pm (hourly shares typical of consumer
  apps; the curve is an input, not a measurement).
- ``spike``: a push campaign: a baseline, then a share of the population opens the app within a
  minute (a fast rise and an exponential fall), starting at ``at`` seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["DAY_PROFILE", "Curve", "curve", "day_level", "ramp_level", "spike_level"]

DAY_PROFILE: tuple[float, ...] = (
    0.30, 0.20, 0.14, 0.11, 0.10, 0.13, 0.25, 0.45, 0.62, 0.70, 0.74, 0.80,
    0.88, 0.85, 0.78, 0.76, 0.80, 0.86, 0.92, 0.97, 1.00, 0.98, 0.80, 0.52,
)  # fmt: skip
"""Relative activity per local hour, peak 1.0 at 20:00-21:00."""


def ramp_level(t: float, ramp: float) -> float:
    if ramp <= 0:
        return 1.0
    return max(0.0, min(1.0, t / ramp))


def day_level(t: float, period: float, start_hour: float = 0.0) -> float:
    """The activity at ``t`` seconds into a day compressed into ``period`` seconds (linear between hours)."""
    hour = (start_hour + 24.0 * (t / period)) % 24.0
    low = int(hour)
    frac = hour - low
    return DAY_PROFILE[low] * (1 - frac) + DAY_PROFILE[(low + 1) % 24] * frac


def spike_level(t: float, at: float, baseline: float, peak: float, width: float = 60.0) -> float:
    """Baseline, then a campaign: a 5-second rise to ``peak`` and a decay that spends most of the
    extra sessions within ``width`` seconds (time constant ``width / 4``)."""
    if t < at:
        return baseline
    since = t - at
    rise = min(1.0, since / 5.0)
    decay = math.exp(-max(0.0, since - 5.0) / (width / 4.0))
    return baseline + (peak - baseline) * rise * decay


@dataclass(frozen=True)
class Curve:
    """A named level function of elapsed seconds, between 0 and 1 (spike: relative to its peak)."""

    name: str
    ramp: float = 0.0
    period: float = 600.0
    start_hour: float = 0.0
    at: float = 30.0
    baseline: float = 0.2
    width: float = 60.0

    def level(self, t: float) -> float:
        if self.name == "constant":
            return 1.0
        if self.name == "ramp":
            return ramp_level(t, self.ramp)
        if self.name == "day":
            return day_level(t, self.period, self.start_hour)
        if self.name == "spike":
            return spike_level(t, self.at, self.baseline, 1.0, self.width)
        raise ValueError(f"unknown shape {self.name!r}; choose constant, ramp, day or spike")


def curve(name: str, **options: float) -> Curve:
    """A curve by name; unknown names raise ``ValueError`` naming the choices."""
    made = Curve(name, **options)
    made.level(0.0)
    return made
