"""The whole chain with status-reporter: pull requests opened → checks queued → (simulated Tekton)
started → succeeded, each run in at most three GitHub calls (real processes, real HTTP, the fake API
under the chart's RBAC; GitHub is the dev chain's recording double)."""

from __future__ import annotations

import asyncio

import pytest

from statusreporter.conftest import teams_with_checks
from support.e2e import REPO, eventually, running_chain, send
from tekton_dag.testing.recording_github import read_log

pytestmark = pytest.mark.slow
LIMIT = 3  # teams/default: maxConcurrentRuns


async def test_each_pull_request_run_gets_a_check_that_follows_it_to_success(tmp_path, tekton_free_api) -> None:
    teams = teams_with_checks(tmp_path / "teams")
    async with running_chain(tmp_path, tekton_free_api, simulate_tekton=True, task_seconds=0.5,
                             teams=teams) as (chain, _):
        # at once, so one run waits in the queue however slowly the senders start on a loaded machine
        await asyncio.gather(*(send(chain, "pull_request.opened", "--number", str(n)) for n in range(1, LIMIT + 2)))

        def all_completed() -> bool:
            done = [c for c in read_log(chain.github_calls) if c["status"] == "completed"]
            return len(done) == LIMIT + 1

        await eventually(all_completed, timeout=60, what="every check completed")
    calls = read_log(chain.github_calls)
    creates = [c for c in calls if c["call"] == "create_check_run"]
    assert len(creates) == LIMIT + 1 and {c["repo"] for c in creates} == {REPO}
    for create in creates:
        mine = [create] + [c for c in calls if c["call"] == "update_check_run" and c["id"] == create["id"]]
        assert [c["status"] for c in mine] == ["queued", "in_progress", "completed"], mine
        assert mine[-1]["conclusion"] == "success" and "| resolve-stack |" in mine[-1]["summary"]
    assert any("in the team's queue" in c["summary"] and f"{LIMIT} runs at a time" in c["summary"] for c in creates)
    runs = tekton_free_api.objects("pipelineruns")
    assert all(r["metadata"]["annotations"]["tekton-dag.dev/check-status"] == "completed" for r in runs)
    # One summary, not two: with checks on, the pipeline's own PR comment (post-result) is skipped.
    assert all("post-result" in {t["name"] for t in r["status"].get("skippedTasks", ())} for r in runs)
    assert all("post-result" in c["summary"] and "skipped" in c["summary"]
               for c in calls if c["status"] == "completed")
