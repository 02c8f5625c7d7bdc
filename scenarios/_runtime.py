"""The per-process side of a run under Locust: the Locust transport, the rate cap, the population
slice, the installed-base set-up, the session tally, the open-model arrivals, and the summary the
master writes (with each process's own final counts in a part file beside it)."""

from __future__ import annotations

import inspect
import logging
import os
import re
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import MappingProxyType
from typing import Any

import gevent
from geventhttpclient.response import HTTPConnectionClosed
from geventhttpclient.url import URL
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.exception import CatchResponseError

from simulator import AppConfig, Outgoing, Reply
from simulator.outcomes import PENDING_KINDS

from ._arrivals import Arrivals
from ._connections import ConnectionWatch, watch_of
from ._counts import arrivals_summary, merge_parts
from ._curves import curve, spike_level
from ._installed_base import SetupResult, establish
from ._options import plan_shape, population_for
from ._personas import Tally
from ._population import (
    Slice,
    load_state,
    prune_state_files,
    slice_state_path,
)
from ._request_head import DirectSender, head_problem

__all__ = ["STALE_RETRIES", "LocustTransport", "RateLimiter", "RunState", "remote_default_rps", "summary"]

STALE_RETRIES = "retried_on_stale_connection"
"""The run summary's ``transport`` counter of requests sent again on a fresh connection after the
reused one broke before any answer (`LocustTransport`)."""

REMOTE_DEFAULT_RPS = 50.0
"""``--max-rps`` when it is not given and the host is not on loopback (as ``mobsim run``)."""

log = logging.getLogger("mobsim.scenarios")


