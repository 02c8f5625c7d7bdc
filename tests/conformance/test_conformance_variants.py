"""Each check can fail: the suite against deliberately broken variants of the reference server.

Every variant breaks one rule (a mutated rule, a missing header, a wrong error code, a dialect the
server refuses...) and the test asserts exactly which checks fail: the one that guards the rule, and
the others that depend on it, nothing else. The runs have the server's Push API key, so the checks
that send a message run too.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from brokenkit import Answer, DirectASGI, Mutate, Req, ResponseHook, error, ok_empty, rename_code, rewrite_json
from starlette.types import ASGIApp

from conformance import CATALOGUE, Verdict, run_checks
from contract import ErrorCode, Platform
from contract import push_api as pa
from contract.messages import apns_payload, parse_sync_payload
from server_stub import create_app, push_api, rules
from server_stub.errors import ApiError
from server_stub.rules import Context, installations, messages, persons

with warnings.catch_warnings():
    warnings.simplefilter("ignore")

CODE = "VARIANT-CODE"
API_KEY = "VARIANT-PUSH-KEY"
APPINSTANCE = "/mobile/1/appinstance"
SYNC = "/mobile/5/messages"


def suite_failures(app: ASGIApp) -> dict[str, set[str]]:
    """Failed check ids (with their platforms) of a full run against ``app``."""
    with httpx.Client(transport=DirectASGI(app), base_url="http://testserver") as client:  # one event loop
        report = run_checks(client, "http://testserver", CODE, run_id="variant", api_key=API_KEY)
    failed: dict[str, set[str]] = {}
    for result in report.results:
        if result.verdict is Verdict.FAIL:
            failed.setdefault(result.check.id, set()).add(result.platform)
            assert result.expected and result.observed and result.exchange is not None, result.name
    return failed


def base() -> ASGIApp:
    return create_app(memory=True, app_codes=[CODE], api_keys=[API_KEY])


def on(endpoint_suffix: str, method: str | None = None) -> Callable[[Req], bool]:
    def match(req: Req) -> bool:
        if not req.path.startswith("/mobile/"):
            return False
        if method is not None and req.override() != method:
            return False
        return req.path.endswith(endpoint_suffix) if endpoint_suffix else True

    return match


def is_installation(req: Req) -> bool:
    parts = req.path.split("/")
    return req.path.startswith(APPINSTANCE) and len(parts) <= 5


def is_user(req: Req) -> bool:
    return req.path.startswith(APPINSTANCE + "/") and req.path.endswith("/user")


def request_hook(match: Callable[[Req], bool], change: Callable[[Req], Req | Answer | None]) -> Any:
    return lambda req: change(req) if match(req) else None


def with_query(req: Req, **values: str) -> Req:
    req.query.update(values)
    return req


def with_body(req: Req, change: Callable[[Any], Any]) -> Req:
    import json

    data = req.json()
    if data is not None:
        req.body = json.dumps(change(data)).encode()
    return req


def drop_nulls(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    return value


def drop(key: str) -> Callable[[Any], Any]:
    return lambda data: {k: v for k, v in data.items() if k != key} if isinstance(data, dict) else data


def flag(name: str, value: str) -> Callable[[Req], Req]:
    def change(req: Req) -> Req:
        if name in req.query:
            req.query[name] = value
        return req

    return change


def _shared_installation_attributes() -> ASGIApp:
    """Installation custom attributes kept per person-less app: every installation shows all of them."""
    seen: dict[str, Any] = {}

    def record(req: Req) -> None:
        data = req.json()
        if req.override() == "PATCH" and is_installation(req) and isinstance(data, dict):
            for name, value in (data.get("customAttributes") or {}).items():
                if value is None:
                    seen.pop(name, None)
                else:
                    seen[name] = value
        return None

    def show(data: Any) -> Any:
        if isinstance(data, dict) and "pushRegId" in data:
            data["customAttributes"] = {**(data.get("customAttributes") or {}), **seen}
        return data

    return Mutate(
        base(), request=record, response=rewrite_json(lambda r: r.method == "GET" and is_installation(r), show)
    )


def _counter_suffix() -> Callable[[Any], Any]:
    counter = itertools.count()

    def change(data: Any) -> Any:
        ident = data.get("userIdentity") if isinstance(data, dict) else None
        if isinstance(ident, dict) and ident.get("externalUserId"):
            ident["externalUserId"] += f"-{next(counter)}"
        return data

    return change


def _shift_starts() -> Callable[[Any], Any]:
    counter = itertools.count(1)

    def change(data: Any) -> Any:
        from contract import format_epoch, parse_datetime

        if isinstance(data, dict) and data.get("sessionStarts"):
            n = next(counter)
            data["sessionStarts"] = [format_epoch(parse_datetime(s).timestamp() + n) for s in data["sessionStarts"]]
        return data

    return change


def _no_content_length(req: Req, status: int, headers: dict[str, str], body: bytes) -> Answer:
    if status >= 400:
        headers = {k: v for k, v in headers.items() if k != "content-length"}
    return status, headers, body


def _strings(data: Any) -> Any:
    if isinstance(data, dict) and isinstance(data.get("customAttributes"), dict):
        data["customAttributes"] = {
            k: (str(v).lower() if isinstance(v, bool) else v) for k, v in data["customAttributes"].items()
        }
    return data


def _never_clears_others(monkeypatch: pytest.MonkeyPatch) -> ASGIApp:
    def set_primary(ctx: Any, inst: Any, primary: bool) -> None:
        inst.is_primary = primary  # the mutated rule: other installations keep their flag

    monkeypatch.setattr(installations, "set_primary", set_primary)
    monkeypatch.setattr(persons, "set_primary", set_primary)
    return base()


def _over_limit(req: Req) -> bool:
    data = req.json()
    attrs = data.get("customAttributes") if isinstance(data, dict) else None
    if req.override() != "PATCH" or not isinstance(attrs, dict):
        return False
    return any("[" in name or (isinstance(v, str) and len(v) > 4096) for name, v in attrs.items())


def _status_hook(match: Callable[[Req], bool], answer: Answer) -> ResponseHook:
    return lambda req, st, h, b: answer if match(req) else (st, h, b)


def is_validated(req: Req) -> bool:
    return req.path.endswith("/user/events/custom") and req.query.get("validate") in ("1", "true")


def is_batch(req: Req) -> bool:
    return req.path.endswith("/user/events/custom") and req.query.get("validate") in ("0", "false")


def _never_revives(monkeypatch: pytest.MonkeyPatch) -> ASGIApp:
    monkeypatch.setattr(installations, "_revive", lambda *args: None)  # NO_REGISTRATION forever
    return base()


def _gone_sibling_no_registration(monkeypatch: pytest.MonkeyPatch) -> ASGIApp:
    real = Context.sibling

    def sibling(self: Context, reg_id: str) -> Any:
        try:
            return real(self, reg_id)
        except ApiError as exc:
            raise ApiError(ErrorCode.NO_REGISTRATION, exc.text) from None

    monkeypatch.setattr(Context, "sibling", sibling)
    return base()


def _strict_delete(monkeypatch: pytest.MonkeyPatch) -> ASGIApp:
    def delete_installation(ctx: Any, reg_id: str) -> None:  # the target must be active
        target = ctx.installation(reg_id)
        if ctx.caller.reg_id is not None and ctx.caller.reg_id != reg_id:
            ctx.installation(ctx.caller.reg_id)
        installations._end(ctx, target, "deleted")

    monkeypatch.setattr(rules, "delete_installation", delete_installation)
    return base()


VARIANTS: dict[str, tuple[Callable[[pytest.MonkeyPatch], ASGIApp], dict[str, set[str]]]] = {}


def variant(name: str, expected: dict[str, set[str]]) -> Callable[[Callable[[pytest.MonkeyPatch], ASGIApp]], None]:
    def register(build: Callable[[pytest.MonkeyPatch], ASGIApp]) -> None:
        VARIANTS[name] = (build, expected)

    return register


BOTH = {"ios", "android"}
IOS, ANDROID = {"ios"}, {"android"}


def everything_but(*ids: str) -> dict[str, set[str]]:
    """Every check on every platform it runs for, except ``ids``."""
    return {c.id: set(c.platforms(("ios", "android"))) for c in CATALOGUE if c.id not in ids}


variant("create answers no pushRegId", everything_but("NOR-001"))(
    lambda mp: Mutate(
        base(), response=rewrite_json(lambda r: r.method == "POST" and r.path == APPINSTANCE, drop("pushRegId"))
    )
)
variant("rt ignored: no token in installation answers", {"REG-002": IOS})(
    lambda mp: Mutate(base(), response=rewrite_json(is_installation, drop("pushServiceToken")))
)
variant(
    "ri ignored: no instances in user answers",
    {"REG-003": BOTH, "PER-005": BOTH, "DEP-001": BOTH, "PRI-001": BOTH, "NOR-003": ANDROID},
)(lambda mp: Mutate(base(), response=rewrite_json(lambda r: r.method == "GET" and is_user(r), drop("instances"))))
variant(
    "real PATCH refused (an Android-only server)",
    {
        "PAT-001": IOS,
        "PAT-003": IOS,
        "PAT-004": IOS,
        "PER-007": IOS,
        "PER-008": IOS,
        "PRI-001": IOS,
        "ATT-001": IOS,
        "ATT-002": IOS,
        "ATT-003": IOS,
        "ATT-004": IOS,
        "NOR-001": IOS,
        "NOR-002": IOS,
    },
)(
    lambda mp: Mutate(
        base(), request=request_hook(lambda r: r.method == "PATCH", lambda r: error(405, "METHOD_NOT_ALLOWED"))
    )
)
variant(
    "method override ignored (a real-PATCH-only server)",
    {
        "PAT-002": ANDROID,
        "PAT-003": ANDROID,
        "PAT-004": ANDROID,
        "PER-007": ANDROID,
        "PER-008": ANDROID,
        "PRI-001": ANDROID,
        "ATT-001": ANDROID,
        "ATT-002": ANDROID,
        "ATT-003": ANDROID,
        "ATT-004": ANDROID,
        "NOR-001": ANDROID,
        "NOR-003": ANDROID,
    },
)(
    lambda mp: Mutate(
        base(),
        request=request_hook(
            lambda r: r.method == "POST" and "x-http-method-override" in r.headers,
            lambda r: error(405, "METHOD_NOT_ALLOWED"),
        ),
    )
)
variant("nulls in PATCH bodies ignored", {"PAT-003": BOTH})(
    lambda mp: Mutate(
        base(), request=request_hook(lambda r: r.override() == "PATCH", lambda r: with_body(r, drop_nulls))
    )
)
variant("user PATCH replaces the user", {"PAT-004": BOTH})(
    lambda mp: Mutate(
        base(),
        request=request_hook(
            lambda r: r.override() == "PATCH" and is_user(r), lambda r: with_body(r, lambda d: {"firstName": None, **d})
        ),
    )
)
variant("personalize answers no instances", {"PER-001": BOTH, "PER-002": BOTH, "PER-007": BOTH})(
    lambda mp: Mutate(base(), response=rewrite_json(on("/personalize"), drop("instances")))
)
variant(
    "personalize never joins an existing person",
    {"PER-001": BOTH, "PER-005": BOTH, "DEP-002": BOTH, "NOR-002": IOS, "NOR-004": IOS, "NOR-006": BOTH},
)(lambda mp: Mutate(base(), request=request_hook(on("/personalize"), lambda r: with_body(r, _counter_suffix()))))
variant("ambiguous candidates answered with the wrong code", {"PER-003": BOTH})(
    lambda mp: Mutate(base(), response=rename_code("AMBIGUOUS_PERSONALIZE_CANDIDATES", "PERSONALIZATION_IMPOSSIBLE"))
)
variant("forceDepersonalize always on", {"PER-004": BOTH})(
    lambda mp: Mutate(
        base(),
        request=request_hook(
            on("/personalize"),
            lambda r: with_query(
                r, forceDepersonalize="true" if r.query.get("forceDepersonalize") in ("true", "false") else "1"
            ),
        ),
    )
)
variant("forceDepersonalize ignored", {"PER-005": BOTH})(
    lambda mp: Mutate(
        base(), request=request_hook(on("/personalize"), lambda r: with_query(r, forceDepersonalize="false"))
    )
)
variant("keepAsLead ignored", {"PER-006": BOTH})(
    lambda mp: Mutate(base(), request=request_hook(on("/personalize"), flag("keepAsLead", "false")))
)
variant("setDeviceAsPrimary ignored", {"PER-007": BOTH})(
    lambda mp: Mutate(base(), request=request_hook(on("/personalize"), flag("setDeviceAsPrimary", "false")))
)
variant("merge interrupted answered with the wrong code", {"PER-008": BOTH})(
    lambda mp: Mutate(base(), response=rename_code("USER_MERGE_INTERRUPTED", "USER_IDENTITY_INVALID"))
)
variant("depersonalize of self does nothing", {"DEP-001": BOTH})(
    lambda mp: Mutate(
        base(),
        request=request_hook(
            lambda r: r.path.endswith("/depersonalize") and r.path.split("/")[4] == r.headers.get("pushregistrationid"),
            lambda r: ok_empty(),
        ),
    )
)
variant("depersonalize of another device does nothing", {"DEP-002": BOTH})(
    lambda mp: Mutate(
        base(),
        request=request_hook(
            lambda r: r.path.endswith("/depersonalize") and r.path.split("/")[4] != r.headers.get("pushregistrationid"),
            lambda r: ok_empty(),
        ),
    )
)
variant("a new primary leaves the old one primary (mutated rule)", {"PER-007": BOTH, "PRI-001": BOTH})(
    _never_clears_others
)
variant("tags not in user answers", {"ATT-001": BOTH})(
    lambda mp: Mutate(base(), response=rewrite_json(lambda r: r.method == "GET" and is_user(r), drop("tags")))
)
variant("installation custom attributes shared by all installations", {"ATT-002": BOTH})(
    lambda mp: _shared_installation_attributes()
)
variant("boolean custom attributes answered as strings", {"ATT-003": BOTH})(
    lambda mp: Mutate(base(), response=rewrite_json(lambda r: r.method == "GET" and is_user(r), _strings))
)
variant("custom attributes over the limits accepted", {"ATT-004": BOTH})(
    lambda mp: Mutate(base(), request=request_hook(_over_limit, lambda r: ok_empty()))
)
variant("validate=false batches refused", {"EVT-001": BOTH, "EVT-004": BOTH, "NOR-001": BOTH})(
    lambda mp: Mutate(base(), request=request_hook(is_batch, lambda r: error(400, "REQUEST_FORMAT_INVALID")))
)
variant("validate=true not validated", {"EVT-002": BOTH})(
    lambda mp: Mutate(
        base(),
        request=request_hook(
            is_validated, lambda r: with_query(r, validate="false" if r.query["validate"] == "true" else "0")
        ),
    )
)
variant("validate=true always refused", {"EVT-003": BOTH})(
    lambda mp: Mutate(base(), request=request_hook(is_validated, lambda r: error(400, "REQUEST_FORMAT_INVALID")))
)
variant("validate=false batches dropped", {"EVT-004": BOTH, "NOR-001": BOTH})(
    lambda mp: Mutate(base(), request=request_hook(is_batch, lambda r: ok_empty()))
)
variant("session reports refused", {"SES-001": BOTH, "SES-002": BOTH, "SES-003": BOTH, "NOR-001": BOTH})(
    lambda mp: Mutate(
        base(), request=request_hook(on("/user/events/session"), lambda r: error(400, "REQUEST_FORMAT_INVALID"))
    )
)
variant("every report is a new App Launch", {"SES-002": BOTH})(
    lambda mp: Mutate(base(), request=request_hook(on("/user/events/session"), lambda r: with_body(r, _shift_starts())))
)
variant("session bounds ignored", {"SES-003": BOTH})(
    lambda mp: Mutate(
        base(), request=request_hook(on("/user/events/session"), lambda r: with_body(r, drop("sessionBounds")))
    )
)
variant(
    "NO_REGISTRATION answered as NOT_FOUND",
    {"NOR-001": BOTH, "NOR-002": IOS, "NOR-003": ANDROID, "NOR-004": IOS, "NOR-005": IOS},
)(lambda mp: Mutate(base(), response=rename_code("NO_REGISTRATION", "NOT_FOUND")))
variant("DELETE ignored", {"NOR-002": IOS, "NOR-005": IOS})(
    lambda mp: Mutate(base(), request=request_hook(lambda r: r.method == "DELETE", lambda r: ok_empty()))
)
variant("no repersonalize route", {"NOR-003": ANDROID})(
    lambda mp: Mutate(base(), request=request_hook(on("/repersonalize"), lambda r: error(404, "NOT_FOUND")))
)
variant("an uninstalled registration is never revived (mutated rule)", {"NOR-003": ANDROID})(_never_revives)
variant("a gone sibling answered NO_REGISTRATION (mutated rule)", {"NOR-006": BOTH})(_gone_sibling_no_registration)
variant("DELETE of a gone registration answered NO_REGISTRATION (mutated rule)", {"NOR-005": IOS})(_strict_delete)
variant("errors without Content-Length", {"ERR-001": BOTH})(lambda mp: Mutate(base(), response=_no_content_length))
variant("bad app code answered as FORBIDDEN", {"AUTH-001": BOTH})(
    lambda mp: Mutate(base(), response=rename_code("INVALID_APPLICATION_CODE", "FORBIDDEN", 403))
)


def is_sync(req: Req) -> bool:
    return req.path == SYNC


def _apns_for_android(data: Any) -> Any:
    """Android's sync answer in the APNs shape (what iOS reads)."""
    payloads = data.get("payloads") if isinstance(data, dict) else None
    if isinstance(payloads, list):
        parsed = [parse_sync_payload(Platform.ANDROID, p) for p in payloads]
        data["payloads"] = [apns_payload(m) for m in parsed if m is not None]
    return data


