"""``/redoc`` offline. fastapi-offline serves Swagger UI's and ReDoc's files under ``/docs/static``
(server_stub/app.py), but ReDoc's bundle still loads one image from Redocly's CDN (the sidebar's
"API docs by Redocly" logo, ``https://cdn.redoc.ly/redoc/logo-mini.svg``): the page here loads a copy
of the bundle with that address pointing at the server's own icon, so nothing leaves the machine
(tests/browser/test_docs_pages.py fails on any request that does)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html
from starlette.responses import HTMLResponse, Response

__all__ = ["REDOC_JS", "redoc_router"]

REDOC_JS = "/docs/redoc.standalone.js"
_CDN_LOGO = b"https://cdn.redoc.ly/redoc/logo-mini.svg"


@cache
def _bundle(icon: str) -> bytes:
    raw = (Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js").read_bytes()
    return raw.replace(_CDN_LOGO, icon.encode())


def redoc_router(title: str, assets: str, openapi_url: str = "/openapi.json") -> APIRouter:
    """``GET /redoc`` and the bundle it loads (``REDOC_JS``); ``assets``: fastapi-offline's files."""
    router = APIRouter(include_in_schema=False)

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{openapi_url}", title=f"{title} - ReDoc",
                              redoc_js_url=f"{root}{REDOC_JS}", with_google_fonts=False,
                              redoc_favicon_url=f"{root}{assets}/favicon.png")  # fmt: skip

    @router.get(REDOC_JS)
    async def bundle(request: Request) -> Response:
        root = request.scope.get("root_path", "")
        headers = {"Cache-Control": "public, max-age=3600"}
        return Response(_bundle(f"{root}{assets}/favicon.png"), media_type="application/javascript", headers=headers)

    return router
