"""Errors from the Kubernetes side, split by what the caller should do about them."""

from __future__ import annotations


class ApiError(RuntimeError):
    """A Kubernetes API call did not succeed."""


class TransientApiError(ApiError):
    """5xx, 429, timeout or connection error that outlasted the retry deadline: retry later
    (the function answers 5xx so the Broker redelivers)."""


class PermanentApiError(ApiError):
    """4xx other than the conflicts callers handle (422 invalid, 403 forbidden, 404 namespace
    missing): retrying cannot help. ``message`` is the API's own Status message."""

    def __init__(self, status: int, message: str):
        super().__init__(f"{status}: {message}")
        self.status = status
        self.message = message


class LedgerConflict(ApiError):
    """The admission ledger changed since it was read (409): re-read and decide again."""


class ApiStatusError(ApiError):
    """A non-transient error status (4xx) as the API described it in its Status body."""

    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status, self.reason, self.message = status, reason, message

    def permanent(self, what: str) -> PermanentApiError:
        return PermanentApiError(self.status, f"{what}: {self.message}")
