"""The device's timing and classification rules at their exact boundaries, on both sides.

Each test names the mutation of the simulator it was written against: one the rest of the suite
let through (a `>` turned `>=`, a window shifted, a branch dropped). Session rules are pinned in
milliseconds on `simulator.sessions` and then once more on the wire; the virtual clock is set to
exact moments (`clock.set`), never advanced in steps, so no float drift blurs a boundary.
"""

from __future__ import annotations

import httpx
import pytest
from simhelpers import START, sent, targets

from simulator import sessions
from simulator.errors import ApiError

S = 1_714_557_600_000  # START in ms
T = sessions.TIMEOUT_MS


def error(status: int, code: str) -> httpx.Response:
    return httpx.Response(status, json={"requestError": {"serviceException": {"messageId": code, "text": code}}})


# ---------------------------------------------------------------------------------------------
# Android: a new session only when `now - end > 30 000 ms` (UserSessionTracker, strictly greater)


@pytest.mark.parametrize(("gap", "new"), [(T - 1, False), (T, False), (T + 1, True)])
def test_android_tick_starts_a_session_only_after_more_than_30_s(gap: int, new: bool) -> None:
    """Mutation: `now_ms - current[1] > TIMEOUT_MS` turned `>=` (a new session at exactly 30 s)."""
    tracked = [[S, S + 10_000, 1]]
    now = S + 10_000 + gap
    assert sessions.android_tick(tracked, now) is new
    if new:
        assert tracked == [[S, S + 10_000, 1], [now, now, 0]]
    else:
        assert tracked == [[S, now, 1]]


@pytest.mark.parametrize(("away", "new"), [(29.999, False), (30.0, False), (30.001, True)])
def test_android_return_after_exactly_30_s_continues_the_session(started, router, clock, away, new):
    device = started("android")  # its sync at START reported the session's start
    device.background()  # the session ends at START
    clock.set(START + away)
    device.foreground()
    reports = [s for s in sent(router) if s.target.endswith("/user/events/session")]
    if new:
        (report,) = reports
        assert report.body["sessionStarts"] == ["2024-05-01T10:00:30Z"]
        assert report.body["sessionBounds"] == {"2024-05-01T10:00:00Z": "2024-05-01T10:00:00Z"}
    else:
        assert reports == []  # the same session, its start reported: nothing new
    assert device.state.sessions[-1][1] == S + round(away * 1000)


# ---------------------------------------------------------------------------------------------
# iOS: a session is live while its end is within the last 30 s; finished (a bound) once
# `end <= now - 30 s` (UserSessionService)


@pytest.mark.parametrize(("gap", "finished"), [(T - 1, False), (T, True), (T + 1, True)])
def test_ios_report_bounds_only_sessions_that_ended_30_s_ago(gap: int, finished: bool) -> None:
    """Mutation: `end <= now_ms - TIMEOUT_MS` loosened, so that sessions that ended less than 30 s
    ago are reported (and then dropped) as finished; or tightened to `<`."""
    end = S + 10_000
    reported = [[S, end, 1]]
    bound = {"2024-05-01T10:00:00Z": "2024-05-01T10:00:10Z"}
    assert sessions.ios_report(reported, end + gap) == (([], bound) if finished else None)
    unreported = [[S, end, 0]]
    assert sessions.ios_report(unreported, end + gap) == (["2024-05-01T10:00:00Z"], bound if finished else {})
    # after a successful report a finished session is gone and a live one is kept, marked reported
    assert sessions.ios_reported([[S, end, 0]], end + gap) == ([] if finished else [[S, end, 1]])


@pytest.mark.parametrize(("gap", "live"), [(T - 1, True), (T, False), (T + 1, False)])
def test_ios_tick_extends_only_a_session_that_ended_less_than_30_s_ago(gap: int, live: bool) -> None:
    end = S + 10_000
    tracked = [[S, end, 1]]
    now = end + gap
    sessions.ios_tick(tracked, now)
    assert tracked == ([[S, now, 1]] if live else [[S, end, 1], [now, now + 5_000, 0]])


@pytest.mark.parametrize(("gap", "current"), [(T - 1, True), (T, False)])
def test_session_id_names_an_ios_session_until_30_s_after_its_end(gap: int, current: bool) -> None:
    end = S + 10_000
    assert sessions.current_session_start([[S, end, 1]], end + gap, ios=True) == (S if current else None)
    assert sessions.current_session_start([[S, end, 1]], end + gap, ios=False) == S  # Android: the header
    # is sent while in the foreground, whatever the gap


def first_session(started) -> object:
    device = started("ios")
    device.advance(5)  # the timer's first tick, 5 s after the start, opens [START + 5 s, START + 10 s]
    assert device.state.sessions == [[S + 5_000, S + 10_000, 1]]
    return device


