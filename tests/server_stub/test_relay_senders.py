"""The relay's provider clients (server_stub/relay/senders.py): the request each builds, and how each
provider's answer is classified (sent / retry / gone / rejected), with the token rules: an OAuth access
token reused until 300 s before it expires, one exchange for concurrent sends, a 401 dropping only the
token it was sent with; an APNs provider token reused until 40 min. FCM and HMS run against the
loopback providers' app in process (an accepted send is in its journal: the request shape is what the
provider accepts); the answers it cannot easily give, and APNs, against respx mocks. No socket."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import jwt
import pytest
import respx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from contract.dialect import Platform
from contract.messages import Message, push_payload
from providers.app import create_providers_app
from providers.journal import Journal
from providers.service_account import ServiceAccount, new_service_account
from providers.tls import ensure_certificates
from server_stub.relay import ApnsTarget, FcmTarget, HmsTarget, Outcome
from server_stub.relay.senders import APNS_TOKEN_REFRESH, ApnsSender, FcmSender, HmsSender
from simulator.tokens import push_token

T = TypeVar("T")
T0 = 1_800_000_000.0  # a whole minute: FCM's quota window ends at T0 + 60
HOST = "http://127.0.0.1"
PROJECT = "mobsim-demo"
HMS_APP, HMS_SECRET = "101234567", "hms-secret"
FCM_URL = f"{HOST}/v1/projects/{PROJECT}/messages:send"
HMS_URL = f"{HOST}/v1/{HMS_APP}/messages:send"
HMS_TOKEN_URL = f"{HOST}/oauth2/v3/token"
APNS = "https://apns.test"
TEAM, KID, TOPIC = "MOBSIMTEAM", "MOBSIMKEY1", "com.example.app"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def run(coro: Callable[[], Awaitable[T]]) -> T:
    async def main() -> T:
        return await coro()

    return asyncio.run(main())


def token_of(platform: Platform, route: int) -> str:
    return push_token(platform, 7, route, 0, route=route)


def delivery(platform: Platform, token: str, mid: str = "m-1", **message: Any) -> dict[str, Any]:
    """One entry of the relay's queue, as claim_deliveries makes it."""
    found = Message(mid, message.pop("text", "Hello"), title="Hi", bulk_id="bulk-1", **message)
    return {"messageId": mid, "platform": platform.value, "pushToken": token, "route": 1,
            "payload": push_payload(found, platform)}  # fmt: skip


@pytest.fixture(scope="module")
def account() -> ServiceAccount:
    return new_service_account(f"{HOST}/token", PROJECT)


class Watch(httpx.AsyncBaseTransport):
    """Passes requests to ``inner`` and keeps them; a token request first yields to the loop a few
    times (as a real exchange does), so concurrent sends would each start one without the lock."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path.endswith("token"):
            for _ in range(5):
                await asyncio.sleep(0)
        return await self.inner.handle_async_request(request)

    def paths(self) -> list[str]:
        return [r.url.path for r in self.requests]

    def exchanges(self) -> int:
        return sum(p.endswith("token") for p in self.paths())


class Providers:
    """The loopback providers' FCM and HMS in process, on their own clock (the sender has another)."""

    def __init__(self, account: ServiceAccount, **options: Any) -> None:
        self.clock = Clock()
        self.journal = Journal(clock=self.clock)
        options.setdefault("fcm_keys", {account.key_id: account.public_pem})  # assertions' signatures checked
        self.app = create_providers_app(self.journal, hms_clients={HMS_APP: HMS_SECRET}, **options)
        self.watch = Watch(httpx.ASGITransport(app=self.app))
        self.http = httpx.AsyncClient(transport=self.watch)


def fcm_target(account: ServiceAccount) -> FcmTarget:
    return FcmTarget(HOST, PROJECT, account.info)


def hms_target(secret: str = HMS_SECRET) -> HmsTarget:
    return HmsTarget(HOST, HMS_TOKEN_URL, HMS_APP, secret)


def mocked(router: respx.Router) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(router.async_handler))


@pytest.fixture
def router() -> Iterator[respx.Router]:
    yield respx.Router(assert_all_mocked=True, assert_all_called=False)


def fcm_error(status: int, name: str, code: str | None = None, field: str | None = None) -> dict[str, Any]:
    details: list[dict[str, Any]] = []
    if code is not None:
        details.append({"@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError", "errorCode": code})
    if field is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.BadRequest",
                        "fieldViolations": [{"field": field, "description": "bad"}]})  # fmt: skip
    return {"error": {"code": status, "message": "m", "status": name, "details": details}}


# ---------------------------------------------------------------------------------------------
# FCM HTTP v1 against the loopback FCM


