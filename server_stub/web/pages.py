"""Rendering the web page's templates: the Jinja2 environment (autoescape on for every template: the
data is what clients sent), the filters the templates use, and the headers of every page."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

from jinja2 import Environment, FileSystemLoader, Undefined, pass_context
from jinja2.runtime import Context as TemplateContext
from starlette.responses import Response

from contract import format_epoch

from ..server import DEFAULT_ACCOUNT

__all__ = ["HEADERS", "STATIC", "TEMPLATES", "environment", "error_page", "render"]

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

HEADERS = {
    # Everything the page loads is the server's own: no inline script, no inline style, no other origin.
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
"""The headers of every page: they show live data of the inspection API."""


def shown(value: Any) -> str:
    """A JSON value as text: none as a dash, booleans as yes/no, lists joined, objects as JSON."""
    if value is None or isinstance(value, Undefined) or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(shown(item) for item in value) if value else "—"
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


def segment(value: Any) -> str:
    """A value as one path segment (``/`` and everything else escaped)."""
    return quote(str(value), safe="")


def epoch_ms(value: Any) -> str:
    """Epoch milliseconds (the messages table's times) as a timestamp, or a dash."""
    return "—" if not isinstance(value, int) else format_epoch(value / 1000)


@pass_context
def href(context: TemplateContext, path: str, **params: Any) -> str:
    """``path`` with these query parameters (those that are not None) and the page's account
    when it is not the default one."""
    account = context.get("account", DEFAULT_ACCOUNT)
    query = {key: value for key, value in params.items() if value is not None}
    if account != DEFAULT_ACCOUNT:
        query["account"] = account
    return f"{path}?{urlencode(query)}" if query else path


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(shown=shown, epoch_ms=epoch_ms, segment=segment)
    env.globals.update(href=href)
    return env


environment = _environment()


def render(template: str, context: Mapping[str, Any], status: int = 200) -> Response:
    body = environment.get_template(template).render(context)
    return Response(body, status_code=status, media_type="text/html", headers=HEADERS)


def error_page(status: int, text: str, account: str = DEFAULT_ACCOUNT) -> Response:
    """The page of a refused request: 400 (a bad value), 404 (nothing by that id), 422, 503."""
    titles = {400: "Bad request", 404: "Not found", 422: "Too expensive", 503: "Unavailable"}
    return render(
        "error.html", {"status": status, "title": titles.get(status, "Error"), "text": text, "account": account}, status
    )
