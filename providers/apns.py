"""The APNs provider API on loopback: ``POST /3/device/{token}`` over HTTP/2 and TLS (ALPN ``h2`` only).

An asyncio server on the ``h2`` state machine and stdlib ``ssl`` (docs/reference/push-providers.md §5
recommends it over hypercorn: the app must see the client certificate, control SETTINGS and send GOAWAY).
It runs in its own thread with its own event loop (:meth:`ApnsServer.start` / :meth:`ApnsServer.stop`).
Every answer carries ``apns-id`` (the request's, else a new UUID); every error body is one DATA frame
``{"reason": ...}`` (aioapns decodes each DATA frame as a whole JSON document). Accepted sends go to the
:class:`~providers.journal.Journal` with the request body as the payload: iOS hands the app the body
verbatim as ``userInfo`` (docs/reference/messages-ios.md §1). Given the
:class:`~server_stub.faults.FaultRegistry` of the FCM/HMS app, every stream is first offered to its faults
(:meth:`_Connection._arrived`): a ``status`` fault answers in APNs' shape and journals nothing, ``latency``
delays that stream's answer alone (an event-loop timer), ``reset`` aborts the TCP connection. The rules and
their sources are in docs/providers-apns.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import struct
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from pathlib import Path
from typing import Any, Literal

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from h2.config import H2Configuration
from h2.connection import H2Connection
from h2.events import ConnectionTerminated, DataReceived, RequestReceived, StreamEnded, StreamReset
from h2.exceptions import ProtocolError
from h2.settings import SettingCodes, Settings

from contract.dialect import Platform
from server_stub.fault_spec import RequestFacts
from server_stub.faults import Decision, FaultEntry, FaultRegistry

from .errors import ProviderError
from .journal import Journal
from .tls import Certificates, client_topic, load_private_key, server_context, write_private_key

__all__ = ["FAULT_ENDPOINT", "PUSH_TYPES", "ApnsConfig", "ApnsKey", "ApnsServer", "ensure_provider_key", "fault_reason"]

_log = logging.getLogger(__name__)

PUSH_TYPES = frozenset(
    {
        "alert",
        "background",
        "location",
        "voip",
        "complication",
        "fileprovider",
        "mdm",
        "liveactivity",
        "pushtotalk",
        "widgets",
        "controls",
    }
)
PAYLOAD_LIMIT = 4096
VOIP_PAYLOAD_LIMIT = 5120
TOKEN_MAX_AGE = 3600.0  # iat older than this: 403 ExpiredProviderToken
TOKEN_MIN_REFRESH = 1200.0  # a new token sooner than this after the last one: 429 TooManyProviderTokenUpdates
TOKEN_FUTURE_LEEWAY = 60.0  # iat this far in the future is accepted (clock skew); later: InvalidProviderToken
COLLAPSE_ID_LIMIT = 64
_DEVICE_TOKEN = re.compile(r"(?:[0-9a-fA-F]{2}){32,100}")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PATH_PREFIX = "/3/device/"
_HTTP1_TEXT = b"APNs speaks HTTP/2 only: connect with HTTP/2 (ALPN h2, or HTTP/2 with prior knowledge over TLS)\n"
_HTTP1_REFUSAL = (
    b"HTTP/1.1 505 HTTP Version Not Supported\r\ncontent-type: text/plain\r\nconnection: close\r\n"
    + b"content-length: %d\r\n\r\n" % len(_HTTP1_TEXT)
    + _HTTP1_TEXT
)
_MAX_BODY = 64 * 1024  # bytes buffered per stream; larger bodies are answered 413 as they arrive
FAULT_ENDPOINT = "POST /3/device/{token}"
"""The stats-style name a fault's ``endpoint=`` matches for an APNs send (``/3/device/*`` matches its path)."""
# A status fault's reason where Apple's table names one for the status; other statuses get the status
# phrase in Apple's CamelCase (400 BadRequest, 502 BadGateway), which is Apple's reason for 403, 405, 429,
# 500 and 503 too (docs/reference/push-providers.md §2.5).
_FAULT_REASONS = {404: "BadPath", 410: "Unregistered", 413: "PayloadTooLarge"}


