"""The loopback APNs (providers/apns.py) against real HTTP/2 TLS clients on 127.0.0.1.

httpx with ``http2=True`` trusting the generated CA for the answers; a raw h2 client over ``ssl`` where
the frames themselves matter (SETTINGS, one DATA frame per error body, GOAWAY debug data, ALPN).
"""

from __future__ import annotations

import json
import socket
import ssl
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import h2.connection
import h2.events
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from providerkit import Clock

from providers.apns import ApnsConfig, ApnsKey, ApnsServer, ensure_provider_key
from providers.errors import ProviderError
from providers.journal import Journal
from providers.tls import Certificates, ensure_certificates, issue_client_certificate

TEAM, KID, TOPIC = "TEAM123456", "KEY1234567", "com.example.app"
TOKEN = "a1" * 32  # 64 hex characters
NOW = 1_800_000_000.0
SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def journal() -> Journal:
    return Journal()


def make_config(clock: Clock, **kw: Any) -> ApnsConfig:
    return ApnsConfig(keys={KID: ApnsKey(KID, TEAM, SIGNING_KEY.public_key())}, clock=clock, **kw)


@pytest.fixture
def server(certs: Certificates, journal: Journal, clock: Clock) -> Iterator[ApnsServer]:
    with ApnsServer(journal, certs, make_config(clock)) as s:
        yield s


def bearer(iat: float, *, key: ec.EllipticCurvePrivateKey = SIGNING_KEY, kid: str = KID, iss: str = TEAM) -> str:
    return "bearer " + jwt.encode({"iss": iss, "iat": int(iat)}, key, algorithm="ES256", headers={"kid": kid})


def client(certs: Certificates, cert: tuple[Path, Path] | None = None) -> httpx.Client:
    ctx = ssl.create_default_context(cafile=str(certs.ca_cert))
    if cert is not None:
        ctx.load_cert_chain(*cert)
    return httpx.Client(http2=True, verify=ctx, timeout=5)


def headers(**extra: str) -> dict[str, str]:
    h = {"authorization": bearer(NOW), "apns-topic": TOPIC, "apns-push-type": "alert"}
    h.update({k.replace("_", "-"): v for k, v in extra.items()})
    return h


BODY = {"messageId": "m-1", "aps": {"alert": {"body": "Hi"}, "mutable-content": 1}, "internalData": {"bulkId": "b-7"}}


def send(
    server: ApnsServer, certs: Certificates, body: bytes | None = None, /, *, token: str = TOKEN, **extra: str
) -> httpx.Response:
    with client(certs) as c:
        content = json.dumps(BODY).encode() if body is None else body
        r = c.post(f"{server.url}/3/device/{token}", content=content, headers=headers(**extra))
    assert r.http_version == "HTTP/2"
    return r


def reason(r: httpx.Response) -> tuple[int, str]:
    return r.status_code, r.json()["reason"]


def sized(n: int) -> bytes:
    """A JSON payload of exactly ``n`` bytes."""
    base = json.dumps({"aps": {"alert": ""}}).encode()
    out = json.dumps({"aps": {"alert": "x" * (n - len(base))}}).encode()
    assert len(out) == n
    return out


# -- certificates ---------------------------------------------------------------------------------


def test_certificates_reused_and_keys_private(tmp_path: Path) -> None:
    first = ensure_certificates(tmp_path / "ca")
    pem = first.ca_cert.read_bytes()
    again = ensure_certificates(tmp_path / "ca")
    assert again.ca_cert.read_bytes() == pem
    for key in (first.ca_key, first.server_key):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600


# -- success --------------------------------------------------------------------------------------


def test_accepted_send_echoes_apns_id_and_is_journaled(
    server: ApnsServer, certs: Certificates, journal: Journal
) -> None:
    apns_id = str(uuid.uuid4())
    r = send(server, certs, apns_id=apns_id, apns_priority="5", apns_expiration="0", apns_collapse_id="c" * 64)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["apns-id"] == apns_id
    assert uuid.UUID(r.headers["apns-unique-id"])
    (entry,) = journal.accepted
    assert (entry.provider, entry.token, entry.message_id, entry.campaign) == ("apns", TOKEN, apns_id, "b-7")
    assert entry.payload == BODY and entry.size == len(json.dumps(BODY))


def test_apns_id_generated_when_absent_and_no_unique_id_in_production(
    certs: Certificates, journal: Journal, clock: Clock
) -> None:
    with ApnsServer(journal, certs, make_config(clock, environment="production")) as s:
        r = send(s, certs)
    assert r.status_code == 200 and "apns-unique-id" not in r.headers
    assert str(uuid.UUID(r.headers["apns-id"])) == r.headers["apns-id"] == journal.accepted[0].message_id