def _answers_deliver(monkeypatch: pytest.MonkeyPatch) -> ASGIApp:
    real = messages.sync

    def sync(ctx: Any, reg_id: str, body: Any) -> dict[str, Any]:
        answer = real(ctx, reg_id, body)
        ids = [p.get("messageId", p.get("gcm.notification.messageId")) for p in answer["payloads"]]
        messages.delivered(ctx, reg_id, ids)  # the mutated rule: an answered message counts as delivered
        return answer

    monkeypatch.setattr(messages, "sync", sync)
    return base()


def _unknown_seen_refused(monkeypatch: pytest.MonkeyPatch) -> ASGIApp:
    real = messages.seen

    def seen(ctx: Any, reg_id: str, body: Any) -> int:
        counted = real(ctx, reg_id, body)
        if counted < len({m.messageId for m in body.messages}):
            raise ApiError(ErrorCode.NOT_FOUND, "a seen report of a message this installation was not sent")
        return counted

    monkeypatch.setattr(messages, "seen", seen)
    return base()


def _reports_again(monkeypatch: pytest.MonkeyPatch) -> ASGIApp:
    real = push_api.reports

    def reports(ctx: Any, **kwargs: Any) -> dict[str, Any]:
        answer: dict[str, Any] = real(ctx, **kwargs)
        ctx.db.execute("UPDATE messages SET reported=0")  # the mutated rule: a report is never marked returned
        return answer

    monkeypatch.setattr(push_api, "reports", reports)
    return base()


