"""What a target acknowledged, and what a device still holds that no target has acknowledged.

A device reports each acknowledgement to the observer of its app (``AppConfig(observer=...)``)
the moment a 2xx answer carried it: ``observer(kind, n)``. Counting there, not where a persona
*asks* for something, is what makes a run's figures honest: a refused personalize, a lost
session report or a batch of events that never got an answer counts nothing.

The kinds, and what one of them is:

- ``installs``: a registration created (``POST /mobile/1/appinstance`` answered with a pushRegId);
- ``launches``: a session start the device had not had acknowledged before, in a session report
  (as a start, or as the key of a bound): one App Launch on the server;
- ``personalizations``, ``repersonalizations``, ``depersonalizations``: a personalize,
  repersonalize or depersonalize (own or another installation's) answered 2xx;
- ``user_updates``: a user PATCH answered 2xx;
- ``events``: custom events carried by a 2xx (a batch counts each event; the server may still
  reject some of them, which it lists as rejected events);
- ``messages_synced``: messages a 2xx messages-sync answer carried that the SDK took (stored, not
  dropped);
- ``deliveries``: delivery reports a 2xx carried (ids in ``drIDs``, an iOS extension's ``dlrIds``);
- ``seen``: seen reports a 2xx carried (one per message);
- ``mo``: mobile-originated messages answered 2xx.

A push the provider hands over and a tap on a notification are not acknowledgements: they happen
on the device (``receive_push`` and ``tap`` return what was taken or tapped, and the scenarios
count those as what the devices did); what the target acknowledges of them is the delivery
report, the seen report and the App Launch.

:func:`pending` reads a device's state for what it holds unacknowledged: session starts not
reported, batched events not sent, a depersonalize not acknowledged, user changes not saved,
delivery and seen reports not acknowledged.

Re-sends go to a second observer (``AppConfig(resends=...)``): ``resends(kind, 1)`` each time a
device sends a request that carries again what an earlier one failed to deliver, one of
:data:`RESEND_KINDS`:

- a request of a kind whose last request failed and left its work with the SDK (the SDK keeps it
  and sends it on its next trigger: the next sync, launch, foreground or submitted event). The
  device remembers this in its parked state (``DeviceState.unsent``, :data:`UNSENT_BITS`), so a
  re-send after a park and a resume counts too;
- a retry the Android SDK's policy scheduled (2, 8, 18 s), whatever its kind (``personalize``
  has no bit: a personalize is never kept for later, only retried while the process lives).

Work the SDK drops after a failure (a user PATCH refused with an invalid-parameter code on
Android, a depersonalize iOS gives up after three failures, a validated event, an MO) owes
nothing and is never counted as re-sent.
"""

from __future__ import annotations

from collections.abc import Callable

from .inbox import M
from .state import DeviceState, Flag

__all__ = ["ACK_KINDS", "PENDING_KINDS", "RESEND_KINDS", "UNSENT_BITS", "Observer", "pending"]

ACK_KINDS = (
    "installs",
    "launches",
    "personalizations",
    "repersonalizations",
    "depersonalizations",
    "user_updates",
    "events",
    "messages_synced",
    "deliveries",
    "seen",
    "mo",
)
PENDING_KINDS = ("launches", "events", "depersonalizations", "user_updates", "deliveries", "seen")
RESEND_KINDS = (
    "installation",
    "user",
    "repersonalize",
    "depersonalize",
    "sessions",
    "events",
    "deliveries",
    "seen",
    "personalize",
)
"""What a re-send carries: the own installation (create or PATCH), user data (a user PATCH), the
repersonalize after ``NO_REGISTRATION``, a depersonalize, session reports, batched custom events,
delivery reports (the messages sync's ``drIDs``), seen reports, and (retries only) a personalize."""
UNSENT_BITS = {kind: 1 << bit for bit, kind in enumerate(RESEND_KINDS[:-1])}
"""``DeviceState.unsent``'s bit per kind of work a device keeps after a failed request."""

Observer = Callable[[str, int], None]
"""``observer(kind, n)``: ``n`` acknowledgements of ``kind`` (one of :data:`ACK_KINDS`)."""


def pending(state: DeviceState) -> dict[str, int]:
    """What this device holds that the target has not acknowledged (zero counts left out)."""
    out: dict[str, int] = {}
    if state.has(Flag.UNINSTALLED):
        return out  # the app's data went with it
    starts = sum(1 for session in state.sessions or () if not session[2])
    if starts:
        out["launches"] = starts
    if state.events:
        out["events"] = len(state.events)
    if state.has(Flag.DEPERSONALIZE_PENDING):
        out["depersonalizations"] = 1
    if state.user_dirty:
        out["user_updates"] = 1
    unreported = sum(1 for m in state.messages or () if not m[3] & M.REPORTED)
    if unreported:
        out["deliveries"] = unreported
    unseen = sum(1 for m in state.messages or () if m[3] & (M.SEEN | M.SEEN_SENT) == M.SEEN)
    if unseen:
        out["seen"] = unseen
    return out
