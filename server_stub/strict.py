"""Strict mode: record every protocol violation a client makes, without changing any answer.

`StrictMiddleware` (pure ASGI, installed only by ``create_app(strict=True)``) reads each Mobile API
request before it reaches the server and the status of its answer, and feeds a `ViolationRecorder`
keyed per installation (the pushRegId, else the ``installationid`` header). The non-strict server has
no trace of it. The rules (`RULES`) come from the SDK references in ``../shared/reference``:
``mobile-api-android.md`` (A) and ``mobile-api-ios-and-people.md`` (I); the message rules from
docs/reference/messages-android.md and messages-ios.md, cited by name. The rules that judge a seen
or delivery report against where its messages were sent read that through the store
(`ViolationRecorder.messages`, server_stub/strict_api.py) before the request is observed.

What it keeps is bounded whatever clients send (issue 13): at most `MAX_INSTALLATIONS` installations
(the least recently active is forgotten), `PER_INSTALLATION` violations each and `MAX_STORED` in all
(the counts stay exact; ``dropped`` counts what is no longer listed), `SESSIONS_KEPT` session starts
and `FAILURES_KEPT` failed requests per installation, every stored string cut to a few hundred
characters. A request whose app code the server does not know counts under one entry,
`UNAUTHENTICATED`, unless it names an installation already tracked: made-up ``installationid`` or
``pushregistrationid`` values cannot multiply the entries. A body is read up to the route's limit
(server_stub/http.py `body_limit`); past it the request goes on unread, to the 413 the route answers.
Log lines show every client string escaped (``repr``), so none can forge a line.
"""

from __future__ import annotations

import json
import logging
import threading
import typing
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract import ENDPOINTS, Dialect, Endpoint, app_code_hash, endpoint, headers, parse_datetime
from contract.codec import MalformedJson, parse_json
from contract.headers import user_agent_matches
from contract.messages import ARCHIVE_LIMIT
from contract.retry import MAX_RETRIES, delay
from contract.secrets import mask
from contract.sessions import SESSION_TIMEOUT_MS

from .http import body_limit, declared_length

__all__ = [
    "FAILURES_KEPT",
    "KEY_MAX",
    "MAX_INSTALLATIONS",
    "MAX_STORED",
    "PATH_MAX",
    "PER_INSTALLATION",
    "RULES",
    "SEEN_MAX",
    "SESSIONS_KEPT",
    "UNAUTHENTICATED",
    "Rule",
    "SentMessage",
    "StrictMiddleware",
    "Violation",
    "ViolationRecorder",
    "reported_ids",
]

log = logging.getLogger("mobsim.strict")

