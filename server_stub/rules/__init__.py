"""The profile rules: plain Python over the store, testable without HTTP.

Each public function runs inside the caller's transaction and either returns a JSON-ready result or
raises :class:`server_stub.errors.ApiError`.
"""

from .context import STANDARD_EVENTS, Caller, Context
from .events import MalformedEvent, create_definition, custom_events, list_definitions, session_report
from .installations import (
    create_installation,
    delete_installation,
    get_installation,
    patch_installation,
    uninstall,
)
from .persons import depersonalize, get_user, patch_user, person_json, personalize

__all__ = [
    "STANDARD_EVENTS",
    "Caller",
    "Context",
    "MalformedEvent",
    "create_definition",
    "create_installation",
    "custom_events",
    "delete_installation",
    "depersonalize",
    "get_installation",
    "get_user",
    "list_definitions",
    "patch_installation",
    "patch_user",
    "person_json",
    "personalize",
    "session_report",
    "uninstall",
]
