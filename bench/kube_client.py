"""Benchmark: the Kubernetes calls run-creator makes per webhook, official client vs kubernetes_asyncio.

Run: ``.venv/bin/python bench/kube_client.py [--webhooks 500] [--rounds 3] [--concurrency 1]``.

Per "webhook" the calls run-creator makes when it admits and creates a run: get the team's
admission Lease, replace it (``resourceVersion`` precondition), create the PipelineRun, create
one ``events.k8s.io/v1`` Event. Two ways, back to back in one process, alternating rounds:

- **official**: the synchronous ``kubernetes`` client (urllib3), each call in a worker thread
  (``asyncio.to_thread``), as ``tekton_dag.kube`` did until 0.10;
- **asyncio-stock**: ``kubernetes_asyncio`` (aiohttp) as it comes, one ``ApiClient``, awaited on
  the loop: its aiohttp session trusts the environment, so every request looks up proxies and
  ``~/.netrc`` in two worker-thread hops; the Event answer is deserialised into a model;
- **asyncio**: ``kubernetes_asyncio`` as ``tekton_dag.kube`` uses it (``clients.api_client_from_kubeconfig``:
  proxy variables resolved once, the session trusting nothing more; Events through the generic
  path, the answer left a dict).

The fake API (``tekton_dag.testing.kube_api``, RBAC on, as the cluster admin) runs in its own
process, so only the client's work is in this process's CPU time. Prints CPU per webhook and
per call, wall-clock p50/p99 per webhook, the machine's load, and the import time of each client
in a fresh interpreter (``python -X importtime`` would give the breakdown).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

import yaml

from tekton_dag.testing.kube_api import FakeKubeApi

NAMESPACE = "tekton-dag-default"
CALLS_PER_WEBHOOK = 4
VARIANTS = ("official", "asyncio-stock", "asyncio")
THROUGHPUT: dict[str, list[float]] = {}  # webhooks/s of each round


class ApiProcess(BaseManager):
    """Serves a started ``FakeKubeApi`` from a child process."""


def _started_api() -> FakeKubeApi:
    return FakeKubeApi().start()


ApiProcess.register("FakeKubeApi", _started_api)


def pipelinerun(i: int, tag: str) -> dict[str, Any]:
    """A PipelineRun shaped like run-creator's (labels, ~20 params, a pipelineRef)."""
    params = [{"name": f"param-{n}", "value": f"value-{n}-" + "x" * 40} for n in range(20)]
    return {
        "apiVersion": "tekton.dev/v1", "kind": "PipelineRun",
        "metadata": {"name": f"bench-{tag}-{i}", "namespace": NAMESPACE,
                     "labels": {"app.kubernetes.io/managed-by": "tekton-dag", "tekton-dag.dev/team": "default",
                                "tekton-dag.dev/stack": "stack-one", "tekton-dag.dev/pipeline": "stack-pr"}},
        "spec": {"pipelineRef": {"name": "stack-pr"}, "params": params,
                 "taskRunTemplate": {"serviceAccountName": "tekton-dag-runner"}},
    }


def lease(name: str, text: str, version: str | None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": NAMESPACE,
                                "annotations": {"tekton-dag.dev/admission-ledger": text}}
    if version:
        metadata["resourceVersion"] = version
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": metadata,
            "spec": {"holderIdentity": "bench"}}


def event(i: int, tag: str) -> dict[str, Any]:
    return {
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": f"bench-{tag}-{i}.{time.time_ns():x}", "namespace": NAMESPACE},
        "eventTime": "2026-12-01T08:00:00.000000Z", "reportingController": "tekton-dag.dev/run-creator",
        "reportingInstance": "bench", "action": "Create", "reason": "Created", "note": "bench", "type": "Normal",
        "regarding": {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "namespace": NAMESPACE,
                      "name": f"bench-{tag}-{i}"},
    }


LEDGER_TEXT = '{"entries":[' + ",".join(f'"run-{n}"' for n in range(40)) + "]}"


def official(kubeconfig: str) -> tuple[Callable[[int, str], Awaitable[None]], Callable[[], Awaitable[None]]]:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    configuration.retries = False
    api_client = client.ApiClient(configuration)
    objects, events = client.CustomObjectsApi(api_client), client.EventsV1Api(api_client)

    async def webhook(i: int, tag: str) -> None:
        name = f"ledger-{tag}"
        current = await asyncio.to_thread(objects.get_namespaced_custom_object, "coordination.k8s.io", "v1",
                                          NAMESPACE, "leases", name, _request_timeout=5)
        version = current["metadata"]["resourceVersion"]
        await asyncio.to_thread(objects.replace_namespaced_custom_object, "coordination.k8s.io", "v1", NAMESPACE,
                                "leases", name, lease(name, LEDGER_TEXT, version), _request_timeout=5)
        await asyncio.to_thread(objects.create_namespaced_custom_object, "tekton.dev", "v1", NAMESPACE,
                                "pipelineruns", pipelinerun(i, tag), _request_timeout=5)
        await asyncio.to_thread(events.create_namespaced_event, NAMESPACE, event(i, tag), _request_timeout=5)

    async def setup_and_close() -> None:
        api_client.close()

    return webhook, setup_and_close