def test_fcm_an_accepted_send_is_journaled_with_the_payload_the_device_gets(account: ServiceAccount) -> None:
    providers = Providers(account)
    token = token_of(Platform.ANDROID, 3)
    sent = delivery(Platform.ANDROID, token)
    sender = FcmSender(providers.http, fcm_target(account), Clock())
    assert run(lambda: sender.send(sent)) == Outcome("sent", "m-1")
    (accepted,) = providers.journal.accepted
    assert (accepted.provider, accepted.token, accepted.payload, accepted.campaign) == (
        "fcm", token, sent["payload"], "bulk-1")  # fmt: skip
    assert providers.watch.paths() == ["/token", f"/v1/projects/{PROJECT}/messages:send"]
    exchange, send = providers.watch.requests
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in exchange.content
    assert send.headers["authorization"].startswith("Bearer ya29.mobsim-")
    assert json.loads(send.content) == {"message": {"token": token, "data": sent["payload"]}}


def test_fcm_reuses_the_access_token_until_300_s_before_it_expires(account: ServiceAccount) -> None:
    providers = Providers(account)
    clock = providers.clock  # one clock: the token lives 3599 s on both sides
    sender = FcmSender(providers.http, fcm_target(account), clock)
    token = token_of(Platform.ANDROID, 3)

    async def scenario() -> list[tuple[float, Outcome, int]]:
        seen = []
        for offset in (0, 3298.999, 3299, 3299 + 3298.999, 3299 + 3299):
            clock.now = T0 + offset
            seen.append((offset, await sender.send(delivery(Platform.ANDROID, token)),
                         providers.watch.exchanges()))  # fmt: skip
        return seen

    assert [(at, outcome.kind, exchanges) for at, outcome, exchanges in run(scenario)] == [
        (0, "sent", 1), (3298.999, "sent", 1), (3299, "sent", 2), (6597.999, "sent", 2), (6598, "sent", 3)
    ]  # fmt: skip
    assert len(providers.journal.accepted) == 5


def test_fcm_concurrent_sends_share_one_token_exchange(account: ServiceAccount) -> None:
    providers = Providers(account)
    sender = FcmSender(providers.http, fcm_target(account), Clock())
    token = token_of(Platform.ANDROID, 3)

    async def scenario() -> list[Outcome]:
        return await asyncio.gather(*(sender.send(delivery(Platform.ANDROID, token, f"m-{i}")) for i in range(20)))

    assert [o.kind for o in run(scenario)] == ["sent"] * 20
    assert providers.watch.exchanges() == 1
    assert len(providers.journal.accepted) == 20


def test_fcm_a_401_drops_the_token_and_the_next_send_exchanges_again(account: ServiceAccount) -> None:
    providers = Providers(account)
    clock = Clock()
    sender = FcmSender(providers.http, fcm_target(account), clock)
    token = token_of(Platform.ANDROID, 3)

    async def scenario() -> list[Outcome]:
        first = await sender.send(delivery(Platform.ANDROID, token, "m-1"))
        providers.clock.now = T0 + 3599  # the provider's token expired (at its exact second)...
        clock.now = T0 + 3000  # ...while the sender's clock says it still has 299 s left
        refused = await sender.send(delivery(Platform.ANDROID, token, "m-2"))
        again = await sender.send(delivery(Platform.ANDROID, token, "m-3"))
        return [first, refused, again]

    assert run(scenario) == [Outcome("sent", "m-1"), Outcome("retry", "m-2", "UNAUTHENTICATED"), Outcome("sent", "m-3")]
    assert providers.watch.exchanges() == 2
    assert [r.reason for r in providers.journal.rejected] == ["UNAUTHENTICATED"]


def test_fcm_a_401_for_an_older_token_keeps_the_current_one(router: respx.Router) -> None:
    """A send that went out with token t1 answers 401 after t1 was already replaced by t2: t2 stays."""
    exchange = router.post("https://oauth.test/token").mock(side_effect=[
        httpx.Response(200, json={"access_token": name, "expires_in": 3600}) for name in ("t1", "t2", "t3")
    ])  # fmt: skip
    gate, arrived = asyncio.Event(), asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.headers["authorization"] == "Bearer t1":
            if json.loads(request.content)["message"]["data"].get("hold"):
                arrived.set()
                await gate.wait()
            return httpx.Response(401, json={"error": {"code": 401, "status": "UNAUTHENTICATED"}})
        return httpx.Response(200, json={"name": "projects/p/messages/1"})

    router.post("https://fcm.test/v1/projects/p/messages:send").mock(side_effect=answer)
    account = {"client_email": "a@p.iam.gserviceaccount.com", "private_key": _rsa_pem(), "private_key_id": "k1",
               "token_uri": "https://oauth.test/token"}  # fmt: skip
    sender = FcmSender(mocked(router), FcmTarget("https://fcm.test", "p", account), Clock())

    def send(mid: str, **data: str) -> Awaitable[Outcome]:
        return sender.send({"messageId": mid, "pushToken": "tok", "payload": data})

    async def scenario() -> list[Outcome]:
        held = asyncio.create_task(send("a", hold="1"))  # goes out with t1, answered late
        await arrived.wait()
        refused = await send("b")  # t1 too: 401, t1 dropped
        fresh = await send("c")  # exchanges t2
        gate.set()
        late = await held  # the 401 for t1 arrives: t2 is not dropped
        reused = await send("d")
        return [refused, fresh, late, reused]

    assert [(o.message_id, o.kind) for o in run(scenario)] == [("b", "retry"), ("c", "sent"), ("a", "retry"),
                                                              ("d", "sent")]  # fmt: skip
    assert exchange.call_count == 2


