"""Every Mobile API endpoint the SDKs call, and how each dialect puts it on the wire.

An :class:`Endpoint` names the logical operation (method, path template, body models). A
:class:`WireRequest` is one concrete request in one dialect: the method actually sent (Android
turns PATCH into POST + ``X-HTTP-Method-Override``), the path, the query in the dialect's order
and spelling, the body. The device builds ``WireRequest`` values; the server routes by
``Endpoint``; Locust stats group by ``Endpoint.stats_name``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pydantic import BaseModel

from . import models as m
from .dialect import Dialect, QueryValue, encode_query
from .headers import METHOD_OVERRIDE

__all__ = ["ENDPOINTS", "Endpoint", "Plan", "WireRequest", "endpoint"]

Plan = tuple[str, tuple[tuple[str, str], ...], str, Mapping[str, str]]
"""What `Endpoint.plan` answers: the method sent, the query pairs in order, the same as the query
string (``?a=1&b=0``, or empty), extra headers."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    method: str
    """The logical method; Android sends PATCH as POST with the override header."""
    template: str
    request: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    dialects: frozenset[Dialect] = frozenset(Dialect)
    fixed_query: Mapping[Dialect, Mapping[str, QueryValue]] = field(default_factory=dict)
    """Query parameters the SDK always adds (``rt``, ``ri``, ``platformType``)."""
    flags: tuple[str, ...] = ()
    """Boolean query parameters the caller chooses (``validate``, ``keepAsLead``...): each is sent,
    false unless given, except one given as ``None``, which is left out (an SDK version without it)."""

    def path(self, **params: str) -> str:
        return self.template.format(**params)

    @property
    def stats_name(self) -> str:
        return f"{self.method} {self.template}"

    def build(
        self,
        dialect: Dialect,
        *,
        path_params: Mapping[str, str] | None = None,
        flags: Mapping[str, bool | None] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> WireRequest:
        """This endpoint as ``dialect`` sends it: the one request builder of the project (the
        device sends exactly this, the conformance probes and the tests build with it too). The
        body is copied (shallowly): later changes to the caller's dict do not change the request."""
        method, query, query_string, headers = self.plan(dialect, flags)
        template = self.template
        return WireRequest(
            self,
            method,
            template.format(**path_params) if path_params else template,
            query,
            headers,
            dict(body) if body is not None else None,
            query_string,
        )

    def plan(self, dialect: Dialect, flags: Mapping[str, bool | None] | None = None) -> Plan:
        """The method, query (as pairs and as a string) and extra headers (read-only) ``dialect``
        sends with ``flags``; computed once per combination, as every request a device sends needs
        them."""
        key = (self.name, dialect, tuple(flags.items()) if flags else ())
        try:
            return _PLANS[key]
        except KeyError:
            pass
        except TypeError:  # unhashable flag values: nothing to cache
            return self._plan(dialect, flags)
        planned = _PLANS[key] = self._plan(dialect, flags)
        return planned

    def _plan(self, dialect: Dialect, flags: Mapping[str, bool | None] | None) -> Plan:
        if dialect not in self.dialects:
            raise ValueError(f"the {dialect} SDK never calls {self.name}")
        flags = dict(flags or {})
        unknown = set(flags) - set(self.flags)
        if unknown:
            raise ValueError(f"{self.name} takes no query flags {sorted(unknown)}; it takes {list(self.flags)}")
        params: dict[str, QueryValue] = dict(self.fixed_query.get(dialect, {}))
        params.update({name: bool(flags.get(name, False)) for name in self.flags if flags.get(name, False) is not None})
        method, headers = self.method, _NO_HEADERS
        if method == "PATCH" and not dialect.real_patch:
            method, headers = "POST", MappingProxyType({METHOD_OVERRIDE: "PATCH"})
        query = tuple(encode_query(dialect, params))
        return method, query, _query_string(query), headers


_NO_HEADERS: Mapping[str, str] = MappingProxyType({})
_PLANS: dict[tuple[str, Dialect, tuple[tuple[str, bool | None], ...]], Plan] = {}
"""`Endpoint.plan` results by (endpoint name, dialect, flags): a handful of entries."""


@dataclass(frozen=True, slots=True)
class WireRequest:
    endpoint: Endpoint
    method: str
    path: str
    query: tuple[tuple[str, str], ...] = ()
    headers: Mapping[str, str] = field(default_factory=dict)
    body: dict[str, Any] | None = None
    query_string: str | None = None
    """``?a=1&b=0`` (or empty) as :meth:`Endpoint.build` planned it; None: derived from ``query``."""

    @property
    def target(self) -> str:
        """Path and query, as on the request line."""
        qs = self.query_string
        return self.path + (_query_string(self.query) if qs is None else qs)


def _query_string(query: tuple[tuple[str, str], ...]) -> str:
    return "?" + "&".join(f"{key}={value}" for key, value in query) if query else ""


_IOS, _ANDROID = Dialect.IOS, Dialect.ANDROID
_APPINSTANCE = "/mobile/1/appinstance/{pushRegId}"
_PLATFORM_TYPE = {d: {"platformType": d.platform_type} for d in Dialect}

ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        "create_installation",
        "POST",
        "/mobile/1/appinstance",
        m.Installation,
        m.Installation,
        fixed_query={_IOS: {"rt": True}, _ANDROID: {"ri": True}},
    ),
    Endpoint(
        "patch_installation",
        "PATCH",
        _APPINSTANCE,
        m.Installation,
        None,
        fixed_query={_IOS: {"rt": False}},
    ),
    Endpoint("get_installation", "GET", _APPINSTANCE, None, m.Installation, fixed_query={_IOS: {"rt": True}}),
    Endpoint("delete_installation", "DELETE", _APPINSTANCE, dialects=frozenset({_IOS})),
    Endpoint(
        "get_user",
        "GET",
        _APPINSTANCE + "/user",
        None,
        m.User,
        fixed_query={_IOS: {"ri": True, "rt": False}, _ANDROID: {"ri": True}},
    ),
    Endpoint(
        "patch_user",
        "PATCH",
        _APPINSTANCE + "/user",
        m.User,
        None,
        fixed_query={_IOS: {"ri": False, "rt": False}},
    ),
    Endpoint(
        "personalize",
        "POST",
        _APPINSTANCE + "/personalize",
        m.PersonalizeBody,
        m.User,
        flags=("forceDepersonalize", "keepAsLead", "setDeviceAsPrimary"),
    ),
    Endpoint(
        "repersonalize",
        "POST",
        _APPINSTANCE + "/repersonalize",
        m.PersonalizeBody,
        None,
        dialects=frozenset({_ANDROID}),
    ),
    Endpoint("depersonalize", "POST", _APPINSTANCE + "/depersonalize"),
    Endpoint("session_report", "POST", _APPINSTANCE + "/user/events/session", m.SessionReport),
    Endpoint("custom_events", "POST", _APPINSTANCE + "/user/events/custom", m.CustomEventsBody, flags=("validate",)),
    Endpoint(
        "sync_messages",
        "POST",
        "/mobile/5/messages",
        m.SyncMessagesBody,
        m.SyncMessagesResponse,
        fixed_query=_PLATFORM_TYPE,
    ),
    Endpoint("seen_messages", "POST", "/mobile/2/messages/seen", m.SeenMessagesBody),
    Endpoint("send_mo", "POST", "/mobile/1/messages/mo", m.MoRequest, m.MoResponse, fixed_query=_PLATFORM_TYPE),
    Endpoint(
        "delivery_report",
        "POST",
        "/mobile/1/messages/deliveryreport",
        m.DeliveryReportBody,
        dialects=frozenset({_IOS}),
    ),
    Endpoint("version", "GET", "/mobile/3/version", None, m.VersionResponse, fixed_query=_PLATFORM_TYPE),
    Endpoint("base_url", "GET", "/mobile/1/baseurl", None, m.BaseUrlResponse),
)

_BY_NAME = {ep.name: ep for ep in ENDPOINTS}


def endpoint(name: str) -> Endpoint:
    """The endpoint called ``name`` (``"personalize"``, ``"session_report"``...)."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no Mobile API endpoint {name!r}; known: {sorted(_BY_NAME)}") from None
