"""The history: each device's app sessions over the window, driven through real virtual devices,
and the campaigns of the window with what follows them.

A person's devices share one virtual clock, set forward to each session's time, so every request
carries the time at which the SDK would have sent it. Sessions follow the vertical's hourly rhythm
in the device's own timezone and its weekly rhythm; each device has its own rate. A new session
always starts more than 30 seconds after the device's previous activity ended (the SDK's session
rule), so each planned session is one App Launch. Sessions carry browsing events and, often, a
funnel walked with falling conversion; logged-in persons log in at their first login session,
now and then log out (and later back in); a few devices are uninstalled, some reinstalled; the
window's app release is installed along an adoption curve.

All persons run together in time order (:meth:`History.run`), so that a campaign
(``demo/campaigns.py``), sent through the in-process server's Push API at its time, reaches the
segment as the audience is then. The simulated provider hands its pushes at once; each device gets
its push after a latency drawn for it, and its SDK takes it (Android: the sync with ``drIDs``;
iOS: the Notification Service Extension's delivery report). A share of the notifications shown is
tapped later: the app opens (an App Launch, the seen report) and some openers walk the campaign's
funnel to its conversion event. A person's own sessions draw from its own generator and every
campaign decision from one seeded by the campaign and the device, so a person no campaign reaches
sends exactly what it would without campaigns.
"""

from __future__ import annotations

import heapq
import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from server_stub.messaging import PushLatency
from simulator import AppConfig, SimulatorError, VirtualClock, VirtualDevice

from .audience import AudienceOptions, DevicePlan, PersonPlan, person_plan
from .campaigns import CAMPAIGN_KEY, DELIVERIES_PATH, SEND_PATH, Campaign, CampaignKind, open_delay
from .recording import RecordingTransport
from .verticals import Vertical

__all__ = ["SESSION_GAP", "History", "Tally", "people", "route_of", "session_times", "window"]

SESSION_GAP = 45.0
"""The least time between a device's last activity and its next session (the SDK's rule is 30 s)."""
_LOGOUT = 0.012
_RELOGIN = 0.35
_QUICK_RETURN = 0.08
_ROUTES_PER_PERSON = 4


