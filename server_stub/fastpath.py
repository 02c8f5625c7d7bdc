"""O(1) dispatch of the Mobile API, in front of FastAPI's linear route matching.

FastAPI tries every route's regular expression in turn (twice, through the included router); for
the SDK traffic that is the largest cost per request. This middleware looks the SDK routes up in a
dict by method and path shape and calls the same handlers that the FastAPI routes (kept for the
OpenAPI document and the interactive docs) point to. Anything it does not know falls through.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ApiError
from .http import error_response

__all__ = ["MobileFastPath"]

Handler = Callable[[Request], Awaitable[Response]]
_PARAM = "{pushRegId}"


class MobileFastPath:
    def __init__(self, app: ASGIApp, routes: Iterable[tuple[str, str, Handler]]) -> None:
        self.app = app
        self.routes: dict[tuple[str, str], Handler] = {(method, template): h for method, template, h in routes}

    def _resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]] | None:
        handler = self.routes.get((method, path))
        if handler is not None:
            return handler, {}
        parts = path.split("/")
        if len(parts) > 4 and parts[3] == "appinstance" and parts[4]:
            reg_id = parts[4]
            parts[4] = _PARAM
            handler = self.routes.get((method, "/".join(parts)))
            if handler is not None:
                return handler, {"pushRegId": reg_id}
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._resolve(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if found is None:
            await self.app(scope, receive, send)
            return
        handler, params = found
        scope["path_params"] = params
        try:
            response = await handler(Request(scope, receive))
        except ApiError as exc:
            response = error_response(exc.code, exc.text, exc.status)
            response.headers.update(exc.headers)
        await response(scope, receive, send)
