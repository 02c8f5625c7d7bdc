"""A Google service-account JSON for a backend to load, with a fresh RSA key whose public half the
loopback FCM token endpoint checks assertions against (RS256), and ``token_uri`` on loopback."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .errors import ProviderError

__all__ = ["ServiceAccount", "new_service_account"]


@dataclass(frozen=True)
class ServiceAccount:
    """The file's content and the public key (PEM) to register with :class:`providers.fcm.FcmConfig`."""

    info: dict[str, Any]
    public_pem: bytes

    @property
    def key_id(self) -> str:
        return str(self.info["private_key_id"])

    def write(self, path: Path) -> None:
        """Write the file (mode 0600); an existing file is not overwritten."""
        try:
            with path.open("x", encoding="utf-8") as out:
                json.dump(self.info, out, indent=2)
            path.chmod(0o600)
        except FileExistsError:
            raise ProviderError(f"{path} exists: give a new --service-account path or remove the file") from None
        except OSError as exc:
            raise ProviderError(f"cannot write {path}: {exc.strerror}") from None


def new_service_account(token_uri: str, project_id: str = "mobsim-demo") -> ServiceAccount:
    """A service account of ``project_id`` whose token exchanges go to ``token_uri``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    email = f"mobsim@{project_id}.iam.gserviceaccount.com"
    info = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem.decode(),
        "client_email": email,
        "client_id": str(secrets.randbelow(10**21)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "universe_domain": "googleapis.com",  # else google-auth skips the token endpoint (self-signed JWT)
    }
    return ServiceAccount(info, public_pem)
