"""One request on a geventhttpclient ``HTTPClient``'s pool, with the request head built here.

``HTTPClient.request`` merges the caller's headers into its case-insensitive ``Headers`` twice (once
to decide on chunked transfer and ``Expect: 100-continue``, once to build the head) and checks every
field name and value by regular expression, one by one: about a fifth of the generator's CPU per
device request (docs/performance.md). :class:`DirectSender` sends the same bytes for the requests a
device makes (a ``bytes`` body or none, no ``Transfer-Encoding``, no ``Expect``, HTTP/1.1, no
proxy), with the merge rules of ``Headers`` on a plain dict and one check of all the values at once,
and reads the answer with geventhttpclient's own ``HTTPSocketPoolResponse`` on the same pool.

It only runs with a :class:`~scenarios._connections.ConnectionWatch` on the pool: where
``HTTPClient.request`` would make a second attempt (for an idempotent method: a connection that
closed before any answer, a send that broke with no answer waiting) the watch makes that attempt
raise :class:`~scenarios._connections.AnotherAttempt`, and so does this sender, at the same points.
Any other request (a header mapping that is not a plain ``dict``, a body that is not bytes), or
client (another class's ``request``, another ``headers_type``, a proxy), is left to
``HTTPClient.request``. One difference, on purpose: a head that cannot be encoded as latin-1 raises
before a socket is taken (geventhttpclient takes one and does not give it back).

:func:`head_problem`, once per process, checks that the send this module repeats is the one of the
geventhttpclient it was written against (the source of ``HTTPClient.request`` and
``_build_request``, by digest: 2.6.1) and compares the heads built here with ``_build_request`` on
throwaway clients (no socket is opened); on any difference every request takes
``HTTPClient.request`` (the transport's fast path stays on).
"""

from __future__ import annotations

import errno
import hashlib
import inspect
import re
from collections.abc import Mapping
from typing import Any

import gevent.socket
from geventhttpclient.client import HTTPClient
from geventhttpclient.header import Headers
from geventhttpclient.response import HTTPConnectionClosed, HTTPParseError, HTTPSocketPoolResponse

from ._connections import AnotherAttempt

__all__ = ["DirectSender", "head_problem"]

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUES = re.compile(r"[\t\x20-\x7e\x80-\xff]*")
_TARGET = re.compile(r"/[^\x00-\x20\x7f]*")
_IDEMPOTENT = frozenset(("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"))
_BODY_CARRYING = frozenset(("POST", "PUT", "PATCH"))
_LEFT_TO_THE_CLIENT = frozenset(("transfer-encoding", "expect"))
"""Header fields whose requests :class:`DirectSender` leaves to ``HTTPClient.request``."""
_SEND_BROKE = (errno.ECONNRESET, errno.EPIPE)
_KNOWN_SOURCES = {
    "request": {"c63c0b6998672e8c25ee6beeed614ab1c1ef01543adfae0587d992010eaed39a"},  # geventhttpclient 2.6.1
    "_build_request": {"c1151ae56362b11bfc20dac40d3d068249ff33647e5fdb04db85b9e01df9e405"},  # 2.6.1
}
"""SHA-256 of the source of the ``HTTPClient`` methods whose work :class:`DirectSender` repeats."""
_CACHE_MAX = 4096
_NAMES: set[str] = set()
"""Header field names already checked as tokens (a device sends a dozen distinct ones; bounded)."""
_LOWER: dict[str, str] = {}
"""Header field names, lower-cased (as ``Headers`` keys them), by name as given."""


def _lower(name: str) -> str:
    lowered = name.lower()
    if len(_LOWER) < _CACHE_MAX:  # bounded: names come from the simulator's header sets, and a few from users
        _LOWER[name] = lowered
    return lowered