# -- payload --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("push_type", "size", "status"),
    [("alert", 4096, 200), ("alert", 4097, 413), ("voip", 5120, 200), ("voip", 5121, 413)],
)
def test_payload_limits(server: ApnsServer, certs: Certificates, push_type: str, size: int, status: int) -> None:
    topic = TOPIC + ".voip" if push_type == "voip" else TOPIC
    r = send(server, certs, sized(size), apns_push_type=push_type, apns_topic=topic)
    assert r.status_code == status
    if status == 413:
        assert r.json() == {"reason": "PayloadTooLarge"}
        assert r.headers["apns-id"]


def test_empty_and_malformed_payloads(server: ApnsServer, certs: Certificates, journal: Journal) -> None:
    assert reason(send(server, certs, b"")) == (400, "PayloadEmpty")
    assert reason(send(server, certs, b"{not json")) == (400, "BadPayload")
    assert reason(send(server, certs, b'{"messageId": "x"}')) == (400, "BadPayload")
    assert [r.reason for r in journal.rejected] == ["PayloadEmpty", "BadPayload", "BadPayload"]
    assert journal.accepted == []


# -- path, method, headers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("a1" * 31, "BadDeviceToken"),
        ("zz" * 32, "BadDeviceToken"),
        ("a1" * 32 + "a", "BadDeviceToken"),
        ("", "MissingDeviceToken"),
    ],
)
def test_device_token_shape(server: ApnsServer, certs: Certificates, token: str, expected: str) -> None:
    assert reason(send(server, certs, token=token)) == (400, expected)


def test_method_and_path(server: ApnsServer, certs: Certificates) -> None:
    with client(certs) as c:
        r = c.get(f"{server.url}/3/device/{TOKEN}", headers=headers())
        assert reason(r) == (405, "MethodNotAllowed") and r.headers["apns-id"]
        assert reason(c.post(f"{server.url}/2/device/{TOKEN}", content=b"{}", headers=headers())) == (404, "BadPath")


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({"apns_priority": "7"}, "BadPriority"),
        ({"apns_push_type": "banner"}, "InvalidPushType"),
        ({"apns_expiration": "soon"}, "BadExpirationDate"),
        ({"apns_collapse_id": "c" * 65}, "BadCollapseId"),
        ({"apns_id": "not-a-uuid"}, "BadMessageId"),
        ({"apns_id": str(uuid.uuid4()).upper()}, "BadMessageId"),
    ],
)
def test_header_errors(server: ApnsServer, certs: Certificates, extra: dict[str, str], expected: str) -> None:
    r = send(server, certs, **extra)
    assert reason(r) == (400, expected)
    if "apns_id" in extra:
        assert r.headers["apns-id"] == extra["apns_id"]


def test_missing_topic_disallowed_topic_and_duplicate_headers(
    certs: Certificates, journal: Journal, clock: Clock
) -> None:
    with ApnsServer(journal, certs, make_config(clock, topics=frozenset({TOPIC}))) as s, client(certs) as c:
        url = f"{s.url}/3/device/{TOKEN}"
        h = headers()
        del h["apns-topic"]
        assert reason(c.post(url, content=b"{}", headers=h)) == (400, "MissingTopic")
        assert reason(c.post(url, content=b"{}", headers=headers(apns_topic="com.other"))) == (400, "TopicDisallowed")
        dup = [*headers().items(), ("apns-priority", "10"), ("apns-priority", "5")]
        assert reason(c.post(url, content=b"{}", headers=dup)) == (400, "DuplicateHeaders")


# -- provider tokens ------------------------------------------------------------------------------


def test_token_age_boundary(server: ApnsServer, certs: Certificates, clock: Clock) -> None:
    assert send(server, certs, authorization=bearer(NOW - 3600)).status_code == 200
    assert reason(send(server, certs, authorization=bearer(NOW - 3601))) == (403, "ExpiredProviderToken")
    assert send(server, certs, authorization=bearer(NOW + 60)).status_code == 200
    assert reason(send(server, certs, authorization=bearer(NOW + 61))) == (403, "InvalidProviderToken")


@pytest.mark.parametrize(
    "authorization",
    [
        bearer(NOW, key=ec.generate_private_key(ec.SECP256R1())),  # signature does not verify
        bearer(NOW, kid="OTHERKEY00"),
        bearer(NOW, iss="OTHERTEAM0"),
        "bearer " + jwt.encode({"iss": TEAM, "iat": int(NOW)}, "s" * 32, algorithm="HS256", headers={"kid": KID}),
        "basic abc",
        "bearer not.a.jwt",
    ],
    ids=["signature", "kid", "iss", "hs256", "scheme", "garbage"],
)
def test_invalid_provider_tokens(server: ApnsServer, certs: Certificates, authorization: str) -> None:
    assert reason(send(server, certs, authorization=authorization)) == (403, "InvalidProviderToken")


