"""The load scenarios: a Locust locustfile directory, and the pieces of a run that need no Locust.

``locust -f scenarios`` loads ``audience.py`` (the users, the shape, the event listeners). Every
other module starts with ``_`` because Locust loads each other ``.py`` file of the directory as a
locustfile. What ``mobsim run``, the benches and the tests use is exported here; importing this
package never imports Locust or gevent (``_runtime`` and ``_setup``, which do, are for the Locust
processes).
"""

from typing import Any

from ._counts import arrivals_summary, merge_parts
from ._curves import DAY_PROFILE, Curve, curve, day_level, ramp_level, spike_level
from ._installed_base import INSTALL_WINDOW_DAYS, SetupResult, establish, logs_in_at_install
from ._options import (
    DEFAULT_NEW_INSTALLS,
    OPTIONS,
    SHAPES,
    Option,
    ShapePlan,
    add_options,
    add_run_options,
    new_install_share,
    persona_weights,
    plan_shape,
    population_for,
    validate,
)
from ._personas import (
    EVENT_DEFINITIONS,
    PERSONA_SESSIONS,
    Session,
    Tally,
    app_call,
    business_outcome,
    no_expectations,
    person_attributes,
    run_session,
    settle,
)
from ._population import (
    DEFAULT_PERSONAS,
    DEFAULT_PLATFORMS,
    PERSONAS,
    Population,
    Slice,
    Touched,
    load_state,
    parse_weights,
    prune_state_files,
    slice_state_path,
    state_header,
)
from ._pushes import (
    DELIVERIES_PATH,
    EVERYONE,
    SEND_PATH,
    OpenPolicy,
    PushReceiver,
    campaign_request,
    open_session,
    send_campaign,
)


def locust_transport() -> Any:
    """`LocustTransport`, the devices' carrier over a Locust ``FastHttpSession``: importing it
    imports Locust (which monkey-patches the standard library for gevent), so it is handed out on
    request rather than imported with this package."""
    from ._runtime import LocustTransport

    return LocustTransport


__all__ = [
    "DAY_PROFILE",
    "DEFAULT_NEW_INSTALLS",
    "DEFAULT_PERSONAS",
    "DEFAULT_PLATFORMS",
    "DELIVERIES_PATH",
    "EVENT_DEFINITIONS",
    "EVERYONE",
    "INSTALL_WINDOW_DAYS",
    "OPTIONS",
    "PERSONAS",
    "PERSONA_SESSIONS",
    "SEND_PATH",
    "SHAPES",
    "Curve",
    "OpenPolicy",
    "Option",
    "Population",
    "PushReceiver",
    "Session",
    "SetupResult",
    "ShapePlan",
    "Slice",
    "Tally",
    "Touched",
    "add_options",
    "add_run_options",
    "app_call",
    "arrivals_summary",
    "business_outcome",
    "campaign_request",
    "curve",
    "day_level",
    "establish",
    "load_state",
    "locust_transport",
    "logs_in_at_install",
    "merge_parts",
    "new_install_share",
    "no_expectations",
    "open_session",
    "parse_weights",
    "person_attributes",
    "persona_weights",
    "plan_shape",
    "population_for",
    "prune_state_files",
    "ramp_level",
    "run_session",
    "send_campaign",
    "settle",
    "slice_state_path",
    "spike_level",
    "state_header",
    "validate",
]