@pytest.mark.parametrize(("away", "new"), [(29.999, False), (30.0, True)])
def test_ios_foreground_30_s_after_the_end_reports_the_finished_session(started, router, clock, away, new):
    device = first_session(started)
    router.calls.clear()
    device.background()
    clock.set(START + 10 + away)
    device.foreground()  # the suspended timer came due: it fires at once
    reports = [s for s in sent(router) if s.target.endswith("/user/events/session")]
    if new:
        (report,) = reports
        assert report.body["sessionStarts"] == ["2024-05-01T10:00:40Z"]
        assert report.body["sessionBounds"] == {"2024-05-01T10:00:05Z": "2024-05-01T10:00:10Z"}
        assert device.state.sessions == [[S + 40_000, S + 45_000, 1]]
    else:
        assert reports == []  # the same session, extended: nothing new to report
        assert device.state.sessions == [[S + 5_000, S + 10_000 + round(away * 1000), 1]]


def test_ios_session_id_header_until_exactly_30_s_after_the_end(started, router, clock):
    router.post("/mobile/1/appinstance/REG-1/user/events/custom").respond(200)
    device = first_session(started)
    router.calls.clear()
    device.background()  # the session ends at START + 10 s (5 s at least)
    clock.set(START + 10 + 29.999)
    device.submit_event("late", validate=True)
    clock.set(START + 10 + 30)
    device.submit_event("later", validate=True)
    within, after = sent(router)
    assert within.headers["sessionId"] == f"REG-1_{S + 5_000}"
    assert "sessionId" not in after.headers


# ---------------------------------------------------------------------------------------------
# Android retries: exactly 2, 8, 18 s; only "backend communication" errors; the invalid-parameter
# codes compared exactly, as `MAsyncTask.invalidParameterErrorCodes.contains(code)` does


def test_a_2xx_error_with_a_lower_case_invalid_parameter_code_is_retried(started, router, clock):
    """`invalidParameterErrorCodes` is a HashSet of the upper-case ApiErrorCode constants:
    `personalization_impossible` is not in it, so a 2xx carrying it is a
    `BackendCommunicationExceptionWithContent`, which the DEFAULT policy retries. Mutation (and the
    code before this test): the code upper-cased first, so that it was never retried."""
    device = started("android")
    moments: list[float] = []

    def answer(request: httpx.Request) -> httpx.Response:
        moments.append(clock.now() - START)
        return error(200, "personalization_impossible")

    router.post("/mobile/1/appinstance/REG-1/personalize").mock(side_effect=answer)
    with pytest.raises(ApiError) as caught:
        device.personalize({"externalUserId": "u1"})
    assert caught.value.will_retry
    device.advance(120)
    assert moments == [0, 2, 10, 28]


@pytest.mark.parametrize("code", ["PERSONALIZATION_IMPOSSIBLE", "NO_REGISTRATION", "REQUEST_FORMAT_INVALID"])
def test_a_2xx_error_with_an_invalid_parameter_code_is_not_retried(started, router, code):
    device = started("android")
    route = router.post("/mobile/1/appinstance/REG-1/personalize").mock(return_value=error(200, code))
    with pytest.raises(ApiError) as caught:
        device.personalize({"externalUserId": "u1"})
    assert not caught.value.will_retry
    device.advance(120)
    assert route.call_count == 1


def test_lower_case_no_registration_still_starts_the_recovery(started, router):
    """`handleNoRegistrationError` compares with `equalsIgnoreCase`: the recovery does not depend
    on the case (only the retry classification does)."""
    device = started("android")
    router.post("/mobile/1/appinstance/REG-1/user/events/custom").mock(return_value=error(404, "no_registration"))
    with pytest.raises(ApiError):
        device.submit_event("e", validate=True)
    router.post("/mobile/1/appinstance/REG-1").respond(200)
    router.calls.clear()
    device.sync()
    assert targets(router)[0] == "POST /mobile/1/appinstance/REG-1"
    patch = sent(router)[0].body
    assert patch["isPrimary"] is True and "pushServiceToken" in patch  # handleNoRegistrationError


# ---------------------------------------------------------------------------------------------
# Android BatchReporter: a batch runs at once when the last run was 5 s ago or more, else at
# last run + 5 s (BatchReporter.BATCH_REPORTING_DELAY, `>=`)