class DirectSender:
    """Sends a device's requests on one ``HTTPClient``'s pool as ``HTTPClient.request`` would."""

    __slots__ = ("_block_size", "_client", "_defaults", "_headers_type", "_host", "_pool")

    def __init__(self, client: Any) -> None:
        self._client = client
        self._pool = client._connection_pool
        self._block_size = client.block_size
        self._headers_type = client.headers_type
        self._defaults: dict[str, tuple[str, str]] = {}
        """The client's default headers, by lower-cased name: (name as given, value)."""
        for name, value in client.default_headers.items():
            self._defaults[name.lower()] = (name, value)
        host = client.host
        if ":" in host and host[0] != "[" and host[-1] != "]":
            host = "[" + host + "]"
        self._host = host if client.port in (80, 443) else f"{host}:{client.port}"

    @staticmethod
    def usable(client: Any) -> bool:
        """Whether this sender can stand in for ``client.request``: geventhttpclient's own
        ``HTTPClient`` methods and ``Headers`` (as :func:`head_problem` checked them), HTTP/1.1
        without a proxy, with its pool, default headers of one line each."""
        defaults: Any = getattr(client, "default_headers", None)
        kind = type(client)
        if not (
            getattr(kind, "request", None) is HTTPClient.request
            and getattr(kind, "_build_request", None) is HTTPClient._build_request
            and getattr(client, "headers_type", None) is Headers
            and getattr(client, "version", None) == "HTTP/1.1"
            and getattr(client, "use_proxy", True) is False
            and hasattr(client, "_connection_pool")
            and callable(getattr(defaults, "items", None))
        ):
            return False
        lines = list(defaults.items())  # one line per field, each a str
        return len({name.lower() for name, _ in lines}) == len(lines) and all(type(v) is str for _, v in lines)

    def head(self, method: str, target: str, body: bytes, headers: Mapping[str, str]) -> str | None:
        """The request head ``HTTPClient._build_request`` builds, or None for a request this sender
        leaves to the client. Raises ``ValueError`` where it does (the same messages)."""
        if type(headers) is not dict:  # a Headers with several lines of a field, say: the client's own merge
            return None
        fields = dict(self._defaults)
        for name, value in headers.items():
            if type(value) is not str:
                return None
            fields[_LOWER.get(name) or _lower(name)] = (name, value)
        if _LEFT_TO_THE_CLIENT.intersection(fields):
            return None
        if "host" not in fields:
            fields["host"] = ("Host", self._host)
        if "content-length" not in fields:
            if body:
                fields["content-length"] = ("Content-Length", str(len(body)))
            elif method in _BODY_CARRYING:
                fields["content-length"] = ("Content-Length", "0")
        if not (_TOKEN.fullmatch(method) and _TARGET.fullmatch(target)) or target.startswith("//"):
            head: str = self._client._build_request(method, target, body=body, headers=headers)  # its own error
            return head
        pairs = fields.values()
        values = "".join([value for _, value in pairs])
        # printable ASCII is within the allowed bytes (tab and 0x80-0xff are too: the regex decides)
        clean = (values.isascii() and values.isprintable()) or _FIELD_VALUES.fullmatch(values) is not None
        if not clean or not _NAMES.issuperset([name for name, _ in pairs]):
            for name, value in pairs:
                if not _TOKEN.fullmatch(name):
                    raise ValueError(f"invalid header field name {name!r}")
                if not _FIELD_VALUES.fullmatch(value):
                    raise ValueError(f"invalid value for header field {name!r}: {value!r}")
                if len(_NAMES) < _CACHE_MAX:
                    _NAMES.add(name)
        return "".join([method, " ", target, " HTTP/1.1\r\n", *[f"{n}: {v}\r\n" for n, v in pairs], "\r\n"])

    def request(self, method: str, target: str, body: bytes | None, headers: Mapping[str, str]) -> Any:
        """What ``HTTPClient.request(method, target, body=body, headers=headers)`` returns or raises
        while a watch is on its pool: an ``HTTPSocketPoolResponse`` whose ``_sent_request`` is the
        head."""
        method = method.upper()
        if body is None:  # as the client: no body
            body = b""
        head = self.head(method, target, body, headers) if type(body) is bytes else None
        if head is None:
            return self._client.request(method, target, body=body, headers=headers)
        wire = head.encode("latin-1") + body if body else head.encode("latin-1")
        pool = self._pool
        sock = pool.get_socket()
        # what reading the answer raises when there is none (where the client would try again)
        no_answer: tuple[type[Exception], ...] = (HTTPConnectionClosed,)
        try:
            sock.sendall(wire)
        except gevent.socket.error as exc:
            if exc.errno not in _SEND_BROKE:
                pool.release_socket(sock)
                raise
            # as the client: an answer the server sent before it closed is returned
            no_answer = (gevent.socket.error, HTTPParseError)
        try:
            response = self._response(sock, method)
        except no_answer:
            if method in _IDEMPOTENT:
                raise AnotherAttempt("connection closed.") from None
            raise
        response._sent_request = head
        return response

    def _response(self, sock: Any, method: str) -> Any:
        return HTTPSocketPoolResponse(
            sock, self._pool, block_size=self._block_size, method=method, headers_type=self._headers_type
        )


