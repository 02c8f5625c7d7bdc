"""The web page under the guard (server_stub/guard.py): ``/`` exactly and ``/ui`` are protected like
``/inspect``; a browser signs in with ``?token=`` once and then carries an HttpOnly, SameSite=Strict
cookie, which lets GETs in and no write; on loopback without a token nothing changes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from server_stub import create_app
from server_stub.guard import COOKIE, Guard, is_guarded

TOKEN = "s3cret-token-for-tests"
HOST = {"Host": "127.0.0.1:8080"}


def call(guard: Guard, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=guard)
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8080") as client:
            return await client.request(method, path, headers=headers or {}, **kwargs)

    return asyncio.run(go())


@pytest.fixture(scope="module")
def app() -> Any:
    return create_app(memory=True, app_codes=["GUARD-APP"])


@pytest.fixture(scope="module")
def guard(app: Any) -> Guard:
    return Guard(app, token=TOKEN, check_host=False)


def cookie(value: str = TOKEN) -> dict[str, str]:
    return {"Cookie": f"other=1; {COOKIE}={value}"}


def test_the_page_is_guarded_at_slash_exactly_and_under_ui() -> None:
    assert is_guarded("/") and is_guarded("/ui") and is_guarded("/ui/persons/1") and is_guarded("/inspect/stats")
    assert not is_guarded("/health") and not is_guarded("/favicon.ico") and not is_guarded("/mobile/1/appinstance")
    assert not is_guarded("//") and not is_guarded("/push/3/messages") and not is_guarded("/x")


@pytest.mark.parametrize("path", ["/", "/ui/persons", "/ui/live.json", "/ui/static/mobsim.css"])
def test_with_a_token_every_page_needs_it_and_a_refusal_is_a_page(guard: Guard, path: str) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, cookie("wrong"), cookie(TOKEN[:-1]), {"Cookie": TOKEN}):
        answer = call(guard, "GET", path, headers)
        assert answer.status_code == 401, (path, headers)
        assert answer.headers["content-type"].startswith("text/html")
        assert "?token=" in answer.text and TOKEN not in answer.text
    for headers in ({"Authorization": f"Bearer {TOKEN}"}, {"X-Mobsim-Token": TOKEN}, cookie()):
        assert call(guard, "GET", path, headers).status_code == 200, (path, headers)


def test_other_paths_keep_their_answers_under_a_token(guard: Guard) -> None:
    assert call(guard, "GET", "/health").status_code == 200
    assert call(guard, "GET", "/favicon.ico").status_code == 200
    assert call(guard, "GET", "/x").json()["requestError"]["serviceException"]["messageId"] == "NOT_FOUND"
    refused = call(guard, "GET", "/inspect/stats")
    assert (
        refused.status_code == 401 and refused.json()["requestError"]["serviceException"]["messageId"] == "UNAUTHORIZED"
    )


def test_signing_in_sets_the_cookie_and_redirects_to_the_page_without_the_token(guard: Guard) -> None:
    answer = call(guard, "GET", f"/ui/persons?q=ana&token={TOKEN}&kind=EMAIL")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/ui/persons?q=ana&kind=EMAIL"
    assert answer.headers["set-cookie"] == f"{COOKIE}={TOKEN}; Path=/; HttpOnly; SameSite=Strict"
    assert answer.headers["cache-control"] == "no-store" and answer.headers["referrer-policy"] == "no-referrer"
    assert call(guard, "GET", f"/?token={TOKEN}").headers["location"] == "/"
    assert call(guard, "HEAD", f"/ui/live?token={TOKEN}").status_code == 303
    assert call(guard, "GET", f"/inspect/stats?token={TOKEN}").headers["location"] == "/inspect/stats"
    followed = call(guard, "GET", "/ui/persons?q=ana&kind=EMAIL", cookie())
    assert followed.status_code == 200 and "search-summary" in followed.text


def test_a_wrong_token_in_the_url_signs_nobody_in(guard: Guard) -> None:
    for query in (f"token={TOKEN}x", "token=", f"Token={TOKEN}", f"token={TOKEN[:-1]}"):
        answer = call(guard, "GET", f"/?{query}")
        assert answer.status_code == 401, query
        assert "set-cookie" not in answer.headers
    assert call(guard, "POST", f"/inspect/reset?token={TOKEN}").status_code == 401  # a write never signs in


def test_a_page_of_another_site_that_links_here_gets_a_page_that_goes_on_by_itself(guard: Guard) -> None:
    """A redirect would keep the other site's initiation: the browser would then not send the SameSite=Strict cookie."""
    answer = call(guard, "GET", f"/ui/persons?token={TOKEN}&q=%3Cb%3E", {"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 200 and answer.headers["set-cookie"].startswith(f"{COOKIE}={TOKEN};")
    assert '<meta http-equiv="refresh" content="0;url=/ui/persons?q=%3Cb%3E">' in answer.text
    assert TOKEN not in answer.text


def test_the_cookie_lets_reads_in_and_no_write(guard: Guard) -> None:
    assert call(guard, "GET", "/inspect/stats", cookie()).status_code == 200
    assert call(guard, "HEAD", "/inspect/stats", cookie()).status_code in (200, 405)  # let in: the app answers
    for method in ("POST", "DELETE"):
        answer = call(guard, method, "/inspect/reset", cookie())
        assert answer.status_code == 401, method
    answer = call(guard, "POST", "/inspect/reset", {**cookie(), "Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200


def test_a_token_with_characters_a_cookie_cannot_hold_is_kept_percent_encoded(app: Any) -> None:
    token = 'a b;c="d",é'
    guard = Guard(app, token=token, check_host=False)
    answer = call(guard, "GET", "/?token=a%20b%3Bc%3D%22d%22%2C%C3%A9")
    assert answer.status_code == 303
    value = answer.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    assert value == "a%20b%3Bc%3D%22d%22%2C%C3%A9"
    assert call(guard, "GET", "/", cookie(value)).status_code == 200
    assert call(guard, "GET", "/", cookie("a b")).status_code == 401  # the token as it is, cut at its ";"


def test_on_loopback_without_a_token_the_page_answers_this_machine_only(app: Any) -> None:
    guard = Guard(app, token=None, check_host=True)
    assert call(guard, "GET", "/", HOST).status_code == 200
    assert call(guard, "GET", "/ui/persons", {**HOST, "Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert call(guard, "GET", "/?token=anything", HOST).status_code == 200  # nothing to sign in to
    for headers in ({"Host": "evil.example"}, {**HOST, "Origin": "https://evil.example"},
                    {**HOST, "Sec-Fetch-Site": "cross-site"}):  # fmt: skip
        answer = call(guard, "GET", "/", headers)
        assert answer.status_code == 403, headers
        assert answer.headers["content-type"].startswith("text/html")
    assert call(guard, "GET", "/inspect/stats", {"Host": "evil.example"}).headers["content-type"] == "application/json"
