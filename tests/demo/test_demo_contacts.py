"""The audience's contacts: reserved example domains and fiction phone ranges by default, so that data
loaded into a real account never reaches a stranger; realistic contacts only with ``--realistic-contacts``.

The ranges are checked here against patterns written from the regulators' publications, not against
the generator's own table.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from demohelpers import UNTIL, Generated, generate

from contract.limits import normalize_phone, validate_user
from demo import contacts
from demo.audience import LOCALES, AudienceOptions, PersonPlan, parse_locales, person_plan
from demo.run import DemoConfig
from demo.verticals import vertical
from mobsim.cli import main

DOMAINS = ("example.com", "example.net", "example.org")  # RFC 2606 / RFC 6761
FICTION = {
    # NANP: 555-0100 to 555-0199, in any area code (NXX digits 2-9 first).
    "US": re.compile(r"1[2-9]\d\d55501\d\d"),
    # Ofcom drama numbers, mobile: 07700 900000 to 07700 900999.
    "GB": re.compile(r"447700900\d{3}"),
    # ARCEP, fiction: 06 39 98 00 00 to 06 39 98 99 99.
    "FR": re.compile(r"3363998\d{4}"),
    # Bundesnetzagentur drama numbers: Berlin, Frankfurt, Hamburg, Köln, München, 000 to 999 each.
    "DE": re.compile(r"49(?:3023125|6990009|4066969|2214710|8999998)\d{3}"),
}
LOCALE_MIX = "en_GB,en_US,de_DE,fr_FR,ja_JP,es_ES,hr_HR"


def _options(
    locales: str = LOCALE_MIX, *, anonymous: float = 0.35, realistic: bool = False, seed: int = 11
) -> AudienceOptions:
    window = (1_714_521_600.0, 1_717_200_000.0)
    return AudienceOptions(seed, *window, vertical("retail"), parse_locales(locales), anonymous,
                           realistic_contacts=realistic)  # fmt: skip


def _plans(options: AudienceOptions, count: int = 400) -> list[PersonPlan]:
    return [person_plan(options, i) for i in range(count)]


def _in_fiction_range(digits: str) -> bool:
    return any(pattern.fullmatch(digits) for pattern in FICTION.values())


def test_default_emails_are_at_reserved_domains_and_derived_from_the_name() -> None:
    plans = _plans(_options())
    emails = [address for p in plans for address in p.identity["emails"]]
    assert len(emails) == len(plans) == len(set(emails))
    assert all(e.isascii() and e.rpartition("@")[2] in DOMAINS for e in emails)
    assert set(Counter(e.rpartition("@")[2] for e in emails)) == set(DOMAINS)  # spread over the three
    for plan in plans:
        local = plan.identity["emails"][0].partition("@")[0]
        assert local.endswith(str(plan.index))
        if plan.locale in ("en_GB", "en_US"):
            assert re.sub(r"[^a-z]", "", plan.attributes["lastName"].lower()) in local
    japanese = [p for p in plans if p.locale == "ja_JP"]
    assert japanese and not japanese[0].attributes["lastName"].isascii()  # kanji names, romanized addresses
    for email in emails:
        validate_user({"emails": [email]})  # the reference server's EMAIL_INVALID rule


def test_default_phones_lie_in_their_countrys_fiction_range_or_are_absent() -> None:
    plans = _plans(_options())
    seen: dict[str, int] = {}
    with_phone: Counter[str] = Counter()
    for plan in plans:
        phones = plan.identity.get("phones", [])
        if plan.anonymous or plan.country not in FICTION:
            assert phones == [], plan  # no reserved range (JP, ES, HR) or never logs in: no phone
            continue
        assert len(phones) == 1, plan  # the ranges last for this audience
        digits = normalize_phone(phones[0])  # the reference server's PHONE_INVALID rule: 6 to 15 digits
        assert FICTION[plan.country].fullmatch(digits), (plan.country, phones[0])
        assert digits.startswith(LOCALES[plan.locale].calling)
        assert seen.setdefault(digits, plan.index) == plan.index, f"{digits} given twice"
        with_phone[plan.country] += 1
    assert set(with_phone) == set(FICTION) and all(n >= 10 for n in with_phone.values()), with_phone


def test_phones_are_unique_and_numbered_alike_in_any_order() -> None:
    options = _options("en_GB,en_US", anonymous=0.0)
    plans = _plans(options, 900)
    phones = [normalize_phone(p.identity["phones"][0]) for p in plans]
    assert len(set(phones)) == len(phones)
    fresh = _options("en_GB,en_US", anonymous=0.0)
    assert person_plan(fresh, 750) == plans[750]  # straight to a late person (a resumed run)
    assert person_plan(fresh, 3) == plans[3]


def test_the_same_options_give_the_same_audience_and_another_seed_another() -> None:
    assert _plans(_options(), 150) == _plans(_options(), 150)
    other = _plans(_options(seed=12), 150)
    assert [p.identity for p in other] != [p.identity for p in _plans(_options(), 150)]


def test_an_exhausted_range_gives_no_phone_rather_than_one_outside_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(contacts.RESERVED_PHONES, "GB", (contacts.Block("+44 7700 90000#"),))  # ten numbers
    plans = _plans(_options("en_GB", anonymous=0.0), 40)
    phones = [p.identity.get("phones", []) for p in plans]
    assert all(len(p) == 1 for p in phones[:10]) and all(p == [] for p in phones[10:])
    digits = [normalize_phone(p[0]) for p in phones[:10]]
    assert sorted(digits) == [f"44770090000{n}" for n in range(10)]
    assert all(FICTION["GB"].fullmatch(d) for d in digits)


def test_reserved_phone_is_a_permutation_of_the_range_and_then_none(monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = (contacts.Block("+44 7700 90000#"), contacts.Block("+44 7700 9001##"))  # 10 and 100 numbers
    monkeypatch.setitem(contacts.RESERVED_PHONES, "GB", blocks)
    numbers = [contacts.reserved_phone("GB", 5, rank) for rank in range(110)]
    assert len(set(numbers)) == 110 and None not in numbers
    assert {normalize_phone(n or "")[:10] for n in numbers} == {"4477009000", "4477009001"}
    assert contacts.reserved_phone("GB", 5, 110) is None and contacts.reserved_phone("GB", 5, -1) is None
    assert contacts.reserved_phone("JP", 5, 0) is None and contacts.phone_capacity("JP") == 0
    assert [contacts.reserved_phone("GB", 6, rank) for rank in range(110)] != numbers  # another seed, another order


def test_realistic_contacts_bring_back_realistic_hosts_and_national_numbers() -> None:
    realistic = _plans(_options(realistic=True))
    default = _plans(_options())
    outside = 0
    for plan in realistic:
        (email,) = plan.identity["emails"]
        host = email.rpartition("@")[2]
        assert host in LOCALES[plan.locale].domains and host not in DOMAINS
        (phone,) = plan.identity["phones"]  # every person, every country, anonymous or not
        digits = normalize_phone(phone)
        assert digits.startswith(LOCALES[plan.locale].calling)
        outside += not _in_fiction_range(digits)
    assert outside > len(realistic) // 2
    for real, synthetic in zip(realistic, default, strict=True):  # only the contacts differ
        assert real.attributes == synthetic.attributes and real.devices == synthetic.devices
        assert real.identity["externalUserId"] == synthetic.identity["externalUserId"]
        assert real.identity["emails"][0].partition("@")[0] == synthetic.identity["emails"][0].partition("@")[0]


def _contacts_in(lines: list[dict[str, Any]]) -> tuple[list[str], list[str]]:
    emails: list[str] = []
    phones: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "address" and isinstance(item, str):
                    emails.append(item)
                elif key == "number" and isinstance(item, str):
                    phones.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for line in lines:
        if line.get("b"):
            walk(json.loads(line["b"]))
    return emails, phones


def test_the_file_holds_only_synthetic_contacts_and_its_header_says_so(small: Generated) -> None:
    assert small.header["options"]["realistic_contacts"] is False
    emails, phones = _contacts_in(small.lines)
    assert emails and phones
    assert all(e.rpartition("@")[2] in DOMAINS for e in emails)
    assert all(_in_fiction_range(normalize_phone(p)) for p in phones)


def test_the_header_records_realistic_contacts_and_the_bytes_repeat(tmp_path: Path) -> None:
    config = DemoConfig(devices=12, days=2, seed=3, locales="en_GB,fr_FR", until=UNTIL, realistic_contacts=True)
    first = generate(config, tmp_path / "real.jsonl")
    assert first.header["options"]["realistic_contacts"] is True
    emails, phones = _contacts_in(first.lines)
    assert emails and not any(e.rpartition("@")[2] in DOMAINS for e in emails)
    assert phones and not all(_in_fiction_range(normalize_phone(p)) for p in phones)
    assert generate(config, tmp_path / "again.jsonl").path.read_bytes() == first.path.read_bytes()
    default = DemoConfig(devices=12, days=2, seed=3, locales="en_GB,fr_FR", until=UNTIL)
    assert default.fingerprint() != config.fingerprint()  # a checkpoint of one mode does not resume the other


def test_the_command_line_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "demo.jsonl"
    args = ["demo", "--devices", "4", "--days", "2", "--seed", "4", "--locale", "en_GB", "--until", "2024-06-01",
            "--out", str(out)]  # fmt: skip
    assert main([*args, "--realistic-contacts"]) == 0
    assert json.loads(out.read_text().splitlines()[0])["options"]["realistic_contacts"] is True
    assert "contacts       realistic" in capsys.readouterr().out
    out.unlink()
    assert main(args) == 0
    assert json.loads(out.read_text().splitlines()[0])["options"]["realistic_contacts"] is False
    assert "contacts       synthetic" in capsys.readouterr().out
