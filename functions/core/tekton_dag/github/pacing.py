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

Writes that notify people (creating an issue or pull-request comment, a review, an issue...) are
also spaced ``notification_interval_s`` (default 3 s) from the one before of the same key: octokit's
``notifications`` group, Bottleneck ``maxConcurrent: 1``, ``minTime: 3000`` (``src/index.ts``
``createGroups``), applied in ``src/wrap-request.ts`` ("Guarantee at least 3000ms between requests that
trigger notifications") to every write whose path is in ``src/generated/triggers-notification-paths.ts``
(NOTIFYING below: that list at octokit/plugin-throttling.js 1a64804, 2026-04). GitHub's description
of such an endpoint (issues/create-comment in ``testing/github_openapi``) says "This endpoint triggers
notifications. Creating content too quickly using this endpoint may result in secondary rate
limiting", and its rate-limit page: "no more than 80 content-generating requests per minute and no
more than 500 content-generating requests per hour" (one every 3 s is 20 a minute). octokit waits
for the write turn, then the notification turn; here a notifying write waits for its notification
turn first and then takes its write turn, so the key's other writes (check runs) do not queue
behind a comment's 3 s, and the comment itself is still one of the key's writes, one at a time.

Retries: every try of a write takes its turns again (``Client.call_page`` enters ``turn`` per
attempt), so a comment retried after a rate limit or a 5xx comes a notification interval after the
failed try's answer at the earliest. For rate limits that is octokit's behaviour: its
plugin-throttling retries by running ``doRequest`` again from its ``retryLimiter``
(``src/index.ts``, the ``failed`` handler returns the wait), which schedules through the ``write``
and ``notifications`` groups again (``src/wrap-request.ts``), as ``{priority: 0, weight: 0}``: ahead
of queued jobs and outside ``maxConcurrent``, but still ``minTime`` after the group's last launch
(Bottleneck ``LocalDatastore.__register__`` waits ``_nextRequest - now`` whatever the weight). For
5xx octokit is laxer: plugin-retry retries inside the one throttled job (octokit.js registers
``retry`` before ``throttling``, and before-after-hook's ``register`` makes the first registered
wrap the innermost), 1, 4, 9 s apart (``(retryCount + 1) ** 2``, its ``errorRequest``), without a
new turn. Ours is kept: a 5xx or a timeout does not say the comment was not created, GitHub counts
the requests that arrive ("wait at least one second between each request" names no exception for
failed ones; 80 content-generating requests a minute), and a second turn costs at most the
interval, within the deadline. Unlike octokit, a retry queues behind the key's writes already
waiting (the lanes are FIFO), rather than ahead of them. (Read at octokit/plugin-throttling.js
1a64804, octokit/plugin-retry.js d6e06bd, octokit/octokit.js f2d3153 ``src/octokit.ts``,
gr2m/before-after-hook d791305, SGrondin/bottleneck b835283; tests/github/test_write_pacing.py.)

Two choices differ from octokit's:

- The intervals run from the *answer* to one write to the start of the next (Bottleneck's
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
# octokit's notifications group (module docstring); GITHUB_NOTIFICATION_INTERVAL_SECONDS changes it.
DEFAULT_NOTIFICATION_INTERVAL_S: Final = 3.0
MUTATING: Final = frozenset({"POST", "PATCH", "PUT", "DELETE"})
_FIRST_SWEEP: Final = 64  # lanes kept before the idle ones are first looked for
# The writes that trigger notifications: octokit/plugin-throttling.js
# src/generated/triggers-notification-paths.ts (generated from GitHub's description by its
# scripts/update-endpoints), as URL templates. tekton-dag writes only the issue comment of these.
NOTIFYING: Final = frozenset({
    "/orgs/{org}/invitations",
    "/orgs/{org}/invitations/{invitation_id}",
    "/orgs/{org}/teams/{team_slug}/discussions",
    "/orgs/{org}/teams/{team_slug}/discussions/{discussion_number}/comments",
    "/repos/{owner}/{repo}/collaborators/{username}",
    "/repos/{owner}/{repo}/commits/{commit_sha}/comments",
    "/repos/{owner}/{repo}/issues",
    "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    "/repos/{owner}/{repo}/issues/{issue_number}/sub_issue",
    "/repos/{owner}/{repo}/issues/{issue_number}/sub_issues/priority",
    "/repos/{owner}/{repo}/pulls",
    "/repos/{owner}/{repo}/pulls/{pull_number}/comments",
    "/repos/{owner}/{repo}/pulls/{pull_number}/comments/{comment_id}/replies",
    "/repos/{owner}/{repo}/pulls/{pull_number}/merge",
    "/repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers",
    "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
    "/repos/{owner}/{repo}/releases",
    "/teams/{team_id}/discussions",
    "/teams/{team_id}/discussions/{discussion_number}/comments",
})


class Late(Exception):
    """The key's next write slot comes after the caller's deadline."""


@dataclass
class _Lane:
    interval_s: float  # from the answer to one request of the lane to the start of the next
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)  # FIFO: requests go in the order they came
    free_at: float = 0.0  # (time.monotonic) when the next request of this lane may start
    users: int = 0  # turns entered and not yet left: the lane is in use and may not be forgotten


class Pacer:
    """Serialises the writes of each key and spaces them ``interval_s`` apart, and the notifying ones
    among them ``notification_interval_s`` apart; other keys (other teams' installations) never wait
    for each other. One per client, used from one event loop. A lane is forgotten once no turn uses
    it and its interval has passed, so the lanes kept are those of the keys written lately, not of
    every key ever written."""

    def __init__(self, interval_s: float = DEFAULT_INTERVAL_S, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, *,
                 notification_interval_s: float = DEFAULT_NOTIFICATION_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.notification_interval_s = notification_interval_s
        self._clock = clock  # the deadline's clock only
        self._sleep = sleep
        self._lanes: dict[tuple[bool, str], _Lane] = {}  # (notifying, key) -> its lane
        self._sweep_at = _FIRST_SWEEP

    @contextlib.asynccontextmanager
    async def turn(self, key: str, deadline: float, *, notifies: bool = False) -> AsyncIterator[None]:
        """Hold ``key``'s write slot (and, when the write ``notifies``, its notification slot first) for
        the body (one request); ``Late`` when it would start after ``deadline`` (nothing is sent then)."""
        lanes = [self._lane(False, key)]
        if notifies:
            lanes.insert(0, self._lane(True, key))
        held: list[_Lane] = []
        for lane in lanes:
            lane.users += 1
        try:
            for lane in lanes:
                await self._wait(lane, key, deadline)
                held.append(lane)
            try:
                yield
            finally:
                answered = time.monotonic()
                for lane in lanes:
                    lane.free_at = answered + lane.interval_s
        finally:
            for lane in reversed(held):
                lane.lock.release()
            for lane in lanes:
                lane.users -= 1

    def _lane(self, notifying: bool, key: str) -> _Lane:
        lane = self._lanes.get((notifying, key))
        if lane is None:
            if len(self._lanes) >= self._sweep_at:  # amortised: a sweep at most each time the lanes double
                self._forget_idle()
            interval = self.notification_interval_s if notifying else self.interval_s
            lane = self._lanes[(notifying, key)] = _Lane(interval)
        return lane

    def _forget_idle(self) -> None:
        now = time.monotonic()
        for name, lane in list(self._lanes.items()):
            if lane.users == 0 and lane.free_at <= now:  # its next request may start at once: nothing to keep
                del self._lanes[name]
        self._sweep_at = max(_FIRST_SWEEP, 2 * len(self._lanes))

    async def _wait(self, lane: _Lane, key: str, deadline: float) -> None:
        """Take ``lane``'s lock and wait until it is free; ``Late`` (the lock not held) past ``deadline``."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise Late(f"no write slot for {key} before the deadline")
        try:
            # asyncio.timeout, not wait_for: 3.11's wait_for returned the lock to a write cancelled
            # just as its inner acquire finished, so the write went out anyway (CPython gh-86296,
            # fixed in 3.12 by rewriting wait_for on asyncio.timeout); this also saves a task per turn.
            async with asyncio.timeout(remaining):
                await lane.lock.acquire()
        except TimeoutError:
            raise Late(f"the writes queued for {key} take longer than the deadline") from None
        try:
            wait = lane.free_at - time.monotonic()
            if wait > 0:
                if self._clock() + wait > deadline:
                    raise Late(f"the next write for {key} may start only after the deadline")
                await self._sleep(wait)
        except BaseException:
            lane.lock.release()
            raise
