"""``/docs`` (Swagger UI) and ``/redoc`` render in a real browser with no network: their scripts and
styles come from the server, nothing fails to load, nothing is logged as an error."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browserkit import screenshot

from server_stub.serve import BackgroundServer, ServeConfig


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServeConfig(port=0)) as running:
        yield running


def test_swagger_ui_renders_the_api_offline(page: Any, server: BackgroundServer) -> None:
    page.goto(f"{server.url}/docs")
    page.wait_for_selector(".swagger-ui .info .title", timeout=15_000)
    assert "mobsim reference profile server" in page.inner_text(".swagger-ui .info .title")
    page.get_by_text("/mobile/1/appinstance").first.wait_for(timeout=15_000)
    screenshot(page, "docs-swagger")


def test_redoc_renders_the_api_offline(page: Any, server: BackgroundServer) -> None:
    page.goto(f"{server.url}/redoc")
    page.wait_for_selector("h1:has-text('mobsim reference profile server')", timeout=20_000)
    page.wait_for_selector("[data-section-id]", timeout=20_000)  # the operations are rendered
    assert "POST /mobile/1/appinstance" in page.inner_text("body")
    screenshot(page, "docs-redoc")
