"""What a check body works with: virtual devices and raw wire requests against the target, every
exchange recorded, unique identities per check, and the assertions that turn an answer into a verdict."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn, TypeVar

import httpx

from contract import Dialect, Platform, app_code_hash, endpoint
from contract import headers as h
from contract.headers import inspection_headers
from simulator import AppConfig, VirtualClock, VirtualDevice
from simulator.catalog import APP_VERSIONS, profile_for
from simulator.errors import TransportError
from simulator.systemdata import system_data, user_agent
from simulator.tokens import installation_id, push_token
from simulator.transport import HTTPXTransport, Outgoing, RecordingTransport, Reply

from .model import NO_API_KEY, CheckFailed, CheckSkipped, Exchange, trim

NEWEST_BUILD = APP_VERSIONS[0].version
"""The app build the probe's devices run: the newest release of each SDK line (the checks use
options, such as personalize's ``setDeviceAsPrimary``, that only the newest SDKs have)."""

__all__ = ["LOOK_AGAIN", "Probe", "Recorder"]

T = TypeVar("T")

LOOK_AGAIN = 0.25
"""Seconds between two looks of :meth:`Probe.eventually`."""


def _mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    shown = {}
    for name, value in headers.items():
        if name.lower() == "authorization":
            scheme, _, secret = value.partition(" ")
            value = f"{scheme} {secret[:4]}…{secret[-4:]}" if len(secret) > 8 else f"{scheme} …"
        shown[name] = value
    return shown


def _text(content: bytes | None) -> str:
    if not content:
        return ""
    return trim(content.decode("utf-8", "replace"))


