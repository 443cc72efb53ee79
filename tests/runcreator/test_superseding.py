"""Supersede on a new head sha, cancel on a closed PR; merge-release runs are never cancelled."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from runcreator.conftest import FAST, NAMESPACE, merge_request, pr_request
from tekton_dag.config.models import Config
from tekton_dag.events.requests import CancelRequest
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import RunCreator


def status_of(api: FakeKubeApi, name: str) -> str | None:
    return api.get("pipelineruns", NAMESPACE, name)["spec"].get("status")


async def test_a_new_head_sha_cancels_the_older_runs_of_that_pr_only(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = RunCreator(lambda: config, store)
    old = await rc.request(pr_request(sha="1" * 40, delivery="d1"))
    other_app = await rc.request(pr_request(sha="1" * 40, app="demo-api", delivery="d2"))
    other_pr = await rc.request(pr_request(number=7, sha="1" * 40, delivery="d3"))
    queued_old = await rc.request(pr_request(sha="2" * 40, delivery="d4"))  # supersedes `old`, takes its slot
    assert queued_old.superseded == (old.name,) and queued_old.kind == "created"
    new = await rc.request(pr_request(sha="3" * 40, delivery="d5"))
    assert new.superseded == (queued_old.name,)
    assert status_of(kube_api, old.name) == status_of(kube_api, queued_old.name) == "Cancelled"
    assert status_of(kube_api, other_app.name) is None and status_of(kube_api, other_pr.name) is None
    assert status_of(kube_api, new.name) is None and kube_api.max_running[NAMESPACE] == 3


async def test_a_redelivered_request_does_not_cancel_its_own_run(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = RunCreator(lambda: config, store)
    first = await rc.request(pr_request())
    again = await rc.request(pr_request(delivery="redelivered"))
    assert again.name == first.name and again.superseded == () and status_of(kube_api, first.name) is None


async def test_a_closed_pr_cancels_its_pending_and_running_runs_and_frees_the_slots(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = RunCreator(lambda: config, store)
    merge = await rc.request(merge_request())
    running = await rc.request(pr_request(number=5, delivery="d1"))
    running_other_app = await rc.request(pr_request(number=5, app="demo-api", delivery="d2"))
    waiting = await rc.request(pr_request(number=6, delivery="d3"))
    assert waiting.kind == "queued"
    cancelled = await rc.cancel(CancelRequest(team="default", stack="stack-one", app="demo-fe", pr_number=5,
                                              reason="closed", delivery="c1"))
    assert cancelled == (running.name,)
    assert status_of(kube_api, running.name) == "Cancelled"
    assert status_of(kube_api, waiting.name) is None  # started in the freed slot
    assert status_of(kube_api, merge.name) is None and status_of(kube_api, running_other_app.name) is None


async def test_merge_release_runs_are_never_cancelled(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = RunCreator(lambda: config, store)
    merge = await rc.request(merge_request())
    await rc.cancel(
        CancelRequest(team="default", stack="stack-one", app="demo-fe", pr_number=42, reason="closed", delivery="c")
    )
    await rc.request(pr_request(sha="9" * 40))
    assert status_of(kube_api, merge.name) is None


async def test_a_new_head_cancels_an_older_head_that_was_still_waiting(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = RunCreator(lambda: config, store)
    for n in (1, 2, 3):
        await rc.request(pr_request(number=n, delivery=f"fill{n}"))
    waiting = await rc.request(pr_request(sha="1" * 40, delivery="d1"))
    newer = await rc.request(pr_request(sha="2" * 40, delivery="d2"))
    assert waiting.kind == newer.kind == "queued" and newer.superseded == (waiting.name,)
    assert status_of(kube_api, waiting.name) == "Cancelled" and status_of(kube_api, newer.name) == "PipelineRunPending"
    # The cancelled run no longer waits: the next free slot goes to the newer head.
    first = kube_api.running(NAMESPACE)[0]
    kube_api.finish(NAMESPACE, first)
    assert await rc.finished(NAMESPACE, first, "default") == [newer.name]


async def test_two_new_heads_at_once_on_two_replicas_leave_exactly_one_run(
    kube_api: FakeKubeApi, config: Config
) -> None:
    """Supersede is decided in the conditional ledger write, so concurrent heads of one PR on
    different replicas serialise there: whichever is recorded last cancels the other."""
    stores = [KubernetesStore(policy=replace(FAST, deadline=5.0)) for _ in range(2)]
    replicas = [RunCreator(lambda: config, s) for s in stores]
    for round_ in range(5):
        heads = [f"{round_}{i}".ljust(40, "0") for i in range(2)]
        outcomes = await asyncio.gather(
            *(
                replicas[i].request(pr_request(number=100 + round_, sha=heads[i], delivery=f"d{round_}{i}"))
                for i in range(2)
            )
        )
        alive = [o.name for o in outcomes if status_of(kube_api, o.name) != "Cancelled"]
        assert len(alive) == 1, outcomes
        assert [o.superseded for o in outcomes if o.name in alive] == [
            tuple(o.name for o in outcomes if o.name not in alive)
        ]
    for s in stores:
        s.close()