@dataclass(frozen=True, slots=True)
class ApnsKey:
    """A provider signing key the server trusts: the 10-character Key ID, its Team ID, its public key."""

    key_id: str
    team_id: str
    public_key: ec.EllipticCurvePublicKey


def ensure_provider_key(folder: str | Path, key_id: str = "MOBSIMKEY1", team_id: str = "MOBSIMTEAM") -> ApnsKey:
    """The signing key a backend loads for token auth: ``AuthKey_<key_id>.p8`` in ``folder`` (as Apple
    names it; PKCS#8 PEM, 0600), made once and reused. The backend also needs ``key_id`` and ``team_id``."""
    if len(key_id) != 10 or len(team_id) != 10 or not (key_id + team_id).isalnum():
        raise ProviderError(f"APNs key id and team id are 10 letters or digits, not {key_id!r} / {team_id!r}")
    path = Path(folder) / f"AuthKey_{key_id}.p8"
    if path.exists():
        key = load_private_key(path)
    else:
        Path(folder).mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        write_private_key(path, key)
    return ApnsKey(key_id, team_id, key.public_key())


@dataclass(slots=True)
class ApnsConfig:
    """What the loopback APNs accepts and how it behaves."""

    keys: Mapping[str, ApnsKey] = field(default_factory=dict)  # by key id; empty: token auth always fails
    topics: frozenset[str] = frozenset()  # allowed bundle ids (suffixes such as .voip allowed); empty: any
    environment: Literal["development", "production"] = "development"  # development adds apns-unique-id
    max_concurrent_streams: int = 1000
    goaway_after: int | None = None  # GOAWAY (reason Shutdown) after this many requests on a connection
    # Token auth: advertise 1 stream until a request with a valid JWT (Apple's rule). Off by default:
    # aioapns sends up to 1000 streams before it reads SETTINGS, and h2 closes such a connection.
    one_stream_until_token: bool = False
    device_rate: tuple[int, float] | None = None  # (requests, seconds) per device token; over: 429
    clock: Callable[[], float] = time.time


class _Refusal(Exception):
    def __init__(self, status: int, reason: str, timestamp: int | None = None) -> None:
        super().__init__(reason)
        self.status, self.reason, self.timestamp = status, reason, timestamp


@dataclass(frozen=True, slots=True)
class _Verified:
    header: str  # the authorization value as sent
    key_id: str
    iat: int


@dataclass(slots=True)
class _Stream:
    headers: list[tuple[str, str]]
    body: bytearray = field(default_factory=bytearray)
    too_large: bool = False


