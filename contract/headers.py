"""Header names of the Mobile API and the User-Agent shapes of each dialect."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from .dialect import Dialect

__all__ = [
    "ACCEPT",
    "APPLICATION_CODE",
    "AUTHORIZATION",
    "CONTENT_TYPE",
    "FOREGROUND",
    "INSPECT_TOKEN",
    "INSPECT_TOKEN_ENV",
    "INSTALLATION_ID",
    "METHOD_OVERRIDE",
    "NEW_BASE_URL",
    "PUSH_REGISTRATION_ID",
    "SESSION_ID",
    "USER_AGENT",
    "android_user_agent",
    "app_authorization",
    "inspection_headers",
    "ios_user_agent",
    "parse_app_authorization",
    "user_agent_matches",
]

AUTHORIZATION = "Authorization"
ACCEPT = "Accept"
CONTENT_TYPE = "Content-Type"
USER_AGENT = "User-Agent"
APPLICATION_CODE = "applicationcode"
INSTALLATION_ID = "installationid"
PUSH_REGISTRATION_ID = "pushregistrationid"
FOREGROUND = "foreground"
SESSION_ID = "sessionId"
METHOD_OVERRIDE = "X-HTTP-Method-Override"
NEW_BASE_URL = "New-Base-URL"

_ASCII_PRINTABLE = re.compile(r"[^\x20-\x7f]")


def app_authorization(application_code: str) -> str:
    return f"App {application_code}"


def parse_app_authorization(value: str | None) -> str | None:
    """The application code of an ``Authorization: App <code>`` header, or None."""
    if not value:
        return None
    scheme, _, code = value.strip().partition(" ")
    if scheme.lower() != "app" or not code.strip():
        return None
    return code.strip()


def android_user_agent(sdk_version: str, additions: Sequence[str]) -> str:
    """``Infobip Mobile API Client/<ver>(<14 additions>)``: no space before ``(``, non-ASCII stripped.

    ``additions`` are, in order: codename, OS release, ABI, model, manufacturer, app label, app
    version, device name, carrier, MNC, MCC, SIM carrier, SIM MNC, SIM MCC (``UserAgentUtil.java``).
    """
    if len(additions) != 14:
        raise ValueError(f"the Android User-Agent has 14 additions, got {len(additions)}")
    text = f"Infobip Mobile API Client/{sdk_version}({';'.join(additions)})"
    return _ASCII_PRINTABLE.sub("", text)


def ios_user_agent(sdk_version: str, additions: Sequence[str]) -> str:
    """``MobileMessaging/<ver>(<11 fields>)``: os, osVersion, arch (empty), model, manufacturer (empty),
    bundle id, app version, device name, carrier, MNC, MCC (``MMUserAgent.swift``)."""
    if len(additions) != 11:
        raise ValueError(f"the iOS User-Agent has 11 fields, got {len(additions)}")
    text = f"MobileMessaging/{sdk_version}({';'.join(additions)})"
    # The iOS SDK puts the device name in as it is ("Jane’s iPhone"). HTTP clients refuse header
    # values outside Latin-1, so mobsim writes the typographic apostrophe as ' and drops other
    # non-ASCII characters here; the body keeps the name as it is (README, "Choices").
    return _ASCII_PRINTABLE.sub("", text.replace("\u2019", "'"))


# Fields may hold parentheses (a device named "Jane's iPhone (2)"); the SDKs escape nothing.
_UA_SHAPES = {
    Dialect.ANDROID: re.compile(r"Infobip Mobile API Client/[^()\s]+\((?:[^;]*;){13}[^;]*\)"),
    Dialect.IOS: re.compile(r"MobileMessaging/[^()]+\((?:[^;]*;){10}[^;]*\)"),
}


def user_agent_matches(dialect: Dialect, user_agent: str) -> bool:
    """Whether a User-Agent has the shape its claimed dialect's SDK produces."""
    return bool(_UA_SHAPES[dialect].fullmatch(user_agent))


INSPECT_TOKEN_ENV = "MOBSIM_INSPECT_TOKEN"
INSPECT_TOKEN = "X-Mobsim-Token"
"""The header mobsim's tools send the token in (the server also takes ``Authorization: Bearer``):
their calls may already carry an ``Authorization`` with an app code or an API key."""
"""The environment variable holding the reference server's inspection token (server_stub/guard.py):
``mobsim serve`` reads it as its ``--inspect-token``, and every mobsim tool sends it on its calls to
``/inspect`` (never on the Mobile API or the Push API)."""


def inspection_headers() -> dict[str, str]:
    """The headers a call to a mobsim server's inspection API carries: the token from
    :data:`INSPECT_TOKEN_ENV` when one is set, else none (a loopback server needs none)."""
    token = os.environ.get(INSPECT_TOKEN_ENV)
    return {INSPECT_TOKEN: token} if token else {}
