"""What each page shows, read through the inspection API's own functions on the store's read path
(``inspect_api.read``; the campaigns through ``server.execute``, as ``/inspect/campaigns`` does: their
read expires overdue messages first). Each view answers its template's context or raises
:class:`~server_stub.errors.ApiError` (400: a bad value, 404: nothing by that id), which the routes
render as an HTML page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contract import ErrorCode

from .. import inspection
from ..errors import ApiError
from ..inspect_api import read
from ..live import counters_of
from ..rules import reports
from ..saved_segments import NAME_MAX, list_segments, segment_count, segment_members
from ..server import ProfileServer
from ..strict import RULES, ViolationRecorder
from . import queries

__all__ = [
    "PAGE_SIZE",
    "campaign",
    "campaigns",
    "home",
    "installation",
    "live",
    "person",
    "persons",
    "segment",
    "segments",
    "violations",
]

PAGE_SIZE = 50
PAGE_MAX = 1_000_000
VALUE_MAX = 300
"""The longest search value or path id a page takes (the inspection API's identifier limit)."""
VIOLATIONS_SHOWN = 500
Query = Mapping[str, str]


def _bad(text: str) -> ApiError:
    return ApiError(ErrorCode.REQUEST_FORMAT_INVALID, text)


def page_number(query: Query) -> int:
    text = query.get("page", "0")
    if not (text.isascii() and text.isdigit()) or int(text) > PAGE_MAX:
        raise _bad(f"page: a whole number from 0 to {PAGE_MAX}, not {text[:40]!r}")
    return int(text)


def _value(text: str, what: str) -> str:
    if not 1 <= len(text) <= VALUE_MAX:
        raise _bad(f"{what}: 1 to {VALUE_MAX} characters")
    return text


def _pages(page: int, shown: int, total: int | None = None) -> dict[str, Any]:
    """The pager: this page, whether there is a previous and a next one."""
    more = shown == PAGE_SIZE if total is None else (page + 1) * PAGE_SIZE < total
    return {"page": page, "previous": page - 1 if page > 0 else None, "next": page + 1 if more else None,
            "total": total}  # fmt: skip


async def home(server: ProfileServer, account: str, query: Query, *, strict: bool) -> dict[str, Any]:
    applications = await server.applications_async()
    stats = await read(server, server.admin(account), inspection.stats)
    accounts = sorted({app["account"] for app in applications} | {account})
    installations = stats["installations"]
    platforms = sorted({platform for by_platform in installations.values() for platform in by_platform})
    return {
        "applications": applications,
        "accounts": accounts,
        "stats": stats,
        "states": sorted(installations),
        "platforms": platforms,
        "strict": strict,
        "store": "memory (nothing is kept)" if not server.store.durable else server.store.path,
    }


async def persons(server: ProfileServer, account: str, query: Query) -> dict[str, Any]:
    """The search (``q``, ``kind``), or the list of persons a page at a time."""
    page = page_number(query)
    caller = server.admin(account)
    text = query.get("q", "").strip()
    kind = query.get("kind", "ANY").upper() or "ANY"
    if kind not in queries.KINDS:
        raise _bad(f"kind: one of {', '.join(queries.KINDS)}, not {kind[:40]!r}")
    context: dict[str, Any] = {"q": text, "kind": kind, "kinds": queries.KINDS}
    if text:
        found = await read(server, caller, queries.search, _value(text, "q"), kind)
        return {**context, **found, "searched": True, "pages": None}
    listed = await read(server, caller, inspection.list_persons, page=page, limit=PAGE_SIZE)
    return {**context, "persons": listed["persons"], "installations": [], "searched": False,
            "pages": _pages(page, len(listed["persons"]), listed["total"])}  # fmt: skip


def _person_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= inspection.ID_MAX:
        raise _bad(f"a person id is a number from 1 to {inspection.ID_MAX}, not {text[:40]!r}")
    return int(text)


async def person(server: ProfileServer, account: str, query: Query, person_id: str) -> dict[str, Any]:
    number = _person_id(person_id)
    caller = server.admin(account)
    detail = await read(server, caller, inspection.person_detail, number, events=1)
    reg_ids = [inst["pushRegId"] for inst in detail["installations"]]
    timeline = await read(server, caller, queries.person_timeline, number, reg_ids)
    return {"person": detail, "timeline": timeline, "timeline_max": queries.TIMELINE_MAX,
            "events_total": sum(detail["eventCounts"].values())}  # fmt: skip


async def installation(server: ProfileServer, account: str, query: Query, reg_id: str) -> dict[str, Any]:
    caller = server.admin(account)
    detail = await read(server, caller, inspection.installation, _value(reg_id, "pushRegId"))
    timeline = await read(server, caller, queries.installation_timeline, reg_id)
    return {"installation": detail, "timeline": timeline, "timeline_max": queries.TIMELINE_MAX}


async def segments(server: ProfileServer, account: str, query: Query) -> dict[str, Any]:
    """Every segment with its count now (a count over the time budget shows as such, not a failed page)."""
    caller = server.admin(account)
    listed = (await read(server, caller, list_segments))["segments"]
    for each in listed:
        try:
            each["count"] = await read(server, caller, segment_count, each["name"])
        except ApiError as exc:
            each["count"], each["problem"] = None, exc.text
    return {"segments": listed}


def _name(text: str) -> str:
    if not 1 <= len(text) <= NAME_MAX:
        raise _bad(f"a segment name is 1 to {NAME_MAX} characters")
    return text


async def segment(server: ProfileServer, account: str, query: Query, name: str) -> dict[str, Any]:
    page = page_number(query)
    caller = server.admin(account)
    count = await read(server, caller, segment_count, _name(name))
    members = await read(server, caller, segment_members, name, limit=PAGE_SIZE, page=page)
    return {"name": count["name"], "count": count, "members": members["persons"],
            "pages": _pages(page, len(members["persons"]), count["persons"])}  # fmt: skip


async def campaigns(server: ProfileServer, account: str, query: Query) -> dict[str, Any]:
    page = page_number(query)
    found = await server.execute(server.admin(account), reports.campaigns, page=page, limit=PAGE_SIZE)
    return {"campaigns": found["campaigns"], "pages": _pages(page, len(found["campaigns"]), found["total"]),
            "stages": reports.COUNTS}  # fmt: skip


FUNNEL = ("sent", "handed", "delivered", "seen", "opened", "converted")


async def campaign(server: ProfileServer, account: str, query: Query, bulk_id: str) -> dict[str, Any]:
    caller = server.admin(account)
    found = await server.execute(caller, reports.campaign, _value(bulk_id, "bulkId"))
    messages = await read(server, caller, queries.bulk_messages, bulk_id)
    return {"campaign": found, "funnel": FUNNEL, "others": ("expired", "undeliverable", "pending"),
            "messages": messages}  # fmt: skip


async def violations(
    server: ProfileServer, account: str, query: Query, *, recorder: ViolationRecorder | None
) -> dict[str, Any]:
    """A strict server's violations, per installation (``?installation=``, ``?rule=`` narrow them)."""
    key = query.get("installation") or None
    rule = query.get("rule") or None
    if rule is not None and rule not in RULES:
        raise _bad(f"rule: one of {', '.join(RULES)}, not {rule[:40]!r}")
    if key is not None:
        _value(key, "installation")
    if recorder is None:
        return {"strict": False}
    found = recorder.violations(key, rule)
    shown = [v.to_json() for v in found[:VIOLATIONS_SHOWN]]
    groups: dict[str, list[dict[str, Any]]] = {}
    for each in shown:
        groups.setdefault(each["installation"], []).append(each)
    known = await read(server, server.admin(account), queries.known_reg_ids, list(groups))
    return {"strict": True, "summary": recorder.summary(), "groups": groups, "known": known, "total": len(found),
            "shown": len(shown), "rule": rule, "installation": key,
            "rules": RULES}  # fmt: skip


async def live(server: ProfileServer, account: str, query: Query) -> dict[str, Any]:
    return {"live": counters_of(server).snapshot()}
