"""Writes to GitHub one at a time per installation (or token), at least an interval apart.

GitHub's rules (https://docs.github.com/en/rest/using-the-rest-api/best-practices-for-using-the-rest-api
#avoid-concurrent-requests and #pause-between-mutative-requests): "make requests serially instead of
concurrently" and, for POST, PATCH, PUT or DELETE, "wait at least one second between each request";
otherwise GitHub answers with a secondary rate limit
(https://docs.github.com/en/rest/using-the-rest-api/rate-limits-for-the-rest-api#about-secondary-rate-limits).
octokit's plugin-throttling does the same with its ``write`` group: Bottleneck ``maxConcurrent: 1``,
``minTime: 1000`` (octokit/plugin-throttling.js ``src/index.ts`` ``createGroups``), applied to every
method but GET and HEAD except the installation-token request (``src/wrap-request.ts``
``isAuthRequest``); the client leaves that one out too (``Client.call_page``).

Two choices differ from octokit's:

- The interval runs from the *answer* to one write to the start of the next (Bottleneck's
  ``minTime`` spaces the starts). GitHub sees arrivals: a write that took long to answer would
  otherwise be followed, on GitHub's side, sooner than the interval.
- The wait is bounded by the call's deadline: a write whose turn would come after it fails at once
  (``Late``), so the caller answers the Broker 503 and the event is delivered again later, instead
  of being held past what the Broker waits for an answer.

Per process: status-reporter runs one replica (docs/functions.md), but two processes that write
for the same installation (a second replica, ``tekton-dag redeliver`` beside it) each keep their own
pace and together may write more often than the interval.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Final

# What GitHub's REST docs ask for between mutative requests; GITHUB_WRITE_INTERVAL_SECONDS changes it.
DEFAULT_INTERVAL_S: Final = 1.0
MUTATING: Final = frozenset({"POST", "PATCH", "PUT", "DELETE"})


class Late(Exception):
    """The key's next write slot comes after the caller's deadline."""


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # FIFO: writes go in the order they came
    free_at: float = 0.0  # (clock) when the next write of this key may start


class Pacer:
    """Serialises the writes of each key and spaces them ``interval_s`` apart; other keys (other
    teams' installations) never wait for each other. One per client, used from one event loop."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval_s = interval_s
        self._clock = clock
        self._sleep = sleep
        self._lanes: dict[str, _Lane] = {}

    @contextlib.asynccontextmanager
    async def turn(self, key: str, deadline: float) -> AsyncIterator[None]:
        """Hold ``key``'s write slot for the body (one request); ``Late`` when it would start after
        ``deadline`` (nothing is sent then)."""
        lane = self._lanes.get(key) or self._lanes.setdefault(key, _Lane())
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise Late(f"no write slot for {key} before the deadline")
        try:
            await asyncio.wait_for(lane.lock.acquire(), remaining)
        except TimeoutError:
            raise Late(f"the writes queued for {key} take longer than the deadline") from None
        try:
            wait = lane.free_at - self._clock()
            if wait > 0:
                if self._clock() + wait > deadline:
                    raise Late(f"the next write for {key} may start only after the deadline")
                await self._sleep(wait)
            try:
                yield
            finally:
                lane.free_at = self._clock() + self.interval_s
        finally:
            lane.lock.release()
