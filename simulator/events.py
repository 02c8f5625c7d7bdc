"""Custom events: storage of batched events and the request body.

iOS stores each batched event (Core Data) and flushes all of them 2 s after the last submit
(`MMPostponer`) and on every foreground, with `validate=0`. Android stores them in preferences and
sends the whole list through the 5 s `BatchReporter` with `validate=false`; only a later
`submitEvent` flushes events left over after a failure. Immediate submits (`validate=true`/`1`)
carry one event and are never stored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from contract.formats import format_epoch

from .userdata import wire_value

__all__ = ["ANDROID_BATCH_DELAY", "IOS_DEBOUNCE", "event_body", "stored_event"]

IOS_DEBOUNCE = 2.0
ANDROID_BATCH_DELAY = 5.0


def stored_event(definition_id: str, properties: Mapping[str, Any] | None, now: float) -> list[Any]:
    """``[definitionId, epoch second, properties]``; properties None when the app gave none."""
    props = None if properties is None else {k: wire_value(v, date_as_datetime=True) for k, v in properties.items()}
    return [definition_id, int(now), props]


def event_body(events: list[list[Any]]) -> dict[str, Any]:
    """Both SDKs leave ``properties`` out of an event the app gave none (iOS `compactMapValues`,
    Android's POST serializer drops the null) and send ``{}`` for an empty map."""
    out = []
    for definition_id, at, props in events:
        event: dict[str, Any] = {"definitionId": definition_id, "date": format_epoch(at)}
        if props is not None:
            event["properties"] = props
        out.append(event)
    return {"events": out}
