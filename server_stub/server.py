"""The reference server's state: the store, the clock, the known applications, authentication."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from starlette.requests import Request

from contract import ErrorCode, app_code_hash, format_datetime, headers
from contract.secrets import mask

from .errors import ApiError
from .jwt_keys import JwtKey, JwtKeys, verify
from .messaging import Messaging
from .rules import Caller, Context
from .store import Store

__all__ = ["DEFAULT_ACCOUNT", "ProfileServer", "new_application_code", "utcnow"]

DEFAULT_ACCOUNT = "default"
T = TypeVar("T")


def new_application_code() -> str:
    """An application code shaped like Infobip's: 32 hex digits, a dash, a UUID."""
    return f"{secrets.token_hex(16)}-{uuid.uuid4()}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class ProfileServer:
    """Everything a request handler needs, with no HTTP in it."""

    def __init__(self, store: Store, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock
        with store.transaction() as db:
            rows = db.execute("SELECT code, account FROM applications").fetchall()
        self._accounts: dict[str, str] = {row["code"]: row["account"] for row in rows}
        """Application code → account, of committed applications only: :meth:`authenticate` reads
        it outside any transaction, so it learns an application once its row has committed."""
        self.messaging = Messaging(store)
        """Push API keys, the push provider's latency and wake-ups (server_stub/messaging.py)."""
        self.jwt_keys = JwtKeys()
        """Each application's user-JWT keys, in memory (server_stub/jwt_keys.py)."""

    # applications -------------------------------------------------------------------------
    def add_application(
        self, code: str | None = None, *, name: str | None = None, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Any]:
        """Register an application (idempotent for a known code)."""
        with self.store.transaction() as db:
            app = self._add_application(db, code, name, account)
        self._accounts[app["code"]] = app["account"]
        return app

    async def add_application_async(
        self, code: str | None = None, *, name: str | None = None, account: str = DEFAULT_ACCOUNT
    ) -> dict[str, Any]:
        app = await self.store.atomic(lambda db: self._add_application(db, code, name, account))
        self._accounts[app["code"]] = app["account"]
        return app

    def _add_application(self, db: Any, code: str | None, name: str | None, account: str) -> dict[str, Any]:
        code = new_application_code() if code is None else code
        # The code travels in ``Authorization: App <code>``: printable ASCII, no spaces.
        if not 1 <= len(code) <= 200 or not code.isascii() or not code.isprintable() or " " in code:
            raise ApiError(
                ErrorCode.REQUEST_FORMAT_INVALID,
                "an application code is 1 to 200 printable ASCII characters without spaces",
            )
        # A known code keeps its row (and account); the caller learns the code once it has committed.
        db.execute(
            "INSERT INTO applications VALUES (?,?,?,?) ON CONFLICT (code) DO NOTHING",
            (code, name or f"app-{code[:6]}", account, format_datetime(self.clock())),
        )
        row = db.execute("SELECT * FROM applications WHERE code=?", (code,)).fetchone()
        return self.application_json(row)

    @staticmethod
    def application_json(row: Any) -> dict[str, Any]:
        return {
            "code": row["code"],
            "codeHash": app_code_hash(row["code"]),
            "name": row["name"],
            "account": row["account"],
            "created": row["created"],
        }

    def applications(self) -> list[dict[str, Any]]:
        """Every application (synchronous callers: start-up, tools)."""
        with self.store.transaction() as db:
            return self._applications(db)

    async def applications_async(self) -> list[dict[str, Any]]:
        return await self.store.atomic(self._applications)

    @classmethod
    def _applications(cls, db: Any) -> list[dict[str, Any]]:
        rows = db.execute("SELECT * FROM applications ORDER BY created, code").fetchall()
        return [cls.application_json(r) for r in rows]

    def account_of(self, code: str) -> str | None:
        return self._accounts.get(code)

    def add_jwt_key(self, key: JwtKey) -> bool:
        """Give a known application a user-JWT key (True: it replaced one with the same id)."""
        if key.app_code not in self._accounts:
            raise ApiError(ErrorCode.NOT_FOUND, f"no application {mask(key.app_code)}: create it first (--app-code)")
        return self.jwt_keys.add(key)

    # authentication -----------------------------------------------------------------------
    def authenticate(self, request: Request, *, bearer: bool = False) -> Caller:
        """``Authorization: App <code>`` (or, on user calls, a Bearer JWT naming the app) → the caller.

        A Bearer token must verify against its application's JWT keys (:func:`jwt_keys.verify`:
        401 ``UNAUTHORIZED`` otherwise, and always for an application without keys); the caller
        then carries the token's ``sub``, which the user rules compare with the user they concern.
        """
        value = request.headers.get(headers.AUTHORIZATION, "")
        code = headers.parse_app_authorization(value)
        subject: str | None = None
        if code is None and bearer and value[:7].lower() == "bearer ":
            token = verify(value[7:].strip(), self.jwt_keys, self._accounts.__contains__, self.clock().timestamp())
            code, subject = token.app_code, token.subject
        account = self._accounts.get(code) if code else None
        if account is None or code is None:
            raise ApiError(
                ErrorCode.INVALID_APPLICATION_CODE,
                "unknown application: send 'Authorization: App <code>' with a code this server knows "
                "(mobsim serve prints one)",
            )
        return Caller(
            app_code=code,
            account=account,
            reg_id=request.headers.get(headers.PUSH_REGISTRATION_ID) or None,
            installation_id=request.headers.get(headers.INSTALLATION_ID),
            jwt_subject=subject,
            jwt_only=self.jwt_keys.has_keys(code),
        )

    # running rules ------------------------------------------------------------------------
    def run(self, caller: Caller, rule: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one rule in one transaction (synchronous callers: tests, benches, tools)."""
        with self.store.transaction() as db:
            return rule(Context(db, caller, self.clock), *args, **kwargs)

    async def execute(self, caller: Caller, rule: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one rule atomically for a request; returns once its writes are committed."""
        return await self.store.atomic(lambda db: rule(Context(db, caller, self.clock), *args, **kwargs))

    def admin(self, account: str = DEFAULT_ACCOUNT) -> Caller:
        """A caller for inspection calls: the account, no application."""
        return Caller(app_code="", account=account)
