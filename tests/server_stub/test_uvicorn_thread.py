"""``UvicornThread``: a uvicorn server in a daemon thread starts (waiting for uvicorn's own start),
reports a start that failed or took too long, and stops (its socket closed)."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
import pytest
import uvicorn

from server_stub import serve
from server_stub.serve import UvicornThread, bind


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


def server() -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))


@pytest.mark.slow
def test_it_starts_serves_and_stops() -> None:
    sock = bind("127.0.0.1", 0)
    serving = UvicornThread(server(), sock)
    assert serving.start(10.0)
    port = sock.getsockname()[1]
    assert httpx.get(f"http://127.0.0.1:{port}/").text == "ok"
    serving.stop()
    assert sock.fileno() == -1
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_a_server_whose_thread_ends_before_it_started_is_a_failed_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """The thread's end alone decides here: the deadline never comes (a frozen clock)."""

    class Failing(uvicorn.Server):
        def run(self, sockets: list[socket.socket] | None = None) -> None:
            return  # uvicorn's run returns without starting when it cannot bind or load the app

    monkeypatch.setattr(serve.time, "monotonic", lambda: 0.0)
    sock = bind("127.0.0.1", 0)
    outcome: list[bool] = []
    try:
        waiter = threading.Thread(
            target=lambda: outcome.append(UvicornThread(Failing(uvicorn.Config(app)), sock).start(1.0))
        )
        waiter.start()
        waiter.join(timeout=5)  # a start that waited for the deadline alone would still be waiting
        assert outcome == [False]
    finally:
        sock.close()


def test_a_server_that_does_not_start_in_time_is_a_failed_start() -> None:
    """The deadline alone decides here: the thread lives on, never started."""
    release = threading.Event()

    class Slow(uvicorn.Server):
        def run(self, sockets: list[socket.socket] | None = None) -> None:
            release.wait(10)

    sock = bind("127.0.0.1", 0)
    serving = UvicornThread(Slow(uvicorn.Config(app)), sock)
    try:
        assert serving.start(0.05) is False
        assert serving._thread.is_alive()  # it gave up on the deadline, not on the thread's end
    finally:
        release.set()
        sock.close()
