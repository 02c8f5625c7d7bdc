"""What a fault is (``mobsim serve --fault SPEC``): its spec text, its parsing, which requests it matches.

A SPEC is comma-separated ``key=value`` pairs (docs/faults.md): actions (``status`` with ``error``
and ``body``, ``latency``, ``reset``, ``new-base-url``) and filters (``rate``, ``endpoint``, ``platform``,
``after``, ``until``), plus ``seed``. :func:`parse_fault` raises ``ValueError`` with a message
that names the key and how to fix it; the registry and the middleware are in ``faults.py``.
"""

from __future__ import annotations

import difflib
import math
import random
import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Any
from urllib.parse import urlsplit

from contract import ENDPOINTS, Platform

from .messaging import PushLatency

__all__ = ["KEYS", "Delay", "Fault", "RequestFacts", "fault_from_json", "parse_fault", "platform_of_request"]

KEYS = (
    "status", "error", "body", "latency", "reset", "new-base-url", "rate", "endpoint", "platform", "after", "until",
    "seed",
)  # fmt: skip
"""Every key of a SPEC, in the order a fault's canonical spec names them."""

BODIES = ("envelope", "empty", "{}")
"""What a ``status`` answer carries: the serviceException envelope, nothing, or an empty JSON object
(the three bodies the Android SDK tells apart: docs/faults.md)."""
MAX_LATENCY_MS = 600_000.0
"""Ten minutes: far beyond any SDK's timeout (20 to 60 s), so nothing a test needs is refused."""
_STATS_NAMES = {ep.stats_name for ep in ENDPOINTS}
_BY_ROUTE = {(ep.method, ep.template): ep for ep in ENDPOINTS}
_BY_NAME = {ep.name: ep for ep in ENDPOINTS}
_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")
_MESSAGE_ID = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,99}")
_GLOB = re.compile(r"[*?\[]")
_IOS_AGENT, _ANDROID_AGENT = "MobileMessaging/", "Infobip Mobile API Client/"


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _shown(value: float) -> str:
    return str(int(value)) if value == int(value) else repr(value)


@dataclass(frozen=True, slots=True)
class Delay:
    """A latency: fixed (``low == high``), uniform between ``low`` and ``high``, or lognormal with
    median ``low`` and 95th percentile ``high`` (as the push provider's, server_stub/messaging.py)."""

    kind: str
    low: float
    high: float

    def sample_ms(self, rng: random.Random) -> float:
        if self.kind == "lognormal":
            return float(PushLatency(self.low, self.high).sample_ms(rng))
        return self.low if self.low == self.high else rng.uniform(self.low, self.high)

    def __str__(self) -> str:
        if self.kind == "lognormal":
            return f"lognormal:{_shown(self.low)}:{_shown(self.high)}"
        return _shown(self.low) if self.low == self.high else f"{_shown(self.low)}-{_shown(self.high)}"

    @classmethod
    def parse(cls, text: str) -> Delay:
        how = "write MS (250), a range LOW-HIGH (100-500) or lognormal:MEDIAN:P95 (lognormal:300:1500), in milliseconds"
        try:
            if text.startswith("lognormal:"):
                median_text, _, p95_text = text.removeprefix("lognormal:").partition(":")
                median = _number(median_text)
                delay = cls("lognormal", median, _number(p95_text) if p95_text else 5 * median)
            elif "-" in text.lstrip("-"):
                low_text, _, high_text = text.partition("-")
                delay = cls("uniform", _number(low_text), _number(high_text))
            else:
                delay = cls("fixed", _number(text), _number(text))
        except ValueError:
            raise ValueError(f"latency={text}: {how}") from None
        if delay.low < 0 or delay.high < delay.low:
            raise ValueError(f"latency={text}: latencies are >= 0 and a range's high end is not below its low end")
        if delay.high > MAX_LATENCY_MS:
            raise ValueError(f"latency={text}: at most {MAX_LATENCY_MS:.0f} ms (10 minutes)")
        return delay


