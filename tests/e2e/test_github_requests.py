"""Issue 15 through the real chain (webhook-ingest → resolver → run-creator, local Broker, fake API):
merge queues and GitHub's Re-run buttons, each delivery exactly once. The bodies are GitHub's
examples (tekton_dag/testing/github_webhooks) moved to the example team's repository, signed and
sent by ``tekton-dag send --file``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from support.e2e import REPO, eventually, params, run_cli, running_chain, send
from tekton_dag import pipelines
from tekton_dag.devchain.chain import Chain
from tekton_dag.pipelineruns import states
from tekton_dag.testing.github import fixture
from tekton_dag.testing.kube_api import FakeKubeApi

pytestmark = pytest.mark.slow

SHA = "4f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"
GROUP_SHA = "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"
SECRET = "e2e-webhook-secret"


def on_our_repo(name: str, tmp_path: Path, change: Any = None) -> Path:
    """Fixture ``name`` about the example team's repository (base branch main), saved to a file."""
    _headers, payload = fixture(name)
    payload["repository"]["full_name"] = REPO
    if "merge_group" in payload:
        payload["merge_group"].update(base_ref="refs/heads/main", head_sha=GROUP_SHA,
                                      head_ref=f"refs/heads/gh-readonly-queue/main/pr-5-{'3' * 40}")
    if "check_run" in payload:
        run = payload["check_run"]
        run.update(name="tekton-dag / stack-one (demo-fe)", head_sha=SHA)
        run["pull_requests"][0].update(number=2)
        run["pull_requests"][0]["base"]["ref"] = "main"
        run["pull_requests"][0]["head"]["sha"] = SHA  # GitHub lists the PR at its head: the one re-run here
    if change:
        change(payload)
    path = tmp_path / f"{name}-{len(list(tmp_path.glob('*.json')))}.json"
    path.write_text(json.dumps(payload))
    return path


async def deliver(chain: Chain, path: Path, event: str, delivery: str) -> None:
    code, out, err = await run_cli("send", "--file", str(path), "--event", event, "--url", chain.webhook_url,
                                   "--secret", SECRET, "--delivery", delivery)
    assert code == 0 and "→ 202" in out, out + err


async def drained(chain: Chain, delivered: int) -> None:
    await eventually(lambda: chain.broker.stats["delivered"] >= delivered and chain.broker.in_flight == 0,
                     what=f"{delivered} deliveries")


async def test_a_merge_queue_runs_on_the_group_sha_and_its_destruction_cancels(
    tmp_path: Path, kube_api: FakeKubeApi
) -> None:
    async with running_chain(tmp_path, kube_api) as (chain, _):
        requested = on_our_repo("merge_group.checks_requested", tmp_path)
        await deliver(chain, requested, "merge_group", "queue-1")
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 1, what="the group's PipelineRun")
        await deliver(chain, requested, "merge_group", "queue-1")  # a redelivery
        await deliver(chain, requested, "merge_group", "queue-2")  # GitHub asking again for the same group
        await drained(chain, 6)
        assert len(kube_api.objects("pipelineruns")) == 1
        (run,) = kube_api.objects("pipelineruns")
        assert run["spec"].get("status") is None  # admitted and started
        await deliver(chain, on_our_repo("merge_group.destroyed", tmp_path), "merge_group", "queue-gone")
        # Started: cancelled so that its finally (cleanup-run) still runs.
        await eventually(lambda: kube_api.objects("pipelineruns")[0]["spec"].get("status")
                         == states.CANCELLED_RUN_FINALLY, what="the group's run cancelled")
        assert chain.broker.stats["dead_lettered"] == 0
    (run,) = kube_api.objects("pipelineruns")
    assert run["spec"]["pipelineRef"]["name"] == pipelines.PR_TEST
    assert run["metadata"]["annotations"][pipelines.A_HEAD_SHA] == GROUP_SHA
    assert GROUP_SHA in params(run)["app-revisions"] and params(run)["pr-number"] == "5"
    assert pipelines.L_PR not in run["metadata"]["labels"] and pipelines.L_MERGE_GROUP in run["metadata"]["labels"]


async def test_a_rerun_button_makes_a_new_run_once_per_press(tmp_path: Path, kube_api: FakeKubeApi) -> None:
    async with running_chain(tmp_path, kube_api) as (chain, _):
        await send(chain, "pull_request.opened", "--number", "2", "--sha", SHA, "--delivery", "opened-2")
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 1, what="the PR's run")
        pressed = on_our_repo("check_run.rerequested", tmp_path)
        await deliver(chain, pressed, "check_run", "press-1")
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 2, what="the re-run")
        await deliver(chain, pressed, "check_run", "press-1")  # redelivered: nothing new
        await drained(chain, 6)
        assert len(kube_api.objects("pipelineruns")) == 2
        await deliver(chain, on_our_repo("check_suite.rerequested", tmp_path, suite_on_our_pr), "check_suite", "all-1")
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 3, what="the suite's re-run")
        assert chain.broker.stats["dead_lettered"] == 0
    runs = kube_api.objects("pipelineruns")
    assert {r["metadata"]["annotations"][pipelines.A_HEAD_SHA] for r in runs} == {SHA}
    assert not any(states.was_stopped(r) for r in runs)  # a re-run supersedes nothing


def suite_on_our_pr(payload: dict[str, Any]) -> None:
    suite = payload["check_suite"]
    suite["head_sha"] = SHA
    suite["pull_requests"][0]["number"] = 2
    suite["pull_requests"][0]["base"]["ref"] = "main"
    suite["pull_requests"][0]["head"]["sha"] = SHA
