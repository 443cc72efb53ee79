"""The whole chain with status-reporter: pull requests opened → checks queued → (simulated Tekton)
started → succeeded, each run in at most three check-run calls (real processes, real HTTP, the fake
API under the chart's RBAC). GitHub is the dev chain's GitHub API double, reached through the real
client: every request and answer is checked against GitHub's OpenAPI description, the App's JWT and
installation tokens verified. And GitHub down for a while: PipelineRuns are still created while it
is down, and every check catches up once it is back (status-reporter answers 503, the Broker retries)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_metrics import scrape, value

from statusreporter.conftest import teams_with_checks
from support.e2e import REPO, eventually, running_chain, send
from support.githubapi import check_calls
from tekton_dag.checks.states import RANK
from tekton_dag.devchain.chain import Chain
from tekton_dag.events import catalog
from tekton_dag.testing.github_api import GitHubApiDouble

pytestmark = pytest.mark.slow
LIMIT = 3  # teams/default: maxConcurrentRuns
APP = 1  # the installation the webhooks come from (one of the dev chain's GitHub API double)
SHORT_OUTAGE_S = 6.0  # the outage of the everyday test; the 30 s one is issue 15's own figure
DEADLINE_S = "2"  # status-reporter's GITHUB_API_DEADLINE_SECONDS: gives up (503) within an outage


def double(chain: Chain) -> GitHubApiDouble:
    assert chain.github is not None, "the dev chain starts the GitHub API double by default"
    return chain.github


def completed(chain: Chain) -> list[dict[str, Any]]:
    return [c for c in check_calls(double(chain)) if c["status"] == "completed"]


def per_check(chain: Chain) -> list[list[dict[str, Any]]]:
    """Each check run's calls in order, the create first."""
    calls = check_calls(double(chain))
    return [[c for c in calls if c["id"] == create["id"]] for c in calls if (create := c)["call"] == "create_check_run"]


async def test_each_pull_request_run_gets_a_check_that_follows_it_to_success(tmp_path, tekton_free_api) -> None:
    teams = teams_with_checks(tmp_path / "teams")
    async with running_chain(tmp_path, tekton_free_api, simulate_tekton=True, task_seconds=0.5,
                             teams=teams) as (chain, _):
        # at once, so one run waits in the queue however slowly the senders start on a loaded machine
        await asyncio.gather(*(send(chain, "pull_request.opened", "--number", str(n), installation=APP)
                               for n in range(1, LIMIT + 2)))
        await eventually(lambda: len(completed(chain)) == LIMIT + 1, timeout=60, what="every check completed")
        # the operator sees the same calls on status-reporter's /metrics (docs/operations.md)
        samples = await scrape(chain.functions["status-reporter"].metrics_url)
    github = double(chain)
    checks = per_check(chain)
    check_calls_made = sum(c.operation.startswith("checks/") for c in github.calls)
    assert value(samples, "tektondag_github_api_calls_total", outcome="ok") >= check_calls_made >= 2 * (LIMIT + 1)
    assert value(samples, "tektondag_github_rate_limit_remaining", installation=str(APP)) > 0
    assert len(checks) == LIMIT + 1 and {c[0]["repo"] for c in checks} == {REPO}
    for mine in checks:
        # Strictly forward, ending in success. An admitted run's check may begin in_progress: its
        # run.created and Tekton's started event race (both follow the start), and the later is dropped.
        ranks = [RANK[c["status"]] for c in mine]
        assert ranks == sorted(set(ranks)) and mine[0]["status"] in ("queued", "in_progress"), mine
        assert mine[-1]["status"] == "completed" and mine[-1]["conclusion"] == "success"
        assert "| resolve-stack |" in mine[-1]["summary"]
    creates = [c[0] for c in checks]
    # The run that waited (LIMIT + 1 at once): queued, with its place in the queue and the team's limit.
    waited = [c for c in creates if "in the team's queue" in c["summary"] and f"{LIMIT} runs at a time" in c["summary"]]
    assert len(waited) >= 1 and all(c["status"] == "queued" for c in waited), creates
    assert github.violations == [], "every answer held to GitHub's OpenAPI description"
    operations = [c.operation for c in github.calls]
    assert all(c.status < 400 for c in github.calls), [(c.path, c.status) for c in github.calls if c.status >= 400]
    assert operations.count("apps/create-installation-access-token") == 1, "the installation token is cached"
    assert {c.credential for c in github.calls if c.operation.startswith("checks/")} == {"installation"}
    runs = tekton_free_api.objects("pipelineruns")
    assert all(r["metadata"]["annotations"]["tekton-dag.dev/check-status"] == "completed" for r in runs)
    # One summary, not two: with checks on, the pipeline's own PR comment (post-result) is skipped.
    assert all("post-result" in {t["name"] for t in r["status"].get("skippedTasks", ())} for r in runs)
    assert all("post-result" in c["summary"] and "skipped" in c["summary"] for c in completed(chain))


async def github_down_then_back(tmp_path: Any, api: Any, seconds: float, how: str) -> None:
    """GitHub answers nothing useful for ``seconds`` while pull requests arrive: their PipelineRuns are
    created while it is still down, and once it is back every check reaches success, moving only forward."""
    teams = teams_with_checks(tmp_path / "teams")
    async with running_chain(tmp_path, api, simulate_tekton=True, task_seconds=0.3, teams=teams,
                             env={"GITHUB_API_DEADLINE_SECONDS": DEADLINE_S}) as (chain, outcomes):
        github = double(chain)
        github.down_for(seconds, how)
        await asyncio.gather(*(send(chain, "pull_request.opened", "--number", str(n), installation=APP)
                               for n in range(1, LIMIT + 1)))
        await eventually(lambda: outcomes.types.count(catalog.RUN_CREATED) == LIMIT, timeout=seconds,
                         what="every PipelineRun created")
        assert github.down, "webhook → PipelineRun did not wait for GitHub: all created while it was down"
        await eventually(lambda: len(completed(chain)) == LIMIT, timeout=seconds + 90, what="every check caught up")
    for mine in per_check(chain):
        ranks = [RANK[c["status"]] for c in mine]
        assert ranks == sorted(set(ranks)) and (mine[-1]["status"], mine[-1]["conclusion"]) == ("completed", "success")
    assert len(per_check(chain)) == LIMIT, "one check run per PipelineRun, however often the Broker retried"
    assert any(c.status == 503 for c in github.calls), "status-reporter did try GitHub during the outage"
    assert github.violations == []


async def test_github_down_for_a_few_seconds_slows_nothing_and_the_checks_catch_up(tmp_path, tekton_free_api) -> None:
    await github_down_then_back(tmp_path, tekton_free_api, SHORT_OUTAGE_S, "503")


async def test_github_down_for_30_seconds_with_timeouts(tmp_path, tekton_free_api) -> None:
    await github_down_then_back(tmp_path, tekton_free_api, 30.0, "timeout")
