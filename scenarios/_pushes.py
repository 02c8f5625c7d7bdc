"""Pushes reach the population: the provider's deliveries handed to devices, and who opens them.

The reference server's simulated push provider (``GET /provider/1/deliveries``, docs/push-api.md)
hands out the pushes due for this worker's share of the routes (``shard``/``of`` = the worker's
slice). Each push goes to the device whose token carries its route, as FCM, HMS or APNs would hand
it to the phone: a parked device is woken, takes the push in the background (its delivery report,
the sync the SDK starts) and is parked again; a device in a session gets it when the session ends.

Who opens: a share of the notifications shown is tapped (`OpenPolicy`: by persona and the hour
of the day, after a delay of seconds to minutes), which launches the app (an App Launch when it is
a new session); some of those openers convert (a ``purchase`` event). The open's session is driven
by the caller (`open_session`), so its requests are timed and counted like any other session's.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from contract.dialect import Platform
from contract.headers import inspection_headers
from simulator import SimulatorError, Transport, VirtualDevice

from ._personas import Session, Tally, app_call
from ._population import Population

__all__ = [
    "DELIVERIES_PATH",
    "EVERYONE",
    "SEND_PATH",
    "OpenPolicy",
    "PushReceiver",
    "campaign_request",
    "open_session",
    "send_campaign",
]

DELIVERIES_PATH = "/provider/1/deliveries"
SEND_PATH = "/push/3/messages"
EVERYONE = "All installations"
"""The spike's default segment: the query ``{}`` reaches every installation of the app."""


def campaign_request(app_code: str, segment: str, bulk_id: str) -> dict[str, Any]:
    """The spike's campaign: one message to a saved segment (mobsim's ``SEGMENT`` destination)."""
    content = {"title": "Flash sale", "text": "Two hours only: 30% off everything in the app", "type": "TEXT"}
    return {
        "messages": [
            {"sender": app_code, "destinations": [{"type": "SEGMENT", "segment": segment}], "content": content}
        ],
        "options": {"schedule": {"bulkId": bulk_id}},
    }


def send_campaign(
    host: str, app_code: str, api_key: str, segment: str, bulk_id: str, *, transport: httpx.BaseTransport | None = None
) -> dict[str, Any]:
    """Send the spike's campaign (:func:`campaign_request`) to a ``mobsim serve``; the record the
    run summary shows as ``campaign``: ``bulkId``, ``segment``, ``sent_at``, ``seconds``, the send's
    ``status`` and ``messages`` (what the server wrote, from its campaign metrics), or ``error``
    (the send refused or cut, or a campaign that reached no installation, ``messages`` 0)."""
    record: dict[str, Any] = {"bulkId": bulk_id, "segment": segment, "sent_at": time.time()}
    try:
        with httpx.Client(base_url=host.rstrip("/"), timeout=300.0, transport=transport) as client:
            if segment == EVERYONE:  # a saved segment of the reference server; 409 when it exists
                client.post("/inspect/segments", json={"name": EVERYONE, "query": {}}, headers=inspection_headers())
            # The answer has an entry per message (a stream, for a large segment): read, not parsed.
            with client.stream("POST", SEND_PATH, json=campaign_request(app_code, segment, bulk_id),
                               headers={"Authorization": f"App {api_key}"}) as answer:  # fmt: skip
                record["status"] = answer.status_code
                if answer.status_code >= 300:
                    record["error"] = (
                        f"{SEND_PATH} answered {answer.status_code}: " + answer.read().decode(errors="replace")[:500]
                    )
                else:
                    for _ in answer.iter_raw():
                        pass
            if "error" not in record:
                record.update(_reach(client, bulk_id, segment))
    except httpx.HTTPError as exc:
        record["error"] = f"{type(exc).__name__}: {exc}"
    record["seconds"] = round(time.time() - record["sent_at"], 3)
    return record


def _reach(client: httpx.Client, bulk_id: str, segment: str) -> dict[str, Any]:
    """The campaign's messages as the server counts them; none is an error (nobody was reached)."""
    found = client.get(f"/inspect/campaigns/{bulk_id}", headers=inspection_headers())
    if found.status_code != 200:
        return {"error": f"GET /inspect/campaigns/{bulk_id} answered {found.status_code}: {found.text[:300]}"}
    try:
        messages = int(found.json()["sent"])
    except (ValueError, KeyError, TypeError):
        return {"error": f"GET /inspect/campaigns/{bulk_id} answered no 'sent' count: {found.text[:300]}"}
    if messages == 0:
        return {"messages": 0, "error": f"segment {segment!r} holds no installation that can receive it "
                                        "(registered, push enabled, of this application)"}  # fmt: skip
    return {"messages": messages}


_OPEN_SHARE: dict[str, float] = {
    "browser": 0.06,
    "login": 0.10,
    "multidevice": 0.08,
    "shopper": 0.14,
    "churner": 0.02,
    "newinstall": 0.08,
}
"""The share of shown notifications each persona taps during the day (07:00-22:59 UTC)."""
_NIGHT_FACTOR = 0.25
_CONVERT_SHARE: dict[str, float] = {"shopper": 0.25, "login": 0.08, "multidevice": 0.08}
_CONVERT_DEFAULT = 0.03


