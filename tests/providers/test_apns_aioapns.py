"""The loopback APNs against aioapns, the reference Python APNs client (h2 + PyJWT + pyOpenSSL).

aioapns takes its host and port from class attributes only (docs/reference/push-providers.md §2.7),
so the tests point them at the server; the CA is trusted through its ``ssl_context`` argument.
"""

from __future__ import annotations

import asyncio
import ssl
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aioapns import APNs, NotificationRequest
from aioapns.common import NotificationResult
from aioapns.connection import APNsDevelopmentClientProtocol

from providers.apns import ApnsConfig, ApnsServer, ensure_provider_key
from providers.journal import Journal
from providers.tls import Certificates, ensure_certificates, issue_client_certificate

TOPIC = "com.example.app"
MESSAGE = {"messageId": "m-1", "aps": {"alert": {"body": "Hi"}, "mutable-content": 1}}


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return ensure_certificates(tmp_path_factory.mktemp("apns-ca"))


@pytest.fixture
def served(
    certs: Certificates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[ApnsServer, Journal, Path]]:
    key = ensure_provider_key(tmp_path)
    journal = Journal()
    with ApnsServer(journal, certs, ApnsConfig(keys={key.key_id: key})) as server:
        monkeypatch.setattr(APNsDevelopmentClientProtocol, "APNS_SERVER", server.host)
        monkeypatch.setattr(APNsDevelopmentClientProtocol, "APNS_PORT", server.port)
        yield server, journal, tmp_path / f"AuthKey_{key.key_id}.p8"


def trust(certs: Certificates) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(certs.ca_cert))


def request(token: str) -> NotificationRequest:
    return NotificationRequest(device_token=token, message=MESSAGE, notification_id=str(uuid.uuid4()))


def test_token_auth_burst_success_unregistered_and_bad_token(
    served: tuple[ApnsServer, Journal, Path], certs: Certificates
) -> None:
    _, journal, key_file = served
    gone = "cd" * 32
    journal.uninstall("apns", gone, at=1_700_000_000.0)

    async def main() -> list[NotificationResult]:
        client = APNs(
            key=key_file.read_text(),
            key_id="MOBSIMKEY1",
            team_id="MOBSIMTEAM",
            topic=TOPIC,
            use_sandbox=True,
            max_connections=1,
            ssl_context=trust(certs),
        )
        # A burst on a fresh connection: the first stream, then the rest once the token is valid.
        burst = [request(f"{i:02x}" * 32) for i in range(20)]
        results = await asyncio.gather(*(client.send_notification(r) for r in burst))
        results.append(await client.send_notification(request(gone)))
        results.append(await client.send_notification(request("not-a-token")))
        return results

    results = asyncio.run(asyncio.wait_for(main(), 10))
    assert [r.status for r in results[:20]] == ["200"] * 20
    assert (results[20].status, results[20].description, results[20].timestamp) == (
        "410",
        "Unregistered",
        1_700_000_000_000,
    )
    assert (results[21].status, results[21].description) == ("400", "BadDeviceToken")
    assert len(journal.accepted) == 20
    assert {e.message_id for e in journal.accepted} == {r.notification_id for r in results[:20]}
    assert journal.accepted[0].payload == MESSAGE


def test_certificate_auth(served: tuple[ApnsServer, Journal, Path], certs: Certificates, tmp_path: Path) -> None:
    _, journal, _ = served
    cert_file, key_file = issue_client_certificate(certs, TOPIC, tmp_path / "client")
    combined = tmp_path / "client.pem"  # aioapns loads one PEM with the certificate and its key
    combined.write_text(cert_file.read_text() + key_file.read_text())

    async def main() -> NotificationResult:
        client = APNs(client_cert=str(combined), topic=TOPIC, use_sandbox=True, ssl_context=trust(certs))
        return await client.send_notification(request("ef" * 32))

    result = asyncio.run(asyncio.wait_for(main(), 10))
    assert result.status == "200"
    assert [e.token for e in journal.accepted] == ["ef" * 32]
