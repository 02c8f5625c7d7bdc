"""Faults on demand on the loopback APNs (``ApnsServer(faults=registry)``), with real HTTP/2 TLS clients.

httpx (``http2=True``, trusting the generated CA) for the answers; a raw h2 client where the frames and
their order on one connection matter (a reset taking its connection's other streams, GOAWAY with a
stream held back by a latency fault, a client's RST_STREAM cancelling a held stream).
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import ssl
import time
import uuid
from collections.abc import Iterator

import h2.connection
import h2.events
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from providerkit import Clock, World

from providers.apns import FAULT_ENDPOINT, ApnsConfig, ApnsKey, ApnsServer, fault_reason
from providers.journal import Journal
from providers.tls import Certificates
from server_stub.faults import FaultRegistry, parse_faults

pytestmark = pytest.mark.slow

TEAM, KID, TOPIC = "TEAM123456", "KEY1234567", "com.example.app"
NOW = 1_800_000_000.0
KEY = ec.generate_private_key(ec.SECP256R1())
BEARER = "bearer " + jwt.encode({"iss": TEAM, "iat": int(NOW)}, KEY, algorithm="ES256", headers={"kid": KID})
CLEAN, FAULTED = "a1" * 32, "b2" * 32
BODY = json.dumps({"aps": {"alert": "Hi"}}).encode()
HEADERS = {"authorization": BEARER, "apns-topic": TOPIC}


@pytest.fixture
def journal() -> Journal:
    return Journal(clock=lambda: 1_700_000_000.25)


@pytest.fixture
def elapsed() -> Clock:
    """The registry's clock: seconds since the providers started (what after= and until= compare with)."""
    return Clock(0.0)


@pytest.fixture
def registry(elapsed: Clock) -> FaultRegistry:
    return FaultRegistry(clock=elapsed, rng=random.Random(1))


def config(**kw: object) -> ApnsConfig:
    return ApnsConfig(keys={KID: ApnsKey(KID, TEAM, KEY.public_key())}, clock=lambda: NOW, **kw)  # type: ignore[arg-type]


@pytest.fixture
def server(certs: Certificates, journal: Journal, registry: FaultRegistry) -> Iterator[ApnsServer]:
    with ApnsServer(journal, certs, config(), faults=registry) as s:
        yield s


def trust(certs: Certificates) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.ca_cert))


def client(certs: Certificates) -> httpx.Client:
    return httpx.Client(http2=True, verify=trust(certs), timeout=5)


def add(registry: FaultRegistry, *specs: str) -> None:
    for fault in parse_faults(specs):
        registry.add(fault)


def send(c: httpx.Client, server: ApnsServer, token: str = CLEAN, **extra: str) -> httpx.Response:
    headers = {**HEADERS, **{name.replace("_", "-"): value for name, value in extra.items()}}
    r = c.post(f"{server.url}/3/device/{token}", content=BODY, headers=headers)
    assert r.http_version == "HTTP/2"
    return r


def counters(registry: FaultRegistry) -> list[tuple[int, int]]:
    return [(e.matched, e.injected) for e in registry.entries()]


# -- status -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "status", "body"),
    [
        ("status=503", 503, {"reason": "ServiceUnavailable"}),
        ("status=500", 500, {"reason": "InternalServerError"}),
        ("status=429", 429, {"reason": "TooManyRequests"}),
        ("status=403", 403, {"reason": "Forbidden"}),
        ("status=410", 410, {"reason": "Unregistered", "timestamp": 1_700_000_000_250}),
        ("status=400,error=BadDeviceToken", 400, {"reason": "BadDeviceToken"}),
        ("status=410,error=ExpiredToken", 410, {"reason": "ExpiredToken"}),
        ("status=503,body={}", 503, {}),
    ],
)
def test_a_status_fault_answers_in_apns_shape_and_journals_nothing(
    server: ApnsServer, certs: Certificates, journal: Journal, registry: FaultRegistry, spec: str, status: int,
    body: dict[str, object],
) -> None:  # fmt: skip
    add(registry, f"{spec},endpoint={FAULT_ENDPOINT}")
    apns_id = str(uuid.uuid4())
    with client(certs) as c:
        r = send(c, server, apns_id=apns_id)
    assert (r.status_code, r.json()) == (status, body)
    assert r.headers["apns-id"] == apns_id and r.headers["x-mobsim-fault"] == "1"
    assert r.headers["content-type"] == "application/json"
    assert journal.accepted == [] and journal.rejected == []
    assert counters(registry) == [(1, 1)]


