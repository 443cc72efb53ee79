"""Fixtures for the Tekton controller double: the fake API without its instant Tekton, a store
through the real ``kubernetes`` client, a manual clock and a small Pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.clocks import Clock
from tekton_dag.kube.retrying import RetryPolicy
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.testing.kube_api import FakeKubeApi

NS = "team-a"
FAST = RetryPolicy(deadline=1.0, timeout=0.5, first_backoff=0.01, max_backoff=0.05)



@pytest.fixture
def api(tekton_free_api: FakeKubeApi) -> FakeKubeApi:
    return tekton_free_api


@pytest.fixture
def store(api: FakeKubeApi) -> Iterator[KubernetesStore]:
    store = KubernetesStore(policy=FAST)
    yield store
    store.close()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def task(name: str, **fields: object) -> dict:
    return {"name": name, "taskRef": {"name": name}, **fields}


# build → test (runAfter) and report (reads build's result in `when`); finally: notify.
PIPELINE = {
    "apiVersion": "tekton.dev/v1", "kind": "Pipeline", "metadata": {"name": "ci"},
    "spec": {
        "params": [{"name": "mode", "type": "string", "default": "full"}],
        "workspaces": [{"name": "src"}, {"name": "cache"}],
        "tasks": [
            task("build", workspaces=[{"name": "source", "workspace": "src"}, {"name": "cache", "workspace": "cache"}]),
            task("test", runAfter=["build"], params=[{"name": "mode", "value": "$(params.mode)"}]),
            task("report", when=[{"input": "$(tasks.build.results.publish)", "operator": "in", "values": ["true"]}]),
        ],
        "finally": [task("notify", params=[{"name": "outcome", "value": "$(tasks.status)"}])],
    },
}


def pipelinerun(name: str = "run-1", status: str | None = None, **spec: object) -> dict:
    run = {
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
        "metadata": {"name": name, "namespace": NS, "labels": {"tekton-dag.dev/team": "a"}},
        "spec": {"pipelineRef": {"name": "ci"}, "params": [{"name": "mode", "value": "quick"}],
                 "taskRunTemplate": {"serviceAccountName": "pipeline"},
                 "workspaces": [{"name": "src", "persistentVolumeClaim": {"claimName": "w"}},
                                {"name": "cache", "persistentVolumeClaim": {"claimName": "c"}}], **spec},
    }
    if status:
        run["spec"]["status"] = status
    return run
