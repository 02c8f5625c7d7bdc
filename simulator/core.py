"""The device core: identity, headers, one request in the device's dialect, timers and retries.

`DeviceCore` turns an endpoint name plus a body into the exact request its SDK sends (through
`contract`), hands it to the injected transport, applies the response-side rules every call
shares (`New-Base-URL`, error decoding) and keeps the clock-driven timers. It never opens a
socket. What differs per SDK (headers, JSON encoding, retries, the base-URL reset) is a hook that
each platform's class in `simulator.platforms` fills in.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from contract import headers as h
from contract.endpoints import endpoint
from contract.formats import app_code_hash

from .catalog import Profile, profile_for
from .clock import Clock, VirtualClock
from .codec import decode_reply
from .errors import ClientValidationError, RegistrationGoneError, SimulatorError, UsageError, api_error
from .jwt import JWT_ENDPOINTS, jwt_problem
from .outcomes import UNSENT_BITS, Observer
from .sdk_features import SdkFeatures, features
from .state import DeviceState, Flag
from .systemdata import user_agent
from .tokens import installation_id, push_token
from .transport import Outgoing, Transport
from .userdata import merge

__all__ = ["DEFAULT_BASE_URL", "AppConfig", "DeviceCore"]

DEFAULT_BASE_URL = "https://mobile.infobip.com"

IDENTITY_CACHE_SIZE = 16_384
"""Identities (a device's profile, SDK features and constant headers) kept for the next resume of the
same install: parking and waking a device would otherwise derive them again each session."""
_Identity = tuple[Profile, SdkFeatures, MappingProxyType[str, str], dict[tuple[bool, str], tuple[dict[str, Any], int]]]
_IDENTITIES: OrderedDict[tuple[Any, ...], _Identity] = OrderedDict()


@dataclass(frozen=True, slots=True)
class AppConfig:
    """What every device of one app shares (not stored per device)."""

    app_code: str
    base_url: str = DEFAULT_BASE_URL
    """The SDK's default base URL; point it at the reference server."""
    bundle_id: str = "com.infobip.mobsim.demo"
    """iOS bundle id in the User-Agent."""
    app_name: str = "Mobsim Demo"
    """Android application label in the User-Agent."""
    sync_messages: bool = True
    """Send the messages sync (`POST /mobile/5/messages`) the SDKs send on each sync."""
    honour_new_base_url: bool = True
    """False: ignore `New-Base-URL` whatever the SDK would do (mobsim's own switch, for the
    conformance probe, which must stay on its target). An app that points the SDK at a backend of
    its own (any ``base_url`` but :data:`DEFAULT_BASE_URL`) is an app that gave the SDK its API URL
    (Android's ``withApiUri``, iOS's ``backendBaseURL``); what each SDK version then does with the
    header is the platform's rule (docs/device.md, "The app's URL")."""
    jwt: Callable[[str | None], str | None] | None = field(default=None, compare=False, repr=False)
    """The app's `JwtSupplier`: given the externalUserId a user call is for (None if the SDK knows
    none), a JWT or None (`App <code>` then). SDK versions with JWT support send it as ``Bearer``
    on personalize, the user GET and PATCH, and (Android) repersonalize (`simulator.jwt`)."""
    observer: Observer | None = field(default=None, compare=False, repr=False)
    """Told of every acknowledgement a target gave (`simulator.outcomes`): `observer(kind, n)`."""
    resends: Observer | None = field(default=None, compare=False, repr=False)
    """Told of every request that carries again what a failed one carried (`simulator.outcomes`,
    `RESEND_KINDS`): `resends(kind, 1)`."""
    app_code_hash: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "app_code_hash", app_code_hash(self.app_code))
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))


