"""`New-Base-URL` per SDK line and version (docs/device.md, SDK behaviours): iOS compares and resyncs
once (never a loop), Android takes every value and resets after two failures unless the app gave
its URL (12.5.0), Huawei always honours it, and what survives a process start."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from simhelpers import BASE, CODE, START

from simulator import ApiError, AppConfig, VirtualClock, VirtualDevice

EU = "https://eu.example.com"
OWN = "https://backend.example.com"


class Backend:
    """Answers every Mobile API call with 200, and ``header`` as `New-Base-URL` when set."""

    def __init__(self, header: str | None = None, fail: Callable[[httpx.Request], int | None] | None = None) -> None:
        self.header = header
        self.fail = fail
        self.seen: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.host}{request.url.path}")
        headers = {"New-Base-URL": self.header} if self.header else {}
        status = self.fail(request) if self.fail else None
        if status:
            body = {"requestError": {"serviceException": {"messageId": "ERROR", "text": "no"}}}
            return httpx.Response(status, json=body, headers=headers)
        path = request.url.path
        if path == "/mobile/1/baseurl":  # the base-URL check: no new base
            return httpx.Response(200, json={}, headers=headers)
        if path == "/mobile/1/appinstance":
            return httpx.Response(
                200, json={"pushRegId": "REG-1", "isPrimary": False, "regEnabled": True}, headers=headers
            )
        if path == "/mobile/5/messages":
            return httpx.Response(200, json={"payloads": []}, headers=headers)
        if path.endswith("/user"):
            return httpx.Response(200, json={}, headers=headers)
        if path.endswith("/personalize"):
            return httpx.Response(200, json={"externalUserId": "u"}, headers=headers)
        return httpx.Response(200, headers=headers)

    def count(self, suffix: str) -> int:
        return sum(1 for s in self.seen if s.endswith(suffix))


def device(platform: str, backend: Backend, *, base_url: str = BASE, sdk: str | None = None) -> VirtualDevice:
    client = httpx.Client(transport=httpx.MockTransport(backend))
    found = VirtualDevice.create(platform, AppConfig(CODE, base_url=base_url), seed=3, transport=client,
                                 clock=VirtualClock(START))  # fmt: skip
    if sdk is not None:
        found.update_app(found.profile.app_version, sdk)
    return found


# -- iOS ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("base_url", [BASE, OWN])
def test_ios_given_the_same_header_on_every_answer_resyncs_once_and_advance_returns(base_url: str) -> None:
    backend = Backend(header=EU)
    phone = device("ios", backend, base_url=base_url, sdk="15.5.2")
    phone.start()
    syncs = backend.count("/mobile/5/messages")
    phone.advance(120)  # returned: no loop
    assert phone.base_url == EU
    # a first registration sends the create alone; then baseUrlDidChange's sync, against the new base
    assert backend.count("/mobile/5/messages") == syncs + 1 == 1
    assert "POST eu.example.com/mobile/5/messages" in backend.seen
    phone.foreground()
    phone.background()
    phone.foreground()
    phone.advance(120)
    later = [s for s in backend.seen[2:] if not s.endswith("/mobile/1/baseurl")]  # iOS checks on the default host
    assert later and all(s.split(" ", 1)[1].startswith("eu.") for s in later)


def test_ios_resync_is_the_installation_and_the_messages_only() -> None:
    backend = Backend()
    phone = device("ios", backend, sdk="15.5.2")
    phone.start()
    phone.advance(10)
    phone.background()
    before = len(backend.seen)
    backend.header = EU
    phone.sync()
    phone.advance(10)
    after = [s.split(" ", 1)[1] for s in backend.seen[before:]]
    resync = [s for s in after if s.startswith("eu.")]
    assert resync and set(resync) <= {"eu.example.com/mobile/5/messages", "eu.example.com/mobile/1/appinstance/REG-1"}
    assert not any(s.endswith(("/user", "/seen", "/session")) for s in resync)


def test_ios_a_header_equal_to_the_configured_url_is_stored_and_nothing_is_resent() -> None:
    backend = Backend(header=OWN + "/")
    phone = device("ios", backend, base_url=OWN, sdk="15.5.2")
    phone.start()
    phone.advance(60)
    assert phone.base_url == OWN and backend.count("/mobile/5/messages") == 0


@pytest.mark.parametrize(("sdk", "resyncs"), [("10.5.0", 0), ("10.5.1", 1)])
def test_ios_resyncs_on_a_changed_base_since_10_5_1(sdk: str, resyncs: int) -> None:
    backend = Backend(header=EU)
    phone = device("ios", backend, sdk=sdk)
    phone.start()
    phone.advance(60)
    assert phone.base_url == EU
    assert backend.count("/mobile/5/messages") == resyncs


def test_ios_keeps_a_learnt_base_across_process_starts() -> None:
    backend = Backend(header=EU)
    phone = device("ios", backend, sdk="15.5.2")
    phone.start()
    backend.header = None
    phone._kill_process()
    phone.start()
    assert phone.base_url == EU and backend.seen[-1].split(" ", 1)[1].startswith("eu.")


# -- Android and Huawei -----------------------------------------------------------------------------


@pytest.mark.parametrize(("platform", "sdk", "honoured"), [
    ("android", "15.0.0", False), ("android", "12.5.0", False), ("android", "12.4.0", True),
    ("huawei", "8.11.1", True),  # Huawei's flag is never set
])  # fmt: skip
def test_an_app_given_url_switches_new_base_url_off_on_android_since_12_5_0(
    platform: str, sdk: str, honoured: bool
) -> None:
    backend = Backend(header=EU)
    phone = device(platform, backend, base_url=OWN, sdk=sdk)
    phone.start()
    assert phone.base_url == (EU if honoured else OWN)


@pytest.mark.parametrize("platform", ["android", "huawei"])
def test_android_takes_every_header_and_sends_nothing_because_of_it(platform: str) -> None:
    backend = Backend(header=EU)
    phone = device(platform, backend)
    phone.start()
    sent = len(backend.seen)
    phone.advance(120)
    assert phone.base_url == EU and len(backend.seen) == sent


@pytest.mark.parametrize(("platform", "sdk", "kept"), [
    ("android", "15.0.0", False), ("android", "12.5.0", False), ("android", "12.4.0", True), ("huawei", "8.11.1", True),
])  # fmt: skip
def test_a_learnt_base_after_a_restart(platform: str, sdk: str, kept: bool) -> None:
    backend = Backend(header=EU)
    phone = device(platform, backend, sdk=sdk)
    phone.start()
    assert phone.base_url == EU
    backend.header = None
    phone._kill_process()
    phone.start()
    assert phone.base_url == (EU if kept else BASE)


@pytest.mark.parametrize("platform", ["android", "huawei"])
def test_an_app_given_url_is_applied_again_at_every_start(platform: str) -> None:
    backend = Backend(header=EU)
    phone = device(platform, backend, base_url=OWN, sdk="12.4.0" if platform == "android" else "8.11.1")
    phone.start()
    assert phone.base_url == EU
    backend.header = None
    phone._kill_process()
    phone.start()
    assert phone.base_url == OWN


def _failing(paths: set[str]) -> Callable[[httpx.Request], int | None]:
    return lambda request: 400 if request.url.path.endswith(tuple(paths)) else None


def test_two_failures_in_a_row_reset_and_a_success_between_does_not() -> None:
    backend = Backend(header=EU)
    phone = device("android", backend)
    phone.start()
    assert phone.base_url == EU
    backend.header = None
    backend.fail = _failing({"/personalize"})
    with pytest.raises(ApiError):
        phone.personalize({"externalUserId": "a"})
    backend.fail = None
    phone.fetch_user()  # a success: the count starts again
    backend.fail = _failing({"/personalize"})
    with pytest.raises(ApiError):
        phone.personalize({"externalUserId": "b"})
    assert phone.base_url == EU
    with pytest.raises(ApiError):
        phone.personalize({"externalUserId": "c"})
    assert phone.base_url == BASE


@pytest.mark.parametrize("status", [404, 429])
def test_404_and_429_are_no_failures_for_the_reset(status: int) -> None:
    backend = Backend(header=EU)
    phone = device("android", backend)
    phone.start()
    backend.header = None
    backend.fail = lambda request: status if request.url.path.endswith("/personalize") else None
    for n in range(3):
        with pytest.raises(ApiError):
            phone.personalize({"externalUserId": f"u{n}"})
    assert phone.base_url == EU


def test_the_previous_failure_is_forgotten_with_the_process() -> None:
    backend = Backend(header=EU)
    phone = device("huawei", backend)  # Huawei keeps a learnt base across starts
    phone.start()
    backend.header = None
    left = [2]  # the next two requests fail: the last of this process, the first of the next

    def next_two(request: httpx.Request) -> int | None:
        if left[0]:
            left[0] -= 1
            return 400
        return None

    backend.fail = next_two
    with pytest.raises(ApiError):
        phone.personalize({"externalUserId": "a"})
    phone._kill_process()
    phone.start()
    assert left == [0] and phone.base_url == EU  # two failures, but not in one process


# -- the base-URL check (GET /mobile/1/baseurl) -----------------------------------------------------


class Checked(Backend):
    """A backend whose base-URL check answers ``answer`` (a status, or a JSON body)."""

    def __init__(self, answer: int | dict[str, str]) -> None:
        super().__init__()
        self.answer = answer

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/mobile/1/baseurl":
            self.seen.append(f"GET {request.url.host}/mobile/1/baseurl")
            if isinstance(self.answer, int):
                return httpx.Response(self.answer, json={"requestError": {"serviceException": {"messageId": "E"}}})
            return httpx.Response(200, json=self.answer)
        return super().__call__(request)

    def checks(self) -> int:
        return self.count("/mobile/1/baseurl")


DAY = 24 * 3600


@pytest.mark.parametrize("platform", ["android", "huawei"])
def test_android_checks_on_a_sync_once_a_day(platform: str) -> None:
    backend = Checked({"baseUrl": ""})  # a blank answer counts as a check
    phone = device(platform, backend)
    phone.start()
    assert backend.checks() == 1 and backend.seen[0] == "GET mobile.infobip.com/mobile/1/baseurl"
    phone.clock.set(START + DAY - 1)  # type: ignore[attr-defined]
    phone.sync()
    assert backend.checks() == 1
    phone.clock.set(START + DAY)  # type: ignore[attr-defined]
    phone.sync()
    assert backend.checks() == 2 and phone.base_url == BASE


def test_android_a_failed_check_is_sent_again_with_the_next_sync() -> None:
    backend = Checked(500)
    phone = device("android", backend)
    phone.start()
    phone.clock.set(START + 60)  # type: ignore[attr-defined]
    phone.sync()
    assert backend.checks() == 2
    backend.answer = {"baseUrl": EU}
    phone.clock.set(START + 120)  # type: ignore[attr-defined]
    phone.sync()
    assert backend.checks() == 3 and phone.base_url == EU  # a baseUrl is taken as it is
    phone.clock.set(START + 180)  # type: ignore[attr-defined]
    phone.sync()
    assert backend.checks() == 3


@pytest.mark.parametrize(("platform", "sdk", "checks"), [
    ("android", "15.0.0", 0), ("android", "12.5.0", 0), ("android", "12.4.0", 1), ("huawei", "8.11.1", 1),
    ("ios", "15.5.2", 0),
])  # fmt: skip
def test_an_app_given_url_and_the_check(platform: str, sdk: str, checks: int) -> None:
    backend = Checked({"baseUrl": OWN})
    phone = device(platform, backend, base_url=OWN, sdk=sdk)
    phone.start()
    phone.background()
    phone.foreground()
    assert backend.checks() == checks


@pytest.mark.parametrize(("sdk", "at_start"), [("12.6.1", 1), ("12.6.0", 0)])
def test_ios_checks_at_start_since_12_6_1_and_on_each_foreground(sdk: str, at_start: int) -> None:
    backend = Checked({})  # no baseUrl: not counted, asked again on the next foreground
    phone = device("ios", backend, sdk=sdk)
    phone.start()
    assert backend.checks() == at_start
    phone.background()
    phone.foreground()
    assert backend.checks() == at_start + 1
    backend.answer = {"baseUrl": EU}
    phone.background()
    phone.foreground()
    assert backend.checks() == at_start + 2 and phone.base_url == EU
    phone.background()
    phone.foreground()  # answered with a baseUrl: the next check is a day later
    assert backend.checks() == at_start + 2


def test_ios_always_asks_the_production_host_without_its_registration() -> None:
    requests: list[httpx.Request] = []
    inner = Checked({"baseUrl": EU})

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return inner(request)

    client = httpx.Client(transport=httpx.MockTransport(handler))
    phone = VirtualDevice.create("ios", AppConfig(CODE), seed=3, transport=client, clock=VirtualClock(START))
    phone.start()
    phone.clock.set(START + DAY)  # type: ignore[attr-defined]
    phone.background()
    phone.foreground()
    checks = [r for r in requests if r.url.path == "/mobile/1/baseurl"]
    assert [str(r.url) for r in checks] == ["https://mobile.infobip.com/mobile/1/baseurl"] * 2
    assert all("pushregistrationid" not in r.headers for r in checks) and phone.reg_id
