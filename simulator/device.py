"""`VirtualDevice`: one install of an app embedding the Mobile Messaging SDK, driven like an app.

    >>> clock = VirtualClock()
    >>> device = VirtualDevice.create("android", "APP-CODE", seed=7, transport=client, clock=clock)
    >>> device.start()                      # launch into the foreground: registers
    >>> device.personalize({"externalUserId": "u-1"}, {"firstName": "Ana"})
    >>> device.submit_event("purchase", {"amount": 12.5})
    >>> device.advance(10)                  # heartbeats, the batch reporter, retries
    >>> device.background()
    >>> blob = device.park()                # ~200 bytes; VirtualDevice.resume(blob, ...) later

Public calls raise what the SDK would hand the app (`simulator.errors`); work the SDK does on its
own (syncs, timers, retries) keeps its last error in `last_error`.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

import httpx

from contract import limits
from contract.dialect import Platform
from contract.messages import parse_push, route_bytes

from . import inbox
from .clock import Clock, RealClock
from .core import AppConfig
from .errors import (
    ClientValidationError,
    DepersonalizationInProgressError,
    NoRegistrationError,
    RegistrationGoneError,
    SimulatorError,
    UsageError,
)
from .events import event_body as _event_body
from .events import stored_event
from .inbox import M
from .messaging import MessageFlows
from .state import DeviceState, Flag
from .transport import Transport, as_transport
from .userdata import (
    ATTRIBUTE_KEYS,
    IDENTITY_KEYS,
    accumulate,
    merge,
    personalize_body,
    to_wire_installation,
    to_wire_user,
    validate_user,
)

__all__ = ["VirtualDevice"]

_CLASSES: dict[Platform, type[VirtualDevice]] = {}


class VirtualDevice(MessageFlows):
    """A phone with the app installed: the SDK's public API, its traffic, its persistent state.

    `create` and `resume` return the class of the device's SDK line (`simulator.platforms`):
    `IosDevice`, `AndroidDevice` or `HuaweiDevice`. This class is the state machine they share.
    """

    PLATFORM: Platform | None = None
    """The platform whose SDK the class models (set by each class of `simulator.platforms`)."""
    KEYCHAIN = False
    """The registration id survives an uninstall (the iOS keychain)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("PLATFORM") is not None:
            _CLASSES[cls.PLATFORM] = cls  # type: ignore[index]

    def __new__(cls, state: DeviceState, *args: Any, **kwargs: Any) -> VirtualDevice:
        if cls.PLATFORM is state.platform:
            return super().__new__(cls)
        if cls.PLATFORM is not None:
            raise UsageError(f"{cls.__name__} models {cls.PLATFORM.value}, not {state.platform.value}")
        return super().__new__(_CLASSES[state.platform])

    @classmethod
    def create(
        cls,
        platform: Platform | str,
        app: AppConfig | str,
        *,
        seed: int | None = None,
        transport: Transport | httpx.Client | None = None,
        clock: Clock | None = None,
        tablet: bool = False,
        route: int = 0,
    ) -> VirtualDevice:
        """A freshly installed app, not launched yet. Same seed (and `tablet`), same device and ids.

        ``route`` (1 to 2**32 - 1) places the device in a population: its push tokens carry it, so
        the simulated push provider of the reference server can hand it its pushes."""
        config = app if isinstance(app, AppConfig) else AppConfig(app)
        state = DeviceState(Platform(platform), secrets.randbits(48) if seed is None else seed)
        state.set(Flag.TABLET, tablet)
        if route:
            route_bytes(route)  # raises ValueError when out of range
            state.route = route
        return cls(state, config, as_transport(transport), clock or RealClock())

    @classmethod
    def resume(
        cls,
        blob: bytes | str,
        app: AppConfig | str,
        *,
        transport: Transport | httpx.Client | None = None,
        clock: Clock | None = None,
    ) -> VirtualDevice:
        """Rebuild a parked device (any process). Timers and in-flight retries are not parked."""
        config = app if isinstance(app, AppConfig) else AppConfig(app)
        device = cls(DeviceState.unpack(blob), config, as_transport(transport), clock or RealClock())
        if device.state.has(Flag.FOREGROUND):
            device._alive = True
            device._due["tick"] = device.now()
        return device

    def park(self) -> bytes:
        """The persistent state as compact bytes (see `DeviceState.pack`)."""
        return self.state.pack()

    # -- views -------------------------------------------------------------------------------

    @property
    def reg_id(self) -> str | None:
        """The push registration id the server assigned, or None."""
        return self.state.reg_id

    @property
    def foreground_now(self) -> bool:
        return self.state.has(Flag.FOREGROUND)

    @property
    def depersonalize_pending(self) -> bool:
        """A logout (depersonalize) the server has not acknowledged yet: the SDK holds user calls."""
        return self.state.has(Flag.DEPERSONALIZE_PENDING)

    @property
    def uninstalled(self) -> bool:
        """The app is not installed (``uninstall()``); ``reinstall()`` brings it back."""
        return self.state.has(Flag.UNINSTALLED)

    @property
    def session_start(self) -> float | None:
        """When the SDK's current (or last) session started, epoch seconds; None before the first."""
        sessions = self.state.sessions
        return sessions[-1][0] / 1000 if sessions else None

    @property
    def tablet(self) -> bool:
        """A tablet rather than a phone (chosen at `create`, kept across park and reinstall)."""
        return self.state.has(Flag.TABLET)

    @property
    def user(self) -> dict[str, Any]:
        """The user as the app sees it: acknowledged data with unreported changes on top."""
        return merge(self.state.user, self.state.user_dirty)

    @property
    def installation(self) -> dict[str, Any]:
        """App-set installation fields (isPrimary, regEnabled, applicationUserId, customAttributes)."""
        return merge(self.state.installation, self.state.installation_dirty)

    def system_data(self) -> dict[str, Any]:
        """The system data this device reports now."""
        return self._system()

    # -- lifecycle ---------------------------------------------------------------------------

    def _installed(self) -> None:
        if self.state.has(Flag.UNINSTALLED):
            raise UsageError("the app is uninstalled; call reinstall() first")

    def start(self) -> None:
        """Launch the app into the foreground (cold start): cloud token, registration, syncs."""
        self._installed()
        self.state.token = self.state.token or 1
        self._alive = True
        self._process_started()
        self._enter_foreground(cold=True)

    def _process_started(self) -> None:
        """What the SDK does when the app's process starts, before any request."""

    def foreground(self) -> None:
        """Bring the app back to the foreground (a cold start if the process is gone)."""
        self._installed()
        if not self._alive:
            self.start()
        elif not self.state.has(Flag.FOREGROUND):
            self._enter_foreground(cold=False)

    TIMER_RESUMES = False
    """True: the session timer is suspended in the background and, back in the foreground, fires at
    once if it came due meanwhile (iOS's dispatch timer); False: it starts again 5 s after the
    foreground (Android's tracker, which ticks at the resume itself)."""

    def _enter_foreground(self, *, cold: bool) -> None:
        st = self.state
        st.set(Flag.FOREGROUND)
        due = self.now() + 5.0
        if not cold and self.TIMER_RESUMES and self._suspended_tick is not None:
            due = max(self.now(), self._suspended_tick)
        self._due["tick"] = due
        self._foreground_syncs(cold=cold)
        if due <= self.now():  # the resumed timer fires at once, after the foreground's syncs
            self._due.pop("tick", None)
            self._background(self._heartbeat)

    def _foreground_syncs(self, *, cold: bool) -> None:
        """What the SDK sends when the app comes to the foreground."""
        raise NotImplementedError

    def background(self) -> None:
        """Send the app to the background (session end recorded, heartbeat stops)."""
        st = self.state
        if not st.has(Flag.FOREGROUND):
            return
        st.set(Flag.FOREGROUND, False)
        self._suspended_tick = self._due.pop("tick", None)
        self._paused()

    def _paused(self) -> None:
        """The session tracker saw the app leave the foreground."""

    def sync(self) -> None:
        """A sync the SDK runs by itself (a push arrived, the network came back)."""
        self._installed()
        self._full_sync()

    def _kill_process(self) -> None:
        self.background()
        self._cancel_timers()
        self._alive = False
        self._process_ended()

    def _process_ended(self) -> None:
        """Forget what the SDK keeps only in memory (throttles, guards)."""

    def update_app(self, app_version: str, sdk_version: str | None = None) -> None:
        """Install an app update: the process ends; the next start reports the new system data."""
        self._installed()
        self._kill_process()
        self.state.app_version, self.state.sdk_version = app_version, sdk_version
        self._refresh_profile()

    def update_os(self, os_version: str) -> None:
        """The phone's OS was upgraded (the process ends)."""
        self._kill_process()
        self.state.os_version = os_version
        self._refresh_profile()

    def uninstall(self) -> None:
        """Remove the app. Nothing is sent; only the iOS keychain survives."""
        self._kill_process()
        old = self.state
        fresh = DeviceState(old.platform, old.seed)
        fresh.install = old.install
        fresh.app_version, fresh.sdk_version, fresh.os_version = old.app_version, old.sdk_version, old.os_version
        fresh.keychain_reg_id = old.keychain_reg_id if self.KEYCHAIN else None
        fresh.set(Flag.UNINSTALLED)
        fresh.set(Flag.TABLET, old.has(Flag.TABLET))
        self.state = fresh

    def reinstall(self) -> None:
        """Uninstall (if needed) and install again: new installation id and token; call `start()`."""
        if not self.state.has(Flag.UNINSTALLED):
            self.uninstall()
        self.state.install += 1
        self.state.set(Flag.UNINSTALLED, False)
        self._refresh_profile()

    def refresh_token(self) -> None:
        """The push service issued a new cloud token."""
        self._installed()
        self.state.token += 1
        if self._alive:
            self._token_refreshed()

    def _token_refreshed(self) -> None:
        """What the running SDK sends after the push service issued a new token."""
        raise NotImplementedError

    def set_notifications_enabled(self, enabled: bool) -> None:
        """The user changed the notification permission; the next sync reports it."""
        self.state.set(Flag.NOTIFICATIONS_OFF, not enabled)

    # -- user --------------------------------------------------------------------------------

    def _registered(self) -> str:
        self._installed()
        if not self.state.reg_id:
            raise NoRegistrationError("no push registration yet: start() the app first")
        return self.state.reg_id

    def _not_pending(self) -> None:
        if self.state.has(Flag.DEPERSONALIZE_PENDING):
            raise DepersonalizationInProgressError("a depersonalize is pending")

    def personalize(
        self,
        identity: Mapping[str, Any],
        attributes: Mapping[str, Any] | None = None,
        *,
        force_depersonalize: bool = False,
        keep_as_lead: bool = False,
        set_as_primary: bool = False,
    ) -> dict[str, Any]:
        """Attach this installation to a person; returns the user as the SDK then holds it (the
        server's answer, with `instances`; SDK versions that ignore the answer: what was sent).

        ``keep_as_lead`` and ``set_as_primary`` exist from the SDK versions that added them
        (`simulator.sdk_features`); asking an older SDK for one is a `UsageError` (its app could not)."""
        self._registered()
        sdk = self.sdk
        for asked, has, name in ((keep_as_lead, sdk.keep_as_lead, "keepAsLead"),
                                 (set_as_primary, sdk.set_device_as_primary, "setDeviceAsPrimary")):  # fmt: skip
            if asked and not has:
                raise UsageError(
                    f"this device's {self.platform} SDK {self.profile.sdk_version} has no personalize option "
                    f"{name} (docs/reference/versions.md); "
                    + ("call set_primary() after personalize" if name == "setDeviceAsPrimary" else "leave it out")
                )
        ident, attrs = to_wire_user(identity), to_wire_user(attributes or {})
        if set(ident) - set(IDENTITY_KEYS) or set(attrs) - set(ATTRIBUTE_KEYS):
            raise UsageError(f"identity takes {IDENTITY_KEYS}; attributes take {ATTRIBUTE_KEYS}")
        if force_depersonalize:
            self._wipe_local()
        if not any(ident.get(k) for k in IDENTITY_KEYS):
            raise ClientValidationError("USER_IDENTITY_INVALID", "personalize needs an externalUserId, phone or email")
        if sdk.validates_user:
            validate_user({**ident, **attrs})
        body = personalize_body(ident, attrs)
        flags = {"forceDepersonalize": force_depersonalize,
                 "keepAsLead": keep_as_lead if sdk.keep_as_lead else None,
                 "setDeviceAsPrimary": set_as_primary if sdk.set_device_as_primary else None}  # fmt: skip
        if self._debounced("personalize", (body, flags)):
            return self.user
        return self._personalize(body, flags)

    def _personalize(self, body: dict[str, Any], flags: dict[str, bool | None], attempt: int = 0) -> dict[str, Any]:
        self._sending("personalize", attempt)  # never kept for later: only a retry is a re-send
        try:
            data = self._call("personalize", flags=flags, body=body)
        except SimulatorError as exc:
            self._personalize_failed(exc, bool(flags["forceDepersonalize"]))
            self._schedule_retry(exc, "_personalize", (body, flags), attempt)
            raise
        self._acked("personalizations")
        self.state.user_dirty = None
        if not self.sdk.stores_personalize_answer:
            # Android before 14.7.2, Huawei before 8.11.0: `setUserDataReported(new User(identity,
            # attributes))`, the request as reported; the answer is not read.
            self.state.user = {**body["userIdentity"], **body.get("userAttributes", {})} or None
            return self.user
        user = data if isinstance(data, dict) else {}
        self._store_user(user)
        return user

    def _personalize_failed(self, error: SimulatorError, forced: bool) -> None:
        self._no_registration(error)
        if not isinstance(error, RegistrationGoneError):
            self._personalize_rejected(error, forced)

    def _personalize_rejected(self, error: SimulatorError, forced: bool) -> None:
        """What the SDK keeps of a personalize the server refused."""
        raise NotImplementedError

    def depersonalize(self) -> None:
        """Detach this installation from its person (local data wiped first; pending until acknowledged)."""
        self._registered()
        self._depersonalize_self()

    def _depersonalize_self(self) -> None:
        raise NotImplementedError

    def depersonalize_installation(self, reg_id: str) -> None:
        """Log out another installation of the same person (remote logout)."""
        own = self._registered()
        if reg_id == own:
            raise UsageError("depersonalize_installation() is for other installations; use depersonalize()")
        if self._debounced("depersonalize_by_id", reg_id):
            return
        self._depersonalizing_other()
        self._depersonalize_other(reg_id)

    def _depersonalizing_other(self) -> None:
        """What the SDK marks on this device before it logs out another one."""

    def _depersonalize_other(self, reg_id: str, attempt: int = 0) -> None:
        self._sending("depersonalize", attempt, owed=False)  # the own pending one is another request
        try:
            self._call("depersonalize", target=reg_id)
        except SimulatorError as exc:
            if self.state.has(Flag.DEPERSONALIZE_PENDING):
                self._owe("depersonalize")  # Android: the next sync replays a depersonalize
            self._schedule_retry(exc, "_depersonalize_other", (reg_id,), attempt)
            raise
        self._acked("depersonalizations")
        self._depersonalized_other()

    def _depersonalized_other(self) -> None:
        """What the SDK does after another installation was logged out."""

    def save_user(self, user: Mapping[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
        """Change user fields (`None` deletes); sends the accumulated unreported delta."""
        self._installed()
        values = to_wire_user({**(user or {}), **fields})
        if self.sdk.validates_user:
            validate_user(values)
        st = self.state
        st.user_dirty = accumulate(st.user_dirty, values)
        self._registered()
        self._not_pending()
        body = self._user_patch_body()
        if not body:
            st.user_dirty = None
            return self.user
        if self._debounced("patch_user", body):
            return self.user
        self._sending("user")
        try:
            self._call("patch_user", body=body)
        except SimulatorError as exc:
            self._user_patch_failed(exc)
            raise
        self._acked("user_updates")
        self._user_patched()
        return self.user

    def fetch_user(self) -> dict[str, Any]:
        """GET the user with all its installations."""
        self._registered()
        self._not_pending()
        if self._debounced("fetch_user", None):
            return self.user
        try:
            data = self._call("get_user")
        except SimulatorError as exc:
            self._no_registration(exc)
            raise
        user = data if isinstance(data, dict) else {}
        self._store_user(user)
        self.state.set(Flag.REPERSONALIZE, False)
        return user

    # -- installation --------------------------------------------------------------------------

    def save_installation(self, **fields: Any) -> dict[str, Any]:
        """Change `customAttributes`, `isPrimary`, `regEnabled`, `applicationUserId`; PATCH them."""
        self._installed()
        values = to_wire_installation(fields)
        if values.get("customAttributes"):
            try:
                limits.validate_custom_attributes(values["customAttributes"])
            except limits.LimitViolation as exc:
                raise ClientValidationError(str(exc.code), exc.text) from None
        self.state.installation_dirty = accumulate(self.state.installation_dirty, values)
        self._registered()
        self._may_save_installation()
        self._patch_installation(explicit=True)
        return self.installation

    def fetch_installation(self) -> dict[str, Any]:
        self._registered()
        try:
            data = self._call("get_installation")
        except SimulatorError as exc:
            self._no_registration(exc, any_status=False)
            raise
        found = data if isinstance(data, dict) else {}
        keys = ("isPrimary", "regEnabled", "applicationUserId", "customAttributes")
        self.state.installation = merge(self.state.installation, {k: found[k] for k in keys if k in found}) or None
        self.state.set(Flag.REPERSONALIZE, False)
        return found

    def set_primary(self, reg_id: str | None = None, primary: bool = True) -> None:
        """Mark an installation of this person primary (this one when `reg_id` is None)."""
        own = self._registered()
        if reg_id is None or reg_id == own:
            self.save_installation(isPrimary=primary)
            return
        try:
            self._call("patch_installation", target=reg_id, body={"isPrimary": primary})
        except SimulatorError as exc:
            self._installation_patch_failed()
            self._no_registration(exc)  # both SDKs read it as their own registration gone
            raise

    # -- events ------------------------------------------------------------------------------

    def submit_event(
        self, definition_id: str, properties: Mapping[str, Any] | None = None, *, validate: bool = False
    ) -> None:
        """A custom event: batched (`validate=False`) or sent at once for the server's verdict."""
        self._installed()
        if not self._check_event(definition_id, validate):
            return
        st = self.state
        event = stored_event(definition_id, properties, self.now())
        if validate:
            self._may_send_event()
            self._registered()
            try:
                self._call("custom_events", flags={"validate": True}, body=_event_body([event]))
            except SimulatorError as exc:
                self._no_registration(exc)
                raise
            self._acked("events")
            return
        self._may_store_event()
        st.events = [*(st.events or []), event]
        self._batch_events()

    # -- messages ----------------------------------------------------------------------------

    def receive_push(self, payload: Any) -> str | None:
        """The push service (FCM, HMS or APNs) hands the app ``payload`` in the platform's shape
        (`contract.messages.push_payload`); the app is woken if it is not running.

        Returns the message id when the SDK took the message (it is stored, its delivery reported,
        a notification shown unless silent); None when the SDK dropped it: a payload it cannot read,
        a message it already has, push registration disabled, a logout pending, the app uninstalled.
        """
        st = self.state
        if st.has(Flag.UNINSTALLED) or not st.token:
            return None  # the token is gone with the app: the push service has nothing to hand over
        message = parse_push(self.platform, payload)
        if message is None or not self._push_arrived(message, payload):
            return None
        return message.message_id  # the device took it: no target acknowledged anything (yet)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The messages the SDK holds, oldest first: id, times, and what happened to each."""
        out = []
        for message_id, received_ms, sent_ms, bits, seen_ms in self.state.messages or ():
            out.append({
                "messageId": message_id,
                "receivedAt": received_ms / 1000,
                "sentAt": sent_ms / 1000 if sent_ms else None,
                "silent": bool(bits & M.SILENT),
                "deliveryReported": bool(bits & M.REPORTED),
                "notification": bool(bits & M.SHOWN),
                "tapped": bool(bits & M.TAPPED),
                "seenAt": seen_ms / 1000 if bits & M.SEEN else None,
                "seenReported": bool(bits & M.SEEN_SENT),
            })  # fmt: skip
        return out

    @property
    def notifications(self) -> list[str]:
        """Ids of the notifications on screen (shown and not tapped), oldest first."""
        return [e[0] for e in self.state.messages or () if e[3] & M.SHOWN]

    def tap(self, message_id: str | None = None) -> str | None:
        """The user taps a notification (the newest when ``message_id`` is None): the app opens
        (a cold start when it is not running) and the SDK marks the message seen. Returns the
        tapped message id, or None when there is no such notification."""
        self._installed()
        shown = self.notifications
        if not shown or (message_id is not None and message_id not in shown):
            return None
        chosen = message_id or shown[-1]
        entry = inbox.find(self.state.messages, chosen)
        assert entry is not None
        inbox.set_flag(entry, M.SHOWN, False)
        inbox.set_flag(entry, M.TAPPED)
        self._opened(chosen)
        return chosen

    def set_seen(self, *message_ids: str) -> None:
        """The app marks messages seen (`setMessagesSeen` / `setSeen`); the SDK reports them later."""
        self._installed()
        if self._take_seen() and self._mark_seen(message_ids):
            self._seen_marked(immediately=False)

    def send_mo(
        self, text: str, destination: str | None = None, custom_payload: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Send a mobile-originated message (`sendMessages`: no retry); returns the server's answer."""
        self._registered()
        self._may_send_mo()
        data = self._call("send_mo", body=self._mo_body(destination, text, custom_payload))
        self._acked("mo")
        return data if isinstance(data, dict) else {}

    def _opened(self, message_id: str) -> None:
        """What the SDK and the app do after a tap on ``message_id``."""
        raise NotImplementedError

    def _take_seen(self) -> bool:
        """Whether the SDK records seen marks now."""
        return True

    def _may_send_mo(self) -> None:
        """Raise what the SDK answers an MO it would not send now."""

    # -- what each SDK refuses before it sends -----------------------------------------------

    def _may_save_installation(self) -> None:
        """Raise what the SDK answers `saveInstallation` with when it would not send."""

    def _check_event(self, definition_id: str, validate: bool) -> bool:
        """Raise what the SDK answers an event it refuses to take; False: it drops it silently."""
        return True

    def _may_send_event(self) -> None:
        """Raise what the SDK answers a validated event it would not send now."""

    def _may_store_event(self) -> None:
        """Raise what the SDK answers a batched event it would not store."""
