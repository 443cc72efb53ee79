"""Retention: the pure decision, then deletes through the real client against the fake API."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from runcreator.conftest import NAMESPACE, bootstrap_request, merge_request, pr_request
from tekton_dag.config.models import Config, Retention
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.pipelineruns.retention import to_delete
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import RunCreator
from tekton_dag.usecases.pruning import Pruner

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def fake_run(name: str, pipeline: str = "stack-pr-test", stack: str = "s", done_hours_ago: float | None = 1.0,
             spec_status: str | None = None, reason: str = "Succeeded") -> dict:
    status: dict = {}
    if done_hours_ago is not None:
        stamp = (NOW - timedelta(hours=done_hours_ago)).strftime("%Y-%m-%dT%H:%M:%SZ")
        status = {"completionTime": stamp, "conditions": [{"type": "Succeeded", "status": "True", "reason": reason}]}
    elif spec_status is None:
        status = {"startTime": "x", "conditions": [{"type": "Succeeded", "status": "Unknown", "reason": "Running"}]}
    return {"metadata": {"name": name, "labels": {"tekton-dag.dev/pipeline": pipeline, "tekton-dag.dev/stack": stack}},
            "spec": {"status": spec_status} if spec_status else {}, "status": status}


def names(runs: list[dict]) -> list[str]:
    return [r["metadata"]["name"] for r in runs]


def test_keep_last_counts_per_pipeline_and_stack_newest_first() -> None:
    runs = [fake_run(f"pr-{n}", done_hours_ago=n) for n in range(1, 5)]
    runs += [
        fake_run("merge-1", "stack-merge-release", done_hours_ago=9),
        fake_run("other-stack", stack="t", done_hours_ago=9),
    ]
    assert names(to_delete(runs, Retention(keep_last=2), NOW.timestamp(), 100)) == ["pr-4", "pr-3"]  # oldest first


def test_max_age_counts_from_completion() -> None:
    runs = [fake_run("old", done_hours_ago=49), fake_run("young", done_hours_ago=47)]
    assert names(to_delete(runs, Retention(max_age_seconds=48 * 3600), NOW.timestamp(), 100)) == ["old"]


def test_either_rule_deletes_when_both_are_set() -> None:
    runs = [
        fake_run("a", done_hours_ago=1),
        fake_run("b", done_hours_ago=2),
        fake_run("ancient", "stack-bootstrap", done_hours_ago=500),
    ]
    both = Retention(keep_last=1, max_age_seconds=24 * 3600)
    assert names(to_delete(runs, both, NOW.timestamp(), 100)) == ["ancient", "b"]


def test_pending_running_and_still_stopping_runs_are_never_deleted() -> None:
    runs = [
        fake_run("pending", done_hours_ago=None, spec_status="PipelineRunPending"),
        fake_run("running", done_hours_ago=None),
        fake_run("cancelling", done_hours_ago=None, spec_status="CancelledRunFinally"),  # finally tasks still run
        fake_run("done", done_hours_ago=1000),
    ]
    assert names(to_delete(runs, Retention(keep_last=1, max_age_seconds=1), NOW.timestamp(), 100)) == ["done"]


def test_deletes_are_bounded_per_cycle_and_no_policy_deletes_nothing() -> None:
    runs = [fake_run(f"r{n:02d}", done_hours_ago=n) for n in range(30)]
    assert names(to_delete(runs, Retention(keep_last=1), NOW.timestamp(), 5)) == ["r29", "r28", "r27", "r26", "r25"]
    assert to_delete(runs, Retention(), NOW.timestamp(), 100) == []


def with_retention(config: Config, retention: Retention) -> Config:
    team = config.team("default")
    return replace(config, teams=(replace(team, retention=retention),))


async def test_the_pruner_deletes_through_the_api_and_spares_live_runs(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    config = with_retention(config, Retention(keep_last=1))
    creator = RunCreator(lambda: config, store)
    done = [(await creator.request(pr_request(number=n, delivery=f"p{n}"))).name for n in (1, 2, 3)]
    for age, name in enumerate(done):  # p1 finished last, p3 first
        kube_api.finish(NAMESPACE, name, at=datetime.now(UTC) - timedelta(hours=age))
    live = [
        (await creator.request(r)).name
        for r in (merge_request("m1"), bootstrap_request("b1"), pr_request(number=7, delivery="p7"))
    ]
    queued = (await creator.request(pr_request(number=8, delivery="p8"))).name
    assert queued in kube_api.pending(NAMESPACE)

    deleted = await Pruner(store).prune_all(config)

    assert deleted == {"default": [done[2], done[1]]}
    left = {o["metadata"]["name"] for o in kube_api.objects("pipelineruns", NAMESPACE)}
    assert left == {done[0], *live, queued}
    deletes = [(m, s) for m, p, s in kube_api.requests if m == "DELETE"]
    assert deletes == [("DELETE", 200)] * 2


async def test_a_run_recreated_under_the_same_name_is_not_deleted(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    name = (await RunCreator(lambda: config, store).request(pr_request())).name
    assert await store.delete_run(NAMESPACE, name, uid="the-uid-of-an-earlier-run") is False
    assert kube_api.get("pipelineruns", NAMESPACE, name) is not None
    assert [s for m, p, s in kube_api.requests if m == "DELETE"] == [409]
    assert await store.delete_run(NAMESPACE, "never-existed", uid="x") is False


@pytest.mark.parametrize("budget", [1, 3])
async def test_the_pruner_stops_at_its_budget(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore, budget: int
) -> None:
    config = with_retention(config, Retention(max_age_seconds=60))
    creator = RunCreator(lambda: config, store)
    for n in range(1, 4):
        name = (await creator.request(pr_request(number=n, delivery=f"p{n}"))).name
        kube_api.finish(NAMESPACE, name, at=datetime.now(UTC) - timedelta(hours=n))
    deleted = await Pruner(store, deletes_per_cycle=budget).prune_all(config)
    assert len(deleted["default"]) == budget
    assert len(kube_api.objects("pipelineruns", NAMESPACE)) == 3 - budget