@pytest.mark.parametrize(("later", "at_once"), [(4.999, False), (5.0, True)])
def test_android_batch_reporter_runs_at_once_from_exactly_5_s(started, router, clock, later, at_once):
    """Mutation: `now - last_run >= ANDROID_BATCH_DELAY` turned `>` (a submit exactly 5 s after the
    last run waits another 5 s)."""
    device = started("android")
    route = router.post("/mobile/1/appinstance/REG-1/user/events/custom").respond(200)
    device.submit_event("first")  # the first run: at once
    assert route.call_count == 1
    clock.set(START + later)
    device.submit_event("second")
    assert route.call_count == (2 if at_once else 1)
    if not at_once:
        clock.set(START + 5.0)
        device.run_due()  # scheduled at the last run + 5 s
        assert route.call_count == 2
    assert [e["definitionId"] for e in sent(router)[-1].body["events"]] == ["second"]


# ---------------------------------------------------------------------------------------------
# iOS notificationsEnabled: `true` until exactly 1 h after the first registration


@pytest.mark.parametrize(("after", "reported"), [(3599.999, True), (3600.0, False)])
def test_ios_reports_the_real_permission_from_exactly_one_hour(started, router, clock, after, reported):
    """Mutation: `now - registered_at < _NOTIFICATIONS_GRACE` turned `<=` (still `true` at 1 h)."""
    device = started("ios")  # registered at START
    patch = router.patch("/mobile/1/appinstance/REG-1").respond(200)
    router.post("/mobile/1/appinstance/REG-1/user/events/session").respond(200)
    device.set_notifications_enabled(False)
    device.background()
    clock.set(START + after)
    device.foreground()  # the first PATCH after the create carries the whole system data
    assert patch.called
    body = sent(router)[[s.method for s in sent(router)].index("PATCH")].body
    assert body["notificationsEnabled"] is reported
    assert device.system_data()["notificationsEnabled"] is reported


# ---------------------------------------------------------------------------------------------
# Android foreground sync: skipped when less than 10 s after the previous one (`>=` runs it)


@pytest.mark.parametrize(("later", "synced"), [(9.999, False), (10.0, True)])
def test_android_foreground_sync_runs_from_exactly_10_s(started, router, clock, later, synced):
    """Mutation: `now - last_foreground_sync >= 10` turned `>` (a foreground exactly 10 s after
    the last sync is skipped)."""
    device = started("android")  # the cold start synced at START
    device.background()
    clock.set(START + later)
    device.foreground()
    assert ("POST /mobile/5/messages?platformType=GCM" in targets(router)) is synced


# ---------------------------------------------------------------------------------------------
# Android base URL: two failures in a row (>= 400, except 404 and 429) reset it to the default


def _moved(started, router, statuses: list[int]):
    device = started("android")
    device.state.base_url = "https://elsewhere.example.com"
    route = router.post("https://elsewhere.example.com/mobile/1/appinstance/REG-1/personalize")
    route.side_effect = [error(status, "E") for status in statuses]
    for n in range(len(statuses)):
        with pytest.raises(ApiError):
            device.personalize({"externalUserId": f"u{n}"})
    return device


@pytest.mark.parametrize(
    ("statuses", "reset"),
    [
        ([429, 429], False),
        ([404, 404], False),
        ([400, 404, 400], False),  # a 404 in between: not in a row
        ([400, 429, 400], False),
        ([500, 503], True),
        ([401, 400], True),
    ],
    ids=str,
)
def test_only_two_counted_failures_in_a_row_reset_the_base_url(started, router, statuses, reset):
    """Mutation: 429 (or 404) dropped from the exceptions of `BaseUrlManager`'s failure count."""
    device = _moved(started, router, statuses)
    assert device.base_url == ("https://mobile.infobip.com" if reset else "https://elsewhere.example.com")


def test_android_an_unreported_start_goes_out_before_the_new_session(make, router, clock):
    device = make("android")
    device.start()  # the create alone: the start S0 is not reported yet
    device.background()
    clock.set(START + 31)
    router.calls.clear()
    device.foreground()  # the foreground sync reports S0, then the tick starts S1 and reports again
    reports = [s.body for s in sent(router) if s.target.endswith("/user/events/session")]
    assert [(r["sessionStarts"], r["sessionBounds"]) for r in reports] == [
        (["2024-05-01T10:00:00Z"], {}),
        (["2024-05-01T10:00:31Z"], {"2024-05-01T10:00:00Z": "2024-05-01T10:00:00Z"}),
    ]


@pytest.mark.parametrize(("back", "synced"), [(10.999, False), (11.0, True)])
def test_android_a_foreground_within_5_s_of_any_sync_is_skipped(started, router, clock, back, synced):
    device = started("android")  # a foreground sync and a sync at START
    device.background()
    clock.set(START + 6)
    device.sync()  # a sync 6 s later (a push, a token)
    router.calls.clear()
    clock.set(START + back)
    device.foreground()
    assert (targets(router) != []) == synced