def test_bearer_scheme_case_insensitive_and_missing_token(server: ApnsServer, certs: Certificates) -> None:
    assert send(server, certs, authorization=bearer(NOW).replace("bearer", "Bearer")).status_code == 200
    with client(certs) as c:
        h = headers()
        del h["authorization"]
        r = c.post(f"{server.url}/3/device/{TOKEN}", content=json.dumps(BODY).encode(), headers=h)
    assert reason(r) == (403, "MissingProviderToken")


def test_token_refresh_sooner_than_20_minutes_on_a_connection(
    server: ApnsServer, certs: Certificates, clock: Clock
) -> None:
    url = f"{server.url}/3/device/{TOKEN}"
    body = json.dumps(BODY).encode()
    with client(certs) as c:
        assert c.post(url, content=body, headers=headers()).status_code == 200
        clock.now = NOW + 1199
        r = c.post(url, content=body, headers=headers(authorization=bearer(NOW + 1199)))
        assert reason(r) == (429, "TooManyProviderTokenUpdates")
        assert c.post(url, content=body, headers=headers(authorization=bearer(NOW + 1200))).status_code == 200


# -- device state and rates -----------------------------------------------------------------------


def test_unregistered_after_uninstall(server: ApnsServer, certs: Certificates, journal: Journal) -> None:
    journal.uninstall("apns", TOKEN, at=1_700_000_000.5)
    r = send(server, certs)
    assert r.status_code == 410
    assert r.json() == {"reason": "Unregistered", "timestamp": 1_700_000_000_500}
    assert journal.accepted == [] and journal.rejected[0].reason == "Unregistered"


def test_too_many_requests_per_device(certs: Certificates, journal: Journal, clock: Clock) -> None:
    with ApnsServer(journal, certs, make_config(clock, device_rate=(2, 1.0))) as s:
        assert [send(s, certs).status_code for _ in range(2)] == [200, 200]
        assert reason(send(s, certs)) == (429, "TooManyRequests")
        assert send(s, certs, token="b2" * 32).status_code == 200  # another device is not limited
        clock.now += 1.0
        assert send(s, certs).status_code == 200


# -- certificate authentication -------------------------------------------------------------------


def test_certificate_authentication(server: ApnsServer, certs: Certificates, journal: Journal, tmp_path: Path) -> None:
    cert = issue_client_certificate(certs, TOPIC, tmp_path)
    url = f"{server.url}/3/device/{TOKEN}"
    with client(certs, cert) as c:
        assert c.post(url, content=json.dumps(BODY).encode()).status_code == 200  # no authorization, no topic
        assert c.post(url, content=b'{"aps":{}}', headers={"apns-topic": TOPIC + ".voip"}).status_code == 200
        r = c.post(url, content=b'{"aps":{}}', headers={"apns-topic": "com.other"})
        assert reason(r) == (400, "TopicDisallowed")
    assert len(journal.accepted) == 2


# -- frames: SETTINGS, one DATA frame per error, GOAWAY, ALPN ---------------------------------------


class RawClient:
    def __init__(self, server: ApnsServer, certs: Certificates, alpn: list[str] | None = None) -> None:
        ctx = ssl.create_default_context(cafile=str(certs.ca_cert))
        if alpn is not None:
            ctx.set_alpn_protocols(alpn)
        self.sock = ctx.wrap_socket(
            socket.create_connection((server.host, server.port), timeout=5), server_hostname="localhost"
        )
        self.conn = h2.connection.H2Connection()
        self.conn.initiate_connection()
        self.sock.sendall(self.conn.data_to_send())
        self.host = f"{server.host}:{server.port}"

    def post(self, path: str, body: bytes, hdrs: dict[str, str]) -> int:
        sid = self.conn.get_next_available_stream_id()
        pseudo = [(":method", "POST"), (":scheme", "https"), (":authority", self.host), (":path", path)]
        self.conn.send_headers(sid, pseudo + list(hdrs.items()))
        self.conn.send_data(sid, body, end_stream=True)
        self.sock.sendall(self.conn.data_to_send())
        return sid

    def events_until(self, done: type[h2.events.Event]) -> list[h2.events.Event]:
        events: list[h2.events.Event] = []
        while not any(isinstance(e, done) for e in events):
            data = self.sock.recv(65536)
            if not data:
                break
            events += self.conn.receive_data(data)
            self.sock.sendall(self.conn.data_to_send())
        return events


