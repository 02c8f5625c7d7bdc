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

from collections.abc import Callable, Mapping
from typing import Any

from contract import headers as h
from contract.dialect import Platform
from contract.endpoints import endpoint
from contract.messages import ARCHIVE_LIMIT, Message, parse_sync_payload

from .. import events as ev
from .. import inbox
from .. import sessions as ss
from ..catalog import Profile
from ..codec import decode_reply, encode_ios
from ..core import DEFAULT_BASE_URL
from ..device import VirtualDevice
from ..errors import RegistrationGoneError, SimulatorError, UsageError
from ..inbox import M
from ..state import Flag
from ..systemdata import extension_user_agent, user_agent
from ..transport import IDEMPOTENT_METHODS, Outgoing
from ..userdata import delta, merge

__all__ = ["IosDevice"]

NOTIFICATIONS_GRACE = 3600.0
"""Seconds after the first registration during which `notificationsEnabled` is reported true."""
DEPERSONALIZE_FAILURE_LIMIT = 3
"""Failed depersonalize attempts after which the pending status is dropped."""
SEEN_DEBOUNCE = 2.0
"""`MMPostponer`: seconds after the last `setSeen` before the seen report goes out."""
SYNC_CHAIN_LIMIT = 2
"""`fetchingIterationLimit`: a sync whose answer carries messages starts at most two more."""