@dataclass
class Tally:
    """What the history created; persisted in checkpoints so a resumed run reports the whole run."""

    persons: int = 0
    identified: int = 0
    devices: Counter[str] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    events: Counter[str] = field(default_factory=Counter)
    counts: Counter[str] = field(default_factory=Counter)
    """launches, sessions, personalizations, logouts, uninstalls, reinstalls, updates, optedOut, primary,
    pushesReceived, opens, conversions..."""
    campaigns: dict[str, Counter[str]] = field(default_factory=dict)
    """Per bulk id: the segment's persons and installations at the send, messages sent, persons
    reached, handed; what the devices did: received, opens, personsOpened, conversions."""

    def as_json(self) -> dict[str, Any]:
        return {
            "persons": self.persons,
            "identified": self.identified,
            "devices": dict(sorted(self.devices.items())),
            "kinds": dict(sorted(self.kinds.items())),
            "events": dict(sorted(self.events.items())),
            "counts": dict(sorted(self.counts.items())),
            "campaigns": {k: dict(sorted(v.items())) for k, v in self.campaigns.items()},
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
            {k: Counter(v) for k, v in data.get("campaigns", {}).items()},
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


Item = tuple[float, int, int, int, str, Any]
"""An agenda entry: (time, device number, rank, sequence, action, data); rank orders what happens at
the same moment on the same device (an uninstall before a session, a push or a tap after)."""


@dataclass
class _Person:
    """A person during the history: its generator, clock, devices and what is still to happen."""

    plan: PersonPlan
    rng: random.Random
    clock: VirtualClock
    lives: list[_Live]
    agenda: list[Item]
    """A heap."""
    seq: int = 0
    opened: set[str] = field(default_factory=set)
    """Bulk ids of the campaigns the person opened."""

    def add(self, moment: float, number: int, action: str, data: Any) -> None:
        self.seq += 1
        heapq.heappush(self.agenda, (moment, number, 2, self.seq, action, data))


def route_of(person: int, number: int) -> int:
    """The route a device's push tokens carry (the provider's deliveries name it): at most 3 devices a person."""
    return person * _ROUTES_PER_PERSON + number + 1


class History:
    """Drives the audience through its window, all persons together in time order, and the
    campaigns at their times; each request goes to ``transport``.

    Each person's sessions come from its own generator (its requests depend on the seed, the
    options and the person only); its devices share one virtual clock. Steps run in time order:
    a planned session (atomic: it runs to its end), an uninstall or reinstall, a push handed to a
    device, a tap on a notification, a campaign. A campaign (``campaigns``) is sent through the
    in-process server's Push API with the server's clock at its time, so its segment is evaluated
    on the audience as it is then."""

    def __init__(
        self,
        options: AudienceOptions,
        app: AppConfig,
        transport: RecordingTransport,
        tally: Tally | None = None,
        campaigns: Sequence[Campaign] = (),
    ) -> None:
        self.options = options
        self.vertical = options.vertical
        self.app = app
        self.transport = transport
        self.tally = tally or Tally()
        self.campaigns = list(campaigns)
        self.persons: dict[int, _Person] = {}
        self._queue: list[tuple[float, int, int]] = []
        if self.campaigns:
            messaging = transport.server.profiles.messaging
            messaging.add_api_key(CAMPAIGN_KEY)
            messaging.latency = PushLatency(0, 0)  # handed at once; each device's latency is drawn here
        self._latency = PushLatency()

    # -- the run -------------------------------------------------------------------------------

    def run(self, plans: Iterable[PersonPlan]) -> Iterator[float]:
        """Run everything; yields the time of each step after it ran (the caller takes its requests)."""
        queue = self._queue = []
        for plan in plans:
            person = self._add_person(plan)
            if person.agenda:
                queue.append((person.agenda[0][0], 1, plan.index))
        queue += [(c.at, 0, n) for n, c in enumerate(self.campaigns)]
        heapq.heapify(queue)
        while queue:
            moment, kind, index = heapq.heappop(queue)
            if kind == 0:
                self._campaign(self.campaigns[index])
                yield moment
                continue
            person = self.persons[index]
            if not person.agenda or person.agenda[0][0] != moment:
                continue  # an entry left behind when a push came before the person's next step
            self._step(person)
            yield moment
            if person.agenda:
                heapq.heappush(queue, (person.agenda[0][0], 1, index))

    def _schedule(self, person: _Person, moment: float, number: int, action: str, data: Any) -> None:
        """Add a step to a person's agenda from outside its own steps (a campaign's push)."""
        first = person.agenda[0][0] if person.agenda else None
        person.add(moment, number, action, data)
        if first is None or moment < first:
            heapq.heappush(self._queue, (moment, 1, person.plan.index))

    def _add_person(self, plan: PersonPlan) -> _Person:
        options, tally = self.options, self.tally
        rng = random.Random(f"mobsim-demo-history:{options.seed}:{self.vertical.name}:{plan.index}")
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
        items: list[Item] = [(m, n, r, seq, a, None) for seq, (m, n, r, a) in enumerate(agenda)]
        person = _Person(plan, rng, VirtualClock(options.start), lives, items, len(items))
        self.persons[plan.index] = person
        return person

    def _step(self, person: _Person) -> None:
        moment, number, _, _, action, data = heapq.heappop(person.agenda)
        clock, tally = person.clock, self.tally
        self.transport.begin_person(person.plan.index, clock)
        live = person.lives[number]
        if action == "uninstall":
            if live.sessions and not live.uninstalled:
                device = self._device(live, clock)
                device.uninstall()
                live.blob, live.uninstalled, live.logged_in = device.park(), True, False
                tally.counts["uninstalls"] += 1
        elif action == "reinstall":
            if live.uninstalled:
                device = self._device(live, clock)
                device.reinstall()
                live.blob, live.uninstalled = device.park(), False
                tally.counts["reinstalls"] += 1
        elif action == "push":
            self._push(person, live, moment, data)
        elif action == "tap":
            self._tap(person, live, moment, data)
        elif not live.uninstalled:
            when = max(moment, clock.now() + SESSION_GAP)
            if when < self.options.end - (120 if live.sessions == 0 else 600):
                clock.set(when)
                self._session(live, clock, person.rng)

    # -- sessions ------------------------------------------------------------------------------

    def _device(self, live: _Live, clock: VirtualClock) -> VirtualDevice:
        self.transport.device = live.dp.key
        if live.blob is not None:
            return VirtualDevice.resume(live.blob, self.app, transport=self.transport, clock=clock)
        dp = live.dp
        device = VirtualDevice.create(
            dp.platform,
            self.app,
            seed=dp.seed,
            transport=self.transport,
            clock=clock,
            tablet=dp.kind == "tablet",
            route=route_of(dp.person, dp.number),
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
            self._error(exc)
        device.background()
        device.advance(10.0)  # the batched events and debounced reports go out before the process dies
        live.blob = device.park()

    def _error(self, exc: SimulatorError) -> None:
        self.tally.counts["errors"] += 1
        self.tally.counts[f"error:{type(exc).__name__}"] += 1

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
        primary = dp.primary and not live.ever_logged_in
        native = primary and device.sdk.set_device_as_primary  # else saved on the installation after it
        device.personalize(plan.identity, plan.attributes, set_as_primary=native)
        if primary and not native:
            device.set_primary()
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

    # -- campaigns -----------------------------------------------------------------------------

    def _campaign(self, campaign: Campaign) -> None:
        """Send ``campaign`` at its time; the provider's deliveries go to the devices' agendas."""
        server, ids, kind = self.transport.server, self.transport.ids, campaign.kind
        server.clock = VirtualClock(campaign.at)
        code = self.app.app_code
        counted = server.get(f"/inspect/segments/{kind.segment}/count", application=code)  # an ASGI path: not quoted
        body = json.dumps(campaign.request(code)).encode()
        headers = {"authorization": f"App {CAMPAIGN_KEY}", "content-type": "application/json"}
        status, _, raw = server.request("POST", SEND_PATH, "", headers, body)
        if status != 200:
            raise RuntimeError(f"campaign {campaign.bulk_id}: {status} {raw[:300]!r}")
        reached: set[int] = set()
        sent = 0
        for message in json.loads(raw)["messages"]:
            if message["status"]["groupName"] == "PENDING":
                sent += 1
                mapped = ids.add_message(message["destination"], message["messageId"], campaign.bulk_id)
                if mapped is not None:
                    reached.add(mapped[0])
        deliveries: list[dict[str, Any]] = []
        auth = {"authorization": f"App {code}"}
        while True:
            status, _, raw = server.request("GET", DELIVERIES_PATH, "shard=0&of=1&limit=1000", auth)
            batch = json.loads(raw)["deliveries"] if status == 200 else []
            if not batch:
                break
            deliveries += batch
        for delivery in sorted(deliveries, key=lambda d: (d["route"] or 0, d["messageId"])):
            self._hand(campaign, delivery)
        figures = self.tally.campaigns.setdefault(campaign.bulk_id, Counter())
        figures.update(segmentPersons=counted["persons"], segmentInstallations=counted["installations"],
                       sent=sent, persons=len(reached), handed=len(deliveries))  # fmt: skip

    def _hand(self, campaign: Campaign, delivery: dict[str, Any]) -> None:
        route = delivery.get("route")
        person = self.persons.get((route - 1) // _ROUTES_PER_PERSON) if isinstance(route, int) and route > 0 else None
        number = (route - 1) % _ROUTES_PER_PERSON if person is not None and isinstance(route, int) else -1
        if person is None or number >= len(person.lives):
            self.tally.counts["pushesUnroutable"] += 1
            return
        payload = json.loads(self.transport.ids.to_device_text(person.plan.index, json.dumps(delivery["payload"])))
        rng = _campaign_rng(self.options, campaign, person.plan.index, number)
        delay = self._latency.sample_ms(rng) / 1000
        self._schedule(person, campaign.at + delay, number, "push", (campaign, delivery["pushToken"], payload))

    def _push(self, person: _Person, live: _Live, moment: float, data: tuple[Campaign, str, Any]) -> None:
        """The provider hands the push to the device: its SDK takes it (delivery report, sync) in the background."""
        campaign, token, payload = data
        clock, tally = person.clock, self.tally
        figures = tally.campaigns.setdefault(campaign.bulk_id, Counter())
        when = max(moment, clock.now())
        if live.uninstalled or live.blob is None or when >= self.options.end - 600:
            tally.counts["pushesLost"] += 1  # the app is gone (the message expires), or the window ends
            return
        clock.set(when)
        device = self._device(live, clock)
        message_id = None
        if device.push_token != token:
            tally.counts["pushesStale"] += 1  # reinstalled since: the token the message went to is gone
        else:
            try:
                message_id = device.receive_push(payload)
            except SimulatorError as exc:
                self._error(exc)
            tally.counts["pushesReceived" if message_id else "pushesDropped"] += 1
        shown = message_id is not None and message_id in device.notifications
        live.blob = device.park()
        if not message_id:
            return
        figures["received"] += 1
        if not shown or not live.dp.opt_in:
            return  # silent, or notifications are off: nothing to tap
        rng = _campaign_rng(self.options, campaign, person.plan.index, live.dp.number, "open")
        hour = datetime.fromtimestamp(when, _zone(live.dp.timezone)).hour
        delay = open_delay(campaign.kind, live.dp.rate, hour, rng)
        if delay is not None:
            person.add(
                when + delay, live.dp.number, "tap", (campaign, message_id, rng.random() < campaign.kind.convert_share)
            )

    def _tap(self, person: _Person, live: _Live, moment: float, data: tuple[Campaign, str, bool]) -> None:
        """The user taps the notification: the app opens (an App Launch), the SDK reports it seen; a
        converting user walks the campaign's funnel to its conversion event."""
        campaign, message_id, converts = data
        clock, tally, kind = person.clock, self.tally, campaign.kind
        when = max(moment, clock.now() + SESSION_GAP)
        if live.uninstalled or when >= self.options.end - 600:
            return
        clock.set(when)
        device = self._device(live, clock)
        rng = _campaign_rng(self.options, campaign, person.plan.index, live.dp.number, "tap")
        figures = tally.campaigns.setdefault(campaign.bulk_id, Counter())
        try:
            before = device.session_start
            if device.tap(message_id) is None:
                tally.counts["opensMissed"] += 1
            else:
                figures["opens"] += 1
                tally.counts["opens"] += 1
                if campaign.bulk_id not in person.opened:
                    person.opened.add(campaign.bulk_id)
                    figures["personsOpened"] += 1
                if device.session_start != before:
                    tally.counts["launches"] += 1
                if converts:
                    self._convert(person, device, kind, rng, clock)
                    figures["conversions"] += 1
                    tally.counts["conversions"] += 1
                else:
                    device.advance(rng.uniform(5, 40))  # a look at the offer, and gone
        except SimulatorError as exc:
            self._error(exc)
        device.background()
        device.advance(10.0)
        live.blob = device.park()

    def _convert(
        self, person: _Person, device: VirtualDevice, kind: CampaignKind, rng: random.Random, clock: VirtualClock
    ) -> None:
        vertical = self.vertical
        funnel = next(f for f in vertical.funnels if f.name == kind.funnel)
        values = {**vertical.context(rng, person.plan.country, clock.now()), **kind.context}
        for step in funnel.steps[: funnel.steps.index(kind.conversion) + 1]:
            device.advance(rng.uniform(5, 45))
            self._event(device, step, values)
        device.advance(rng.uniform(3, 15))


def _campaign_rng(
    options: AudienceOptions, campaign: Campaign, person: int, number: int, what: str = "hand"
) -> random.Random:
    return random.Random(f"mobsim-demo-campaign:{options.seed}:{campaign.bulk_id}:{person}.{number}:{what}")


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
