"""When to retry a GitHub call and how long to wait first: a pure decision, plus a per-key throttle.

GitHub's rules (https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api
#exceeding-the-rate-limit, https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
#handle-rate-limit-errors-appropriately):

- primary limit: 403 or 429 with ``x-ratelimit-remaining: 0`` → not before ``x-ratelimit-reset``
  (UTC epoch seconds);
- secondary limit: 403 or 429 saying so → ``retry-after`` seconds when present, else the reset
  time when remaining is 0, else at least one minute, growing exponentially on repeats;
- 5xx and timeouts: GitHub is having trouble; retry with a short exponential backoff.

Everything else (401, 403 for permissions, 404, 422) will not get better by retrying.

``Throttle`` remembers a rate limit per key (an installation, or the plain token), so the next
calls with that key wait or fail at once instead of hitting GitHub again; other keys (other
teams' installations) are never held up.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Final

SECONDARY_MIN_WAIT_S: Final = 60.0
SERVER_BACKOFF_S: Final = 0.5
SERVER_BACKOFF_MAX_S: Final = 8.0


@dataclass(frozen=True)
class Retry:
    """Retry after ``wait_s``; ``rate_limited`` says the key must hold off too (not just this call)."""

    wait_s: float
    reason: str  # rate_limited | secondary_rate_limited | server_error | timeout | why no answer came
    rate_limited: bool


def after_answer(status: int, headers: Mapping[str, str], message: str, attempt: int, now: float) -> Retry | None:
    """The retry for an error answer (``headers`` with lower-case names), or None when retrying cannot help."""
    if status in (403, 429):
        retry_after = _retry_after(headers.get("retry-after"), now)
        remaining = headers.get("x-ratelimit-remaining")
        secondary = "secondary rate limit" in message.lower()
        if retry_after is not None:
            return Retry(retry_after, "secondary_rate_limited" if secondary or remaining != "0" else "rate_limited",
                         True)
        if remaining == "0":
            reset = _number(headers.get("x-ratelimit-reset"))
            wait = max(0.0, reset - now) + 1.0 if reset is not None else SECONDARY_MIN_WAIT_S
            return Retry(wait, "rate_limited", True)
        if secondary or status == 429:
            return Retry(SECONDARY_MIN_WAIT_S * 2 ** (attempt - 1), "secondary_rate_limited", True)
        return None  # 403 without a rate limit: a permission GitHub will not grant on retry
    if status >= 500:
        return Retry(_backoff(attempt), "server_error", False)
    return None


def after_timeout(attempt: int, reason: str = "timeout") -> Retry:
    """A try that got no answer: timed out, or ``reason`` (refused, reset...), retried after a backoff."""
    return Retry(_backoff(attempt), reason, False)


def _backoff(attempt: int) -> float:
    base: float = min(SERVER_BACKOFF_MAX_S, SERVER_BACKOFF_S * 2.0 ** (attempt - 1))
    return base * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def _retry_after(raw: str | None, now: float) -> float | None:
    """``Retry-After``: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); GitHub sends seconds."""
    if raw is None or not raw.strip():
        return None
    seconds = _number(raw)
    if seconds is not None:
        return max(0.0, seconds)
    import email.utils  # only for an HTTP-date, which GitHub does not send (~3 ms to import at start)

    try:
        return max(0.0, float(email.utils.parsedate_to_datetime(raw).timestamp()) - now)
    except (TypeError, ValueError):
        return None


def _number(raw: str | None) -> float | None:
    try:
        return float(raw) if raw is not None else None
    except ValueError:
        return None


class RateLimited(Exception):
    """The key is held off until ``until`` (Unix time), later than the caller's deadline."""

    def __init__(self, until: float) -> None:
        super().__init__(f"rate limited until {time.strftime('%H:%M:%S', time.gmtime(until))} UTC")
        self.until = until


class Throttle:
    """Per-key 'not before' times set by rate-limit answers."""

    def __init__(self, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._clock = clock
        self._sleep = sleep
        self._not_before: dict[str, float] = {}

    def hold(self, key: str, seconds: float) -> None:
        until = self._clock() + seconds
        self._not_before[key] = max(until, self._not_before.get(key, 0.0))

    async def wait(self, key: str, deadline: float) -> None:
        """Wait until ``key`` may call again; RateLimited at once when that is after ``deadline``."""
        until = self._not_before.get(key)
        if until is None:
            return
        now = self._clock()
        if until <= now:
            self._not_before.pop(key, None)
            return
        if until > deadline:
            raise RateLimited(until)
        await self._sleep(until - now)
