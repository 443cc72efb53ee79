"""Project-wide test settings.

No test may reach a real cluster or Broker by accident: the standard kubeconfig locations are
pointed at nothing, and K_SINK is cleared. Tests that need either start their own double
(``tekton_dag.testing``); ``kube_api`` is the fake Kubernetes API as a fixture. Every function a
test starts shares one event key (``tekton_dag.testing.sealing``), as a team's functions do.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator

import pytest

from tekton_dag.events.sealing import KEY_ENV, KEY_FILE_ENV
from tekton_dag.testing.github_api import TEST_NOTIFICATION_INTERVAL_S, TEST_WRITE_INTERVAL_S
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.sealing import TEST_EVENT_KEY

SHARED_SCHEMAS = "../shared/schemas"  # the steering repo's vendored CRD schemas, beside the checkout


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path_factory.getbasetemp() / "no-kubeconfig"))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.delenv("K_SINK", raising=False)
    monkeypatch.setenv(KEY_ENV, TEST_EVENT_KEY)
    monkeypatch.delenv(KEY_FILE_ENV, raising=False)
    # Configuration snapshots of the run go to its temporary directory, never the user's cache.
    monkeypatch.setenv("TEKTON_DAG_CONFIG_CACHE", str(tmp_path_factory.getbasetemp() / "config-cache"))
    # GitHub writes a second apart (github.pacing) would add seconds to every test that writes twice; the
    # processes tests start (tekton-dag dev, redeliver) inherit this, in-process clients get it from
    # support.githubapi. The tests of the pacing set their own.
    monkeypatch.setenv("GITHUB_WRITE_INTERVAL_SECONDS", str(TEST_WRITE_INTERVAL_S))
    monkeypatch.setenv("GITHUB_NOTIFICATION_INTERVAL_SECONDS", str(TEST_NOTIFICATION_INTERVAL_S))  # comments: 3 s


@pytest.fixture(autouse=True)
def _event_loop_policy_kept() -> Iterator[None]:
    """A test that imports a function's ``func.py`` (which chooses uvloop for func-python's
    ``asyncio.run``, ``tekton_dag.functions.loops``) leaves the tests after it their loop."""
    policy = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(policy)


@pytest.fixture(autouse=True)
def _metrics_registry_kept() -> Iterator[None]:
    """A test that starts the dead-letter sink in this process (its setup unregisters the
    configuration gauges, right for its own pod) fails here, by name, instead of every metrics
    test after it failing for no reason of its own (CI, 2026-12-03)."""
    yield
    metrics = sys.modules.get("tekton_dag.observability.metrics")
    if metrics is None or not metrics._made.is_set():
        return
    from prometheus_client import REGISTRY

    # the registry's own map of what is registered: collect() would run every collector per test
    registered = REGISTRY._collector_to_names
    missing = [gauge for gauge in metrics.configuration_gauges() if gauge not in registered]
    for gauge in missing:  # put back, so only the test that took them fails
        REGISTRY.register(gauge)
    assert not missing, f"this test left the process's metrics registry without {[g._name for g in missing]}"


@pytest.fixture
def kube_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    """A started fake API with KUBECONFIG pointing at it."""
    with FakeKubeApi() as api:
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig))
        yield api


@pytest.fixture
def tekton_free_api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    """The fake API without its instant Tekton: PipelineRuns are left to the Tekton double
    (``tekton_dag.testing.tekton``); KUBECONFIG points at it."""
    with FakeKubeApi(instant_tekton=False) as api:
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig))
        yield api
