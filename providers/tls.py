"""A local certificate authority for the loopback providers.

:func:`ensure_certificates` writes, into a folder the user names, a CA (``ca.pem``: the file a backend
under test trusts) and a server certificate for ``127.0.0.1``, ``::1``, ``localhost`` and the APNs, FCM
and HMS host names, signed by it: the APNs listener and ``mobsim providers --tls`` both serve it. Key
files are 0600. An existing CA is reused across starts, so a backend configured once keeps trusting
it; the server certificate is made anew by that CA when it lacks a name or address of
:data:`SERVER_NAMES` / :data:`SERVER_ADDRESSES`, another CA signed it, or it expires within a week.
:func:`issue_client_certificate` signs a client certificate for APNs certificate authentication: the
topic (bundle id) sits in the subject's UID, as in Apple's "Apple Push Services" certificates (the
exact subject layout there is unconfirmed; see docs/reference/push-providers.md §2.4). Keys are ECDSA
P-256: small, fast to make and to handshake.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .errors import ProviderError

__all__ = [
    "SERVER_ADDRESSES",
    "SERVER_NAMES",
    "Certificates",
    "client_topic",
    "ensure_certificates",
    "issue_client_certificate",
    "load_private_key",
    "server_context",
    "write_private_key",
]

SERVER_NAMES = (
    "localhost",
    "api.push.apple.com",
    "api.sandbox.push.apple.com",
    "api.development.push.apple.com",
    "fcm.googleapis.com",
    "oauth2.googleapis.com",
    "push-api.cloud.huawei.com",
    "oauth-login.cloud.huawei.com",
)
"""The server certificate's DNS names: loopback, and the providers' hosts for a hosts-file redirect
(docs/reference/push-providers.md §1.8, §2.1, §3.1, §3.2)."""
SERVER_ADDRESSES = ("127.0.0.1", "::1")
_VALID_DAYS = 825  # the longest lifetime Apple platforms accept for a TLS server certificate
_RENEW_BEFORE = datetime.timedelta(days=7)


@dataclass(frozen=True, slots=True)
class Certificates:
    """Paths of the CA and the server certificate in the folder."""

    folder: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """PKCS#8 PEM, unencrypted, mode 0600."""
    data = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(path, 0o600)


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """An unencrypted EC private key from a PEM file this module (or Apple, for a .p8) wrote."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise ProviderError(f"cannot read the private key {path}: {e}; delete it to have a new one made") from e
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ProviderError(f"{path} is not an EC private key; delete it to have a new one made")
    return key


def _builder(subject: x509.Name, issuer: x509.Name, public: ec.EllipticCurvePublicKey) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
    )


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def ensure_certificates(folder: str | Path) -> Certificates:
    """The CA and server certificate in ``folder``: the CA reused when both its files are there (else a new
    one), the server certificate reused when it still fits that CA (else issued anew)."""
    root = Path(folder)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ProviderError(f"cannot create the certificate folder {root}: {e}; name a writable folder") from e
    certs = Certificates(root, root / "ca.pem", root / "ca-key.pem", root / "server.pem", root / "server-key.pem")
    if certs.ca_cert.exists() and certs.ca_key.exists():
        ca_key, ca_cert = load_private_key(certs.ca_key), _load_cert(certs.ca_cert)
        if certs.server_cert.exists() and certs.server_key.exists() and _fits(_load_cert(certs.server_cert), ca_cert):
            return certs
    else:
        ca_key, ca_cert = _new_ca()
        write_private_key(certs.ca_key, ca_key)
        _write_cert(certs.ca_cert, ca_cert)
    server_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName(n) for n in SERVER_NAMES]
    names += [x509.IPAddress(ipaddress.ip_address(a)) for a in SERVER_ADDRESSES]
    server_cert = (
        _builder(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]), ca_cert.subject, server_key.public_key()
        )
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    write_private_key(certs.server_key, server_key)
    _write_cert(certs.server_cert, server_cert)
    return certs


def _new_ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mobsim local provider CA")])
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca_cert


def _load_cert(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as e:
        raise ProviderError(f"cannot read the certificate {path}: {e}; delete it to have a new one made") from e


def _fits(server: x509.Certificate, ca: x509.Certificate) -> bool:
    """Signed by ``ca``, naming every name and address, and not expiring within a week."""
    try:
        server.verify_directly_issued_by(ca)
        sans = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    names = set(sans.get_values_for_type(x509.DNSName))
    addresses = {str(a) for a in sans.get_values_for_type(x509.IPAddress)}
    fresh = server.not_valid_after_utc - datetime.datetime.now(datetime.UTC) > _RENEW_BEFORE
    return fresh and names >= set(SERVER_NAMES) and addresses >= set(SERVER_ADDRESSES)


def issue_client_certificate(certs: Certificates, topic: str, folder: str | Path | None = None) -> tuple[Path, Path]:
    """A client certificate for APNs certificate authentication of ``topic``: (certificate, key) paths."""
    ca_key = load_private_key(certs.ca_key)
    ca_cert = x509.load_pem_x509_certificate(certs.ca_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, topic),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Apple Push Services: {topic}"),
        ]
    )
    cert = (
        _builder(subject, ca_cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    out = Path(folder) if folder is not None else certs.folder
    out.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = out / f"client-{topic}.pem", out / f"client-{topic}-key.pem"
    write_private_key(key_path, key)
    _write_cert(cert_path, cert)
    return cert_path, key_path


def client_topic(peercert: object) -> str | None:
    """The topic (subject UID) of a verified client certificate from ``SSLObject.getpeercert()``, or None."""
    if not isinstance(peercert, dict):
        return None
    for rdn in peercert.get("subject", ()):
        for name, value in rdn:
            if name == "userId" and isinstance(value, str):
                return value
    return None


def server_context(certs: Certificates, alpn: tuple[str, ...] = ("h2",)) -> ssl.SSLContext:
    """A TLS 1.2+ server context offering ``alpn``, asking (not requiring) a client certificate from the CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(certs.server_cert, certs.server_key)
    ctx.load_verify_locations(cafile=certs.ca_cert)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(list(alpn))
    return ctx
