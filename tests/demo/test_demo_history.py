"""The generated history: deterministic, inside its window, one App Launch per planned session,
funnels in order and falling, and the audience's distributions close to what was asked."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from itertools import pairwise
from pathlib import Path
from typing import Any

from demohelpers import UNTIL, Generated, generate

from contract import parse_datetime
from contract.limits import normalize_phone
from demo.audience import LOCALES, OPT_IN, AudienceOptions, parse_locales, person_plan, phone_number
from demo.history import SESSION_GAP
from demo.run import DemoConfig
from demo.verticals import VERTICALS, vertical


def _epoch(text: str) -> float:
    return parse_datetime(text).timestamp()


def _bodies(lines: list[dict[str, Any]], suffix: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [(line, json.loads(line["b"])) for line in lines if line["u"].partition("?")[0].endswith(suffix)]


def test_the_same_seed_and_options_give_the_same_bytes(tmp_path: Path, small: Generated) -> None:
    again = generate(small.config, tmp_path / "again.jsonl")
    assert again.path.read_bytes() == small.path.read_bytes()
    other = generate(DemoConfig(devices=20, days=14, seed=6, until=UNTIL), tmp_path / "other.jsonl")
    assert other.lines[0]["h"] != small.lines[0]["h"]


def test_every_request_succeeded_and_the_header_describes_the_run(small: Generated) -> None:
    assert {line["s"] for line in small.lines} == {200}
    assert small.header["mobsim"] == "demo" and small.header["options"]["devices"] == 160
    assert [d["definitionId"] for d in small.header["definitions"]] == list(VERTICALS["retail"].fields)
    assert sum(small.outcome.tally.devices.values()) == 160
    assert len({line["d"] for line in small.lines}) == 160  # every device registered


def test_timestamps_are_inside_the_window(small: Generated) -> None:
    start, end = (_epoch(t) for t in small.header["window"])
    assert end - start == 14 * 86400
    times = [_epoch(line["t"]) for line in small.lines]
    assert start <= min(times) and max(times) <= end
    for _, body in _bodies(small.lines, "/user/events/custom"):
        for event in body["events"]:
            assert start <= _epoch(event["date"]) <= end
    for _, body in _bodies(small.lines, "/user/events/session"):
        for moment in [*body.get("sessionStarts", []), *body.get("sessionBounds", {}).values()]:
            assert start <= _epoch(moment) <= end


def test_sessions_of_a_device_start_more_than_30_seconds_after_the_previous_one_ended(small: Generated) -> None:
    starts: dict[str, set[float]] = defaultdict(set)
    ends: dict[str, dict[float, float]] = defaultdict(dict)
    for line, body in _bodies(small.lines, "/user/events/session"):
        device = line["d"]
        starts[device].update(_epoch(s) for s in body.get("sessionStarts", []))
        for s, e in body.get("sessionBounds", {}).items():
            starts[device].add(_epoch(s))
            ends[device][_epoch(s)] = _epoch(e)
    checked = 0
    for device, moments in starts.items():
        ordered = sorted(moments)
        for before, after in pairwise(ordered):
            assert after - before > 30
            if before in ends[device]:
                assert after - ends[device][before] > 30
                checked += 1
    assert checked > 200
    launches = small.outcome.tally.counts["launches"]
    assert sum(len(m) for m in starts.values()) >= 0.8 * launches  # the rest is reported by a later launch
    assert SESSION_GAP > 30


def test_funnels_run_in_order_on_every_device(small: Generated) -> None:
    steps = VERTICALS["retail"].funnels[0].steps
    per_device: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for line, body in _bodies(small.lines, "/user/events/custom"):
        per_device[line["d"]].extend((e["date"], e["definitionId"]) for e in body["events"])
    for events in per_device.values():
        seen: Counter[str] = Counter()
        for _, definition in sorted(events):
            if definition in steps:
                index = steps.index(definition)
                seen[definition] += 1
                if index:
                    assert seen[definition] <= seen[steps[index - 1]], (definition, events)


def test_funnel_conversion_falls_and_is_close_to_what_was_asked(tmp_path: Path) -> None:
    funnel = VERTICALS["travel"].funnels[0]
    run = generate(DemoConfig(devices=300, days=14, seed=9, vertical="travel", until=UNTIL), tmp_path / "t.jsonl")
    counts = [run.outcome.tally.events[step] for step in funnel.steps]
    assert counts == sorted(counts, reverse=True) and counts[-1] > 0
    for (upper, lower), asked in zip(pairwise(counts), funnel.conversion, strict=True):
        tolerance = 3 * (asked * (1 - asked) / upper) ** 0.5 + 0.02
        assert abs(lower / upper - asked) < tolerance, (counts, funnel.conversion)
    sent = Counter(e["definitionId"] for _, b in _bodies(run.lines, "/user/events/custom") for e in b["events"])
    assert dict(sent) == dict(run.outcome.tally.events)


def _options(locales: str, anonymous: float = 0.35, *, realistic_contacts: bool = False) -> AudienceOptions:
    return AudienceOptions(7, 1_714_521_600.0, 1_717_200_000.0, vertical("media"), parse_locales(locales), anonymous,
                           realistic_contacts=realistic_contacts)  # fmt: skip


def test_platform_shares_follow_the_country() -> None:
    for locale in ("en_US", "de_DE"):
        options = _options(locale)
        platforms = Counter(d.platform for i in range(1500) for d in person_plan(options, i).devices if d.number == 0)
        total = sum(platforms.values())
        for platform, share in zip(("android", "ios", "huawei"), LOCALES[locale].platforms, strict=True):
            assert abs(platforms[platform] / total - share / 100) < 0.045, (locale, platforms)


def test_devices_per_person_anonymous_share_and_opt_in() -> None:
    options = _options("en_GB,fr_FR")
    plans = [person_plan(options, i) for i in range(2500)]
    anonymous = [p for p in plans if p.anonymous]
    assert abs(len(anonymous) / len(plans) - 0.35) < 0.035
    assert all(len(p.devices) == 1 for p in anonymous)
    known = Counter(len(p.devices) for p in plans if not p.anonymous)
    total = sum(known.values())
    for count, share in zip((1, 2, 3), options.devices_per_person, strict=True):
        assert abs(known[count] / total - share) < 0.035, known
    assert all(p.devices[1].kind == "tablet" for p in plans if len(p.devices) > 1)
    assert all(p.devices[0].primary for p in plans if len(p.devices) > 1)
    by_platform: dict[str, list[bool]] = defaultdict(list)
    for plan in plans:
        for device in plan.devices:
            by_platform[device.platform].append(device.opt_in)
    for platform in ("android", "ios"):
        values = by_platform[platform]
        assert abs(sum(values) / len(values) - OPT_IN[platform]) < 0.05


def test_persons_are_locale_consistent_with_valid_unique_phones_and_emails() -> None:
    # Realistic contacts: every person has a national number (the default's fiction ranges are in test_demo_contacts).
    options = _options("hr_HR,ja_JP,pt_BR,de_DE", realistic_contacts=True)
    plans = [person_plan(options, i) for i in range(400)]
    phones = [normalize_phone(p.identity["phones"][0]) for p in plans]
    assert len(set(phones)) == len(phones)
    emails = [p.identity["emails"][0] for p in plans]
    assert len(set(emails)) == len(emails) and all(e.isascii() and "@" in e for e in emails)
    from contract.dialect import Platform
    from simulator.catalog import profile_for

    for plan in plans:
        country = LOCALES[plan.locale]
        assert phones[plan.index].startswith(country.calling)
        assert 6 <= len(phones[plan.index]) <= 15
        zones = {d.timezone for d in plan.devices}
        assert len(zones) == 1
        for device in plan.devices:
            assert profile_for(Platform(device.platform), device.seed).locale == plan.locale
    japanese = next(p for p in plans if p.locale == "ja_JP")
    assert not japanese.attributes["lastName"].isascii()  # kanji names, romanized emails
    assert japanese.identity["emails"][0].isascii()


def test_phone_numbers_pass_the_server_check_in_every_country() -> None:
    import random

    rng = random.Random(1)
    for country in LOCALES.values():
        for person in range(50):
            digits = normalize_phone(phone_number(country, rng, 3, person))
            assert digits.startswith(country.calling) and 6 <= len(digits) <= 15


def test_app_versions_follow_an_adoption_curve(small: Generated) -> None:
    release = small.outcome.config.audience().release
    before, after = 0, 0
    first_half: Counter[bool] = Counter()
    last_days: Counter[bool] = Counter()
    end = _epoch(small.header["window"][1])
    for line in small.lines:
        agent = next(v for k, v in line["h"].items() if k.lower() == "user-agent")
        new = f";{release.version};" in agent
        moment = _epoch(line["t"])
        if moment < release.at:
            first_half[new] += 1
            before += 1
        elif moment > end - 3 * 86400:
            last_days[new] += 1
            after += 1
    assert before and after
    assert first_half[True] / before < 0.05
    assert last_days[True] / after > 0.4
