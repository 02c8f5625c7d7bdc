"""The wire contract (``contract``): dialect encodings, endpoints, formats, headers, limits,
models and the error envelope, pinned to exact values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from contract import (
    ENDPOINTS,
    INVALID_PARAMETER_CODES,
    Dialect,
    ErrorCode,
    LimitViolation,
    Platform,
    app_code_hash,
    encode_query,
    endpoint,
    error_body,
    format_date,
    format_datetime,
    format_epoch,
    headers,
    java_hashmap_order,
    limits,
    models,
    parse_datetime,
    parse_query_bool,
    status_for,
)
from contract.formats import is_date, is_datetime

# ---------------------------------------------------------------------------------------------
# java.util.HashMap iteration orders, computed once with OpenJDK 17.0.15 (java HM.java):
#     HashMap<String,Object> m = new HashMap<>(); for (String k : keys) m.put(k, "x");
#     System.out.println(String.join(",", m.keySet()));
# Keys: insertion order -> iteration order.
JAVA_HASHMAP_ORDERS: list[tuple[list[str], list[str]]] = [
    # personalize's three flags, whatever order they are put in
    (
        ["forceDepersonalize", "keepAsLead", "setDeviceAsPrimary"],
        ["setDeviceAsPrimary", "keepAsLead", "forceDepersonalize"],
    ),
    (
        ["setDeviceAsPrimary", "keepAsLead", "forceDepersonalize"],
        ["setDeviceAsPrimary", "keepAsLead", "forceDepersonalize"],
    ),
    (
        ["keepAsLead", "forceDepersonalize", "setDeviceAsPrimary"],
        ["setDeviceAsPrimary", "keepAsLead", "forceDepersonalize"],
    ),
    (["ri"], ["ri"]),
    (["validate"], ["validate"]),
    (["platformType"], ["platformType"]),
    (["ri", "rt"], ["rt", "ri"]),
    (["rt", "ri"], ["rt", "ri"]),
    (["platformType", "validate", "ri", "rt", "keepAsLead"], ["rt", "keepAsLead", "ri", "platformType", "validate"]),
    # the inbox filter keys
    (["dateTimeFrom", "dateTimeTo", "messageTopic", "limit"], ["dateTimeFrom", "messageTopic", "limit", "dateTimeTo"]),
    # "Aa" and "BB" share a hash code, "platformType" and "limit" a bucket: insertion order kept
    (["platformType", "limit"], ["platformType", "limit"]),
    (["limit", "platformType"], ["limit", "platformType"]),
    (["BB", "Aa", "x"], ["BB", "Aa", "x"]),
    (["Aa", "BB", "x"], ["Aa", "BB", "x"]),
    # 15 keys: the table grows from 16 to 32 buckets at the 13th
    (
        [f"k{i}" for i in range(15)],
        ["k0", "k1", "k2", "k3", "k4", "k5", "k11", "k6", "k10", "k7", "k13", "k8", "k12", "k9", "k14"],
    ),
    # String.hashCode runs over UTF-16 code units (a surrogate pair for the emoji)
    (["čšž", "ÿ", "\U0001f600"], ["\U0001f600", "čšž", "ÿ"]),
]


@pytest.mark.parametrize(("keys", "java"), JAVA_HASHMAP_ORDERS, ids=lambda v: ",".join(v)[:40])
def test_java_hashmap_order_matches_a_real_jvm(keys: list[str], java: list[str]) -> None:
    assert java_hashmap_order(keys) == java


# ---------------------------------------------------------------------------------------------
# dialects


def test_dialect_spellings_and_transport() -> None:
    assert (Dialect.IOS.true, Dialect.IOS.false) == ("1", "0")
    assert (Dialect.ANDROID.true, Dialect.ANDROID.false) == ("true", "false")
    assert Dialect.IOS.real_patch is True
    assert Dialect.ANDROID.real_patch is False
    assert (Dialect.IOS.platform_type, Dialect.ANDROID.platform_type) == ("APNS", "GCM")
    assert (Dialect.IOS.os_name, Dialect.ANDROID.os_name) == ("iOS", "Android")


def test_platforms_map_to_dialects_and_push_services() -> None:
    assert [(p.dialect, p.push_service_type) for p in Platform] == [
        (Dialect.IOS, "APNS"),
        (Dialect.ANDROID, "Firebase"),
        (Dialect.ANDROID, "HMS"),
    ]


def test_ios_query_is_sorted_with_one_and_zero() -> None:
    query = encode_query(Dialect.IOS, {"setDeviceAsPrimary": True, "keepAsLead": False, "forceDepersonalize": True})
    assert query == [("forceDepersonalize", "1"), ("keepAsLead", "0"), ("setDeviceAsPrimary", "1")]


def test_android_query_is_in_hashmap_order_with_true_and_false() -> None:
    query = encode_query(Dialect.ANDROID, {"forceDepersonalize": True, "keepAsLead": False, "setDeviceAsPrimary": True})
    assert query == [("setDeviceAsPrimary", "true"), ("keepAsLead", "false"), ("forceDepersonalize", "true")]


def test_non_boolean_query_values_are_sent_as_text() -> None:
    # platformType and limit share a bucket: insertion order (see JAVA_HASHMAP_ORDERS)
    assert encode_query(Dialect.ANDROID, {"platformType": "GCM", "limit": 20}) == [
        ("platformType", "GCM"),
        ("limit", "20"),
    ]
    assert encode_query(Dialect.IOS, {"platformType": "APNS"}) == [("platformType", "APNS")]


@pytest.mark.parametrize(
    ("text", "value"),
    [("1", True), ("true", True), ("TRUE", True), ("True", True), ("0", False), ("false", False), ("False", False)],
)
def test_query_booleans_parse_in_either_dialect(text: str, value: bool) -> None:
    assert parse_query_bool(text) is value


@pytest.mark.parametrize("text", ["yes", "2", "tRUE", " true", "on", "-1"])
def test_other_query_boolean_spellings_are_errors(text: str) -> None:
    with pytest.raises(ValueError, match="is not a boolean"):
        parse_query_bool(text)


def test_absent_query_boolean_takes_the_default() -> None:
    assert parse_query_bool(None) is False
    assert parse_query_bool("", default=True) is True


# ---------------------------------------------------------------------------------------------
# endpoints


def test_create_is_rt_on_ios_and_ri_on_android() -> None:
    ios = endpoint("create_installation").build(Dialect.IOS, body={"pushServiceType": "APNS"})
    android = endpoint("create_installation").build(Dialect.ANDROID, body={"pushServiceType": "Firebase"})
    assert (ios.method, ios.target, dict(ios.headers)) == ("POST", "/mobile/1/appinstance?rt=1", {})
    assert (android.method, android.target, dict(android.headers)) == ("POST", "/mobile/1/appinstance?ri=true", {})
    assert ios.body == {"pushServiceType": "APNS"}


@pytest.mark.parametrize(("name", "suffix"), [("patch_installation", ""), ("patch_user", "/user")])
def test_patch_is_post_with_override_on_android(name: str, suffix: str) -> None:
    android = endpoint(name).build(Dialect.ANDROID, path_params={"pushRegId": "R1"}, body={"a": None})
    assert android.method == "POST"
    assert dict(android.headers) == {"X-HTTP-Method-Override": "PATCH"}
    assert android.target == f"/mobile/1/appinstance/R1{suffix}"
    assert android.body == {"a": None}  # null kept: it deletes
    ios = endpoint(name).build(Dialect.IOS, path_params={"pushRegId": "R1"}, body={"a": None})
    assert ios.method == "PATCH"
    assert dict(ios.headers) == {}


def test_fixed_queries_of_each_dialect() -> None:
    def target(name: str, dialect: Dialect) -> str:
        return endpoint(name).build(dialect, path_params={"pushRegId": "R"}).target

    assert target("patch_installation", Dialect.IOS) == "/mobile/1/appinstance/R?rt=0"
    assert target("get_installation", Dialect.IOS) == "/mobile/1/appinstance/R?rt=1"
    assert target("get_installation", Dialect.ANDROID) == "/mobile/1/appinstance/R"
    assert target("get_user", Dialect.IOS) == "/mobile/1/appinstance/R/user?ri=1&rt=0"
    assert target("get_user", Dialect.ANDROID) == "/mobile/1/appinstance/R/user?ri=true"
    assert target("patch_user", Dialect.IOS) == "/mobile/1/appinstance/R/user?ri=0&rt=0"
    assert target("sync_messages", Dialect.IOS) == "/mobile/5/messages?platformType=APNS"
    assert target("sync_messages", Dialect.ANDROID) == "/mobile/5/messages?platformType=GCM"
    assert target("send_mo", Dialect.ANDROID) == "/mobile/1/messages/mo?platformType=GCM"
    assert target("version", Dialect.IOS) == "/mobile/3/version?platformType=APNS"
    assert target("base_url", Dialect.ANDROID) == "/mobile/1/baseurl"
    assert target("depersonalize", Dialect.ANDROID) == "/mobile/1/appinstance/R/depersonalize"
    assert target("session_report", Dialect.IOS) == "/mobile/1/appinstance/R/user/events/session"


def test_caller_flags_are_always_sent() -> None:
    personalize = endpoint("personalize")
    ios = personalize.build(Dialect.IOS, path_params={"pushRegId": "R"}, flags={"keepAsLead": True})
    assert ios.target == "/mobile/1/appinstance/R/personalize?forceDepersonalize=0&keepAsLead=1&setDeviceAsPrimary=0"
    android = personalize.build(Dialect.ANDROID, path_params={"pushRegId": "R"})
    assert android.query == (
        ("setDeviceAsPrimary", "false"),
        ("keepAsLead", "false"),
        ("forceDepersonalize", "false"),
    )
    events = endpoint("custom_events")
    assert events.build(Dialect.IOS, path_params={"pushRegId": "R"}, flags={"validate": True}).query == (
        ("validate", "1"),
    )
    assert events.build(Dialect.ANDROID, path_params={"pushRegId": "R"}).query == (("validate", "false"),)


def test_dialect_only_endpoints_refuse_the_other_dialect() -> None:
    with pytest.raises(ValueError, match="the android SDK never calls delete_installation"):
        endpoint("delete_installation").build(Dialect.ANDROID, path_params={"pushRegId": "R"})
    with pytest.raises(ValueError, match="the android SDK never calls delivery_report"):
        endpoint("delivery_report").build(Dialect.ANDROID)
    with pytest.raises(ValueError, match="the ios SDK never calls repersonalize"):
        endpoint("repersonalize").build(Dialect.IOS, path_params={"pushRegId": "R"})


def test_unknown_flags_and_endpoints_are_errors() -> None:
    with pytest.raises(ValueError, match=r"takes no query flags \['validate'\]"):
        endpoint("personalize").build(Dialect.IOS, path_params={"pushRegId": "R"}, flags={"validate": True})
    with pytest.raises(KeyError, match="no Mobile API endpoint 'nope'"):
        endpoint("nope")


def test_endpoint_table() -> None:
    assert [(e.name, e.method, e.template) for e in ENDPOINTS] == [
        ("create_installation", "POST", "/mobile/1/appinstance"),
        ("patch_installation", "PATCH", "/mobile/1/appinstance/{pushRegId}"),
        ("get_installation", "GET", "/mobile/1/appinstance/{pushRegId}"),
        ("delete_installation", "DELETE", "/mobile/1/appinstance/{pushRegId}"),
        ("get_user", "GET", "/mobile/1/appinstance/{pushRegId}/user"),
        ("patch_user", "PATCH", "/mobile/1/appinstance/{pushRegId}/user"),
        ("personalize", "POST", "/mobile/1/appinstance/{pushRegId}/personalize"),
        ("repersonalize", "POST", "/mobile/1/appinstance/{pushRegId}/repersonalize"),
        ("depersonalize", "POST", "/mobile/1/appinstance/{pushRegId}/depersonalize"),
        ("session_report", "POST", "/mobile/1/appinstance/{pushRegId}/user/events/session"),
        ("custom_events", "POST", "/mobile/1/appinstance/{pushRegId}/user/events/custom"),
        ("sync_messages", "POST", "/mobile/5/messages"),
        ("seen_messages", "POST", "/mobile/2/messages/seen"),
        ("send_mo", "POST", "/mobile/1/messages/mo"),
        ("delivery_report", "POST", "/mobile/1/messages/deliveryreport"),
        ("version", "GET", "/mobile/3/version"),
        ("base_url", "GET", "/mobile/1/baseurl"),
    ]
    assert endpoint("patch_user").stats_name == "PATCH /mobile/1/appinstance/{pushRegId}/user"


def test_build_copies_the_body() -> None:
    body = {"isPrimary": True}
    wire = endpoint("patch_installation").build(Dialect.IOS, path_params={"pushRegId": "R"}, body=body)
    body["isPrimary"] = False
    assert wire.body == {"isPrimary": True}


# ---------------------------------------------------------------------------------------------
# formats


def test_app_code_hash_is_the_first_ten_hex_digits_of_sha256() -> None:
    # SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad (FIPS 180-2)
    assert app_code_hash("abc") == "ba7816bf8f"
    # SHA-256("") = e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
    assert app_code_hash("") == "e3b0c44298"


def test_timestamps_are_utc_seconds_with_a_literal_z() -> None:
    assert format_datetime(datetime(2024, 5, 1, 10, 0, 0, 999_999, tzinfo=UTC)) == "2024-05-01T10:00:00Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_datetime(datetime(2024, 5, 1, 1, 30, 5, tzinfo=plus_two)) == "2024-04-30T23:30:05Z"
    assert format_epoch(0) == "1970-01-01T00:00:00Z"
    assert format_epoch(1714557600.9) == "2024-05-01T10:00:00Z"
    assert format_date(datetime(2024, 2, 29).date()) == "2024-02-29"
    with pytest.raises(ValueError, match="naive datetime"):
        format_datetime(datetime(2024, 5, 1))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00Z", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T12:00:00+02:00", datetime(2024, 5, 1, 10, tzinfo=UTC)),
        ("2024-05-01T10:00:00.250Z", datetime(2024, 5, 1, 10, 0, 0, 250_000, tzinfo=UTC)),
    ],
)
def test_parse_datetime_reads_any_iso_timestamp_with_a_zone(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2024-05-01T10:00:00", "has no time zone"),
        ("2024-05-01", "has no time zone"),
        ("yesterday", "is not an ISO-8601 timestamp"),
        ("2024-05-01T10:00:00Z" + " " * 30, "timestamp must be an ISO-8601 string"),
        # in range where it is written, out of range in UTC
        ("0001-01-01T00:00:00+01:00", "is out of range in UTC"),
        ("9999-12-31T23:59:59-01:00", "is out of range in UTC"),
    ],
)
def test_parse_datetime_errors_are_value_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_datetime(text)


def test_parse_datetime_refuses_non_strings() -> None:
    with pytest.raises(ValueError, match="must be an ISO-8601 string"):
        parse_datetime(1714557600)  # type: ignore[arg-type]


def test_date_and_datetime_shapes() -> None:
    assert is_date("2024-02-29") and not is_date("2023-02-29") and not is_date("2024-02-29\n")
    assert not is_date("24-02-29") and not is_date("2024-2-29")
    assert is_datetime("2024-05-01T10:00:00Z")
    assert not is_datetime("2024-05-01T10:00:00+00:00")
    assert not is_datetime("2024-05-01T25:00:00Z")
    assert not is_datetime("2024-05-01T10:00:00Z\n")


# ---------------------------------------------------------------------------------------------
# headers and User-Agents


def test_header_names() -> None:
    assert (headers.PUSH_REGISTRATION_ID, headers.INSTALLATION_ID, headers.APPLICATION_CODE) == (
        "pushregistrationid",
        "installationid",
        "applicationcode",
    )
    assert (headers.FOREGROUND, headers.SESSION_ID, headers.METHOD_OVERRIDE, headers.NEW_BASE_URL) == (
        "foreground",
        "sessionId",
        "X-HTTP-Method-Override",
        "New-Base-URL",
    )


@pytest.mark.parametrize(
    ("value", "code"),
    [
        ("App abc-123", "abc-123"),
        ("app abc", "abc"),
        ("APP  abc ", "abc"),
        ("App", None),
        ("App   ", None),
        ("Bearer abc", None),
        ("Basic abc", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_app_authorization(value: str | None, code: str | None) -> None:
    assert headers.parse_app_authorization(value) == code


def test_app_authorization_round_trips() -> None:
    assert headers.app_authorization("C0DE") == "App C0DE"
    assert headers.parse_app_authorization(headers.app_authorization("C0DE")) == "C0DE"


def test_android_user_agent_has_fourteen_additions_and_no_space_before_the_parenthesis() -> None:
    additions = [
        "UPSIDE_DOWN_CAKE",
        "14",
        "arm64-v8a",
        "Pixel 8",
        "Google",
        "Acme ☕ Café",
        "2.0",
        "Ana's Pixel",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    agent = headers.android_user_agent("15.0.0", additions)
    expected = "Infobip Mobile API Client/15.0.0(UPSIDE_DOWN_CAKE;14;arm64-v8a;Pixel 8;Google;Acme  Caf;2.0;Ana's Pixel"
    assert agent == expected + ";;;;;;)"
    assert headers.user_agent_matches(Dialect.ANDROID, agent)
    assert not headers.user_agent_matches(Dialect.IOS, agent)
    with pytest.raises(ValueError, match="14 additions, got 13"):
        headers.android_user_agent("15.0.0", additions[:13])


def test_ios_user_agent_has_eleven_fields() -> None:
    fields = ["iOS", "17.2", "", "iPhone 14 Pro", "", "com.acme.app", "3.1", "Jane's iPhone", "", "", ""]
    agent = headers.ios_user_agent("15.5.2", fields)
    assert agent == "MobileMessaging/15.5.2(iOS;17.2;;iPhone 14 Pro;;com.acme.app;3.1;Jane's iPhone;;;)"
    assert headers.user_agent_matches(Dialect.IOS, agent)
    assert not headers.user_agent_matches(Dialect.ANDROID, agent)
    with pytest.raises(ValueError, match="11 fields, got 12"):
        headers.ios_user_agent("15.5.2", [*fields, ""])


@pytest.mark.parametrize(
    ("dialect", "agent", "matches"),
    [
        # a plugin version after a space (iOS keeps it in the User-Agent)
        (Dialect.IOS, "MobileMessaging/15.5.2 7.1.0(iOS;17.2;;iPhone;;b;1;d;;;)", True),
        # a device named with parentheses: the SDKs escape nothing
        (Dialect.IOS, "MobileMessaging/15.5.2(iOS;17.2;;iPhone;;b;1;Jane's iPhone (2);;;)", True),
        (Dialect.ANDROID, "Infobip Mobile API Client/15.0.0(;;;;;;;Pixel (work);;;;;;)", True),
        (Dialect.IOS, "MobileMessaging/15.5.2(iOS;17.2;;iPhone;;b;1;d;;)", False),  # 10 fields
        (Dialect.IOS, "MobileMessaging/15.5.2(iOS;17.2;;iPhone;;b;1;d;;;)\n", False),
        (Dialect.ANDROID, "Infobip Mobile API Client/15.0.0 (;;;;;;;;;;;;;)", False),  # space before (
        (Dialect.ANDROID, "Infobip Mobile API Client/15.0.0(;;;;;;;;;;;;)", False),  # 13 additions
        (Dialect.ANDROID, "okhttp/4.12.0", False),
    ],
)
def test_user_agent_shapes(dialect: Dialect, agent: str, matches: bool) -> None:
    assert headers.user_agent_matches(dialect, agent) is matches


# ---------------------------------------------------------------------------------------------
# limits


def _violation(call: object, *args: object, **kwargs: object) -> LimitViolation:
    assert callable(call)
    with pytest.raises(LimitViolation) as caught:
        call(*args, **kwargs)
    return caught.value


def _email(length: int) -> str:
    """A valid address of exactly ``length`` characters."""
    domain = "@example.com"
    local = "a" * min(64, length - len(domain))
    labels = length - len(domain) - len(local)
    middle = ""
    while labels > 0:
        chunk = min(labels, 63)
        if chunk == 1:  # a label needs a dot and a character
            local = local[:-1]
            chunk = 2
        middle += "b" * (chunk - 1) + "."
        labels -= chunk
    address = local + "@" + middle + "example.com"
    assert len(address) == length, len(address)
    return address


@pytest.mark.parametrize(
    ("user", "code", "message"),
    [
        ({"externalUserId": "x" * 257}, ErrorCode.USER_IDENTITY_INVALID, "externalUserId is 257 characters"),
        ({"externalUserId": "  "}, ErrorCode.USER_IDENTITY_INVALID, "externalUserId is blank"),
        ({"firstName": "f" * 256}, ErrorCode.REQUEST_FORMAT_INVALID, "firstName is 256 characters"),
        ({"lastName": "l" * 256}, ErrorCode.REQUEST_FORMAT_INVALID, "lastName is 256 characters"),
        ({"middleName": "m" * 51}, ErrorCode.REQUEST_FORMAT_INVALID, "middleName is 51 characters"),
        ({"emails": [f"u{i}@example.com" for i in range(101)]}, ErrorCode.EMAIL_INVALID, "101 emails"),
        ({"emails": [{"address": _email(256)}]}, ErrorCode.EMAIL_INVALID, "email is 256 characters"),
        ({"emails": [{"address": "not-an-address"}]}, ErrorCode.EMAIL_INVALID, "is not a valid address"),
        ({"phones": [str(385910000000 + i) for i in range(101)]}, ErrorCode.PHONE_INVALID, "101 phones"),
        ({"phones": [{"number": "12ab45678"}]}, ErrorCode.PHONE_INVALID, "is not an international number"),
        ({"birthday": "1990-02-30"}, ErrorCode.REQUEST_FORMAT_INVALID, "is not a yyyy-MM-dd date"),
        ({"tags": [f"t{i}" for i in range(1001)]}, ErrorCode.REQUEST_FORMAT_INVALID, "1001 tags"),
        ({"tags": ["t" * 257]}, ErrorCode.REQUEST_FORMAT_INVALID, "tag is 257 characters"),
        ({"tags": [" "]}, ErrorCode.REQUEST_FORMAT_INVALID, "a tag is blank"),
        ({"customAttributes": {"a": "v" * 4097}}, ErrorCode.REQUEST_FORMAT_INVALID, "is 4097 characters"),
    ],
)
def test_validate_user_limits(user: dict[str, object], code: ErrorCode, message: str) -> None:
    violation = _violation(limits.validate_user, user)
    assert violation.code is code
    assert message in violation.text


def test_validate_user_accepts_values_at_the_limits() -> None:
    limits.validate_user(
        {
            "externalUserId": "x" * 256,
            "firstName": "f" * 255,
            "lastName": "l" * 255,
            "middleName": "m" * 50,
            "emails": [{"address": _email(255)}, *(f"u{i}@example.com" for i in range(99))],
            "phones": [str(385910000000 + i) for i in range(100)],
            "birthday": "2024-02-29",
            "tags": ["t" * 256, *(f"t{i}" for i in range(999))],
            "customAttributes": {"a": "v" * 4096},
        }
    )


def test_client_side_checks_skip_formats() -> None:
    # the SDKs check lengths and counts only; formats are the backend's
    limits.validate_user({"emails": ["nope"], "phones": ["abc"], "birthday": "soon"}, check_formats=False)
    assert (
        _violation(limits.validate_user, {"emails": ["e"] * 101}, check_formats=False).code is ErrorCode.EMAIL_INVALID
    )


@pytest.mark.parametrize(
    ("number", "normal"),
    [
        ("+385 91 123 4567", "385911234567"),
        ("00385911234567", "385911234567"),
        ("(385) 91-123.4567", "385911234567"),
        ("385911234567", "385911234567"),
        ("123456", "123456"),
        ("123456789012345", "123456789012345"),
    ],
)
def test_normalize_phone(number: str, normal: str) -> None:
    assert limits.normalize_phone(number) == normal


@pytest.mark.parametrize(
    "number",
    ["12345", "1234567890123456", "+385 91 ABC", "٣٨٥٩١١٢٣٤٥٦٧", "", "+", "1" * 51, "385 91\x00123"],
)
def test_normalize_phone_refuses_what_is_not_an_international_number(number: str) -> None:
    assert _violation(limits.normalize_phone, number).code is ErrorCode.PHONE_INVALID


def test_normalize_email_is_case_insensitive_and_trimmed() -> None:
    assert limits.normalize_email("  Alice.Smith@Example.COM ") == "alice.smith@example.com"


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        (True, "BOOLEAN"),
        (12, "INTEGER"),
        (12.0, "DECIMAL"),
        ("2024-05-01", "DATE"),
        ("2024-05-01T10:00:00Z", "DATE_TIME"),
        ("2024-13-01", "STRING"),
        ("2024-05-01T10:00:00+00:00", "STRING"),
        ("hello", "STRING"),
        ([{"a": 1}], "LIST_OF_OBJECTS"),
    ],
)
def test_custom_value_types(value: object, kind: str) -> None:
    assert limits.custom_value_type(value) == kind


def test_custom_value_type_refuses_objects() -> None:
    assert _violation(limits.custom_value_type, {"a": 1}).code is ErrorCode.REQUEST_FORMAT_INVALID


def test_custom_attributes_at_the_limits_are_accepted() -> None:
    limits.validate_custom_attributes(
        {
            "n" * 256: "v" * 4096,
            "list": [{"k": "x" * 4000}],
            "mixed": [{"k": 1, "d": "2024-05-01"}, {"k": 2.5, "d": None}],
            "big": limits.NUMBER_MAX,
            "small": -limits.NUMBER_MAX - 1,
            "gone": None,
            **{f"a{i}": i for i in range(494)},
        }
    )


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"a": "v" * 4097}, "'a' is 4097 characters; the limit is 4096"),
        ({"a": [{"k": "x" * 4090}]}, "'a' is 4100 characters"),  # a list is measured on its JSON
        ({"": 1}, "custom attribute name '' must be 1 to 256 characters"),
        ({"n" * 257: 1}, "must be 1 to 256 characters"),
        ({"a{b}": 1}, "without {}[]"),
        ({"a[0]": 1}, "without {}[]"),
        ({"a": {"b": 1}}, "objects must be inside a list"),
        ({"a": [{}]}, "list items must be non-empty objects"),
        ({"a": [1, 2]}, "list items must be non-empty objects"),
        ({"a": [{"k": 1}, {"j": 1}]}, "every list item needs the same keys"),
        ({"a": [{"k": [1]}]}, "list items must be flat objects"),
        ({"a": [{"k": 1}, {"k": "one"}]}, "mixes DECIMAL and STRING"),
        ({"a": limits.NUMBER_MAX + 1}, "numbers are -9223372036854775808 to 9223372036854775807"),
        ({"a": -limits.NUMBER_MAX - 2}, "numbers are"),
        ({"a": 1e19}, "numbers are"),
        ({"a": [{"k": 2**64}]}, "numbers are"),
        ({f"a{i}": i for i in range(501)}, "501 custom attributes in one call; the limit is 500"),
    ],
)
def test_custom_attribute_limits(attributes: dict[str, object], message: str) -> None:
    violation = _violation(limits.validate_custom_attributes, attributes)
    assert violation.code is ErrorCode.REQUEST_FORMAT_INVALID
    assert message in violation.text


def test_limit_numbers() -> None:
    assert (limits.EXTERNAL_USER_ID_MAX, limits.NAME_MAX, limits.MIDDLE_NAME_MAX) == (256, 255, 50)
    assert (limits.EMAIL_MAX, limits.EMAILS_MAX, limits.PHONES_MAX, limits.PHONE_MAX) == (255, 100, 100, 50)
    assert (limits.CUSTOM_VALUE_MAX, limits.CUSTOM_ATTRIBUTE_NAME_MAX, limits.CUSTOM_ATTRIBUTES_MAX) == (4096, 256, 500)
    assert (limits.TAG_MAX, limits.TAGS_MAX, limits.NUMBER_MAX) == (256, 1000, 2**63 - 1)


# ---------------------------------------------------------------------------------------------
# errors


def test_error_envelope_is_compact_utf8_json() -> None:
    body = error_body(ErrorCode.NO_REGISTRATION, "no registration 'é'")
    expected = '{"requestError":{"serviceException":{"messageId":"NO_REGISTRATION","text":"no registration \'é\'"}}}'
    assert body == expected.encode("utf-8")
    assert json.loads(body) == {
        "requestError": {"serviceException": {"messageId": "NO_REGISTRATION", "text": "no registration 'é'"}}
    }


def test_status_of_every_error_code() -> None:
    assert {code.value: status_for(code) for code in ErrorCode} == {
        "USER_IDENTITY_INVALID": 400,
        "EMAIL_INVALID": 400,
        "PHONE_INVALID": 400,
        "REQUEST_FORMAT_INVALID": 400,
        "INVALID_APPLICATION_CODE": 401,
        "UNAUTHORIZED": 401,
        "FORBIDDEN": 403,
        "NO_REGISTRATION": 404,
        "NOT_FOUND": 404,
        "AMBIGUOUS_PERSONALIZE_CANDIDATES": 409,
        "PERSONALIZATION_IMPOSSIBLE": 409,
        "USER_MERGE_INTERRUPTED": 409,
        "USER_DATA_RESTRICTED": 409,
        "METHOD_NOT_ALLOWED": 405,
        "PAYLOAD_TOO_LARGE": 413,
        "UNSUPPORTED_MEDIA_TYPE": 415,
        "INTERNAL_ERROR": 500,
    }


def test_invalid_parameter_codes_are_the_android_sdks() -> None:
    # MAsyncTask.invalidParameterErrorCodes
    assert (
        frozenset(
            {
                "EMAIL_INVALID",
                "PHONE_INVALID",
                "USER_IDENTITY_INVALID",
                "REQUEST_FORMAT_INVALID",
                "USER_MERGE_INTERRUPTED",
                "USER_DATA_RESTRICTED",
                "PERSONALIZATION_IMPOSSIBLE",
                "AMBIGUOUS_PERSONALIZE_CANDIDATES",
                "NO_REGISTRATION",
            }
        )
        == INVALID_PARAMETER_CODES
    )


# ---------------------------------------------------------------------------------------------
# models


def test_models_are_strict_about_types_and_lenient_about_unknown_keys() -> None:
    installation = models.Installation.model_validate_json('{"isPrimary":true,"futureField":1}')
    assert installation.to_wire() == {"isPrimary": True}
    for bad in ('{"isPrimary":"true"}', '{"isPrimary":1}', '{"sdkVersion":15}', '{"pushServiceType":"FCM"}'):
        with pytest.raises(ValidationError):
            models.Installation.model_validate_json(bad)


def test_to_wire_keeps_explicit_nulls_for_patch() -> None:
    user = models.User.model_validate_json('{"firstName":null,"customAttributes":{"a":null,"b":1}}')
    assert user.to_wire() == {"firstName": None, "customAttributes": {"a": None, "b": 1}}
    assert user.model_fields_set == {"firstName", "customAttributes"}


def test_mo_request_reads_from() -> None:
    request = models.MoRequest.model_validate_json('{"from":"R1","messages":[{"text":"hi"}]}')
    assert request.sender == "R1"
    assert request.to_wire() == {"from": "R1", "messages": [{"text": "hi"}]}


def test_timestamps_in_bodies_are_canonical() -> None:
    report = models.SessionReport.model_validate_json(
        '{"sessionStarts":["2024-05-01T12:00:00+02:00"],"sessionBounds":{"2024-05-01T08:00:00.900Z":"2024-05-01T08:10:00Z"}}'
    )
    assert report.sessionStarts == ["2024-05-01T10:00:00Z"]
    assert report.sessionBounds == {"2024-05-01T08:00:00Z": "2024-05-01T08:10:00Z"}
    for bad in ('{"sessionStarts":["2024-05-01T10:00:00"]}', '{"sessionStarts":["0001-01-01T00:00:00+05:00"]}'):
        with pytest.raises(ValidationError):
            models.SessionReport.model_validate_json(bad)


@pytest.mark.parametrize(
    ("model", "raw"),
    [
        (models.User, '{"customAttributes":{"a":NaN}}'),
        (models.User, '{"customAttributes":{"a":Infinity}}'),
        (models.User, '{"customAttributes":{"a":1e400}}'),
        (models.User, '{"customAttributes":{"a":[{"k":-Infinity}]}}'),
        (models.CustomEventsBody, '{"events":[{"definitionId":"d","properties":{"p":NaN}}]}'),
        (models.MoRequest, '{"messages":[{"customPayload":{"deep":[{"x":NaN}]}}]}'),
    ],
)
def test_nan_and_infinity_are_not_json_numbers(model: type[models.BaseModel], raw: str) -> None:
    with pytest.raises(ValidationError):
        model.model_validate_json(raw)


def test_personalize_body_needs_an_identity_object() -> None:
    with pytest.raises(ValidationError):
        models.PersonalizeBody.model_validate_json('{"userAttributes":{}}')
    body = models.PersonalizeBody.model_validate_json('{"userIdentity":{"externalUserId":"a"}}')
    assert body.userAttributes is None


@pytest.mark.parametrize("year", [1, 999, 1000, 2024, 9999])
def test_a_timestamp_of_any_year_round_trips(year: int) -> None:
    """strftime("%Y") writes year 999 as "999", which no ISO-8601 parser reads back: a session
    report with such a start was accepted and then broke the server (a 500)."""
    from datetime import UTC, date, datetime

    from contract.formats import format_date, format_datetime, parse_datetime

    moment = datetime(year, 3, 4, 5, 6, 7, tzinfo=UTC)
    text = format_datetime(moment)
    assert text == f"{year:04d}-03-04T05:06:07Z" and parse_datetime(text) == moment
    assert format_date(date(year, 3, 4)) == f"{year:04d}-03-04"
