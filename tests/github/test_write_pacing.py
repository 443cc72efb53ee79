"""Writes to GitHub one at a time per installation and spaced (github.pacing), against the double's
check of GitHub's best practices (``min_write_gap_s``): over real HTTP, spacing read from the times
the double recorded (a loaded machine only widens the gaps these tests bound from below)."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import pytest

from support.githubapi import OTHER, REPO, app_client, environment
from tekton_dag.github.client import Client
from tekton_dag.github.pacing import Pacer
from tekton_dag.github.port import CheckOutput, GitHubError
from tekton_dag.github.settings import AppCredentials, Settings
from tekton_dag.testing.github_api import SECONDARY_DOCS, Call, GitHubApiDouble

OUTPUT = CheckOutput("Queued", "waiting for a slot")
SHA = "a" * 40
INTERVAL_S = 0.25  # the client's pace in these tests
GAP_S = 0.2  # what the double insists on: less than the pace, more than a loopback round trip's jitter
NOTIFY_S = 0.5  # the client's pace of comments in these tests


async def create(client: Client, repo=REPO, name: str = "web") -> int:  # type: ignore[no-untyped-def]
    return await client.create_check_run(repo, name=f"tekton-dag / {name} (hello)", head_sha=SHA, external_id=name,
                                         status="queued", conclusion=None, output=OUTPUT)


def writes(github: GitHubApiDouble, identity: str) -> list[Call]:
    return sorted((c for c in github.calls if c.identity == identity and c.method != "GET"), key=lambda c: c.arrived)


async def test_writes_of_one_installation_go_one_at_a_time_a_pace_apart_and_reads_do_not_wait(
        github: GitHubApiDouble) -> None:
    github.min_write_gap_s = GAP_S
    client = app_client(github, write_interval_s=INTERVAL_S)
    github.set_pull(REPO.full_name, 1, SHA)
    await asyncio.gather(*(create(client, REPO, f"w{n}") for n in range(4)), *(create(client, OTHER, f"o{n}")
                                                                                for n in range(2)),
                         *(client.pull_request_head(REPO, 1) for _ in range(3)))
    assert [c.status for c in github.calls if c.status >= 400] == []  # no secondary limit: GitHub's rules kept
    ours = writes(github, "installation:1001")
    assert len(ours) == 4
    for before, after in itertools.pairwise(ours):  # from one's answer to the next one's arrival
        assert after.arrived - before.answered >= INTERVAL_S - 0.02, (before, after)
    others = writes(github, "installation:2002")
    assert len(others) == 2 and others[0].arrived < ours[-1].arrived  # another installation is not queued behind
    reads = [c for c in github.calls if c.method == "GET"]
    assert len(reads) == 3 and max(r.arrived for r in reads) < ours[-1].arrived  # reads are not paced


async def test_a_write_whose_turn_comes_after_the_deadline_is_not_sent_and_may_be_retried(
        github: GitHubApiDouble) -> None:
    """Three writes at once, a second apart, within 1.5 s: the third's turn (2 s) is past its deadline."""
    now = [time.time()]

    async def sleep(seconds: float) -> None:  # time passes only when the client waits
        now[0] += seconds
        await asyncio.sleep(0)

    settings = Settings(api_url=github.url, app=AppCredentials(github.app_id, github.private_key_pem),
                        deadline_s=1.5, write_interval_s=1.0)
    client = Client(settings, clock=lambda: now[0], sleep=sleep)
    try:
        results = await asyncio.gather(*(create(client, REPO, f"w{n}") for n in range(3)), return_exceptions=True)
    finally:
        await client.aclose()
    failed = [r for r in results if isinstance(r, BaseException)]
    assert len(failed) == 1 and isinstance(failed[0], GitHubError) and failed[0].retryable, results
    assert "deadline" in str(failed[0])
    assert len(github.calls_to("checks/create")) == 2  # the late write never reached GitHub


async def test_the_double_answers_writes_too_close_together_as_github_does(github: GitHubApiDouble) -> None:
    github.min_write_gap_s = 30.0  # any second write of one installation is too close
    github.write_retry_after_s = 7
    client = app_client(github, deadline_s=1.0, write_interval_s=0.0)
    await create(client)
    with pytest.raises(GitHubError) as caught:  # Retry-After 7 s is past the deadline: given up, retryable
        await create(client)
    assert caught.value.retryable
    refused = github.calls_to("checks/create")[-1]
    assert refused.status == 403 and refused.answer["documentation_url"] == SECONDARY_DOCS
    assert refused.answer["message"].startswith("You have exceeded a secondary rate limit.")
    assert "request ID " in refused.answer["message"] and refused.answer["status"] == "403"
    await create(client, OTHER)  # per credential: another installation may write
    assert github.calls_to("checks/create")[-1].status == 201


