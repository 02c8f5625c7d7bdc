"""Where traffic goes, in one policy for every command (``run``, ``check``, ``demo``, ``replay``).

- A target on loopback (``localhost``, ``127.0.0.0/8``, ``::1``) is free: no confirmation, no cap
  unless ``--max-rps`` sets one.
- Any other target needs ``--allow-remote-target`` and is held to a request-rate cap: ``--max-rps N``,
  by default the command's remote default (50 per second; 10 for ``check``). ``--max-rps 0`` means
  no cap, on loopback and elsewhere alike (a remote target still needs the confirmation). A negative
  or non-numeric ``--max-rps`` is a usage error.
- ``--target`` needs ``--app-code`` (not ``mobsim violations``, which reads the inspection API).
- Before any load, one :func:`preflight` request checks that the target is reachable, accepts the
  app code and answers like the Mobile API: a wrong code is one line, within seconds, not thousands
  of failed requests. It creates nothing: it reads the user of a push registration id no backend
  can have issued.

Every refusal is a :class:`TargetError` with one sentence that says what to do; the commands print
it as ``mobsim <command>: <sentence>`` and exit with :data:`mobsim.exitcodes.USAGE`.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import math
import re
import socket
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from contract.formats import app_code_hash
from contract.secrets import mask

from . import __version__

__all__ = [
    "ALLOW_REMOTE_HELP",
    "APP_CODE_HELP",
    "DEFAULT_REMOTE_MAX_RPS",
    "PREFLIGHT_INSTALLATION_ID",
    "PREFLIGHT_REG_ID",
    "PREFLIGHT_USER_AGENT",
    "TARGET_HELP",
    "Target",
    "TargetError",
    "add_target_arguments",
    "check_target",
    "is_loopback",
    "mask_code",
    "max_rps_arg",
    "parse_timespan",
    "preflight",
    "resolve_target",
    "resolve_url_target",
    "target_from_args",
]

DEFAULT_REMOTE_MAX_RPS = 50.0
"""Requests per second against a target off loopback when ``--max-rps`` is not given (run, demo, replay)."""

PREFLIGHT_REG_ID = "00000000-0000-4000-8000-000000000000"
"""The push registration id the preflight asks about: well-formed, and obviously nobody's."""

PREFLIGHT_INSTALLATION_ID = "00000000-0000-4000-8000-000000000001"
"""The ``installationid`` header of the preflight request: as obviously nobody's."""

PREFLIGHT_USER_AGENT = f"mobsim-preflight/{__version__}"
"""The preflight's ``User-Agent``: names it in the target's logs (it is no SDK)."""


class TargetError(ValueError):
    """A target or option that mobsim refuses, with what to do about it."""


