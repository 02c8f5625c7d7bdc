"""Determinism, park/resume, client-side refusals and the exception tree."""

from __future__ import annotations

import httpx
import pytest
import respx
from simhelpers import BASE, CODE, START, sent

import contract
import simulator
from simulator import (
    AppConfig,
    ClientValidationError,
    NoRegistrationError,
    SimulatorError,
    TransportError,
    UsageError,
    VirtualClock,
    VirtualDevice,
)
from simulator.errors import (
    ApiError,
    IdentityInvalidError,
    InvalidParameterError,
    PersonalizeConflictError,
    RegistrationGoneError,
    ServerError,
    api_error,
)
from simulator.state import DeviceState


@pytest.mark.parametrize("platform", ["ios", "android", "huawei"])
def test_same_seed_same_device(platform):
    a = VirtualDevice.create(platform, CODE, seed=42, transport=httpx.Client(), clock=VirtualClock(START))
    b = VirtualDevice.create(platform, CODE, seed=42, transport=httpx.Client(), clock=VirtualClock(START))
    c = VirtualDevice.create(platform, CODE, seed=43, transport=httpx.Client(), clock=VirtualClock(START))
    for device in (a, b, c):
        device.state.token = 1
    assert a.profile == b.profile and a.system_data() == b.system_data()
    assert (a.push_token, a.installation_id) == (b.push_token, b.installation_id)
    assert a._static_headers == b._static_headers
    assert (a.push_token, a.installation_id) != (c.push_token, c.installation_id)


def _scenario(device: VirtualDevice, park_midway: bool, client: httpx.Client, clock: VirtualClock) -> VirtualDevice:
    device.start()
    device.personalize({"externalUserId": "u1"}, {"firstName": "Ana"})
    device.submit_event("a", {"n": 1})
    device.submit_event("b")
    device.background()
    device.advance(40)
    if park_midway:  # a parked device's process is gone: its next foreground is a cold start
        blob = device.park()
        assert len(blob) < 512
        device = VirtualDevice.resume(blob, device.config, transport=client, clock=clock)
    else:
        device._kill_process()
    device.foreground()
    device.save_user(lastName="Horvat")
    device.submit_event("c")
    device.advance(10)
    return device


def _recorded(platform: str, park_midway: bool) -> tuple[list[tuple[str, str, dict[str, str], bytes]], bytes]:
    router = respx.Router(base_url=BASE, assert_all_mocked=True)
    router.post("/mobile/1/appinstance").respond(200, json={"pushRegId": "REG-1"})
    router.post("/mobile/1/appinstance/REG-1/personalize").respond(
        200, json={"externalUserId": "u1", "firstName": "Ana"}
    )
    router.route(host="mobile.infobip.com").respond(200)
    client = httpx.Client(transport=httpx.MockTransport(router.handler))
    clock = VirtualClock(START)
    device = VirtualDevice.create(platform, CODE, seed=5, transport=client, clock=clock)
    device = _scenario(device, park_midway, client, clock)
    calls = [(s.method, s.target, dict(s.headers), s.raw) for s in sent(router)]
    return calls, device.park()


@pytest.mark.parametrize("platform", ["ios", "android"])
def test_park_and_resume_keeps_behaviour(platform):
    straight, final_a = _recorded(platform, park_midway=False)
    parked, final_b = _recorded(platform, park_midway=True)
    assert parked == straight and final_a == final_b
    assert len(straight) > 5


def test_state_round_trip_and_size():
    state = DeviceState(simulator.Platform.ANDROID, 123456789012)
    state.reg_id = "c5d8a1f0-6a0e-4b55-9d4f-0e8f1a3b2c4d"
    state.sessions = [[1714557600123, 1714557640456, 1]]
    state.user = {"externalUserId": "customer-000123", "firstName": "Ana"}
    blob = state.pack()
    assert DeviceState.unpack(blob) == state and len(blob) < 256


