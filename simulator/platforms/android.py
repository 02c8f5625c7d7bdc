"""The Android SDK's rules (`infobip/mobile-messaging-sdk-android`), with Firebase push.

Each method is one rule of the SDK, cited in docs/reference/mobile-api-android.md:
`MRetryPolicy` (retries 2, 8, 18 s, section 7), `DebouncingGuard` (the same call with the same
data within 1 s is dropped), `performSyncActions` (the order of a sync), the base-URL reset after
two failures (`MobileApiResourceProvider`), `handleNoRegistrationError` (keep the id, re-send
everything, repersonalize), `UserSessionTracker` (one active session) and `BatchReporter` (events
at most every 5 s).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from contract import headers as h
from contract.dialect import Platform
from contract.messages import ARCHIVE_LIMIT, Message, parse_sync_payload

from .. import events as ev
from .. import inbox, retry
from .. import sessions as ss
from ..catalog import Profile
from ..clock import Clock
from ..codec import encode_android
from ..core import AppConfig
from ..device import VirtualDevice
from ..errors import ApiError, ClientValidationError, InvalidParameterError, RegistrationGoneError, SimulatorError
from ..inbox import M
from ..state import DeviceState, Flag
from ..systemdata import android_order
from ..transport import Transport
from ..userdata import INSTALLATION_KEYS, merge

__all__ = ["AndroidDevice"]

DEBOUNCE_WINDOW = 1.0
"""`DebouncingGuard`: seconds within which the same call with the same data is dropped."""
FOREGROUND_SYNC_THROTTLE = 10.0
"""Seconds between the syncs a foreground transition starts (every Activity switch is one)."""
LAZY_SYNC_THROTTLE = 5.0
"""`LAZY_SYNC_THROTTLE_INTERVAL_MILLIS`: a lazy sync (after a seen mark) is skipped within 5 s of a sync."""
MESSAGES_SYNC_THROTTLE = 1.0
"""`SYNC_MSGS_THROTTLE_INTERVAL_MILLIS`: a messages sync without delivery ids at most once a second."""


_INVALID_PARAMETER = (InvalidParameterError, RegistrationGoneError)
"""`MAsyncTask.invalidParameterErrorCodes` (NO_REGISTRATION among them): never retried, and the
user data sent is dropped (`setUserDataReportedWithError`)."""


class AndroidDevice(VirtualDevice):
    """An Android phone with Google services running the Android SDK."""

    PLATFORM = Platform.ANDROID
    READS_VOID_BODIES = False

    def __init__(self, state: DeviceState, config: AppConfig, transport: Transport, clock: Clock) -> None:
        self._process_ended()
        super().__init__(state, config, transport, clock)

    def _process_ended(self) -> None:
        """A new process starts with empty in-memory throttles and guards."""
        self._debounce: dict[str, tuple[float, int]] = {}
        self._previous_failed = False
        """`BaseUrlManager.isPreviousFailed`: in memory, so a new process starts counting again."""
        self._syncing = False
        self._gone_in_sync = False
        """A NO_REGISTRATION answered during a sync: its recovery flags are set when the sync ends."""
        self._last_foreground_sync = -math.inf
        self._batch_last_run = -math.inf
        self._seen_last_run = -math.inf
        self._last_sync = -math.inf
        self._last_messages_sync = -math.inf

    # -- the HTTP layer (`MobileApiResourceProvider`, `DefaultApiClient`) ----------------------

    def _client_headers(self, profile: Profile) -> dict[str, str]:
        return {"Accept-Encoding": "gzip"}  # HttpURLConnection asks for gzip only

    def _body_headers(self, out: dict[str, str]) -> None:
        out[h.CONTENT_TYPE] = "application/json"

    def _session_header_start(self) -> int | None:
        st = self.state
        if not st.has(Flag.FOREGROUND):
            return None  # the header goes out in the foreground only
        return ss.current_session_start(st.sessions, self._now_ms(), ios=False)

    def _encode(self, body: dict[str, Any], method: str) -> bytes:
        return encode_android(body, keep_nulls=method == "PATCH")

    def _client_retries_stale(self, method: str) -> bool:
        """`DefaultApiClient` talks through `HttpURLConnection`, which Android implements with
        OkHttp: its `RetryAndFollowUpInterceptor` (`retryOnConnectionFailure`, on by default)
        sends a request again after a connection failure whatever its method, when the body is
        not one-shot (the SDK's body is written whole, with its `Content-Length`)."""
        return True

    def _base_url_rules(self, status: int, new_base_url: str | None) -> None:
        """`BaseUrlManager.beforeResponse`: two failures in a row (a 4xx/5xx other than 404 and 429)
        reset the base URL to the app's; a `New-Base-URL` is taken as it is, every time (no
        comparison, nothing is sent because of it). Since 12.5.0 an app that gave its API URL
        (`withApiUri`) switches both off; Huawei's SDK never sets that flag."""
        if not self.config.honour_new_base_url or (self.sdk.app_url_disables_base_url and self._app_url_given):
            return
        failed = status >= 400 and status not in (404, 429)
        if failed and self._previous_failed:
            self._previous_failed = False
            self.state.base_url = None
            return
        self._previous_failed = failed
        if new_base_url:
            self._move_base_url(new_base_url)

    def _check_base_url(self) -> None:
        """`BaseUrlChecker.sync`: on a sync, 24 h after the last check that was answered (a blank
        answer counts), `GET /mobile/1/baseurl` on the current base; a `baseUrl` is taken as it
        is. A failed check is sent again on the next sync. Not with an app-given URL since 12.5.0
        (Huawei: always)."""
        if (self.sdk.app_url_disables_base_url and self._app_url_given) or not self._base_url_check_due():
            return
        data = self._call("base_url")
        self.state.base_url_checked = int(self.now())
        url = data.get("baseUrl") if isinstance(data, dict) else None
        if isinstance(url, str) and url.strip():
            self._move_base_url(url.strip())

    def _process_started(self) -> None:
        """`MobileMessaging.Builder.build()` at every process start: the app's API URL again, if
        it gave one; without one, since 12.5.0 (`setProvidedApiUri`) the default again. A URL
        learnt from `New-Base-URL` survives a restart only on Huawei and Android before 12.5.0
        without an app URL."""
        if self._app_url_given or self.sdk.base_url_reset_at_start:
            self.state.base_url = None

    def _debounced(self, operation: str, payload: object) -> bool:
        """`DebouncingGuard` (14.14.0; Huawei 8.11.0): an identical call within 1 s is dropped."""
        if not self.sdk.debounce:
            return False
        now, digest = self.now(), hash(repr(payload))
        last = self._debounce.get(operation)
        self._debounce[operation] = (now, digest)
        return last is not None and now - last[0] < DEBOUNCE_WINDOW and last[1] == digest

    def _schedule_retry(self, error: SimulatorError, operation: str, args: tuple[Any, ...], attempt: int) -> None:
        """DEFAULT policy: retry 2, 8, 18 s later, only for backend-communication errors."""
        if attempt >= retry.MAX_RETRIES or not retry.is_retryable(error):
            return
        self._retry_at(self.now() + retry.delay(attempt + 1), operation, args, attempt + 1)
        if isinstance(error, ApiError):
            error.will_retry = True

    # -- installation --------------------------------------------------------------------------

    def _create_body(self) -> dict[str, Any]:
        st = self.state
        body = self._system()
        dirty = st.installation_dirty or {}
        body.update({k: dirty[k] for k in ("isPrimary", "regEnabled") if k in dirty})
        body["pushServiceType"] = self.platform.push_service_type
        body["pushServiceToken"] = self.push_token
        return android_order(body)

    def _installation_created(self) -> None:
        st = self.state
        st.system_hash = self._system_now()[1]
        st.set(Flag.PUSH_TYPE_REPORTED)

    def _patch_body(self, explicit: bool, system: Mapping[str, Any]) -> dict[str, Any]:
        """Background syncs send only primary, enabled and the user id; `saveInstallation` all."""
        st = self.state
        keys = INSTALLATION_KEYS if explicit else ("isPrimary", "regEnabled", "applicationUserId")
        dirty = st.installation_dirty or {}
        body = {k: dirty[k] for k in keys if k in dirty}
        if st.token != st.token_acked or not st.has(Flag.PUSH_TYPE_REPORTED):
            body["pushServiceType"] = self.platform.push_service_type
        if st.token != st.token_acked:
            body["pushServiceToken"] = self.push_token
        return body

    def _order_installation(self, body: dict[str, Any]) -> dict[str, Any]:
        return android_order(body)

    def _installation_patch_failed(self) -> None:
        self.state.token_acked = 0  # any PATCH error re-flags the token as unreported

    def _split_sent(self, dirty: dict[str, Any], body: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        sent = {k: v for k, v in dirty.items() if k in body}
        return sent, {k: v for k, v in dirty.items() if k not in body}

    def _may_save_installation(self) -> None:
        self._not_pending()

    # -- NO_REGISTRATION: `handleNoRegistrationError` --------------------------------------------

    def _registration_gone(self, error: RegistrationGoneError, any_status: bool) -> None:
        if not (any_status or not 200 <= error.status < 300):
            return
        if self._syncing:
            self._gone_in_sync = True  # the sync's calls were decided before this answer came
            return
        self._mark_unreported()

    def _mark_unreported(self) -> None:
        """Keep the id, re-send everything, then repersonalize."""
        st = self.state
        st.token_acked = st.system_hash = 0
        st.set(Flag.REPERSONALIZE)
        dirty = dict(st.installation_dirty or {})
        dirty["regEnabled"] = merge(st.installation, dirty).get("regEnabled", True)
        dirty["isPrimary"] = True  # setUnreportedPrimarySetting stores a literal true
        st.installation_dirty = dirty

    # -- user --------------------------------------------------------------------------------

    def _user_patch_body(self) -> dict[str, Any]:
        return dict(self.state.user_dirty or {})  # the accumulated unreported changes

    def _user_rejected(self, error: SimulatorError) -> None:
        if isinstance(error, _INVALID_PARAMETER):
            self.state.user_dirty = None  # setUserDataReportedWithError

    def _personalize_rejected(self, error: SimulatorError, forced: bool) -> None:
        self._user_rejected(error)

    def _repersonalize(self, attempt: int = 0) -> None:
        st = self.state
        body = self._repersonalize_body()
        if body is None:
            # `resetCloudToken(false)`: a no-op right after a sync (`didSyncRecently`), so nothing
            # happens and the flag stays; the PATCH of the next sync carries the token again
            return
        if not st.reg_id or self._debounced("repersonalize", body):
            return
        self._sending("repersonalize", attempt)
        try:
            self._call("repersonalize", body=body)
        except SimulatorError as exc:
            if isinstance(exc, _INVALID_PARAMETER):
                self._no_registration(exc, any_status=False)
                st.user_dirty = None
            self._owe("repersonalize")  # `SHOULD_REPERSONALIZE` stays set: the next sync sends it again
            self._schedule_retry(exc, "_repersonalize", (), attempt)
            raise
        self._acked("repersonalizations")
        st.set(Flag.REPERSONALIZE, False)

    # -- depersonalize -------------------------------------------------------------------------

    def _depersonalize_self(self) -> None:
        st = self.state
        self._wipe_local()
        st.set(Flag.DEPERSONALIZE_PENDING)
        if self._debounced("depersonalize", st.reg_id):
            return
        self._send_depersonalize()
        self._full_sync()  # the re-issued token goes out in the next sync

    def _depersonalized(self) -> None:
        self.state.token += 1  # the SDK deletes and re-issues the cloud token

    def _depersonalizing_other(self) -> None:
        self.state.set(Flag.DEPERSONALIZE_PENDING)  # onDepersonalizeStarted flags this device too

    def _depersonalized_other(self) -> None:
        self.state.set(Flag.DEPERSONALIZE_PENDING, False)
        self.state.token += 1
        self._full_sync()

    # -- sessions: `UserSessionTracker` --------------------------------------------------------

    def _tick(self) -> None:
        st = self.state
        sessions = st.sessions or []
        new_after_previous = ss.android_tick(sessions, self._now_ms())
        st.sessions = sessions
        if new_after_previous:
            self._background(self._report_sessions)

    def _paused(self) -> None:
        if self.state.sessions:
            ss.android_pause(self.state.sessions, self._now_ms())

    def _sessions_to_report(self, now_ms: int) -> tuple[list[str], dict[str, str]] | None:
        return ss.android_report(self.state.sessions or [])

    def _sessions_reported(self, now_ms: int) -> None:
        ss.android_reported(self.state.sessions or [])

    # -- depersonalize: `MobileMessagingCore.depersonalizeCurrentInstallation` -----------------

    def _wiped_installation(self, name: str, values: dict[str, Any]) -> None:
        if name == "installation_dirty":
            values.pop("isPrimary", None)  # `IS_PRIMARY_UNREPORTED` is cleared; the stored value stays

    def _wiped(self) -> None:
        """The message store, the `mIDs` archive, the delivery and seen ids not yet reported."""
        self.state.messages = None
        self._forgive("deliveries", "seen")

    # -- custom events: `BatchReporter` ----------------------------------------------------------

    def _check_event(self, definition_id: str, validate: bool) -> bool:
        """A blank definitionId: the batched `submitEvent` drops it silently
        (`createCustomEventRequest` returns null); the one with a listener answers an error."""
        if definition_id.strip():
            return True
        if not validate:
            return False
        if not definition_id:
            raise ClientValidationError("REQUEST_FORMAT_INVALID", "Definition ID needs to be provided")
        raise ClientValidationError("ERROR_SAVING_EMPTY_OBJECT", "definitionId is blank")

    def _may_send_event(self) -> None:
        self._not_pending()

    def _batch_events(self) -> None:
        """At most one run per 5 s: now if the last run is 5 s old, else at last run + 5 s."""
        now = self.now()
        if now - self._batch_last_run >= ev.ANDROID_BATCH_DELAY:
            self._batch_last_run = now
            self._background(self._flush_events)
        else:
            self._due["events"] = self._batch_last_run + ev.ANDROID_BATCH_DELAY

    def _events_timer(self) -> None:
        self._batch_last_run = self.now()
        self._flush_events()

    # -- messages: `MobileMessageHandler`, `MessagesSynchronizer`, `SeenStatusReporter` ----------

    def _push_arrived(self, message: Message, payload: Any) -> bool:
        """Dropped with push registration disabled or a logout pending, or when the archive holds
        the id; else stored, shown unless silent, and `setMessagesDelivered` starts a sync."""
        if self._messages_suspended() or self._archived(message.message_id):
            return False
        self._store(message, 0 if message.silent else M.SHOWN)
        self._full_sync()  # sync(required): bypasses the lazy and foreground throttles
        return True

    def _archived(self, message_id: str) -> bool:
        entry = inbox.find(self.state.messages, message_id)
        return entry is not None and self._now_ms() - entry[1] <= inbox.ARCHIVE_MS

    def _sync_messages_body(self) -> tuple[dict[str, Any] | None, list[str]]:
        """``mIDs``: the archive (7 days, the newest 100); ``drIDs``: what is not reported yet.
        Empty arrays are left out, and with both empty there is no body at all."""
        now_ms = self._now_ms()
        entries = self.state.messages or []
        archive = [e[0] for e in entries if now_ms - e[1] <= inbox.ARCHIVE_MS][-ARCHIVE_LIMIT:]
        reporting = [e[0] for e in entries if not e[3] & M.REPORTED]
        body: dict[str, Any] = {}
        if archive:
            body["mIDs"] = archive
        if reporting:
            body["drIDs"] = reporting
        return (body or None), reporting

    def _skip_messages_sync(self, reporting: bool) -> bool:
        """`SYNC_MSGS_THROTTLE_INTERVAL_MILLIS`: without delivery ids, at most one sync a second."""
        now = self.now()
        if not reporting and now - self._last_messages_sync < MESSAGES_SYNC_THROTTLE:
            return True
        self._last_messages_sync = now
        return False

    def _sync_answer(self, payloads: list[Any], iteration: int) -> None:
        """Each message of the answer goes the way of a push: stored, shown, its delivery reported."""
        for payload in payloads:
            message = parse_sync_payload(self.platform, payload)
            if message is not None and self._push_arrived(message, payload):
                self._acked("messages_synced")

    def _seen_delta(self, now_ms: int, seen_ms: int) -> int:
        return round((now_ms - seen_ms) / 1000)  # Math.round(delta / 1000f)

    def _seen_marked(self, immediately: bool) -> None:
        self._lazy_sync()

    def _lazy_sync(self) -> None:
        """`lazySync`: a sync unless one ran less than 5 s ago (then the next sync carries it)."""
        if self.now() - self._last_sync >= LAZY_SYNC_THROTTLE:
            self._full_sync()

    def _batch_seen(self) -> None:
        """`BatchReporter`: now if the last seen report is 5 s old, else at last + 5 s."""
        now = self.now()
        if now - self._seen_last_run >= ev.ANDROID_BATCH_DELAY:
            self._seen_last_run = now
            self._background(self._report_seen)
        else:
            self._due["seen"] = self._seen_last_run + ev.ANDROID_BATCH_DELAY

    def _seen_timer(self) -> None:
        self._seen_last_run = self.now()
        self._report_seen()

    def _timer_job(self, name: str) -> Callable[[], Any]:
        return self._seen_timer if name == "seen" else super()._timer_job(name)

    def _opened(self, message_id: str) -> None:
        """`NotificationTapReceiverActivity`: seen (`markSeenOnTap`, on by default), then the app's
        activity starts: a foreground with its session and sync."""
        if self._mark_seen((message_id,)):
            self._seen_marked(immediately=True)
        self.foreground()

    # -- whole syncs: `performSyncActions` -------------------------------------------------------

    def _full_sync(self, *, foreground: bool = False) -> None:
        """`MobileMessagingCore.sync`: the base-URL check, the sessions, then `performSyncActions`:
        a pending depersonalize, the installation, then (unless still pending) user, messages,
        seen. A first registration sends the create alone: it runs on the executor, and the calls
        after it found no registration id when they were decided."""
        st = self.state
        self._last_sync = self.now()
        registered = st.reg_id is not None
        outer = not self._syncing  # a sync started by one of this sync's answers runs within it
        self._syncing = True
        try:
            self._background(self._check_base_url)
            self._background(self._report_sessions)
            if registered and st.has(Flag.DEPERSONALIZE_PENDING):
                self._background(self._send_depersonalize)
            self._background(self._sync_installation)
            if not registered or st.has(Flag.DEPERSONALIZE_PENDING):
                return
            self._background(self._repersonalize if st.has(Flag.REPERSONALIZE) else self._sync_user)
            self._background(self._sync_messages)
            self._background(self._batch_seen)
        finally:
            if outer:
                self._syncing = False
                if self._gone_in_sync:  # `handleNoRegistrationError`'s flags act on the next sync
                    self._gone_in_sync = False
                    self._mark_unreported()

    def _foreground_syncs(self, *, cold: bool) -> None:
        """`APPLICATION_FOREGROUND` first: `foregroundSync` (skipped within 10 s of the last one or
        5 s of any sync), then the session tracker's tick, which may start a new session and report
        again: an unreported start then goes out before the new one."""
        now = self.now()
        throttled = (
            now - self._last_foreground_sync < FOREGROUND_SYNC_THROTTLE or now - self._last_sync < LAZY_SYNC_THROTTLE
        )
        if cold or not throttled:
            self._last_foreground_sync = now
            self._full_sync(foreground=True)
        self._tick()

    def _token_refreshed(self) -> None:
        self._full_sync()