_RSA: list[str] = []


def _rsa_pem() -> str:
    if not _RSA:
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
        _RSA.append(pem.decode())
    return _RSA[0]


def test_fcm_a_token_the_provider_knows_is_gone_and_an_unknown_one_are_gone(account: ServiceAccount) -> None:
    providers = Providers(account)
    uninstalled = token_of(Platform.ANDROID, 4)
    providers.journal.uninstall("fcm", uninstalled)
    unknown = token_of(Platform.ANDROID, 0)  # no route: no device holds it
    sender = FcmSender(providers.http, fcm_target(account), Clock())

    async def scenario() -> list[Outcome]:
        return [await sender.send(delivery(Platform.ANDROID, t, t[:4])) for t in (uninstalled, unknown)]

    assert run(scenario) == [Outcome("gone", uninstalled[:4], "UNREGISTERED"), Outcome("gone", unknown[:4],
                                                                                       "UNREGISTERED")]  # fmt: skip
    assert providers.journal.accepted == []


def test_fcm_an_invalid_token_is_gone_and_other_invalid_arguments_are_rejected(account: ServiceAccount) -> None:
    providers = Providers(account)
    sender = FcmSender(providers.http, fcm_target(account), Clock())
    good = token_of(Platform.ANDROID, 5)
    cases = {
        "bad-token": {"messageId": "bad-token", "pushToken": "not a token", "payload": {"k": "v"}},
        "not-a-string": {"messageId": "not-a-string", "pushToken": good, "payload": {"k": 1}},
        "too-big": {"messageId": "too-big", "pushToken": good, "payload": {"k": "x" * 5000}},
    }

    async def scenario() -> list[Outcome]:
        return [await sender.send(d) for d in cases.values()]

    assert run(scenario) == [
        Outcome("gone", "bad-token", "INVALID_ARGUMENT"),  # the field message.token
        Outcome("rejected", "not-a-string", "INVALID_ARGUMENT"),  # message.data[0].value
        Outcome("rejected", "too-big", "INVALID_ARGUMENT"),  # message
    ]
    assert [r.status for r in providers.journal.rejected] == [400, 400, 400]


def test_fcm_over_the_quota_is_retried_after_the_retry_after_seconds(account: ServiceAccount) -> None:
    providers = Providers(account, fcm_quota=1)
    sender = FcmSender(providers.http, fcm_target(account), Clock())
    token = token_of(Platform.ANDROID, 3)

    async def scenario() -> list[Outcome]:
        return [await sender.send(delivery(Platform.ANDROID, token, mid)) for mid in ("m-1", "m-2")]

    assert run(scenario) == [Outcome("sent", "m-1"), Outcome("retry", "m-2", "QUOTA_EXCEEDED", 60.0)]


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (503, fcm_error(503, "UNAVAILABLE", "UNAVAILABLE"), {"Retry-After": "7"}, ("retry", "UNAVAILABLE", 7.0)),
        (500, fcm_error(500, "INTERNAL", "INTERNAL"), {}, ("retry", "INTERNAL", 0.0)),
        (500, "oops", {}, ("retry", "500", 0.0)),  # not JSON
        (502, [], {}, ("retry", "502", 0.0)),  # JSON, not an object
        (
            429,
            fcm_error(429, "RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED"),
            {"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"},
            ("retry", "QUOTA_EXCEEDED", 0.0),
        ),  # a date is not read: the back-off decides
        (404, fcm_error(404, "NOT_FOUND", "UNREGISTERED"), {}, ("gone", "UNREGISTERED", 0.0)),
        (400, fcm_error(400, "INVALID_ARGUMENT", "UNREGISTERED"), {}, ("gone", "UNREGISTERED", 0.0)),
        (
            400,
            fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "message.token"),
            {},
            ("gone", "INVALID_ARGUMENT", 0.0),
        ),
        (
            400,
            fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT", "message.data"),
            {},
            ("rejected", "INVALID_ARGUMENT", 0.0),
        ),
        (403, fcm_error(403, "PERMISSION_DENIED", "SENDER_ID_MISMATCH"), {}, ("rejected", "SENDER_ID_MISMATCH", 0.0)),
        (404, fcm_error(404, "NOT_FOUND"), {}, ("rejected", "NOT_FOUND", 0.0)),  # no errorCode: the status
        (413, "too large", {}, ("rejected", "413", 0.0)),
    ],
    ids=lambda v: str(v)[:40] if not isinstance(v, dict) else "",
)
def test_fcm_answers_are_classified(
    router: respx.Router, status: int, body: Any, headers: dict[str, str], expected: tuple[str, str, float]
) -> None:
    router.post("https://oauth.test/token").respond(200, json={"access_token": "t1", "expires_in": 3600})
    content = body if isinstance(body, str) else json.dumps(body)
    router.post("https://fcm.test/v1/projects/p/messages:send").respond(status, content=content, headers=headers)
    account = {"client_email": "a@p.iam.gserviceaccount.com", "private_key": _rsa_pem(), "private_key_id": "k1",
               "token_uri": "https://oauth.test/token"}  # fmt: skip
    sender = FcmSender(mocked(router), FcmTarget("https://fcm.test", "p", account), Clock())
    outcome = run(lambda: sender.send({"messageId": "m", "pushToken": "tok", "payload": {}}))
    assert (outcome.kind, outcome.reason, outcome.after) == expected
    assert outcome.message_id == "m"