_SAMPLES: tuple[tuple[str, str, bytes, dict[str, str]], ...] = (
    ("POST", "/mobile/5/appinstance?rt=true", b'{"a":1}',
     {"Authorization": "App x", "content-type": "application/json", "User-Agent": "Mobile Messaging/1 (x)"}),
    ("GET", "/mobile/3/appinstance/r-1/user?ri=true", b"", {"accept": "application/json", "ACCEPT-ENCODING": "br"}),
    ("PATCH", "/mobile/1/appinstance/r-1", b"", {"Host": "elsewhere:1", "Content-Length": "0", "X-Empty": ""}),
    ("DELETE", "/x", b"", {"content-length": "5", "user-agent": "a\tb \x80\xff", "Connection": "keep-alive"}),
    ("PUT", "/y?é", b"{}", {}),
    ("POST", "/mobile/1/appinstance/r-1/depersonalize", b"", {"Accept": "application/json"}),
    ("PUT", "/z", b"", {}),
    ("PATCH", "/z", b"", {"x-http-method-override": "PATCH"}),
    ("DELETE", "/mobile/1/appinstance/r-1", b"", {}),
    ("GET", "/", b"", {"HOST": "other", "content-LENGTH": "1"}),
)  # fmt: skip


def head_problem() -> str | None:
    """None when ``HTTPClient.request`` and ``_build_request`` are the ones this module repeats (by
    the digest of their source) and the heads built here equal ``_build_request``'s on throwaway
    clients (default headers of their own; an IPv4 and an IPv6 address; ports 80, 443 and another),
    else the first difference."""
    for method, known in _KNOWN_SOURCES.items():
        try:
            digest = hashlib.sha256(inspect.getsource(getattr(HTTPClient, method)).encode()).hexdigest()
        except (OSError, TypeError, AttributeError) as exc:
            return f"HTTPClient.{method}'s source cannot be read ({exc})"
        if digest not in known:
            return f"HTTPClient.{method} is not the one this sender repeats (geventhttpclient 2.6.1's)"
    for host, port in (("127.0.0.1", 8089), ("::1", 80), ("127.0.0.1", 443)):
        client = HTTPClient(host, port, headers={"User-Agent": "probe", "X-Default": "1"})
        if not DirectSender.usable(client):
            return f"HTTPClient({host!r}, {port}) (HTTP/1.1 without a proxy, with _connection_pool)"
        sender = DirectSender(client)
        for method, target, body, headers in _SAMPLES:
            theirs = client._build_request(method, target, body=body, headers=headers)
            ours = sender.head(method, target, body, headers)
            if ours != theirs:
                return f"HTTPClient._build_request({method} {target}): {theirs!r}, built here {ours!r}"
        for bad in ({"Bad Name": "x"}, {"X": "a\r\nb"}):
            try:
                client._build_request("GET", "/", body=b"", headers=bad)
            except ValueError as exc:
                theirs = str(exc)
            else:
                return f"HTTPClient._build_request (rejecting {bad!r})"
            try:
                sender.head("GET", "/", b"", bad)
            except ValueError as exc:
                if str(exc) != theirs:
                    return f"the error for {bad!r}: {theirs!r}, built here {exc}"
            else:
                return f"the error for {bad!r}: {theirs!r}, built here none"
    return None
