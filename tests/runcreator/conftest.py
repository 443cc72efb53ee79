"""Fixtures for run-creator tests: the example config, the fake Kubernetes API, the function."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.config.models import Config
from tekton_dag.events.requests import PullRequestRef, RunRequest
from tekton_dag.kube.retrying import RetryPolicy
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.ledger_hints import LedgerHints

ROOT = Path(__file__).resolve().parents[2]
TEAMS = ROOT / "teams"
NAMESPACE = "tekton-dag-default"
# Short deadlines keep retry tests fast; the API double answers in about a millisecond.
FAST = RetryPolicy(deadline=1.0, timeout=0.5, first_backoff=0.01, max_backoff=0.05)


@pytest.fixture(scope="session")
def config() -> Config:
    return load_config_or_raise(TEAMS)


@pytest.fixture
def make_hints() -> Iterator[Callable[[Path], LedgerHints]]:
    """``make_hints(directory)``: a worker's ``LedgerHints`` on ``directory``; every one made is
    closed after the test (its turns' socket and ``.peer`` file)."""
    made: list[LedgerHints] = []

    def make(directory: Path) -> LedgerHints:
        made.append(LedgerHints(directory))
        return made[-1]

    yield make
    for hints in made:
        hints.close()


@pytest.fixture
def store(kube_api: FakeKubeApi) -> Iterator[KubernetesStore]:
    store = KubernetesStore(policy=FAST)
    yield store
    store.close()


def pr_request(number: int = 42, sha: str = "a" * 40, app: str = "demo-fe", delivery: str = "d-1") -> RunRequest:
    return RunRequest(
        team="default", stack="stack-one", pipeline="stack-pr-test", delivery=delivery, app=app,
        repo="jmjava/tekton-dag-vue-fe", revision=sha, pr=PullRequestRef(number=number, head_sha=sha, base_ref="main"),
    )


def merge_request(delivery: str = "m-1", sha: str = "b" * 40, app: str = "demo-fe") -> RunRequest:
    return RunRequest(team="default", stack="stack-one", pipeline="stack-merge-release", delivery=delivery,
                      app=app, repo="jmjava/tekton-dag-vue-fe", revision=sha)


def bootstrap_request(delivery: str = "b-1") -> RunRequest:
    return RunRequest(team="default", stack="stack-one", pipeline="stack-bootstrap", delivery=delivery,
                      image_tag="base-1", requested_by="bootstrap-batcher")