@dataclass(frozen=True)
class Target:
    """A confirmed target: its base URL (no trailing slash), app code, whether it is off loopback."""

    url: str
    app_code: str
    remote: bool
    max_rps: float
    """Requests per second at most; 0.0 is no cap."""

    def cap(self) -> str:
        """The cap in words: ``at most 50 requests per second`` or ``no request-rate cap``."""
        return _cap_text(self.max_rps)


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_target(url: str) -> str:
    """The URL without a trailing slash, or ``TargetError`` when it is not an http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname) and (parts.port or 0) >= 0
    except ValueError:  # a port that is not a number, a malformed IPv6 host
        valid = False
    if not valid:
        raise TargetError(f"--target {url!r} is not an http(s) URL such as https://mobile.example.com")
    return url.rstrip("/")


def mask_code(code: str) -> str:
    """Application codes are secrets on a real backend: the command's own lines show the first and
    last four characters of the code the user gave (to tell two apart), never a short code whole
    (``contract.secrets.mask``, which logs and the servers' errors use, shows the first four)."""
    return mask(code) if len(code) <= 8 else f"{code[:4]}…{code[-4:]}"


def max_rps_arg(text: str) -> float:
    """The argparse type of ``--max-rps``: a non-negative number of requests per second (0: no cap)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number: give requests per second, or 0 for no cap"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of requests per second of 0 or more (0: no cap)")
    return value


def _cap_text(rps: float) -> str:
    return f"at most {rps:g} requests per second" if rps > 0 else "no request-rate cap"


TARGET_HELP = "the backend's base URL, e.g. http://127.0.0.1:8080 (off loopback it needs --allow-remote-target)"
APP_CODE_HELP = "an application code of the target (sent as 'Authorization: App CODE'); needed with --target"
ALLOW_REMOTE_HELP = "confirm that you may send traffic to a target that is not on loopback"


def add_target_arguments(
    parser: argparse.ArgumentParser | argparse._ArgumentGroup,
    *,
    required: bool = False,
    default_remote_rps: float = DEFAULT_REMOTE_MAX_RPS,
) -> None:
    """``--target``, ``--app-code``, ``--allow-remote-target`` and ``--max-rps``, alike in every command.

    ``required`` makes ``--target`` and ``--app-code`` mandatory (``replay``). The remote default
    is kept in the parsed arguments, so :func:`target_from_args` needs nothing else.
    """
    parser.add_argument("--target", metavar="URL", required=required, help=TARGET_HELP)
    parser.add_argument("--app-code", metavar="CODE", required=required, help=APP_CODE_HELP)
    parser.add_argument("--allow-remote-target", action="store_true", help=ALLOW_REMOTE_HELP)
    parser.add_argument(
        "--max-rps",
        type=max_rps_arg,
        default=None,
        metavar="N",
        help=f"cap on requests per second (default: none on loopback, {default_remote_rps:g} elsewhere; 0: no cap)",
    )
    parser.set_defaults(target_default_remote_rps=default_remote_rps)


def resolve_url_target(url: str | None, *, allow_remote: bool) -> str:
    """The confirmed URL of a command that reads a target's own API and sends no app traffic of its
    own (``violations``, ``proxy``): no app code, no rate cap; ``TargetError`` without one."""
    confirmed = resolve_target(
        url, None, allow_remote=allow_remote, max_rps=None, default_remote_rps=0.0, needs_app_code=False
    )
    if confirmed is None:
        raise TargetError("give --target URL")
    return confirmed.url


def resolve_target(
    url: str | None,
    app_code: str | None,
    *,
    allow_remote: bool,
    max_rps: float | None,
    default_remote_rps: float,
    needs_app_code: bool = True,
) -> Target | None:
    """The confirmed target, ``None`` without a URL (the bundled server), or ``TargetError``.

    ``max_rps`` ``None`` (not given) is no cap on loopback and ``default_remote_rps`` elsewhere;
    ``0`` is no cap anywhere.
    """
    if url is None:
        return None
    checked = check_target(url)
    if needs_app_code and not app_code:
        raise TargetError("--target needs --app-code CODE: an application code of that backend")
    if max_rps is not None and (not math.isfinite(max_rps) or max_rps < 0):
        raise TargetError(f"--max-rps {max_rps:g}: give a number of requests per second of 0 or more (0: no cap)")
    remote = not is_loopback(checked)
    cap = float(max_rps) if max_rps is not None else (float(default_remote_rps) if remote else 0.0)
    if remote and not allow_remote:
        if cap > 0:
            how = f"; it is then held to {_cap_text(cap)} (--max-rps N changes the cap, 0 lifts it)"
        elif max_rps == 0:
            how = ", which --max-rps 0 sends without a request-rate cap"
        else:
            how = ""
        raise TargetError(
            f"{checked} is not on loopback: add --allow-remote-target to confirm that you may send it traffic{how}"
        )
    return Target(checked, app_code or "", remote, cap)


def target_from_args(args: argparse.Namespace, *, needs_app_code: bool = True) -> Target | None:
    """:func:`resolve_target` of the options :func:`add_target_arguments` added."""
    return resolve_target(
        args.target,
        args.app_code,
        allow_remote=args.allow_remote_target,
        max_rps=args.max_rps,
        default_remote_rps=getattr(args, "target_default_remote_rps", DEFAULT_REMOTE_MAX_RPS),
        needs_app_code=needs_app_code,
    )


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _unreachable(url: str, exc: httpx.HTTPError, timeout: float) -> TargetError:
    host = urlsplit(url).hostname
    if isinstance(exc, httpx.TimeoutException):
        return TargetError(f"{url} did not answer the preflight request within {timeout:g} s (timed out)")
    causes = _causes(exc)
    if any(isinstance(c, socket.gaierror) for c in causes):
        return TargetError(f"{url} is unreachable: the host name {host!r} does not resolve (DNS)")
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return TargetError(f"{url} is unreachable: connection refused (is the backend running on that port?)")
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return TargetError(f"{url} is unreachable: {detail}")


def _envelope(response: httpx.Response) -> tuple[str, str] | None:
    """``(messageId, text)`` of a Mobile API error answer (``requestError.serviceException``), else None."""
    try:
        data: Any = json.loads(response.content)
        exception = data["requestError"]["serviceException"]
        message_id = exception["messageId"]
    except (ValueError, KeyError, TypeError):
        return None
    if not isinstance(message_id, str):
        return None
    text = exception.get("text") if isinstance(exception, dict) else None
    return message_id, " ".join(str(text or "").split())[:200]


def preflight(target_url: str, app_code: str, *, timeout: float = 5.0, client: httpx.Client | None = None) -> None:
    """One request before any load: the target is reachable, accepts ``app_code``, is the Mobile API.

    ``GET /mobile/1/appinstance/{PREFLIGHT_REG_ID}/user`` reads and creates nothing; it carries
    the headers the SDKs send (``applicationcode``, ``installationid``, ``pushregistrationid``) and
    ``User-Agent: mobsim-preflight/<version>``. The reference
    server answers 404 ``NO_REGISTRATION`` with a good code and 401 ``INVALID_APPLICATION_CODE``
    with a bad one. Accepted: a 2xx with a JSON body, or a 404 with the Mobile API's error envelope
    (any ``messageId`` but ``INVALID_APPLICATION_CODE``). Anything else is a ``TargetError``.
    """
    url = target_url.rstrip("/")
    probe = f"{url}/mobile/1/appinstance/{PREFLIGHT_REG_ID}/user"
    headers = {
        "Authorization": f"App {app_code}",
        "Accept": "application/json",
        "User-Agent": PREFLIGHT_USER_AGENT,
        # What the SDKs send on every call about a registration, so that a backend judges the probe
        # as it judges them (a gateway that insists on these headers fails the probe, not the load).
        "applicationcode": app_code_hash(app_code),
        "installationid": PREFLIGHT_INSTALLATION_ID,
        "pushregistrationid": PREFLIGHT_REG_ID,
    }
    try:
        if client is None:
            with httpx.Client(timeout=timeout) as own:
                response = own.get(probe, headers=headers)
        else:
            response = client.get(probe, headers=headers, timeout=timeout)
    except httpx.InvalidURL as exc:
        raise TargetError(f"--target {target_url!r} is not a valid URL: {exc}") from None
    except httpx.HTTPError as exc:
        raise _unreachable(url, exc, timeout) from None
    status = response.status_code
    envelope = _envelope(response)
    message_id, text = envelope if envelope is not None else ("", "")
    if app_code:
        text = text.replace(app_code, mask_code(app_code))
    answer = f"{status} {message_id}".rstrip() + (f" ({text})" if text else "")
    if status in (401, 403) or message_id == "INVALID_APPLICATION_CODE":
        said = f"{status} {message_id}".rstrip()
        raise TargetError(f"{url} rejects the app code {mask_code(app_code)} ({said}): check --app-code")
    if status >= 500:
        raise TargetError(f"{url} fails: it answers the preflight request with a server error, {answer}")
    if 300 <= status < 400:
        where = response.headers.get("location", "")
        raise TargetError(
            f"{url} redirects the preflight request ({status}" + (f" to {where}" if where else "")
            + "): give the Mobile API's own base URL as --target"
        )  # fmt: skip
    if 200 <= status < 300:
        try:
            json.loads(response.content)
        except ValueError:
            raise TargetError(
                f"{url} does not look like the Mobile API: it answers the preflight request with {status} "
                f"and no JSON ({response.headers.get('content-type', 'no content type')})"
            ) from None
        return
    if status == 404 and envelope is not None:
        return
    if envelope is None:
        raise TargetError(
            f"{url} does not look like the Mobile API: it answers GET /mobile/1/appinstance/…/user with {status} "
            "without the Mobile API's error envelope (requestError.serviceException); check the base URL"
        )
    raise TargetError(f"{url} answers the preflight request with {answer}, not 404 NO_REGISTRATION or 2xx")


_SPAN = re.compile(r"^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s?)?$")


def parse_timespan(text: str) -> int:
    """``90``, ``90s``, ``2m``, ``1h30m`` → seconds (Locust's ``--run-time`` syntax)."""
    match = _SPAN.match(text.strip())
    if not text.strip() or match is None or not any(match.groups()):
        raise TargetError(f"--run-time {text!r}: write it as 30s, 2m or 1h30m")
    hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds
