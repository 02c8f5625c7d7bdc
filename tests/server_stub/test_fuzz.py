"""Fuzz the API: schemathesis from the served OpenAPI (every operation, valid and invalid data),
and hypothesis bodies close to what the SDKs send, so the rules run deep. Never a 5xx."""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from stubkit import APP_CODE, Device

from contract import Dialect
from server_stub import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

APP = create_app(memory=True, app_codes=[APP_CODE])
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
OPERATIONS = {op.label: op for op in (result.ok() for result in SCHEMA.get_all_operations())}
FUZZ = settings(
    max_examples=25,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


class Caller:
    """A registered, personalized installation whose id goes into every generated request."""

    def __init__(self) -> None:
        self.client = TestClient(APP, raise_server_exceptions=True)
        self.renew()

    def renew(self) -> None:
        self.device = Device(self.client, Dialect.IOS)
        self.device.register()
        assert self.device.personalize({"externalUserId": "fuzz"}, force=True).status_code == 200

    @property
    def reg_id(self) -> str:
        assert self.device.reg_id is not None
        return self.device.reg_id


CALLER = Caller()


def test_every_sdk_route_is_in_the_schema() -> None:
    labels = set(OPERATIONS)
    assert "POST /mobile/1/appinstance/{pushRegId}/personalize" in labels
    assert "POST /mobile/1/appinstance/{pushRegId}" in labels  # Android's PATCH
    assert "PATCH /mobile/1/appinstance/{pushRegId}/user" in labels
    assert "GET /inspect/persons/{person_id}" in labels
    assert len([label for label in labels if " /mobile/" in label]) == 19  # 17 endpoints, 2 Android PATCHes


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_server_error(label: str, mode: GenerationMode) -> None:
    operation = OPERATIONS[label]
    statuses: list[int] = []

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        if "pushRegId" in (case.path_parameters or {}):
            case.path_parameters = {**(case.path_parameters or {}), "pushRegId": CALLER.reg_id}
        case.headers = {
            **(case.headers or {}),
            "Authorization": f"App {APP_CODE}",
            "pushregistrationid": CALLER.reg_id,
        }
        response = case.call()
        statuses.append(response.status_code)
        assert response.status_code < 500, (response.status_code, response.text, case.as_curl_command())
        if response.status_code >= 400:  # every error is the envelope
            assert set(response.json()["requestError"]["serviceException"]) == {"messageId", "text"}
        if label in ("POST /inspect/reset", "POST /inspect/installations/{push_reg_id}/uninstall"):
            CALLER.renew()

    try:
        run()
    except Unsatisfiable:
        # nothing in this operation can be made invalid (no body, only free strings)
        assert mode is GenerationMode.NEGATIVE
        pytest.skip(f"no invalid data for {label}")
    assert statuses, "no request was made"


# ---------------------------------------------------------------------------------------------
# hypothesis: bodies shaped like the SDKs', with hostile values where values go

text = st.text(max_size=40)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, -1, 2**63 - 1, 2**63, -(2**63), 12345.0, 1e308]),
)
dates = st.dates().map(lambda d: d.isoformat())
moments = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11))]),
)
stamps = st.one_of(moments.map(lambda m: m.isoformat()), moments.map(lambda m: m.strftime("%Y-%m-%dT%H:%M:%SZ")), text)
scalars = st.one_of(st.booleans(), numbers, text, dates, stamps, st.none())
flat_items = st.dictionaries(
    st.sampled_from(["a", "b", "c"]), st.one_of(st.booleans(), numbers, text, st.none()), max_size=3
)
values = st.one_of(scalars, st.lists(flat_items, max_size=3), st.dictionaries(text, scalars, max_size=2))
attribute_names = st.one_of(st.sampled_from(["plan", "Plan", "age", "since", "list", "flag"]), text)
custom = st.dictionaries(attribute_names, values, max_size=6)
phones = st.one_of(st.from_regex(r"\+?[0-9 ()-]{0,20}", fullmatch=True), text)
emails = st.one_of(st.emails().map(str), text, st.sampled_from(["Fuzz@Example.com", "fuzz@example.com"]))
identity = st.fixed_dictionaries(
    {},
    optional={
        "externalUserId": st.one_of(st.sampled_from(["fuzz", "other", " ", ""]), text),
        "phones": st.lists(st.fixed_dictionaries({"number": phones}), max_size=3),
        "emails": st.lists(st.fixed_dictionaries({"address": emails}), max_size=3),
    },
)
attributes = st.fixed_dictionaries(
    {},
    optional={
        "firstName": st.one_of(text, st.none()),
        "gender": st.sampled_from(["Male", "Female", "MALE", None]),
        "birthday": st.one_of(dates, text, st.none()),
        "tags": st.one_of(st.lists(text, max_size=4), st.none()),
        "customAttributes": st.one_of(custom, st.none()),
    },
)
event_items = st.fixed_dictionaries(
    {"definitionId": st.sampled_from(["fuzzEvent", "FUZZEVENT", "unknown", ""])},
    optional={
        "date": stamps,
        "properties": st.dictionaries(st.sampled_from(["s", "n", "b", "d", "l", "x"]), values, max_size=4),
    },
)


def fresh() -> Device:
    client = TestClient(create_app(memory=True, app_codes=[APP_CODE]), raise_server_exceptions=True)
    client.post(
        "/inspect/event-definitions",
        json={
            "definitionId": "fuzzEvent",
            "fields": [
                {"name": "s", "type": "String"},
                {"name": "n", "type": "Numeric"},
                {"name": "b", "type": "Boolean"},
                {"name": "d", "type": "DateTime"},
                {"name": "l", "type": "List", "fields": [{"name": "a", "type": "String"}]},
            ],
        },
    )
    device = Device(client, Dialect.ANDROID)
    device.register()
    return device


def check(device: Device, response: Any) -> None:
    assert response.status_code < 500, response.text
    assert response.status_code in (200, 400, 409), response.text
    # whatever was accepted can be read back as strict JSON
    for path in (f"/mobile/1/appinstance/{device.reg_id}/user", f"/mobile/1/appinstance/{device.reg_id}"):
        readback = device.client.get(path, headers=device.headers(with_body=False))
        assert readback.status_code == 200
        json.loads(readback.content, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))
    persons = device.client.get("/inspect/persons", params={"limit": 1000})
    json.loads(persons.content, parse_constant=lambda c: pytest.fail(f"{c} is not JSON"))


@FUZZ
@given(
    steps=st.lists(st.tuples(st.sampled_from(["personalize", "patch_user", "patch"]), identity, attributes), max_size=4)
)
def test_user_data_never_fails_the_server(steps: list[tuple[str, dict[str, Any], dict[str, Any]]]) -> None:
    device = fresh()
    for kind, ident, attrs in steps:
        if kind == "personalize":
            response = device.personalize(ident, attrs or None, force=bool(attrs))
        elif kind == "patch_user":
            response = device.patch_user({**ident, **attrs})
        else:
            response = device.patch(
                {"customAttributes": attrs.get("customAttributes"), "deviceName": attrs.get("firstName")}
            )
        check(device, response)


@FUZZ
@given(
    starts=st.lists(stamps, max_size=4),
    bounds=st.dictionaries(stamps, stamps, max_size=3),
    events=st.lists(st.one_of(event_items, scalars), max_size=5),
    validate=st.booleans(),
)
def test_events_never_fail_the_server(
    starts: list[str], bounds: dict[str, str], events: list[Any], validate: bool
) -> None:
    device = fresh()
    check(device, device.session(starts, bounds))
    response = device.call("custom_events", flags={"validate": validate}, body={"events": events})
    check(device, response)
    counts = device.client.get("/inspect/event-counts").json()
    handled = counts["rejected"] + counts["counts"].get("fuzzEvent", 0)
    # validate=true: all stored or none; validate=false: every item stored or rejected
    assert handled == (len(events) if response.status_code == 200 else 0)
    assert response.status_code == 200 or validate