def test_client_side_refusals(started):
    device = started("android")
    with pytest.raises(ClientValidationError) as caught:
        device.personalize({"externalUserId": "x" * 257})
    assert caught.value.code == "USER_IDENTITY_INVALID"
    with pytest.raises(ClientValidationError):
        device.save_user(emails=[f"u{i}@example.com" for i in range(101)])
    with pytest.raises(ClientValidationError):
        device.personalize({"emails": []})
    device.submit_event("  ")  # batched: Android drops a blank definitionId silently
    assert device.state.events is None
    with pytest.raises(ClientValidationError) as caught:
        device.submit_event("  ", validate=True)
    assert caught.value.code == "ERROR_SAVING_EMPTY_OBJECT"
    with pytest.raises(ClientValidationError) as caught:
        device.submit_event("", validate=True)
    assert caught.value.code == "REQUEST_FORMAT_INVALID"
    with pytest.raises(UsageError):
        device.save_user(nickname="x")
    with pytest.raises(UsageError):
        device.depersonalize_installation("REG-1")


def test_unregistered_and_uninstalled(make, router):
    device = make("ios")
    with pytest.raises(NoRegistrationError):
        device.personalize({"externalUserId": "u1"})
    with pytest.raises(NoRegistrationError):
        device.submit_event("e")
    device.start()
    device.uninstall()
    with pytest.raises(UsageError):
        device.start()
    assert device.reg_id is None and device.state.keychain_reg_id == "REG-1"


def test_transport_failures_map_to_transport_error(make):
    router = respx.Router(base_url=BASE)
    router.post("/mobile/1/appinstance").mock(side_effect=httpx.ConnectError)
    router.get("/mobile/1/baseurl").mock(side_effect=httpx.ConnectError)
    device = VirtualDevice.create(
        "android", CODE, seed=1, transport=httpx.Client(transport=httpx.MockTransport(router.handler)),
        clock=VirtualClock(START),
    )  # fmt: skip
    device.start()
    assert isinstance(device.last_error, TransportError) and device.reg_id is None
    assert device.state.token_acked == 0


@pytest.mark.parametrize(
    ("code", "status", "cls"),
    [
        ("NO_REGISTRATION", 404, RegistrationGoneError),
        ("no_registration", 404, RegistrationGoneError),
        ("EMAIL_INVALID", 400, IdentityInvalidError),
        ("AMBIGUOUS_PERSONALIZE_CANDIDATES", 409, PersonalizeConflictError),
        ("-2", 500, ServerError),
        ("9", 400, ApiError),
    ],
)
def test_api_errors_by_message_id(code, status, cls):
    wire = contract.endpoint("personalize").build(contract.Dialect.IOS, path_params={"pushRegId": "R"})
    request = simulator.Outgoing("POST", BASE + wire.target, {}, None, wire)
    error = api_error(code, "text", status, request, simulator.Reply(status, {}, b""))
    assert type(error) is cls and isinstance(error, SimulatorError)
    assert error.request is request and error.status == status
    assert isinstance(error, InvalidParameterError) == (cls in (IdentityInvalidError, PersonalizeConflictError))


def test_exported_members_are_sorted_and_complete():
    def isort_style(name: str) -> tuple[int, str]:
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert simulator.__all__ == sorted(simulator.__all__, key=isort_style)
    public = {name for name in dir(simulator) if not name.startswith("_")}
    modules = {"catalog", "clock", "codec", "core", "device", "errors", "events", "outcomes", "retry", "sessions",
               "state", "sync", "systemdata", "tokens", "transport", "userdata", "wire", "platforms", "messaging",
               "inbox", "sdk_features", "jwt"}  # fmt: skip
    assert set(simulator.__all__) == public - (modules - {"wire"})


def test_app_config_hashes_the_code_once():
    config = AppConfig(CODE, base_url="http://testserver/")
    assert config.base_url == "http://testserver" and len(config.app_code_hash) == 10