def test_one_stream_before_a_valid_token_and_one_data_frame_per_error(
    certs: Certificates, journal: Journal, clock: Clock
) -> None:
    with ApnsServer(journal, certs, make_config(clock, one_stream_until_token=True)) as s:
        raw = RawClient(s, certs, ["h2"])
        raw.events_until(h2.events.RemoteSettingsChanged)
        assert raw.conn.remote_settings.max_concurrent_streams == 1
        raw.post(f"/3/device/{'a1' * 31}", json.dumps(BODY).encode(), headers())
        events = raw.events_until(h2.events.StreamEnded)
        frames = [e for e in events if isinstance(e, h2.events.DataReceived)]
        assert len(frames) == 1 and json.loads(frames[0].data) == {"reason": "BadDeviceToken"}
        assert raw.conn.remote_settings.max_concurrent_streams == 1000  # that SETTINGS came before the answer


def test_goaway_after_n_requests(certs: Certificates, journal: Journal, clock: Clock) -> None:
    with ApnsServer(journal, certs, make_config(clock, goaway_after=2)) as s:
        raw = RawClient(s, certs, ["h2"])
        raw.post(f"/3/device/{TOKEN}", json.dumps(BODY).encode(), headers())
        raw.events_until(h2.events.StreamEnded)
        last = raw.post(f"/3/device/{TOKEN}", json.dumps(BODY).encode(), headers())
        events = raw.events_until(h2.events.ConnectionTerminated)
        (goaway,) = [e for e in events if isinstance(e, h2.events.ConnectionTerminated)]
        assert goaway.last_stream_id == last and goaway.error_code == 0
        assert json.loads(goaway.additional_data or b"") == {"reason": "Shutdown"}
        assert len(journal.accepted) == 2
        with client(certs) as c:  # a new connection is served again
            assert c.post(f"{s.url}/3/device/{TOKEN}", content=b'{"aps":{}}', headers=headers()).status_code == 200


def test_http1_is_refused_and_no_alpn_means_http2(server: ApnsServer, certs: Certificates) -> None:
    verify = ssl.create_default_context(cafile=str(certs.ca_cert))
    with httpx.Client(http2=False, verify=verify) as c:
        r = c.post(f"{server.url}/3/device/{TOKEN}", content=b"{}", headers=headers())
    assert r.http_version == "HTTP/1.1" and r.status_code == 505 and "HTTP/2 only" in r.text
    raw = RawClient(server, certs)  # no ALPN at all, as aioapns: HTTP/2 with prior knowledge
    assert raw.sock.selected_alpn_protocol() is None
    raw.post(f"/3/device/{TOKEN}", json.dumps(BODY).encode(), headers())
    events = raw.events_until(h2.events.StreamEnded)
    (answer,) = [e for e in events if isinstance(e, h2.events.ResponseReceived)]
    assert dict(answer.headers or [])[b":status"] == b"200"


def test_provider_key_file_is_reused_and_signs_accepted_tokens(
    certs: Certificates, journal: Journal, clock: Clock, tmp_path: Path
) -> None:
    key = ensure_provider_key(tmp_path)
    path = tmp_path / "AuthKey_MOBSIMKEY1.p8"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert ensure_provider_key(tmp_path).public_key.public_numbers() == key.public_key.public_numbers()
    token = jwt.encode(
        {"iss": key.team_id, "iat": int(NOW)}, path.read_text(), algorithm="ES256", headers={"kid": key.key_id}
    )
    config = ApnsConfig(keys={key.key_id: key}, clock=clock)
    with ApnsServer(journal, certs, config) as s:
        assert send(s, certs, authorization=f"bearer {token}").status_code == 200
    with pytest.raises(ProviderError, match="10 letters or digits"):
        ensure_provider_key(tmp_path, key_id="short")


def test_stream_limit_advertised(certs: Certificates, journal: Journal, clock: Clock, tmp_path: Path) -> None:
    config = make_config(clock, max_concurrent_streams=7, one_stream_until_token=False)
    with ApnsServer(journal, certs, config) as s:
        raw = RawClient(s, certs, ["h2"])
        raw.events_until(h2.events.RemoteSettingsChanged)
        assert raw.conn.remote_settings.max_concurrent_streams == 7


class BrokenJournal(Journal):
    def accept(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("disk full")


def test_internal_error_is_answered_not_hung(certs: Certificates, clock: Clock) -> None:
    with ApnsServer(BrokenJournal(), certs, make_config(clock)) as s:
        r = send(s, certs, apns_id="123e4567-e89b-12d3-a456-4266554400a0")
    assert reason(r) == (500, "InternalServerError")
    assert r.headers["apns-id"] == "123e4567-e89b-12d3-a456-4266554400a0"
