"""Who may use the server's own surfaces: the inspection API and the docs.

The Mobile API, the Push API and the simulated provider (``/provider/1/deliveries``) authenticate
every call with an application code or an API key. The inspection API (which lists every account's
persons and push tokens, uninstalls devices and wipes everything with ``/inspect/reset``) and the
interactive docs have no such key, so :class:`Guard` protects them:

- **With a token** (``mobsim serve --inspect-token``, or the environment variable
  ``MOBSIM_INSPECT_TOKEN``; generated and printed when the server binds off loopback without one),
  every such request must carry ``Authorization: Bearer <token>`` (or ``X-Mobsim-Token: <token>``),
  compared in constant time: else ``401 UNAUTHORIZED``. A browser cannot send a header on a
  navigation: ``GET <page>?token=<token>`` sets the token as an HttpOnly, ``SameSite=Strict`` cookie
  (``mobsim_token``) and redirects to the page without it; a ``GET`` or ``HEAD`` with that cookie is
  then let in (only those: a write still needs the header).
- **On loopback without a token**, the request must come from this machine as itself: its
  ``Host`` must be a loopback name or address (a DNS-rebinding page sends its own host name), an
  ``Origin`` or ``Sec-Fetch-Site: cross-site`` of a web page elsewhere is refused (``403
  FORBIDDEN``), so no page a browser shows can drive the inspection API.
- **Always**, a request with a body that changes something there (POST, PUT, PATCH, DELETE) must
  say ``Content-Type: application/json`` (``415``): a plain HTML form cannot send that without a
  CORS preflight, which this server never grants.

The web page (``/`` exactly, and ``/ui``: server_stub/web/) shows what the inspection API shows and
is guarded alike; its refusals are HTML pages. ``/health`` stays open (orchestrators probe it), so
does ``/favicon.ico``. Nothing here touches ``/mobile``, ``/push`` or ``/provider``.
"""

from __future__ import annotations

import hmac
import html
import ipaddress
import os
import secrets
from urllib.parse import quote, unquote_plus, unquote_to_bytes, urlsplit

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from contract import ErrorCode
from contract.headers import INSPECT_TOKEN_ENV
from contract.secrets import mask

from .http import error_response

__all__ = [
    "COOKIE",
    "TOKEN_ENV",
    "Guard",
    "is_guarded",
    "is_loopback_host",
    "mask",
    "new_token",
    "settle_token",
    "token_from_env",
]

TOKEN_ENV = INSPECT_TOKEN_ENV
PROTECTED = ("/inspect", "/docs", "/redoc", "/openapi.json", "/ui")
"""Guarded path prefixes; and the path ``/`` exactly (:func:`is_guarded`)."""
COOKIE = "mobsim_token"
"""The cookie a ``?token=`` sign-in sets: the token, percent-encoded."""
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_READS = frozenset({"GET", "HEAD"})
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, without a port) is this machine's loopback."""
    host = host.strip().strip("[]").lower().rstrip(".")
    if host in _LOOPBACK_NAMES or host.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def new_token() -> str:
    return secrets.token_urlsafe(24)


def token_from_env() -> str | None:
    return os.environ.get(TOKEN_ENV) or None


def settle_token(given: str | None, host: str) -> tuple[str | None, bool]:
    """The inspection token of a server binding ``host``: the one given, else
    ``MOBSIM_INSPECT_TOKEN``, else, off loopback, a new one (an empty one is none). Returns it and
    whether it was generated (the caller prints it then); ``None`` on loopback without one."""
    token = given or token_from_env()
    if token is None and not is_loopback_host(host):
        return new_token(), True
    return token, False


def is_guarded(path: str) -> bool:
    """Whether the guard protects ``path``: the inspection API, the docs, the web page (``/ui``, and
    ``/`` exactly: not every path starting with it)."""
    return path == "/" or path.startswith(PROTECTED)


def _is_page(path: str) -> bool:
    """The web page's paths, whose refusals are HTML."""
    return path == "/" or path.startswith("/ui")


def _query_token(query: bytes) -> tuple[bytes | None, bytes]:
    """The ``token`` parameter of a raw query string (percent-decoded), and the query without it."""
    token, kept = None, []
    for part in query.split(b"&"):
        name, _, value = part.partition(b"=")
        if unquote_plus(name.decode("latin-1")) == "token":
            token = unquote_to_bytes(value.replace(b"+", b" "))
        elif part:
            kept.append(part)
    return token, b"&".join(kept)


def _cookie(scope: Scope) -> bytes | None:
    """The ``mobsim_token`` cookie of a request, as sent."""
    for name, value in scope["headers"]:
        if name == b"cookie":
            for part in bytes(value).split(b";"):
                key, sep, found = part.strip().partition(b"=")
                if sep and key == COOKIE.encode():
                    return found.strip().strip(b'"')
    return None