SESSION_GAP = SESSION_TIMEOUT_MS / 1000
"""Seconds between the end of a session and the next start (both SDKs); timestamps are whole seconds."""
PER_INSTALLATION = 200
"""Violations kept per installation (the oldest are dropped, the counts stay exact)."""
MAX_STORED = 10_000
"""Violations kept in all; later ones are counted and dropped until an installation is forgotten."""
MAX_INSTALLATIONS = 10_000
"""Installations tracked; a new one beyond it forgets the least recently active (its violations and
what it takes to judge its next request), the counts by rule stay exact."""
SESSIONS_KEPT = 64
"""Session starts (and acknowledged starts) remembered per installation: the latest."""
FAILURES_KEPT = 32
"""Failed requests remembered per installation for RETRY-FAST: the latest."""
KEY_MAX, PATH_MAX, SEEN_MAX = 100, 200, 300
"""Characters kept of an installation key (a UUID has 36), of a path and of what was seen."""
UNIDENTIFIED = "unidentified client"
"""The entry of a request naming no installation (no pushRegId, no ``installationid``)."""
UNAUTHENTICATED = "unauthenticated client"
"""The entry of a request whose app code the server does not know, naming no installation it tracks."""
MESSAGES_SYNC_THROTTLE = 1.0
"""Android's `SYNC_MSGS_THROTTLE_INTERVAL_MILLIS`: a messages sync without ``drIDs`` at most once a second."""
ARRIVAL_SLACK = 0.5
"""Seconds by which two requests may arrive closer than the client sent them (network and queueing)."""
SEEN_SLACK_MS = 2000
"""How far before its send time a seen moment may reach (Android rounds the delta to whole seconds)."""


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    title: str
    sdk: str
    """What the SDK does (with the reference)."""
    fix: str
    """How to fix an app or client that breaks it."""


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule(
            "HDR-AUTH",
            "Authorization is not `App <code>`",
            "both SDKs send `Authorization: App <application code>` (or a Bearer JWT on user calls) (A §0.1, I §1.1)",
            "configure the SDK with the application code; do not strip or rewrite the header in a proxy",
        ),
        Rule(
            "HDR-APPCODE",
            "applicationcode header missing or not the hash of the app code",
            "both SDKs send `applicationcode`: the first 10 hex digits of SHA-256 of the code (A §0.1, I §1.1)",
            "use the SDK's own networking; a custom client must send the hash of the code in `Authorization`",
        ),
        Rule(
            "HDR-INSTALLATION",
            "installationid header missing",
            "both SDKs send their installation UUID in `installationid` on every call (A §0.1, I §1.1)",
            "do not strip the header; a custom client must keep one UUID per install",
        ),
        Rule(
            "HDR-USER-AGENT",
            "User-Agent is not the shape of the claimed platform",
            "Android: `Infobip Mobile API Client/<ver>(<14 fields>)`; iOS: `MobileMessaging/<ver>(<11 fields>)` "
            "(A §0.1, I §1.2)",
            "let the SDK set the User-Agent; do not override it in the HTTP client or an interceptor",
        ),
        Rule(
            "HDR-REGISTRATION",
            "pushregistrationid header missing on a call about a registration",
            "once registered, both SDKs send `pushregistrationid` on every call (A §0.1, I §1.1)",
            "send the header of the registration the call is made for",
        ),
        Rule(
            "BEFORE-REGISTRATION",
            "a call the SDK makes only after registration, made before it",
            "the SDKs register first (POST /mobile/1/appinstance) and only then sync the user, sessions, events "
            "and messages (A §3.1, §3.2; I §4.6)",
            "wait for the registration (the SDK's registration-updated event) before personalize, events...",
        ),
        Rule(
            "DIALECT-PATCH",
            "PATCH sent in the other platform's way",
            "Android sends PATCH as POST with `X-HTTP-Method-Override: PATCH`; iOS sends a real PATCH (A §8.1, I §11)",
            "check which SDK the app embeds; a proxy must not rewrite methods",
        ),
        Rule(
            "DIALECT-QUERY",
            "query booleans spelled in the other platform's way",
            "iOS spells query booleans `1`/`0`, Android `true`/`false` (I §1, §11; A §1.1)",
            "let the SDK build the URLs",
        ),
        Rule(
            "BODY-CONTRACT",
            "a body outside the contract (unknown keys, wrong types, bad JSON)",
            "the SDKs send only the fields of their models, with fixed types (A §2, I §2-§4)",
            "send only documented fields; numbers and booleans as JSON values, timestamps as yyyy-MM-ddTHH:mm:ssZ",
        ),
        Rule(
            "SESSION-30S",
            "a new session started less than 30 s after the previous one ended",
            "a return within 30 s continues the session; only a later one starts a new session (A §4, I §7.1)",
            "do not report a session start on every foreground; let the SDK's session tracking do it",
        ),
        Rule(
            "SESSION-TWICE",
            "a session start reported again after it was acknowledged",
            "a start is reported until acknowledged, then never again (Android re-sends its current start only "
            "together with finished sessions) (A §4, I §7.1)",
            "do not re-send acknowledged session starts",
        ),
        Rule(
            "EVENT-UNKNOWN",
            "a custom event of a definition that does not exist",
            "events must match a definition created in the portal; validate=false drops them server-side "
            "(A §5.2, I §8.2)",
            "create the event definition (or fix the definitionId's spelling)",
        ),
        Rule(
            "RETRY-FAST",
            "a failed request retried sooner than the platform's schedule",
            "Android retries after 2, 8 and 18 s, only 5xx without serviceException; iOS never retries at once "
            "(A §6.1, I §9.1)",
            "back off as the SDK does; do not retry in an interceptor",
        ),
        Rule(
            "SYNC-SHAPE",
            "a messages sync body not in the shape the platform's SDK sends",
            "Android sends no body when it has neither archive nor delivery ids and leaves empty arrays out; iOS "
            "always sends a body, `{}` when empty; both send at most 100 ids in `mIDs` "
            "(messages-android.md §3.1, messages-ios.md §3.3)",
            'let the SDK build the sync; a custom client sends `{"mIDs": [...], "drIDs": [...]}` without empty '
            "or null arrays (Android: no body at all when both are empty; iOS: `{}`)",
        ),
        Rule(
            "SYNC-THROTTLE",
            "Android messages syncs without drIDs less than 1 s apart",
            "Android syncs messages without delivery ids at most once a second (`SYNC_MSGS_THROTTLE_INTERVAL_MILLIS`, "
            "kept in the process's memory: a new session may sync at once); only new delivery ids bypass it "
            "(messages-android.md §2.3)",
            "do not trigger the SDK's sync in a loop (or sync from a custom client on every screen)",
        ),
        Rule(
            "DELIVERY-UNKNOWN",
            "a delivery report (drIDs, dlrIds) for a message not sent to this installation",
            "the SDKs report the delivery of the messages they received, each by its messageId "
            "(messages-android.md §2, §3.1; messages-ios.md §2.2, §3.3)",
            "report only ids of messages the SDK received on this installation; do not invent or copy ids",
        ),
        Rule(
            "DIALECT-DELIVERY",
            "the iOS extension's delivery report sent by an Android client",
            "`/mobile/1/messages/deliveryreport` is the iOS Notification Service Extension's; Android reports "
            "deliveries only in `drIDs` of the messages sync (messages-android.md §9, messages-ios.md §2.2)",
            "on Android, let the SDK report deliveries in its messages sync",
        ),
        Rule(
            "DIALECT-PLATFORM",
            "`platformType` missing or of the other platform",
            "the messages sync, MO and version calls carry `platformType=GCM` on Android and Huawei, `APNS` on iOS "
            "(messages-android.md §3, §10; messages-ios.md §8)",
            "let the SDK build the URLs; check which SDK the app embeds",
        ),
        Rule(
            "SEEN-UNKNOWN",
            "a seen report for a message this installation was never sent",
            "the SDKs report seen only for messages they hold; they never report ids shaped like a UUID, which they "
            "take for their own (messages-android.md §5, messages-ios.md §5)",
            "mark seen only the messages the SDK delivered to the app on this installation (their messageId)",
        ),
        Rule(
            "SEEN-DELTA",
            "a seen report whose timestampDelta is negative or reaches back before the message was sent",
            "timestampDelta is the whole seconds since the message was seen: iOS clamps it at 0 (`UInt(max(0, ...))`), "
            "Android rounds the elapsed milliseconds (negative only if the device clock went back) "
            "(messages-android.md §5, messages-ios.md §5)",
            "send seconds (not milliseconds) since the moment the message was seen",
        ),
        Rule(
            "MO-FROM",
            "an MO message whose `from` is not the sending registration",
            'both SDKs send MO as `{"from": <own pushRegId>, "messages": [...]}` (messages-android.md §8, '
            "messages-ios.md §7.2)",
            "let the SDK send MO (`sendMessages`); a custom client puts its own pushRegId in `from`",
        ),
    )
}


