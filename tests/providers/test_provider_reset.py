"""A ``reset`` fault on the FCM/HMS listener over a real socket: uvicorn on 127.0.0.1 with mobsim's
protocol (server_stub/protocol.py), the providers' app and a fault registry, in a thread of this process."""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn
from providerkit import assertion, fcm_body, token_of

from contract.dialect import Platform
from providers.app import create_providers_app
from providers.journal import Journal
from server_stub.faults import FaultRegistry, parse_faults
from server_stub.protocol import ConnectionLimits, protocol_class
from server_stub.serve import bind, url_of

pytestmark = pytest.mark.slow

RESET_SEND = "/v1/projects/reset-me/messages:send"


@pytest.fixture
def served() -> Iterator[tuple[str, Journal, FaultRegistry]]:
    journal = Journal()
    registry = FaultRegistry(parse_faults([f"reset,endpoint={RESET_SEND}"]))
    app = create_providers_app(journal, faults=registry)
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(app, log_level="warning", lifespan="off", http=protocol_class(ConnectionLimits()))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield url_of(sock), journal, registry
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_reset_fault_drops_an_fcm_send_and_the_next_connection_is_served(
    served: tuple[str, Journal, FaultRegistry],
) -> None:
    url, journal, registry = served
    logged: list[str] = []
    errors = logging.Handler(logging.ERROR)
    errors.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    logging.getLogger("uvicorn.error").addHandler(errors)
    grant = {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion(time.time())}
    body = json.dumps(fcm_body(token_of(Platform.ANDROID, 2)))
    try:
        with httpx.Client(base_url=url, timeout=5) as client:
            access = client.post("/token", data=grant).json()["access_token"]
            auth = {"Authorization": f"Bearer {access}", "Content-Type": "application/json"}
            with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):  # no HTTP answer at all
                client.post(RESET_SEND, content=body, headers=auth)
            sent = client.post("/v1/projects/p/messages:send", content=body, headers=auth)  # a new connection
            assert sent.status_code == 200, sent.text
    finally:
        logging.getLogger("uvicorn.error").removeHandler(errors)
    assert [(a.provider, a.token) for a in journal.accepted] == [("fcm", token_of(Platform.ANDROID, 2))]
    assert journal.rejected == []
    assert [(e.matched, e.injected) for e in registry.entries()] == [(1, 1)]
    assert logged == []  # uvicorn saw the connection go: no 500 of its own, no error
