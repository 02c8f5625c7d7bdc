"""Fuzz the API: schemathesis from the served OpenAPI (every operation, valid and invalid data),
and hypothesis bodies close to what the SDKs send, so the rules run deep. Never a 5xx, and never
just "some 4xx": each answer is checked against the one the request calls for, derived from what
was sent (its app code, its registration, its body and query against the wire contract)."""

from __future__ import annotations

import json
import uuid
import warnings
from collections.abc import Collection
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any
from urllib.parse import parse_qs, urlsplit

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from pydantic import BaseModel, Field, ValidationError
from schemathesis import GenerationMode
from stubkit import APP_CODE, Device

from contract import (
    ENDPOINTS,
    Dialect,
    Endpoint,
    ErrorCode,
    LimitViolation,
    headers,
    limits,
    parse_query_bool,
    status_for,
)
from server_stub import create_app

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from starlette.testclient import TestClient

APP = create_app(memory=True, app_codes=[APP_CODE])
SCHEMA = schemathesis.openapi.from_asgi("/openapi.json", APP)
OPERATIONS = {
    op.label: op
    for op in (result.ok() for result in SCHEMA.get_all_operations())
    if not op.path.startswith(("/push/", "/provider/"))  # their own envelopes and keys: test_push_fuzz.py
}
FUZZ = settings(
    max_examples=15,  # derandomized: the same cases every run (more cost seconds the suite cannot spare)
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


# ---------------------------------------------------------------------------------------------
# the answer each generated request calls for, derived from the request as it was sent

RFI, NO_REG = ErrorCode.REQUEST_FORMAT_INVALID, ErrorCode.NO_REGISTRATION
IDENTITY_CODES = {ErrorCode.USER_IDENTITY_INVALID, ErrorCode.PHONE_INVALID, ErrorCode.EMAIL_INVALID, RFI}
RULE_CODES: dict[str, set[ErrorCode]] = {
    # what the rules may refuse in a well-formed request (limits, types, conflicts)
    "create_installation": {RFI},
    "patch_installation": {RFI},
    "patch_user": {*IDENTITY_CODES, ErrorCode.USER_MERGE_INTERRUPTED},
    "personalize": {*IDENTITY_CODES, ErrorCode.AMBIGUOUS_PERSONALIZE_CANDIDATES, ErrorCode.PERSONALIZATION_IMPOSSIBLE},
    "repersonalize": {*IDENTITY_CODES, ErrorCode.AMBIGUOUS_PERSONALIZE_CANDIDATES},
    "session_report": {RFI},  # a bound that ends before it starts
    "custom_events": {RFI},  # validate=true: an unknown definition or property
}
READ_FLAGS = {
    # the query booleans each route reads: any other spelling is 400 (README, "Choices")
    "create_installation": ("rt",),
    "get_installation": ("rt",),
    "get_user": ("ri",),
    "personalize": ("forceDepersonalize", "keepAsLead", "setDeviceAsPrimary"),
    "custom_events": ("validate",),
}
REGISTRATION_FIRST = {"sync_messages", "seen_messages", "send_mo", "delivery_report"}
"""Calls named by the `pushregistrationid` header: an unknown one is refused before the body is read."""
WHO = st.sampled_from(["caller", "caller", "caller", "bad-auth", "unknown-registration"])


class Batch(BaseModel):
    """A ``validate=false`` batch: any items, each judged on its own (README, "Custom events")."""

    events: Annotated[list[Any], Field(max_length=1000)]


def sdk_endpoint(label: str) -> tuple[Endpoint, bool] | None:
    """The Mobile API endpoint of an operation label, and whether it is Android's POST-for-PATCH."""
    method, path = label.split(" ", 1)
    for ep in ENDPOINTS:
        if ep.template == path and method in (ep.method, "POST" if ep.method == "PATCH" else ep.method):
            return ep, method == "POST" and ep.method == "PATCH"
    return None


def malformed(ep: Endpoint, query: dict[str, list[str]], body: bytes) -> str | None:
    """Why the request breaks the wire contract (its body model or a query value), or None."""
    for name in READ_FLAGS.get(ep.name, ()):
        for value in query.get(name, []):
            try:
                parse_query_bool(value)
            except ValueError:
                return f"query {name}={value!r}"
    if ep.name == "version" and any(v not in ("APNS", "GCM") for v in query.get("platformType", [])):
        return "platformType"
    if ep.request is None:
        return None
    if not body.strip():
        return None if ep.name == "sync_messages" else "no body"
    validate = ep.name == "custom_events" and parse_query_bool((query.get("validate") or [None])[-1])
    model = Batch if ep.name == "custom_events" and not validate else ep.request
    try:
        model.model_validate_json(body)
    except ValidationError as exc:
        return f"body: {exc.errors()[0]['msg']}"
    return None


def expected(label: str, who: str, request: Any) -> tuple[set[int], set[str]] | None:
    """(statuses, error codes) the server must answer ``request`` with; None: no oracle (inspection)."""
    found = sdk_endpoint(label)
    if found is None:
        return None
    ep, override_needed = found
    url = urlsplit(request.url)
    query = parse_qs(url.query, keep_blank_values=True)
    raw = request.body or b""
    body = raw.encode() if isinstance(raw, str) else raw
    if override_needed and request.headers.get(headers.METHOD_OVERRIDE, "").upper() != "PATCH":
        return {405}, {ErrorCode.METHOD_NOT_ALLOWED}
    if who == "bad-auth":
        return {401}, {ErrorCode.INVALID_APPLICATION_CODE}
    named = "{pushRegId}" in ep.template or ep.name in REGISTRATION_FIRST
    if who == "unknown-registration" and named and ep.name in REGISTRATION_FIRST:
        return {404}, {NO_REG}
    if malformed(ep, query, body):
        return {400}, {RFI}
    if who == "unknown-registration" and named:
        return {404}, {NO_REG}
    codes = RULE_CODES.get(ep.name, set())
    return {200, *(status_for(code) for code in codes)}, set(codes)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_every_answer_is_the_one_the_request_calls_for(label: str, mode: GenerationMode) -> None:
    """Never a 5xx, every error in the envelope, and for the Mobile API the exact answer: 405 for
    Android's POST without the override, 401 for another app code, 404 ``NO_REGISTRATION`` for an
    unknown registration, 400 ``REQUEST_FORMAT_INVALID`` for a body or query that breaks the wire
    contract (checked here with the contract's own models), else success or a rule's refusal (whose
    text is then no model error). Inspection routes: 200, or 400/404 with their codes."""
    operation = OPERATIONS[label]
    statuses: list[int] = []

    @FUZZ
    @given(case=operation.as_strategy(generation_mode=mode), who=WHO)
    def run(case: schemathesis.Case, who: str) -> None:
        reg_id = str(uuid.uuid4()) if who == "unknown-registration" else CALLER.reg_id
        for name in ("pushRegId", "push_reg_id"):
            if name in (case.path_parameters or {}):
                case.path_parameters = {**(case.path_parameters or {}), name: reg_id}
        code = "not-an-app-code" if who == "bad-auth" else APP_CODE
        case.headers = {**(case.headers or {}), "Authorization": f"App {code}", "pushregistrationid": reg_id}
        response = case.call()
        statuses.append(response.status_code)

        def shown() -> tuple[str, int, str, str]:
            return who, response.status_code, response.text[:300], case.as_curl_command()

        assert response.status_code < 500, shown()
        error = None
        if response.status_code >= 400:  # every error is the envelope, its status the code's
            exception = response.json()["requestError"]["serviceException"]
            assert set(exception) == {"messageId", "text"}, shown()
            error = exception["messageId"]
            assert status_for(ErrorCode(error)) == response.status_code, shown()
        wanted = expected(label, who, response.request)
        if wanted is None:
            assert response.status_code in (200, 201, 400, 404), shown()
            if mode is GenerationMode.POSITIVE and error == RFI:  # valid by the schema: no validation error
                assert not exception["text"].startswith(("query.", "path.", "body.")), shown()
        else:
            assert response.status_code in wanted[0], shown()
            assert error is None or error in wanted[1], shown()
            if error == RFI and wanted[0] != {400}:  # a rule's refusal of a well-formed request
                assert not exception["text"].startswith(("invalid ", "a JSON body", "query parameter")), shown()
        gone = label in ("POST /inspect/reset", "POST /inspect/installations/{push_reg_id}/uninstall")
        if gone or (label == "DELETE /mobile/1/appinstance/{pushRegId}" and response.status_code == 200):
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


def is_phone(number: str) -> bool:
    try:
        limits.normalize_phone(number)
    except LimitViolation:
        return False
    return True


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


CONFLICTS = {
    ErrorCode.AMBIGUOUS_PERSONALIZE_CANDIDATES,
    ErrorCode.PERSONALIZATION_IMPOSSIBLE,
    ErrorCode.USER_MERGE_INTERRUPTED,
}


USER_CODES = frozenset({*IDENTITY_CODES, *CONFLICTS})


def check(device: Device, response: Any, codes: Collection[ErrorCode] = USER_CODES) -> None:
    assert response.status_code < 500, response.text
    assert response.status_code in (200, 400, 409), response.text
    if response.status_code != 200:
        code = response.json()["requestError"]["serviceException"]["messageId"]
        assert code in codes and status_for(ErrorCode(code)) == response.status_code, response.text
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
        check(device, response, {RFI} if kind == "patch" else USER_CODES)
        phones = [p["number"] for p in ident.get("phones", [])]
        if kind != "patch" and not all(map(is_phone, phones)):  # refused by the contract, whatever else
            assert response.status_code == 400, response.text
            assert response.json()["requestError"]["serviceException"]["messageId"] in IDENTITY_CODES


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
    check(device, device.session(starts, bounds), {RFI})
    response = device.call("custom_events", flags={"validate": validate}, body={"events": events})
    check(device, response, {RFI})
    counts = device.client.get("/inspect/event-counts").json()
    handled = counts["rejected"] + counts["counts"].get("fuzzEvent", 0)
    # validate=true: all stored or none; validate=false: every item stored or rejected
    assert handled == (len(events) if response.status_code == 200 else 0)
    assert response.status_code == 200 or validate