@dataclass(slots=True)
class Violation:
    rule: str
    seen: str
    method: str
    path: str
    at: str
    key: str
    platform: str | None

    def to_json(self) -> dict[str, Any]:
        rule = RULES[self.rule]
        return {
            "rule": self.rule,
            "title": rule.title,
            "seen": self.seen,
            "sdk": rule.sdk,
            "fix": rule.fix,
            "request": f"{self.method} {self.path}",
            "at": self.at,
            "installation": self.key,
            "platform": self.platform,
        }


@dataclass(slots=True)
class _Installation:
    platform: str | None = None
    sessions: dict[float, float] = field(default_factory=dict)
    """Known session starts (epoch seconds) → their latest known end (the start when unknown)."""
    acked_starts: set[float] = field(default_factory=set)
    failures: dict[int, tuple[float, int]] = field(default_factory=dict)
    """Request signature → (time of the last retryable failure, attempts so far)."""
    violations: deque[Violation] = field(default_factory=lambda: deque(maxlen=PER_INSTALLATION))
    count: int = 0
    last_messages_sync: float | None = None
    """When the last messages sync arrived (server clock seconds)."""


@dataclass(frozen=True, slots=True)
class _Owner:
    """Who makes a report: its registration, its ``installationid`` header, its app code."""

    reg_id: str | None
    installation_id: str | None
    app_code: str | None

    def owns(self, message: SentMessage) -> bool:
        """Sent to this registration, or to another of the same install (a re-registration keeps the
        ``installationid``); with neither header (an iOS extension without them), to this app."""
        if self.reg_id is not None and message.reg_id == self.reg_id:
            return True
        if self.installation_id is not None:
            return message.installation_id == self.installation_id
        return self.reg_id is None and message.app_code == self.app_code


class SentMessage(NamedTuple):
    """Where the server sent a message: what the message rules judge a report against."""

    reg_id: str | None
    installation_id: str | None
    """The ``installationid`` its registration was created with."""
    app_code: str
    send_at_ms: int


_SYNC = endpoint("sync_messages").template
_SEEN = endpoint("seen_messages").template
_DELIVERY = endpoint("delivery_report").template
_PLATFORM_QUERY = frozenset({"sync_messages", "send_mo", "version"})


_NO_BODY = object()
"""A request without a body (not the same as a body that is not JSON)."""


def _ids(values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str)] if isinstance(values, list) else []


def reported_ids(path: str, body: bytes) -> list[str]:
    """The message ids a request reports (seen, ``drIDs``, ``dlrIds``): what the recorder needs looked
    up (:attr:`ViolationRecorder.messages`) before it judges the request."""
    if path not in (_SYNC, _SEEN, _DELIVERY) or not body.strip():
        return []
    try:
        data = parse_json(body)
    except ValueError:
        return []
    if not isinstance(data, dict):
        return []
    if path == _SYNC:
        return _ids(data.get("drIDs"))[:1000]
    if path == _DELIVERY:
        return _ids(data.get("dlrIds"))[:1000]
    items = data.get("messages") if isinstance(data.get("messages"), list) else []
    assert isinstance(items, list)
    seen = [m.get("messageId") for m in items if isinstance(m, dict) and m.get("inbox") is not True]
    return _ids(seen)[:1000]