async def test_a_wall_clock_set_back_does_not_hold_the_next_write() -> None:
    """The interval is on the monotonic clock: NTP stepping the wall clock back an hour must not
    make every later write of the key wait (``Late``) until the wall clock has caught up."""
    wall, slept = [1_000_000.0], []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    pacer = Pacer(0.5, clock=lambda: wall[0], sleep=sleep)
    async with pacer.turn("1001", deadline=wall[0] + 20):
        pass
    wall[0] -= 3600
    async with pacer.turn("1001", deadline=wall[0] + 20):  # was Late: "may start only after the deadline"
        pass
    assert len(slept) == 1 and 0 < slept[0] <= 0.5


async def test_the_pacer_forgets_the_lanes_of_keys_not_written_lately() -> None:
    pacer = Pacer(0.0)
    for installation in range(1000):
        async with pacer.turn(str(installation), deadline=time.time() + 20):
            pass
    assert len(pacer._lanes) <= 128  # one per key ever written before: 1000
    busy = Pacer(60.0)  # a lane whose interval has not passed is kept: its next write must still wait
    for installation in range(100):
        async with busy.turn(str(installation), deadline=time.time() + 20):
            pass
    assert len(busy._lanes) == 100


async def test_comments_are_a_notification_interval_apart_and_other_writes_do_not_wait_for_them(
        github: GitHubApiDouble, tmp_path: Path) -> None:
    """octokit's ``notifications`` group (3 s in production): a PR comment notifies people, so the
    installation's comments are spaced more than its writes; its check runs go on meanwhile."""
    github.min_write_gap_s = GAP_S / 4  # writes of the installation still one at a time and spaced
    env = environment(github, tmp_path, write_interval_s=INTERVAL_S / 4, notification_interval_s=NOTIFY_S)
    client = Client.from_env(env)
    assert client is not None
    try:
        await asyncio.gather(*(client.comment(REPO, 1, f"reply {n}") for n in range(3)),
                             *(create(client, REPO, f"w{n}") for n in range(3)))
    finally:
        await client.aclose()
    assert [c.status for c in github.calls if c.status >= 400] == []
    comments = [c for c in writes(github, "installation:1001") if c.operation == "issues/create-comment"]
    assert len(comments) == 3
    for before, after in itertools.pairwise(comments):  # from one comment's answer to the next one's arrival
        assert after.arrived - before.answered >= NOTIFY_S - 0.02, (before, after)
    checks = [c for c in writes(github, "installation:1001") if c.operation == "checks/create"]
    assert len(checks) == 3 and checks[-1].answered < comments[-1].arrived  # not queued behind the comments



@pytest.mark.parametrize("steps", range(6))
async def test_a_write_cancelled_as_its_turn_comes_is_not_sent_and_leaves_the_turn_free(steps: int) -> None:
    """A write cancelled (its request aborted, the process stopping) while it waits for its turn
    must end cancelled whatever the moment, even as the write before it leaves: Python 3.11's
    ``wait_for`` returned the lock instead when its inner acquire had just finished
    (CPython gh-86296), so the write went out after all. ``steps`` walks the cancel over the
    loop iterations of the hand-over."""
    pacer, sent = Pacer(0.0), []
    leave = asyncio.Event()

    async def write(name: str, hold: asyncio.Event | None = None) -> None:
        async with pacer.turn("1001", deadline=time.time() + 20):
            sent.append(name)
            if hold is not None:
                await hold.wait()

    first = asyncio.create_task(write("first", leave))
    await asyncio.sleep(0)
    second = asyncio.create_task(write("second"))
    await asyncio.sleep(0)  # the second waits for the first's turn
    leave.set()
    for _ in range(steps):
        await asyncio.sleep(0)
    cancelled = second.cancel()
    await asyncio.gather(first, second, return_exceptions=True)
    if cancelled:
        assert second.cancelled() and sent == ["first"]
    await asyncio.wait_for(write("third"), 1)  # the turn is free again
    assert sent[-1] == "third"


async def test_a_retried_comment_waits_its_notification_turn_again(github: GitHubApiDouble, tmp_path: Path) -> None:
    """A write retried after a 5xx (or a rate limit) takes its turns again, so it comes a notification
    interval after the failed try's answer, not only the backoff (0.25 to 0.5 s) after it: GitHub may
    have created the comment before failing, and counts what arrives (github/pacing.py, "Retries")."""
    notify_s = 1.5  # more than the first backoff can be
    github.fail("502", match="/comments")
    client = Client.from_env(environment(github, tmp_path, notification_interval_s=notify_s))
    assert client is not None
    try:
        await client.comment(REPO, 1, "reply")
    finally:
        await client.aclose()
    failed, retried = github.calls_to("issues/create-comment")
    assert (failed.status, retried.status) == (502, 201)
    assert retried.arrived - failed.answered >= notify_s - 0.02, (failed, retried)