async def async_client(kubeconfig: str, stock: bool) -> tuple[Callable[[int, str], Awaitable[None]],
                                                              Callable[[], Awaitable[None]]]:
    from kubernetes_asyncio import client, config

    from tekton_dag.kube.clients import api_client_from_kubeconfig

    if stock:  # as kubernetes_asyncio comes: its session trusts the environment; Events as models
        configuration = client.Configuration()
        await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
        api_client = client.ApiClient(configuration)
    else:  # as tekton_dag.kube uses it
        api_client = await api_client_from_kubeconfig(kubeconfig)
    objects, events = client.CustomObjectsApi(api_client), client.EventsV1Api(api_client)

    async def create_event(body: dict[str, Any]) -> None:
        if stock:
            await events.create_namespaced_event(NAMESPACE, body, _request_timeout=5)
        else:
            await objects.create_namespaced_custom_object("events.k8s.io", "v1", NAMESPACE, "events", body,
                                                          _request_timeout=5)

    async def webhook(i: int, tag: str) -> None:
        name = f"ledger-{tag}"
        current = await objects.get_namespaced_custom_object("coordination.k8s.io", "v1", NAMESPACE, "leases", name,
                                                             _request_timeout=5)
        version = current["metadata"]["resourceVersion"]
        await objects.replace_namespaced_custom_object("coordination.k8s.io", "v1", NAMESPACE, "leases", name,
                                                       lease(name, LEDGER_TEXT, version), _request_timeout=5)
        await objects.create_namespaced_custom_object("tekton.dev", "v1", NAMESPACE, "pipelineruns",
                                                      pipelinerun(i, tag), _request_timeout=5)
        await create_event(event(i, tag))

    async def close() -> None:
        await api_client.close()

    return webhook, close


async def measure(which: str, kubeconfig: str, count: int, concurrency: int, tag: str) -> tuple[float, list[float]]:
    """(CPU seconds per webhook, wall seconds of each webhook) for ``count`` webhooks."""
    if which == "official":
        webhook, close = official(kubeconfig)
    else:
        webhook, close = await async_client(kubeconfig, stock=which == "asyncio-stock")
    # The ledger Lease exists (created outside the timed part), as it does after a team's first run.
    from kubernetes_asyncio import client, config

    configuration = client.Configuration()
    await config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    tags = [f"{tag}-{worker}" for worker in range(concurrency)]  # a Lease each: no conflicts
    async with client.ApiClient(configuration) as setup:
        for worker_tag in tags:
            await client.CustomObjectsApi(setup).create_namespaced_custom_object(
                "coordination.k8s.io", "v1", NAMESPACE, "leases", lease(f"ledger-{worker_tag}", LEDGER_TEXT, None))
    for i in range(20):  # warm-up: connections, first-call imports
        await webhook(-1 - i, tags[0])
    walls: list[float] = []

    async def worker(n: int) -> None:
        for i in range(n, count, concurrency):
            started = time.perf_counter()
            await webhook(i, tags[n])
            walls.append(time.perf_counter() - started)

    cpu, wall = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker(n) for n in range(concurrency)))
    THROUGHPUT.setdefault(which, []).append(count / (time.perf_counter() - wall))
    cpu = time.process_time() - cpu
    await close()
    return cpu / count, walls


IMPORT = "import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"


def import_seconds(module: str, runs: int = 5) -> float:
    times = [float(subprocess.run([sys.executable, "-c", IMPORT.format(module=module)], capture_output=True,
                                  text=True, check=True).stdout) for _ in range(runs)]
    return statistics.median(times)


def ms(value: float) -> str:
    return f"{value * 1000:.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=1, help="webhooks in flight at once")
    args = parser.parse_args()
    load = os.getloadavg()
    results: dict[str, list[tuple[float, list[float]]]] = {which: [] for which in VARIANTS}
    with ApiProcess() as manager, tempfile.TemporaryDirectory() as tmp:
        api = manager.FakeKubeApi()  # type: ignore[attr-defined]
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(api.kubeconfig_dict()))
        for round_ in range(args.rounds):
            for which in VARIANTS if round_ % 2 == 0 else VARIANTS[::-1]:
                results[which].append(asyncio.run(measure(which, str(kubeconfig), args.webhooks, args.concurrency,
                                                          f"{which}-{round_}")))
        api.stop()
    print(f"{CALLS_PER_WEBHOOK} API calls per webhook (get + replace Lease, create PipelineRun, create Event), "
          f"{args.webhooks} webhooks x {args.rounds} rounds, fake API in its own process")
    print(f"  load average {load[0]:.2f} before, {os.getloadavg()[0]:.2f} after ({os.cpu_count()} CPUs)")
    for which, rounds in results.items():
        cpus = [cpu for cpu, _ in rounds]
        walls = [wall for _, round_walls in rounds for wall in round_walls]
        print(f"  {which:13s} CPU/webhook median {ms(statistics.median(cpus))} (rounds: "
              f"{', '.join(ms(c) for c in cpus)}), per call {ms(statistics.median(cpus) / CALLS_PER_WEBHOOK)}; "
              f"wall/webhook p50 {ms(statistics.median(walls))} p99 {ms(sorted(walls)[int(0.99 * (len(walls) - 1))])}; "
              f"{statistics.median(THROUGHPUT[which]):.0f} webhooks/s")
    official_cpu = statistics.median(c for c, _ in results["official"])
    for which in VARIANTS[1:]:
        print(f"  {which} / official CPU: {statistics.median(c for c, _ in results[which]) / official_cpu:.2f}")
    print("import in a fresh interpreter (median of 5)")
    for module in ("kubernetes.client", "kubernetes_asyncio.client"):
        print(f"  {module:27s} {ms(import_seconds(module))}")


if __name__ == "__main__":
    main()