_BOOLEAN_QUERY = frozenset({"rt", "ri", "validate", "forceDepersonalize", "keepAsLead", "setDeviceAsPrimary"})
_NEEDS_REGISTRATION = frozenset(
    {"patch_installation", "get_installation", "delete_installation", "get_user", "patch_user", "personalize",
     "repersonalize", "depersonalize", "session_report", "custom_events", "sync_messages", "seen_messages", "send_mo"}
)  # fmt: skip
_UA_PREFIX = {Dialect.ANDROID: "Infobip Mobile API Client/", Dialect.IOS: "MobileMessaging/"}


def _route(method: str, path: str, override: str) -> Endpoint | None:
    logical = override.upper() if method == "POST" and override else method
    parts = path.split("/")
    if len(parts) > 4 and parts[3] == "appinstance" and parts[4]:
        parts[4] = "{pushRegId}"
    template = "/".join(parts)
    for ep in ENDPOINTS:
        if ep.template == template and ep.method == logical:
            return ep
    return None


def _model_types(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out.extend(_model_types(arg))
    return out


def _unknown_keys(model: type[BaseModel], data: Any, prefix: str = "") -> list[str]:
    if not isinstance(data, dict):
        return []
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    fields.update(model.model_fields)
    unknown = []
    for key, value in data.items():
        found = fields.get(key)
        if found is None:
            unknown.append(prefix + key)
            continue
        for nested in _model_types(found.annotation):
            items = value if isinstance(value, list) else [value]
            for item in items:
                unknown.extend(_unknown_keys(nested, item, f"{prefix}{key}."))
            break
    return unknown


def _epoch(text: str) -> float | None:
    try:
        return parse_datetime(text).timestamp()
    except (ValueError, TypeError):
        return None


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _keep_latest(values: dict[float, float] | set[float], limit: int) -> None:
    """Forget the earliest session starts beyond ``limit``."""
    while len(values) > limit:
        earliest = min(values)
        if isinstance(values, set):
            values.discard(earliest)
        else:
            del values[earliest]


PREFLIGHT_AGENT = "mobsim-preflight/"
"""The User-Agent prefix of the one request ``mobsim run``, ``check``, ``demo`` and ``replay`` send
before any load; strict mode does not judge it as an app's SDK."""


def _ignore(status: int, answer: bytes) -> None:
    return None


class ViolationRecorder:
    """Violations per installation, and what it takes to judge the next request."""

    def __init__(
        self,
        clock: Callable[[], datetime],
        known_definition: Callable[[str, str], bool] | None = None,
        definitions: Callable[[str], Awaitable[Collection[str] | None]] | None = None,
        messages: Callable[[list[str]], Awaitable[Mapping[str, SentMessage] | None]] | None = None,
        known_app: Callable[[str], bool] | None = None,
        *,
        max_installations: int = MAX_INSTALLATIONS,
        max_stored: int = MAX_STORED,
    ) -> None:
        self.clock = clock
        self.known_definition = known_definition or (lambda app_code, definition: True)
        self.definitions = definitions
        """The event definition keys (lower case) of an app code's account, or None when unknown:
        `StrictMiddleware` awaits it before observing a custom-event batch (the server reads them
        through its store, server_stub/strict_api.py) and passes them to :meth:`observe`."""
        self.messages = messages
        """Where the given message ids were sent (unknown ids are left out), or None when it cannot
        be read: `StrictMiddleware` awaits it for the ids of a seen or delivery report
        (:func:`reported_ids`) and passes them to :meth:`observe`."""
        self.known_app = known_app
        """Whether the server knows an app code; None: every app code counts as known (a proxy, whose
        backend decides). A request with an unknown one is tracked under `UNAUTHENTICATED`."""
        self.max_installations, self.max_stored = max_installations, max_stored
        self._lock = threading.Lock()
        self._installations: OrderedDict[str, _Installation] = OrderedDict()
        """Least recently active first."""
        self._aliases: OrderedDict[str, str] = OrderedDict()
        """installationid → pushRegId, learnt from create answers (the latest `max_installations`)."""
        self.by_rule: dict[str, int] = {}
        self._stored = self._dropped = self._forgotten = 0

    # -- reading -----------------------------------------------------------------------------------

    def violations(self, key: str | None = None, rule: str | None = None) -> list[Violation]:
        with self._lock:
            keys = [self._aliases.get(key[:KEY_MAX], key[:KEY_MAX])] if key else list(self._installations)
            out = [v for k in keys if k in self._installations for v in self._installations[k].violations]
        return [v for v in out if rule is None or v.rule == rule]

    def summary(self) -> dict[str, Any]:
        """Counts by rule (exact) and by tracked installation; ``stored`` violations are listed,
        ``dropped`` ones no longer (over a cap), ``forgotten`` installations are no longer tracked."""
        with self._lock:
            per = {k: i.count for k, i in self._installations.items() if i.count}
            return {"total": sum(self.by_rule.values()), "byRule": dict(sorted(self.by_rule.items())),
                    "installations": per, "stored": self._stored, "dropped": self._dropped,
                    "forgotten": self._forgotten}  # fmt: skip

    def reset(self) -> None:
        with self._lock:
            self._installations.clear()
            self._aliases.clear()
            self.by_rule.clear()
            self._stored = self._dropped = self._forgotten = 0

    # -- recording ---------------------------------------------------------------------------------

    def _state(self, key: str) -> _Installation:
        """The tracked installation ``key`` (made the most recent), a new one if need be."""
        state = self._installations.get(key)
        if state is not None:
            self._installations.move_to_end(key)
            return state
        while len(self._installations) >= self.max_installations:
            _, forgotten = self._installations.popitem(last=False)
            self._stored -= len(forgotten.violations)
            self._dropped += len(forgotten.violations)
            self._forgotten += 1
        state = self._installations[key] = _Installation()
        return state

    def _key(self, path_reg: str | None, header_reg: str | None, installation_id: str | None, known: bool) -> str:
        """The entry a request counts under: its installation, when it is authenticated or tracked."""
        if installation_id is not None:
            installation_id = self._aliases.get(installation_id, installation_id)
        key = path_reg or header_reg or installation_id or UNIDENTIFIED
        if not known and key not in self._installations:
            return UNAUTHENTICATED
        return key

    def _record(self, state: _Installation, key: str, rule: str, seen: str, method: str, path: str) -> None:
        seen = _clip(seen, SEEN_MAX)
        violation = Violation(rule, seen, _clip(method, 20), _clip(path, PATH_MAX), self.clock().isoformat(), key,
                              state.platform)  # fmt: skip
        state.count += 1
        self.by_rule[rule] = self.by_rule.get(rule, 0) + 1
        if len(state.violations) == state.violations.maxlen:
            state.violations.append(violation)  # the installation's oldest goes
            self._dropped += 1
        elif self._stored < self.max_stored:
            state.violations.append(violation)
            self._stored += 1
        else:
            self._dropped += 1
        # every client string escaped: a "\n" in a key, a path or a header cannot start a line of its own
        log.warning("strict: %r %r %r %s: %s (%r)", key, violation.method, violation.path, rule, RULES[rule].title,
                    seen)  # fmt: skip

    def observe(
        self,
        method: str,
        path: str,
        query_string: str,
        hdrs: dict[str, str],
        body: bytes,
        *,
        known: Collection[str] | None = None,
        sent: Mapping[str, SentMessage] | None = None,
        over_limit: int | None = None,
    ) -> Callable[[int, bytes], None]:
        """Judge one request; returns what to call with the answer's status and body.

        ``known``: the definition keys (lower case) of the caller's account, when read beforehand
        (:attr:`definitions`); else ``known_definition`` judges each custom event's definition.
        ``sent``: where the message ids the request reports were sent (:attr:`messages`); None: the
        rules that need it (SEEN-UNKNOWN, DELIVERY-UNKNOWN, the send time of SEEN-DELTA) are not judged.
        ``over_limit``: the body went over this many bytes and was not read (``body`` is empty).
        """
        with self._lock:
            return self._observe(method, path, query_string, hdrs, body, known, sent, over_limit)

    def _observe(
        self,
        method: str,
        path: str,
        query_string: str,
        hdrs: dict[str, str],
        body: bytes,
        known: Collection[str] | None = None,
        sent: Mapping[str, SentMessage] | None = None,
        over_limit: int | None = None,
    ) -> Callable[[int, bytes], None]:
        if hdrs.get("user-agent", "").startswith(PREFLIGHT_AGENT):
            return _ignore  # mobsim's preflight probe (mobsim/targets.py), not an SDK
        override = hdrs.get("x-http-method-override", "")
        ep = _route(method, path, override)
        parts = path.split("/")
        path_reg = parts[4] if ep is not None and "{pushRegId}" in ep.template else None
        path_reg = path_reg[:KEY_MAX] if path_reg else None
        header_reg = hdrs.get(headers.PUSH_REGISTRATION_ID.lower(), "")[:KEY_MAX] or None
        installation_id = hdrs.get(headers.INSTALLATION_ID.lower(), "")[:KEY_MAX] or None
        auth = hdrs.get("authorization", "")
        code = headers.parse_app_authorization(auth)
        authenticated = code is not None and (self.known_app is None or self.known_app(code))
        key = self._key(path_reg, header_reg, installation_id, authenticated)
        state = self._state(key)
        found: list[tuple[str, str]] = []

        def flag(rule: str, seen: str) -> None:
            found.append((rule, seen))

        # headers
        if code is None and not auth.lower().startswith("bearer "):
            flag("HDR-AUTH", f"Authorization {mask(auth) if auth else 'missing'}")
        hashed = hdrs.get(headers.APPLICATION_CODE.lower())
        if code is not None and hashed != app_code_hash(code):
            flag("HDR-APPCODE", f"applicationcode {hashed!r}" if hashed else "no applicationcode header")
        if not installation_id:
            flag("HDR-INSTALLATION", "no installationid header")
        agent = hdrs.get("user-agent", "")
        claimed = next((d for d, prefix in _UA_PREFIX.items() if agent.startswith(prefix)), None)
        if claimed is None and state.platform:
            claimed = Dialect(state.platform)
        if claimed is None or not user_agent_matches(claimed, agent):
            shown = agent[:80] or "none"
            flag("HDR-USER-AGENT", f"User-Agent {shown!r}" + (f" (claims {claimed.value})" if claimed else ""))
        if claimed is not None:
            state.platform = claimed.value
        if ep is None:
            return self._finish(state, key, found, method, path)
        # registration
        if ep.name in _NEEDS_REGISTRATION and header_reg is None:
            if path_reg is not None and ep.name != "delete_installation":
                flag("HDR-REGISTRATION", f"{ep.name} on {path_reg} without a pushregistrationid header")
            elif path_reg is None:
                flag("BEFORE-REGISTRATION", f"{ep.name} without a registration")
        # dialect
        if claimed is not None:
            if ep.method == "PATCH":
                if claimed is Dialect.ANDROID and method == "PATCH":
                    flag("DIALECT-PATCH", "a real PATCH from an Android User-Agent")
                if claimed is Dialect.IOS and method == "POST":
                    flag("DIALECT-PATCH", "POST with X-HTTP-Method-Override from an iOS User-Agent")
            other = Dialect.ANDROID if claimed is Dialect.IOS else Dialect.IOS
            query = parse_qsl(query_string, keep_blank_values=True)
            for name, value in query:
                if name in _BOOLEAN_QUERY and value in (other.true, other.false):
                    flag("DIALECT-QUERY", f"{name}={value} from an {claimed.os_name} User-Agent")
            if ep.name in _PLATFORM_QUERY:
                platform_types = [value for name, value in query if name == "platformType"]
                if platform_types != [claimed.platform_type]:
                    shown = ", ".join(f"platformType={v}" for v in platform_types) or "no platformType"
                    flag("DIALECT-PLATFORM", f"{shown} from an {claimed.os_name} User-Agent")
            if ep.name == "delivery_report" and claimed is Dialect.ANDROID:
                flag("DIALECT-DELIVERY", "a delivery report (dlrIds) from an Android User-Agent")
        # body
        data: Any = None
        if over_limit is not None:
            flag("BODY-CONTRACT", f"a body over the {over_limit}-byte limit")
        elif body.strip():
            try:
                data = parse_json(body)
            except ValueError as exc:
                why = exc.problem if isinstance(exc, MalformedJson) else str(exc)
                flag("BODY-CONTRACT", f"a body that is not JSON: {why}")
        if ep.request is not None and data is not None:
            if not isinstance(data, dict):
                flag("BODY-CONTRACT", f"a JSON {type(data).__name__} instead of an object")
            else:
                unknown = _unknown_keys(ep.request, data)
                if unknown:
                    shown = ", ".join(_clip(name, 40) for name in unknown[:5])
                    flag("BODY-CONTRACT", f"unknown keys {shown} in {ep.name}")
                try:
                    ep.request.model_validate(data)
                except ValidationError as exc:
                    problem = exc.errors(include_url=False)[0]
                    where = ".".join(str(p) for p in problem["loc"]) or "body"
                    flag("BODY-CONTRACT", f"{where}: {problem['msg']} in {ep.name}")
        if ep.name in ("sync_messages", "seen_messages", "delivery_report", "send_mo"):
            owner = _Owner(path_reg or header_reg, installation_id, code)
            no_body = not body.strip() and over_limit is None
            self._messages(state, flag, ep.name, claimed, _NO_BODY if no_body else data, owner, sent)
        if isinstance(data, dict):
            if ep.name == "session_report":
                self._sessions(state, flag, data)
            elif ep.name == "custom_events" and code is not None:
                for event in data.get("events") or []:
                    definition = event.get("definitionId") if isinstance(event, dict) else None
                    if not isinstance(definition, str):
                        continue
                    if known is None:
                        unknown_definition = not self.known_definition(code, definition)
                    else:
                        unknown_definition = definition.lower() not in known
                    if unknown_definition:
                        flag("EVENT-UNKNOWN", f"definitionId {definition!r}")
        # retries
        signature = hash((method, path, query_string, body))
        now = self.clock().timestamp()
        failed = state.failures.get(signature)
        if failed is not None:
            last, attempts = failed
            wait = delay(min(attempts, MAX_RETRIES)) if state.platform == "android" else delay(1)
            if now - last < wait - 0.5:
                flag("RETRY-FAST", f"retry {attempts} of {ep.name} after {now - last:.1f} s (the schedule: {wait:g} s)")
        self._finish(state, key, found, method, path)

        def answered(status: int, answer: bytes) -> None:
            with self._lock:
                self._answered(state, ep, signature, now, status, answer, installation_id, data)

        return answered

    def _finish(
        self, state: _Installation, key: str, found: list[tuple[str, str]], method: str, path: str
    ) -> Callable[[int, bytes], None]:
        for rule, seen in found:
            self._record(state, key, rule, seen, method, path)
        return lambda status, answer: None

    def _messages(
        self,
        state: _Installation,
        flag: Callable[[str, str], None],
        name: str,
        claimed: Dialect | None,
        data: Any,
        owner: _Owner,
        sent: Mapping[str, SentMessage] | None,
    ) -> None:
        body = data if isinstance(data, dict) else None
        now = self.clock().timestamp()
        if name == "sync_messages":
            self._sync_shape(flag, claimed, data)
            reporting = _ids(body.get("drIDs")) if body is not None else []
            last, state.last_messages_sync = state.last_messages_sync, now
            throttle = MESSAGES_SYNC_THROTTLE - ARRIVAL_SLACK
            if claimed is Dialect.ANDROID and not reporting and last is not None and now - last < throttle:
                flag("SYNC-THROTTLE", f"a sync without drIDs {now - last:.2f} s after the previous one")
            self._unknown(flag, "DELIVERY-UNKNOWN", "drIDs", reporting, owner, sent, now)
        elif name == "delivery_report" and body is not None:
            self._unknown(flag, "DELIVERY-UNKNOWN", "dlrIds", _ids(body.get("dlrIds")), owner, sent, now)
        elif name == "seen_messages" and body is not None:
            items = body.get("messages") if isinstance(body.get("messages"), list) else []
            assert isinstance(items, list)
            ours = [m for m in items if isinstance(m, dict) and m.get("inbox") is not True]
            self._unknown(flag, "SEEN-UNKNOWN", "seen", _ids([m.get("messageId") for m in ours]), owner, sent, now)
            for item in ours:
                delta, message_id = item.get("timestampDelta"), item.get("messageId")
                if not isinstance(delta, int) or isinstance(delta, bool) or not isinstance(message_id, str):
                    continue  # BODY-CONTRACT's
                found = sent.get(message_id) if sent is not None else None
                if delta < 0:
                    flag("SEEN-DELTA", f"timestampDelta {delta} for {message_id}")
                elif (
                    found is not None
                    and owner.owns(found)
                    and now * 1000 - delta * 1000 < found.send_at_ms - SEEN_SLACK_MS
                ):
                    age = max(0.0, now - found.send_at_ms / 1000)
                    flag("SEEN-DELTA", f"timestampDelta {delta} s for {message_id}, sent {age:.0f} s ago")
        elif name == "send_mo" and body is not None and owner.reg_id is not None:  # none: HDR-REGISTRATION's
            sender = body.get("from")
            if sender != owner.reg_id:
                shown = f"from {sender!r}" if "from" in body else "no from"
                flag("MO-FROM", f"{shown} on an MO of {owner.reg_id}")

    @staticmethod
    def _sync_shape(flag: Callable[[str, str], None], claimed: Dialect | None, data: Any) -> None:
        if claimed is None:
            return
        if data is _NO_BODY:
            if claimed is Dialect.IOS:
                flag("SYNC-SHAPE", "no body from an iOS User-Agent (iOS sends {} when it has nothing to report)")
            return
        if not isinstance(data, dict):
            return  # BODY-CONTRACT's (not JSON, not an object)
        empty = [key for key in ("mIDs", "drIDs") if key in data and not data[key]]
        if empty:
            flag("SYNC-SHAPE", f"{', '.join(f'{k}: {data[k]!r}' for k in empty)} (the SDKs leave empty arrays out)")
        elif not data and claimed is Dialect.ANDROID:
            flag("SYNC-SHAPE", "a {} body from an Android User-Agent (Android sends no body when it has nothing)")
        archive = data.get("mIDs")
        if isinstance(archive, list) and len(archive) > ARCHIVE_LIMIT:
            flag("SYNC-SHAPE", f"{len(archive)} ids in mIDs (the SDKs send at most {ARCHIVE_LIMIT})")

    @staticmethod
    def _unknown(
        flag: Callable[[str, str], None],
        rule: str,
        what: str,
        ids: list[str],
        owner: _Owner,
        sent: Mapping[str, SentMessage] | None,
        now: float,
    ) -> None:
        if sent is None or not ids:
            return
        strangers = []
        for message_id in dict.fromkeys(ids):
            found = sent.get(message_id)
            if found is None or not owner.owns(found) or found.send_at_ms > now * 1000:
                strangers.append(message_id)
        if strangers:
            shown = ", ".join(strangers[:3]) + (f" and {len(strangers) - 3} more" if len(strangers) > 3 else "")
            flag(rule, f"{what} of {shown}: not sent to this installation (or not due yet)")

    def _sessions(self, state: _Installation, flag: Callable[[str, str], None], data: dict[str, Any]) -> None:
        bounds = data.get("sessionBounds") if isinstance(data.get("sessionBounds"), dict) else {}
        starts = data.get("sessionStarts") if isinstance(data.get("sessionStarts"), list) else []
        assert isinstance(bounds, dict) and isinstance(starts, list)
        for first, last in bounds.items():
            begin, end = _epoch(first), _epoch(last) if isinstance(last, str) else None
            if begin is not None:
                state.sessions[begin] = max(state.sessions.get(begin, begin), end or begin)
                _keep_latest(state.sessions, SESSIONS_KEPT)
        for text in starts:
            start = _epoch(text) if isinstance(text, str) else None
            if start is None:
                continue
            if start in state.acked_starts and not bounds:
                flag("SESSION-TWICE", f"session start {text} was acknowledged before")
            if start not in state.sessions:
                state.last_messages_sync = None  # a new app launch: the SDK's throttle is a process's memory
                earlier = [s for s in state.sessions if s < start]
                if earlier:
                    previous = max(earlier)
                    gap = start - state.sessions[previous]
                    if gap < SESSION_GAP - 1:
                        flag("SESSION-30S", f"start {text} {gap:.0f} s after the previous session ended")
                state.sessions[start] = start
                _keep_latest(state.sessions, SESSIONS_KEPT)

    def _answered(
        self,
        state: _Installation,
        ep: Endpoint,
        signature: int,
        now: float,
        status: int,
        answer: bytes,
        installation_id: str | None,
        data: Any,
    ) -> None:
        carries_error = b'"requestError"' in answer[:40]
        if 200 <= status < 300 and not carries_error:
            state.failures.pop(signature, None)
            if ep.name == "create_installation" and installation_id:
                try:
                    reg_id = json.loads(answer).get("pushRegId")
                except (ValueError, AttributeError):
                    reg_id = None
                if isinstance(reg_id, str):
                    self._alias(installation_id, reg_id[:KEY_MAX])
            if ep.name == "session_report" and isinstance(data, dict):
                starts = data.get("sessionStarts")
                for text in starts if isinstance(starts, list) else []:
                    start = _epoch(text) if isinstance(text, str) else None
                    if start is not None:
                        state.acked_starts.add(start)
                        _keep_latest(state.acked_starts, SESSIONS_KEPT)
        elif status >= 500 or carries_error:  # what the Android SDK retries (5xx, or a 2xx with requestError)
            if status < 500 and not 200 <= status < 300:
                return
            _, attempts = state.failures.get(signature, (now, 0))
            state.failures[signature] = (now, attempts + 1)
            if len(state.failures) > FAILURES_KEPT:
                del state.failures[next(iter(state.failures))]

    def _alias(self, installation_id: str, reg_id: str) -> None:
        """A create answered ``reg_id`` for ``installation_id``: what was recorded under the
        installationid moves to the registration."""
        self._aliases[installation_id] = reg_id
        self._aliases.move_to_end(installation_id)
        if len(self._aliases) > self.max_installations:
            self._aliases.popitem(last=False)
        moved = self._installations.pop(installation_id, None)
        if moved is None:
            return
        target = self._state(reg_id)
        target.platform = target.platform or moved.platform
        held = len(target.violations) + len(moved.violations)
        target.violations.extend(moved.violations)
        self._stored -= held - len(target.violations)
        self._dropped += held - len(target.violations)
        target.count += moved.count


_CUSTOM_EVENTS = endpoint("custom_events").template.rsplit("{pushRegId}", 1)[-1]


class StrictMiddleware:
    """Feeds every ``/mobile/`` request to the recorder; the answer goes out unchanged."""

    def __init__(self, app: ASGIApp, recorder: ViolationRecorder) -> None:
        self.app, self.recorder = app, recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/mobile/"):
            await self.app(scope, receive, send)
            return
        body, over_limit, replay = await _read_body(scope, receive)
        hdrs = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        known = None
        if self.recorder.definitions is not None and scope["path"].endswith(_CUSTOM_EVENTS):
            code = headers.parse_app_authorization(hdrs.get("authorization", ""))
            if code is not None:
                known = await self.recorder.definitions(code)
        sent = None
        if self.recorder.messages is not None:
            ids = reported_ids(scope["path"], body)
            sent = await self.recorder.messages(ids) if ids else None
        answered = self.recorder.observe(scope["method"], scope["path"], scope["query_string"].decode("latin-1"),
                                         hdrs, body, known=known, sent=sent, over_limit=over_limit)  # fmt: skip

        status = 500
        head: list[bytes] = []

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and sum(map(len, head)) < 4096:
                head.append(message.get("body", b""))
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                answered(status, b"".join(head))

        await self.app(scope, replay, watch)


async def _read_body(scope: Scope, receive: Receive) -> tuple[bytes, int | None, Receive]:
    """The body, the limit it went over (None: read whole) and the ``receive`` the app reads it
    through. Over the route's limit (a declared ``Content-Length``, or counted as chunks arrive)
    reading stops: the app gets what was read and then the rest as it comes, and answers its 413
    before more is buffered."""
    limit = body_limit(scope["path"])
    declared = declared_length(scope["headers"])
    if declared is not None and declared > limit:
        return b"", limit, receive  # not one byte read
    chunks: list[bytes] = []
    size, more = 0, True
    ended: Message | None = None
    while more and size <= limit:
        message = await receive()
        if message["type"] != "http.request":
            ended = message  # the client went away: the app hears it after the body
            break
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        more = bool(message.get("more_body"))
    read = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return ended if ended is not None else await receive()
        replayed = True
        return {"type": "http.request", "body": read, "more_body": more and ended is None}

    return (b"", limit, replay) if size > limit else (read, None, replay)
