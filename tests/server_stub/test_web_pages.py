"""The web page (server_stub/web/, docs/web.md): every view answers 200 with what it must show, the
search by each kind of identifier, 404 and 400 pages in HTML, no 500 on odd input, client data
rendered inert, only the server's own assets, and the live counters' exact numbers."""

from __future__ import annotations

import asyncio
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI
from pushkit import API_KEY, PushApi, reg
from starlette.testclient import TestClient
from stubkit import APP_CODE, OTHER_APP, Clock, Device, Inspector, MakeDevice, ts

from contract import Dialect
from server_stub import create_app
from server_stub.live import WINDOW, LiveCounters, counters_of
from server_stub.messaging import PushLatency
from server_stub.web import views

# --- reading a page ---------------------------------------------------------------------------
_VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"})


@dataclass(eq=False)
class Element:
    tag: str
    attrs: dict[str, str]
    parts: list[str] = field(default_factory=list)
    start: int = 0
    end: int = 0
    """Its descendants are the page's elements ``start + 1`` to ``end`` (excluded)."""

    @property
    def text(self) -> str:
        """Its text, each text node apart, white space collapsed."""
        return " ".join(" ".join(self.parts).split())


class Page(HTMLParser):
    """A page's elements, each with its attributes and its text (of its descendants too)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {name: value or "" for name, value in attrs}, start=len(self.elements))
        self.elements.append(element)
        element.end = len(self.elements)
        if tag not in _VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                for closed in self._open[index:]:
                    closed.end = len(self.elements)
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.parts.append(data)

    def id(self, value: str) -> Element:
        (found,) = [e for e in self.elements if e.attrs.get("id") == value]
        return found

    def all(self, tag: str | None = None, within: Element | None = None, **attrs: str) -> list[Element]:
        """Elements (of ``within``) by tag and attribute values (``data_testid`` is ``data-testid``)."""
        wanted = {name.replace("_", "-"): value for name, value in attrs.items()}
        elements = self.elements if within is None else self.elements[within.start + 1 : within.end]
        return [
            e for e in elements
            if (tag is None or e.tag == tag) and all(e.attrs.get(k) == v for k, v in wanted.items())
        ]  # fmt: skip

    def fields(self, row: Element) -> dict[str, str]:
        """The text of each ``data-field`` element of ``row``."""
        return {e.attrs["data-field"]: e.text for e in self.all(within=row) if "data-field" in e.attrs}


def page(client: TestClient, url: str, status: int = 200) -> Page:
    answer = client.get(url)
    assert answer.status_code == status, (url, answer.status_code, answer.text[:500])
    assert answer.headers["content-type"].startswith("text/html"), answer.headers["content-type"]
    return Page(answer.text)


def row_texts(table: Element, parsed: Page) -> list[str]:
    return [row.text for row in parsed.all("tr", within=table)]


# --- an audience ------------------------------------------------------------------------------
@dataclass
class Audience:
    phone: Device
    tablet: Device
    old: Device
    loner: Device
    person_id: int
    message_ids: list[str]


def build(client: TestClient, push: PushApi, inspector: Inspector, clock: Clock) -> Audience:
    """Ana: an iPhone (primary) and an Android tablet, an old phone she logged out of; a launch, a
    purchase, a campaign delivered, seen and opened on the iPhone; a saved segment; an anonymous device."""
    dialects = (Dialect.IOS, Dialect.ANDROID, Dialect.ANDROID, Dialect.ANDROID)
    phone, tablet, old, loner = (Device(client, dialect) for dialect in dialects)
    for each in (phone, tablet, old, loner):
        each.register()
    identity = {"externalUserId": "ana-1", "emails": [{"address": "ana@example.com"}],
                "phones": [{"number": "385911111111"}]}  # fmt: skip
    attributes = {
        "firstName": "Ana",
        "lastName": "Kovač",
        "tags": ["vip", "beta"],
        "customAttributes": {"tier": "gold"},
    }
    assert phone.personalize(identity, attributes, primary=True).status_code == 200
    assert tablet.personalize({"externalUserId": "ana-1"}).status_code == 200
    assert old.personalize({"externalUserId": "ana-1"}).status_code == 200
    assert old.depersonalize().status_code == 200
    inspector.define("purchase", [{"name": "amount", "type": "Numeric"}])
    clock.advance(10)
    assert phone.session([ts(10)]).status_code == 200
    answer = phone.events([{"definitionId": "purchase", "date": ts(20), "properties": {"amount": 3}}], validate=True)
    assert answer.status_code == 200
    message_ids = push.ids([reg(phone), reg(tablet)], schedule={"bulkId": "spring"})
    clock.advance(30)
    assert phone.delivery_report([message_ids[0]]).status_code == 200
    assert phone.seen([message_ids[0]]).status_code == 200
    assert phone.session([ts(40)]).status_code == 200  # within 60 s of the seen moment: the open
    inspector.post("/segments", {"name": "VIPs", "query": {"filter": {"tags": "vip"}}}, status=201)
    person_id = inspector.find("ana-1")["id"]
    return Audience(phone, tablet, old, loner, person_id, message_ids)


@dataclass
class Site:
    app: FastAPI
    client: TestClient
    audience: Audience


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    """One server with the audience, for the tests that only read (built once: they are many)."""
    clock = Clock()
    app = create_app(memory=True, app_codes=[APP_CODE, OTHER_APP], clock=clock)
    app.state.profiles.messaging.add_api_key(API_KEY)
    app.state.profiles.messaging.latency = PushLatency(0, 0)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Site(app, client, build(client, PushApi(client), Inspector(client), clock))


# --- each view --------------------------------------------------------------------------------
def test_home_shows_the_applications_their_codes_and_the_counts(site: Site) -> None:
    client = site.client
    home = page(client, "/")
    codes = [e.text for e in home.all("code", data_testid="app-code")]
    assert sorted(codes) == sorted([APP_CODE, OTHER_APP])
    assert home.all("div", data_testid="persons-count")[0].text == "1 person 1 CUSTOMER"  # Ana
    assert home.all("div", data_testid="active-installations")[0].text.startswith("4 active installations")
    assert home.all("tr", data_definition="AppLaunch")[0].text == "AppLaunch 2"
    assert home.all("tr", data_definition="purchase")[0].text == "purchase 1"
    assert home.all("tr", data_state="active")[0].text == "active 3 1 4"  # android, ios, all
    links = {e.attrs["href"] for e in home.all("a")}
    assert {"/ui/persons", "/ui/segments", "/ui/campaigns", "/ui/violations", "/ui/live"} <= links
    assert page(client, "/ui").id("applications-table") and page(client, "/ui/").id("applications-table")
    other = page(client, "/?account=other")
    assert other.all("p", data_testid="account")[0].text.startswith("Account other")
    assert other.all("a", data_testid="nav-persons")[0].attrs["href"] == "/ui/persons?account=other"
    assert other.all("div", data_testid="persons-count")[0].text == "0 persons"


def test_the_persons_list_pages_through_everybody(
    client: TestClient, new_device: MakeDevice, monkeypatch: pytest.MonkeyPatch
) -> None:
    identity = {"externalUserId": "ana-1", "emails": [{"address": "ana@example.com"}]}
    attributes = {"firstName": "Ana", "lastName": "Kovač", "tags": ["vip", "beta"]}
    assert new_device(Dialect.IOS).personalize(identity, attributes).status_code == 200
    assert new_device(Dialect.IOS).personalize({"externalUserId": "bo-2"}).status_code == 200
    new_device(Dialect.ANDROID)  # anonymous: no person
    everybody = page(client, "/ui/persons")
    ids = [e.attrs["data-person-id"] for e in everybody.all("tr") if "data-person-id" in e.attrs]
    assert ids == ["1", "2"]
    assert everybody.all("tr", data_person_id="1")[0].text == "1 CUSTOMER ana-1 Ana Kovač ana@example.com — 1 vip, beta"
    monkeypatch.setattr(views, "PAGE_SIZE", 1)
    first, second = page(client, "/ui/persons"), page(client, "/ui/persons?page=1")
    assert first.all("a", data_testid="pager-next")[0].attrs["href"] == "/ui/persons?page=1"
    assert not first.all("a", data_testid="pager-previous")
    assert [e.attrs["data-person-id"] for e in second.all("tr") if "data-person-id" in e.attrs] == [ids[1]]
    assert second.all("a", data_testid="pager-previous") and not second.all("a", data_testid="pager-next")
    assert "Nobody." in page(client, "/ui/persons?page=5").id("persons-table").text


IDENTIFIERS = [("EXTERNAL_ID", "ana-1"), ("EMAIL", "ANA@example.com"), ("PHONE", "+385 91 111 1111"),
               ("PUSH", "phone"), ("INSTALLATION", "tablet"), ("ID", "person")]  # fmt: skip


def test_a_person_is_found_by_each_kind_of_identifier(site: Site) -> None:
    client, audience = site.client, site.audience
    for (kind, value), given in itertools.product(IDENTIFIERS, ("as-any", "as-kind")):
        value = {"phone": audience.phone.reg_id, "tablet": audience.tablet.installation_id,
                 "person": str(audience.person_id)}.get(value, value)  # fmt: skip
        query = {"q": value} if given == "as-any" else {"kind": kind, "q": value}
        found = page(client, "/ui/persons?" + urlencode(query))
        rows = [e for e in found.all("tr") if "data-person-id" in e.attrs]
        assert [r.attrs["data-person-id"] for r in rows] == [str(audience.person_id)], (kind, given)
        assert [e.text for e in found.all("span", data_testid="matched")] == [kind], (kind, given)
        assert found.id("search-summary").text.startswith("1 person for"), (kind, given)
        assert found.id("search-q").attrs["value"] == value
        selected = [e.attrs["value"] for e in found.all("option") if "selected" in e.attrs]
        assert selected == ["ANY" if given == "as-any" else kind]


def test_a_search_shows_an_installation_without_a_person_and_nobody_when_nothing_matches(site: Site) -> None:
    client, audience = site.client, site.audience
    loner = page(client, f"/ui/persons?q={audience.loner.reg_id}")
    assert [e.text for e in loner.all("a", data_testid="installation-link")] == [audience.loner.reg_id]
    assert loner.id("search-summary").text.startswith("0 persons and 1 installations without a person")
    nobody = page(client, "/ui/persons?q=nobody-at-all")
    assert nobody.id("search-summary").text.startswith("0 persons for")
    assert "Nobody." in nobody.id("persons-table").text
    assert page(client, "/ui/persons?kind=EMAIL&q=nobody@example.com").id("search-summary").text.startswith("0 ")


def test_the_person_page_shows_devices_attributes_tags_and_the_timeline(site: Site) -> None:
    client, audience = site.client, site.audience
    ana = page(client, f"/ui/persons/{audience.person_id}")
    assert ana.id("person-title").text == f"Person {audience.person_id}: Ana Kovač"
    devices = {e.attrs["data-reg-id"]: e.text for e in ana.all("tr") if "data-reg-id" in e.attrs}
    assert devices == {
        audience.phone.reg_id: f"{audience.phone.reg_id} ios Apple iPhone 14 Pro iOS 17.2 15.5.2 3.1 yes yes yes"
        f" active {APP_CODE}",
        audience.tablet.reg_id: f"{audience.tablet.reg_id} android Google Pixel 8 Android 14 15.0.0 2.0 no yes yes"
        f" active {APP_CODE}",
    }  # primary, registration enabled, notifications enabled
    links = [e.attrs["href"] for e in ana.all("a", data_testid="device-link")]
    assert links == [f"/ui/installations/{audience.phone.reg_id}", f"/ui/installations/{audience.tablet.reg_id}"]
    attributes = {e.attrs["data-attribute"]: e.text for e in ana.all("tr") if "data-attribute" in e.attrs}
    assert attributes == {"externalUserId": "externalUserId ana-1", "emails": "Emails ana@example.com",
                          "phones": "Phones 385911111111", "firstName": "firstName Ana", "middleName": "middleName —",
                          "lastName": "lastName Kovač", "gender": "gender —", "birthday": "birthday —",
                          "tier": "tier gold"}  # fmt: skip
    assert [e.text for e in ana.all("li", data_testid="tag")] == ["vip", "beta"]
    kinds = [e.attrs["data-kind"] for e in ana.all("tr") if "data-kind" in e.attrs]
    assert kinds == ["delivered", "launch", "opened", "seen", "event", "sent", "sent", "launch", "logout", "login",
                     "login", "login", "install", "install", "install"]  # fmt: skip
    (event,) = ana.all("tr", data_kind="event")
    assert event.text == f"{ts(20)} Custom event purchase {audience.phone.reg_id} amount 3"
    (delivered,) = ana.all("tr", data_kind="delivered")
    assert (
        delivered.text
        == f"{ts(40)} Message delivered {audience.phone.reg_id} campaign spring : Hello · A message for you"
    )
    assert ana.all("a", within=delivered)[-1].attrs["href"] == "/ui/campaigns/spring"
    times = [e.attrs["datetime"] for e in ana.all("time")]
    assert times == sorted(times, reverse=True)  # newest first


def test_the_installation_page_shows_the_device_and_its_own_timeline(site: Site) -> None:
    client, audience = site.client, site.audience
    phone = page(client, f"/ui/installations/{audience.phone.reg_id}")
    assert phone.id("installation-title").text == f"Installation {audience.phone.reg_id}"
    assert phone.all("a", data_testid="person-link")[0].attrs["href"] == f"/ui/persons/{audience.person_id}"
    fields = {e.attrs["data-field"]: e.text for e in phone.all("tr") if "data-field" in e.attrs}
    assert (fields["primary"], fields["regEnabled"], fields["notificationsEnabled"]) == (
        "Primary yes", "Registration enabled yes", "Notifications enabled yes")  # fmt: skip
    assert (fields["deviceModel"], fields["osVersion"], fields["pushServiceToken"]) == (
        "deviceModel iPhone 14 Pro", "osVersion 17.2", f"pushServiceToken {audience.phone.token}")  # fmt: skip
    assert row_texts(phone.id("sessions-table"), phone)[1:] == [f"{ts(40)} — —", f"{ts(10)} — —"]
    kinds = [e.attrs["data-kind"] for e in phone.all("tr") if "data-kind" in e.attrs]
    assert kinds == ["delivered", "launch", "opened", "seen", "event", "sent", "launch", "login", "install"]
    old = page(client, f"/ui/installations/{audience.old.reg_id}")
    assert "no person (anonymous)" in old.id("main").text
    assert [e.attrs["data-kind"] for e in old.all("tr") if "data-kind" in e.attrs] == ["logout", "login", "install"]


def test_the_segments_page_shows_each_count_and_a_segment_its_members(site: Site) -> None:
    client, audience = site.client, site.audience
    listed = page(client, "/ui/segments")
    rows = {e.attrs["data-segment"]: e for e in listed.all("tr") if "data-segment" in e.attrs}
    assert list(rows) == ["Active Mobile Users", "Inactive Mobile Users", "VIPs"]
    assert rows["VIPs"].attrs["data-count-url"] == "/inspect/segments/VIPs/count"
    assert listed.fields(rows["VIPs"]) == {"persons": "1", "installations": "2"}  # Ana; her two devices
    assert listed.fields(rows["Active Mobile Users"]) == {"persons": "1", "installations": "2"}
    assert listed.fields(rows["Inactive Mobile Users"]) == {"persons": "0", "installations": "0"}
    vips = page(client, "/ui/segments/VIPs")
    assert (vips.id("segment-count").attrs["data-persons"], vips.id("segment-count").attrs["data-installations"]) == (
        "1", "2")  # fmt: skip
    assert [e.attrs["data-person-id"] for e in vips.all("tr") if "data-person-id" in e.attrs] == [
        str(audience.person_id)
    ]
    assert (
        audience.phone.reg_id in vips.id("members-table").text
        and audience.tablet.reg_id in vips.id("members-table").text
    )
    spaced = page(client, "/ui/segments/Inactive%20Mobile%20Users")
    assert (
        spaced.id("segment-title").text == "Segment Inactive Mobile Users"
        and "Nobody." in spaced.id("members-table").text
    )


def test_the_campaign_pages_show_the_funnel(site: Site) -> None:
    client, audience = site.client, site.audience
    listed = page(client, "/ui/campaigns")
    (spring,) = listed.all("tr", data_bulk_id="spring")
    assert spring.text == "spring 2024-05-01T12:00:10Z 2 0 1 1 1 0 0 0 1"
    one = page(client, "/ui/campaigns/spring")
    funnel = {e.attrs["data-stage"]: e.text.split()[1] for e in one.all("tr") if "data-stage" in e.attrs}
    assert funnel == {"sent": "2", "handed": "0", "delivered": "1", "seen": "1", "opened": "1", "converted": "0"}
    statuses = {
        e.attrs["data-message-id"]: e.attrs["data-status"] for e in one.all("tr") if "data-message-id" in e.attrs
    }
    assert statuses == {audience.message_ids[0]: "DELIVERED", audience.message_ids[1]: "PENDING"}
    assert one.id("funnel-others").text == "0 expired, 0 undeliverable, 1 pending."


def test_the_violations_page_says_how_to_enable_strict_mode(site: Site) -> None:
    client = site.client
    off = page(client, "/ui/violations")
    assert "mobsim serve --strict" in off.id("strict-off").text


def test_the_violations_page_lists_each_installations_violations_with_the_rule_and_the_fix(clock: Clock) -> None:
    app = create_app(memory=True, app_codes=[APP_CODE], clock=clock, strict=True)
    with TestClient(app, raise_server_exceptions=False) as client:
        assert "No violation" in page(client, "/ui/violations").id("no-violations").text
        phone = Device(client, Dialect.IOS)
        phone.register()
        assert phone.call("get_user", extra_headers={"applicationcode": "0000000000"}).status_code == 200
        listed = page(client, "/ui/violations")
        (section,) = listed.all("section", data_installation=phone.reg_id)
        assert listed.all("a", data_testid="installation-link")[0].attrs["href"] == f"/ui/installations/{phone.reg_id}"
        (violation,) = listed.all("tr", data_rule="HDR-APPCODE")
        assert "applicationcode header missing or not the hash of the app code" in violation.text
        assert "use the SDK's own networking" in violation.text  # the fix
        assert listed.id("violations-summary").attrs["data-total"] == "1"
        only = page(client, f"/ui/violations?installation={phone.reg_id}&rule=HDR-APPCODE")
        assert len(only.all("tr", data_rule="HDR-APPCODE")) == 1
        assert not page(client, "/ui/violations?rule=HDR-AUTH").all("tr", data_rule="HDR-APPCODE")
        page(client, "/ui/violations?rule=NOPE", 400)
        assert section


def test_the_live_page_renders_the_counters(site: Site) -> None:
    client = site.client
    live = page(client, "/ui/live")
    assert live.id("live").attrs["data-source"] == "/ui/live.json"
    assert [e.attrs["data-series"] for e in live.all("div") if "data-series" in e.attrs] == [
        "requests", "launches", "events"]  # fmt: skip


# --- errors -----------------------------------------------------------------------------------
NOT_FOUND = ["/ui/persons/999", "/ui/installations/no-such-registration", "/ui/segments/nope", "/ui/campaigns/nope",
             "/ui/nope", "/ui/persons/1/more", "/ui/static/nope.js", "/ui/segments/a%2Fb"]  # fmt: skip
BAD = ["/ui/persons/abc", "/ui/persons/0", "/ui/persons/9223372036854775808", "/ui/persons?page=-1",
       "/ui/persons?page=x", "/ui/persons?page=1000001", "/ui/persons?kind=WHAT&q=x", "/ui/persons?kind=PHONE&q=abc",
       "/ui/persons?kind=ID&q=abc", "/ui/persons?q=" + "x" * 301, "/ui/persons?account=", "/?account=" + "a" * 101,
       "/ui/segments/VIPs?page=y", "/ui/campaigns?page=%F0", "/ui/violations?rule=NOPE",
       "/ui/installations/" + "r" * 301, "/ui/segments/" + "s" * 101]  # fmt: skip


def test_nothing_by_that_id_is_a_404_page_and_a_bad_value_a_400_page_naming_it(site: Site) -> None:
    client = site.client
    for status, urls in ((404, NOT_FOUND), (400, BAD)):
        for url in urls:
            answer = page(client, url, status)
            assert answer.id("error-title").attrs["data-status"] == str(status), url
            assert answer.id("error-text").text, url
    assert "page: a whole number from 0 to 1000000" in page(client, "/ui/persons?page=x", 400).id("error-text").text
    assert "no person 999" in page(client, "/ui/persons/999", 404).id("error-text").text


ODD = ["'", '"', "<>", "%", "%00", "\\", "..", " ", "+", "&", "#", "-1", "1e9", "日本\u202e", "%ED%A0%80", "%FF",
       "a" * 300, "{}"]  # fmt: skip


def test_odd_input_never_answers_500(site: Site) -> None:
    app = site.app
    urls = []
    for odd in ODD:
        urls += [f"/ui/persons/{odd}", f"/ui/installations/{odd}", f"/ui/segments/{odd}", f"/ui/campaigns/{odd}",
                 f"/ui/persons?q={odd}", f"/ui/persons?kind={odd}&q=x", f"/ui/persons?q={odd}&kind=PHONE",
                 f"/ui/persons?q={odd}&kind=EMAIL", f"/ui/persons?q={odd}&kind=ID", f"/ui/persons?page={odd}",
                 f"/?account={odd}", f"/ui/violations?installation={odd}", f"/ui/segments/VIPs?page={odd}",
                 f"/ui/static/{odd}"]  # fmt: skip

    async def each() -> list[httpx.Response]:  # in process on one loop: a fraction of TestClient's cost a call
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            return [await client.get(url) for url in urls]

    for url, answer in zip(urls, asyncio.run(each()), strict=True):
        assert answer.status_code in (200, 400, 404), (url, answer.status_code, answer.text[:300])
        assert answer.headers["content-type"].startswith("text/html"), url


def test_client_data_is_rendered_inert(client: TestClient, new_device: MakeDevice, inspector: Inspector) -> None:
    attack = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    phone = new_device(Dialect.ANDROID)
    attributes = {"firstName": attack, "tags": [attack], "customAttributes": {"note": attack}}
    answer = phone.personalize({"externalUserId": attack}, attributes)
    assert answer.status_code == 200, answer.text
    inspector.define("clicked", [{"name": "label", "type": "String"}])
    assert (
        phone.events([{"definitionId": "clicked", "properties": {"label": attack}}], validate=True).status_code == 200
    )
    inspector.post("/segments", {"name": "<b>bold", "query": {"filter": {"tags": attack}}}, status=201)
    person_id = inspector.find(attack)["id"]
    for url in ("/ui/persons", f"/ui/persons/{person_id}", f"/ui/installations/{phone.reg_id}", "/ui/segments",
                "/ui/segments/%3Cb%3Ebold", "/ui/persons?" + urlencode({"q": attack})):  # fmt: skip
        answer = client.get(url)
        assert answer.status_code == 200, (url, answer.text[:300])
        assert "<script>alert" not in answer.text and "<img" not in answer.text and "<b>bold" not in answer.text, url
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in answer.text or "&lt;b&gt;bold" in answer.text, url
        parsed = Page(answer.text)
        assert [e.attrs.get("src") for e in parsed.all("script")] == ["/ui/static/mobsim.js"], url
        assert not [e for e in parsed.elements if any(name.startswith("on") for name in e.attrs)], url
    assert attack in Page(client.get(f"/ui/persons/{person_id}").text).id("person-title").text


# --- assets and headers -----------------------------------------------------------------------
PAGES = ["/", "/ui/persons", "/ui/persons/{person}", "/ui/installations/{phone}", "/ui/segments", "/ui/segments/VIPs",
         "/ui/campaigns", "/ui/campaigns/spring", "/ui/violations", "/ui/live", "/ui/persons/999"]  # fmt: skip


def test_every_page_loads_only_the_servers_own_assets(site: Site) -> None:
    client, audience = site.client, site.audience
    assets: set[str] = set()
    for template in PAGES:
        url = template.format(person=audience.person_id, phone=audience.phone.reg_id)
        answer = client.get(url)
        assert answer.status_code in (200, 404), url
        assert not re.search(r"(src|href)=\"(https?:)?//", answer.text), url  # nothing from another origin
        for element in Page(answer.text).all():
            if element.tag in ("script", "img") and "src" in element.attrs:
                assets.add(element.attrs["src"])
            if element.tag == "link":
                assets.add(element.attrs["href"])
        for name, value in {"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self';",
                            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}.items():  # fmt: skip
            assert answer.headers[name].startswith(value), (url, name)
    assert assets == {"/ui/static/mobsim.js", "/ui/static/mobsim.css", "/ui/static/favicon.svg"}
    types = {"/ui/static/mobsim.js": "text/javascript", "/ui/static/mobsim.css": "text/css",
             "/ui/static/favicon.svg": "image/svg+xml", "/favicon.ico": "image/svg+xml"}  # fmt: skip
    for url, media in types.items():
        answer = client.get(url)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith(media), url
        assert answer.headers["x-content-type-options"] == "nosniff"
    script = client.get("/ui/static/mobsim.js").text
    assert "http" not in script.replace('"HTTP ', "") and "eval(" not in script and "innerHTML" not in script


def test_no_template_writes_an_inline_style_or_script(site: Site) -> None:
    client, audience = site.client, site.audience
    """The page's Content-Security-Policy allows neither: one would be refused, and fail in a browser."""
    for template in PAGES:
        url = template.format(person=audience.person_id, phone=audience.phone.reg_id)
        parsed = Page(client.get(url).text)
        assert not [e for e in parsed.elements if "style" in e.attrs or e.tag == "style"], url
        assert all(e.attrs.get("src") for e in parsed.all("script")), url


