"""What each SDK sends on its own: installation sync, user sync, sessions, events, recovery.

`SyncFlows` holds the background flows of both dialects. Every flow reads the state, decides
whether the SDK would send anything, sends it through `DeviceCore._call`, and applies the result.
Flows that the Android SDK retries take `attempt` and reschedule themselves on failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import events as ev
from . import sessions as ss
from .core import DeviceCore
from .errors import InvalidParameterError, PersonalizeConflictError, RegistrationGoneError, SimulatorError
from .state import Flag
from .systemdata import android_order, system_data, system_hash
from .userdata import ATTRIBUTE_KEYS, IDENTITY_KEYS, INSTALLATION_KEYS, delta, merge, personalize_body

__all__ = ["SyncFlows"]

_ROLLBACK_CODES = frozenset({"AMBIGUOUS_PERSONALIZE_CANDIDATES", "USER_MERGE_INTERRUPTED"})
_NOTIFICATIONS_GRACE = 3600.0


class SyncFlows(DeviceCore):
    # -- system data -------------------------------------------------------------------------

    def _notifications_enabled(self) -> bool:
        st = self.state
        real = not st.has(Flag.NOTIFICATIONS_OFF)
        if self.ios and (not st.registered_at or self.now() - st.registered_at < _NOTIFICATIONS_GRACE):
            return True  # iOS reports true until an hour after the first registration
        return real

    def _system(self) -> dict[str, Any]:
        return system_data(self.profile, self._notifications_enabled(), self.now())

    # -- installation ------------------------------------------------------------------------

    def _sync_installation(self, attempt: int = 0) -> None:
        st = self.state
        if st.reg_id is None:
            if st.token and st.token != st.token_acked:
                self._create_installation(attempt)
            return
        self._patch_installation(attempt)

    def _create_body(self) -> dict[str, Any]:
        st = self.state
        desired = merge(st.installation, st.installation_dirty)
        if self.ios:
            body: dict[str, Any] = {
                "customAttributes": desired.get("customAttributes") or {},
                "isPrimary": desired.get("isPrimary", False),
                "regEnabled": desired.get("regEnabled", True),
                "pushServiceToken": self.push_token,
            }
            if desired.get("applicationUserId"):
                body["applicationUserId"] = desired["applicationUserId"]
            body.update(self._system())
            body["notificationsEnabled"] = True  # forced on create (InstallationDataMapper)
            return body
        body = self._system()
        dirty = st.installation_dirty or {}
        body.update({k: dirty[k] for k in ("isPrimary", "regEnabled") if k in dirty})
        body["pushServiceType"] = self.platform.push_service_type
        body["pushServiceToken"] = self.push_token
        return android_order(body)

    def _create_installation(self, attempt: int = 0) -> None:
        st = self.state
        body = self._create_body()
        try:
            data = self._call("create_installation", body=body, require="pushRegId")
        except SimulatorError as exc:
            st.token_acked = 0
            self._schedule_retry(exc, "_create_installation", (), attempt)
            raise
        st.reg_id = str(data["pushRegId"])
        st.token_acked = st.token
        self._acked("installs")
        desired = merge(st.installation, st.installation_dirty)
        desired.update({k: body[k] for k in ("isPrimary", "regEnabled") if k in body})
        desired.update({k: data[k] for k in ("isPrimary", "regEnabled") if isinstance(data.get(k), bool)})
        st.installation, st.installation_dirty = desired or None, None
        if self.ios:
            st.registered_at = st.registered_at or int(self.now())
            st.system_hash = 0  # the next PATCH carries the full system data
        else:
            st.system_hash = system_hash(self.platform, self._system())
            st.set(Flag.PUSH_TYPE_REPORTED)

    def _patch_body(self, explicit: bool) -> tuple[dict[str, Any], int]:
        st = self.state
        system = self._system()
        new_hash = system_hash(self.platform, system)
        if self.ios:
            body = delta(st.installation, st.installation_dirty)
            if st.token != st.token_acked:
                body["pushServiceToken"] = self.push_token
        else:
            keys = INSTALLATION_KEYS if explicit else ("isPrimary", "regEnabled", "applicationUserId")
            dirty = st.installation_dirty or {}
            body = {k: dirty[k] for k in keys if k in dirty}
            if st.token != st.token_acked or not st.has(Flag.PUSH_TYPE_REPORTED):
                body["pushServiceType"] = self.platform.push_service_type
            if st.token != st.token_acked:
                body["pushServiceToken"] = self.push_token
        if new_hash != st.system_hash:
            body.update(system)
        return (body if self.ios else android_order(body)), new_hash

    def _patch_installation(self, attempt: int = 0, explicit: bool = False) -> None:
        st = self.state
        body, new_hash = self._patch_body(explicit)
        if not body:
            if self.ios:
                st.installation_dirty = None
            return
        try:
            self._call("patch_installation", body=body)
        except SimulatorError as exc:
            if not self.ios:
                st.token_acked = 0
            self._no_registration(exc, any_status=False)
            self._schedule_retry(exc, "_patch_installation", (), attempt)
            raise
        self._installation_patched(body, new_hash)

    def _installation_patched(self, body: dict[str, Any], new_hash: int) -> None:
        st = self.state
        dirty = st.installation_dirty or {}
        # iOS sent the whole delta (unchanged keys equal the acknowledged ones); Android sent what it chose.
        sent = dirty if self.ios else {k: v for k, v in dirty.items() if k in body}
        st.installation = merge(st.installation, sent) or None
        rest = {} if self.ios else {k: v for k, v in dirty.items() if k not in body}
        st.installation_dirty = rest or None
        if "pushServiceToken" in body:
            st.token_acked = st.token
        if "pushServiceType" in body:
            st.set(Flag.PUSH_TYPE_REPORTED)
        if "sdkVersion" in body:
            st.system_hash = new_hash

    def _expire_stale_registration(self) -> None:
        """iOS: the keychain outlived a reinstall; delete the old registration, then remember the new one."""
        st = self.state
        old = st.keychain_reg_id
        if st.reg_id is None or old == st.reg_id:
            return
        if old:
            self._call("delete_installation", target=old)
        st.keychain_reg_id = st.reg_id

    # -- NO_REGISTRATION -----------------------------------------------------------------------

    def _no_registration(self, error: SimulatorError, *, any_status: bool = True) -> None:
        if not isinstance(error, RegistrationGoneError):
            return
        if self.ios:
            self._ios_recover()
        elif any_status or not 200 <= error.status < 300:
            self._android_mark_unreported()

    def _ios_recover(self) -> None:
        """Forget the registration (keychain too) and register anew."""
        st = self.state
        st.installation_dirty = merge(st.installation, st.installation_dirty) or None
        st.installation = None
        st.keychain_reg_id = st.reg_id = None
        st.token_acked = st.system_hash = 0
        self._background(self._create_installation)
        self._background(self._expire_stale_registration)

    def _android_mark_unreported(self) -> None:
        """`handleNoRegistrationError`: keep the id, re-send everything, then repersonalize."""
        st = self.state
        st.token_acked = st.system_hash = 0
        st.set(Flag.REPERSONALIZE)
        dirty = dict(st.installation_dirty or {})
        dirty["regEnabled"] = merge(st.installation, dirty).get("regEnabled", True)
        dirty["isPrimary"] = True  # setUnreportedPrimarySetting stores a literal true
        st.installation_dirty = dirty

    # -- user --------------------------------------------------------------------------------

    def _user_patch_body(self) -> dict[str, Any]:
        st = self.state
        return delta(st.user, st.user_dirty) if self.ios else dict(st.user_dirty or {})

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
        st = self.state
        self._no_registration(error, any_status=False)
        if not self.ios and isinstance(error, InvalidParameterError):
            st.user_dirty = None  # setUserDataReportedWithError
        elif self.ios and isinstance(error, PersonalizeConflictError) and error.code in _ROLLBACK_CODES:
            kept = {k: v for k, v in (st.user_dirty or {}).items() if k not in IDENTITY_KEYS}
            st.user_dirty = kept or None

    def _store_user(self, user: dict[str, Any]) -> None:
        """Keep a user the server answered; copy this installation's primary/enabled flags."""
        st = self.state
        st.user = {k: v for k, v in user.items() if k != "instances"} or None
        for instance in user.get("instances") or ():
            if isinstance(instance, dict) and instance.get("pushRegId") == st.reg_id:
                own = {k: instance[k] for k in ("isPrimary", "regEnabled") if isinstance(instance.get(k), bool)}
                st.installation = merge(st.installation, own) or None

    def _repersonalize(self, attempt: int = 0) -> None:
        st = self.state
        user = st.user or {}
        identity = {k: user[k] for k in IDENTITY_KEYS if user.get(k)}
        attributes = {k: user[k] for k in ATTRIBUTE_KEYS if user.get(k) is not None}
        if not identity and not attributes:
            st.token += 1  # resetCloudToken: nothing to repersonalize with; the flag stays
            return
        if not st.reg_id:
            return
        body = personalize_body(identity, attributes)
        if self._debounced("repersonalize", body):
            return
        try:
            self._call("repersonalize", body=body)
        except SimulatorError as exc:
            if isinstance(exc, InvalidParameterError):
                self._no_registration(exc, any_status=False)
                st.user_dirty = None
            self._schedule_retry(exc, "_repersonalize", (), attempt)
            raise
        self._acked("repersonalizations")
        st.set(Flag.REPERSONALIZE, False)

    # -- depersonalize -------------------------------------------------------------------------

    def _wipe_local(self) -> None:
        """What both SDKs clear locally on (force) depersonalize."""
        st = self.state
        st.user = st.user_dirty = None
        drop = ("customAttributes", "applicationUserId")
        for name in ("installation", "installation_dirty"):
            values = {k: v for k, v in (getattr(st, name) or {}).items() if k not in drop}
            if self.ios:
                values.pop("isPrimary", None)
                if name == "installation":
                    values["isPrimary"] = False
            setattr(st, name, values or None)

    def _send_depersonalize(self, attempt: int = 0) -> None:
        st = self.state
        try:
            self._call("depersonalize")
        except SimulatorError as exc:
            self._depersonalize_failed(exc)
            self._schedule_retry(exc, "_send_depersonalize", (), attempt)
            raise
        self._acked("depersonalizations")
        st.set(Flag.DEPERSONALIZE_PENDING, False)
        if not self.ios:
            st.token += 1  # the SDK deletes and re-issues the cloud token

    def _depersonalize_failed(self, error: SimulatorError) -> None:
        st = self.state
        self._no_registration(error)
        if not self.ios:
            return  # the persisted flag stays; the next sync replays
        st.depersonalize_failures += 1
        if not st.has(Flag.DEPERSONALIZE_PENDING):
            st.set(Flag.DEPERSONALIZE_PENDING)
        elif st.depersonalize_failures >= 3:
            st.set(Flag.DEPERSONALIZE_PENDING, False)  # failure limit: give up

    # -- sessions ----------------------------------------------------------------------------

    def _tick(self) -> None:
        st = self.state
        sessions = st.sessions or []
        if self.ios:
            if st.reg_id:
                ss.ios_tick(sessions, self._now_ms())
            st.sessions = sessions or None
            return
        new_after_previous = ss.android_tick(sessions, self._now_ms())
        st.sessions = sessions
        if new_after_previous:
            self._background(self._report_sessions)

    def _report_sessions(self, attempt: int = 0) -> None:
        st = self.state
        if not st.reg_id or not st.sessions or st.has(Flag.DEPERSONALIZE_PENDING):
            return
        now_ms = self._now_ms()
        found = ss.ios_report(st.sessions, now_ms) if self.ios else ss.android_report(st.sessions)
        if found is None:
            return
        body = ss.report_body(found[0], found[1], self._system())
        if self._debounced("session_report", body):
            return
        try:
            self._call("session_report", body=body)
        except SimulatorError as exc:
            self._no_registration(exc)
            self._schedule_retry(exc, "_report_sessions", (), attempt)
            raise
        self._acked("launches", sum(1 for session in st.sessions if not session[2]))
        if self.ios:
            st.sessions = ss.ios_reported(st.sessions, now_ms) or None
        else:
            ss.android_reported(st.sessions)

    # -- custom events -----------------------------------------------------------------------

    def _flush_events(self) -> None:
        st = self.state
        if not st.events or not st.reg_id:
            return
        if not self.ios and st.has(Flag.DEPERSONALIZE_PENDING):
            return
        sent = len(st.events)
        try:
            self._call("custom_events", flags={"validate": False}, body=ev.event_body(st.events))
        except SimulatorError as exc:
            self._no_registration(exc)
            raise
        self._acked("events", sent)
        remaining = st.events[sent:] if self.ios else []
        st.events = remaining or None

    def _batch_events(self) -> None:
        """iOS: restart the 2 s debounce. Android: `BatchReporter`, at most one run per 5 s."""
        now = self.now()
        if self.ios:
            self._due["events"] = now + ev.IOS_DEBOUNCE
        elif now - self._batch_last_run >= ev.ANDROID_BATCH_DELAY:
            self._batch_last_run = now
            self._background(self._flush_events)
        else:
            self._due["events"] = self._batch_last_run + ev.ANDROID_BATCH_DELAY

    # -- messages ----------------------------------------------------------------------------

    def _sync_messages(self, attempt: int = 0) -> None:
        st = self.state
        if not self.config.sync_messages or not st.reg_id:
            return
        if not self.ios and not merge(st.installation, st.installation_dirty).get("regEnabled", True):
            return
        try:
            self._call("sync_messages", body={} if self.ios else None)
        except SimulatorError as exc:
            self._schedule_retry(exc, "_sync_messages", (), attempt)
            raise

    # -- whole syncs -------------------------------------------------------------------------

    def _android_sync_actions(self) -> None:
        """`performSyncActions`: pending depersonalize, installation, then (unless pending) the rest."""
        st = self.state
        if st.reg_id and st.has(Flag.DEPERSONALIZE_PENDING):
            self._background(self._send_depersonalize)
        self._background(self._sync_installation)
        if st.has(Flag.DEPERSONALIZE_PENDING):
            return
        self._background(self._repersonalize if st.has(Flag.REPERSONALIZE) else self._sync_user)
        self._background(self._sync_messages)

    def _ios_sync(self, *, foreground: bool) -> None:
        """Start / foreground: installation, stale registration, pending depersonalize, user, messages,
        then sessions and stored events."""
        st = self.state
        self._background(self._sync_installation)
        self._background(self._expire_stale_registration)
        if st.reg_id and st.has(Flag.DEPERSONALIZE_PENDING):
            self._background(self._send_depersonalize)
        self._background(self._sync_user)
        self._background(self._sync_messages)
        if foreground:
            self._tick()
            self._background(self._report_sessions)
            self._background(self._flush_events)

    def _timer_job(self, name: str) -> Callable[[], Any]:
        if name == "tick":
            return self._heartbeat
        if name == "events":
            return self._events_timer
        return lambda: self._ios_sync(foreground=False)  # "resync" after New-Base-URL

    def _heartbeat(self) -> None:
        if self.state.has(Flag.FOREGROUND):
            self._due["tick"] = self.now() + ss.HEARTBEAT
            self._tick()

    def _events_timer(self) -> None:
        if not self.ios:
            self._batch_last_run = self.now()
        self._flush_events()