@dataclass(frozen=True)
class OpenPolicy:
    """Who taps a notification, how soon, and who then buys."""

    scale: float = 1.0
    """Multiplies every open share (0: nobody opens)."""
    median_delay: float = 45.0
    """Seconds from the push to the tap, lognormal around this median (most within minutes)."""
    share: float | None = None
    """One share for every persona at any hour (``--shape spike``'s ``--spike-share``), instead of
    the personas' daytime shares."""

    def open_delay(self, persona: str, hour: int, rng: random.Random) -> float | None:
        """Seconds until this persona taps a notification that arrived at ``hour`` (UTC), or None."""
        if self.share is not None:
            share = self.share
        else:
            share = _OPEN_SHARE.get(persona, 0.05) * self.scale * (1.0 if 7 <= hour <= 22 else _NIGHT_FACTOR)
        if rng.random() >= share:
            return None
        return min(900.0, rng.lognormvariate(math.log(self.median_delay), 0.9))

    def converts(self, persona: str, rng: random.Random) -> bool:
        return rng.random() < _CONVERT_SHARE.get(persona, _CONVERT_DEFAULT)


@dataclass
class PushReceiver:
    """Hands the provider's deliveries to this slice's devices; schedules the opens."""

    population: Population
    transport: Transport
    tally: Tally
    rng: random.Random
    policy: OpenPolicy = field(default_factory=OpenPolicy)
    schedule_open: Callable[[float, int, str], None] | None = None
    """``schedule_open(delay, index, message_id)``: run an open session ``delay`` seconds from now."""
    hour: Callable[[], int] = lambda: 12
    gone: list[tuple[str, str]] = field(default_factory=list)
    """(platform, token) of deliveries whose device no longer holds the token (uninstalled, or the
    token refreshed): what the push service learns from the phone. The caller reports them to a
    providers' journal (``POST /journal/uninstall``) and clears the list."""

    def handle(self, deliveries: Iterable[Mapping[str, Any]]) -> int:
        """Hand each delivery to its device; returns how many the devices took."""
        taken = 0
        for delivery in deliveries:
            taken += self._one(delivery)
        return taken

    def _one(self, delivery: Mapping[str, Any]) -> int:
        population, tally = self.population, self.tally
        route = delivery.get("route")
        if not isinstance(route, int) or not 0 < route <= population.size:
            tally.add("pushes_unroutable")
            return 0
        index = route - 1
        if not population.slice.owns(index):
            tally.add("pushes_unroutable")
            return 0
        payload = delivery.get("payload")
        if population.busy(index):
            population.hold_push(index, payload)  # the session in progress gets it at its end
            tally.add("pushes_held")
            return 0
        device = population.wake(index, self.transport)
        if device is None:
            tally.add("pushes_unroutable")
            return 0
        try:
            if device.push_token != delivery.get("pushToken") or device.platform is not _platform(delivery):
                tally.add("pushes_stale")  # the token was refreshed or the app reinstalled since
                token = delivery.get("pushToken")
                if isinstance(token, str):
                    self.gone.append((str(delivery.get("platform")), token))
                return 0
            message_id = _receive(device, payload, tally)
            if message_id is None:
                return 0
            if message_id in device.notifications and self.schedule_open is not None:
                delay = self.policy.open_delay(population.persona_of(index), self.hour(), self.rng)
                if delay is not None:
                    self.schedule_open(delay, index, message_id)
            return 1
        finally:
            population.put_back(index, device)


def _platform(delivery: Mapping[str, Any]) -> Platform | None:
    try:
        return Platform(str(delivery.get("platform")))
    except ValueError:
        return None


def _receive(device: VirtualDevice, payload: Any, tally: Tally) -> str | None:
    try:
        message_id = device.receive_push(payload)
    except SimulatorError:
        tally.add("pushes_failed")
        return None
    tally.add("pushes_received" if message_id else "pushes_dropped")
    return message_id


def open_session(s: Session, message_id: str, policy: OpenPolicy, persona: str) -> bool:
    """The user taps the notification: the app opens, they look around, some buy, then leave.
    False when the notification was gone (tapped or cleared since)."""
    if s.device.tap(message_id) is None:
        s.tally.add("opens_missed")
        return False
    s.tally.add("opens")
    s.wait(5, 40)
    if policy.converts(persona, s.rng):
        total = round(s.rng.uniform(15, 180), 2)
        with app_call(s):  # an event the SDK refused (no registration yet): the user still bought
            s.device.submit_event("purchase", {"orderId": f"o-{s.index}-{s.rng.randrange(10**9)}", "total": total,
                                               "items": s.rng.randint(1, 4)})  # fmt: skip
        s.tally.add("conversions")
        s.wait(1, 5)
    s.device.background()
    s.pause(1.0)
    return True