def _mo_without_status(data: Any) -> Any:
    for item in (data.get("messages") or []) if isinstance(data, dict) else []:
        if isinstance(item, dict):
            item.pop("statusCode", None)
    return data


def _reports_pending(data: Any) -> Any:
    for item in (data.get("results") or []) if isinstance(data, dict) else []:
        if isinstance(item, dict):
            item["status"] = pa.PENDING_ENROUTE.json()
    return data


variant(
    "a sync without a body refused (Android's sync with nothing to report)",
    {"MSG-001": ANDROID, "MSG-002": ANDROID, "MSG-003": ANDROID},
)(
    lambda mp: Mutate(
        base(),
        request=request_hook(lambda r: is_sync(r) and not r.body, lambda r: error(400, "REQUEST_FORMAT_INVALID")),
    )
)
variant("sync answers under another key", {"MSG-001": BOTH, "MSG-002": BOTH, "MSG-003": BOTH, "MSG-004": BOTH,
                                            "DLR-001": IOS, "SEEN-001": ANDROID, "RPT-001": ANDROID})(
    lambda mp: Mutate(base(), response=rewrite_json(is_sync, lambda d: {"messages": d.get("payloads")}))
)  # fmt: skip
variant("Android sync answers in the APNs shape", {"MSG-002": ANDROID})(
    lambda mp: Mutate(
        base(), response=rewrite_json(lambda r: is_sync(r) and r.query.get("platformType") == "GCM", _apns_for_android)
    )
)
variant("a sync answer marks its messages delivered (mutated rule)", {"MSG-003": BOTH})(_answers_deliver)
variant("drIDs ignored", {"MSG-003": BOTH, "RPT-001": ANDROID})(
    lambda mp: Mutate(base(), request=request_hook(is_sync, lambda r: with_body(r, drop("drIDs"))))
)
variant("mIDs ignored", {"MSG-004": BOTH})(
    lambda mp: Mutate(base(), request=request_hook(is_sync, lambda r: with_body(r, drop("mIDs"))))
)
variant("the extension's delivery reports ignored", {"DLR-001": IOS, "RPT-001": IOS})(
    lambda mp: Mutate(
        base(), request=request_hook(lambda r: r.path == "/mobile/1/messages/deliveryreport", lambda r: ok_empty())
    )
)
variant("seen reports refused", {"SEEN-001": BOTH})(
    lambda mp: Mutate(
        base(),
        request=request_hook(
            lambda r: r.path == "/mobile/2/messages/seen", lambda r: error(400, "REQUEST_FORMAT_INVALID")
        ),
    )
)
variant("seen reports naming an unknown id refused (mutated rule)", {"SEEN-001": ANDROID})(_unknown_seen_refused)
variant("MO answered without statusCode", {"MO-001": BOTH})(
    lambda mp: Mutate(base(), response=rewrite_json(lambda r: r.path == "/mobile/1/messages/mo", _mo_without_status))
)
variant("Push API reports returned on every read (mutated rule)", {"RPT-001": BOTH})(_reports_again)
variant("Push API reports never DELIVERED", {"RPT-001": BOTH})(
    lambda mp: Mutate(base(), response=rewrite_json(lambda r: r.path == "/push/3/reports", _reports_pending))
)


@pytest.mark.parametrize("name", list(VARIANTS))
def test_a_broken_variant_fails_the_right_checks(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    build, expected = VARIANTS[name]
    failed = suite_failures(build(monkeypatch))
    assert failed == expected


def test_every_check_is_failed_by_some_variant() -> None:
    failing = {check_id for _, expected in VARIANTS.values() for check_id in expected}
    assert failing == {c.id for c in CATALOGUE}
