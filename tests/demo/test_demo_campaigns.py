"""Campaigns in the demo's history: sent through the in-process server's Push API to saved segments at
their times, delivered by the simulated provider to the devices (which report it as their SDKs do),
opened by a share of the recipients (an App Launch and a seen report), and followed by conversions."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from demohelpers import UNTIL, Generated, generate

from contract import parse_datetime
from demo.campaigns import ACTIVE, kinds, saved_segments, schedule
from demo.queries import reach_queries
from demo.run import DemoConfig


def _epoch(text: str) -> float:
    return parse_datetime(text).timestamp()


def _message_ids(line: dict[str, Any], key: str) -> list[str]:
    body = json.loads(line["b"]) if line["b"] else None
    return list(body.get(key) or []) if isinstance(body, dict) else []


def _reports(lines: list[dict[str, Any]]) -> list[tuple[float, str, list[str]]]:
    """(time, device, message ids) of every delivery report: Android's drIDs in the messages sync,
    the iOS extension's dlrIds (and drIDs of what it did not report)."""
    found = []
    for line in lines:
        ids = _message_ids(line, "drIDs") + _message_ids(line, "dlrIds")
        if ids:
            found.append((_epoch(line["t"]), line["d"], ids))
    return found


def _session_starts(lines: list[dict[str, Any]]) -> dict[str, set[float]]:
    starts: dict[str, set[float]] = defaultdict(set)
    for line in lines:
        if line["u"].partition("?")[0].endswith("/user/events/session"):
            body = json.loads(line["b"])
            starts[line["d"]].update(
                _epoch(s) for s in [*body.get("sessionStarts", []), *body.get("sessionBounds", {})]
            )
    return starts


def test_campaigns_go_to_their_saved_segments_at_their_times(small: Generated) -> None:
    start, end = (_epoch(t) for t in small.header["window"])
    planned = schedule("retail", start, end)
    assert small.header["campaigns"] == [c.describe() for c in planned]
    assert small.header["segments"] == saved_segments("retail")
    assert {c["campaign"] for c in small.header["campaigns"]} == {k.key for k in kinds("retail")}
    by_key = {k.key: k for k in kinds("retail")}
    for campaign in small.header["campaigns"]:
        moment = datetime.fromisoformat(campaign["sendAt"].replace("Z", "+00:00"))
        kind = by_key[campaign["campaign"]]
        assert moment.weekday() in kind.weekdays and moment.hour + moment.minute / 60 == kind.hour
        assert start + 2 * 86400 <= moment.timestamp() <= end - 43200
    server = small.outcome.server
    assert server is not None
    listed = {s["name"] for s in server.get("/inspect/segments")["segments"]}
    assert {"Cart abandoners", "Gold and platinum members", ACTIVE} <= listed
    assert len(small.outcome.campaigns) == len(planned) >= 6
    for report in small.outcome.campaigns:
        bulk = server.get(f"/inspect/campaigns/{report['bulkId']}")
        assert bulk["sendAt"] == report["sendAt"]
        assert bulk["target"] == [{"sender": small.config.app_code,
                                   "destinations": [{"type": "SEGMENT", "address": report["segment"]}]}]  # fmt: skip
        funnel, devices = report["funnel"], report["devices"]
        assert funnel["sent"] == devices["sent"] == devices["segmentInstallations"] > 0  # the segment, at the send
        assert funnel["handed"] == funnel["sent"] and devices["persons"] <= funnel["sent"]
    sent = {r["campaign"]: r["funnel"]["sent"] for r in small.outcome.campaigns}
    assert sent["weekend-sale"] > max(sent["cart-reminder"], sent["members-preview"])  # every active user


def test_delivery_reports_follow_each_campaign_as_the_sdks_send_them(small: Generated) -> None:
    times = sorted(_epoch(c["sendAt"]) for c in small.header["campaigns"])
    reports = _reports(small.lines)
    assert reports and min(t for t, _, _ in reports) >= times[0]
    for moment, _, _ in reports:
        assert moment - max(t for t in times if t <= moment) < 60  # handed within seconds of the send
    reported = {m for _, _, ids in reports for m in ids}
    delivered = sum(r["funnel"]["delivered"] for r in small.outcome.campaigns)
    assert len(reported) == delivered == sum(r["devices"]["received"] for r in small.outcome.campaigns)
    platform = {line["d"]: json.loads(line["b"])["pushServiceType"] for line in small.lines if line.get("r")}
    extension = {line["d"] for line in small.lines if _message_ids(line, "dlrIds")}
    in_sync = {line["d"] for line in small.lines if _message_ids(line, "drIDs")}
    assert extension and {platform[d] for d in extension} == {"APNS"}  # the Notification Service Extension
    assert {"Firebase"} <= {platform[d] for d in in_sync}  # Android reports in the sync each push starts
    assert all(len(m) == 24 for m in reported)  # ids shaped like the server's (mapped to ones from the seed)


