"""The whole chain over real HTTP between real processes, ending at the fake Kubernetes API.

Signed webhook → webhook-ingest → Broker → resolver → Broker → run-creator → Kubernetes API.
"""

from __future__ import annotations

import asyncio

import pytest

from support.e2e import REPO, eventually, params, running_chain, send
from tekton_dag.events import catalog
from tekton_dag.testing import rbac
from tekton_dag.testing.kube_api import FakeKubeApi

pytestmark = pytest.mark.slow


async def test_a_signed_pr_webhook_becomes_the_right_pipelinerun(tmp_path, kube_api):
    sha = "4f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"
    async with running_chain(tmp_path, kube_api) as (chain, outcomes):
        out = await send(chain, "pull_request.opened", "--number", "42", "--sha", sha, "--delivery", "e2e-pr-42")
        assert "→ 202" in out
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 1, what="one PipelineRun")
        await eventually(lambda: catalog.RUN_CREATED in outcomes.types, what="run.created reply")
        assert chain.broker.stats["dead_lettered"] == 0
    (run,) = kube_api.objects("pipelineruns")
    assert run["metadata"]["namespace"] == "tekton-dag-default"
    assert run["spec"]["pipelineRef"]["name"] == "stack-pr-test"
    p = params(run)
    assert (p["team"], p["stack"], p["changed-app"], p["pr-number"], p["pr-repo"]) == (
        "default", "stack-one", "demo-fe", "42", REPO)
    assert sha in p["app-revisions"]
    assert run["metadata"]["annotations"]["tekton-dag.dev/delivery"] == "e2e-pr-42"
    assert outcomes.types[:3] == [catalog.GITHUB_PULL_REQUEST, catalog.RUN_REQUESTED, catalog.RUN_CREATED]
    # run-creator wrote as its own ServiceAccount (the chart's RBAC allowed every call)
    assert kube_api.callers == {"system:serviceaccount:tekton-dag-default:tekton-dag-run-creator"}


async def test_a_merged_pr_starts_the_merge_release_pipeline(tmp_path, kube_api):
    async with running_chain(tmp_path, kube_api) as (chain, _):
        await send(chain, "pull_request.closed-merged", "--number", "7")
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 1, what="one PipelineRun")
    (run,) = kube_api.objects("pipelineruns")
    assert run["spec"]["pipelineRef"]["name"] == "stack-merge-release"


async def test_the_same_delivery_three_times_makes_one_run(tmp_path, kube_api):
    async with running_chain(tmp_path, kube_api) as (chain, _outcomes):
        for _ in range(3):
            assert "→ 202" in await send(chain, "pull_request.opened", "--delivery", "redelivered-once")
        await eventually(lambda: chain.broker.stats["delivered"] >= 6 and chain.broker.in_flight == 0,
                         what="three deliveries through resolver and run-creator")
        assert chain.broker.stats["dead_lettered"] == 0
    assert len(kube_api.objects("pipelineruns")) == 1


@pytest.mark.parametrize("victim", ["resolver", "run-creator"])
async def test_a_function_killed_and_restarted_mid_stream_loses_and_doubles_nothing(tmp_path, kube_api, victim):
    async with running_chain(tmp_path, kube_api) as (chain, outcomes):
        await asyncio.gather(*(send(chain, "pull_request.opened", "--number", str(n)) for n in (1, 2, 3)))
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 3, what="the first three runs")
        chain.kill(victim)
        retried_before = chain.broker.stats["retried"]
        await asyncio.gather(*(send(chain, "pull_request.opened", "--number", str(n)) for n in (4, 5, 6)))
        await eventually(lambda: chain.broker.stats["retried"] > retried_before, what="retries while it is down")
        chain.spawn(victim)
        await chain.wait_ready(victim)
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 6, what="six PipelineRuns")
        await eventually(lambda: chain.broker.in_flight == 0, what="the Broker drained")
        assert chain.broker.stats["dead_lettered"] == 0
    runs = kube_api.objects("pipelineruns")
    assert sorted(int(params(r)["pr-number"]) for r in runs) == [1, 2, 3, 4, 5, 6]
    # exactly one outcome per request: created, or queued behind the team's concurrency limit
    assert outcomes.types.count(catalog.RUN_CREATED) + outcomes.types.count(catalog.RUN_QUEUED) == 6


async def test_run_creator_killed_with_deliveries_in_flight_still_makes_each_run_once(tmp_path, kube_api):
    async with running_chain(tmp_path, kube_api) as (chain, outcomes):
        sends = [asyncio.create_task(send(chain, "pull_request.opened", "--number", str(n))) for n in range(1, 9)]
        await eventually(lambda: outcomes.types.count(catalog.RUN_REQUESTED) >= 2, what="requests on their way")
        chain.kill("run-creator")  # some requests handled, some mid-handling, some not yet delivered
        await asyncio.gather(*sends)
        chain.spawn("run-creator")
        await chain.wait_ready("run-creator")
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 8, what="eight PipelineRuns")
        await eventually(lambda: chain.broker.in_flight == 0, what="the Broker drained")
        assert chain.broker.stats["dead_lettered"] == 0
    runs = kube_api.objects("pipelineruns")
    assert sorted(int(params(r)["pr-number"]) for r in runs) == list(range(1, 9))  # none lost, none doubled


async def test_a_verb_the_chart_does_not_grant_fails_the_run_with_kube_apiservers_403(tmp_path):
    """The chain runs with exactly the chart's RBAC: take away one verb run-creator uses (patch,
    which starts a run) and the run fails with the API server's reason instead of starting."""
    documents = rbac.chart_documents()
    for doc in documents:
        if doc["kind"] == "Role" and doc["metadata"]["name"] == "tekton-dag-run-creator":
            for rule in doc["rules"]:
                rule["verbs"] = [v for v in rule["verbs"] if v != "patch"]
    with FakeKubeApi(rbac_documents=documents) as api:
        async with running_chain(tmp_path, api) as (chain, outcomes):
            await send(chain, "pull_request.opened", "--number", "8", "--delivery", "e2e-rbac-8")
            await eventually(lambda: catalog.RUN_FAILED in outcomes.types, what="run.failed")
    failed = outcomes.data[outcomes.types.index(catalog.RUN_FAILED)]
    assert ('User "system:serviceaccount:tekton-dag-default:tekton-dag-run-creator" cannot patch resource '
            '"pipelineruns" in API group "tekton.dev" in the namespace "tekton-dag-default"') in failed["reason"]
    assert ("PATCH", 403) in {(method, status) for method, _, status in api.requests}
    assert not api.running()