@pytest.mark.parametrize("where", ["token", "send"])
@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_fcm_a_request_without_an_answer_is_retried(router: respx.Router, where: str, error: type[Exception]) -> None:
    token = router.post("https://oauth.test/token")
    send = router.post("https://fcm.test/v1/projects/p/messages:send").respond(200, json={"name": "n"})
    token.respond(200, json={"access_token": "t1", "expires_in": 3600})
    (token if where == "token" else send).mock(side_effect=error)
    account = {"client_email": "a@p.iam.gserviceaccount.com", "private_key": _rsa_pem(), "private_key_id": "k1",
               "token_uri": "https://oauth.test/token"}  # fmt: skip
    sender = FcmSender(mocked(router), FcmTarget("https://fcm.test", "p", account), Clock())
    outcome = run(lambda: sender.send({"messageId": "m", "pushToken": "tok", "payload": {}}))
    assert outcome == Outcome("retry", "m", error.__name__)


def test_fcm_a_refused_token_exchange_is_retried_and_the_next_send_exchanges_again(account: ServiceAccount) -> None:
    other = new_service_account(f"{HOST}/token", PROJECT)  # its key id is not registered: invalid_grant
    providers = Providers(account)
    refused = FcmSender(providers.http, fcm_target(other), Clock())
    token = token_of(Platform.ANDROID, 3)
    assert run(lambda: refused.send(delivery(Platform.ANDROID, token))) == Outcome("retry", "m-1", "TokenError")
    assert run(lambda: refused.send(delivery(Platform.ANDROID, token))) == Outcome("retry", "m-1", "TokenError")
    assert providers.watch.exchanges() == 2 and providers.journal.accepted == []
    providers.app.state.fcm.keys[other.key_id] = other.public_pem  # the provider knows the key now
    assert run(lambda: refused.send(delivery(Platform.ANDROID, token))) == Outcome("sent", "m-1")


@pytest.mark.parametrize(
    ("status", "body"),
    [(200, {"token_type": "Bearer"}), (200, {"access_token": 7}), (200, "nope"), (500, {"access_token": "t"})],
    ids=["no-token", "not-a-string", "not-json", "500"],
)
def test_fcm_an_unreadable_token_answer_is_retried(router: respx.Router, status: int, body: Any) -> None:
    content = body if isinstance(body, str) else json.dumps(body)
    router.post("https://oauth.test/token").respond(status, content=content)
    send = router.post("https://fcm.test/v1/projects/p/messages:send").respond(200, json={"name": "n"})
    account = {"client_email": "a@p.iam.gserviceaccount.com", "private_key": _rsa_pem(), "private_key_id": "k1",
               "token_uri": "https://oauth.test/token"}  # fmt: skip
    sender = FcmSender(mocked(router), FcmTarget("https://fcm.test", "p", account), Clock())
    outcome = run(lambda: sender.send({"messageId": "m", "pushToken": "tok", "payload": {}}))
    assert outcome == Outcome("retry", "m", "TokenError")
    assert send.call_count == 0


def test_a_token_answer_without_expires_in_lasts_an_hour(router: respx.Router) -> None:
    exchange = router.post("https://oauth.test/token").respond(200, json={"access_token": "t"})
    router.post("https://fcm.test/v1/projects/p/messages:send").respond(200, json={"name": "n"})
    account = {"client_email": "a@p.iam.gserviceaccount.com", "private_key": _rsa_pem(), "private_key_id": "k1",
               "token_uri": "https://oauth.test/token"}  # fmt: skip
    clock = Clock()
    sender = FcmSender(mocked(router), FcmTarget("https://fcm.test", "p", account), clock)
    counts = []
    for moment in (T0, T0 + 3299.999, T0 + 3300):
        clock.now = moment
        run(lambda: sender.send({"messageId": "m", "pushToken": "tok", "payload": {}}))
        counts.append(exchange.call_count)
    assert counts == [1, 1, 2]