class DeviceCore:
    """Request plumbing and timers shared by the platform flows."""

    def __init__(self, state: DeviceState, config: AppConfig, transport: Transport, clock: Clock) -> None:
        self.state = state
        self.config = config
        self.transport = transport
        self.clock = clock
        self.platform = state.platform
        self.dialect = state.platform.dialect
        self.last_error: SimulatorError | None = None
        """The last error of background work (syncs, timers, retries) that reached no caller."""
        self._due: dict[str, float] = {}
        self._retries: list[tuple[float, str, tuple[Any, ...], int]] = []
        self._alive = False
        self._suspended_tick: float | None = None
        """When the session timer was next due as the app left the foreground."""
        self._refresh_profile()

    # -- identity --------------------------------------------------------------------------

    def _refresh_profile(self) -> None:
        st, config = self.state, self.config
        key = (type(self), st.platform, st.seed, st.flags & Flag.TABLET, st.install, st.app_version, st.sdk_version,
               st.os_version, config.app_code, config.app_name, config.bundle_id)  # fmt: skip
        known = _IDENTITIES.get(key)
        if known is None:
            known = _IDENTITIES[key] = self._identity()
            while len(_IDENTITIES) > IDENTITY_CACHE_SIZE:
                _IDENTITIES.popitem(last=False)  # the least recently used
        else:
            _IDENTITIES.move_to_end(key)
        self.profile: Profile = known[0]
        self.sdk: SdkFeatures = known[1]
        """What the claimed SDK version does (`simulator.sdk_features`)."""
        self._static_headers: MappingProxyType[str, str] = known[2]
        """The headers every request of this install carries (read-only: shared by the devices of
        one identity; a request's headers start as a copy)."""
        self._system_cache: dict[tuple[bool, str], tuple[dict[str, Any], int]] = known[3]
        """The identity's system data and its hash by (notifications enabled, timezone offset), the
        only inputs that change (`SyncFlows._system_now`); shared, read-only."""

    def _identity(self) -> _Identity:
        """The profile, SDK features and constant headers that the state's identity stands for, and
        an empty cache of its system data."""
        st = self.state
        profile = profile_for(st.platform, st.seed, tablet=st.has(Flag.TABLET))
        if st.app_version:
            profile = profile.with_app(st.app_version, st.sdk_version)
        if st.os_version:
            profile = profile.with_os(st.os_version)
        static = {
            h.AUTHORIZATION: h.app_authorization(self.config.app_code),
            h.APPLICATION_CODE: self.config.app_code_hash,
            h.USER_AGENT: user_agent(profile, self.config.app_name, self.config.bundle_id),
            h.INSTALLATION_ID: installation_id(st.seed, st.install),
            h.ACCEPT: "application/json",
        }
        static.update(self._client_headers(profile))
        return profile, features(st.platform, profile.sdk_version), MappingProxyType(static), {}

    @property
    def push_token(self) -> str | None:
        st = self.state
        return push_token(st.platform, st.seed, st.install, st.token, st.route) if st.token else None

    @property
    def installation_id(self) -> str:
        return self._static_headers[h.INSTALLATION_ID]

    @property
    def base_url(self) -> str:
        return self.state.base_url or self.config.base_url

    @property
    def _app_url_given(self) -> bool:
        """The app gave the SDK its API URL (anything but the SDK's default)."""
        return self.config.base_url != DEFAULT_BASE_URL

    def now(self) -> float:
        return self.clock.now()

    def _now_ms(self) -> int:
        return int(self.clock.now() * 1000)

    # -- one request -----------------------------------------------------------------------

    # -- what each SDK's HTTP client does differently (filled in by `simulator.platforms`) ------

    READS_VOID_BODIES = True
    """False: the SDK never reads the body of a void endpoint, nor an error body without a length."""

    def _client_headers(self, profile: Profile) -> dict[str, str]:
        """Headers the platform's HTTP client adds to every request."""
        raise NotImplementedError

    def _body_headers(self, out: dict[str, str]) -> None:
        """Headers added only to requests that carry a body."""

    def _session_header_start(self) -> int | None:
        """The start (epoch ms) the `sessionId` header names now, or None for no header."""
        raise NotImplementedError

    def _encode(self, body: dict[str, Any], method: str) -> bytes:
        """The body as the SDK's JSON library writes it."""
        raise NotImplementedError

    def _client_retries_stale(self, method: str) -> bool:
        """Whether the platform's HTTP client sends a ``method`` request again, once, when a reused
        connection broke before any answer (`Outgoing.retry_stale`)."""
        raise NotImplementedError

    def _headers(self, has_body: bool) -> dict[str, str]:
        st = self.state
        out = self._static_headers.copy()
        if st.reg_id:
            out[h.PUSH_REGISTRATION_ID] = st.reg_id
        out[h.FOREGROUND] = "true" if st.flags & Flag.FOREGROUND else "false"
        if st.reg_id:
            start = self._session_header_start()
            if start is not None:
                out[h.SESSION_ID] = f"{st.reg_id}_{start}"
        if has_body:
            self._body_headers(out)
        return out

    def _call(
        self,
        name: str,
        *,
        target: str | None = None,
        flags: Mapping[str, bool | None] | None = None,
        body: dict[str, Any] | None = None,
        require: str | None = None,
    ) -> Any:
        """Send one Mobile API request; return the parsed body or raise a `SimulatorError`."""
        ep = endpoint(name)
        params = {"pushRegId": target or self.state.reg_id or ""} if "{" in ep.template else None
        wire = ep.build(self.dialect, path_params=params, flags=flags, body=body)
        content = None if body is None else self._encode(body, ep.method)
        headers = self._headers(content is not None)
        if wire.headers:
            headers.update(wire.headers)
        if name in JWT_ENDPOINTS and self.config.jwt is not None and self.sdk.jwt:
            self._authorize_user_call(headers, body)
        request = Outgoing(wire.method, self.base_url + wire.target, headers, content, wire,
                           retry_stale=self._client_retries_stale(wire.method))  # fmt: skip
        reply = self.transport.send(request)
        self._base_url_rules(reply.status, reply.header(h.NEW_BASE_URL))
        try:
            data = decode_reply(request, reply, android=not self.READS_VOID_BODIES, reads_body=ep.response is not None)
        except RegistrationGoneError as exc:
            self._answered_no_registration(exc)
            raise
        if require and not (isinstance(data, dict) and data.get(require)):
            raise api_error("-4", f"response without {require}", reply.status, request, reply)
        return data

    def _authorize_user_call(self, headers: dict[str, str], body: dict[str, Any] | None) -> None:
        """``Bearer <jwt>`` from the app's supplier; a token the SDK finds malformed or expired is
        refused before anything is sent (`ClientValidationError` with the SDK's code)."""
        assert self.config.jwt is not None
        identity = (body or {}).get("userIdentity")
        user_id = identity.get("externalUserId") if isinstance(identity, dict) else None
        if user_id is None:
            user_id = merge(self.state.user, self.state.user_dirty).get("externalUserId")
        token = self.config.jwt(user_id)
        if not token:
            return
        problem = jwt_problem(token, self.now())
        if problem is not None:
            raise ClientValidationError(problem, f"the app's JWT is not usable ({problem}); nothing was sent")
        headers[h.AUTHORIZATION] = f"Bearer {token}"

    BASE_URL_CHECK_INTERVAL = 24 * 3600.0
    """Seconds between base-URL checks (`BASEURL_CHECK_INTERVAL_HOURS`, iOS `defaultTimeout`)."""

    def _base_url_check_due(self) -> bool:
        return (
            self.config.honour_new_base_url and self.now() - self.state.base_url_checked >= self.BASE_URL_CHECK_INTERVAL
        )

    def _answered_no_registration(self, error: RegistrationGoneError) -> None:
        """Any call answered ``NO_REGISTRATION`` (before the calling flow handles it, if it does)."""

    def _base_url_rules(self, status: int, new_base_url: str | None) -> None:
        if self.config.honour_new_base_url and new_base_url:
            self._move_base_url(new_base_url)

    def _move_base_url(self, new_base_url: str) -> None:
        """`New-Base-URL`: every later request goes to the new base (compared without a trailing
        slash: mobsim stores bases without one)."""
        self.state.base_url = new_base_url.rstrip("/")

    def _acked(self, kind: str, n: int = 1) -> None:
        """A 2xx answer carried ``n`` of ``kind`` (see `simulator.outcomes`)."""
        observer = self.config.observer
        if observer is not None and n:
            observer(kind, n)

    # -- what a failure leaves owed, and its re-sends (`simulator.outcomes`) ---------------------

    def _owe(self, kind: str) -> None:
        """A request of ``kind`` failed and the SDK keeps its work to send again."""
        self.state.unsent |= UNSENT_BITS[kind]

    def _owes(self, kind: str) -> bool:
        return bool(self.state.unsent & UNSENT_BITS[kind])

    def _forgive(self, *kinds: str) -> None:
        """The SDK dropped what it kept of ``kinds`` (a logout's wipe, a rule giving up)."""
        for kind in kinds:
            self.state.unsent &= ~UNSENT_BITS[kind]

    def _sending(self, kind: str, attempt: int = 0, *, owed: bool = True) -> None:
        """A request of ``kind`` goes out now: a re-send when an earlier one of its kind failed and
        left its work owed (``owed``: this request carries that work), or when it is a scheduled
        retry (``attempt`` > 0)."""
        bit = UNSENT_BITS.get(kind, 0) if owed else 0
        if not (self.state.unsent & bit or attempt):
            return
        self.state.unsent &= ~bit
        resends = self.config.resends
        if resends is not None:
            resends(kind, 1)

    # -- guards and retries (none unless the platform's SDK has them) -------------------------

    def _debounced(self, operation: str, payload: object) -> bool:
        """True when the SDK drops this call as a duplicate of the previous one."""
        return False

    def _schedule_retry(self, error: SimulatorError, operation: str, args: tuple[Any, ...], attempt: int) -> None:
        """Schedule ``operation(*args, attempt=attempt + 1)`` if the SDK retries after ``error``."""

    def _retry_at(self, due: float, operation: str, args: tuple[Any, ...], attempt: int) -> None:
        self._retries.append((due, operation, args, attempt))

    def next_retry(self) -> float | None:
        """When the earliest retry the SDK scheduled is due (Android's policy), or None for none.
        Retries live in the SDK's process: a parked device has none (its kept work waits for the
        next trigger instead)."""
        return min(r[0] for r in self._retries) if self._retries else None

    # -- timers ------------------------------------------------------------------------------

    def next_due(self) -> float | None:
        """The earliest time the device has work scheduled for, or None."""
        due = min(self._due.values()) if self._due else None
        if self._retries:
            retry_due = min(r[0] for r in self._retries)
            if due is None or retry_due < due:
                due = retry_due
        return due

    def run_due(self) -> int:
        """Process everything due at the clock's current time; returns how many jobs ran."""
        ran = 0
        while (due := self.next_due()) is not None and due <= self.now():
            self._fire_next()
            ran += 1
        return ran

    def advance(self, seconds: float) -> int:
        """Move a `VirtualClock` forward, running each due job at its own time."""
        clock = self.clock
        if not isinstance(clock, VirtualClock):
            raise UsageError("advance() needs a VirtualClock; with real time call run_due()")
        target = clock.now() + seconds
        ran = 0
        while (due := self.next_due()) is not None and due <= target:
            clock.set(max(due, clock.now()))
            self._fire_next()
            ran += 1
        clock.set(max(target, clock.now()))
        return ran

    def _fire_next(self) -> None:
        timer = min(self._due.items(), key=lambda item: item[1]) if self._due else None
        first_retry = min(self._retries, key=lambda r: r[0]) if self._retries else None
        if timer is not None and (first_retry is None or timer[1] <= first_retry[0]):
            del self._due[timer[0]]
            self._background(self._timer_job(timer[0]))
        elif first_retry is not None:
            self._retries.remove(first_retry)
            _, operation, args, attempt = first_retry
            method = getattr(self, operation)
            self._background(lambda: method(*args, attempt=attempt))

    def _timer_job(self, name: str) -> Callable[[], Any]:
        raise NotImplementedError

    def _background(self, job: Callable[[], Any]) -> None:
        """Run work whose errors reach no caller (as in the SDK); keep the last error."""
        try:
            job()
        except SimulatorError as exc:
            self.last_error = exc

    def _cancel_timers(self) -> None:
        self._due.clear()
        self._retries.clear()
