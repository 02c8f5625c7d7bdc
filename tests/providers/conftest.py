"""Fixtures shared by the provider tests."""

from __future__ import annotations

import pytest

from providers.tls import Certificates, ensure_certificates


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """The loopback CA and server certificate (made once per module)."""
    return ensure_certificates(tmp_path_factory.mktemp("apns-ca"))