def test_fcm_the_assertion_is_a_signed_service_account_jwt(router: respx.Router, account: ServiceAccount) -> None:
    exchange = router.post(f"{HOST}/token").respond(200, json={"access_token": "t", "expires_in": 3600})
    router.post(FCM_URL).respond(200, json={"name": "n"})
    sender = FcmSender(mocked(router), fcm_target(account), Clock(T0 + 0.7))
    run(lambda: sender.send({"messageId": "m", "pushToken": "tok", "payload": {}}))
    form = dict(httpx.QueryParams(exchange.calls.last.request.content.decode()))
    assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
    assert jwt.get_unverified_header(form["assertion"])["kid"] == account.key_id
    claims = jwt.decode(form["assertion"], account.public_pem, algorithms=["RS256"], audience=f"{HOST}/token",
                        options={"verify_exp": False, "verify_iat": False})  # fmt: skip
    assert claims == {"iss": account.info["client_email"], "scope": "https://www.googleapis.com/auth/firebase.messaging",
                      "aud": f"{HOST}/token", "iat": int(T0), "exp": int(T0) + 3600}  # fmt: skip


# ---------------------------------------------------------------------------------------------
# HMS Push Kit against the loopback HMS


def test_hms_an_accepted_send_is_journaled_with_the_payload_the_device_gets(account: ServiceAccount) -> None:
    providers = Providers(account)
    token = token_of(Platform.HUAWEI, 3)
    sent = delivery(Platform.HUAWEI, token)
    sender = HmsSender(providers.http, hms_target(), Clock())
    assert run(lambda: sender.send(sent)) == Outcome("sent", "m-1")
    (accepted,) = providers.journal.accepted
    assert (accepted.provider, accepted.token, accepted.payload, accepted.campaign) == (
        "hms", token, {"data": sent["payload"]}, "bulk-1")  # fmt: skip
    assert providers.watch.paths() == ["/oauth2/v3/token", f"/v1/{HMS_APP}/messages:send"]
    exchange, send = providers.watch.requests
    assert dict(httpx.QueryParams(exchange.content.decode())) == {
        "grant_type": "client_credentials", "client_id": HMS_APP, "client_secret": HMS_SECRET}  # fmt: skip
    assert json.loads(send.content) == {"message": {"token": [token], "data": sent["payload"]}}


def test_hms_reuses_the_access_token_until_300_s_before_it_expires(account: ServiceAccount) -> None:
    providers = Providers(account)
    clock = providers.clock  # the provider's token lives 3600 s
    sender = HmsSender(providers.http, hms_target(), clock)
    token = token_of(Platform.HUAWEI, 3)
    counts = []
    for moment in (T0, T0 + 3299.999, T0 + 3300):
        clock.now = moment
        assert run(lambda: sender.send(delivery(Platform.HUAWEI, token))).kind == "sent"
        counts.append(providers.watch.exchanges())
    assert counts == [1, 1, 2]


def test_hms_concurrent_sends_share_one_token_exchange(account: ServiceAccount) -> None:
    providers = Providers(account)
    sender = HmsSender(providers.http, hms_target(), Clock())
    token = token_of(Platform.HUAWEI, 3)

    async def scenario() -> list[Outcome]:
        return await asyncio.gather(*(sender.send(delivery(Platform.HUAWEI, token, f"m-{i}")) for i in range(10)))

    assert [o.kind for o in run(scenario)] == ["sent"] * 10
    assert providers.watch.exchanges() == 1


def test_hms_an_expired_token_is_dropped_and_the_next_send_exchanges_again(account: ServiceAccount) -> None:
    providers = Providers(account)
    clock = Clock()
    sender = HmsSender(providers.http, hms_target(), clock)
    token = token_of(Platform.HUAWEI, 3)

    async def scenario() -> list[Outcome]:
        first = await sender.send(delivery(Platform.HUAWEI, token, "m-1"))
        providers.clock.now = T0 + 3600  # expired for the provider; the sender still trusts it
        clock.now = T0 + 3000
        return [first, *[await sender.send(delivery(Platform.HUAWEI, token, mid)) for mid in ("m-2", "m-3")]]

    assert run(scenario) == [Outcome("sent", "m-1"), Outcome("retry", "m-2", "80200003"), Outcome("sent", "m-3")]
    assert providers.watch.exchanges() == 2


def test_hms_an_invalid_token_is_gone_and_a_too_big_message_rejected(account: ServiceAccount) -> None:
    providers = Providers(account)
    uninstalled = token_of(Platform.HUAWEI, 4)
    providers.journal.uninstall("hms", uninstalled)
    sender = HmsSender(providers.http, hms_target(), Clock())
    cases = [
        delivery(Platform.HUAWEI, uninstalled, "uninstalled"),
        {"messageId": "unknown", "pushToken": "IQAAAACy0-not-a-device", "payload": "{}"},
        {"messageId": "too-big", "pushToken": token_of(Platform.HUAWEI, 5), "payload": "x" * 5000},
    ]

    async def scenario() -> list[Outcome]:
        return [await sender.send(d) for d in cases]

    assert run(scenario) == [Outcome("gone", "uninstalled", "80300007"), Outcome("gone", "unknown", "80300007"),
                             Outcome("rejected", "too-big", "80300008")]  # fmt: skip
    assert providers.journal.accepted == []


