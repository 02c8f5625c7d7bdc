"""The one option table of ``locust -f scenarios`` and ``mobsim run``: same names and defaults in
both, one validation, new installs as a share of sessions, and shapes placed over the run time."""

from __future__ import annotations

import argparse
from typing import Any

import pytest
from locust.argument_parser import parse_options

from mobsim.cli import build_parser
from scenarios import (
    DEFAULT_NEW_INSTALLS,
    OPTIONS,
    audience,
    new_install_share,
    persona_weights,
    plan_shape,
    validate,
)


def locust_defaults() -> argparse.Namespace:
    assert audience.add_options  # the locustfile's listener declares the table on Locust's parser
    return parse_options(["-f", "scenarios"])


def run_defaults(*args: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", *args])


def test_both_entry_points_declare_every_option_with_the_same_default() -> None:
    locust, run = locust_defaults(), run_defaults()
    for option in OPTIONS:
        assert hasattr(locust, option.dest), option.name
        if option.locust_only:
            continue
        assert getattr(run, option.dest) == getattr(locust, option.dest) == option.default, option.name
    assert run.population == 2000  # was 10,000 under Locust and 2,000 under mobsim run


def namespace(**values: Any) -> argparse.Namespace:
    opts = run_defaults()
    for key, value in values.items():
        setattr(opts, key, value)
    return opts


def test_the_defaults_validate() -> None:
    assert validate(run_defaults()) == []
    assert validate(locust_defaults()) == []


@pytest.mark.parametrize(
    ("values", "fragment"),
    [
        ({"personas": "nosuch=1"}, "--personas 'nosuch=1'"),
        ({"personas": "browser=-1"}, "must not be negative"),
        ({"personas": "browser=0"}, "at least one positive weight"),
        ({"platforms": "windows=10"}, "--platforms 'windows=10'"),
        ({"shape": "zigzag"}, "--shape 'zigzag'"),
        ({"population": 0}, "--population 0: must be at least 1"),
        ({"seed": -1}, "--seed -1: must be at least 0"),
        ({"new_installs": 1.01}, "--new-installs 1.01: must be at least 0 and at most 1"),
        ({"new_installs": -0.01}, "--new-installs -0.01"),
        ({"spike_share": 2.0}, "--spike-share 2"),
        ({"think_time": -1.0}, "--think-time -1"),
        ({"arrival_rate": -1.0}, "--arrival-rate -1"),
        ({"arrival_tolerance": 0.0}, "--arrival-tolerance 0: must be above 0"),
        ({"day_length": 0.0}, "--day-length 0: must be above 0"),
        ({"day_start_hour": 25.0}, "--day-start-hour 25"),
        ({"ramp_time": -5.0}, "--ramp-time -5"),
        ({"spike_at": float("nan")}, "--spike-at nan"),
        ({"personas": "browser=1,newinstall=1", "new_installs": 0.1}, "give it once, with --new-installs"),
    ],
)
def test_each_bad_value_is_one_sentence_naming_the_option(values: dict[str, Any], fragment: str) -> None:
    problems = validate(namespace(**values))
    assert len(problems) == 1 and fragment in problems[0], problems


def test_boundaries_are_inclusive_where_the_range_is() -> None:
    for values in ({"new_installs": 0.0}, {"new_installs": 1.0}, {"spike_share": 1.0}, {"think_time": 0.0},
                   {"day_start_hour": 24.0}, {"population": 1}, {"seed": 0}, {"arrival_tolerance": 0.001}):  # fmt: skip
        assert validate(namespace(**values)) == [], values


def test_tags_must_name_personas_and_leave_one_to_run() -> None:
    opts = run_defaults()
    assert validate(opts, tags=["shopper"]) == []
    assert "no such persona" in validate(opts, tags=["shoper"])[0]
    assert "no such persona" in validate(opts, exclude_tags=["nosuch"])[0]
    assert validate(opts, tags=["shopper"], exclude_tags=["shopper"]) == [
        "--tags and --exclude-tags leave no persona to run"
    ]
    everyone = ["browser", "login", "multidevice", "shopper", "churner", "newinstall"]
    assert "--exclude-tags excludes every persona" in validate(opts, exclude_tags=everyone)
    weightless = namespace(personas="browser=1", new_installs=0.0)
    assert "all have weight 0" in validate(weightless, tags=["login"])[0]


def test_new_installs_are_a_share_of_sessions_on_top_of_the_weights() -> None:
    assert new_install_share(run_defaults()) == DEFAULT_NEW_INSTALLS == 0.03
    weights = persona_weights(run_defaults())
    assert weights["newinstall"] / sum(weights.values()) == pytest.approx(0.03)
    assert persona_weights(namespace(new_installs=0.0))["newinstall"] == 0
    assert persona_weights(namespace(new_installs=1.0)) == {"newinstall": 1.0}
    explicit = persona_weights(namespace(personas="browser=3,newinstall=1"))
    assert explicit == {"browser": 3.0, "newinstall": 1.0}  # given in --personas: kept as it is


def test_shapes_are_placed_relative_to_the_run_time_by_default() -> None:
    opts = namespace(shape="spike")
    plan = plan_shape(opts, 90, 50)
    assert (plan.ramp_time, plan.day_length, plan.spike_at) == (30, 90, 30)
    assert "at 30 s a push campaign: 5% of the population (100 devices)" in plan.text
    assert plan_shape(namespace(shape="ramp"), 90, 50).text == "ramp: from 0 to 50 users over 30 s, then constant"
    assert "one day of app traffic in 90 s" in plan_shape(namespace(shape="day"), 90, 50).text
    assert plan_shape(namespace(), 90, 50).text == "constant: 50 users"
    given = plan_shape(namespace(shape="spike", spike_at=100.0), 90, 50)
    assert given.spike_at == 100 and "it will not happen" in given.text
    assert "it will not happen" not in plan_shape(namespace(shape="spike", spike_at=89.0), 90, 50).text
    web_ui = plan_shape(namespace(shape="spike"), None, 50)  # no run time: the fixed defaults
    assert (web_ui.ramp_time, web_ui.day_length, web_ui.spike_at) == (30.0, 600.0, 30.0)
    open_model = plan_shape(namespace(shape="ramp", arrival_rate=4.0), 60, 160)
    assert open_model.text == "ramp: from 0 to 4 sessions/s over 20 s, then constant"