def test_a_2xx_or_bodiless_status_fault_has_no_body(
    server: ApnsServer, certs: Certificates, journal: Journal, registry: FaultRegistry
) -> None:
    add(registry, "status=200,endpoint=/3/device/a1*", "status=503,body=empty")
    with client(certs) as c:
        ok = send(c, server)
        empty = send(c, server, FAULTED)
    assert (ok.status_code, ok.content, ok.headers["x-mobsim-fault"]) == (200, b"", "1")
    assert uuid.UUID(ok.headers["apns-unique-id"]) and uuid.UUID(ok.headers["apns-id"])
    assert (empty.status_code, empty.content, empty.headers["x-mobsim-fault"]) == (503, b"", "2")
    assert "content-type" not in empty.headers
    assert journal.accepted == []  # a 2xx fault acknowledges a send that was never accepted


def test_the_reason_of_a_status_without_error() -> None:
    assert [fault_reason(s) for s in (403, 404, 405, 410, 413, 429, 500, 503)] == [
        "Forbidden", "BadPath", "MethodNotAllowed", "Unregistered", "PayloadTooLarge", "TooManyRequests",
        "InternalServerError", "ServiceUnavailable",
    ]  # fmt: skip
    assert [fault_reason(s) for s in (400, 502, 418, 599)] == ["BadRequest", "BadGateway", "IMATeapot", "Http599"]


# -- which streams a fault applies to ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoint", "faulted"),
    [
        (f"endpoint={FAULT_ENDPOINT}", [True, True]),
        ("endpoint=POST /3/device/*", [True, True]),
        ("endpoint=/3/device/*", [True, True]),
        ("endpoint=/3/device/{token}", [True, True]),  # the template
        (f"endpoint=/3/device/{FAULTED[:8]}*", [False, True]),  # one token by its path
        ("platform=ios", [True, True]),
        ("platform=android", [False, False]),
        ("endpoint=/v1/*", [False, False]),
        ("endpoint=GET /3/device/*", [False, False]),
    ],
)
def test_endpoint_and_platform_filters(
    server: ApnsServer, certs: Certificates, registry: FaultRegistry, endpoint: str, faulted: list[bool]
) -> None:
    add(registry, f"status=503,{endpoint}")
    with client(certs) as c:
        statuses = [send(c, server, token).status_code for token in (CLEAN, FAULTED)]
    assert statuses == [503 if f else 200 for f in faulted]
    assert counters(registry) == [(sum(faulted), sum(faulted))]


def test_a_fault_without_endpoint_acts_on_every_stream_even_a_bad_one(
    server: ApnsServer, certs: Certificates, journal: Journal, registry: FaultRegistry
) -> None:
    add(registry, "status=503")
    with client(certs) as c:
        assert c.get(f"{server.url}/3/device/{CLEAN}", headers=HEADERS).status_code == 503  # would be 405
        assert send(c, server, "zz").status_code == 503  # would be 400 BadDeviceToken
    assert journal.rejected == [] and counters(registry) == [(2, 2)]


def test_after_and_until_boundaries(
    server: ApnsServer, certs: Certificates, registry: FaultRegistry, elapsed: Clock
) -> None:
    add(registry, "status=503,after=10,until=20")
    statuses = []
    with client(certs) as c:
        for now in (9.999, 10.0, 19.999, 20.0):
            elapsed.now = now
            statuses.append(send(c, server).status_code)
    assert statuses == [200, 503, 503, 200]
    assert counters(registry) == [(2, 2)]  # outside its window a fault does not count the stream


def test_rate_draws_from_the_faults_seed(server: ApnsServer, certs: Certificates, registry: FaultRegistry) -> None:
    add(registry, "status=503,rate=0.5,seed=3")
    draws = random.Random(3)
    expected = [503 if draws.random() < 0.5 else 200 for _ in range(12)]
    assert 200 in expected and 503 in expected
    with client(certs) as c:
        assert [send(c, server).status_code for _ in range(12)] == expected
    assert counters(registry) == [(12, expected.count(503))]