class RateLimiter:
    """A token bucket shared by the users of one process (gevent-friendly)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()

    def acquire(self) -> None:
        now = time.monotonic()
        if self.next > now:
            gevent.sleep(self.next - now)
            now = self.next
        self.next = max(self.next, now - 1.0) + self.interval


class LocustTransport:
    """Carries a device's requests over a Locust ``FastHttpSession`` and reports each under its
    endpoint template. A non-2xx answer is a failure unless its ``messageId`` was declared
    expected for the call in progress (see :meth:`expect`); a 2xx carrying ``requestError``
    breaks the contract and is a failure too.

    Two paths carry a request, with the same request event, the same bytes on the wire and the
    same :class:`Reply`:

    * the fast path (:meth:`_send_fast`), for a plain ``FastHttpSession`` without retries: it
      drives the session's user agent and pooled ``HTTPClient`` directly, through private Locust
      and geventhttpclient internals (:func:`fast_path_problem` lists them);
    * the public path, ``FastHttpSession.request(..., catch_response=True, allow_redirects=False)``
      (any other client, too): slower, some 20% more client CPU per request (locust 2.47, a
      loopback POST: about 370 µs against 305).

    The internals are checked once per process, when the first transport over a
    ``FastHttpSession`` is made; if one is missing or behaves differently, one warning is logged
    (logger ``mobsim.scenarios``) and every request takes the public path. ``public_path=True``, or
    ``MOBSIM_LOCUST_PUBLIC_PATH=1`` in the environment (read when a transport is made, passed on to
    Locust's worker processes), chooses the public path outright.

    On both paths a request whose SDK's HTTP client would send it again (`Outgoing.retry_stale`:
    OkHttp on Android and Huawei, URLSession for idempotent methods on iOS) is sent again, once,
    when the reused keep-alive connection it went out on closed or was reset before any byte of
    the answer arrived; never after part of an answer, never after a fresh connection broke, never
    twice (geventhttpclient's own second attempt at an idempotent request is replaced by this
    rule: `scenarios._connections`). Locust records the request once, with the retried attempt's
    outcome and time; ``counts["retried_on_stale_connection"]`` counts the retries (the run
    summary's ``transport`` figures).
    """

    __slots__ = ("_clients", "_fast", "_watches", "client", "counts", "expected", "limiter", "suffix")

    def __init__(
        self,
        client: Any,
        limiter: RateLimiter | None = None,
        suffix: str = "",
        *,
        public_path: bool = False,
        counts: dict[str, int] | None = None,
    ) -> None:
        self.client = client
        self.limiter = limiter
        self.suffix = suffix
        self.counts = counts if counts is not None else {}
        """The transport's counters (shared by the transports of a process: ``RunState``)."""
        self.counts.setdefault(STALE_RETRIES, 0)
        self.expected: frozenset[str] = frozenset()
        self._clients: dict[str, tuple[Any, Any, dict[str, str], ConnectionWatch | None]] = {}
        self._watches: dict[str, ConnectionWatch | None] = {}
        """The public path's connection watch per origin."""
        self._fast: _Internals | None = None
        """What the fast path needs, when this transport's requests take it."""
        if (
            not public_path
            and os.environ.get(PUBLIC_PATH_ENV, "").strip().lower() not in _TRUE
            and type(client) is FastHttpSession
        ):
            internals = _internals()
            if (
                internals.problem is None
                and type(getattr(client, "client", None)) is internals.agent_type
                and not client.client.max_retries
            ):
                self._fast = internals

    @property
    def fast(self) -> bool:
        """Whether this transport's requests take the fast path."""
        return self._fast is not None

    @contextmanager
    def expect(self, codes: frozenset[str]) -> Iterator[None]:
        previous, self.expected = self.expected, codes
        try:
            yield
        finally:
            self.expected = previous

    def send(self, request: Outgoing) -> Reply:
        if self.limiter is not None:
            self.limiter.acquire()
        endpoint = request.wire.endpoint
        name = _STATS_NAMES.get(endpoint.name) or _STATS_NAMES.setdefault(endpoint.name, endpoint.stats_name)
        if self.suffix:
            name += self.suffix
        if self._fast is not None:
            return self._send_fast(self._fast, self.client, request, name)
        watch = self._public_watch(request.url)
        for attempt in (0, 1):
            if watch is not None:
                watch.begin()
            try:
                # catch_response: nothing is reported until the ``with`` block below ends, so an
                # attempt given up for a retry is never reported
                response = self.client.request(
                    request.method,
                    request.url,
                    name=name,
                    data=request.content,
                    headers=request.headers,
                    catch_response=True,
                    allow_redirects=False,
                )
            finally:
                reused = watch is not None and watch.end()
            error = getattr(response, "error", None)
            if not (attempt == 0 and self._stale(request, error, reused)):
                break
        if isinstance(error, HTTPConnectionClosed):
            response.error = _closed(error)
        with response:
            status = response.status_code
            content = response.content or b""
            verdict = self._verdict(status, content)
            if verdict is None:
                response.success()
            elif status:
                response.failure(verdict)
            headers = response.headers
            return Reply(status, ResponseHeaders(headers) if headers else _NO_HEADERS, content)

    def _stale(self, request: Outgoing, error: BaseException | None, reused: bool) -> bool:
        """Whether a first attempt that failed with ``error`` is sent again (and counted)."""
        if not (request.retry_stale and reused and isinstance(error, HTTPConnectionClosed)):
            return False
        self.counts[STALE_RETRIES] += 1
        return True

    def _public_watch(self, url: str) -> ConnectionWatch | None:
        """The watch on the pool the public path's request to ``url`` takes its connection from
        (None when the client is not Locust's user agent over geventhttpclient)."""
        cut = url.find("/", url.find("://") + 3)
        origin = url if cut < 0 else url[:cut]
        if origin not in self._watches:
            try:
                http_client = self.client.client.clientpool.get_client(URL(origin))
            except Exception:  # any other client: no pool to watch, no retries
                http_client = None
            self._watches[origin] = watch_of(http_client) if http_client is not None else None
        return self._watches[origin]

    def _verdict(self, status: int, content: bytes) -> str | None:
        """None for an answer that counts as a success, else why it is a failure."""
        if 200 <= status < 300:
            return "2xx answer carrying requestError" if content.startswith(b'{"requestError"') else None
        code = _message_id(content)
        if status and code in self.expected:
            return None
        return f"{status} {code or 'without the requestError envelope'}"

    def _send_fast(self, fast: _Internals, session: FastHttpSession, request: Outgoing, name: str) -> Reply:
        """What ``session.request(..., catch_response=True, allow_redirects=False)`` and the
        ``with`` block above do, on the session's own pooled connections, minus the generic work a
        device request never needs.

        The request goes to the ``HTTPClient`` the session's user agent would use (same pool, same
        timeouts, same bytes on the wire); the answer is read through Locust's ``FastResponse``
        (content decoding, release to the pool) and the request event is fired with the same
        fields. Skipped: parsing each URL (device URLs are unique, so urllib's cache never hits),
        the user agent's request object and redirect/retry loop (Locust runs it with no retries and
        here no redirects) and the Locust user's cookie jar, which would hand one device's cookies
        to the next device that user drives (the Mobile API sets none). Kept: the content type the
        request object gives a body sent without one.
        """
        headers = request.headers
        if session.auth_header:
            headers = {**headers, "Authorization": session.auth_header}
        if "Accept-Encoding" not in headers and "accept-encoding" not in headers:
            headers = {**headers, "Accept-Encoding": "gzip, deflate, br"}
        agent = session.client
        url, method, payload = request.url, request.method, request.content
        if payload and "Content-Type" not in headers and not _has_content_type(headers):
            headers = {**headers, "content-type": "application/octet-stream"}  # as the user agent's request
        sender, target, defaults, watch = self._route(agent, url, fast)
        if defaults:
            headers = {**defaults, **headers}
        exception: Exception | None = None
        response: Any
        for attempt in (0, 1):
            start_time = time.time()
            started = time.perf_counter()
            if watch is not None:
                watch.begin()
            try:
                answer = sender.request(method, target, body=payload, headers=headers)
                response = agent.response_type(answer, None, getattr(answer, "_sent_request", None))
            except fast.failures as exc:
                reused = watch is not None and watch.end()
                if attempt == 0 and self._stale(request, exc, reused):
                    continue
                failure = _closed(exc) if isinstance(exc, HTTPConnectionClosed) else exc
                exception = _as_user_agent_error(agent, failure, url, fast.failures)
                fake = agent._make_request(url, method=method, headers=headers, payload=payload)
                response = fast.error_response(fake, exception)
            else:
                if watch is not None:
                    watch.end()
            break
        try:
            content = response.content or b""
        except fast.failures as exc:  # the connection broke while the body was read
            content, exception = b"", exc
        response_time = (time.perf_counter() - started) * 1000
        status = response.status_code if exception is None else 0
        if exception is None:
            verdict = self._verdict(status, content)
            exception = CatchResponseError(verdict) if verdict is not None else None
        user = session.user
        session.request_event.fire(
            request_type=method,
            name=name,
            context=user.context() if user is not None else {},
            response=response,
            exception=exception,
            start_time=start_time,
            url=url,
            response_length=len(content),
            response_time=response_time,
        )
        headers_in = response.headers if status else None
        return Reply(status, ResponseHeaders(headers_in) if headers_in is not None else _NO_HEADERS, content)

    def _route(self, agent: Any, url: str, fast: _Internals) -> tuple[Any, str, dict[str, str], ConnectionWatch | None]:
        """What sends to the URL's origin (the pooled ``HTTPClient``, or a :class:`DirectSender`
        on it when its connections are watched), the request target as the user agent would send
        it (``fast.target``: the ``URL`` attribute it sends), the user agent's default headers the
        client does not add itself, and the watch on the client's connections."""
        cut = url.find("/", url.find("://") + 3)
        origin, target = (url, "/") if cut < 0 else (url[:cut], url[cut:])
        if not _PLAIN_TARGET.fullmatch(target):
            target = getattr(URL(url), fast.target)
        route = self._clients.get(origin)
        if route is None or route[0] is not agent:
            client = agent.clientpool.get_client(URL(origin))
            own = client.default_headers
            defaults = {k: v for k, v in agent.default_headers.items() if own.get(k) != v}
            watch = watch_of(client)
            sender = (
                DirectSender(client) if watch is not None and fast.direct and DirectSender.usable(client) else client
            )
            route = self._clients[origin] = (agent, sender, defaults, watch)
        return route[1], target, route[2], route[3]


def _closed(error: HTTPConnectionClosed) -> HTTPConnectionClosed:
    """geventhttpclient's own error for a connection that closed before any answer (in place of the
    watch's stand-in for geventhttpclient's second attempt), so both read the same in the stats."""
    return error if type(error) is HTTPConnectionClosed else HTTPConnectionClosed(*error.args)


def _has_content_type(headers: Mapping[str, str]) -> bool:
    return any(key.lower() == "content-type" for key in headers)


def _as_user_agent_error(agent: Any, error: Exception, url: str, failures: tuple[type[Exception], ...]) -> Exception:
    """The error the user agent would have raised for ``error`` (with no retries left): a timeout
    becomes ``RetriesExceeded``, anything else stays as it is. ``failures``: Locust's
    ``FAILURE_EXCEPTIONS``."""
    try:
        agent._handle_error(error, url=url)  # returns the errors it would retry, raises the others
        agent._handle_retries_exceeded(url, last_error=error)
    except failures as final:
        return final
    return error


PUBLIC_PATH_ENV = "MOBSIM_LOCUST_PUBLIC_PATH"
"""Set to ``1`` (or ``true``, ``yes``, ``on``) for every Locust request to take the public path."""
_TRUE = frozenset({"1", "true", "yes", "on"})


class _Internals:
    """What the check of the internals found: why the fast path is off, or the pieces it uses."""

    __slots__ = ("agent_type", "direct", "error_response", "failures", "problem", "target")

    def __init__(
        self,
        problem: str | None,
        failures: tuple[type[Exception], ...] = (),
        error_response: Any = None,
        target: str = "quoted_uri",
        agent_type: type | None = None,
    ) -> None:
        self.problem = problem
        self.failures = failures
        """``locust.contrib.fasthttp.FAILURE_EXCEPTIONS``"""
        self.error_response = error_response
        """``locust.contrib.fasthttp.ErrorResponse``"""
        self.target = target
        """The ``geventhttpclient.url.URL`` attribute the user agent sends as request target."""
        self.agent_type = agent_type
        """The user agent class checked (``LocustUserAgent``)."""
        self.direct = False
        """Whether requests go out through :class:`DirectSender` (its heads checked)."""


_INTERNALS: _Internals | None = None
"""The outcome of the check of the internals, once made."""


def fast_path_problem() -> str | None:
    """None if the installed Locust and geventhttpclient have what the fast path needs, else which
    internal is missing or behaves differently. Checked once per process, on throwaway objects (no
    socket is opened), with one warning when the fast path is off.

    What the fast path uses, and how it is checked:

    * ``locust.contrib.fasthttp.FAILURE_EXCEPTIONS``: a tuple of exception classes;
      ``ErrorResponse(request, error)``: an answer with status 0 and no content;
    * of a ``FastHttpSession``: ``client`` (its ``LocustUserAgent``), ``auth_header`` (None, or the
      Basic credentials of the host URL), ``request_event`` (with ``fire``) and ``user``;
    * of the user agent: ``max_retries``, ``default_headers`` (``items``, ``copy``),
      ``clientpool.get_client(URL)`` (an ``HTTPClient`` with ``default_headers`` and
      ``request(method, target, body=, headers=)``), ``response_type(answer, request, sent)``
      (with ``content``, ``status_code``, ``headers``), ``_make_request(url, method=, headers=,
      payload=)``, ``_handle_error`` and ``_handle_retries_exceeded``: turned into errors as
      ``urlopen`` turns them (a timeout and a refused connection are tried on both);
    * ``_urlopen``, the oracle: given a recording client, it must send the method, body and headers
      of the request as they are, a plain target as it is, and any other as
      ``geventhttpclient.url.URL.quoted_uri`` (or ``request_uri``, as older Locust versions do).
      The answer's ``_sent_request`` is passed on when there is one.
    """
    return _internals().problem


def _internals() -> _Internals:
    global _INTERNALS
    if _INTERNALS is None:
        try:
            found = _check_internals()
        except Exception as exc:  # any surprise on the throwaway objects: an internal has changed
            found = _Internals(f"checking the internals raised {type(exc).__name__}: {exc}")
        _INTERNALS = found
        if found.problem is None:
            try:
                head = head_problem()
            except Exception as exc:  # any surprise on the throwaway client: an internal has changed
                head = f"checking it raised {type(exc).__name__}: {exc}"
            found.direct = head is None
            if head is not None:
                log.warning("request heads built by geventhttpclient (slower, same bytes): %s", head)
        if found.problem is not None:
            import geventhttpclient
            import locust

            log.warning(
                "Locust fast path off on locust %s / geventhttpclient %s: %s; every request takes the public"
                " FastHttpSession.request path instead (slower, same results)",
                getattr(locust, "__version__", "?"),
                getattr(geventhttpclient, "__version__", "?"),
                found.problem,
            )
    return _INTERNALS


class _Recorded(Exception):
    """Raised by the recording client once it has seen a request."""


class _RecordingClient:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.error: Exception = _Recorded()

    def request(self, method: str, request_uri: str, body: Any = b"", headers: Any = None) -> Any:
        self.calls.append((method, request_uri, body, headers))
        raise self.error


class _RecordingPool:
    def __init__(self, client: _RecordingClient) -> None:
        self.client = client

    def get_client(self, url: Any) -> _RecordingClient:
        return self.client


def _binds(function: Any, *args: Any, **kwargs: Any) -> bool:
    try:
        inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError):
        return False
    return True


