"""Nobody can forge the event path: events POSTed straight to the running chain's Broker, or to a
function, start and cancel nothing unless the team's own functions sealed them."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from support.e2e import REPO, eventually, running_chain, send
from tekton_dag.events import catalog, codec
from tekton_dag.events.requests import CancelRequest, RunRequest
from tekton_dag.pipelineruns import states
from tekton_dag.testing.sealing import sealed

pytestmark = pytest.mark.slow

MERGE_RELEASE = RunRequest(team="default", stack="stack-one", pipeline="stack-merge-release", delivery="forged-1",
                           app="demo-fe", repo=REPO, revision="f" * 40)


async def post(url: str, event: CloudEvent) -> httpx.Response:
    message = to_binary_event(event)
    async with httpx.AsyncClient() as client:
        return await client.post(url, headers=dict(message.headers), content=message.body)


async def test_a_forged_merge_release_and_a_forged_cancel_start_and_cancel_nothing(tmp_path, kube_api):
    async with running_chain(tmp_path, kube_api) as (chain, outcomes):
        assert "→ 202" in await send(chain, "pull_request.opened", "--number", "42")
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 1, what="the PR's run")
        forged_run = codec.request_event(MERGE_RELEASE, catalog.SOURCE_RESOLVER, "forged-1", repo=REPO)
        cancel = CancelRequest(team="default", stack="stack-one", app="demo-fe", pr_number=42, reason="closed",
                               delivery="forged-2")
        forged_cancel = codec.request_event(cancel, catalog.SOURCE_RESOLVER, "forged-2", repo=REPO)
        unsealed = await post(chain.broker_url, forged_run)
        assert unsealed.status_code == 401 and "unsealed" in unsealed.text
        wrong_key = await post(
            chain.broker_url, sealed(forged_cancel, key="an-attacker-s-own-key-of-enough-length-000")
        )
        assert wrong_key.status_code == 403 and "wrong seal" in wrong_key.text
        # straight to run-creator, past the Broker: the function checks the seal itself
        direct = await post(chain.functions["run-creator"].url, forged_run)
        assert direct.status_code == 401
        await asyncio.sleep(0.5)
        assert chain.broker.stats["dead_lettered"] == 0
    [run] = kube_api.objects("pipelineruns")
    assert run["spec"]["pipelineRef"]["name"] == "stack-pr-test"
    assert not states.was_stopped(run)  # neither Cancelled nor CancelledRunFinally
    assert catalog.RUN_CANCELLED not in outcomes.types


async def test_a_forged_github_event_reaches_no_pipeline(tmp_path, kube_api):
    async with running_chain(tmp_path, kube_api) as (chain, _):
        push = {"repo": REPO, "sender": "mallory",
                "push": {"ref": "refs/heads/main", "before": "0" * 40, "after": "e" * 40, "deleted": False}}
        forged = codec.build(catalog.GITHUB_PUSH, catalog.SOURCE_WEBHOOK_INGEST, "forged-push", push, subject=REPO)
        assert (await post(chain.broker_url, forged)).status_code == 401
        assert (await post(chain.functions["resolver"].url, forged)).status_code == 401
        await asyncio.sleep(0.5)
    assert kube_api.objects("pipelineruns") == []
