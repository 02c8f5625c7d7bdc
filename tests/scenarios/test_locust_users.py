"""The scenario tasks in a Locust Environment with a request listener, against the reference server
on loopback (Locust's own way of testing users: instantiate, call tasks, watch the request event)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import locust
import pytest
from locust.argument_parser import parse_options
from locust.env import Environment

from scenarios import Session, audience, business_outcome
from server_stub.serve import BackgroundServer, ServeConfig

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-")
TASKS = list(audience.MobileAudience.tasks)  # init weighs the class's task list in place


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServeConfig(port=0, app_codes=["LOCUST-TEST"])) as running:
        yield running


def make_env(server: BackgroundServer, *extra: str) -> tuple[Environment, list[dict[str, Any]]]:
    previous = audience._STATE.get("run")
    if previous is not None and previous.receiver is not None:
        previous.receiver.kill()  # the last test's push receiver (its server is gone)
    audience._STATE.update(run=None, parts={})
    audience.MobileAudience.tasks = list(TASKS)
    audience.MobileAudience.host = server.url  # the runner sets it when it spawns users
    opts = parse_options(
        ["-f", "scenarios", "--host", server.url, "--app-code", "LOCUST-TEST", "--think-time", "0",
         "--population", "400", "--installed-base", "no", *extra]
    )  # fmt: skip
    env = Environment(
        user_classes=[audience.MobileAudience], host=server.url, events=locust.events, parsed_options=opts
    )
    seen: list[dict[str, Any]] = []
    env.events.request.add_listener(lambda **kw: seen.append(kw))
    env.create_local_runner()
    env.events.init.fire(environment=env, runner=env.runner, web_ui=None)
    env.events.test_start.fire(environment=env)
    return env, seen


def test_sessions_report_every_request_under_its_endpoint_template(server: BackgroundServer) -> None:
    env, seen = make_env(server)
    user = audience.MobileAudience(env)
    for task in (user.browser, user.login, user.multidevice, user.shopper, user.churner, user.newinstall):
        for _ in range(3):
            task()
    names = {kw["name"] for kw in seen}
    assert seen and all(not UUID.search(name) for name in names)
    assert "POST /mobile/1/appinstance" in names
    assert "POST /mobile/1/appinstance/{pushRegId}/personalize" in names  # (sessions of no length: no
    # session reports; a real run's are pinned by tests/scenarios/test_run_command.py)
    assert all(kw["exception"] is None for kw in seen), [kw["exception"] for kw in seen if kw["exception"]]
    assert {kw["request_type"] for kw in seen} <= {"GET", "POST", "PATCH", "DELETE"}
    tally = audience._STATE["run"].tally.counts
    assert (tally["sessions"], tally["aborted"], tally["unavailable"]) == (18, 0, 0)
    env.events.test_stop.fire(environment=env)


def test_personas_weights_and_tags_shape_the_task_list(server: BackgroundServer) -> None:
    # In thousandths: shopper 3 and login 1, and new installs 3% of sessions on top: the newinstall
    # weight is 4 * 0.03 / 0.97 = 0.1237, so 3/4.1237 = 727.5 -> 728, 1/4.1237 = 242.5 -> 242, 30.
    make_env(server, "--personas", "shopper=3,login=1")
    names = [fn.__name__ for fn in audience.MobileAudience.tasks]
    assert (names.count("shopper"), names.count("login"), names.count("newinstall")) == (728, 242, 30)
    make_env(server, "--personas", "shopper=3,login=1", "--new-installs", "0")
    names = [fn.__name__ for fn in audience.MobileAudience.tasks]
    assert (names.count("shopper"), names.count("login"), names.count("newinstall")) == (750, 250, 0)
    make_env(server, "--personas", "shopper=3,login=1,newinstall=1")  # an explicit weight is kept as given
    names = [fn.__name__ for fn in audience.MobileAudience.tasks]
    assert (names.count("shopper"), names.count("login"), names.count("newinstall")) == (600, 200, 200)


def test_the_installed_base_is_registered_at_test_start_outside_the_stats(server: BackgroundServer) -> None:
    _env, seen = make_env(server, "--installed-base", "yes", "--population", "60", "--seed", "31")
    run = audience._STATE["run"]
    assert seen == []  # the set-up's requests are not the run's
    assert run.setup is not None and run.setup.registered == run.setup.devices > 0 and run.setup.failed == 0
    parked = dict(run.population.parked())
    assert len(parked) == run.setup.devices == sum(1 for i in range(60) if run.population.persona_of(i) != "newinstall")
    assert len(run.population.touched) == 0


def test_an_unexpected_error_is_a_failure_an_expected_one_is_a_business_outcome(server: BackgroundServer) -> None:
    env, seen = make_env(server, "--personas", "login=1")
    user = audience.MobileAudience(env)
    run = audience._STATE["run"]
    got = run.population.checkout("login", user.transport)
    assert got is not None
    index, device = got
    device.start()
    session = Session(device, index, run.population, user.rng, lambda s: None, run.tally, user.transport.expect)
    seen.clear()
    with business_outcome(session, "REQUEST_FORMAT_INVALID"):
        device.submit_event("noSuchDefinition", {"x": 1}, validate=True)
    assert seen[-1]["name"] == "POST /mobile/1/appinstance/{pushRegId}/user/events/custom"
    assert seen[-1]["exception"] is None
    assert run.tally.business_errors == {"REQUEST_FORMAT_INVALID": 1}
    with pytest.raises(Exception, match="REQUEST_FORMAT_INVALID"):
        device.submit_event("noSuchDefinition", {"x": 1}, validate=True)
    assert seen[-1]["exception"] is not None
    assert "REQUEST_FORMAT_INVALID" in str(seen[-1]["exception"])


def test_mobsim_options_are_shown_in_the_web_ui_with_the_app_code_secret() -> None:
    from locust.argument_parser import ui_extra_args_dict

    extra = ui_extra_args_dict(["-f", "scenarios", "--app-code", "SECRET", "--population", "123"])
    assert extra["population"]["default_value"] == 123
    assert extra["app_code"]["is_secret"] is True
    assert {"personas", "arrival_rate", "shape", "think_time", "state_file"} <= set(extra)


def test_once_the_run_is_stopping_no_session_starts_and_pauses_end_at_once(server: BackgroundServer) -> None:
    import time

    env, seen = make_env(server, "--think-time", "5")
    user = audience.MobileAudience(env)
    run = audience._STATE["run"]
    env.events.test_stopping.fire(environment=env)
    assert run.stopping is True
    started = time.monotonic()
    user.browser()  # a session would send requests; a stopping run starts none
    assert seen == [] and run.tally.counts["sessions"] == 0
    got = run.population.checkout("browser", user.transport)
    assert got is not None
    user._pause(got[1])(30.0)  # a think time of 30 s ends at once
    assert time.monotonic() - started < 2.0