def test_hms_a_refused_token_exchange_is_retried(account: ServiceAccount) -> None:
    providers = Providers(account)
    sender = HmsSender(providers.http, hms_target("wrong-secret"), Clock())
    token = token_of(Platform.HUAWEI, 3)
    assert run(lambda: sender.send(delivery(Platform.HUAWEI, token))) == Outcome("retry", "m-1", "TokenError")
    assert providers.watch.paths() == ["/oauth2/v3/token"]


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (200, {"code": "80000000", "msg": "Success"}, {}, ("sent", "", 0.0)),
        (200, {"code": "80100000", "msg": "partial"}, {}, ("sent", "", 0.0)),
        (200, {"code": "80300007", "msg": "Invalid token"}, {}, ("gone", "80300007", 0.0)),
        (200, {"code": "80100001", "msg": "Parameter check error"}, {}, ("rejected", "80100001", 0.0)),
        (200, {"code": "80100003", "msg": "structure"}, {}, ("rejected", "80100003", 0.0)),
        (401, {"code": "80200001", "msg": "Oauth authentication error"}, {}, ("retry", "80200001", 0.0)),
        (401, {"code": "80200003", "msg": "Oauth token expired"}, {}, ("retry", "80200003", 0.0)),
        (429, "slow down", {"Retry-After": "3"}, ("retry", "429", 3.0)),
        (503, {"code": "81000001", "msg": "busy"}, {"Retry-After": "12"}, ("retry", "81000001", 12.0)),
        (500, "", {}, ("retry", "500", 0.0)),
        (403, {"code": "80300002", "msg": "no permission"}, {}, ("rejected", "80300002", 0.0)),
        (400, {"code": "80000000", "msg": "?"}, {}, ("rejected", "80000000", 0.0)),  # success code, not 200
    ],
    ids=lambda v: str(v)[:30] if not isinstance(v, dict) else "",
)
def test_hms_answers_are_classified(
    router: respx.Router, status: int, body: Any, headers: dict[str, str], expected: tuple[str, str, float]
) -> None:
    router.post(HMS_TOKEN_URL).respond(200, json={"access_token": "t1", "expires_in": 3600})
    content = body if isinstance(body, str) else json.dumps(body)
    router.post(HMS_URL).respond(status, content=content, headers=headers)
    sender = HmsSender(mocked(router), hms_target(), Clock())
    outcome = run(lambda: sender.send({"messageId": "m", "pushToken": "tok", "payload": "{}"}))
    assert (outcome.message_id, outcome.kind, outcome.reason, outcome.after) == ("m", *expected)


@pytest.mark.parametrize("code", ["80200001", "80200003"])
def test_hms_an_oauth_code_drops_the_token_it_was_sent_with(router: respx.Router, code: str) -> None:
    exchange = router.post(HMS_TOKEN_URL).mock(side_effect=[
        httpx.Response(200, json={"access_token": name, "expires_in": 3600}) for name in ("t1", "t2", "t3")
    ])  # fmt: skip
    router.post(HMS_URL).mock(side_effect=lambda request: httpx.Response(
        401 if request.headers["authorization"] == "Bearer t1" else 200,
        json={"code": code if request.headers["authorization"] == "Bearer t1" else "80000000"},
    ))  # fmt: skip
    sender = HmsSender(mocked(router), hms_target(), Clock())

    async def scenario() -> list[str]:
        return [(await sender.send({"messageId": m, "pushToken": "tok", "payload": "{}"})).kind for m in "abc"]

    assert run(scenario) == ["retry", "sent", "sent"]
    assert exchange.call_count == 2


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout])
def test_hms_a_request_without_an_answer_is_retried(router: respx.Router, error: type[Exception]) -> None:
    router.post(HMS_TOKEN_URL).respond(200, json={"access_token": "t1", "expires_in": 3600})
    router.post(HMS_URL).mock(side_effect=error)
    sender = HmsSender(mocked(router), hms_target(), Clock())
    outcome = run(lambda: sender.send({"messageId": "m", "pushToken": "tok", "payload": "{}"}))
    assert outcome == Outcome("retry", "m", error.__name__)


# ---------------------------------------------------------------------------------------------
# APNs (respx)


@pytest.fixture(scope="module")
def signing_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def apns_target(key: ec.EllipticCurvePrivateKey, ca_file: Path = Path("ca.pem")) -> ApnsTarget:
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())  # fmt: skip
    return ApnsTarget(APNS, ca_file, pem, KID, TEAM, TOPIC)


