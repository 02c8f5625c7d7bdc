"""``mobsim providers --tls``: FCM, HMS, the feed and the journal over HTTPS with the local CA's certificate.

One real ``mobsim providers --tls --port 0`` process for the module (it also carries a ``reset`` fault, so
the reset over TLS is proven on the same process); the certificate rules are checked without one.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from providerkit import fcm_body, token_of

from contract.dialect import Platform
from mobsim import exitcodes
from mobsim.cli import main
from providers.tls import SERVER_ADDRESSES, SERVER_NAMES, Certificates, ensure_certificates, load_private_key

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
RESET_SEND = "/v1/projects/reset-me/messages:send"


@dataclass
class Providers:
    base: str
    ca: Path
    account: dict[str, str]
    printed: dict[str, str]
    stderr: Path


@pytest.fixture(scope="module")
def providers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Providers]:
    tmp = tmp_path_factory.mktemp("https")
    stderr = tmp / "stderr.txt"
    with stderr.open("w") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "mobsim", "providers", "--tls", "--port", "0", "--apns-dir", str(tmp / "ca"),
             "--service-account", str(tmp / "sa.json"), "--latency", "0", "--fault", f"reset,endpoint={RESET_SEND}"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=err, text=True,
        )  # fmt: skip
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline()]
        while lines[-1] and not lines[-1].startswith("  faults"):  # the last line printed; "" if it exited
            lines.append(proc.stdout.readline())
        assert lines[-1], f"mobsim providers --tls exited: {stderr.read_text()}"
        base = lines[0].split()[-1]
        printed = {line[:19].strip(): line[19:].strip() for line in lines[1:]}
        account = json.loads((tmp / "sa.json").read_text())
        yield Providers(base, tmp / "ca" / "ca.pem", account, printed, stderr)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def trusting(ca: Path) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(ca)), timeout=10)


def access_token(client: httpx.Client, account: dict[str, str]) -> str:
    now = int(time.time())
    claims = {"iss": account["client_email"], "aud": "https://oauth2.googleapis.com/token", "iat": now,
              "exp": now + 3600, "scope": "https://www.googleapis.com/auth/firebase.messaging"}  # fmt: skip
    signed = jwt.encode(claims, account["private_key"], algorithm="RS256", headers={"kid": account["private_key_id"]})
    answer = client.post(account["token_uri"], data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer",
                                                     "assertion": signed})  # fmt: skip
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def test_fcm_over_https_with_the_printed_ca(providers: Providers, capsys: pytest.CaptureFixture[str]) -> None:
    base = providers.base
    assert base.startswith("https://127.0.0.1:")
    assert providers.printed["CA"].split()[0] == str(providers.ca)
    assert providers.printed["FCM send"] == f"{base}/v1/projects/mobsim-demo/messages:send"
    assert providers.account["token_uri"] == f"{base}/token"
    device = token_of(Platform.ANDROID, 2)
    with trusting(providers.ca) as client:
        access = access_token(client, providers.account)
        sent = client.post(f"{base}/v1/projects/mobsim-demo/messages:send", json=fcm_body(device),
                           headers={"Authorization": f"Bearer {access}"})  # fmt: skip
        assert sent.status_code == 200 and sent.json()["name"].startswith("projects/mobsim-demo/messages/")
        assert sent.http_version == "HTTP/1.1"  # uvicorn speaks no HTTP/2: an h2 client falls back by ALPN
        delivered = client.get(f"{base}/provider/1/deliveries?wait=5").json()["deliveries"]
    assert [(d["platform"], d["route"]) for d in delivered] == [("android", 2)]
    capsys.readouterr()
    assert main(["providers", "--verify", base, "--ca", str(providers.ca)]) == exitcodes.PASSED
    assert "1 accepted" in capsys.readouterr().out


def test_a_client_without_the_ca_is_refused(
    providers: Providers, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    with httpx.Client(timeout=10) as client, pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        client.get(f"{providers.base}/journal")
    assert main(["providers", "--verify", providers.base, "--apns-dir", str(tmp_path)]) == exitcodes.USAGE
    assert "trust its CA with --ca DIR/ca.pem" in capsys.readouterr().err
    assert main(["providers", "--verify", providers.base, "--ca", str(tmp_path / "none.pem")]) == exitcodes.USAGE
    assert "cannot read the CA file" in capsys.readouterr().err
    ca_dir = providers.ca.parent  # without --ca, --apns-dir's ca.pem is trusted
    assert main(["providers", "--verify", providers.base, "--apns-dir", str(ca_dir)]) == exitcodes.PASSED


def test_a_reset_fault_over_tls_drops_the_connection_and_the_next_is_served(providers: Providers) -> None:
    with trusting(providers.ca) as client:
        access = access_token(client, providers.account)
        body = fcm_body(token_of(Platform.ANDROID, 3))
        auth = {"Authorization": f"Bearer {access}"}
        with pytest.raises(httpx.TransportError):
            client.post(f"{providers.base}{RESET_SEND}", json=body, headers=auth)
        faults = client.get(f"{providers.base}/inspect/faults").json()["faults"]  # a new connection
    assert [(f["matched"], f["injected"]) for f in faults] == [(1, 1)]
    assert "ASGI callable" not in providers.stderr.read_text()  # no error logged for the aborted request


# -- the certificate ---------------------------------------------------------------------------------


def sans(path: Path) -> tuple[set[str], set[str]]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(names.get_values_for_type(x509.DNSName)), {str(a) for a in names.get_values_for_type(x509.IPAddress)}


def test_the_server_certificate_names_loopback_and_the_provider_hosts(tmp_path: Path) -> None:
    certs = ensure_certificates(tmp_path)
    names, addresses = sans(certs.server_cert)
    assert {"localhost", "fcm.googleapis.com", "oauth2.googleapis.com", "api.push.apple.com"} <= names
    assert names == set(SERVER_NAMES) and addresses == set(SERVER_ADDRESSES) == {"127.0.0.1", "::1"}
    server_pem = certs.server_cert.read_bytes()
    assert ensure_certificates(tmp_path).server_cert.read_bytes() == server_pem  # reused as it is


def issued(certs: Certificates, names: list[str], addresses: list[str], days: int) -> bytes:
    """A server certificate signed by ``certs``' CA, as an earlier mobsim (or a week-old run) left it."""
    ca_key, ca = load_private_key(certs.ca_key), x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
    now = datetime.datetime.now(datetime.UTC)
    sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca.subject)
        .public_key(ec.generate_private_key(ec.SECP256R1()).public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.mark.parametrize(
    "replace",
    ["no ::1", "expires in 6 days", "another CA", "no SANs"],
)
def test_a_server_certificate_that_no_longer_fits_is_reissued_by_the_same_ca(tmp_path: Path, replace: str) -> None:
    certs = ensure_certificates(tmp_path / "ca")
    ca_pem = certs.ca_cert.read_bytes()
    stale = {
        "no ::1": lambda: issued(certs, ["localhost"], ["127.0.0.1"], 800),  # what mobsim made before
        "expires in 6 days": lambda: issued(certs, list(SERVER_NAMES), list(SERVER_ADDRESSES), 6),
        "another CA": lambda: ensure_certificates(tmp_path / "other").server_cert.read_bytes(),
        "no SANs": lambda: ca_pem,
    }[replace]()
    certs.server_cert.write_bytes(stale)
    again = ensure_certificates(tmp_path / "ca")
    assert again.ca_cert.read_bytes() == ca_pem  # a backend that trusts the CA keeps trusting it
    fresh = again.server_cert.read_bytes()
    assert fresh != stale and sans(again.server_cert) == (set(SERVER_NAMES), set(SERVER_ADDRESSES))
    ca = x509.load_pem_x509_certificate(ca_pem)
    x509.load_pem_x509_certificate(fresh).verify_directly_issued_by(ca)


def test_a_server_certificate_expiring_in_8_days_is_kept(tmp_path: Path) -> None:
    certs = ensure_certificates(tmp_path)
    kept = issued(certs, list(SERVER_NAMES), list(SERVER_ADDRESSES), 8)
    certs.server_cert.write_bytes(kept)
    assert ensure_certificates(tmp_path).server_cert.read_bytes() == kept
