"""The shared carriers: a device against the reference server in this process (no socket, no
thread), and a recording transport around any carrier."""

from __future__ import annotations

from typing import Any

import pytest
from simhelpers import START

from server_stub.inprocess import InProcessServer
from simulator import AppConfig, Outgoing, Reply, TransportError, VirtualClock, VirtualDevice
from simulator.transport import InProcessTransport, RecordingTransport

CODE = "TRANSPORT-APP"


@pytest.mark.parametrize("platform", ["ios", "android", "huawei"])
def test_a_device_lives_against_the_in_process_server(platform: str) -> None:
    clock = VirtualClock(START)
    server = InProcessServer(CODE, clock=clock)
    seen: list[tuple[str, int | None]] = []

    def record(request: Outgoing, reply: Reply | None, error: TransportError | None) -> None:
        seen.append((f"{request.method} {request.wire.endpoint.name}", reply.status if reply else None))

    transport = RecordingTransport(InProcessTransport(server), record)
    phone = VirtualDevice.create(platform, AppConfig(CODE, base_url="http://in.process"), seed=3, transport=transport,
                                 clock=clock)  # fmt: skip
    phone.start()
    phone.personalize({"externalUserId": f"t-{platform}"})
    phone.advance(10)
    assert phone.reg_id and phone.last_error is None
    person = server.get("/inspect/persons", identifier=f"t-{platform}", type="EXTERNAL_ID")
    assert person["installations"][0]["pushRegId"] == phone.reg_id
    # an app-given URL: Huawei checks the base URL all the same (its SDK never sets the flag)
    first = [("GET base_url", 200)] if platform == "huawei" else []
    assert seen[: len(first) + 1] == [*first, ("POST create_installation", 200)]
    assert all(status == 200 for _, status in seen)
    assert ("POST personalize", 200) in seen
    server.close()


def test_the_recording_transport_records_a_transport_error_and_raises_it() -> None:
    class Broken:
        def send(self, request: Outgoing) -> Reply:
            raise TransportError("connection refused", request)

    recorded: list[Any] = []
    transport = RecordingTransport(Broken(), lambda *exchange: recorded.append(exchange))
    phone = VirtualDevice.create("ios", AppConfig(CODE), seed=4, transport=transport, clock=VirtualClock(START))
    phone.start()  # the SDK keeps the error of its own work
    assert isinstance(phone.last_error, TransportError)
    names = [request.wire.endpoint.name for request, _, _ in recorded]
    assert names[:2] == ["base_url", "create_installation"]  # the default URL: iOS checks it at start
    _, reply, error = recorded[1]
    assert reply is None and isinstance(error, TransportError) and recorded[-1][2] is phone.last_error


def test_the_in_process_transport_drops_scheme_and_host_and_keeps_the_query() -> None:
    calls: list[tuple[Any, ...]] = []

    class Server:
        def request(self, method: str, path: str, query: str = "", headers: Any = None, body: Any = None) -> Any:
            calls.append((method, path, query, body))
            return 201, {"x": "1"}, b"{}"

    reply = InProcessTransport(Server()).send(
        Outgoing("POST", "http://h:1/mobile/1/appinstance?rt=1", {}, b"{}", None)  # type: ignore[arg-type]
    )
    assert calls == [("POST", "/mobile/1/appinstance", "rt=1", b"{}")]
    assert (reply.status, reply.header("x"), reply.content) == (201, "1", b"{}")
