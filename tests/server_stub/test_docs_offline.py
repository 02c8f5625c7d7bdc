"""``/docs`` and ``/redoc`` work offline: every script, stylesheet and icon they name is served by
the server itself (fastapi-offline's files under ``/docs/static``), none from a CDN, and the
assets sit behind the same guard as the pages."""

from __future__ import annotations

import re

import pytest
from starlette.testclient import TestClient

from server_stub.app import DOCS_ASSETS
from server_stub.docs_pages import REDOC_JS
from server_stub.guard import Guard

_REFERENCE = re.compile(r"""(?:src|href|url)\s*[=:(]\s*['"]?([^'"\s)>]+)""")


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_every_asset_a_docs_page_names_is_served_here(client: TestClient, page: str) -> None:
    html = client.get(page).text
    names = {ref for ref in _REFERENCE.findall(html) if not ref.startswith(("#", "data:"))}
    assert names, html[:500]
    assert not [n for n in names if "//" in n], names  # no CDN, no other host
    scripts = [n for n in names if n.endswith(".js")]
    assert scripts and all(n.startswith((DOCS_ASSETS + "/", REDOC_JS)) for n in scripts), names
    for name in names:
        answer = client.get(name)
        assert answer.status_code == 200 and answer.content, name


def test_the_openapi_document_the_pages_read_is_served(client: TestClient) -> None:
    assert client.get("/openapi.json").json()["info"]["title"] == "mobsim reference profile server"


def test_the_assets_are_guarded_like_the_pages(app: object) -> None:
    guarded = Guard(app, token="s3cret", check_host=True)  # type: ignore[arg-type]
    with TestClient(guarded) as client:
        assert client.get(f"{DOCS_ASSETS}/swagger-ui.css").status_code == 401
        allowed = client.get(f"{DOCS_ASSETS}/swagger-ui.css", headers={"Authorization": "Bearer s3cret"})
        assert allowed.status_code == 200 and "swagger" in allowed.text[:2000].lower()


def test_the_redoc_bundle_served_names_no_cdn_image(client: TestClient) -> None:
    bundle = client.get(REDOC_JS)
    assert bundle.status_code == 200 and bundle.headers["content-type"].startswith("application/javascript")
    assert b"cdn.redoc.ly" not in bundle.content and f"{DOCS_ASSETS}/favicon.png".encode() in bundle.content
