"""Shared fixtures: a virtual clock, one respx router for the Mobile API, devices wired to it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx
from simhelpers import BASE, CODE, START

from simulator import AppConfig, VirtualClock, VirtualDevice


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(START)


@pytest.fixture
def router() -> Iterator[respx.Router]:
    mock = respx.Router(base_url=BASE, assert_all_mocked=True, assert_all_called=False)
    mock.post("/mobile/1/appinstance").respond(200, json={"pushRegId": "REG-1", "isPrimary": False, "regEnabled": True})
    mock.post("/mobile/5/messages").respond(200, json={"payloads": []})
    mock.get("/mobile/1/baseurl").respond(200, json={"baseUrl": BASE})  # Android's and Huawei's check
    for reg in ("REG-1", "REG-2"):
        mock.post(f"/mobile/1/appinstance/{reg}/user/events/session").respond(200)
        mock.patch(f"/mobile/1/appinstance/{reg}").respond(200)  # iOS; Android PATCH is a POST
    yield mock


@pytest.fixture
def client(router: respx.Router) -> Iterator[httpx.Client]:
    with httpx.Client(transport=httpx.MockTransport(router.handler)) as c:
        yield c


@pytest.fixture
def make(client: httpx.Client, clock: VirtualClock) -> Callable[..., VirtualDevice]:
    def factory(platform: str, seed: int = 1, **config: Any) -> VirtualDevice:
        return VirtualDevice.create(platform, AppConfig(CODE, **config), seed=seed, transport=client, clock=clock)

    return factory


@pytest.fixture
def started(make: Callable[..., VirtualDevice], router: respx.Router) -> Callable[..., VirtualDevice]:
    """A device launched once and registered as REG-1; the router's history is cleared. Android
    and Huawei have also synced once at the start's moment (a first registration sends the create
    alone, so the first session's start and the messages sync go out in the next sync)."""

    def factory(platform: str, seed: int = 1, **config: Any) -> VirtualDevice:
        device = make(platform, seed, **config)
        device.start()
        assert device.reg_id == "REG-1", device.last_error
        if platform != "ios":
            device.sync()
        router.calls.clear()
        return device

    return factory