def test_new_base_url_is_only_a_header(
    server: ApnsServer, certs: Certificates, journal: Journal, registry: FaultRegistry
) -> None:
    add(
        registry,
        "new-base-url=https://b.example.com/,endpoint=/3/device/a1*",
        f"status=503,endpoint=/3/device/{FAULTED}",
    )
    with client(certs) as c:
        passed = send(c, server)
        refused = send(c, server, token="zz")
        answered = send(c, server, FAULTED)
    assert passed.status_code == 200 and passed.headers["new-base-url"] == "https://b.example.com/"
    assert "x-mobsim-fault" not in passed.headers and len(journal.accepted) == 1
    assert refused.status_code == 400 and "new-base-url" not in refused.headers  # zz matches no fault
    assert answered.status_code == 503 and "new-base-url" not in answered.headers


def test_faults_added_on_the_fcm_listener_act_on_apns(
    server: ApnsServer, certs: Certificates, registry: FaultRegistry
) -> None:
    world = World(faults=registry)  # the providers' app, in process, on the same registry
    added = world.client.post("/inspect/faults", json={"spec": f"status=429,endpoint={FAULT_ENDPOINT}"})
    assert added.status_code == 201
    with client(certs) as c:
        assert send(c, server).json() == {"reason": "TooManyRequests"}
    listed = world.client.get("/inspect/faults").json()["faults"]
    assert [(f["matched"], f["injected"]) for f in listed] == [(1, 1)]
    assert world.request("DELETE", "/inspect/faults").json() == {"deleted": 1}
    with client(certs) as c:
        assert send(c, server).status_code == 200


# -- several streams on one connection --------------------------------------------------------------


def test_faulted_streams_beside_a_clean_one_on_one_connection(
    server: ApnsServer, certs: Certificates, journal: Journal, registry: FaultRegistry
) -> None:
    slow, refused = "c3" * 32, FAULTED
    add(registry, f"latency=400,endpoint=/3/device/{slow}", f"status=503,endpoint=/3/device/{refused}")

    async def go() -> list[tuple[str, int, float]]:
        async with httpx.AsyncClient(http2=True, verify=trust(certs), timeout=5) as c:
            assert (await c.post(f"{server.url}/3/device/{CLEAN}", content=BODY, headers=HEADERS)).status_code == 200
            start = time.monotonic()
            done: list[tuple[str, int, float]] = []

            async def one(token: str) -> None:
                r = await c.post(f"{server.url}/3/device/{token}", content=BODY, headers=HEADERS)
                done.append((token, r.status_code, time.monotonic() - start))

            await asyncio.gather(one(slow), one(refused), one(CLEAN))
            assert len(server.connections) == 1  # the four streams shared one connection
            return done

    done = asyncio.run(go())
    assert {(token, status) for token, status, _ in done} == {(slow, 200), (refused, 503), (CLEAN, 200)}
    assert done[-1][0] == slow and done[-1][2] >= 0.4  # held back alone: the others were answered first
    assert [a.token for a in journal.accepted] == [CLEAN, CLEAN, slow]  # latency passes the send through
    assert counters(registry) == [(1, 1), (1, 1)]


class Raw:
    """A bare h2 client over TLS: frames in the order the server sends them."""

    def __init__(self, server: ApnsServer, certs: Certificates) -> None:
        sock = socket.create_connection((server.host, server.port), timeout=5)
        self.sock = trust(certs).wrap_socket(sock, server_hostname="localhost")
        self.conn = h2.connection.H2Connection()
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())

    def stream(self, token: str) -> int:
        sid = self.conn.get_next_available_stream_id()
        pseudo = [
            (":method", "POST"),
            (":scheme", "https"),
            (":authority", "localhost"),
            (":path", f"/3/device/{token}"),
        ]
        self.conn.send_headers(sid, pseudo + list(HEADERS.items()))
        self.conn.send_data(sid, BODY, end_stream=True)
        return sid

    def flush(self) -> None:
        self.sock.sendall(self.conn.data_to_send())

    def events(self, until: type[h2.events.Event] | None = None) -> list[h2.events.Event]:
        """Events until one of type ``until`` (None: until the server closes the connection)."""
        events: list[h2.events.Event] = []
        while until is None or not any(isinstance(e, until) for e in events):
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                data = b""
            if not data:
                break
            events += self.conn.receive_data(data)
        return events