def apns_claims(value: str, key: ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    """The provider token's claims, its ES256 signature verified with the public key (iat is in 2027)."""
    claims: dict[str, Any] = jwt.decode(value, key.public_key(), algorithms=["ES256"], options={"verify_iat": False})
    return claims


def apns_route(router: respx.Router, status: int = 200, body: Any = None, **headers: str) -> respx.Route:
    content = "" if body is None else body if isinstance(body, str) else json.dumps(body)
    return router.post(url__startswith=f"{APNS}/3/device/").respond(status, content=content, headers=headers)


def test_apns_an_alert_goes_with_its_topic_push_type_priority_and_a_verifiable_provider_token(
    router: respx.Router, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    route = apns_route(router, 200, **{"apns-id": "A-1"})
    token = token_of(Platform.IOS, 3)
    sent = delivery(Platform.IOS, token)
    sender = ApnsSender(mocked(router), apns_target(signing_key), Clock(T0 + 0.9))
    assert run(lambda: sender.send(sent)) == Outcome("sent", "m-1")
    request = route.calls.last.request
    assert request.url == f"{APNS}/3/device/{token}"
    assert json.loads(request.content) == sent["payload"]
    assert b" " not in request.content  # compact JSON, as the payload size counts
    assert (request.headers["apns-topic"], request.headers["apns-push-type"], request.headers["apns-priority"]) == (
        TOPIC, "alert", "10")  # fmt: skip
    scheme, _, value = request.headers["authorization"].partition(" ")
    assert scheme == "bearer"
    assert jwt.get_unverified_header(value) == {"alg": "ES256", "kid": KID, "typ": "JWT"}
    assert apns_claims(value, signing_key) == {"iss": TEAM, "iat": int(T0)}


def test_apns_a_silent_message_goes_as_background_with_priority_5(
    router: respx.Router, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    route = apns_route(router)
    sent = delivery(Platform.IOS, token_of(Platform.IOS, 3), silent=True)
    assert "alert" not in sent["payload"]["aps"]
    sender = ApnsSender(mocked(router), apns_target(signing_key), Clock())
    assert run(lambda: sender.send(sent)).kind == "sent"
    request = route.calls.last.request
    assert (request.headers["apns-push-type"], request.headers["apns-priority"]) == ("background", "5")


def test_apns_reuses_the_provider_token_until_40_minutes_and_renews_it_then(
    router: respx.Router, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    route = apns_route(router)
    clock = Clock()
    sender = ApnsSender(mocked(router), apns_target(signing_key), clock)
    assert APNS_TOKEN_REFRESH == 2400
    sent = delivery(Platform.IOS, token_of(Platform.IOS, 3))
    tokens = []
    for moment in (T0, T0 + 2399.999, T0 + 2400, T0 + 4799.999, T0 + 4800):
        clock.now = moment
        run(lambda: sender.send(sent))
        tokens.append(route.calls.last.request.headers["authorization"])
    assert tokens[0] == tokens[1] != tokens[2] == tokens[3] != tokens[4]
    issued = [apns_claims(t.split()[1], signing_key)["iat"] for t in tokens]
    assert issued == [int(T0), int(T0), int(T0) + 2400, int(T0) + 2400, int(T0) + 4800]


@pytest.mark.parametrize(
    ("status", "body", "headers", "expected"),
    [
        (410, {"reason": "Unregistered", "timestamp": 1_799_999_000_000}, {}, ("gone", "Unregistered", 0.0)),
        (400, {"reason": "BadDeviceToken"}, {}, ("gone", "BadDeviceToken", 0.0)),
        (410, {"reason": "ExpiredToken"}, {}, ("gone", "ExpiredToken", 0.0)),  # any 410
        (403, {"reason": "ExpiredProviderToken"}, {}, ("retry", "ExpiredProviderToken", 0.0)),
        (403, {"reason": "InvalidProviderToken"}, {}, ("retry", "InvalidProviderToken", 0.0)),
        (429, {"reason": "TooManyRequests"}, {"Retry-After": "5"}, ("retry", "TooManyRequests", 5.0)),
        (429, {"reason": "TooManyProviderTokenUpdates"}, {}, ("retry", "TooManyProviderTokenUpdates", 0.0)),
        (500, {"reason": "InternalServerError"}, {}, ("retry", "InternalServerError", 0.0)),
        (503, {"reason": "ServiceUnavailable"}, {"Retry-After": "2"}, ("retry", "ServiceUnavailable", 2.0)),
        (502, "<html>bad gateway</html>", {}, ("retry", "502", 0.0)),
        (400, {"reason": "BadTopic"}, {}, ("rejected", "BadTopic", 0.0)),
        (400, {"reason": "DeviceTokenNotForTopic"}, {}, ("rejected", "DeviceTokenNotForTopic", 0.0)),
        (403, {"reason": "BadCertificate"}, {}, ("rejected", "BadCertificate", 0.0)),
        (413, {"reason": "PayloadTooLarge"}, {}, ("rejected", "PayloadTooLarge", 0.0)),
        (405, "", {}, ("rejected", "405", 0.0)),
    ],
    ids=lambda v: str(v)[:30] if not isinstance(v, dict) else "",
)
def test_apns_answers_are_classified(
    router: respx.Router,
    signing_key: ec.EllipticCurvePrivateKey,
    status: int,
    body: Any,
    headers: dict[str, str],
    expected: tuple[str, str, float],
) -> None:
    apns_route(router, status, body, **headers)
    sender = ApnsSender(mocked(router), apns_target(signing_key), Clock())
    outcome = run(lambda: sender.send(delivery(Platform.IOS, token_of(Platform.IOS, 3), "m")))
    assert (outcome.message_id, outcome.kind, outcome.reason, outcome.after) == ("m", *expected)


@pytest.mark.parametrize(("reason", "renewed"), [("ExpiredProviderToken", True), ("InvalidProviderToken", True),
                                                 ("TooManyRequests", False), ("BadTopic", False)])  # fmt: skip
def test_apns_a_refused_provider_token_is_renewed_at_the_next_send(
    router: respx.Router, signing_key: ec.EllipticCurvePrivateKey, reason: str, renewed: bool
) -> None:
    answers = iter([httpx.Response(403 if "Provider" in reason else 400, json={"reason": reason}),
                    httpx.Response(200)])  # fmt: skip
    route = router.post(url__startswith=f"{APNS}/3/device/").mock(side_effect=lambda request: next(answers))
    clock = Clock()
    sender = ApnsSender(mocked(router), apns_target(signing_key), clock)
    sent = delivery(Platform.IOS, token_of(Platform.IOS, 3))
    run(lambda: sender.send(sent))
    clock.now = T0 + 5  # well within 40 minutes
    assert run(lambda: sender.send(sent)).kind == "sent"
    first, second = (c.request.headers["authorization"].split()[1] for c in route.calls)
    iat = apns_claims(second, signing_key)["iat"]
    assert (first != second, iat) == ((True, int(T0) + 5) if renewed else (False, int(T0)))


def test_apns_a_refusal_of_an_older_provider_token_keeps_the_current_one(
    router: respx.Router, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    """A send that went out with the old token is refused after the token was renewed: the new token
    stays (APNs refuses a renewal sooner than 20 min after the last: TooManyProviderTokenUpdates)."""
    gate, arrived = asyncio.Event(), asyncio.Event()

    async def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/held"):
            arrived.set()
            await gate.wait()
            return httpx.Response(403, json={"reason": "ExpiredProviderToken"})
        return httpx.Response(200)

    route = router.post(url__startswith=f"{APNS}/3/device/").mock(side_effect=answer)
    clock = Clock()
    sender = ApnsSender(mocked(router), apns_target(signing_key), clock)

    def send(token: str) -> Awaitable[Outcome]:
        return sender.send({"messageId": token, "pushToken": token, "payload": {"aps": {"alert": "hi"}}})

    async def scenario() -> list[Outcome]:
        held = asyncio.create_task(send("held"))  # the token of T0
        await arrived.wait()
        clock.now = T0 + APNS_TOKEN_REFRESH
        renewed = await send("renewed")  # a new token
        gate.set()
        late = await held  # refused for the token of T0
        clock.now = T0 + APNS_TOKEN_REFRESH + 1
        return [renewed, late, await send("after")]

    assert [o.kind for o in run(scenario)] == ["sent", "retry", "sent"]
    sent_with = {c.request.url.path.rsplit("/", 1)[1]: c.request.headers["authorization"] for c in route.calls}
    assert sent_with["held"] != sent_with["renewed"] == sent_with["after"]


@pytest.mark.parametrize("error", [httpx.ConnectError, httpx.ReadTimeout, httpx.RemoteProtocolError])
def test_apns_a_request_without_an_answer_is_retried(
    router: respx.Router, signing_key: ec.EllipticCurvePrivateKey, error: type[Exception]
) -> None:
    router.post(url__startswith=f"{APNS}/3/device/").mock(side_effect=error)
    sender = ApnsSender(mocked(router), apns_target(signing_key), Clock())
    outcome = run(lambda: sender.send(delivery(Platform.IOS, token_of(Platform.IOS, 3), "m")))
    assert outcome == Outcome("retry", "m", error.__name__)


def test_apns_the_client_context_trusts_the_targets_ca_and_checks_the_host(
    tmp_path: Path, signing_key: ec.EllipticCurvePrivateKey
) -> None:
    import ssl

    certs = ensure_certificates(tmp_path)
    context = ApnsSender.client_context(apns_target(signing_key, certs.ca_cert))
    assert context.verify_mode is ssl.CERT_REQUIRED and context.check_hostname
    (ca,) = context.get_ca_certs()
    assert dict(x[0] for x in ca["subject"]).get("commonName")
