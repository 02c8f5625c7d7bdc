"""The server's HTTP/1.1 connection: uvicorn's httptools protocol with the limits a public server needs.

uvicorn alone has no cap on a request's header size, no deadline for a request to arrive (a silent or
slowloris connection stays open for ever), and nothing that keeps idle keep-alive connections from
taking every file descriptor. :func:`protocol_class` gives a subclass of uvicorn's
``HttpToolsProtocol`` that adds, per connection:

- **a header cap** (``max_header_bytes``, the request line and every header counted): over it, the
  answer is ``431 Request Header Fields Too Large`` and the connection closes, before the rest is read;
- **a request deadline** (``request_timeout`` seconds): a request must arrive whole, headers and
  body, within it from its first byte (or from the connection's start, for a connection that sends
  nothing); otherwise the connection is closed. An idle kept-alive connection is closed by uvicorn's
  keep-alive timeout instead;
- **a connection cap** (``max_connections``): a new connection over it first closes the connection
  idle longest (nginx reuses idle keep-alive connections the same way); with none idle, the new one
  is answered ``503`` and closed;
- **an abort** for fault injection: ``scope["extensions"]["mobsim.abort"]`` is a callable that drops
  the TCP connection with a reset and no answer (``server_stub/faults.py``: ``reset``).

Nothing here changes what a well-formed request sees.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from dataclasses import dataclass
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["ConnectionLimits", "protocol_class"]


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int = 32 * 1024
    """The request line and headers together; nginx's default is 4 buffers of 8 KiB."""
    request_timeout: float = 30.0
    """Seconds a request may take to arrive whole (headers and body) once it started."""
    max_connections: int = 4096
    """Open connections at most; ``serve`` also raises the process's descriptor limit to fit."""

    def __post_init__(self) -> None:
        if self.max_header_bytes < 1024:
            raise ValueError(f"the header limit must be at least 1024 bytes, not {self.max_header_bytes}")
        if not self.request_timeout > 0:
            raise ValueError(f"the request timeout must be positive, not {self.request_timeout}")
        if self.max_connections < 1:
            raise ValueError(f"the connection limit must be at least 1, not {self.max_connections}")


def _plain(status: bytes, text: str) -> bytes:
    body = text.encode()
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
    )


class LimitedProtocol(HttpToolsProtocol):
    limits = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_bytes = 0
        self._oversize = False
        self._in_request = False
        self._deadline: Any = None
        self._idle_since = time.monotonic()

    # the connection cap --------------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        if len(self.connections) >= self.limits.max_connections and not self._close_longest_idle():
            self.connections.add(self)  # connection_lost discards it
            self.transport = transport
            transport.write(_plain(b"503 Service Unavailable", "too many connections: try again later"))
            transport.close()
            return
        super().connection_made(transport)
        self._arm_deadline()

    def _close_longest_idle(self) -> bool:
        idle = [c for c in self.connections if isinstance(c, LimitedProtocol) and c._is_idle()]
        if not idle:
            return False
        min(idle, key=lambda c: c._idle_since).transport.close()
        return True

    def _is_idle(self) -> bool:
        return not self._in_request and not self.pipeline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_deadline()
        super().connection_lost(exc)

    # the request deadline ------------------------------------------------------------------
    def _arm_deadline(self) -> None:
        self._disarm_deadline()
        self._deadline = self.loop.call_later(self.limits.request_timeout, self._deadline_passed)

    def _disarm_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _deadline_passed(self) -> None:
        self._deadline = None
        if self.transport is not None and not self.transport.is_closing():
            timeout = self.limits.request_timeout
            self.logger.info("closing a connection whose request did not arrive within %s s", timeout)
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._header_bytes = 0
        self._in_request = True
        self._arm_deadline()
        self.scope["extensions"] = {"mobsim.abort": self.abort}  # type: ignore[dict-item]

    def on_message_complete(self) -> None:
        self._disarm_deadline()
        super().on_message_complete()

    def on_response_complete(self) -> None:
        self._idle_since = time.monotonic()
        self._in_request = False
        super().on_response_complete()

    # the header cap ------------------------------------------------------------------------
    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def _count(self, size: int) -> None:
        self._header_bytes += size
        if self._header_bytes > self.limits.max_header_bytes:
            self._oversize = True
            raise _HeadersTooLarge

    def data_received(self, data: bytes) -> None:
        if self._oversize:
            return
        # uvicorn's own data_received, but for the answer to an oversized header block.
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._oversize:
                self._disarm_deadline()
                limit = self.limits.max_header_bytes
                self.transport.write(
                    _plain(b"431 Request Header Fields Too Large", f"the request's headers exceed {limit} bytes")
                )
                self.transport.close()
                return
            self.logger.warning("Invalid HTTP request received.")
            self.send_400_response("Invalid HTTP request received.")

    # the abort -----------------------------------------------------------------------------
    def abort(self) -> None:
        """Drop the connection with a TCP reset and no answer. The request's cycle is marked
        disconnected at once: over TLS the connection is lost a few loop turns later than over TCP,
        and uvicorn would log "ASGI callable returned without starting response" for each reset."""
        sock = self.transport.get_extra_info("socket") if self.transport is not None else None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        if self.transport is not None:
            self.transport.abort()
        cycle = getattr(self, "cycle", None)
        if cycle is not None and not cycle.response_complete:
            cycle.disconnected = True


class _HeadersTooLarge(Exception):
    pass


def protocol_class(limits: ConnectionLimits) -> type[LimitedProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` with these limits."""
    return type("LimitedProtocol", (LimitedProtocol,), {"limits": limits})


def raise_descriptor_limit(connections: int) -> tuple[int, int]:
    """Raise this process's soft open-file limit toward its hard limit so that ``connections``
    sockets fit beside the store, the logs and the listening socket (a default soft limit of 1,024
    made every request fail once a client held a thousand idle connections). Returns the
    (soft, hard) limits now in force."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = connections + 256
    if hard != resource.RLIM_INFINITY:
        wanted = min(wanted, hard)
    if wanted > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        soft = wanted
    return soft, hard
