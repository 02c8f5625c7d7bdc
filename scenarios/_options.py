"""mobsim's load options: one table for ``locust -f scenarios`` and ``mobsim run``.

Each :class:`Option` is declared once, with its name, type, default and help; :func:`add_options`
puts the table on Locust's parser (shown in the web UI, read from ``locust.conf`` and passed by the
master to its workers) and :func:`add_run_options` on ``mobsim run``'s. :func:`validate` checks
the values once, before any load, and answers every problem as a sentence that says how to fix it;
both entry points call it. No Locust import here: ``mobsim run`` loads this in a process that
must not be patched by gevent.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from simulator import AppConfig

from ._population import DEFAULT_PERSONAS, DEFAULT_PLATFORMS, PERSONAS, Population, Slice, parse_weights

__all__ = [
    "DEFAULT_NEW_INSTALLS",
    "OPTIONS",
    "SHAPES",
    "Option",
    "ShapePlan",
    "add_options",
    "add_run_options",
    "new_install_share",
    "persona_weights",
    "plan_shape",
    "population_for",
    "validate",
]

SHAPES = ("constant", "ramp", "day", "spike")
DEFAULT_NEW_INSTALLS = 0.03
"""Share of app sessions that are a new install. App-store analytics put first opens at a few
percent of the daily sessions of an established consumer app; 3% is the round figure chosen."""


def _weights_text(weights: dict[str, float]) -> str:
    return ",".join(f"{name}={weight:g}" for name, weight in weights.items())


@dataclass(frozen=True)
class Option:
    name: str
    """The flag without dashes, as in ``locust.conf``: ``population``, ``think-time``."""
    type: Callable[[str], Any] | None
    default: Any
    help: str
    choices: tuple[str, ...] | None = None
    flag: bool = False
    """A switch (store_true)."""
    secret: bool = False
    env: str | None = None
    group: str = "audience and load model"
    locust_only: bool = False
    """Declared for Locust only (``mobsim run`` sets it itself)."""

    @property
    def dest(self) -> str:
        return self.name.replace("-", "_")

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {"default": self.default, "help": self.help}
        if self.flag:
            out["action"] = "store_true"
        else:
            out["type"] = self.type
        if self.choices:
            out["choices"] = list(self.choices)
        return out


OPTIONS: tuple[Option, ...] = (
    Option(
        "app-code", str, "", "application code (Authorization: App); MOBSIM_APP_CODE in the environment",
        secret=True, env="MOBSIM_APP_CODE", group="target", locust_only=True,
    ),
    Option("population", int, 2000, "devices in the population (default 2000)"),
    Option("seed", int, 1, "the population's seed: same seed, same devices (default 1)"),
    Option(
        "personas", str, _weights_text(DEFAULT_PERSONAS),
        f"persona weights, name=weight,... of {', '.join(PERSONAS)} (default {_weights_text(DEFAULT_PERSONAS)})",
    ),
    Option(
        "platforms", str, _weights_text(DEFAULT_PLATFORMS),
        f"platform shares, name=weight,... (default {_weights_text(DEFAULT_PLATFORMS)})",
    ),
    Option(
        "new-installs", float, None,
        f"share of app sessions that are a new install (default {DEFAULT_NEW_INSTALLS:g}; the newinstall persona)",
    ),
    Option(
        "installed-base", str, "yes",
        "yes: register the population before the measured window (default); no: start with no device installed",
        choices=("yes", "no"),
    ),
    Option(
        "arrival-rate", float, 0.0,
        "open model: app sessions started per second, held whatever the response times (0: closed model)",
    ),
    Option("arrival-tolerance", float, 1.0, "seconds a session may wait for a free user before it is dropped"),
    Option("shape", str, "constant", "load shape: constant, ramp, day or spike", choices=SHAPES),
    Option("ramp-time", float, None, "ramp: seconds to full load (default a third of the run time)"),
    Option("day-length", float, None, "day: seconds one compressed day lasts (default the run time)"),
    Option("day-start-hour", float, 6.0, "day: the local hour the run starts at (default 6)"),
    Option("spike-at", float, None, "spike: seconds until the push campaign (default a third of the run time)"),
    Option("spike-share", float, 0.05, "spike: share of the population that opens the app within a minute"),
    Option(
        "spike-segment", str, "All installations",
        "spike: the saved segment the campaign goes to (with --api-key; default All installations, created with "
        "the query {} through /inspect/segments when the target lacks it)",
    ),
    Option(
        "api-key", str, "",
        "an account API key of the target's Push API: --shape spike then sends a real campaign (MOBSIM_API_KEY; "
        "mobsim run passes the bundled server's own)",
        secret=True, env="MOBSIM_API_KEY", group="target",
    ),
    Option(
        "deliveries-url", str, "",
        "the push providers' feed the devices take their pushes from (GET .../provider/1/deliveries; default the "
        "target's own, the reference server's simulated provider; mobsim run --providers sets its providers' feed)",
        group="target",
    ),
    Option("think-time", float, 1.0, "scale of the think times inside sessions (0: none; default 1)"),
    Option("state-file", str, "", "resume the population from this file and save it back at the end"),
    Option(
        "max-rps", float, None,
        "cap on requests per second for the whole run (default: none on loopback, 50 elsewhere; 0: no cap)",
        group="target",
    ),
    Option("summary-file", str, "", "write the run's JSON summary here (master)", locust_only=True),
    Option("stats-by-platform", None, False, "split request stats by platform (ios, android...)", flag=True),
    Option(
        "create-definitions", str, "auto",
        "create the personas' event definitions through the inspection API (auto: try, ignore failure)",
        choices=("auto", "yes", "no"),
    ),
)  # fmt: skip
"""Every mobsim option of a load run, in the order ``--help`` lists them."""

_BY_DEST = {option.dest: option for option in OPTIONS}


def add_options(parser: Any) -> None:
    """Declare the table on Locust's parser. On the parser itself, not an argument group: only
    the parser's own ``add_argument`` registers an option for the web UI."""
    for option in OPTIONS:
        extra: dict[str, Any] = {}
        if option.env:
            extra["env_var"] = option.env
        if option.secret:
            extra["is_secret"] = True  # masked in the web UI: on a real backend the code is a secret
        parser.add_argument(f"--{option.name}", **option.kwargs(), **extra)