def _mutable(payload: dict[str, Any]) -> bool:
    aps = payload.get("aps")
    return isinstance(aps, dict) and aps.get("mutable-content") == 1


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

    def _client_retries_stale(self, method: str) -> bool:
        """URLSession sends a request again after the connection was lost only when its method is
        idempotent (Apple's QA1941, `NSURLErrorNetworkConnectionLost`): the SDK's POSTs and
        PATCHes fail with -1005 instead (`DynamicBaseUrlHTTPSessionManager`: one `dataTask`)."""
        return method in IDEMPOTENT_METHODS

    def _move_base_url(self, new_base_url: str) -> None:
        """`DynamicBaseUrlHTTPSessionManager.setNewBaseUrl`: since 8.5.1 a value equal to the current
        base changes nothing; a new one is stored and, since 10.5.1, when it differs from the URL the
        app configured, `baseUrlDidChange` syncs the installation and the messages again. The
        request that carried the header is not sent again."""
        new = new_base_url.rstrip("/")
        if self.sdk.base_url_compare and new == self.base_url:
            return
        super()._move_base_url(new)
        if self.sdk.base_url_resync and new != self.config.base_url:
            self._due["resync"] = self.now()

    def _check_base_url(self) -> None:
        """`BaseUrlManager.checkForChanges`, at start (12.6.1) and on entering the foreground, only
        with the SDK's default URL, 24 h after the last answer that carried a `baseUrl`: `GET
        https://mobile.infobip.com/mobile/1/baseurl` (the production host whatever the current
        base), without `pushregistrationid`. An answer without `baseUrl`, or an error, is retried
        at the next start or foreground."""
        if not self.sdk.base_url_compare or not self._base_url_check_due():
            return  # no check before 8.5.1
        if self._app_url_given and self.sdk.base_url_check_at_start:
            return  # since 12.6.1 only with the SDK's default URL (before, whatever the app gave)
        wire = endpoint("base_url").build(self.dialect)
        headers = self._headers(False)
        headers.pop(h.PUSH_REGISTRATION_ID, None)
        request = Outgoing(wire.method, DEFAULT_BASE_URL + wire.target, headers, None, wire,
                           retry_stale=self._client_retries_stale(wire.method))  # fmt: skip
        reply = self.transport.send(request)
        self._base_url_rules(reply.status, reply.header(h.NEW_BASE_URL))
        try:
            data = decode_reply(request, reply, android=False, reads_body=True)
        except RegistrationGoneError as exc:
            self._answered_no_registration(exc)
            raise
        url = data.get("baseUrl") if isinstance(data, dict) else None
        if isinstance(url, str) and url.strip():
            self.state.base_url_checked = int(self.now())
            self._move_base_url(url.strip())

    def _base_url_changed(self) -> None:
        """`baseUrlDidChange`: `InstallationDataService` (installation, the keychain's stale
        registration, a pending depersonalize) and `MMMessageHandler` (local fetch, messages sync)."""
        st = self.state
        self._background(self._sync_installation)
        self._background(self._expire_stale_registration)
        if st.reg_id and st.has(Flag.DEPERSONALIZE_PENDING):
            self._background(self._send_depersonalize)
        self._background(self._local_fetch)
        self._background(self._sync_messages)

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

    def _patch_body(self, explicit: bool, system: Mapping[str, Any]) -> dict[str, Any]:
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

    def _answered_no_registration(self, error: RegistrationGoneError) -> None:
        """`SessionManagement.performRequest` posts every API error; `InstallationDataService.handleError`
        recovers on `NO_REGISTRATION` from any endpoint (messages, seen, MO, the keychain's DELETE,
        calls about another installation)."""
        self._registration_gone(error, True)
        error.recovered = True

    def _registration_gone(self, error: RegistrationGoneError, any_status: bool) -> None:
        """`recoverRegistration`: forget the registration (the keychain too, as 13.11.0 does) and
        register anew; nothing when there is no registration or token to recover (a second error)."""
        st = self.state
        if error.recovered or st.reg_id is None or not st.token:
            return
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
            self._owe_depersonalize()

    # -- depersonalize -------------------------------------------------------------------------

    def _depersonalize_self(self) -> None:
        if not self.state.has(Flag.DEPERSONALIZE_PENDING):
            self._wipe_local()
        self._send_depersonalize()

    WIPED_INSTALLATION_KEYS = ("customAttributes",)
    """`InstallationDataService.depersonalizeService`: custom attributes emptied, `isPrimary` false;
    `applicationUserId` stays."""

    def _wiped_installation(self, name: str, values: dict[str, Any]) -> None:
        values.pop("isPrimary", None)
        if name == "installation":
            values["isPrimary"] = False
        else:  # `archiveAll()` writes the current installation over the unreported one
            values.clear()

    def _depersonalize_failed(self, error: SimulatorError) -> None:
        super()._depersonalize_failed(error)
        st = self.state
        st.depersonalize_failures += 1
        if not st.has(Flag.DEPERSONALIZE_PENDING):
            st.set(Flag.DEPERSONALIZE_PENDING)
        elif st.depersonalize_failures >= DEPERSONALIZE_FAILURE_LIMIT:
            st.set(Flag.DEPERSONALIZE_PENDING, False)  # failure limit: give up

    # -- sessions: `UserSessionService` --------------------------------------------------------

    TIMER_RESUMES = True
    REPORT_OMITS_EMPTY = True
    _report_needed = True

    def _tick(self) -> None:
        """`performSessionTracking`, every 5 s from the SDK's start while the app is active (a
        launch shorter than 5 s records nothing); the first tick that records a session after a
        process start or a foreground (`isReportingNeeded`) reports the sessions, the others not."""
        st = self.state
        if not st.reg_id:
            return
        sessions = st.sessions or []
        ss.ios_tick(sessions, self._now_ms())
        st.sessions = sessions
        if self._report_needed:
            self._report_needed = False
            self._background(self._report_sessions)

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

    # -- messages: `MMMessageHandler`, the Notification Service Extension ---------------------

    def _push_arrived(self, message: Message, payload: Any) -> bool:
        """An alert push runs the Notification Service Extension, which reports the delivery whatever
        the app's state; the app itself handles the push in the foreground, or in the background for
        a silent (content-available) push, unless push registration is disabled or a logout pending."""
        st = self.state
        entry = inbox.find(st.messages, message.message_id)
        extension = not message.silent and isinstance(payload, dict) and _mutable(payload)
        if extension and entry is None and st.reg_id:
            reported = self._extension_report(message.message_id)
            entry = self._store(message, M.EXTENSION | M.SHOWN | (M.REPORTED if reported else 0))
        elif extension:
            return False
        handled_by_app = message.silent or (self._alive and st.has(Flag.FOREGROUND))
        if not handled_by_app or self._messages_suspended():
            return entry is not None
        if entry is None:
            if self._expired(message):
                return False
            self._store(message, 0)
        else:
            inbox.set_flag(entry, M.EXTENSION, False)  # the app has processed it
        self._background(self._sync_messages)  # every handled push ends in a messages sync
        return True

    def _expired(self, message: Message) -> bool:
        """`messagesRetentionPeriod`: a message sent more than 14 days ago is never stored."""
        return bool(message.send_date_time) and self._now_ms() - message.send_date_time > inbox.RETENTION_MS

    def _extension_report(self, message_id: str) -> bool:
        """The extension's delivery report: one `POST /mobile/1/messages/deliveryreport` with its own
        headers (no sessionId, `foreground: false`, the extension's User-Agent). Since 15.0.0
        (`MMNSEDeliveryReporter`) its own User-Agent (the raw machine id) and any answer counts as
        reported (the status is not checked); before, the full SDK in the extension (the app's
        User-Agent with the extension's bundle id) and only a 2xx did. Since 13.12.1 it carries
        `pushregistrationid` and `installationid`; before, neither."""
        wire = endpoint("delivery_report").build(self.dialect, body={"dlrIds": [message_id]})
        headers = dict(self._static_headers)
        headers[h.FOREGROUND] = "false"
        sdk, extension = self.sdk, self.config.bundle_id + ".NotificationServiceExtension"
        if not sdk.nse_registration_headers:
            del headers[h.INSTALLATION_ID]
        elif self.state.reg_id:
            headers[h.PUSH_REGISTRATION_ID] = self.state.reg_id
        standalone = sdk.nse_standalone
        if standalone:
            headers[h.USER_AGENT] = extension_user_agent(self.profile, self.config.bundle_id)
        else:
            headers[h.USER_AGENT] = user_agent(self.profile, self.config.app_name, extension)
        request = Outgoing(wire.method, self.base_url + wire.target, headers, encode_ios(wire.body or {}), wire,
                           retry_stale=self._client_retries_stale(wire.method))  # fmt: skip
        try:
            reply = self.transport.send(request)
        except SimulatorError as exc:
            self.last_error = exc
            self._owe("deliveries")  # not reported: the app's next messages sync carries it in drIDs
            return False
        acknowledged = 200 <= reply.status < 300
        if acknowledged:
            self._acked("deliveries")
        elif not standalone:
            self._owe("deliveries")
        return standalone or acknowledged

    def _local_fetch(self) -> None:
        """`LocalMessageFetchingOperation`: what the extension stored since the app last ran is
        handled now, which ends in a messages sync."""
        waiting = [e for e in self.state.messages or () if e[3] & M.EXTENSION]
        if not waiting or self._messages_suspended():
            return
        for entry in waiting:
            inbox.set_flag(entry, M.EXTENSION, False)
        self._sync_messages()

    def _sync_messages_body(self) -> tuple[dict[str, Any] | None, list[str]]:
        """``drIDs``: every message not reported; ``mIDs``: reported ones sent in the last 7 days, the
        newest 100 by send time. Keys with nothing are left out (the body may be ``{}``)."""
        now_ms = self._now_ms()
        entries = [e for e in self.state.messages or () if not e[3] & M.EXTENSION]
        reporting = [e[0] for e in entries if not e[3] & M.REPORTED]
        reported = [e for e in entries if e[3] & M.REPORTED and now_ms - (e[2] or e[1]) < inbox.ARCHIVE_MS]
        reported.sort(key=lambda e: e[2] or e[1], reverse=True)
        body: dict[str, Any] = {}
        if reporting:
            body["drIDs"] = reporting
        if reported:
            body["mIDs"] = [e[0] for e in reported[:ARCHIVE_LIMIT]]
        return body, reporting

    def _sync_answer(self, payloads: list[Any], iteration: int) -> None:
        """New messages are stored unreported, shown as local notifications unless silent, and the
        next sync reports them; at most two chained syncs (`fetchingIterationLimit`)."""
        for payload in payloads:
            message = parse_sync_payload(self.platform, payload)
            if message is None or inbox.find(self.state.messages, message.message_id) or self._expired(message):
                continue
            self._store(message, 0 if message.silent else M.SHOWN)
            self._acked("messages_synced")
        if iteration < SYNC_CHAIN_LIMIT:
            self._sync_messages(iteration=iteration + 1)

    def _seen_delta(self, now_ms: int, seen_ms: int) -> int:
        return max(0, (now_ms - seen_ms) // 1000)  # UInt(max(0, now - seenDate))

    def _take_seen(self) -> bool:
        return not self._messages_suspended()  # a suspended handler does not even store seen marks

    def _seen_marked(self, immediately: bool) -> None:
        """`setSeen` from the app waits 2 s (`MMPostponer`, restarted by each call); a tap sends at once."""
        if immediately:
            self._due.pop("seen", None)
            self._background(self._report_seen)
        else:
            self._due["seen"] = self.now() + SEEN_DEBOUNCE

    def _timer_job(self, name: str) -> Callable[[], Any]:
        if name == "resync":
            return self._base_url_changed
        return self._report_seen if name == "seen" else super()._timer_job(name)

    def _opened(self, message_id: str) -> None:
        """The app opens (a start runs the full sync), then `handleAction`: seen at once, then a sync."""
        self.foreground()
        if self._messages_suspended():
            return
        if self._mark_seen((message_id,)):
            self._seen_marked(immediately=True)
        self._background(self._sync_messages)

    def _mo_id(self, text: str) -> str:
        return super()._mo_id(text).upper()  # NSUUID().uuidString

    def _may_send_mo(self) -> None:
        if self._messages_suspended():
            raise UsageError("the message handler is suspended (push registration disabled or a logout pending)")

    # -- whole syncs -------------------------------------------------------------------------

    def _full_sync(self, *, foreground: bool = False, cold: bool = False) -> None:
        """Installation, stale registration, pending depersonalize, user, messages; on entering the
        foreground (warm) also the stored events. A cold start (`InstallationDataService.start`,
        the services' `mobileMessagingDidStart`) replays no pending depersonalize and flushes no
        events: those wait for the next foreground. The sessions go at the timer's tick."""
        st = self.state
        registered = st.reg_id is not None
        self._background(self._sync_installation)
        self._background(self._expire_stale_registration)
        if not registered:
            return  # the first registration: the create alone (the others ran before the token)
        if st.has(Flag.DEPERSONALIZE_PENDING) and not cold:
            self._background(self._send_depersonalize)
        self._background(self._sync_user)
        self._background(self._local_fetch)
        self._background(self._report_seen)
        self._background(self._sync_messages)
        if foreground and not cold:
            self._background(self._flush_events)

    def _foreground_syncs(self, *, cold: bool) -> None:
        self._report_needed = True  # `isReportingNeeded`: at start and on `appWillEnterForeground`
        if not cold or self.sdk.base_url_check_at_start:
            self._background(self._check_base_url)
        self._full_sync(foreground=True, cold=cold)

    def _token_refreshed(self) -> None:
        if self.state.has(Flag.DEPERSONALIZE_PENDING):
            return
        self._background(self._sync_installation)
        self._background(self._expire_stale_registration)
