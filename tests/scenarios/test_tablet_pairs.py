"""A multi-device person is a phone and a tablet: the odd device of each pair is the tablet."""

from __future__ import annotations

import httpx

from scenarios import Population
from simulator import AppConfig, VirtualClock

APP = AppConfig("CODE", base_url="http://testserver")


def _unused_transport() -> httpx.Client:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected, got {request.method} {request.url}")

    return httpx.Client(transport=httpx.MockTransport(refuse))


def test_the_odd_device_of_a_multidevice_pair_is_a_tablet() -> None:
    population = Population(200, 7, APP, personas={"multidevice": 1, "browser": 1}, clock=VirtualClock(0))
    for index in range(200):
        expected = population.persona_of(index) == "multidevice" and index % 2 == 1
        assert population.is_tablet(index) is expected
    transport = _unused_transport()
    out = []
    while (got := population.checkout("multidevice", transport)) is not None:
        out.append(got)
    assert out and {device.tablet for _, device in out} == {True, False}
    assert all(device.tablet is (index % 2 == 1) for index, device in out)
    for index, device in out:
        population.park(index, device)
    # Parked and checked out again (resumed from the packed state), a tablet stays a tablet.
    again = []
    while (got := population.checkout("multidevice", transport)) is not None:
        again.append(got)
    assert len(again) == len(out) and all(device.tablet is (index % 2 == 1) for index, device in again)
    index, device = population.checkout("browser", transport) or (0, None)
    assert device is not None and not device.tablet