def add_run_options(groups: dict[str, argparse._ArgumentGroup]) -> None:
    """Declare the table on ``mobsim run``'s parser (its target group declares ``--max-rps``)."""
    for option in OPTIONS:
        if option.locust_only or option.name == "max-rps":
            continue
        groups[option.group].add_argument(f"--{option.name}", **option.kwargs())


# -- validation ----------------------------------------------------------------------------------


def persona_weights(opts: Any) -> dict[str, float]:
    """The persona weights with the new-install share folded in (``newinstall``'s weight)."""
    weights = parse_weights(opts.personas, PERSONAS, "--personas")
    share = new_install_share(opts)
    rest = sum(w for name, w in weights.items() if name != "newinstall")
    if "newinstall" in weights or rest <= 0:
        return weights
    if share >= 1:
        return {"newinstall": 1.0}
    weights["newinstall"] = rest * share / (1 - share)
    return weights


def population_for(opts: Any, app: AppConfig, slice_: Slice) -> Population:
    """The population the options describe (size, seed, personas with new installs, platforms):
    the same in every process of a run, the set-up's included."""
    return Population(
        opts.population,
        opts.seed,
        app,
        slice_=slice_,
        personas=persona_weights(opts),
        platforms=parse_weights(opts.platforms, tuple(DEFAULT_PLATFORMS), "--platforms"),
    )


def new_install_share(opts: Any) -> float:
    value = getattr(opts, "new_installs", None)
    return DEFAULT_NEW_INSTALLS if value is None else float(value)


def _number(
    errors: list[str], opts: Any, dest: str, *, low: float, high: float = math.inf, open_low: bool = False
) -> None:
    value = getattr(opts, dest, None)
    if value is None:
        return
    flag = f"--{dest.replace('_', '-')}"
    bad = not math.isfinite(value) or value > high or (value <= low if open_low else value < low)
    if bad:
        lower = f"above {low:g}" if open_low else f"at least {low:g}"
        upper = f" and at most {high:g}" if math.isfinite(high) else ""
        errors.append(f"{flag} {value:g}: must be {lower}{upper}")