class _Rules:
    """Checks of one request; shared by the connections of a server (rate windows live here)."""

    def __init__(self, config: ApnsConfig, journal: Journal) -> None:
        self.config = config
        self.journal = journal
        self._lock = threading.Lock()
        self._sends: dict[str, deque[float]] = {}

    def token(self, authorization: str, current: _Verified | None) -> _Verified:
        """The verified bearer JWT, given the connection's current one (the same header again is not
        re-verified: clients reuse a token for 30 to 50 minutes, and an ES256 check costs more than the rest)."""
        if current is not None and authorization == current.header:
            self._check_age(current.iat)
            return current
        scheme, _, value = authorization.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise _Refusal(403, "InvalidProviderToken")
        value = value.strip()
        try:
            header = jwt.get_unverified_header(value)
        except jwt.PyJWTError as e:
            raise _Refusal(403, "InvalidProviderToken") from e
        kid = header.get("kid")
        key = self.config.keys.get(kid) if isinstance(kid, str) else None
        if header.get("alg") != "ES256" or key is None:
            raise _Refusal(403, "InvalidProviderToken")
        try:
            claims = jwt.decode(
                value, key.public_key, algorithms=["ES256"], options={"verify_iat": False, "require": ["iss", "iat"]}
            )
        except jwt.PyJWTError as e:
            raise _Refusal(403, "InvalidProviderToken") from e
        iat = claims.get("iat")
        if claims.get("iss") != key.team_id or not isinstance(iat, int) or isinstance(iat, bool):
            raise _Refusal(403, "InvalidProviderToken")
        self._check_age(iat)
        renewed = current is not None and (current.key_id, current.iat) != (key.key_id, iat)
        if renewed and current is not None and iat - current.iat < TOKEN_MIN_REFRESH:
            raise _Refusal(429, "TooManyProviderTokenUpdates")
        return _Verified(authorization, key.key_id, iat)

    def _check_age(self, iat: int) -> None:
        now = self.config.clock()
        if iat > now + TOKEN_FUTURE_LEEWAY:
            raise _Refusal(403, "InvalidProviderToken")
        if now - iat > TOKEN_MAX_AGE:
            raise _Refusal(403, "ExpiredProviderToken")

    def topic(self, topic: str | None, cert_topic: str | None) -> str:
        if topic is None:
            if cert_topic is None:
                raise _Refusal(400, "MissingTopic")
            return cert_topic
        if not topic or any(c.isspace() for c in topic):
            raise _Refusal(400, "BadTopic")
        if cert_topic is not None and topic != cert_topic and not topic.startswith(cert_topic + "."):
            raise _Refusal(400, "TopicDisallowed")
        allowed = self.config.topics
        if allowed and not any(topic == t or topic.startswith(t + ".") for t in allowed):
            raise _Refusal(400, "TopicDisallowed")
        return topic

    def options(self, h: dict[str, str]) -> str:
        """Checks apns-push-type, -priority, -expiration, -collapse-id; returns the push type."""
        push_type = h.get("apns-push-type", "alert")
        if push_type not in PUSH_TYPES:
            raise _Refusal(400, "InvalidPushType")
        if h.get("apns-priority", "10") not in ("1", "5", "10"):
            raise _Refusal(400, "BadPriority")
        if not h.get("apns-expiration", "0").isdigit() or not h.get("apns-expiration", "0").isascii():
            raise _Refusal(400, "BadExpirationDate")
        if len(h.get("apns-collapse-id", "").encode()) > COLLAPSE_ID_LIMIT:
            raise _Refusal(400, "BadCollapseId")
        return push_type

    def rate(self, token: str) -> None:
        if self.config.device_rate is None:
            return
        count, window = self.config.device_rate
        now = self.config.clock()
        with self._lock:
            sends = self._sends.setdefault(token, deque())
            while sends and sends[0] <= now - window:
                sends.popleft()
            if len(sends) >= count:
                raise _Refusal(429, "TooManyRequests")
            sends.append(now)


def _payload(body: bytes, push_type: str) -> dict[str, Any]:
    if not body:
        raise _Refusal(400, "PayloadEmpty")
    if len(body) > (VOIP_PAYLOAD_LIMIT if push_type == "voip" else PAYLOAD_LIMIT):
        raise _Refusal(413, "PayloadTooLarge")
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise _Refusal(400, "BadPayload") from e
    if not isinstance(payload, dict) or not isinstance(payload.get("aps"), dict):
        raise _Refusal(400, "BadPayload")
    return payload


def fault_reason(status: int) -> str:
    """The ``reason`` of a ``status`` fault without ``error=``: Apple's for that status, else its phrase."""
    if status in _FAULT_REASONS:
        return _FAULT_REASONS[status]
    try:
        return "".join(c for c in HTTPStatus(status).phrase.title() if c.isalnum())
    except ValueError:
        return f"Http{status}"


class _ApnsFacts(RequestFacts):
    """A stream as the faults' filters see it: stats name ``POST /3/device/{token}``, platform iOS."""

    @cached_property
    def template(self) -> str:
        token = self.path.removeprefix(_PATH_PREFIX)
        return "/3/device/{token}" if self.path.startswith(_PATH_PREFIX) and "/" not in token else self.path

    @cached_property
    def stats_name(self) -> str:
        return f"{self.method} {self.template}"

    @cached_property
    def platform(self) -> Platform | None:
        return Platform.IOS


def _campaign(payload: dict[str, Any]) -> str | None:
    internal = payload.get("internalData")
    bulk = internal.get("bulkId") if isinstance(internal, dict) else None
    return bulk if isinstance(bulk, str) else None


