"""Fuzz the Push API and the provider from the served OpenAPI (valid and invalid data): never a 5xx,
every error in its route's envelope, a success only for a known key (the provider: app code)."""

from __future__ import annotations

import json
import warnings
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pushkit import API_KEY, device, reg
from schemathesis import GenerationMode
from stubkit import APP_CODE

from contract import Platform
from server_stub import create_app
from server_stub.messaging import PushLatency

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

APP = create_app(memory=True, app_codes=[APP_CODE], api_keys=[API_KEY], push_latency=PushLatency(0, 0))
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
OPERATIONS = {
    op.label: op
    for op in (result.ok() for result in SCHEMA.get_all_operations())
    if op.path.startswith(("/push/", "/provider/"))
}
FUZZ = settings(
    max_examples=10, deadline=None, database=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
WHO = st.sampled_from(["key", "key", "key", "bad-auth"])
CLIENT = TestClient(APP, raise_server_exceptions=True)
PHONE = device(CLIENT, Platform.ANDROID, route=1)


def test_the_push_routes_are_fuzzed() -> None:
    assert sorted(OPERATIONS) == [
        "GET /provider/1/deliveries",
        "GET /push/1/inbox/reports",
        "GET /push/3/logs",
        "GET /push/3/reports",
        "POST /push/2/message/multi",
        "POST /push/2/message/single",
        "POST /push/3/messages",
    ]


def _waits(value: Any) -> bool:
    try:
        return 0 < float(str(value)) <= 5
    except ValueError:
        return False


def _deeper(body: Any) -> Any:
    """A generated send from this server's app, to the test device now and then: the rules run."""
    if not isinstance(body, dict):
        return body
    for message in body.get("messages", []) if isinstance(body.get("messages"), list) else [body]:
        if isinstance(message, dict):
            for key in ("sender", "from"):
                if key in message:
                    message[key] = APP_CODE
            destinations = message.get("destinations")
            if isinstance(destinations, list) and destinations and isinstance(destinations[0], dict):
                destinations[0] = {**reg(PHONE), **{k: v for k, v in destinations[0].items() if k == "messageId"}}
    return body


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_answer_is_in_the_routes_envelope(label: str, mode: GenerationMode) -> None:
    operation = OPERATIONS[label]
    provider = label.startswith("GET /provider/")
    version = 3 if "/push/3/" in label else 0 if provider else 2

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode), who=WHO)
    def run(case: schemathesis.Case, who: str) -> None:
        secret = (APP_CODE if provider else API_KEY) if who == "key" else "not-a-key"
        case.headers = {**(case.headers or {}), "Authorization": f"App {secret}"}
        if provider and isinstance(case.query, dict) and _waits(case.query.get("wait")):
            case.query = {**case.query, "wait": "0"}  # no long-polling in a fuzz run
        if mode is GenerationMode.POSITIVE:
            case.body = _deeper(case.body)
        response = case.call()

        def shown() -> tuple[str, int, str, str]:
            return who, response.status_code, response.text[:300], case.as_curl_command()

        assert response.status_code < 500, shown()
        body = json.loads(response.content, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
        if who == "bad-auth":
            assert response.status_code == 401, shown()
        else:
            assert response.status_code in (200, 400, 413), shown()
        if response.status_code < 400:
            return
        if version == 3:
            assert list(body) == ["errorCode", "description", "action", "violations", "resources"], shown()
            assert body["errorCode"] == f"E{response.status_code}", shown()
        else:
            exception = body["requestError"]["serviceException"]
            assert {"messageId", "text"} <= set(exception), shown()
            if provider:
                wanted = {401: "INVALID_APPLICATION_CODE", 400: "REQUEST_FORMAT_INVALID"}
            else:
                wanted = {401: "UNAUTHORIZED", 400: "BAD_REQUEST", 413: "BAD_REQUEST"}
            assert exception["messageId"] == wanted[response.status_code], shown()

    try:
        run()
    except Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE
        pytest.skip(f"no invalid data for {label}")
