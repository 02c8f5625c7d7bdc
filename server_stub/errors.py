"""The reference server's one error type: a Mobile API error code with a text for the client."""

from __future__ import annotations

from contract import ErrorCode, status_for

__all__ = ["ApiError"]


class ApiError(Exception):
    """A client-facing error, answered as the ``requestError.serviceException`` envelope."""

    def __init__(self, code: ErrorCode, text: str, *, status: int | None = None) -> None:
        super().__init__(f"{code}: {text}")
        self.code = code
        self.text = text
        self.status = status if status is not None else status_for(code)
        self.headers: dict[str, str] = {}
        """Headers of the answer (``Retry-After`` on a 503)."""
