"""mobsim's Locust options: shown in the web UI, given on the command line or in ``locust.conf``,
and passed by the master to its workers."""

from __future__ import annotations

from typing import Any

__all__ = ["add_options"]


def add_options(parser: Any) -> None:
    # On the parser itself, not an argument group: only the parser's add_argument registers an
    # option for the web UI.
    group = parser
    group.add_argument(
        "--app-code",
        default="",
        env_var="MOBSIM_APP_CODE",
        is_secret=True,  # masked in the web UI: on a real backend the code is a secret
        help="application code (Authorization: App)",
    )
    group.add_argument("--population", type=int, default=10_000, help="devices in the population (default 10000)")
    group.add_argument("--seed", type=int, default=1, help="the population's seed: same seed, same devices")
    group.add_argument(
        "--personas",
        default="browser=30,login=25,multidevice=10,shopper=20,churner=5,newinstall=10",
        help="persona weights, name=weight,... (browser, login, multidevice, shopper, churner, newinstall)",
    )
    group.add_argument("--platforms", default="android=55,ios=38,huawei=7", help="platform shares, name=weight,...")
    group.add_argument(
        "--arrival-rate",
        type=float,
        default=0.0,
        help="open model: app sessions started per second, held whatever the response times (0: closed model)",
    )
    group.add_argument(
        "--arrival-tolerance",
        type=float,
        default=1.0,
        help="seconds a session may wait for a free user before it is dropped",
    )
    group.add_argument("--shape", default="constant", choices=["constant", "ramp", "day", "spike"], help="load shape")
    group.add_argument("--ramp-time", type=float, default=30.0, help="ramp: seconds to full load")
    group.add_argument("--day-length", type=float, default=600.0, help="day: seconds one compressed day lasts")
    group.add_argument("--day-start-hour", type=float, default=6.0, help="day: the local hour the run starts at")
    group.add_argument("--spike-at", type=float, default=30.0, help="spike: seconds until the push campaign")
    group.add_argument(
        "--spike-share",
        type=float,
        default=0.05,
        help="spike: share of the population that opens the app within a minute",
    )
    group.add_argument(
        "--think-time", type=float, default=1.0, help="scale of the think times inside sessions (0: none)"
    )
    group.add_argument("--state-file", default="", help="save the population's state here at the end; resume from it")
    group.add_argument(
        "--max-rps", type=float, default=0.0, help="cap on requests per second for the whole run (0: none)"
    )
    group.add_argument("--summary-file", default="", help="write the run's JSON summary here (master)")
    group.add_argument(
        "--stats-by-platform",
        action="store_true",
        default=False,
        help="split request stats by platform (ios, android...)",
    )
    group.add_argument(
        "--create-definitions",
        default="auto",
        choices=["auto", "yes", "no"],
        help="create the personas' event definitions through the inspection API (auto: try, ignore failure)",
    )