class Recorder:
    """Carries requests over an `httpx.Client` and keeps every exchange: the devices' requests
    through `simulator.transport.RecordingTransport` (it is their transport), raw wire requests
    through :meth:`request`."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.exchanges: list[Exchange] = []
        self._devices = RecordingTransport(HTTPXTransport(client), self._record)

    def _keep(self, method: str, url: str, headers: Mapping[str, str], content: bytes | None,
              status: int | None, reply_headers: Mapping[str, str], body: str) -> Exchange:  # fmt: skip
        exchange = Exchange(method, url, _mask_headers(headers), _text(content), status, dict(reply_headers), body)
        self.exchanges.append(exchange)
        return exchange

    def _record(self, request: Outgoing, reply: Reply | None, error: TransportError | None) -> None:
        if reply is None:
            self._keep(request.method, request.url, request.headers, request.content, None, {},
                       repr(error.__cause__ if error is not None and error.__cause__ else error))  # fmt: skip
        else:
            self._keep(request.method, request.url, request.headers, request.content, reply.status, reply.headers,
                       _text(reply.content))  # fmt: skip

    def request(self, method: str, url: str, headers: Mapping[str, str], content: bytes | None) -> Exchange:
        try:
            response = self.client.request(method, url, headers=dict(headers), content=content)
        except httpx.RequestError as exc:
            self._keep(method, url, headers, content, None, {}, repr(exc))
            raise TransportError(f"{method} {url}: {exc!r}") from exc
        return self._keep(method, url, headers, content, response.status_code, response.headers,
                          _text(response.content))  # fmt: skip

    def send(self, request: Outgoing) -> Reply:
        return self._devices.send(request)

    @property
    def last(self) -> Exchange | None:
        return self.exchanges[-1] if self.exchanges else None


class Probe:
    """One check's view of the target, for one platform."""

    def __init__(
        self,
        *,
        client: httpx.Client,
        base_url: str,
        app_code: str,
        platform: str,
        run_id: str,
        check_id: str,
        inspection: bool,
        api_key: str | None = None,
        patience: float = 0.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.app_code = app_code
        self.platform = Platform(platform)
        self.dialect: Dialect = self.platform.dialect
        self.run_id = run_id
        self.check_id = check_id
        self.inspection = inspection
        self.api_key = api_key
        """The Push API key checks that send a message use; None: they are skipped."""
        self.patience = patience
        """Seconds a check looks again for what an asynchronous backend may show late (a sent
        message in the sync answer, a report): 0 looks once."""
        self.recorder = Recorder(client)
        self.clock = VirtualClock(float(int(time.time())))
        self.app = AppConfig(app_code, base_url=self.base_url, sync_messages=False, honour_new_base_url=False)
        self._seeds = 0
        self._sent = 0

    # -- identities ----------------------------------------------------------------------------

    @property
    def ios(self) -> bool:
        return self.dialect is Dialect.IOS

    def uid(self, label: str) -> str:
        """A value unique to this run, check and platform (external user ids, attribute names...)."""
        return f"ck-{self.run_id}-{self.check_id.lower()}-{self.platform.value[0]}-{label}"

    def email(self, label: str) -> str:
        return f"{self.uid(label)}@example.com"

    def phone(self, label: str) -> str:
        digest = hashlib.sha256(self.uid(label).encode()).hexdigest()
        return "3859" + str(int(digest[:12], 16))[-8:].rjust(8, "0")

    def _seed(self) -> int:
        self._seeds += 1
        text = f"{self.run_id}:{self.check_id}:{self.platform.value}:{self._seeds}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:6], "big")

    # -- devices ---------------------------------------------------------------------------------

    def device(self, platform: str | None = None, *, start: bool = True) -> VirtualDevice:
        """A new install on this check's platform (or ``platform``), launched unless ``start=False``."""
        device = VirtualDevice.create(
            platform or self.platform, self.app, seed=self._seed(), transport=self.recorder, clock=self.clock
        )
        device.update_app(NEWEST_BUILD)  # the checks speak the newest release of each SDK line
        if start:
            device.start()
            if device.reg_id is None:
                self.fail("the launch registers the device (a pushRegId)", "no pushRegId after the launch")
        return device

    def person(self, label: str, devices: int = 1, **attributes: Any) -> list[VirtualDevice]:
        """``devices`` launched devices personalized with one new external user id."""
        out = []
        for _ in range(devices):
            device = self.device()
            device.personalize({"externalUserId": self.uid(label)}, attributes or None)
            out.append(device)
        return out

    # -- raw wire requests -------------------------------------------------------------------------

    def raw_identity(self) -> tuple[dict[str, str], dict[str, Any]]:
        """Headers and a create body of a new phone of this platform, as its SDK would send them."""
        seed = self._seed()
        profile = profile_for(self.platform, seed).with_app(NEWEST_BUILD)
        headers = {
            h.AUTHORIZATION: h.app_authorization(self.app_code),
            h.APPLICATION_CODE: app_code_hash(self.app_code),
            h.USER_AGENT: user_agent(profile, self.app.app_name, self.app.bundle_id),
            h.INSTALLATION_ID: installation_id(seed, 1),
            h.ACCEPT: "application/json",
        }
        body = system_data(profile, True, self.clock.now())
        body["pushServiceType"] = self.platform.push_service_type
        body["pushServiceToken"] = push_token(self.platform, seed, 1, 1)
        return headers, body

    def call(
        self,
        name: str,
        *,
        reg_id: str | None = None,
        caller: str | None = None,
        flags: Mapping[str, bool] | None = None,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        omit: Iterable[str] = (),
        dialect: Dialect | None = None,
        identity: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        method: str | None = None,
        content: bytes | None = None,
    ) -> Exchange:
        """One Mobile API request built from the wire contract in this check's dialect (or ``dialect``).

        ``caller`` is the ``pushregistrationid`` header (default: ``reg_id``). ``identity`` is a
        header set from :meth:`raw_identity` (default: a fresh one). ``query`` replaces the query.
        """
        dialect = dialect or self.dialect
        wire = endpoint(name).build(
            dialect, path_params={"pushRegId": reg_id} if reg_id else None, flags=flags, body=body
        )
        out = dict(identity) if identity is not None else self.raw_identity()[0]
        if (caller or reg_id) and h.PUSH_REGISTRATION_ID not in out:
            out[h.PUSH_REGISTRATION_ID] = caller or reg_id or ""
        if content is None and wire.body is not None:
            content = json.dumps(wire.body, separators=(",", ":")).encode()
        if content is not None or dialect is Dialect.IOS:
            out[h.CONTENT_TYPE] = "application/json"
        out.update(wire.headers)
        out.update(headers or {})
        for name_ in omit:
            out = {k: v for k, v in out.items() if k.lower() != name_.lower()}
        target = wire.path
        pairs = list(query.items()) if query is not None else list(wire.query)
        if pairs:
            target += "?" + "&".join(f"{k}={v}" for k, v in pairs)
        return self.recorder.request(method or wire.method, self.base_url + target, out, content)

    def register(self, *, identity: Mapping[str, str] | None = None, body: Mapping[str, Any] | None = None) -> str:
        """Create a registration with a raw request; the pushRegId the answer carries."""
        if identity is None or body is None:
            identity, fresh = self.raw_identity()
            body = body or fresh
        answer = self.call("create_installation", body=body, identity=identity)
        data = self.json_of(answer, "the registration answer")
        reg_id = data.get("pushRegId")
        self.expect(isinstance(reg_id, str) and reg_id, "a pushRegId in the registration answer",
                    f"{data}", answer)  # fmt: skip
        assert isinstance(reg_id, str)
        return reg_id

    # -- the inspection API ------------------------------------------------------------------------

    def inspect(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                body: Any = None) -> Any:  # fmt: skip
        if not self.inspection:
            raise CheckSkipped("the target has no inspection API")
        url = self.base_url + path
        if params:
            url += "?" + str(httpx.QueryParams({k: str(v) for k, v in params.items()}))
        content = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if content else {}
        headers.update(inspection_headers())
        answer = self.recorder.request(method, url, headers, content)
        if not answer.ok:
            self.fail(f"{method} {path} of the inspection API answers 2xx", answer.line(), answer)
        return answer.json()

    # -- the Push API -------------------------------------------------------------------------------

    def push_api(
        self, method: str, path: str, *, body: Any = None, params: Mapping[str, str] | None = None
    ) -> Exchange:
        """One Push API request with ``Authorization: App <API key>``."""
        if not self.api_key:
            raise CheckSkipped(NO_API_KEY)
        url = self.base_url + path
        if params:
            url += "?" + str(httpx.QueryParams(dict(params)))
        headers = {h.AUTHORIZATION: h.app_authorization(self.api_key), h.ACCEPT: "application/json"}
        content = None
        if body is not None:
            content = json.dumps(body, separators=(",", ":")).encode()
            headers[h.CONTENT_TYPE] = "application/json"
        return self.recorder.request(method, url, headers, content)

    def send_message(
        self, reg_id: str, *, title: str | None = None, custom: Mapping[str, Any] | None = None
    ) -> tuple[str, str]:
        """Send one message to the registration ``reg_id`` (``POST /push/3/messages``, the sender
        is the run's application); its messageId and text."""
        self._sent += 1
        text = f"mobsim check {self.check_id} {self.run_id} #{self._sent}"
        content: dict[str, Any] = {"type": "TEXT", "text": text}
        if title is not None:
            content["title"] = title
        message: dict[str, Any] = {
            "sender": self.app_code,
            "destinations": [{"type": "REGISTRATION", "pushRegistrationId": reg_id}],
            "content": content,
        }
        if custom:
            message["options"] = {"customPayload": dict(custom)}
        answer = self.push_api("POST", "/push/3/messages", body={"messages": [message]})
        data = self.json_of(answer, "POST /push/3/messages")
        entries = data.get("messages")
        entry = entries[0] if isinstance(entries, list) and len(entries) == 1 else None
        message_id = entry.get("messageId") if isinstance(entry, dict) else None
        if not isinstance(message_id, str) or not message_id:
            self.fail("one message with a messageId in the send answer", trim(answer.response_body, 300), answer)
        assert isinstance(entry, dict)
        status = entry.get("status")
        group = status.get("groupName") if isinstance(status, dict) else None
        self.expect(group == "PENDING", f"the message to {reg_id} accepted (status group PENDING)",
                    f"status={entry.get('status')!r}", answer)  # fmt: skip
        return message_id, text

    def reports(self, message_id: str) -> list[dict[str, Any]]:
        """The delivery reports ``GET /push/3/reports?messageId=`` returns for ``message_id``."""
        answer = self.push_api("GET", "/push/3/reports", params={"messageId": message_id})
        data = self.json_of(answer, "GET /push/3/reports")
        results = data.get("results")
        self.expect(isinstance(results, list), "`results`, a list, in the reports answer",
                    trim(answer.response_body, 300), answer)  # fmt: skip
        assert isinstance(results, list)
        return [r for r in results if isinstance(r, dict) and r.get("messageId") == message_id]

    def eventually(self, look: Callable[[], tuple[bool, T]]) -> T:
        """``look()`` until it says done or :attr:`patience` is spent; what it last saw."""
        deadline = time.monotonic() + self.patience
        while True:
            done, seen = look()
            if done or time.monotonic() + LOOK_AGAIN > deadline:
                return seen
            time.sleep(LOOK_AGAIN)

    # -- verdicts -----------------------------------------------------------------------------------

    @property
    def last(self) -> Exchange | None:
        return self.recorder.last

    def fail(self, expected: str, observed: str, exchange: Exchange | None = None) -> NoReturn:
        raise CheckFailed(expected, observed, exchange or self.last)

    def expect(self, condition: Any, expected: str, observed: str, exchange: Exchange | None = None) -> None:
        if not condition:
            self.fail(expected, observed, exchange)

    def expect_ok(self, answer: Exchange, what: str) -> Exchange:
        if not answer.ok:
            self.fail(f"{what}: a 2xx answer", f"{answer.status} {trim(answer.response_body, 300)}", answer)
        if answer.message_id is not None:
            self.fail(f"{what}: a 2xx without requestError", f"a 2xx carrying {answer.message_id}", answer)
        return answer

    def expect_error(self, answer: Exchange, code: str, what: str) -> Exchange:
        """The error envelope with ``messageId`` ``code`` and a 4xx status (SDKs read the code; they
        retry 5xx)."""
        got = answer.message_id
        if got is None or got.upper() != code.upper() or answer.status is None or not 400 <= answer.status < 500:
            observed = f"{answer.status} messageId={got}" + (
                "" if got else f" body={trim(answer.response_body, 200)!r}"
            )
            self.fail(f"{what}: a 4xx with messageId {code}", observed, answer)
        return answer

    def json_of(self, answer: Exchange, what: str) -> dict[str, Any]:
        self.expect_ok(answer, what)
        data = answer.json()
        if not isinstance(data, dict):
            self.fail(f"{what}: a JSON object", f"{trim(answer.response_body, 300)!r}", answer)
        return data
