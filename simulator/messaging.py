"""The message half of the SDK: pushes arriving, the messages sync, seen reports, taps, MO.

`MessageFlows` is what both SDK lines share of it; the platform classes fill in the hooks (how a
push is taken, what the sync sends and does with its answer, how seen reports are timed). The
facts come from the SDK sources, cited in docs/reference/messages.md:

- a push the SDK takes is stored (`simulator.inbox`) and its delivery reported: Android through
  ``drIDs`` of the messages sync that every delivered message starts; iOS through its Notification
  Service Extension (``/mobile/1/messages/deliveryreport``) and ``drIDs`` for what it did not report;
- the messages sync sends back the archive (``mIDs``) and the unreported delivery ids (``drIDs``);
  the messages its answer carries are taken like pushes;
- a tap opens the app (an App Launch when a new session starts) and marks the message seen; seen
  reports carry ``timestampDelta``, the seconds since the message was seen, and never the ids the
  SDK takes for its own (UUID-shaped);
- with push registration disabled or a logout pending, pushes are dropped and the sync is skipped.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import Any

from contract.messages import Message, is_generated_id

from . import inbox
from .errors import SimulatorError
from .inbox import M
from .state import Flag
from .sync import SyncFlows
from .userdata import merge

__all__ = ["MessageFlows"]


class MessageFlows(SyncFlows):
    # -- hooks -------------------------------------------------------------------------------

    def _push_arrived(self, message: Message, payload: Any) -> bool:
        """The push service handed the app ``message``; True when the SDK took it."""
        raise NotImplementedError

    def _sync_messages_body(self) -> tuple[dict[str, Any] | None, list[str]]:
        """The messages sync body and the delivery ids it reports."""
        raise NotImplementedError

    def _sync_answer(self, payloads: list[Any], iteration: int) -> None:
        """Take the messages a sync answer carried."""
        raise NotImplementedError

    def _skip_messages_sync(self, reporting: bool) -> bool:
        """The SDK's own throttle on the messages sync (``reporting``: it carries delivery ids)."""
        return False

    def _seen_delta(self, now_ms: int, seen_ms: int) -> int:
        """``timestampDelta``: seconds since the message was seen."""
        raise NotImplementedError

    def _seen_marked(self, immediately: bool) -> None:
        """Messages were marked seen: schedule (or send) the seen report."""
        raise NotImplementedError

    # -- state -------------------------------------------------------------------------------

    def _push_enabled(self) -> bool:
        st = self.state
        return bool(merge(st.installation, st.installation_dirty).get("regEnabled", True))

    def _messages_suspended(self) -> bool:
        """Push registration disabled or a logout pending: the SDK neither takes nor syncs messages."""
        return not self._push_enabled() or self.state.has(Flag.DEPERSONALIZE_PENDING)

    def _store(self, message: Message, flags: int) -> inbox.Entry:
        st = self.state
        now_ms = self._now_ms()
        if message.silent:
            flags |= M.SILENT
        if message.in_app:
            flags |= M.IN_APP
        st.messages = inbox.prune(st.messages, now_ms)
        st.messages = inbox.add(st.messages, message.message_id, now_ms, message.send_date_time, flags)
        return st.messages[-1]

    # -- the messages sync -------------------------------------------------------------------

    def _sync_messages(self, attempt: int = 0, iteration: int = 0) -> None:
        if not self.config.sync_messages or not self.state.reg_id or self._messages_suspended():
            return
        body, reporting = self._sync_messages_body()
        if self._skip_messages_sync(bool(reporting)):
            return
        self._sending("deliveries", attempt, owed=bool(reporting))
        try:
            data = self._call("sync_messages", body=body)
        except SimulatorError as exc:
            if reporting:
                self._owe("deliveries")  # the ids stay unreported: the next sync carries them again
            self._schedule_retry(exc, "_sync_messages", (), attempt)
            raise
        for message_id in reporting:
            entry = inbox.find(self.state.messages, message_id)
            if entry is not None:
                inbox.set_flag(entry, M.REPORTED)
        self._acked("deliveries", len(reporting))
        payloads = data.get("payloads") if isinstance(data, dict) else None
        if isinstance(payloads, list) and payloads:
            self._sync_answer(payloads, iteration)

    # -- seen --------------------------------------------------------------------------------

    def _mark_seen(self, message_ids: tuple[str, ...]) -> int:
        now_ms, marked = self._now_ms(), 0
        for message_id in message_ids:
            entry = inbox.find(self.state.messages, message_id)
            if entry is not None and not inbox.flags(entry) & M.SEEN:  # only the first seen time counts
                inbox.set_flag(entry, M.SEEN)
                entry[4] = now_ms
                marked += 1
        return marked

    def _report_seen(self) -> None:
        st = self.state
        if not st.reg_id or not st.messages:
            return
        now_ms = self._now_ms()
        entries = [e for e in st.messages if inbox.flags(e) & (M.SEEN | M.SEEN_SENT) == M.SEEN
                   and not is_generated_id(e[0], self.platform)]  # fmt: skip
        if not entries:
            return
        body = {"messages": [{"messageId": e[0], "timestampDelta": self._seen_delta(now_ms, e[4])} for e in entries]}
        self._sending("seen")
        try:
            self._call("seen_messages", body=body)
        except SimulatorError:
            self._owe("seen")  # no retry: what failed stays queued for the next sync
            raise
        for entry in entries:
            inbox.set_flag(entry, M.SEEN_SENT)
        self._acked("seen", len(entries))

    # -- MO ----------------------------------------------------------------------------------

    def _mo_id(self, text: str) -> str:
        st = self.state
        digest = hashlib.blake2b(f"mo:{st.seed}:{st.install}:{self._now_ms()}:{text}".encode(), digest_size=16)
        return str(uuid.UUID(bytes=digest.digest(), version=4))

    def _mo_body(self, destination: str | None, text: str, custom: Mapping[str, Any] | None) -> dict[str, Any]:
        message: dict[str, Any] = {"messageId": self._mo_id(text)}
        if destination:
            message["destination"] = destination
        message["text"] = text
        if custom:
            message["customPayload"] = dict(custom)
        return {"from": self.state.reg_id, "messages": [message]}
