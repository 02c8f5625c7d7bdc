"""The history: each device's app sessions over the window, driven through real virtual devices.

A person's devices share one virtual clock, set forward to each session's time, so every request
carries the time at which the SDK would have sent it. Sessions follow the vertical's hourly rhythm
in the device's own timezone and its weekly rhythm; each device has its own rate. A new session
always starts more than 30 seconds after the device's previous activity ended (the SDK's session
rule), so each planned session is one App Launch. Sessions carry browsing events and, often, a
funnel walked with falling conversion; logged-in persons log in at their first login session,
now and then log out (and later back in); a few devices are uninstalled, some reinstalled; the
window's app release is installed along an adoption curve.
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from simulator import AppConfig, SimulatorError, VirtualClock, VirtualDevice

from .audience import AudienceOptions, DevicePlan, PersonPlan, person_plan
from .recording import RecordingTransport
from .verticals import Vertical

__all__ = ["SESSION_GAP", "History", "Tally", "people", "session_times", "window"]

SESSION_GAP = 45.0
"""The least time between a device's last activity and its next session (the SDK's rule is 30 s)."""
_LOGOUT = 0.012
_RELOGIN = 0.35
_QUICK_RETURN = 0.08


@dataclass
class Tally:
    """What the history created; persisted in checkpoints so a resumed run reports the whole run."""

    persons: int = 0
    identified: int = 0
    devices: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    """launches, sessions, personalizations, logouts, uninstalls, reinstalls, updates, optedOut, primary..."""

    def as_json(self) -> dict[str, Any]:
        return {
            "persons": self.persons,
            "identified": self.identified,
            "devices": dict(sorted(self.devices.items())),
            "kinds": dict(sorted(self.kinds.items())),
            "events": dict(sorted(self.events.items())),
            "counts": dict(sorted(self.counts.items())),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tally:
        return cls(
            data["persons"],
            data["identified"],
            Counter(data["devices"]),
            Counter(data["kinds"]),
            Counter(data["events"]),
            Counter(data["counts"]),
        )


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def session_times(plan: DevicePlan, vertical: Vertical, rng: random.Random, start: float, end: float) -> list[float]:
    """Session start times (UTC epoch seconds) of one device: its rate, the vertical's weekly and
    hourly rhythm in the device's local time; at least one, the first at install for a new install."""
    zone = _zone(plan.timezone)
    first = max(start, plan.installed)
    last = end - 1800.0
    weekly_mean = sum(vertical.weekly) / 7
    hours = range(24)
    cumulative = [sum(vertical.hourly[: h + 1]) for h in hours]
    day = datetime.fromtimestamp(first, zone).date()
    final = datetime.fromtimestamp(end, zone).date()
    times: list[float] = []
    while day <= final:
        midnight = datetime(day.year, day.month, day.day, tzinfo=zone).timestamp()
        for _ in range(_poisson(rng, plan.rate * vertical.weekly[day.weekday()] / weekly_mean)):
            hour = rng.choices(hours, cum_weights=cumulative)[0]
            moment = midnight + hour * 3600 + rng.random() * 3600
            if first <= moment < last:
                times.append(moment)
        day += timedelta(days=1)
    if plan.installed > start and plan.installed < last:
        times.append(plan.installed)
    if not times:
        times.append(first + rng.random() * max(0.0, last - first))
    times.sort()
    return times


@dataclass
class _Live:
    """A device during its person's history."""

    plan: PersonPlan
    dp: DevicePlan
    blob: bytes | None = None
    sessions: int = 0
    logged_in: bool = False
    ever_logged_in: bool = False
    logged_out: bool = False
    updated: bool = False
    uninstalled: bool = False


