"""Fixtures for the reference server: an in-memory app on a fixed clock, devices of both dialects."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from pushkit import API_KEY, PushApi
from stubkit import APP_CODE, OTHER_APP, Clock, Device, Inspector, MakeDevice

from contract import Dialect
from server_stub import create_app
from server_stub.messaging import PushLatency

# starlette asks for httpx2 in its TestClient (at import); the project pins httpx.
warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient` is deprecated")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

DIALECTS = [Dialect.IOS, Dialect.ANDROID]


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def app(clock: Clock) -> FastAPI:
    return create_app(memory=True, app_codes=[APP_CODE, OTHER_APP], clock=clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    # Server errors come back as responses (the 500 envelope), so a test sees their status.
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def inspector(client: TestClient) -> Inspector:
    return Inspector(client)


@pytest.fixture(params=DIALECTS, ids=lambda d: str(d))
def dialect(request: pytest.FixtureRequest) -> Dialect:
    value: Dialect = request.param
    return value


@pytest.fixture
def new_device(client: TestClient) -> MakeDevice:
    """``new_device(dialect=IOS, register=True, app_code=APP_CODE)``: a device, registered by default."""

    def make(dialect: Dialect = Dialect.IOS, *, register: bool = True, app_code: str = APP_CODE) -> Device:
        device = Device(client, dialect, app_code=app_code)
        if register:
            device.register()
        return device

    return make


@pytest.fixture
def device(new_device: MakeDevice, dialect: Dialect) -> Device:
    """A registered device of the parametrised dialect."""
    return new_device(dialect)


@pytest.fixture
def push(app: FastAPI, client: TestClient) -> PushApi:
    """The Push API and the provider of ``app`` with an API key (no provider latency unless a test sets one)."""
    server = app.state.profiles
    server.messaging.add_api_key(API_KEY)
    server.messaging.latency = PushLatency(0, 0)
    return PushApi(client)


@pytest.fixture
def served() -> Iterator[list[Any]]:
    """``mobsim serve`` subprocesses a test starts (``test_persistence.Served``): killed at its end
    if still running."""
    started: list[Any] = []
    yield started
    for server in started:
        if server.process.poll() is None:
            server.process.kill()
            server.process.wait(timeout=20)