def answered(events: list[h2.events.Event]) -> dict[int, str]:
    return {
        e.stream_id: dict(e.headers or [])[b":status"].decode()
        for e in events
        if isinstance(e, h2.events.ResponseReceived)
    }


def test_reset_drops_the_connection_and_a_new_one_is_served(
    server: ApnsServer, certs: Certificates, journal: Journal, registry: FaultRegistry
) -> None:
    add(registry, f"reset,endpoint=/3/device/{FAULTED}")
    with client(certs) as c:
        assert send(c, server).status_code == 200
        with pytest.raises(httpx.TransportError):
            send(c, server, FAULTED)
        assert send(c, server).status_code == 200  # the pool opened a new connection
    assert [a.token for a in journal.accepted] == [CLEAN, CLEAN] and journal.rejected == []
    assert counters(registry) == [(1, 1)]


def test_reset_takes_the_other_streams_of_its_connection_with_it(
    server: ApnsServer, certs: Certificates, journal: Journal, registry: FaultRegistry
) -> None:
    add(registry, f"reset,endpoint=/3/device/{FAULTED}")
    raw = Raw(server, certs)
    raw.stream(FAULTED)
    raw.stream(CLEAN)  # in the same write, after the reset one
    raw.flush()
    events = raw.events()
    assert answered(events) == {}
    assert not any(isinstance(e, h2.events.ConnectionTerminated) for e in events)  # no GOAWAY: a TCP drop
    assert journal.accepted == [] and journal.rejected == []  # the stream behind it was never served


def test_goaway_waits_for_a_stream_a_latency_fault_holds(
    certs: Certificates, journal: Journal, registry: FaultRegistry
) -> None:
    add(registry, f"latency=300,endpoint=/3/device/{FAULTED}")
    with ApnsServer(journal, certs, config(goaway_after=1), faults=registry) as s:
        raw = Raw(s, certs)
        held, clean = raw.stream(FAULTED), raw.stream(CLEAN)
        raw.flush()
        events = raw.events()
    kinds = [(type(e).__name__, getattr(e, "stream_id", None)) for e in events]
    assert answered(events) == {held: "200", clean: "200"}
    assert kinds.index(("ResponseReceived", clean)) < kinds.index(("ResponseReceived", held))
    (goaway,) = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert goaway.last_stream_id == clean  # covers the held stream, sent before it
    assert kinds[-1] == ("ConnectionTerminated", None)  # after the held answer: h2 sends nothing past it
    assert [a.token for a in journal.accepted] == [CLEAN, FAULTED]


def test_a_client_reset_cancels_a_held_stream(
    server: ApnsServer, certs: Certificates, journal: Journal, registry: FaultRegistry
) -> None:
    add(registry, f"latency=60000,endpoint=/3/device/{FAULTED}")
    raw = Raw(server, certs)
    held = raw.stream(FAULTED)
    raw.flush()
    raw.conn.reset_stream(held)
    clean = raw.stream(CLEAN)
    raw.flush()
    assert answered(raw.events(h2.events.StreamEnded)) == {clean: "200"}
    (connection,) = server.connections
    assert connection.delayed == {}  # the timer is gone: the held send will never be journaled
    assert [a.token for a in journal.accepted] == [CLEAN]


def test_streams_after_the_goaway_in_the_same_read_are_not_served(certs: Certificates, journal: Journal) -> None:
    with ApnsServer(journal, certs, config(goaway_after=1)) as s:
        raw = Raw(s, certs)
        first, _ = raw.stream(CLEAN), raw.stream(FAULTED)  # one write: the second is past the GOAWAY
        raw.flush()
        events = raw.events()
    (goaway,) = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
    assert answered(events) == {first: "200"} and goaway.last_stream_id == first
    assert [a.token for a in journal.accepted] == [CLEAN]  # the client resends the other: journaled once then