class History:
    """Drives persons ``0, 1, 2...`` through their windows; each request goes to ``transport``."""

    def __init__(
        self, options: AudienceOptions, app: AppConfig, transport: RecordingTransport, tally: Tally | None = None
    ) -> None:
        self.options = options
        self.vertical = options.vertical
        self.app = app
        self.transport = transport
        self.tally = tally or Tally()

    def run_person(self, plan: PersonPlan) -> None:
        options, tally = self.options, self.tally
        rng = random.Random(f"mobsim-demo-history:{options.seed}:{self.vertical.name}:{plan.index}")
        clock = VirtualClock(options.start)
        self.transport.begin_person(plan.index, clock)
        tally.persons += 1
        tally.identified += not plan.anonymous
        agenda: list[tuple[float, int, int, str]] = []
        lives = []
        for dp in plan.devices:
            lives.append(_Live(plan, dp))
            tally.devices[dp.platform] += 1
            tally.kinds[dp.kind] += 1
            tally.counts["optedIn"] += dp.opt_in
            for number, moment in enumerate(session_times(dp, self.vertical, rng, options.start, options.end)):
                gone = number and dp.uninstall_at is not None and dp.uninstall_at <= moment
                if gone and (dp.reinstall_at is None or moment < dp.reinstall_at):
                    continue
                agenda.append((moment, dp.number, 1, "session"))
            if dp.uninstall_at is not None and dp.uninstall_at < options.end:
                agenda.append((dp.uninstall_at, dp.number, 0, "uninstall"))
                if dp.reinstall_at is not None and dp.reinstall_at < options.end - 1800:
                    agenda.append((dp.reinstall_at, dp.number, 0, "reinstall"))
        agenda.sort()
        for moment, number, _, action in agenda:
            live = lives[number]
            if action == "uninstall":
                if live.sessions and not live.uninstalled:
                    device = self._device(live, clock)
                    device.uninstall()
                    live.blob, live.uninstalled, live.logged_in = device.park(), True, False
                    tally.counts["uninstalls"] += 1
                continue
            if action == "reinstall":
                if live.uninstalled:
                    device = self._device(live, clock)
                    device.reinstall()
                    live.blob, live.uninstalled = device.park(), False
                    tally.counts["reinstalls"] += 1
                continue
            if live.uninstalled:
                continue
            when = max(moment, clock.now() + SESSION_GAP)
            if when >= options.end - (120 if live.sessions == 0 else 600):
                continue
            clock.set(when)
            self._session(live, clock, rng)

    def _device(self, live: _Live, clock: VirtualClock) -> VirtualDevice:
        self.transport.device = live.dp.key
        if live.blob is not None:
            return VirtualDevice.resume(live.blob, self.app, transport=self.transport, clock=clock)
        dp = live.dp
        device = VirtualDevice.create(
            dp.platform, self.app, seed=dp.seed, transport=self.transport, clock=clock, tablet=dp.kind == "tablet"
        )
        device.update_app(dp.app_version, dp.sdk_version)
        device.set_notifications_enabled(dp.opt_in)
        return device

    def _session(self, live: _Live, clock: VirtualClock, rng: random.Random) -> None:
        dp, plan, tally, vertical = live.dp, live.plan, self.tally, self.vertical
        device = self._device(live, clock)
        if not live.updated and dp.update_at is not None and clock.now() >= dp.update_at:
            release = self.options.release
            device.update_app(release.version, release.sdk[dp.platform])
            live.updated = True
            tally.counts["appUpdates"] += 1
        first = live.sessions == 0 or device.reg_id is None
        try:
            self._launch(device)
            live.sessions += 1
            if first:
                device.save_installation(customAttributes=vertical.installation_attributes(rng, plan.country))
            self._maybe_login(live, device, rng)
            for _ in range(1 + _poisson(rng, 1.2)):
                device.advance(rng.uniform(4, 40))
                self._event(device, vertical.browse, vertical.browse_values(rng))
            if rng.random() < vertical.funnel_rate:
                self._funnel(live, device, rng, clock)
            if rng.random() < _QUICK_RETURN:
                device.background()
                device.advance(rng.uniform(3, 20))
                device.foreground()
                tally.counts["quickReturns"] += 1
                device.advance(rng.uniform(4, 30))
                self._event(device, vertical.browse, vertical.browse_values(rng))
            if live.logged_in and rng.random() < _LOGOUT:
                device.advance(rng.uniform(2, 10))
                device.depersonalize()
                live.logged_in, live.logged_out = False, True
                tally.counts["logouts"] += 1
            device.advance(rng.uniform(2, 20))
        except SimulatorError as exc:
            tally.counts["errors"] += 1
            tally.counts[f"error:{type(exc).__name__}"] += 1
        device.background()
        device.advance(10.0)  # the batched events and debounced reports go out before the process dies
        live.blob = device.park()

    def _launch(self, device: VirtualDevice) -> None:
        before = device.session_start
        device.foreground()
        self.tally.counts["sessions"] += 1
        after = device.session_start
        if after is not None and after != before:
            self.tally.counts["launches"] += 1

    def _maybe_login(self, live: _Live, device: VirtualDevice, rng: random.Random) -> None:
        plan, dp = live.plan, live.dp
        if plan.anonymous or live.logged_in or device.reg_id is None:
            return
        if live.logged_out:
            if rng.random() >= _RELOGIN:
                return
        elif dp.number == 0 and live.sessions - 1 < plan.login_session and not live.ever_logged_in:
            return
        device.advance(rng.uniform(5, 45))
        device.personalize(plan.identity, plan.attributes, set_as_primary=dp.primary and not live.ever_logged_in)
        live.logged_in = live.ever_logged_in = True
        live.logged_out = False
        self.tally.counts["personalizations"] += 1
        if dp.primary:
            self.tally.counts["primary"] += 1

    def _event(self, device: VirtualDevice, definition_id: str, values: dict[str, Any]) -> None:
        device.submit_event(definition_id, self.vertical.properties(definition_id, values))
        self.tally.events[definition_id] += 1

    def _funnel(self, live: _Live, device: VirtualDevice, rng: random.Random, clock: VirtualClock) -> None:
        vertical = self.vertical
        funnel = rng.choices(vertical.funnels, [f.weight for f in vertical.funnels])[0]
        values = vertical.context(rng, live.plan.country, clock.now())
        device.advance(rng.uniform(5, 30))
        self._event(device, funnel.steps[0], values)
        for step, conversion in zip(funnel.steps[1:], funnel.conversion, strict=True):
            if rng.random() >= conversion:
                return
            device.advance(rng.uniform(8, 90))
            self._event(device, step, values)
        if live.logged_in and rng.random() < 0.5:
            day = datetime.fromtimestamp(clock.now(), UTC).date().isoformat()
            device.save_user(customAttributes={f"last{funnel.name.capitalize()}At": day})
            self.tally.counts["userUpdates"] += 1


def window(days: int, until: datetime | None) -> tuple[float, float]:
    """``(start, end)``: the ``days`` before ``until`` (default: today's midnight UTC)."""
    if until is None:
        now = datetime.now(UTC)
        until = datetime(now.year, now.month, now.day, tzinfo=UTC)
    end = until.timestamp()
    return end - days * 86400.0, end


def people(
    options: AudienceOptions, devices: int, first_person: int = 0, first_device: int = 0
) -> Iterator[PersonPlan]:
    """Person plans until ``devices`` devices exist (the last person's devices are cut to fit)."""
    index, count = first_person, first_device
    while count < devices:
        plan = person_plan(options, index)
        plan.devices = plan.devices[: devices - count]
        count += len(plan.devices)
        yield plan
        index += 1