def _check_internals() -> _Internals:
    """The pieces the fast path uses, or an ``_Internals`` with the first that is missing."""
    found = _check_problem()
    return _Internals(f"{found} is missing or not as expected") if isinstance(found, str) else found


def _check_problem() -> _Internals | str:
    from geventhttpclient import url as ghc_url
    from locust.contrib import fasthttp
    from locust.event import EventHook

    failures = getattr(fasthttp, "FAILURE_EXCEPTIONS", None)
    if not (
        isinstance(failures, tuple)
        and failures
        and all(isinstance(kind, type) and issubclass(kind, BaseException) for kind in failures)
    ):
        return "locust.contrib.fasthttp.FAILURE_EXCEPTIONS (a tuple of exception classes)"
    error_response = getattr(fasthttp, "ErrorResponse", None)
    if not isinstance(error_response, type) or not _binds(error_response, None, None):
        return "locust.contrib.fasthttp.ErrorResponse(request, error)"

    hook = EventHook()
    plain = FastHttpSession("http://127.0.0.1:9", request_event=hook, user=None, max_retries=0)
    if getattr(plain, "auth_header", "") is not None:
        return "FastHttpSession.auth_header (None without credentials)"
    session = FastHttpSession("http://mobsim:probe@127.0.0.1:9", request_event=hook, user=None, max_retries=0)
    if not (isinstance(session.auth_header, str) and session.auth_header.startswith("Basic ")):
        return "FastHttpSession.auth_header (the Basic credentials of the host URL)"
    if getattr(session, "request_event", None) is not hook or not callable(getattr(hook, "fire", None)):
        return "FastHttpSession.request_event (the request event hook)"
    if not hasattr(session, "user") or session.user is not None:
        return "FastHttpSession.user"
    agent: Any = getattr(session, "client", None)
    if agent is None:
        return "FastHttpSession.client (the user agent)"
    kind = type(agent).__name__
    if getattr(agent, "max_retries", None) != 0:
        return f"{kind}.max_retries"
    defaults = getattr(agent, "default_headers", None)
    if not (callable(getattr(defaults, "items", None)) and callable(getattr(defaults, "copy", None))):
        return f"{kind}.default_headers (a Headers mapping)"
    pool: Any = getattr(agent, "clientpool", None)
    if not callable(getattr(pool, "get_client", None)):
        return f"{kind}.clientpool.get_client"
    client = pool.get_client(ghc_url.URL("http://127.0.0.1:9"))
    if not callable(getattr(getattr(client, "default_headers", None), "get", None)):
        return "HTTPClient.default_headers"
    if not _binds(client.request, "GET", "/", body=b"", headers={}):
        return "HTTPClient.request(method, target, body=, headers=)"
    response_type = getattr(agent, "response_type", None)
    if not (
        isinstance(response_type, type)
        and _binds(response_type, None, None, None)
        and all(hasattr(response_type, field) for field in ("content", "status_code", "headers"))
    ):
        return f"{kind}.response_type(answer, request, sent_request)"
    for method in ("_make_request", "_handle_error", "_handle_retries_exceeded", "_urlopen"):
        if not callable(getattr(agent, method, None)):
            return f"{kind}.{method}"

    url = "http://127.0.0.1:9/mobile/1/appinstance?rt=true"
    fake = agent._make_request(url, method="POST", headers={"Content-Type": "application/json"}, payload=b"{}")
    answer = error_response(fake, ConnectionRefusedError())
    if answer.status_code != 0 or answer.content or getattr(answer, "request", None) is not fake:
        return "locust.contrib.fasthttp.ErrorResponse (the request, status 0, no content)"

    recorder = _RecordingClient()
    agent.clientpool = _RecordingPool(recorder)  # the throwaway session's agent only
    for error in (TimeoutError("timed out"), ConnectionRefusedError(111, "Connection refused")):
        recorder.error = type(error)(*error.args)
        try:
            agent.urlopen(url, method="POST", headers={"Content-Type": "application/json"}, payload=b"{}")
        except Exception as exc:  # what the user agent raises is the reference
            public: Exception = exc
        else:
            return f"{kind}.urlopen (raising on a {type(error).__name__})"
        fast = _as_user_agent_error(agent, type(error)(*error.args), url, failures)
        if type(fast) is not type(public) or not isinstance(fast, failures):
            return f"{kind}._handle_error/_handle_retries_exceeded (a {type(error).__name__} becomes {public!r})"

    recorder.error = _Recorded()
    targets = {}
    for target in ("/mobile/1/appinstance/a-1/user?ri=true&rt=false", "/odd path/é/%7E?q=a b&r=~"):
        sample = "http://127.0.0.1:9" + target
        made = agent._make_request(sample, method="POST", headers=agent.default_headers.copy(), payload=b"{}")
        sent_headers = list(made.headers.items())
        try:
            agent._urlopen(made)
        except _Recorded:
            pass
        else:
            return f"{kind}._urlopen (the request goes to clientpool.get_client(...).request)"
        method, sent_target, body, headers = recorder.calls[-1]
        if (method, body) != ("POST", b"{}") or list(headers.items()) != sent_headers:
            return f"{kind}._urlopen (method, body and headers sent as they are)"
        targets[target] = sent_target
    plain_target, odd_target = targets
    if targets[plain_target] != plain_target:
        return f"{kind}._urlopen (a plain target sent as it is)"
    odd = ghc_url.URL("http://127.0.0.1:9" + odd_target)
    attribute = next(
        (name for name in ("quoted_uri", "request_uri") if getattr(odd, name, None) == targets[odd_target]), None
    )
    if attribute is None:
        return f"geventhttpclient.url.URL.quoted_uri (the target {kind}._urlopen sends)"

    return _Internals(None, failures, error_response, attribute, type(agent))


