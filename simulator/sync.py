"""What an SDK sends on its own: installation sync, user sync, sessions, events, recovery.

`SyncFlows` is the state machine both SDK lines share. Every flow reads the state, decides whether
the SDK would send anything, sends it through `DeviceCore._call`, and applies the result. Where the
SDKs differ, a flow calls a hook that the platform's class (`simulator.platforms`) fills in: the
request bodies, what a failure clears, how sessions are kept. Flows that the Android SDK retries
take `attempt` and hand failures to `_schedule_retry`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from contract.errors import ErrorCode

from . import sessions as ss
from .catalog import timezone_offset
from .core import DeviceCore
from .errors import PersonalizeConflictError, RegistrationGoneError, SimulatorError
from .events import event_body
from .state import Flag
from .systemdata import system_data_at, system_hash
from .userdata import ATTRIBUTE_KEYS, IDENTITY_KEYS, merge, personalize_body

__all__ = ["ROLLBACK_CODES", "SyncFlows"]

ROLLBACK_CODES = frozenset({ErrorCode.AMBIGUOUS_PERSONALIZE_CANDIDATES.value, ErrorCode.USER_MERGE_INTERRUPTED.value})
"""Personalize conflicts after which the iOS SDK drops the identity it tried (the codes as the server
spells them; `PersonalizeConflictError.code` is the code as received)."""


class SyncFlows(DeviceCore):
    # -- system data -------------------------------------------------------------------------

    def _notifications_enabled(self) -> bool:
        return not self.state.has(Flag.NOTIFICATIONS_OFF)

    def _system(self) -> dict[str, Any]:
        return dict(self._system_now()[0])

    def _system_now(self) -> tuple[Mapping[str, Any], int]:
        """The system data the device reports now and its change-detection hash (`system_hash`),
        worked out once per identity, notification setting and timezone offset (read-only: shared)."""
        profile, enabled = self.profile, self._notifications_enabled()
        offset = timezone_offset(profile.platform, profile.timezone, self.now())
        cache = self._system_cache
        found = cache.get((enabled, offset))
        if found is None:
            data = system_data_at(profile, enabled, offset)
            found = cache[(enabled, offset)] = (data, system_hash(self.platform, data))
        return found

    # -- installation ------------------------------------------------------------------------

    def _sync_installation(self, attempt: int = 0) -> None:
        st = self.state
        if st.reg_id is None:
            if st.token and st.token != st.token_acked:
                self._create_installation(attempt)
            return
        self._patch_installation(attempt)

    def _create_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def _create_installation(self, attempt: int = 0) -> None:
        st = self.state
        body = self._create_body()
        self._sending("installation", attempt)
        try:
            data = self._call("create_installation", body=body, require="pushRegId")
        except SimulatorError as exc:
            st.token_acked = 0
            self._owe("installation")  # the token is unreported: the next sync creates again
            self._schedule_retry(exc, "_create_installation", (), attempt)
            raise
        st.reg_id = str(data["pushRegId"])
        st.token_acked = st.token
        self._acked("installs")
        desired = merge(st.installation, st.installation_dirty)
        desired.update({k: body[k] for k in ("isPrimary", "regEnabled") if k in body})
        desired.update({k: data[k] for k in ("isPrimary", "regEnabled") if isinstance(data.get(k), bool)})
        st.installation, st.installation_dirty = desired or None, None
        self._installation_created()

    def _installation_created(self) -> None:
        """What the SDK remembers after its registration was created."""

    def _patch_body(self, explicit: bool, system: Mapping[str, Any]) -> dict[str, Any]:
        """The installation PATCH the SDK sends now (``explicit``: the app called save)."""
        raise NotImplementedError

    def _patch_installation(self, attempt: int = 0, explicit: bool = False) -> None:
        st = self.state
        system, new_hash = self._system_now()
        body = self._patch_body(explicit, system)
        if new_hash != st.system_hash:
            body.update(system)
        body = self._order_installation(body)
        if not body:
            self._nothing_to_patch()
            return
        self._sending("installation", attempt)
        try:
            self._call("patch_installation", body=body)
        except SimulatorError as exc:
            self._installation_patch_failed()
            self._no_registration(exc, any_status=False)
            self._owe("installation")  # what it carried stays unreported (and, on Android, the token)
            self._schedule_retry(exc, "_patch_installation", (), attempt)
            raise
        self._installation_patched(body, new_hash)

    def _order_installation(self, body: dict[str, Any]) -> dict[str, Any]:
        """The installation body's keys in the order the SDK's serializer writes them."""
        return body

    def _nothing_to_patch(self) -> None:
        """No installation PATCH was needed."""

    def _installation_patch_failed(self) -> None:
        """What a failed installation PATCH resets (besides NO_REGISTRATION handling)."""

    def _split_sent(self, dirty: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Of the unreported installation changes, those the PATCH carried and those still unreported."""
        raise NotImplementedError

    def _installation_patched(self, body: dict[str, Any], new_hash: int) -> None:
        st = self.state
        sent, rest = self._split_sent(st.installation_dirty or {}, body)
        st.installation = merge(st.installation, sent) or None
        st.installation_dirty = rest or None
        if "pushServiceToken" in body:
            st.token_acked = st.token
        if "pushServiceType" in body:
            st.set(Flag.PUSH_TYPE_REPORTED)
        if "sdkVersion" in body:
            st.system_hash = new_hash

    def _expire_stale_registration(self) -> None:
        """A registration that outlived a reinstall is deleted (only the iOS keychain outlives one)."""

    # -- NO_REGISTRATION -----------------------------------------------------------------------

    def _no_registration(self, error: SimulatorError, *, any_status: bool = True) -> None:
        """The server no longer knows this registration (``any_status``: also when answered 2xx)."""
        if isinstance(error, RegistrationGoneError):
            self._registration_gone(error, any_status)

    def _registration_gone(self, error: RegistrationGoneError, any_status: bool) -> None:
        raise NotImplementedError

    # -- user --------------------------------------------------------------------------------

    def _user_patch_body(self) -> dict[str, Any]:
        raise NotImplementedError

    def _sync_user(self, attempt: int = 0) -> None:
        st = self.state
        if not st.user_dirty or not st.reg_id or st.has(Flag.DEPERSONALIZE_PENDING):
            return
        body = self._user_patch_body()
        if not body:
            st.user_dirty = None
            return
        if self._debounced("patch_user", body):
            return
        self._sending("user", attempt)
        try:
            self._call("patch_user", body=body)
        except SimulatorError as exc:
            self._user_patch_failed(exc)
            self._schedule_retry(exc, "_sync_user", (), attempt)
            raise
        self._acked("user_updates")
        self._user_patched()

    def _user_patched(self) -> None:
        st = self.state
        st.user = merge(st.user, st.user_dirty) or None
        st.user_dirty = None

    def _user_patch_failed(self, error: SimulatorError) -> None:
        self._no_registration(error, any_status=False)
        self._user_rejected(error)
        if self.state.user_dirty:
            self._owe("user")  # the unreported changes the SDK kept go out with the next sync

    def _user_rejected(self, error: SimulatorError) -> None:
        """What the SDK does with the unreported user data the server refused."""

    def _drop_tried_identity(self, error: SimulatorError) -> bool:
        """The identity rollback: after an ambiguous or interrupted merge the tried identity is dropped,
        attributes stay unreported. True when it applied."""
        if not isinstance(error, PersonalizeConflictError) or error.code not in ROLLBACK_CODES:
            return False
        st = self.state
        st.user_dirty = {k: v for k, v in (st.user_dirty or {}).items() if k not in IDENTITY_KEYS} or None
        return True

    def _store_user(self, user: dict[str, Any]) -> None:
        """Keep a user the server answered; copy this installation's primary/enabled flags."""
        st = self.state
        st.user = {k: v for k, v in user.items() if k != "instances"} or None
        for instance in user.get("instances") or ():
            if isinstance(instance, dict) and instance.get("pushRegId") == st.reg_id:
                own = {k: instance[k] for k in ("isPrimary", "regEnabled") if isinstance(instance.get(k), bool)}
                st.installation = merge(st.installation, own) or None

    def _repersonalize_body(self) -> dict[str, Any] | None:
        """Personalize again with what the SDK knows of its user (`getUser()`: the stored user with
        the unreported changes on top); None when it knows nothing."""
        user = merge(self.state.user, self.state.user_dirty)
        identity = {k: user[k] for k in IDENTITY_KEYS if user.get(k)}
        attributes = {k: user[k] for k in ATTRIBUTE_KEYS if user.get(k) is not None}
        return personalize_body(identity, attributes) if identity or attributes else None

    # -- depersonalize -------------------------------------------------------------------------

    WIPED_INSTALLATION_KEYS: tuple[str, ...] = ("customAttributes", "applicationUserId")
    """Installation fields a (force) depersonalize clears locally, acknowledged and unreported."""

    def _wipe_local(self) -> None:
        """What the SDK clears locally on (force) depersonalize: the user, and the installation's
        :attr:`WIPED_INSTALLATION_KEYS` (each platform adds its own, `_wiped_installation`)."""
        st = self.state
        st.user = st.user_dirty = None
        self._forgive("user")
        drop = self.WIPED_INSTALLATION_KEYS
        for name in ("installation", "installation_dirty"):
            values = {k: v for k, v in (getattr(st, name) or {}).items() if k not in drop}
            self._wiped_installation(name, values)
            setattr(st, name, values or None)
        self._wiped()

    def _wiped_installation(self, name: str, values: dict[str, Any]) -> None:
        """Adjust the wiped acknowledged (``installation``) or unreported (``installation_dirty``) fields."""

    def _wiped(self) -> None:
        """What else the platform's SDK clears on depersonalize."""

    def _send_depersonalize(self, attempt: int = 0) -> None:
        st = self.state
        self._sending("depersonalize", attempt)
        try:
            self._call("depersonalize")
        except SimulatorError as exc:
            self._depersonalize_failed(exc)
            self._owe_depersonalize()
            self._schedule_retry(exc, "_send_depersonalize", (), attempt)
            raise
        self._acked("depersonalizations")
        st.set(Flag.DEPERSONALIZE_PENDING, False)
        self._depersonalized()

    def _depersonalized(self) -> None:
        """What the SDK does after the server acknowledged its depersonalize."""

    def _depersonalize_failed(self, error: SimulatorError) -> None:
        self._no_registration(error)

    def _owe_depersonalize(self) -> None:
        """After a failure: a depersonalize still pending goes out with the next sync; one the SDK
        gave up (iOS, three failures) owes nothing."""
        if self.state.has(Flag.DEPERSONALIZE_PENDING):
            self._owe("depersonalize")
        else:
            self._forgive("depersonalize")

    # -- sessions ----------------------------------------------------------------------------

    def _tick(self) -> None:
        """One heartbeat of the session tracker (on foreground and every 5 s)."""
        raise NotImplementedError

    def _sessions_to_report(self, now_ms: int) -> tuple[list[str], dict[str, str]] | None:
        raise NotImplementedError

    def _sessions_reported(self, now_ms: int) -> None:
        raise NotImplementedError

    REPORT_OMITS_EMPTY = False
    """A session report leaves out empty ``sessionStarts``/``sessionBounds`` (iOS) or sends them."""

    def _report_sessions(self, attempt: int = 0) -> None:
        st = self.state
        if not st.reg_id or not st.sessions or st.has(Flag.DEPERSONALIZE_PENDING):
            return
        now_ms = self._now_ms()
        found = self._sessions_to_report(now_ms)
        if found is None:
            return
        body = ss.report_body(found[0], found[1], self._system(), omit_empty=self.REPORT_OMITS_EMPTY)
        if self._debounced("session_report", body):
            return
        self._sending("sessions", attempt)
        try:
            self._call("session_report", body=body)
        except SimulatorError as exc:
            self._no_registration(exc)
            self._owe("sessions")  # kept: the next report carries the same starts and bounds
            self._schedule_retry(exc, "_report_sessions", (), attempt)
            raise
        self._acked("launches", sum(1 for session in st.sessions if not session[2]))
        self._sessions_reported(now_ms)

    # -- custom events -----------------------------------------------------------------------

    def _events_held(self) -> bool:
        """Stored events wait (besides having no registration)."""
        return False

    def _flush_events(self) -> None:
        st = self.state
        if not st.events or not st.reg_id or self._events_held():
            return
        sent = len(st.events)
        self._sending("events")
        try:
            self._call("custom_events", flags={"validate": False}, body=event_body(st.events))
        except SimulatorError as exc:
            self._no_registration(exc)
            self._owe("events")  # kept (no retry): the next flush sends them with the newer ones
            raise
        self._acked("events", sent)
        st.events = self._events_after_flush(sent)

    def _events_after_flush(self, sent: int) -> list[list[Any]] | None:
        """The stored events left after ``sent`` of them were acknowledged."""
        return None

    def _batch_events(self) -> None:
        """A batched event was stored: schedule (or run) the flush."""
        raise NotImplementedError

    def _events_timer(self) -> None:
        self._flush_events()

    # -- whole syncs and timers --------------------------------------------------------------

    def _full_sync(self, *, foreground: bool = False) -> None:
        """Everything the SDK syncs when it syncs by itself (``foreground``: on entering it)."""
        raise NotImplementedError

    def _timer_job(self, name: str) -> Callable[[], Any]:
        if name == "tick":
            return self._heartbeat
        if name == "events":
            return self._events_timer
        raise ValueError(f"no timer job {name!r}")

    def _heartbeat(self) -> None:
        if self.state.has(Flag.FOREGROUND):
            self._due["tick"] = self.now() + ss.HEARTBEAT
            self._tick()