def validate(opts: Any, *, tags: Iterable[str] | None = None, exclude_tags: Iterable[str] | None = None) -> list[str]:
    """Every problem with the load options, each a sentence that names the option and the fix."""
    errors: list[str] = []
    for dest, what in (("personas", "--personas"), ("platforms", "--platforms")):
        known = PERSONAS if dest == "personas" else tuple(DEFAULT_PLATFORMS)
        try:
            parse_weights(getattr(opts, dest), known, what)
        except ValueError as exc:
            errors.append(str(exc))
    if getattr(opts, "shape", "constant") not in SHAPES:
        errors.append(f"--shape {opts.shape!r}: choose one of {', '.join(SHAPES)}")
    _number(errors, opts, "population", low=1)
    _number(errors, opts, "seed", low=0)
    _number(errors, opts, "new_installs", low=0, high=1)
    _number(errors, opts, "spike_share", low=0, high=1)
    _number(errors, opts, "think_time", low=0)
    _number(errors, opts, "arrival_rate", low=0)
    _number(errors, opts, "arrival_tolerance", low=0, open_low=True)
    _number(errors, opts, "ramp_time", low=0)
    _number(errors, opts, "day_length", low=0, open_low=True)
    _number(errors, opts, "day_start_hour", low=0, high=24)
    _number(errors, opts, "spike_at", low=0)
    _number(errors, opts, "max_rps", low=0)
    feed = getattr(opts, "deliveries_url", "") or ""
    if feed and (urlsplit(feed).scheme not in ("http", "https") or not urlsplit(feed).netloc):
        errors.append(
            f"--deliveries-url {feed!r}: give the feed's URL, e.g. http://127.0.0.1:8090/provider/1/deliveries"
        )
    if getattr(opts, "new_installs", None) is not None and "newinstall=" in (opts.personas or "").replace(" ", ""):
        errors.append(
            "--personas names newinstall and --new-installs is given: new installs are a share of sessions; "
            "give it once, with --new-installs"
        )
    for flag, names in (("--tags", tags), ("--exclude-tags", exclude_tags)):
        unknown = sorted(set(names or ()) - set(PERSONAS))
        if unknown:
            errors.append(f"{flag} {' '.join(unknown)}: no such persona; the personas are {', '.join(PERSONAS)}")
    if tags is not None and not errors:
        selected = set(tags) - set(exclude_tags or ())
        if tags and not selected:
            errors.append("--tags and --exclude-tags leave no persona to run")
    if exclude_tags and not set(PERSONAS) - set(exclude_tags):
        errors.append("--exclude-tags excludes every persona")
    if not errors:
        weights = persona_weights(opts)
        runnable = set(tags) if tags else set(PERSONAS)
        runnable -= set(exclude_tags or ())
        if not any(weights.get(name, 0) > 0 for name in runnable):
            errors.append(
                f"the personas selected ({', '.join(sorted(runnable))}) all have weight 0 in --personas "
                f"{opts.personas!r}: give one of them a positive weight"
            )
    return errors


# -- shapes over the run time --------------------------------------------------------------------


@dataclass(frozen=True)
class ShapePlan:
    """The shape's parameters resolved against the run time, and one sentence saying what it does."""

    ramp_time: float
    day_length: float
    spike_at: float
    text: str


def plan_shape(opts: Any, run_time: float | None, users: int) -> ShapePlan:
    """Defaults relative to ``run_time`` (a ramp over its first third, one compressed day over the
    whole run, the campaign a third of the way in); without a run time (Locust's web UI) the fixed
    defaults of 30 s, 600 s and 30 s."""
    span = run_time if run_time and run_time > 0 else None
    ramp = opts.ramp_time if opts.ramp_time is not None else (span / 3 if span else 30.0)
    day = opts.day_length if opts.day_length is not None else (span if span else 600.0)
    spike = opts.spike_at if opts.spike_at is not None else (span / 3 if span else 30.0)
    open_model = opts.arrival_rate > 0
    load = f"{opts.arrival_rate:g} sessions/s" if open_model else f"{users} users"
    shape = opts.shape
    if shape == "ramp":
        text = f"ramp: from 0 to {load} over {ramp:g} s, then constant"
    elif shape == "day":
        text = (
            f"day: one day of app traffic in {day:g} s from {opts.day_start_hour:g}:00 local time "
            f"(night trough near 4:00, evening peak near 20:00), peak {load}"
        )
    elif shape == "spike":
        opening = round(opts.spike_share * opts.population)
        base = f"{opts.arrival_rate:g} sessions/s" if open_model else f"20% of {users} users"
        if getattr(opts, "api_key", ""):
            text = (
                f"spike: baseline {base}, then at {spike:g} s a real campaign to the segment "
                f"{opts.spike_segment!r} through the Push API: the whole segment's delivery traffic, and "
                f"{opts.spike_share:.0%} of the devices that get it open the app within about a minute"
            )
        else:
            text = (
                f"spike: baseline {base}, then at {spike:g} s a push campaign: {opts.spike_share:.0%} of the "
                f"population ({opening} devices) opens the app within about a minute (no --api-key: the openers "
                "are modelled, no push is sent)"
            )
        if span and spike >= span:
            text += f" [the campaign is after the end of the run ({span:g} s): it will not happen]"
    else:
        text = f"constant: {load}"
    return ShapePlan(ramp, day, spike, text)


def option(dest: str) -> Option:
    return _BY_DEST[dest]
