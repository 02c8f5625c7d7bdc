"""Strict mode: record every protocol violation a client makes, without changing any answer.

`StrictMiddleware` (pure ASGI, installed only by ``create_app(strict=True)``) reads each Mobile API
request before it reaches the server and the status of its answer, and feeds a `ViolationRecorder`
keyed per installation (the pushRegId, else the ``installationid`` header). The non-strict server has
no trace of it. The rules (`RULES`) come from the SDK references in ``../shared/reference``:
``mobile-api-android.md`` (A) and ``mobile-api-ios-and-people.md`` (I).
"""

from __future__ import annotations

import json
import logging
import threading
import typing
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contract import ENDPOINTS, Dialect, Endpoint, app_code_hash, endpoint, headers, parse_datetime
from contract.headers import user_agent_matches
from contract.retry import MAX_RETRIES, delay
from contract.sessions import SESSION_TIMEOUT_MS

__all__ = ["RULES", "Rule", "StrictMiddleware", "Violation", "ViolationRecorder"]

log = logging.getLogger("mobsim.strict")

SESSION_GAP = SESSION_TIMEOUT_MS / 1000
"""Seconds between the end of a session and the next start (both SDKs); timestamps are whole seconds."""
PER_INSTALLATION = 200
"""Violations kept per installation (the oldest are dropped, the counts stay exact)."""


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
    failures: dict[str, tuple[float, int]] = field(default_factory=dict)
    """Request signature → (time of the last retryable failure, attempts so far)."""
    violations: deque[Violation] = field(default_factory=lambda: deque(maxlen=PER_INSTALLATION))
    count: int = 0


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
    ) -> None:
        self.clock = clock
        self.known_definition = known_definition or (lambda app_code, definition: True)
        self.definitions = definitions
        """The event definition keys (lower case) of an app code's account, or None when unknown:
        `StrictMiddleware` awaits it before observing a custom-event batch (the server reads them
        through its store, server_stub/strict_api.py) and passes them to :meth:`observe`."""
        self._lock = threading.Lock()
        self._installations: dict[str, _Installation] = {}
        self._aliases: dict[str, str] = {}
        """installationid → pushRegId, learnt from create answers."""
        self.by_rule: dict[str, int] = {}

    # -- reading -----------------------------------------------------------------------------------

    def violations(self, key: str | None = None, rule: str | None = None) -> list[Violation]:
        with self._lock:
            keys = [self._aliases.get(key, key)] if key else list(self._installations)
            out = [v for k in keys if k in self._installations for v in self._installations[k].violations]
        return [v for v in out if rule is None or v.rule == rule]

    def summary(self) -> dict[str, Any]:
        with self._lock:
            per = {k: i.count for k, i in self._installations.items() if i.count}
            return {"total": sum(self.by_rule.values()), "byRule": dict(sorted(self.by_rule.items())),
                    "installations": per}  # fmt: skip

    def reset(self) -> None:
        with self._lock:
            self._installations.clear()
            self._aliases.clear()
            self.by_rule.clear()

    # -- recording ---------------------------------------------------------------------------------

    def _record(self, state: _Installation, key: str, rule: str, seen: str, method: str, path: str) -> None:
        violation = Violation(rule, seen, method, path, self.clock().isoformat(), key, state.platform)
        state.violations.append(violation)
        state.count += 1
        self.by_rule[rule] = self.by_rule.get(rule, 0) + 1
        log.warning("strict: %s %s %s: %s (%s)", key, method, path, RULES[rule].title, seen)

    def observe(
        self,
        method: str,
        path: str,
        query_string: str,
        hdrs: dict[str, str],
        body: bytes,
        *,
        known: Collection[str] | None = None,
    ) -> Callable[[int, bytes], None]:
        """Judge one request; returns what to call with the answer's status and body.

        ``known``: the definition keys (lower case) of the caller's account, when read beforehand
        (:attr:`definitions`); else ``known_definition`` judges each custom event's definition.
        """
        with self._lock:
            return self._observe(method, path, query_string, hdrs, body, known)

    def _observe(
        self,
        method: str,
        path: str,
        query_string: str,
        hdrs: dict[str, str],
        body: bytes,
        known: Collection[str] | None = None,
    ) -> Callable[[int, bytes], None]:
        if hdrs.get("user-agent", "").startswith(PREFLIGHT_AGENT):
            return _ignore  # mobsim's preflight probe (mobsim/targets.py), not an SDK
        override = hdrs.get("x-http-method-override", "")
        ep = _route(method, path, override)
        parts = path.split("/")
        path_reg = parts[4] if ep is not None and "{pushRegId}" in ep.template else None
        header_reg = hdrs.get(headers.PUSH_REGISTRATION_ID.lower()) or None
        installation_id = hdrs.get(headers.INSTALLATION_ID.lower()) or None
        key = path_reg or header_reg or (installation_id and self._aliases.get(installation_id, installation_id))
        key = key or "unidentified client"
        state = self._installations.setdefault(key, _Installation())
        found: list[tuple[str, str]] = []

        def flag(rule: str, seen: str) -> None:
            found.append((rule, seen))

        # headers
        auth = hdrs.get("authorization", "")
        code = headers.parse_app_authorization(auth)
        if code is None and not auth.lower().startswith("bearer "):
            flag("HDR-AUTH", f"Authorization {auth[:12] + '…' if auth else 'missing'}")
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
            for name, value in parse_qsl(query_string, keep_blank_values=True):
                if name in _BOOLEAN_QUERY and value in (other.true, other.false):
                    flag("DIALECT-QUERY", f"{name}={value} from an {claimed.os_name} User-Agent")
        # body
        data: Any = None
        if body.strip():
            try:
                data = json.loads(body)
            except ValueError:
                flag("BODY-CONTRACT", "a body that is not JSON")
        if ep.request is not None and data is not None:
            if not isinstance(data, dict):
                flag("BODY-CONTRACT", f"a JSON {type(data).__name__} instead of an object")
            else:
                unknown = _unknown_keys(ep.request, data)
                if unknown:
                    flag("BODY-CONTRACT", f"unknown keys {', '.join(unknown[:5])} in {ep.name}")
                try:
                    ep.request.model_validate(data)
                except ValidationError as exc:
                    problem = exc.errors(include_url=False)[0]
                    where = ".".join(str(p) for p in problem["loc"]) or "body"
                    flag("BODY-CONTRACT", f"{where}: {problem['msg']} in {ep.name}")
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
        signature = f"{method} {path}?{query_string} {hash(body)}"
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
                self._answered(state, key, ep, signature, now, status, answer, installation_id, data)

        return answered

    def _finish(
        self, state: _Installation, key: str, found: list[tuple[str, str]], method: str, path: str
    ) -> Callable[[int, bytes], None]:
        for rule, seen in found:
            self._record(state, key, rule, seen, method, path)
        return lambda status, answer: None

    def _sessions(self, state: _Installation, flag: Callable[[str, str], None], data: dict[str, Any]) -> None:
        bounds = data.get("sessionBounds") if isinstance(data.get("sessionBounds"), dict) else {}
        starts = data.get("sessionStarts") if isinstance(data.get("sessionStarts"), list) else []
        assert isinstance(bounds, dict) and isinstance(starts, list)
        for first, last in bounds.items():
            begin, end = _epoch(first), _epoch(last) if isinstance(last, str) else None
            if begin is not None:
                state.sessions[begin] = max(state.sessions.get(begin, begin), end or begin)
        for text in starts:
            start = _epoch(text) if isinstance(text, str) else None
            if start is None:
                continue
            if start in state.acked_starts and not bounds:
                flag("SESSION-TWICE", f"session start {text} was acknowledged before")
            if start not in state.sessions:
                earlier = [s for s in state.sessions if s < start]
                if earlier:
                    previous = max(earlier)
                    gap = start - state.sessions[previous]
                    if gap < SESSION_GAP - 1:
                        flag("SESSION-30S", f"start {text} {gap:.0f} s after the previous session ended")
                state.sessions[start] = start

    def _answered(
        self,
        state: _Installation,
        key: str,
        ep: Endpoint,
        signature: str,
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
                    self._aliases[installation_id] = reg_id
                    moved = self._installations.pop(installation_id, None)
                    target = self._installations.setdefault(reg_id, _Installation())
                    if moved is not None:
                        target.platform = target.platform or moved.platform
                        target.violations.extend(moved.violations)
                        target.count += moved.count
            if ep.name == "session_report" and isinstance(data, dict):
                for text in data.get("sessionStarts") or []:
                    start = _epoch(text) if isinstance(text, str) else None
                    if start is not None:
                        state.acked_starts.add(start)
        elif status >= 500 or carries_error:  # what the Android SDK retries (5xx, or a 2xx with requestError)
            if status < 500 and not 200 <= status < 300:
                return
            _, attempts = state.failures.get(signature, (now, 0))
            state.failures[signature] = (now, attempts + 1)


_CUSTOM_EVENTS = endpoint("custom_events").template.rsplit("{pushRegId}", 1)[-1]


class StrictMiddleware:
    """Feeds every ``/mobile/`` request to the recorder; the answer goes out unchanged."""

    def __init__(self, app: ASGIApp, recorder: ViolationRecorder) -> None:
        self.app, self.recorder = app, recorder

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/mobile/"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            more = bool(message.get("more_body"))
        body = b"".join(chunks)
        hdrs = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        known = None
        if self.recorder.definitions is not None and scope["path"].endswith(_CUSTOM_EVENTS):
            code = headers.parse_app_authorization(hdrs.get("authorization", ""))
            if code is not None:
                known = await self.recorder.definitions(code)
        answered = self.recorder.observe(scope["method"], scope["path"], scope["query_string"].decode("latin-1"),
                                         hdrs, body, known=known)  # fmt: skip
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

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