_PLAIN_TARGET = re.compile(r"/[A-Za-z0-9\-._~/?=&]*")
"""Request targets that the user agent's quoting (``URL.quoted_uri``, or ``request_uri``) leaves as
they are."""
_STATS_NAMES: dict[str, str] = {}
_NO_HEADERS: Mapping[str, str] = MappingProxyType({})


class ResponseHeaders(Mapping[str, str]):
    """A read-only view of geventhttpclient's case-insensitive response headers as one string per
    name (the last, when a header came more than once), built lazily: the device reads one or two."""

    __slots__ = ("_headers", "_lowered")

    def __init__(self, headers: Any) -> None:
        self._headers = headers
        self._lowered: dict[str, str] | None = None

    def get(self, name: str, default: Any = None) -> Any:
        headers = self._headers
        if name not in headers:  # a miss without the KeyError that Headers.get raises and catches
            return default
        value = headers[name]
        return value[-1] if isinstance(value, list) else value

    def _all(self) -> dict[str, str]:
        if self._lowered is None:
            self._lowered = {k.lower(): v for k, v in self._headers.items()}
        return self._lowered

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return str(value)

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __repr__(self) -> str:
        return f"ResponseHeaders({self._all()!r})"


def _message_id(content: bytes) -> str:
    marker = content.find(b'"messageId":"')
    if marker < 0:
        return ""
    start = marker + 13
    return content[start : content.find(b'"', start)].decode("utf-8", "replace")


