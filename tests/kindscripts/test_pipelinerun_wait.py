"""The kind E2E scripts' wait for a PipelineRun (``wait_for_pipelinerun`` in scripts/lib/e2e.sh), run
for real: bash sources the library, the real kubectl asks the fake API server (HTTPS, as kubectl
wants), and the Tekton controller double moves a PipelineRun that ``tekton-dag render`` made for the
real ``stack-pr-test`` Pipeline through Tekton's lifecycle. Succeeded=True passes, False fails at once
with Tekton's reason and message, Unknown until the deadline fails with a timeout."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.clirun import parsed, run_cli
from support.clocks import Clock
from tekton_dag.kube.retrying import RetryPolicy
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.tekton import TR_FAILED, TR_SUCCEEDED, TektonDouble, Timing, load_pipelines

ROOT = Path(__file__).resolve().parents[2]
LIBRARY = ROOT / "scripts" / "lib" / "e2e.sh"
NAMESPACE = "tekton-dag-default"  # teams/default
SELECTOR = "tekton-dag.dev/team=default,tekton-dag.dev/pr=7"
FAST = RetryPolicy(deadline=2.0, timeout=1.0, first_backoff=0.01, max_backoff=0.05)



@pytest.fixture
def api(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeKubeApi]:
    assert shutil.which("kubectl"), "kubectl is required for this test (it is on the CI image)"
    with FakeKubeApi(tls=True, instant_tekton=False) as api:  # kubectl sends its token over HTTPS only
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig))
        yield api


@pytest.fixture
def store(api: FakeKubeApi) -> Iterator[KubernetesStore]:
    store = KubernetesStore(policy=FAST)
    yield store
    store.close()


@functools.cache
def rendered_pr_run() -> str:
    """The PipelineRun run-creator would create for pull request 7 of demo-fe (``tekton-dag render``)."""
    result = run_cli("render", "--mode", "pr", "--team", "default", "--app", "demo-fe", "--pr", "7",
                     "--sha", "0" * 40, "--teams", str(ROOT / "teams"), "-o", "json")
    return json.dumps(parsed(result, "json"))


async def start(store: KubernetesStore, clock: Clock, failing_task: str = "") -> tuple[TektonDouble, str]:
    """Create the rendered run and let the Tekton double start it (Succeeded Unknown/Running)."""
    run = json.loads(rendered_pr_run())
    await store.create_run(run)
    double = TektonDouble(
        store, [NAMESPACE], load_pipelines(ROOT / "pipeline"), clock=clock, timing=Timing(default=60.0),
        outcome=lambda _run, task: TR_FAILED if task == failing_task else TR_SUCCEEDED,
    )
    await double.poll()
    return double, run["metadata"]["name"]


async def finish(double: TektonDouble, clock: Clock, api: FakeKubeApi, name: str) -> dict:
    for _ in range(40):
        clock.advance(60.0)
        await double.poll()
        run = api.get("pipelineruns", NAMESPACE, name)
        assert run is not None
        if run["status"].get("completionTime"):
            return run
    raise AssertionError("the Tekton double did not finish the run")


def wait(timeout: int = 30) -> tuple[subprocess.CompletedProcess[str], float]:
    began = time.monotonic()
    result = subprocess.run(
        ["bash", "-c", 'set -euo pipefail; source "$0"; wait_for_pipelinerun "$1" "$2" "$3"; echo "run=$E2E_RUN"',
         str(LIBRARY), NAMESPACE, SELECTOR, str(timeout)],
        env={**os.environ, "E2E_POLL_SECONDS": "0.2"}, capture_output=True, text=True, timeout=120,
    )
    return result, time.monotonic() - began


async def test_a_run_that_succeeds_passes(api: FakeKubeApi, store: KubernetesStore) -> None:
    clock = Clock()
    double, name = await start(store, clock)
    run = await finish(double, clock, api, name)
    condition = run["status"]["conditions"][0]
    # True/Completed: the compile tasks of unused tools are skipped by their `when`
    assert (condition["status"], condition["reason"]) == ("True", "Completed")

    result, _ = wait()
    assert result.returncode == 0, result.stderr
    assert f"PASS: pipelinerun/{name} succeeded (Completed)" in result.stdout
    assert f"run={name}" in result.stdout


async def test_a_failed_run_fails_at_once_with_tekton_reason_and_message(
    api: FakeKubeApi, store: KubernetesStore
) -> None:
    clock = Clock()
    double, name = await start(store, clock, failing_task="containerize")
    run = await finish(double, clock, api, name)
    condition = run["status"]["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "Failed")

    result, elapsed = wait(timeout=60)
    assert result.returncode == 1
    assert f"FAIL: pipelinerun/{name}: Succeeded=False, reason Failed: {condition['message']}" in result.stderr
    assert "Tasks Completed:" in condition["message"] and "(Failed: 1," in condition["message"]
    assert elapsed < 30  # not the 60 s deadline: False ends the wait


async def test_a_run_that_stays_unknown_times_out(api: FakeKubeApi, store: KubernetesStore) -> None:
    clock = Clock()
    _, name = await start(store, clock)
    run = api.get("pipelineruns", NAMESPACE, name)
    assert run is not None and run["status"]["conditions"][0]["status"] == "Unknown"

    result, elapsed = wait(timeout=2)
    assert result.returncode == 1
    assert f"timed out after 2s waiting for a PipelineRun (-l {SELECTOR}) to succeed; last: {name}: Unknown" in (
        result.stderr
    )
    assert f"{name}: Unknown Running" in result.stdout  # progress is shown while it waits
    assert elapsed < 30


def test_no_run_at_all_times_out(api: FakeKubeApi) -> None:
    result, _ = wait(timeout=1)
    assert result.returncode == 1
    assert "last: no PipelineRun yet" in result.stderr