def _page_refusal(status: int, text: str) -> Response:
    body = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>mobsim: not allowed</title></head>'
        f'<body><h1>{status}</h1><p id="refusal">{html.escape(text)}</p></body></html>'
    )
    return Response(body, status_code=status, media_type="text/html", headers={"Cache-Control": "no-store"})


def _host_of(value: str) -> str:
    if value.startswith("["):
        return value[1:].split("]", 1)[0]
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Guard:
    """ASGI middleware in front of the whole app (``server_stub/serve.py`` puts it outermost)."""

    def __init__(self, app: ASGIApp, *, token: str | None, check_host: bool) -> None:
        self.app = app
        self.token = token.encode() if token else None
        self.cookie = quote(token, safe="").encode() if token else None
        self.check_host = check_host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and is_guarded(scope["path"]):
            if self.token is not None and scope["method"] in _READS:
                given, rest = _query_token(scope.get("query_string", b""))
                if given is not None and hmac.compare_digest(given, self.token):
                    await self._sign_in(scope, rest)(scope, receive, send)
                    return
            refusal = self._refusal(scope)
            if refusal is not None:
                status, code, text = refusal
                answer = _page_refusal(status, text) if _is_page(scope["path"]) else error_response(code, text, status)
                await answer(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _sign_in(self, scope: Scope, rest: bytes) -> Response:
        """The token as a cookie, and the same URL without it: a 303; or, when a page of another site
        sent the browser here, a page that goes there itself (a redirect would carry that other
        site's initiation along, and the browser would not send a ``SameSite=Strict`` cookie)."""
        assert self.cookie is not None
        path = (scope.get("raw_path") or quote(scope["path"]).encode()).split(b"?", 1)[0].decode("latin-1")
        target = path + ("?" + rest.decode("latin-1") if rest else "")
        headers = {
            "Set-Cookie": f"{COOKIE}={self.cookie.decode()}; Path=/; HttpOnly; SameSite=Strict",
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
        }
        cross_site = any(n == b"sec-fetch-site" and v == b"cross-site" for n, v in scope["headers"])
        if not cross_site:
            return Response(b"", status_code=303, headers={**headers, "Location": target})
        shown = html.escape(target)
        body = (
            '<!doctype html><html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="refresh" content="0;url={shown}"><title>mobsim</title></head>'
            f'<body><p><a href="{shown}">Continue to the page</a></p></body></html>'
        )
        return Response(body, status_code=200, media_type="text/html", headers=headers)

    def _refusal(self, scope: Scope) -> tuple[int, str, str] | None:
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name, value)
        if self.token is not None:
            given = headers.get(b"x-mobsim-token")
            if given is None:
                bearer = headers.get(b"authorization", b"")
                given = bearer[7:].strip() if bearer[:7].lower() == b"bearer " else b""
            if not hmac.compare_digest(given, self.token) and not self._signed_in(scope):
                return (
                    401,
                    ErrorCode.UNAUTHORIZED,
                    (
                        "this server's inspection API needs its token: send 'Authorization: Bearer <token>' "
                        f"(mobsim serve printed it; mobsim's own tools read it from {TOKEN_ENV}); in a browser, "
                        "open the page once with ?token=<token> (the link mobsim serve printed)"
                    ),
                )
        elif self.check_host:
            host = headers.get(b"host", b"").decode("latin-1")
            if not is_loopback_host(_host_of(host)):
                return (
                    403,
                    ErrorCode.FORBIDDEN,
                    (
                        "the inspection API answers only requests to a loopback name (localhost, 127.0.0.1): "
                        "start the server with --inspect-token to reach it by another name"
                    ),
                )
            origin = headers.get(b"origin")
            if origin is not None and not is_loopback_host(urlsplit(origin.decode("latin-1")).hostname or ""):
                return 403, ErrorCode.FORBIDDEN, "the inspection API does not answer web pages of other sites"
            if headers.get(b"sec-fetch-site") == b"cross-site":
                return 403, ErrorCode.FORBIDDEN, "the inspection API does not answer web pages of other sites"
        if scope["method"] in _WRITES and _has_body(headers):
            media = headers.get(b"content-type", b"").split(b";", 1)[0].strip().lower()
            if media != b"application/json":
                return (
                    415,
                    ErrorCode.UNSUPPORTED_MEDIA_TYPE,
                    ("send the body as JSON with 'Content-Type: application/json'"),
                )
        return None

    def _signed_in(self, scope: Scope) -> bool:
        """A GET or HEAD with the sign-in cookie (constant-time compare)."""
        if scope["method"] not in _READS or self.cookie is None:
            return False
        given = _cookie(scope)
        return given is not None and hmac.compare_digest(given, self.cookie)


def _has_body(headers: dict[bytes, bytes]) -> bool:
    length = headers.get(b"content-length")
    if length is not None:
        return length.strip() not in (b"", b"0")
    return b"transfer-encoding" in headers or b"content-type" in headers