def remote_default_rps(host: str, max_rps: float | None) -> float:
    """The request cap in force: the one given (0: none), else none on loopback and
    :data:`REMOTE_DEFAULT_RPS` elsewhere, the policy of ``mobsim run``."""
    if max_rps is not None:
        return max_rps
    import ipaddress
    from urllib.parse import urlsplit

    name = urlsplit(host).hostname or ""
    try:
        loopback = name == "localhost" or ipaddress.ip_address(name).is_loopback
    except ValueError:
        loopback = False
    return 0.0 if loopback else REMOTE_DEFAULT_RPS


class RunState:
    """One process's share of the run, built at test start from the parsed options."""

    def __init__(self, environment: Environment) -> None:
        opts = environment.parsed_options
        assert opts is not None
        if not opts.app_code:
            raise ValueError("mobsim needs --app-code (or MOBSIM_APP_CODE): the application code to send")
        runner = environment.runner
        index = getattr(runner, "worker_index", 0) if runner is not None else 0
        count = int(getattr(opts, "expect_workers", 1) or 1) if getattr(opts, "worker", False) else 1
        self.slice = Slice(max(0, index), max(1, count)) if count > index >= 0 else Slice()
        self.tally = Tally()
        self.transport_counts: dict[str, int] = {STALE_RETRIES: 0}
        """What this process's Locust transports counted (`LocustTransport.counts`)."""
        self.host = (environment.host or "").rstrip("/")
        app = AppConfig(opts.app_code, base_url=self.host, observer=self.tally.ack, resends=self.tally.resend)
        self.population = population_for(opts, app, self.slice)
        self.think = max(0.0, opts.think_time)
        self.max_rps = remote_default_rps(self.host, opts.max_rps)
        self.limiter = RateLimiter(self.max_rps / self.slice.count) if self.max_rps > 0 else None
        self.stats_by_platform = opts.stats_by_platform
        self.state_file = Path(opts.state_file) if opts.state_file else None
        """The state file as given; this process saves its slice to ``state_path``."""
        self.state_path = slice_state_path(self.state_file, self.slice) if self.state_file else None
        self.resumed = self._load(Path(opts.state_file)) if opts.state_file else 0
        self.setup: SetupResult | None = None
        self.stopping = False
        """The run is ending: sessions in progress skip their think times, no new one starts."""
        self.receiver: Any = None
        """The greenlet that hands the push provider's deliveries to this slice's devices."""
        self.install_base = opts.installed_base == "yes"
        self.shape = plan_shape(opts, getattr(opts, "run_time", None), int(getattr(opts, "num_users", 0) or 0))
        self.arrivals: Arrivals | None = None
        if opts.arrival_rate > 0:
            self.arrivals = Arrivals(self._rate_function(opts), tolerance=opts.arrival_tolerance)

    def _load(self, path: Path) -> int:
        loaded = load_state(self.population, path)
        if loaded:
            log.info("resumed %d parked devices from %s", loaded, path)
        return loaded

    def establish_base(self) -> None:
        """The installed base of this slice, before the first user starts (``--installed-base``)."""
        if not self.install_base or self.setup is not None:
            return
        total = sum(1 for _ in self.population.uninstalled())
        if not total:
            self.setup = SetupResult()
            return
        log.warning("installing %d devices before the load starts (--installed-base yes)", total)
        last = [time.monotonic()]

        def progress(done: int, of: int) -> None:
            if time.monotonic() - last[0] >= 5 or done == of:
                last[0] = time.monotonic()
                log.warning("installed base: %d of %d devices", done, of)

        from ._setup import GeventTransport

        self.setup = establish(
            self.population,
            rate=self.max_rps / self.slice.count,
            progress=progress,
            transport_factory=GeventTransport,
        )
        log.warning("installed base: %s", self.setup.as_dict())

    def save(self) -> None:
        if self.state_file is not None and self.state_path is not None:
            saved = self.population.save(self.state_path)
            prune_state_files(self.state_file, self.slice)
            log.info("saved %d parked devices to %s", saved, self.state_path)

    def _rate_function(self, opts: Any) -> Any:
        base = opts.arrival_rate / self.slice.count
        if opts.shape == "spike" and getattr(opts, "api_key", ""):
            return lambda t: base  # a real campaign: the pushes bring the openers
        if opts.shape == "spike":
            # The campaign's extra sessions, spread over about a minute (the curve's 15 s time constant).
            peak = base + opts.spike_share * opts.population / self.slice.count / 15.0
            at = self.shape.spike_at
            return lambda t: spike_level(t, at, base, peak, width=60.0)
        shape = shape_curve(opts, self.shape)
        return lambda t: base * max(0.05, shape.level(t))

    def snapshot(self, *, final: bool = False) -> dict[str, Any]:
        data = self.tally.snapshot()
        data["transport"] = dict(self.transport_counts)
        data["devices_touched"] = len(self.population.touched)
        if self.arrivals is not None:
            data["arrivals"] = self.arrivals.snapshot()
        if final:
            data["pending"] = self.population.pending(PENDING_KINDS)
            data["slice"] = [self.slice.index, self.slice.count]
            data["resumed"] = self.resumed
            if self.setup is not None:
                data["installed_base"] = self.setup.as_dict()
        return data


