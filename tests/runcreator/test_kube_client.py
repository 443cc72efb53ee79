"""The Kubernetes client (``kube.clients``, ``kube.shared``): calls are awaited on the event loop,
never handed to a worker thread; one client per process, closed at stop and when its loop ends."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from runcreator.conftest import FAST, NAMESPACE, pr_request
from runcreator.test_function import started
from tekton_dag.config.models import Config
from tekton_dag.kube import events as kube_events
from tekton_dag.kube import shared
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.pipelineruns import build_pipelinerun
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import RunCreator


class CountingExecutor(ThreadPoolExecutor):
    """The loop's default executor (``asyncio.to_thread``, ``run_in_executor(None)``), counted."""

    submitted = 0

    def submit(self, *args: Any, **kwargs: Any) -> Any:
        self.submitted += 1
        return super().submit(*args, **kwargs)


async def test_a_webhooks_api_calls_use_no_worker_thread(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    executor = CountingExecutor(max_workers=1)
    asyncio.get_running_loop().set_default_executor(executor)
    await store.read_ledger(NAMESPACE, "warm-up")  # the first call imports the client in a thread
    before = executor.submitted
    outcome = await RunCreator(lambda: config, store).request(pr_request())  # Lease read/write, create
    recorder = kube_events.EventRecorder()
    recorder.emit(kube_events.pipelinerun_ref(NAMESPACE, outcome.name), "Created", "Create", "created")
    await recorder.flush()
    await recorder.close()
    assert outcome.kind == "created" and recorder.created == 1
    # Neither the client nor aiohttp under it (which, trusting the environment, would look up
    # proxies and ~/.netrc in threads on every request) hands work to a thread.
    assert executor.submitted == before


async def test_stop_closes_the_process_client_and_the_next_use_makes_another(kube_api: FakeKubeApi) -> None:
    store = KubernetesStore(policy=FAST)
    function = started(store)
    await store.read_ledger(NAMESPACE, "any")
    api_client = await shared.PROCESS.get()
    function.stop()
    for _ in range(5):  # stop() schedules the closing on the loop
        await asyncio.sleep(0)
    assert api_client.rest_client.pool_manager.closed
    assert await store.read_ledger(NAMESPACE, "any") == (None, None)
    assert await shared.PROCESS.get() is not api_client


def test_a_client_nobody_closed_closes_with_its_loop(kube_api: FakeKubeApi) -> None:
    async def use() -> Any:
        await KubernetesStore(policy=FAST).read_ledger(NAMESPACE, "any")
        return await shared.PROCESS.get()

    api_client = asyncio.run(use())
    assert api_client.rest_client.pool_manager.closed


@pytest.mark.parametrize(("no_proxy", "expected"), [("", "http://127.0.0.1:9"), ("127.0.0.1", None)])
async def test_a_proxy_from_the_environment_is_resolved_once_with_no_proxy(
    kube_api: FakeKubeApi, monkeypatch: pytest.MonkeyPatch, no_proxy: str, expected: str | None
) -> None:
    # As the official client did (its Configuration reads the variables once); never per request.
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", no_proxy)
    client = shared.SharedClient.for_kubeconfig(str(kube_api.kubeconfig))  # the fake: http://127.0.0.1
    api_client = await client.get()
    assert api_client.configuration.proxy == expected
    assert api_client.rest_client.pool_manager.trust_env is False
    await client.aclose()


async def test_a_create_whose_answer_nobody_reads_is_not_parsed(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    # create_run only needs to know the run exists now: its answer (the whole PipelineRun) is
    # read off the connection but not decoded or parsed (kube.clients.unread).
    team = config.team("default")
    assert team is not None
    run = build_pipelinerun(pr_request(), team, team.stack("stack-one"))
    api_client = await shared.PROCESS.get()
    parsed: list[str] = []
    parse = api_client.deserialize
    api_client.deserialize = lambda response, kind: parsed.append(kind) or parse(response, kind)
    try:
        assert await store.create_run(run) is True
        assert await store.create_run(run) is False  # 409: already there
        assert parsed == []
        stored = await store.get_run(team.namespace, run["metadata"]["name"])  # answers still parse
        assert stored is not None and parsed == ["object"]
    finally:
        del api_client.deserialize
    # The unread answers went back to the pool: the next calls work on the same client.
    assert await store.delete_run(team.namespace, run["metadata"]["name"], stored["metadata"]["uid"]) is True
    assert await store.get_run(team.namespace, run["metadata"]["name"]) is None