def test_opens_are_app_launches_with_a_seen_report_and_conversions_follow(small: Generated) -> None:
    starts = _session_starts(small.lines)
    seen = [(_epoch(line["t"]), line["d"], item) for line in small.lines
            if line["u"].startswith("/mobile/2/messages/seen")
            for item in json.loads(line["b"])["messages"]]  # fmt: skip
    opens = sum(r["devices"].get("opens", 0) for r in small.outcome.campaigns)
    assert len(seen) == opens == small.outcome.tally.counts["opens"] > 0
    for report in small.outcome.campaigns:  # every tap is an open as the server counts it: seen, and a launch
        assert report["funnel"]["opened"] == report["funnel"]["seen"] == report["devices"].get("opens", 0)
    purchases: dict[str, list[float]] = defaultdict(list)
    for line in small.lines:
        if line["u"].partition("?")[0].endswith("/user/events/custom"):
            for event in json.loads(line["b"])["events"]:
                if event["definitionId"] == "purchaseCompleted":
                    purchases[line["d"]].append(_epoch(event["date"]))
    converted = 0
    for moment, device, item in seen:
        tapped = moment - item["timestampDelta"]
        assert any(abs(s - tapped) <= 60 for s in starts[device]), (device, tapped)  # the open's App Launch
        converted += any(0 <= p - tapped <= 900 for p in purchases[device])
    conversions = sum(r["devices"].get("conversions", 0) for r in small.outcome.campaigns)
    assert conversions == small.outcome.tally.counts["conversions"] > 0
    assert converted >= conversions  # each converting opener bought within minutes of the tap
    assert sum(r["funnel"]["converted"] for r in small.outcome.campaigns) >= conversions  # any event in 24 h
    assert {r["conversion"] for r in small.outcome.campaigns} == {"purchaseCompleted"}


def test_campaigns_only_add_to_the_history_of_the_persons_they_reach(tmp_path: Path) -> None:
    config = DemoConfig(devices=60, days=8, seed=2, until=UNTIL)
    with_campaigns = generate(config, tmp_path / "with.jsonl")
    without = generate(DemoConfig(**{**config.__dict__, "campaigns": False}), tmp_path / "without.jsonl")
    assert without.header["campaigns"] == [] and without.header["segments"] == []
    assert without.outcome.campaigns == [] and not _reports(without.lines)
    reached = {line["p"] for line in with_campaigns.lines if _message_ids(line, "drIDs") + _message_ids(line, "dlrIds")}
    assert reached
    for person in {line["p"] for line in without.lines} - reached:
        assert [x for x in with_campaigns.lines if x["p"] == person] == [x for x in without.lines if x["p"] == person]
    assert len(with_campaigns.lines) > len(without.lines)


def test_the_reach_queries_answer_on_the_server(small: Generated) -> None:
    server = small.outcome.server
    assert server is not None
    queries = reach_queries(small.outcome.campaigns)
    segments = [q for q in queries if q[1] == "GET"]
    assert {q[2] for q in segments} == {f"/inspect/segments/{n}/count" for n in (ACTIVE, "Cart abandoners",
                                                                              "Gold and platinum members")}  # fmt: skip
    counted = {server.get(path)["name"]: server.get(path) for _, _, path, _ in segments}
    assert counted[ACTIVE]["persons"] > counted["Gold and platinum members"]["persons"] > 0
    (_, _, path, body), *_ = [q for q in queries if q[1] == "POST"]
    status, result = server.post(path, body)
    assert status == 200 and result["total"] > 0  # purchases in the day after the best-opened campaign
    window = body["events"][0]["timelineCondition"]
    sent = {_epoch(c["sendAt"]) for c in small.header["campaigns"]}
    assert window["start"] in sent and window["end"] - window["start"] == 86400
