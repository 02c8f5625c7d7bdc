"""How a device's requests travel: a two-method interface and the default httpx carrier.

The device core builds an `Outgoing` (method, absolute URL, headers, body bytes already encoded)
and hands it to `Transport.send`, which returns a `Reply` (status, headers, body bytes) or raises
`simulator.errors.TransportError`. Nothing else crosses the boundary, so a faster client (a Locust
`FastHttpUser` session, geventhttpclient) can carry the same device logic::

    class FastTransport:
        def __init__(self, client):
            self.client = client
        def send(self, request):
            r = self.client.request(request.method, request.url, headers=request.headers,
                                    data=request.content, name=request.name)
            return Reply(r.status_code, r.headers, r.content)

`Reply.headers` must answer `get(name)` case-insensitively (`httpx.Headers` does) or hold lower-case
keys.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

import httpx

from contract.endpoints import WireRequest

from .errors import TransportError

__all__ = [
    "IDEMPOTENT_METHODS",
    "Exchanged",
    "HTTPXTransport",
    "InProcessTransport",
    "Outgoing",
    "RecordingTransport",
    "Reply",
    "Transport",
    "as_transport",
]


IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
"""RFC 9110 section 9.2.2: the methods an HTTP client may send again on its own."""


class Outgoing:
    """One request exactly as the SDK would put it on the wire."""

    __slots__ = ("content", "headers", "method", "retry_stale", "url", "wire")

    def __init__(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
        wire: WireRequest,
        *,
        retry_stale: bool = False,
    ) -> None:
        self.method = method
        self.url = url
        self.headers = headers
        self.content = content
        self.wire = wire
        self.retry_stale = retry_stale
        """The SDK's HTTP client sends this request again, once, when the reused keep-alive
        connection it went out on broke before any byte of the answer arrived (OkHttp under
        Android's ``HttpURLConnection``: any request; URLSession: idempotent methods only). A
        transport that pools connections honours it (the Locust transport does)."""

    @property
    def name(self) -> str:
        """A stats name without ids, such as `POST /mobile/1/appinstance/{pushRegId}/personalize`."""
        return self.wire.endpoint.stats_name

    def __repr__(self) -> str:
        return f"<Outgoing {self.method} {self.url}>"


class Reply:
    """The parts of an HTTP response the SDKs look at."""

    __slots__ = ("content", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], content: bytes) -> None:
        self.status = status
        self.headers = headers
        self.content = content

    def header(self, name: str) -> str | None:
        headers = self.headers
        value = headers.get(name)
        if value is None:
            kind = type(headers)
            known = _CASE_INSENSITIVE_TYPES.get(kind)
            if known is None:  # an isinstance check against an ABC's subclass is slow: once per type
                known = _CASE_INSENSITIVE_TYPES[kind] = issubclass(kind, _CASE_INSENSITIVE)
            if not known:
                lower = name.lower()
                if lower != name:
                    value = headers.get(lower)
        return value

    def __repr__(self) -> str:
        return f"<Reply {self.status} {len(self.content)} bytes>"


_CASE_INSENSITIVE = (httpx.Headers,)
"""Header mappings whose `get` ignores case already (a second lookup in lower case is a waste)."""
_CASE_INSENSITIVE_TYPES: dict[type, bool] = {}


class Transport(Protocol):
    """Carries one request; raises `TransportError` when no HTTP answer arrives."""

    def send(self, request: Outgoing) -> Reply: ...


class HTTPXTransport:
    """The default carrier: any `httpx.Client` (respx-mocked, or `starlette.testclient.TestClient`)."""

    __slots__ = ("client",)

    def __init__(self, client: httpx.Client | None = None, *, timeout: float = 20.0) -> None:
        self.client = client if client is not None else httpx.Client(timeout=timeout)

    def send(self, request: Outgoing) -> Reply:
        try:
            response = self.client.request(
                request.method, request.url, headers=request.headers, content=request.content
            )
        except httpx.RequestError as exc:
            raise TransportError(f"{request.method} {request.url}: {exc!r}", request) from exc
        return Reply(response.status_code, response.headers, response.content)

    def close(self) -> None:
        self.client.close()


class _RawServer(Protocol):
    """What `server_stub.inprocess.InProcessServer` offers: one request, answered in this process."""

    def request(
        self, method: str, path: str, query: str = "", headers: dict[str, str] | None = None, body: bytes | None = None
    ) -> tuple[int, Mapping[str, str], bytes]: ...


class InProcessTransport:
    """A device's requests to a server in this process (`server_stub.inprocess.InProcessServer`):
    the scheme and host of the URL are dropped, the rest is handed over as it is, and the answer's
    headers are lower-case (what `Reply.header` reads)."""

    __slots__ = ("server",)

    def __init__(self, server: _RawServer) -> None:
        self.server = server

    def send(self, request: Outgoing) -> Reply:
        url = request.url
        cut = url.find("/", url.find("://") + 3) if "://" in url else 0
        path, _, query = (url[cut:] if cut >= 0 else "/").partition("?")
        status, headers, content = self.server.request(request.method, path, query, request.headers, request.content)
        return Reply(status, headers, content)


Exchanged = Callable[[Outgoing, "Reply | None", "TransportError | None"], None]
"""``record(request, reply, error)``: one exchange, with the reply or the transport error."""


class RecordingTransport:
    """Any transport, with every exchange handed to ``record`` as it happens (the reply, or the
    `TransportError` that is then raised): conformance reports and demo files are built from it."""

    __slots__ = ("inner", "record")

    def __init__(self, inner: Transport, record: Exchanged) -> None:
        self.inner = inner
        self.record = record

    def send(self, request: Outgoing) -> Reply:
        try:
            reply = self.inner.send(request)
        except TransportError as exc:
            self.record(request, None, exc)
            raise
        self.record(request, reply, None)
        return reply


def as_transport(value: Transport | httpx.Client | None) -> Transport:
    """Accept a `Transport`, a bare `httpx.Client`, or None (a new default client)."""
    if value is None:
        return HTTPXTransport()
    if isinstance(value, httpx.Client):
        return HTTPXTransport(value)
    return value
