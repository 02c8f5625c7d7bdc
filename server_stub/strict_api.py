"""The violations a strict server recorded (``mobsim serve --strict``), under the inspection API.

``GET /inspect/violations`` (``?pushRegId=`` an installation, by its pushRegId or installationid;
``?rule=`` one rule), ``GET /inspect/violations/summary`` (counts by rule and installation),
``GET /inspect/violations/rules`` (every rule: what the SDK does, how to fix), ``POST
/inspect/violations/reset``.
"""

from __future__ import annotations

import sqlite3
from typing import Annotated

from fastapi import APIRouter, FastAPI, Query, Request
from starlette.responses import Response

from .http import json_response
from .inspect_api import PREFIX
from .server import ProfileServer
from .strict import RULES, SentMessage, StrictMiddleware, ViolationRecorder

__all__ = ["install_strict", "strict_router"]


def _recorder(request: Request) -> ViolationRecorder:
    recorder: ViolationRecorder = request.app.state.strict
    return recorder


def strict_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX + "/violations", tags=["Strict mode"])

    @router.get("", summary="Protocol violations clients made, per installation")
    async def violations(
        request: Request,
        pushRegId: Annotated[str | None, Query(max_length=200)] = None,
        rule: Annotated[str | None, Query(max_length=50)] = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> Response:
        found = _recorder(request).violations(pushRegId, rule)
        return json_response({"total": len(found), "violations": [v.to_json() for v in found[:limit]]})

    @router.get("/summary", summary="Violation counts by rule and by installation")
    async def summary(request: Request) -> Response:
        return json_response(_recorder(request).summary())

    @router.get("/rules", summary="The rules a strict server checks")
    async def rules(request: Request) -> Response:
        return json_response(
            {"rules": [{"rule": r.id, "title": r.title, "sdk": r.sdk, "fix": r.fix} for r in RULES.values()]}
        )

    @router.post("/reset", summary="Forget the recorded violations")
    async def reset(request: Request) -> Response:
        _recorder(request).reset()
        return json_response({"reset": True})

    return router


def install_strict(app: FastAPI, server: ProfileServer) -> ViolationRecorder:
    """Put a violation recorder in front of ``app`` and serve its findings."""

    async def definitions(app_code: str) -> frozenset[str] | None:
        """The account's definition keys, read through the store (in the group-commit batch, so
        none that could still be lost); None when they cannot be read: no EVENT-UNKNOWN then."""
        account = server.account_of(app_code)
        if account is None:
            return frozenset()

        def keys(db: sqlite3.Connection) -> frozenset[str]:
            rows = db.execute("SELECT key FROM event_definitions WHERE account=?", (account,))
            return frozenset(row[0] for row in rows)

        try:
            return await server.store.atomic(keys)
        except sqlite3.Error:
            return None

    async def messages(ids: list[str]) -> dict[str, SentMessage] | None:
        """Where the server sent these messages (their registration, its installationid, the app,
        the send time), read through the store; None when they cannot be read: no message rules then."""

        def sent(db: sqlite3.Connection) -> dict[str, SentMessage]:
            found: dict[str, SentMessage] = {}
            unique = list(dict.fromkeys(ids))
            for start in range(0, len(unique), 500):
                chunk = unique[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = db.execute(
                    "SELECT m.message_id, m.reg_id, i.installation_id, m.app_code, m.send_at FROM messages m"
                    f" LEFT JOIN installations i ON i.reg_id = m.reg_id WHERE m.message_id IN ({marks})",
                    chunk,
                )
                for message_id, reg_id, installation_id, app_code, send_at in rows:
                    found[message_id] = SentMessage(reg_id, installation_id, app_code, send_at)
            return found

        try:
            return await server.store.atomic(sent)
        except sqlite3.Error:
            return None

    def known_app(app_code: str) -> bool:
        """An app code this server accepts: only such requests may open an entry of their own."""
        return server.account_of(app_code) is not None

    recorder = ViolationRecorder(server.clock, definitions=definitions, messages=messages, known_app=known_app)
    app.state.strict = recorder
    app.include_router(strict_router())
    app.add_middleware(StrictMiddleware, recorder=recorder)
    return recorder