class _Connection(asyncio.Protocol):
    def __init__(self, server: ApnsServer) -> None:
        self.server = server
        self.rules = server.rules
        self.conn = H2Connection(H2Configuration(client_side=False, header_encoding="utf-8"))
        self.transport: asyncio.Transport | None = None
        self.streams: dict[int, _Stream] = {}
        self.cert_topic: str | None = None
        self.jwt: _Verified | None = None
        self.requests = 0
        self.closing = False  # no more frames are read (GOAWAY sent, or closed)
        self.delayed: dict[int, asyncio.TimerHandle] = {}  # streams a latency fault holds back
        self.goaway_last: int | None = None  # a GOAWAY due once the held streams are answered
        self.limited = True
        self.http1 = False

    # -- transport --------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.server.connections.add(self)
        ssl_object = transport.get_extra_info("ssl_object")
        if ssl_object is None:
            transport.close()
            return
        if ssl_object.selected_alpn_protocol() not in ("h2", None):  # a client that chose HTTP/1.1
            self.http1 = True  # answered 505 on its first bytes, then closed: APNs is HTTP/2 only
            return
        self.cert_topic = client_topic(ssl_object.getpeercert())
        # Token auth: one stream until the connection has posted a request with a valid token.
        self.limited = self.cert_topic is None and self.server.config.one_stream_until_token
        streams = 1 if self.limited else self.server.config.max_concurrent_streams
        self.conn.local_settings = Settings(client=False, initial_values={SettingCodes.MAX_CONCURRENT_STREAMS: streams})
        self.conn.initiate_connection()
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.connections.discard(self)
        self._cancel_delayed()

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return
        if self.http1:
            if self.transport is not None:
                self.transport.write(_HTTP1_REFUSAL)
            self._close()
            return
        try:
            events = self.conn.receive_data(data)
        except ProtocolError:
            self._flush()
            self._close()
            return
        for event in events:
            if isinstance(event, RequestReceived) and event.stream_id not in self.streams:
                self.streams[event.stream_id] = _Stream([(str(k), str(v)) for k, v in event.headers or []])
            elif isinstance(event, DataReceived) and event.stream_id in self.streams:
                self.conn.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
                stream = self.streams[event.stream_id]
                if len(stream.body) + len(event.data or b"") > _MAX_BODY:
                    stream.too_large = True
                else:
                    stream.body += event.data or b""
            elif isinstance(event, StreamEnded) and event.stream_id in self.streams:
                self._arrived(event.stream_id, self.streams.pop(event.stream_id))
                if self.closing:  # GOAWAY sent or the connection reset: later streams are not served
                    break
            elif isinstance(event, StreamReset):
                self.streams.pop(event.stream_id, None)
                held = self.delayed.pop(event.stream_id, None)
                if held is not None:
                    held.cancel()
            elif isinstance(event, ConnectionTerminated):
                self._flush()
                self._close()
                return
        self._flush()

    def _flush(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            out = self.conn.data_to_send()
            if out:
                self.transport.write(out)

    def _close(self) -> None:
        self.closing = True
        self._cancel_delayed()
        if self.transport is not None:
            self.transport.close()

    def _abort(self) -> None:
        """Drop the TCP connection with a reset (SO_LINGER 0) and no answer: a ``reset`` fault."""
        self.closing = True
        self._cancel_delayed()
        if self.transport is None:
            return
        sock = self.transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()

    def _cancel_delayed(self) -> None:
        for held in self.delayed.values():
            held.cancel()
        self.delayed.clear()

    # -- faults -----------------------------------------------------------------------------------

    def _arrived(self, stream_id: int, stream: _Stream) -> None:
        """A whole request: offered to the faults first, then answered (now, or after a fault's latency)."""
        faults = self.server.faults
        decision = None
        if faults:
            h = {k.lower(): v for k, v in stream.headers}
            path, _, query = h.get(":path", "").partition("?")
            decision = faults.decide(_ApnsFacts(h.get(":method", ""), path, query_string=query))
        if decision is None:
            self._answer(stream_id, stream)
        elif decision.delay_s > 0:
            loop = asyncio.get_running_loop()
            self.delayed[stream_id] = loop.call_later(decision.delay_s, self._delayed, stream_id, stream, decision)
        else:
            self._apply(stream_id, stream, decision)

    def _delayed(self, stream_id: int, stream: _Stream, decision: Decision) -> None:
        if self.delayed.pop(stream_id, None) is None or self.transport is None or self.transport.is_closing():
            return
        self._apply(stream_id, stream, decision)
        if self.goaway_last is not None and not self.delayed:
            self._goaway(self.goaway_last)  # it waited for this answer
        self._flush()

    def _apply(self, stream_id: int, stream: _Stream, decision: Decision) -> None:
        entry = decision.terminal
        if entry is not None and entry.fault.reset:
            self._abort()
        elif entry is not None:
            self._fault_answer(stream_id, stream, entry, decision.new_base_url)
            self._finished(stream_id)
        else:
            extra = [] if decision.new_base_url is None else [("new-base-url", decision.new_base_url)]
            self._answer(stream_id, stream, extra)

    def _fault_answer(self, stream_id: int, stream: _Stream, entry: FaultEntry, new_base_url: str | None) -> None:
        """A ``status`` fault's answer in APNs' shape; nothing is journaled (as FCM's and HMS's)."""
        fault = entry.fault
        assert fault.status is not None
        h = {k.lower(): v for k, v in stream.headers}
        headers = [(":status", str(fault.status)), ("apns-id", h.get("apns-id") or str(uuid.uuid4()))]
        if 200 <= fault.status < 300 and self.server.config.environment == "development":
            headers.append(("apns-unique-id", str(uuid.uuid4())))
        headers.append(("x-mobsim-fault", str(entry.id)))
        if new_base_url is not None:
            headers.append(("new-base-url", new_base_url))
        data: bytes | None = None
        if fault.answer_body == "envelope":
            body: dict[str, Any] = {"reason": fault.error or fault_reason(fault.status)}
            if body["reason"] == "Unregistered":
                body["timestamp"] = int(self.server.journal.clock() * 1000)
            data = json.dumps(body, separators=(",", ":")).encode()
        elif fault.answer_body == "{}":
            data = b"{}"
        if data is not None:
            headers += [("content-type", "application/json"), ("content-length", str(len(data)))]
        self._send(stream_id, headers, data)

    # -- requests ---------------------------------------------------------------------------------

    def _answer(self, stream_id: int, stream: _Stream, extra: list[tuple[str, str]] | None = None) -> None:
        h = {k.lower(): v for k, v in stream.headers}
        apns_id = h.get("apns-id") or str(uuid.uuid4())
        token: str | None = None
        size = len(stream.body)
        journal = self.server.journal
        try:
            token = self._check(stream, h)
            push_type = self.rules.options(h)
            if stream.too_large:
                raise _Refusal(413, "PayloadTooLarge")
            payload = _payload(bytes(stream.body), push_type)
            gone = journal.is_uninstalled("apns", token)
            if gone is not None:
                raise _Refusal(410, "Unregistered", int(gone * 1000))
            self.rules.rate(token)
            journal.accept("apns", token, payload, size=size, message_id=apns_id, campaign=_campaign(payload))
        except _Refusal as refusal:
            journal.reject("apns", token, refusal.status, refusal.reason, size=size)
            self._refuse(stream_id, apns_id, refusal, extra)
        except Exception:  # a bug here must not leave the stream hanging: answer as APNs does
            _log.exception("APNs request on stream %d failed", stream_id)
            self._refuse(stream_id, apns_id, _Refusal(500, "InternalServerError"), extra)
        else:
            headers = [(":status", "200"), ("apns-id", apns_id)]
            if self.server.config.environment == "development":
                headers.append(("apns-unique-id", str(uuid.uuid4())))
            self._send(stream_id, headers + (extra or []), None)
        self._finished(stream_id)

    def _finished(self, stream_id: int) -> None:
        """Count an answered request; at ``goaway_after``, GOAWAY. Streams a latency fault holds are answered
        first (h2 sends nothing after its GOAWAY), and the GOAWAY's last stream id covers them; meanwhile
        no new stream is read."""
        self.requests += 1
        limit = self.server.config.goaway_after
        if limit is None or self.requests < limit or self.closing:
            return
        self.closing = True
        if self.delayed:
            self.goaway_last = max([stream_id, *self.delayed])
        else:
            self._goaway(stream_id)

    def _goaway(self, last_stream_id: int) -> None:
        self.conn.close_connection(last_stream_id=last_stream_id, additional_data=b'{"reason":"Shutdown"}')
        self._flush()
        self._close()

    def _refuse(
        self, stream_id: int, apns_id: str, refusal: _Refusal, extra: list[tuple[str, str]] | None = None
    ) -> None:
        body: dict[str, Any] = {"reason": refusal.reason}
        if refusal.timestamp is not None:
            body["timestamp"] = refusal.timestamp
        data = json.dumps(body, separators=(",", ":")).encode()
        headers = [
            (":status", str(refusal.status)),
            ("apns-id", apns_id),
            ("content-type", "application/json"),
            ("content-length", str(len(data))),
            *(extra or []),
        ]
        self._send(stream_id, headers, data)

    def _send(self, stream_id: int, headers: list[tuple[str, str]], data: bytes | None) -> None:
        """The answer: HEADERS, and the body in one DATA frame (aioapns parses each frame as JSON)."""
        try:
            self.conn.send_headers(stream_id, headers, end_stream=data is None)
            if data is not None:
                self.conn.send_data(stream_id, data, end_stream=True)
        except ProtocolError:
            return  # the client reset the stream (or left no flow-control window): nobody to answer

    def _check(self, stream: _Stream, h: dict[str, str]) -> str:
        """Method, path, duplicate headers, apns-id, authentication and topic; returns the device token."""
        if h.get(":method") != "POST":
            raise _Refusal(405, "MethodNotAllowed")
        path = h.get(":path", "").partition("?")[0]
        if not path.startswith(_PATH_PREFIX) or "/" in path[len(_PATH_PREFIX) :]:
            raise _Refusal(404, "BadPath")
        token = path[len(_PATH_PREFIX) :]
        names = [k.lower() for k, _ in stream.headers if not k.startswith(":")]
        if len(names) != len(set(names)):
            raise _Refusal(400, "DuplicateHeaders")
        if "apns-id" in h and not _UUID.fullmatch(h["apns-id"]):
            raise _Refusal(400, "BadMessageId")
        if "authorization" in h:
            self.jwt = self.rules.token(h["authorization"], self.jwt)
            if self.limited:
                self.limited = False
                streams = self.server.config.max_concurrent_streams
                self.conn.update_settings({SettingCodes.MAX_CONCURRENT_STREAMS: streams})
        elif self.cert_topic is None:
            raise _Refusal(403, "MissingProviderToken")
        self.rules.topic(h.get("apns-topic"), None if "authorization" in h else self.cert_topic)
        if not token:
            raise _Refusal(400, "MissingDeviceToken")
        if not _DEVICE_TOKEN.fullmatch(token):
            raise _Refusal(400, "BadDeviceToken")
        return token.lower()


class ApnsServer:
    """The loopback APNs in a thread of its own: ``start()`` binds (port 0 picks one; see ``port``).

    ``faults``: the registry of faults on demand (``mobsim providers --fault``, ``/inspect/faults`` on the
    FCM/HMS listener), shared with that app; its faults act on APNs streams too (docs/providers-apns.md)."""

    def __init__(
        self,
        journal: Journal,
        certificates: Certificates,
        config: ApnsConfig | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: FaultRegistry | None = None,
    ) -> None:
        self.journal = journal
        self.faults = faults
        self.config = config or ApnsConfig()
        self.rules = _Rules(self.config, journal)
        self.certificates = certificates
        self.host = host
        self.port = port
        self.connections: set[_Connection] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> ApnsServer:
        if self._thread is not None:
            raise ProviderError("the APNs server is already running; stop() it first")
        # h2 first (server preference); http/1.1 is offered only so that an HTTP/1.1 client is told, not
        # dropped. A client without ALPN (aioapns) speaks HTTP/2 with prior knowledge, as APNs allows.
        ssl_context = server_context(self.certificates, alpn=("h2", "http/1.1"))
        loop = asyncio.new_event_loop()
        try:
            self._server = loop.run_until_complete(
                loop.create_server(lambda: _Connection(self), self.host, self.port, ssl=ssl_context)
            )
        except OSError as e:
            loop.close()
            raise ProviderError(f"cannot listen on {self.host}:{self.port} for APNs: {e}; choose another port") from e
        self.port = self._server.sockets[0].getsockname()[1]
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="mobsim-apns", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        loop, thread, server = self._loop, self._thread, self._server
        if loop is None or thread is None or server is None:
            return

        async def shutdown() -> None:
            server.close()
            for connection in list(self.connections):
                connection._close()
            await server.wait_closed()

        asyncio.run_coroutine_threadsafe(shutdown(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        loop.close()
        self._loop = self._thread = self._server = None

    def __enter__(self) -> ApnsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
