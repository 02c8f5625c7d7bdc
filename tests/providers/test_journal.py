"""The journal: accept/reject records, uninstall, the hand-off queue, summary and verify checks."""

from __future__ import annotations

import threading

from providerkit import Clock

from providers.journal import Journal


def test_due_hands_each_accepted_send_once_oldest_first() -> None:
    journal = Journal(clock=Clock())
    for n in range(5):
        journal.accept("fcm", f"t{n}", {"n": str(n)}, size=n, message_id=f"id{n}")
    assert [a.token for a in journal.due(2)] == ["t0", "t1"]
    assert [a.token for a in journal.due(10)] == ["t2", "t3", "t4"]
    assert journal.due(10) == [] and journal.pending() == 0


def test_accept_and_reject_stamp_the_journal_clock() -> None:
    clock = Clock(100.0)
    journal = Journal(clock=clock)
    accepted = journal.accept("hms", "t", {"data": "x"}, size=3, message_id="r1", campaign="c")
    clock.now = 101.5
    rejected = journal.reject("apns", "u", 410, "Unregistered", size=0)
    assert (accepted.received_at, accepted.campaign, accepted.provider) == (100.0, "c", "hms")
    assert (rejected.received_at, rejected.status, rejected.reason) == (101.5, 410, "Unregistered")


def test_uninstall_is_per_provider_and_defaults_to_now() -> None:
    clock = Clock(50.0)
    journal = Journal(clock=clock)
    journal.uninstall("fcm", "t")
    journal.uninstall("apns", "t", at=10.0)
    assert journal.is_uninstalled("fcm", "t") == 50.0
    assert journal.is_uninstalled("apns", "t") == 10.0
    assert journal.is_uninstalled("hms", "t") is None


def test_verify_finds_a_send_after_the_uninstall_but_not_one_before() -> None:
    clock = Clock(10.0)
    journal = Journal(clock=clock)
    journal.accept("fcm", "before", {}, size=0, message_id="a")
    journal.uninstall("fcm", "before")  # the same instant as the send: the send came first
    journal.uninstall("fcm", "after")
    assert journal.verify() == []
    clock.now = 10.001
    journal.accept("fcm", "after", {}, size=0, message_id="b")
    problems = journal.verify()
    assert len(problems) == 1 and "after its uninstall" in problems[0]


def test_verify_wants_exactly_one_message_per_token_per_campaign() -> None:
    journal = Journal(clock=Clock())
    journal.accept("fcm", "a", {}, size=1, message_id="1", campaign="c1")
    journal.accept("fcm", "b", {}, size=1, message_id="2", campaign="c1")
    journal.accept("fcm", "a", {}, size=1, message_id="3", campaign="c2")
    assert journal.verify() == []
    assert journal.verify(["a", "b"]) == [next(p for p in journal.verify(["a", "b"]))]
    assert "campaign c2: 1 expected token(s) got no message" in journal.verify(["a", "b"])[0]
    journal.accept("fcm", "b", {}, size=1, message_id="4", campaign="c1")
    assert any("campaign c1: token b… got 2 messages, not 1" in p for p in journal.verify())


def test_verify_without_campaigns_checks_the_expected_tokens_were_reached() -> None:
    journal = Journal(clock=Clock())
    journal.accept("hms", "a", {}, size=1, message_id="1")
    assert journal.verify(["a"]) == []
    assert journal.verify(["a", "z"]) == ["1 expected token(s) got no message, e.g. z…"]


def test_summary_counts_per_provider_reason_and_campaign_and_sizes() -> None:
    journal = Journal(clock=Clock())
    for size in (10, 20, 60):
        journal.accept("fcm", f"t{size}", {}, size=size, message_id=str(size), campaign="c")
    journal.reject("fcm", "x", 404, "UNREGISTERED", size=5)
    journal.reject("hms", None, 401, "80200003", size=0)
    summary = journal.summary()
    assert summary["accepted"] == 3 and summary["rejected"] == 2
    assert summary["providers"]["fcm"]["reason"] == {"UNREGISTERED": 1}
    assert summary["providers"]["fcm"]["sizes"] == {"min": 10, "median": 20, "max": 60}
    assert summary["providers"]["hms"] == {"accepted": 0, "rejected": 1, "status": {"401": 1},
                                           "reason": {"80200003": 1}, "sizes": None}  # fmt: skip
    assert "apns" not in summary["providers"]
    assert summary["campaigns"] == {"c": {"messages": 3, "tokens": 3}}


def test_accepts_from_many_threads_are_all_recorded_and_handed_once() -> None:
    journal = Journal()

    def work(n: int) -> None:
        for i in range(200):
            journal.accept("apns", f"{n}-{i}", {}, size=0, message_id=f"{n}-{i}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    handed = []
    for t in threads:
        t.join()
    while batch := journal.due(37):
        handed += batch
    assert len(handed) == 800 == len({a.message_id for a in handed})
