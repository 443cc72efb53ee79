"""Issue 15's commands end to end, in one process: GitHub's example deliveries (signed) into the
all-in-one function (webhook-ingest → resolver → status-reporter → run-creator → status-reporter on
its bus), PipelineRuns in the fake Kubernetes API, GitHub answered by the API double through the
real client (App JWT → installation token, every request checked against GitHub's OpenAPI)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from func_python.http import ASGIApplication

from commands.conftest import HEAD, INSTALLATION, REPO, client_of, teams_copy
from support.e2e import eventually
from tekton_dag import pipelines
from tekton_dag.events.sealing import KEY_ENV
from tekton_dag.functions.all_in_one import AllInOne, new
from tekton_dag.functions.lifecycle import Wiring
from tekton_dag.github.port import CheckOutput, Repo
from tekton_dag.kube.retrying import RetryPolicy
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.pipelineruns import states
from tekton_dag.testing.github import fixture
from tekton_dag.testing.github_api import GitHubApiDouble
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.sealing import TEST_EVENT_KEY
from tekton_dag.webhooks.signatures import sign

pytestmark = pytest.mark.slow  # the whole chain in process: a few seconds per test

SECRET = "commands-e2e-webhook-secret"
GROUP_SHA = "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d"
CHECK = "tekton-dag / stack-one (demo-fe)"


@dataclass
class Chain:
    function: AllInOne
    client: httpx.AsyncClient
    github: GitHubApiDouble
    kube_api: FakeKubeApi

    async def deliver(self, name: str, delivery: str, change: Callable[[dict[str, Any]], None] | None = None) -> None:
        """GitHub's example ``name``, about the example team's repository, signed and sent."""
        headers, payload = fixture(name)
        payload["repository"]["full_name"] = REPO
        payload["installation"] = {"id": INSTALLATION, "node_id": "MDIzOkludGVncmF0aW9uSW5zdGFsbGF0aW9uMQ=="}
        if change:
            change(payload)
        body = json.dumps(payload).encode()
        headers.update({"X-GitHub-Delivery": delivery, "X-Hub-Signature-256": sign(SECRET, body)})
        response = await self.client.post("/webhook/github", headers=headers, content=body)
        assert response.status_code == 202, response.text
        await self.drained()

    async def drained(self) -> None:
        broker = self.function.broker
        assert broker is not None
        await eventually(lambda: broker.in_flight == 0, what="the bus drained")

    def runs(self) -> list[dict[str, Any]]:
        return self.kube_api.objects("pipelineruns")

    def checks(self) -> list[dict[str, Any]]:
        return list(self.github.check_runs.values())


@pytest.fixture
async def chain(tmp_path: Path, kube_api: FakeKubeApi) -> AsyncIterator[Chain]:
    with GitHubApiDouble(installations={INSTALLATION: None}) as github:
        github.set_pull(REPO, 2, HEAD, "main")
        github.set_permission(REPO, "writer", "write")
        github.set_permission(REPO, "reader", "read")
        client = client_of(github)
        store = KubernetesStore(policy=RetryPolicy(deadline=2.0, timeout=1.0, first_backoff=0.01, max_backoff=0.05))
        function = new(Wiring(store=store, github=client))
        function.start({
            "TEKTON_DAG_TEAMS_DIR": str(teams_copy(tmp_path / "teams")), "TEKTON_DAG_CONFIG_RELOAD_S": "0",
            "GITHUB_WEBHOOK_SECRET": SECRET, KEY_ENV: TEST_EVENT_KEY, "TEKTON_DAG_RECONCILE_SECONDS": "0",
            "TEKTON_DAG_JOURNAL": str(tmp_path / "journal.sqlite3"),
            "TEKTON_DAG_DEAD_LETTER_FILE": str(tmp_path / "dead-letters.jsonl"),
        })
        assert function.ready() == (True, "OK")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ASGIApplication(function)),
                                     base_url="http://tekton-dag") as http:
            yield Chain(function, http, github, kube_api)
            assert function.broker is not None and function.broker.stats["dead_lettered"] == 0
        function.stop()
        store.close()
        await client.aclose()
        assert github.violations == []


def comment(user: str, text: str) -> Callable[[dict[str, Any]], None]:
    def change(payload: dict[str, Any]) -> None:
        payload["comment"]["user"]["login"] = user
        payload["comment"]["body"] = text
    return change


async def test_retest_by_a_writer_runs_again_and_by_a_reader_is_refused(chain: Chain) -> None:
    await chain.deliver("issue_comment.pr-retest", "c-1", comment("writer", "/retest"))
    [run] = chain.runs()
    assert run["metadata"]["annotations"][pipelines.A_HEAD_SHA] == HEAD  # the PR's head, read from GitHub
    assert chain.github.comments == []
    [check] = chain.checks()
    assert (check["name"], check["head_sha"], check["external_id"]) == (CHECK, HEAD, run["metadata"]["name"])
    await chain.deliver("issue_comment.pr-retest", "c-2", comment("reader", "/retest"))
    assert len(chain.runs()) == 1
    [reply] = chain.github.comments
    assert reply["issue_number"] == 2 and reply["body"].startswith("@reader `/retest` was not run")


async def test_retest_on_a_closed_pull_request_runs_nothing_and_says_why(chain: Chain) -> None:
    """Closing a pull request cancels its runs; a later /retest started one that nothing would
    ever cancel (its closed event had passed)."""
    chain.github.set_pull(REPO, 2, HEAD, "main", state="closed")
    await chain.deliver("issue_comment.pr-retest", "c-closed", comment("writer", "/retest"))
    assert chain.runs() == []
    [reply] = chain.github.comments
    assert reply["body"] == "@writer nothing to re-run: #2 is closed."


async def test_retest_app_and_test_stack_app_select_their_target(chain: Chain) -> None:
    await chain.deliver("issue_comment.pr-retest", "c-3", comment("writer", "/retest demo-fe"))
    await chain.deliver("issue_comment.pr-retest", "c-4", comment("writer", "/test stack-one/demo-fe"))
    assert len(chain.runs()) == 2  # one per comment: each is a re-run of its own
    assert {r["metadata"]["labels"][pipelines.L_APP] for r in chain.runs()} == {"demo-fe"}
    await chain.deliver("issue_comment.pr-retest", "c-5", comment("writer", "/test stack-one/nope"))
    assert len(chain.runs()) == 2
    [reply] = chain.github.comments
    assert "selects nothing" in reply["body"] and "stack-one/demo-fe" in reply["body"]


async def test_the_same_comment_delivered_twice_is_one_run_and_one_reply(chain: Chain) -> None:
    for _ in range(2):
        await chain.deliver("issue_comment.pr-retest", "c-6", comment("writer", "/retest"))
        await chain.deliver("issue_comment.pr-retest", "c-7", comment("reader", "/retest"))
    assert len(chain.runs()) == 1 and len(chain.checks()) == 1
    assert len(chain.github.comments) == 1


async def test_cancel_cancels_the_prs_runs(chain: Chain) -> None:
    await chain.deliver("issue_comment.pr-retest", "c-8", comment("writer", "/retest"))
    await chain.deliver("issue_comment.pr-retest", "c-9", comment("writer", "/cancel"))
    [run] = chain.runs()
    assert run["spec"].get("status") == states.CANCELLED_RUN_FINALLY  # started: its finally still cleans up
    [check] = chain.checks()
    assert (check["status"], check["conclusion"]) == ("completed", "cancelled")
    assert "/cancel by writer" in check["output"]["summary"]


async def test_the_rerun_buttons_run_again_once_per_press(chain: Chain) -> None:
    def on_our_pr(payload: dict[str, Any]) -> None:
        run = payload["check_run"]
        run.update(name=CHECK, head_sha=HEAD)
        run["pull_requests"][0]["number"] = 2
        run["pull_requests"][0]["base"]["ref"] = "main"
        run["pull_requests"][0]["head"]["sha"] = HEAD  # GitHub lists the PR at its head: the one re-run here

    def suite_on_our_pr(payload: dict[str, Any]) -> None:
        suite = payload["check_suite"]
        suite["head_sha"] = HEAD
        suite["pull_requests"][0]["number"] = 2
        suite["pull_requests"][0]["base"]["ref"] = "main"
        suite["pull_requests"][0]["head"]["sha"] = HEAD

    for _ in range(2):  # a redelivery of the press runs nothing new
        await chain.deliver("check_run.rerequested", "press-1", on_our_pr)
    [run] = chain.runs()
    assert run["metadata"]["annotations"][pipelines.A_HEAD_SHA] == HEAD
    assert [c["head_sha"] for c in chain.checks()] == [HEAD]
    await chain.deliver("check_suite.rerequested", "press-all", suite_on_our_pr)  # Re-run all checks
    assert len(chain.runs()) == 2 and [c["head_sha"] for c in chain.checks()] == [HEAD, HEAD]


async def test_a_merge_group_is_checked_on_its_sha_and_cancelled_when_destroyed(chain: Chain) -> None:
    def our_group(payload: dict[str, Any]) -> None:
        payload["merge_group"].update(base_ref="refs/heads/main", head_sha=GROUP_SHA,
                                      head_ref=f"refs/heads/gh-readonly-queue/main/pr-5-{'3' * 40}")

    await chain.deliver("merge_group.checks_requested", "queue-1", our_group)
    [run] = chain.runs()
    assert run["metadata"]["annotations"][pipelines.A_HEAD_SHA] == GROUP_SHA
    [check] = chain.checks()
    assert (check["name"], check["head_sha"]) == (CHECK, GROUP_SHA)  # what the queue waits for
    await chain.deliver("merge_group.destroyed", "queue-gone", our_group)
    assert chain.runs()[0]["spec"].get("status") == states.CANCELLED_RUN_FINALLY  # started: finally still runs
    assert (chain.checks()[0]["status"], chain.checks()[0]["conclusion"]) == ("completed", "cancelled")


async def test_a_rerun_of_an_outdated_head_runs_nothing_and_settles_the_checks_github_reset(chain: Chain) -> None:
    """GitHub resets a re-run's suite to queued and leaves the check runs for the App to update
    (checks/rerequest-run in @octokit/openapi); tekton-dag runs nothing for a head that is no longer
    the pull request's, so it completes them again, saying why, with the conclusion they had."""
    old = "1" * 40
    client = client_of(chain.github)
    repo = Repo(*REPO.split("/"), installation_id=INSTALLATION)
    pressed = await client.create_check_run(repo, name=CHECK, head_sha=old, external_id="old-run",
                                            status="completed", conclusion="failure",
                                            output=CheckOutput("Failed", "Task build failed"))
    other = await client.create_check_run(repo, name="tekton-dag / stack-one (demo-api)", head_sha=old,
                                          external_id="old-api", status="completed", conclusion="success",
                                          output=CheckOutput("Succeeded", "3 tasks"))
    going = await client.create_check_run(repo, name="tekton-dag / stack-two (demo-fe)", head_sha=old,
                                          external_id="old-two", status="in_progress", conclusion=None,
                                          output=CheckOutput("Running", ""))
    await client.aclose()
    suite = chain.github.check_runs[pressed]["check_suite_id"]

    def outdated(event: str) -> Callable[[dict[str, Any]], None]:
        def change(payload: dict[str, Any]) -> None:
            check = payload[event]
            check["head_sha"] = old
            if event == "check_run":
                check.update(id=pressed, name=CHECK)
                check["check_suite"]["id"] = suite
            else:
                check["id"] = suite
            pull = check["pull_requests"][0]
            pull["number"], pull["base"]["ref"], pull["head"]["sha"] = 2, "main", HEAD  # the PR moved on
        return change

    await chain.deliver("check_run.rerequested", "press-old", outdated("check_run"))
    assert chain.runs() == []
    settled = chain.github.check_runs[pressed]
    assert (settled["status"], settled["conclusion"]) == ("completed", "failure")  # the earlier run's result
    assert settled["output"]["title"] == f"Not re-run: {old[:12]} is no longer the head of #2"
    summary = settled["output"]["summary"]
    assert HEAD in summary and "/retest" in summary and summary.endswith("**Failed**\n\nTask build failed")
    assert chain.github.check_runs[other]["output"]["title"] == "Succeeded"  # not the one pressed

    await chain.deliver("check_suite.rerequested", "press-all-old", outdated("check_suite"))  # Re-run all
    assert chain.runs() == []
    assert chain.github.check_runs[other]["conclusion"] == "success"
    assert chain.github.check_runs[other]["output"]["title"].startswith("Not re-run: ")
    assert chain.github.check_runs[pressed]["output"]["summary"].count("**Not re-run.**") == 1  # once
    assert chain.github.check_runs[going]["status"] == "in_progress"  # its run will complete it
