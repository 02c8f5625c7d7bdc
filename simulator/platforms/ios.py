"""The iOS SDK's rules (`infobip/mobile-messaging-sdk-ios`).

Each method is one rule of the SDK, cited in docs/reference/mobile-api-ios-and-people.md: no
request is retried (reliability comes from persisted state and the next sync), the keychain keeps
the registration id across a reinstall (the stale one is deleted after the next registration),
`NO_REGISTRATION` forgets the registration and registers anew, sessions are a list extended within
30 s (`UserSessionService`), events are flushed 2 s after the last one (`MMPostponer`), a
depersonalize that failed three times is given up, `notificationsEnabled` is reported as true
during the first hour.
"""

from __future__ import annotations

from typing import Any

from contract import headers as h
from contract.dialect import Platform

from .. import events as ev
from .. import sessions as ss
from ..catalog import Profile
from ..codec import encode_ios
from ..device import VirtualDevice
from ..errors import RegistrationGoneError, SimulatorError
from ..state import Flag
from ..userdata import delta, merge

__all__ = ["IosDevice"]

NOTIFICATIONS_GRACE = 3600.0
"""Seconds after the first registration during which `notificationsEnabled` is reported true."""
DEPERSONALIZE_FAILURE_LIMIT = 3
"""Failed depersonalize attempts after which the pending status is dropped."""


class IosDevice(VirtualDevice):
    """An iPhone or iPad running the iOS SDK."""

    PLATFORM = Platform.IOS
    KEYCHAIN = True

    # -- the HTTP layer (`DynamicBaseUrlHTTPSessionManager`, URLSession) ----------------------

    def _client_headers(self, profile: Profile) -> dict[str, str]:
        language, _, country = profile.locale.partition("_")
        return {  # URLSession's defaults
            h.CONTENT_TYPE: "application/json",
            "Accept-Language": f"{language}-{country},{language};q=0.9",
            "Accept-Encoding": "gzip, deflate, br",
        }

    def _session_header_start(self) -> int | None:
        return ss.current_session_start(self.state.sessions, self._now_ms(), ios=True)

    def _encode(self, body: dict[str, Any], method: str) -> bytes:
        return encode_ios(body)

    def _move_base_url(self, new_base_url: str) -> None:
        super()._move_base_url(new_base_url)
        self._due["resync"] = self.now()  # everything is synced again against the new base

    # -- system data -------------------------------------------------------------------------

    def _notifications_enabled(self) -> bool:
        st = self.state
        if not st.registered_at or self.now() - st.registered_at < NOTIFICATIONS_GRACE:
            return True
        return super()._notifications_enabled()

    # -- installation --------------------------------------------------------------------------

    def _create_body(self) -> dict[str, Any]:
        desired = merge(self.state.installation, self.state.installation_dirty)
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

    def _installation_created(self) -> None:
        st = self.state
        st.registered_at = st.registered_at or int(self.now())
        st.system_hash = 0  # the next PATCH carries the full system data

    def _patch_body(self, explicit: bool, system: dict[str, Any]) -> dict[str, Any]:
        """The whole delta between acknowledged and desired data, and a new token."""
        st = self.state
        body = delta(st.installation, st.installation_dirty)
        if st.token != st.token_acked:
            body["pushServiceToken"] = self.push_token
        return body

    def _nothing_to_patch(self) -> None:
        self.state.installation_dirty = None

    def _split_sent(self, dirty: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        return dirty, {}  # the delta went out whole (unchanged keys equal the acknowledged ones)

    def _expire_stale_registration(self) -> None:
        """The keychain outlived a reinstall: delete the old registration, then remember the new one."""
        st = self.state
        old = st.keychain_reg_id
        if st.reg_id is None or old == st.reg_id:
            return
        if old:
            self._call("delete_installation", target=old)
        st.keychain_reg_id = st.reg_id

    # -- NO_REGISTRATION -----------------------------------------------------------------------

    def _registration_gone(self, error: RegistrationGoneError, any_status: bool) -> None:
        """Forget the registration (keychain too) and register anew."""
        st = self.state
        st.installation_dirty = merge(st.installation, st.installation_dirty) or None
        st.installation = None
        st.keychain_reg_id = st.reg_id = None
        st.token_acked = st.system_hash = 0
        self._background(self._create_installation)
        self._background(self._expire_stale_registration)

    # -- user --------------------------------------------------------------------------------

    def _user_patch_body(self) -> dict[str, Any]:
        return delta(self.state.user, self.state.user_dirty)

    def _user_rejected(self, error: SimulatorError) -> None:
        self._drop_tried_identity(error)

    def _personalize_rejected(self, error: SimulatorError, forced: bool) -> None:
        if not self._drop_tried_identity(error) and forced:
            self._depersonalize_failed(error)  # a failed forced personalize is a failed depersonalize

    # -- depersonalize -------------------------------------------------------------------------

    def _depersonalize_self(self) -> None:
        if not self.state.has(Flag.DEPERSONALIZE_PENDING):
            self._wipe_local()
        self._send_depersonalize()

    def _wiped_installation(self, name: str, values: dict[str, Any]) -> None:
        values.pop("isPrimary", None)
        if name == "installation":
            values["isPrimary"] = False

    def _depersonalize_failed(self, error: SimulatorError) -> None:
        super()._depersonalize_failed(error)
        st = self.state
        st.depersonalize_failures += 1
        if not st.has(Flag.DEPERSONALIZE_PENDING):
            st.set(Flag.DEPERSONALIZE_PENDING)
        elif st.depersonalize_failures >= DEPERSONALIZE_FAILURE_LIMIT:
            st.set(Flag.DEPERSONALIZE_PENDING, False)  # failure limit: give up

    # -- sessions: `UserSessionService` --------------------------------------------------------

    def _tick(self) -> None:
        st = self.state
        sessions = st.sessions or []
        if st.reg_id:
            ss.ios_tick(sessions, self._now_ms())
        st.sessions = sessions or None

    def _sessions_to_report(self, now_ms: int) -> tuple[list[str], dict[str, str]] | None:
        return ss.ios_report(self.state.sessions or [], now_ms)

    def _sessions_reported(self, now_ms: int) -> None:
        self.state.sessions = ss.ios_reported(self.state.sessions or [], now_ms) or None

    # -- custom events: `MMPostponer` ----------------------------------------------------------

    def _may_store_event(self) -> None:
        self._registered()

    def _events_after_flush(self, sent: int) -> list[list[Any]] | None:
        return (self.state.events or [])[sent:] or None

    def _batch_events(self) -> None:
        self._due["events"] = self.now() + ev.IOS_DEBOUNCE  # restart the 2 s debounce

    # -- messages ----------------------------------------------------------------------------

    def _sync_messages_body(self) -> dict[str, Any] | None:
        return {}

    # -- whole syncs -------------------------------------------------------------------------

    def _full_sync(self, *, foreground: bool = False) -> None:
        """Installation, stale registration, pending depersonalize, user, messages; on entering the
        foreground also sessions and stored events."""
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

    def _foreground_syncs(self, *, cold: bool) -> None:
        self._full_sync(foreground=True)

    def _token_refreshed(self) -> None:
        if self.state.has(Flag.DEPERSONALIZE_PENDING):
            return
        self._background(self._sync_installation)
        self._background(self._expire_stale_registration)