# --- the live counters ------------------------------------------------------------------------
def test_the_live_counters_count_requests_launches_and_events_exactly(
    app: FastAPI, client: TestClient, new_device: MakeDevice, push: PushApi, inspector: Inspector
) -> None:
    counters = counters_of(app.state.profiles)
    second = [5000.0]
    counters.clock, counters.started = (lambda: second[0]), 5000.0
    inspector.define("purchase", [])
    phone = new_device(Dialect.ANDROID)  # 1 request
    assert phone.session([ts(1), ts(2)]).status_code == 200  # 1 request, 2 launches
    assert phone.session([ts(1)]).status_code == 200  # 1 request, a launch known already
    events = [{"definitionId": "purchase", "date": ts(n)} for n in range(3)]
    assert phone.events(events, validate=True).status_code == 200  # 1 request, 3 events
    assert phone.events([{"definitionId": "unknown"}], validate=True).status_code == 400  # 1 request, none kept
    push.ids([reg(phone)])  # 1 request to /push
    assert client.get("/inspect/stats").status_code == 200 and client.get("/ui/live").status_code == 200  # not counted
    second[0] = 5001.0
    live = client.get("/ui/live.json").json()
    assert live["lastSecond"] == {"requests": 6, "launches": 2, "events": 3}
    assert live["totals"] == {"requests": 6, "launches": 2, "events": 3}
    assert live["perSecond"] == {"requests": 6.0, "launches": 2.0, "events": 3.0}
    assert [len(values) for values in live["series"].values()] == [WINDOW] * 3
    assert live["series"]["requests"][-2:] == [6, 0]
    assert live["uptimeSeconds"] == 1
    assert create_app(server=app.state.profiles) and counters_of(app.state.profiles) is counters  # one server, one


def test_the_ring_buffer_keeps_the_last_minute_second_by_second() -> None:
    now = [100.0]
    counters = LiveCounters(clock=lambda: now[0])
    counters.add(0, 5)
    now[0] = 100.9
    counters.add(0)  # the same second
    now[0] = 101.0
    counters.add(1, 2)
    now[0] = 100.0 + WINDOW - 1
    snapshot = counters.snapshot()
    assert snapshot["series"]["requests"][0] == 6 and snapshot["series"]["launches"][1] == 2
    assert snapshot["perSecond"]["requests"] == round(6 / (WINDOW - 1), 2)
    now[0] = 100.0 + WINDOW  # the slot of second 100 now counts second 160: second 100 is gone
    snapshot = counters.snapshot()
    assert snapshot["series"]["requests"] == [0] * WINDOW and snapshot["series"]["launches"][0] == 2
    counters.add(0)
    assert counters.snapshot()["series"]["requests"][-1] == 1 and counters.totals == [7, 2, 0]
    now[0] = 100.0 + 10 * WINDOW
    assert counters.snapshot()["series"] == {"requests": [0] * WINDOW, "launches": [0] * WINDOW, "events": [0] * WINDOW}
