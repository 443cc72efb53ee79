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

The interval is measured on ``time.monotonic``; only the deadline is on the caller's clock (the
client's wall clock, which GitHub's reset times need): a wall clock stepped back (NTP) would
otherwise hold every write of a key until it caught up again, each one ``Late``.

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
_FIRST_SWEEP: Final = 64  # lanes kept before the idle ones are first looked for


class Late(Exception):
    """The key's next write slot comes after the caller's deadline."""


@dataclass
class _Lane:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # FIFO: writes go in the order they came
    free_at: float = 0.0  # (time.monotonic) when the next write of this key may start
    users: int = 0  # turns entered and not yet left: the lane is in use and may not be forgotten


class Pacer:
    """Serialises the writes of each key and spaces them ``interval_s`` apart; other keys (other
    teams' installations) never wait for each other. One per client, used from one event loop.
    A key's lane is forgotten once no turn uses it and its interval has passed, so the lanes kept
    are those of the keys written lately, not of every key ever written."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval_s = interval_s
        self._clock = clock  # the deadline's clock only
        self._sleep = sleep
        self._lanes: dict[str, _Lane] = {}
        self._sweep_at = _FIRST_SWEEP

    @contextlib.asynccontextmanager
    async def turn(self, key: str, deadline: float) -> AsyncIterator[None]:
        """Hold ``key``'s write slot for the body (one request); ``Late`` when it would start after
        ``deadline`` (nothing is sent then)."""
        lane = self._lane(key)
        lane.users += 1
        try:
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise Late(f"no write slot for {key} before the deadline")
            try:
                await asyncio.wait_for(lane.lock.acquire(), remaining)
            except TimeoutError:
                raise Late(f"the writes queued for {key} take longer than the deadline") from None
            try:
                wait = lane.free_at - time.monotonic()
                if wait > 0:
                    if self._clock() + wait > deadline:
                        raise Late(f"the next write for {key} may start only after the deadline")
                    await self._sleep(wait)
                try:
                    yield
                finally:
                    lane.free_at = time.monotonic() + self.interval_s
            finally:
                lane.lock.release()
        finally:
            lane.users -= 1

    def _lane(self, key: str) -> _Lane:
        lane = self._lanes.get(key)
        if lane is None:
            if len(self._lanes) >= self._sweep_at:  # amortised: a sweep at most each time the lanes double
                self._forget_idle()
            lane = self._lanes[key] = _Lane()
        return lane

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for key, lane in list(self._lanes.items()):
            if lane.users == 0 and lane.free_at <= now:  # its next write may start at once: nothing to keep
                del self._lanes[key]
        self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._lanes))