class RequestFacts:
    """What a fault's filters look at in one request; the stats name and platform are worked out
    only when a filter asks."""

    def __init__(self, method: str, path: str, *, override: str = "", user_agent: str = "", query_string: str = ""):
        self.method, self.path, self.override = method, path, override
        self.user_agent, self.query_string = user_agent, query_string

    @cached_property
    def template(self) -> str:
        parts = self.path.split("/")
        if len(parts) > 4 and parts[1] == "mobile" and parts[3] == "appinstance" and parts[4]:
            parts[4] = "{pushRegId}"
        return "/".join(parts)

    @cached_property
    def stats_name(self) -> str:
        """The Locust stats name of an SDK endpoint (Android's POST + override as the logical PATCH),
        else ``METHOD /path``."""
        logical = self.override.upper() if self.method == "POST" and self.override else self.method
        ep = _BY_ROUTE.get((logical, self.template))
        return ep.stats_name if ep is not None else f"{self.method} {self.path}"

    @cached_property
    def platform(self) -> Platform | None:
        return platform_of_request(self.user_agent, self.query_string)


def platform_of_request(user_agent: str, query_string: str = "") -> Platform | None:
    """The platform of an SDK's request, from its User-Agent (contract/headers.py: the iOS and the
    Android shape; a Huawei phone is an Android User-Agent whose manufacturer field, the fifth, is
    ``HUAWEI``), else the ``platformType`` query (``APNS`` iOS, ``GCM`` Android); None when neither says."""
    if user_agent.startswith(_IOS_AGENT):
        return Platform.IOS
    if user_agent.startswith(_ANDROID_AGENT):
        fields = user_agent.partition("(")[2].split(";")
        return Platform.HUAWEI if len(fields) > 4 and fields[4].strip().upper() == "HUAWEI" else Platform.ANDROID
    for pair in query_string.split("&"):
        if pair == "platformType=APNS":
            return Platform.IOS
        if pair == "platformType=GCM":
            return Platform.ANDROID
    return None


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault: what it does to a request it acts on, and which requests it applies to."""

    status: int | None = None
    error: str | None = None
    body: str | None = None
    latency: Delay | None = None
    reset: bool = False
    new_base_url: str | None = None
    rate: float = 1.0
    endpoint: str | None = None
    platform: Platform | None = None
    after: float | None = None
    until: float | None = None
    seed: int | None = None

    @property
    def answer_body(self) -> str:
        """The body a ``status`` answer carries: ``body=``, else the envelope for an error status or
        an ``error=``, else nothing."""
        if self.body is not None:
            return self.body
        return "envelope" if self.error is not None or (self.status or 0) >= 400 else "empty"

    @property
    def terminal(self) -> bool:
        """It answers (``status``) or drops the connection (``reset``) itself: the request goes no further."""
        return self.status is not None or self.reset

    @property
    def spec(self) -> str:
        """The canonical SPEC text (keys in :data:`KEYS` order, the default rate left out)."""
        values: dict[str, Any] = {
            "status": self.status, "error": self.error, "body": self.body, "latency": self.latency,
            "reset": self.reset or None,
            "new-base-url": self.new_base_url,
            "rate": None if self.rate == 1 else _shown(self.rate), "endpoint": self.endpoint, "platform": self.platform,
            "after": None if self.after is None else _shown(self.after),
            "until": None if self.until is None else _shown(self.until), "seed": self.seed,
        }  # fmt: skip
        return ",".join(
            "reset" if key == "reset" else f"{key}={values[key]}" for key in KEYS if values[key] is not None
        )

    def active_at(self, now: float) -> bool:
        """Within ``after <= now < until`` (seconds since the server started)."""
        return (self.after is None or now >= self.after) and (self.until is None or now < self.until)

    def matches(self, request: RequestFacts) -> bool:
        if self.platform is not None and request.platform is not self.platform:
            return False
        if self.endpoint is None:
            return True
        if self.endpoint.startswith("/"):
            return fnmatchcase(request.path, self.endpoint) or fnmatchcase(request.template, self.endpoint)
        return fnmatchcase(request.stats_name, self.endpoint)

    def to_json(self) -> dict[str, Any]:
        return {
            "spec": self.spec, "status": self.status, "error": self.error, "body": self.body,
            "latency": None if self.latency is None else str(self.latency), "reset": self.reset,
            "newBaseUrl": self.new_base_url, "rate": self.rate, "endpoint": self.endpoint,
            "platform": None if self.platform is None else self.platform.value,
            "after": self.after, "until": self.until, "seed": self.seed,
        }  # fmt: skip


def _status(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 200 <= int(text) <= 599:
        raise ValueError(f"status={text}: an HTTP status is a whole number from 200 to 599, e.g. status=503")
    return int(text)


def _error(text: str) -> str:
    if not _MESSAGE_ID.fullmatch(text):
        raise ValueError(
            f"error={text}: a messageId is a letter then up to 99 letters, digits, _ . or -, e.g. error=NO_REGISTRATION"
        )
    return text


def _body(text: str) -> str:
    if text not in BODIES:
        raise ValueError(f"body={text}: write body=envelope (serviceException), body=empty or body={{}}")
    return text


def _url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc or not text.isascii() or not text.isprintable():
        raise ValueError(
            f"new-base-url={text}: write an absolute http(s) URL, e.g. new-base-url=https://b.example.com/"
        )
    if " " in text or len(text) > 2000:
        raise ValueError(f"new-base-url={text[:80]}: a URL has no spaces and at most 2000 characters")
    return text


def _rate(text: str) -> float:
    try:
        rate = _number(text)
    except ValueError:
        rate = -1.0
    if not 0 < rate <= 1:
        raise ValueError(f"rate={text}: the share of requests to act on, above 0 and at most 1, e.g. rate=0.3")
    return rate


def _endpoint(text: str) -> str:
    how = (
        "write a stats name ('POST /mobile/1/appinstance', as Locust's stats name it), a glob over them "
        "('*/messages*') or a path glob ('/push/*')"
    )
    if text in _BY_NAME:  # an endpoint's name (create_installation) stands for its stats name
        return _BY_NAME[text].stats_name
    if text.startswith("/"):
        if text == "/inspect" or text.startswith(("/inspect/", "/inspect*")):
            raise ValueError(f"endpoint={text}: the inspection API is never faulted; {how}")
        return text
    method, space, path = text.partition(" ")
    if not space:
        if not _GLOB.search(text):
            raise ValueError(f"endpoint={text}: {how}")
        return text
    if method.upper() in _METHODS:
        method = method.upper()
    elif not _GLOB.search(method):
        raise ValueError(f"endpoint={text}: {method!r} is no HTTP method; {how}")
    name = f"{method} {path.strip()}"
    if not _GLOB.search(name) and name.split(" ", 1)[1].startswith("/mobile/") and name not in _STATS_NAMES:
        close = difflib.get_close_matches(name, sorted(_STATS_NAMES), n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "see contract/endpoints.py for the stats names"
        raise ValueError(f"endpoint={text}: no Mobile API endpoint has this stats name; {hint}")
    return name


def _platform(text: str) -> Platform:
    try:
        return Platform(text.lower())
    except ValueError:
        raise ValueError(f"platform={text}: write platform=ios, platform=android or platform=huawei") from None


def _seconds(key: str, text: str) -> float:
    try:
        value = _number(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ValueError(f"{key}={text}: seconds since the server started, a number >= 0, e.g. {key}=40")
    return value


def _seed(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"seed={text}: a whole number, e.g. seed=7") from None


_PARSERS: dict[str, Any] = {
    "status": _status, "error": _error, "body": _body, "latency": Delay.parse, "new-base-url": _url, "rate": _rate,
    "endpoint": _endpoint, "platform": _platform, "after": lambda t: _seconds("after", t),
    "until": lambda t: _seconds("until", t), "seed": _seed,
}  # fmt: skip
_FIELDS = {"new-base-url": "new_base_url"}


def parse_fault(text: str) -> Fault:
    """A fault from its SPEC text; ``ValueError`` names the key at fault and how to write it."""
    if not text.strip():
        raise ValueError("an empty fault: write key=value pairs, e.g. 'status=503,rate=0.3'")
    if len(text) > 4000:
        raise ValueError("a fault spec has at most 4000 characters")
    values: dict[str, Any] = {}
    for item in text.split(","):
        key, equals, value = (part.strip() for part in item.partition("="))
        if not key:
            raise ValueError(f"{text!r} has an empty item: separate key=value pairs with single commas")
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f"did you mean {close[0]}?" if close else f"the keys are {', '.join(KEYS)}"
            raise ValueError(f"{item.strip()}: unknown key {key!r}; {hint}")
        if key in values:
            raise ValueError(f"{key} is given twice; give each key once")
        if key == "reset":
            if equals:
                raise ValueError(f"{item.strip()}: reset takes no value; write reset")
            values["reset"] = True
            continue
        if not value:
            raise ValueError(f"{key} has no value; write {key}=VALUE")
        values[key] = _PARSERS[key](value)
    return _checked(values)


def _checked(values: dict[str, Any]) -> Fault:
    for key in ("error", "body"):
        if key in values and "status" not in values:
            raise ValueError(f"{key}= needs status=CODE, e.g. status=409,error=USER_MERGE_INTERRUPTED")
    if "error" in values and values.get("body", "envelope") != "envelope":
        raise ValueError(f"error= is the envelope's messageId: it takes no body={values['body']}")
    bodyless = values.get("status") in (204, 304)
    if bodyless and ("error" in values or values.get("body", "empty") != "empty"):
        raise ValueError(f"status={values['status']} has no body: it takes no error= and no body= but body=empty")
    if not any(key in values for key in ("status", "latency", "reset", "new-base-url")):
        raise ValueError("a fault needs an action: status=CODE, latency=MS, reset or new-base-url=URL")
    if values.get("reset") and ("status" in values or "new-base-url" in values):
        raise ValueError("reset drops the connection without an answer: it takes no status= or new-base-url=")
    after, until = values.get("after"), values.get("until")
    if after is not None and until is not None and until <= after:
        raise ValueError(f"until={_shown(until)} is not after after={_shown(after)}: the window would be empty")
    return Fault(**{_FIELDS.get(key, key): value for key, value in values.items()})


def fault_from_json(body: dict[str, Any]) -> Fault:
    """A fault from the inspection API's body: ``{"spec": "status=503,rate=0.3"}`` or the same keys as
    a JSON object (``{"status": 503, "rate": 0.3}``; ``newBaseUrl`` for ``new-base-url``, ``reset: true``)."""
    if "spec" in body:
        if len(body) > 1:
            raise ValueError("give either spec or the fault's keys, not both")
        if not isinstance(body["spec"], str):
            raise ValueError('spec is a string, e.g. {"spec": "status=503,rate=0.3"}')
        return parse_fault(body["spec"])
    parts = []
    for name, value in body.items():
        key = "new-base-url" if name == "newBaseUrl" else name
        if key not in KEYS:
            close = difflib.get_close_matches(key, [*KEYS, "spec"], n=1)
            hint = f"did you mean {close[0]}?" if close else f"the keys are spec or {', '.join(KEYS)}"
            raise ValueError(f"unknown key {name!r}; {hint}")
        if key == "reset":
            if not isinstance(value, bool):
                raise ValueError("reset is true or false")
            parts += ["reset"] if value else []
            continue
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"{name} is a number or a string")
        shown = repr(value) if isinstance(value, float) else str(value)
        if "," in shown:
            raise ValueError(f"{name} holds a comma; commas only separate the keys of a spec")
        parts.append(f"{key}={shown}")
    return parse_fault(",".join(parts))