def shape_curve(opts: Any, plan: Any = None) -> Any:
    plan = plan or plan_shape(opts, getattr(opts, "run_time", None), 0)
    return curve(
        opts.shape,
        ramp=plan.ramp_time,
        period=plan.day_length,
        start_hour=opts.day_start_hour,
        at=plan.spike_at,
    )


_PERCENTILES = (50, 90, 95, 99)


def _latencies(entry: Any) -> dict[str, float]:
    out = {f"p{p}": float(entry.get_response_time_percentile(p / 100)) for p in _PERCENTILES}
    out["avg_ms"] = float(entry.avg_response_time)
    out["max_ms"] = float(entry.max_response_time or 0)
    return out


def summary(environment: Environment, parts: list[dict[str, Any]], started: float) -> dict[str, Any]:
    """The run's summary: Locust's stats per endpoint and in total, and mobsim's counters."""
    stats = environment.stats
    opts = environment.parsed_options
    endpoints = []
    for (name, method), entry in sorted(stats.entries.items()):
        endpoints.append(
            {
                "name": name,
                "method": method,
                "requests": entry.num_requests,
                "failures": entry.num_failures,
                "rps": entry.total_rps,
                **_latencies(entry),
            }
        )
    total = stats.total
    merged = merge_parts(parts)
    arrivals = merged.pop("arrivals")
    merged.pop("has_arrivals")
    result: dict[str, Any] = {
        "duration_s": round(time.time() - started, 3),
        "started": started,
        "host": environment.host,
        "totals": {
            "requests": total.num_requests,
            "failures": total.num_failures,
            "fail_ratio": total.fail_ratio,
            "rps": total.total_rps,
            **_latencies(total),
        },
        "endpoints": endpoints,
        **merged,
        "errors": [
            {"name": e.name, "method": e.method, "error": str(e.error), "occurrences": e.occurrences}
            for e in stats.errors.values()
        ],
    }
    runner = environment.runner
    if runner is not None:
        result["exceptions"] = [
            {"count": e["count"], "msg": e["msg"], "traceback": e["traceback"]} for e in runner.exceptions.values()
        ]
    if opts is not None and opts.arrival_rate > 0:
        result["arrivals"] = arrivals_summary(arrivals, opts.arrival_rate)
    return result
