"""What the push providers answered the reference server's sends (``mobsim serve --providers``).

The relay (server_stub/relay/loop.py) claims due messages as the built-in provider feed does
(:func:`server_stub.rules.messages.claim_deliveries` marks them handed) and settles each send here:

- ``retry``: back in the queue, due at ``retry_at`` (handed again once it is due);
- ``gone``: the provider says the token is invalid: the message is ``UNDELIVERABLE`` with
  ``EC_DEVICE_APP_UNINSTALL``, and the installation, if it is still active with that token, is
  uninstalled (an ``Uninstall`` event), as a backend does on that feedback;
- ``rejected``: the provider refused this send for good: ``UNDELIVERABLE_NOT_DELIVERED`` with no
  error code (the provider's reason is in the relay's counts, ``GET /inspect/relay``).

A message that is no longer pending (its delivery report came first, it expired) is left as it is.
"""

from __future__ import annotations

from collections.abc import Sequence

from .context import Caller, Context
from .installations import uninstall
from .messages import PROVIDER_REJECTED, now_ms

__all__ = ["settle_sends"]


def settle_sends(ctx: Context, settled: Sequence[tuple[str, str, int]]) -> int:
    """``(message_id, kind, retry_at)`` per send (``retry_at`` epoch ms, for ``retry``); returns how
    many installations were uninstalled."""
    now = now_ms(ctx)
    uninstalled = 0
    for message_id, kind, retry_at in settled:
        if kind == "retry":
            ctx.db.execute(
                "UPDATE messages SET handed_at=NULL, deliver_at=? WHERE message_id=? AND status='PENDING'",
                (retry_at, message_id),
            )
        elif kind in ("gone", "rejected"):
            error = "EC_DEVICE_APP_UNINSTALL" if kind == "gone" else PROVIDER_REJECTED
            changed = ctx.db.execute(
                "UPDATE messages SET status='UNDELIVERABLE', error=?, done_at=?"
                " WHERE message_id=? AND status='PENDING'",
                (error, now, message_id),
            ).rowcount
            if kind == "gone" and changed:
                uninstalled += _uninstall_holder(ctx, message_id)
    return uninstalled


def _uninstall_holder(ctx: Context, message_id: str) -> int:
    """Uninstall the message's installation if it is active and still holds the token sent to."""
    row = ctx.db.execute(
        "SELECT i.reg_id, a.code, a.account FROM messages m JOIN installations i ON i.reg_id=m.reg_id"
        " JOIN applications a ON a.code=i.app_code WHERE m.message_id=? AND i.state='active'"
        " AND json_extract(i.data, '$.pushServiceToken')=m.push_token",
        (message_id,),
    ).fetchone()
    if row is None:
        return 0
    uninstall(Context(ctx.db, Caller(app_code=row[1], account=row[2]), ctx.clock), row[0])
    return 1
