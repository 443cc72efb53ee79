"""Benchmark: run.requested → PipelineRun created, against the fake Kubernetes API; cold start.

Run: ``.venv/bin/python bench/runcreator_create.py [--requests 500]``. Prints:

The fake API runs in its own process (as a real API server would), so its work does not
compete with the function for the GIL; the latency is what the function's process sees.

- latency of one run.requested through the function (func-python's ASGI app, binary CloudEvent
  in, CloudEvent reply out) to a created PipelineRun, via the real ``kubernetes`` client and a
  loopback HTTP API: p50/p99 for runs created at once and for runs queued (limit reached);
- import-to-ready of the function in a fresh interpreter (import, ``new()``, ``start()``,
  ``ready()``), and process spawn to ``/health/readiness`` 200 of ``serve('run-creator')``.

Targets (issue 4): p99 ≤ 10 ms; import-to-ready ≤ 600 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

import httpx
import yaml
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.events import catalog
from tekton_dag.events.requests import RunRequest
from tekton_dag.events.sealing import KEY_ENV
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.sealing import TEST_EVENT_KEY, sealed
from tekton_dag.testing.serving import free_port

ROOT = Path(__file__).resolve().parents[1]

COLD_START = """
import asyncio, os, sys, time
t0 = time.perf_counter()
from tekton_dag.functions.run_creator import new
async def main():
    f = new()
    f.start(dict(os.environ))
    assert f.ready()[0]
    f.stop()
asyncio.run(main())
print(time.perf_counter() - t0)
"""


class ApiProcess(BaseManager):
    """Serves a started ``FakeKubeApi`` from a child process; tests call it through a proxy."""


def _started_api() -> FakeKubeApi:
    return FakeKubeApi().start()


ApiProcess.register("FakeKubeApi", _started_api)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def teams_with_limit(into: Path, limit: int) -> Path:
    """A copy of the example teams whose every team admits ``limit`` runs at once."""
    teams = shutil.copytree(ROOT / "teams", into / "teams")
    for team_file in teams.glob("*/team.yaml"):
        document = yaml.safe_load(team_file.read_text())
        document["maxConcurrentRuns"] = limit
        team_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return teams


async def latencies(api: Any, count: int, limit: int, finish_each: bool) -> list[float]:
    from func_python.cloudevent import ASGIApplication

    from tekton_dag.functions.lifecycle import Wiring
    from tekton_dag.functions.run_creator import new
    from tekton_dag.kube.stores import KubernetesStore

    logging.getLogger("httpx").setLevel(logging.WARNING)  # func-python turns INFO logging on
    store = KubernetesStore()
    function = new(Wiring(store=store))
    with tempfile.TemporaryDirectory() as teams:
        function.start({"TEKTON_DAG_TEAMS_DIR": str(teams_with_limit(Path(teams), limit)), KEY_ENV: TEST_EVENT_KEY,
                        "TEKTON_DAG_CONFIG_RELOAD_S": "0", "TEKTON_DAG_RECONCILE_SECONDS": "0"})
    app = ASGIApplication(function)
    results = []
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://run-creator") as client:
        for i in range(count + 20):
            request = RunRequest(
                team="default",
                stack="stack-one",
                pipeline="stack-bootstrap",
                delivery=f"bench-{limit}-{i}",
                requested_by="bench",
            )
            message = to_binary_event(sealed(
                CloudEvent(
                    attributes={
                        "type": catalog.RUN_REQUESTED,
                        "source": "/bench",
                        "id": f"e{i}",
                        "datacontenttype": "application/json",
                    },
                    data=request.to_data(),
                )
            ))
            started = time.perf_counter()
            response = await client.post("/", headers=dict(message.headers), content=message.body)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.text
            if i >= 20:  # warm-up excluded
                results.append(elapsed)
            if finish_each:  # keep a steady state: the run completes, its slot frees (not timed)
                name = response.json()["pipelinerun"]  # binary mode: the body is the data
                api.finish("tekton-dag-default", name)
                await function.creator.finished("tekton-dag-default", name, "default")
    function.stop()
    store.close()
    return results


def cold_starts(kubeconfig: Path, runs: int) -> tuple[list[float], list[float]]:
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "TEKTON_DAG_TEAMS_DIR": str(ROOT / "teams"),
           KEY_ENV: TEST_EVENT_KEY, "TEKTON_DAG_RECONCILE_SECONDS": "0"}
    imports, spawns = [], []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", COLD_START], env=env, capture_output=True, text=True, check=True)
        imports.append(float(out.stdout.strip().splitlines()[-1]))
        port = free_port()
        started = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-c", "from tekton_dag.functions.serving import serve; serve('run-creator')"],
            env={**env, "LISTEN_ADDRESS": f"127.0.0.1:{port}"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health/readiness").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.01)
            spawns.append(time.perf_counter() - started)
        finally:
            server.terminate()
            server.wait()
    return imports, spawns


def ms(value: float) -> str:
    return f"{value * 1000:.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--cold-starts", type=int, default=5)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    with ApiProcess() as manager, tempfile.TemporaryDirectory() as tmp:
        api = manager.FakeKubeApi()  # type: ignore[attr-defined]
        kubeconfig = Path(tmp) / "kubeconfig"
        kubeconfig.write_text(yaml.safe_dump(api.kubeconfig_dict()))
        os.environ["KUBECONFIG"] = str(kubeconfig)
        cpu = time.process_time()
        created = asyncio.run(latencies(api, args.requests, limit=3, finish_each=True))
        cpu = (time.process_time() - cpu) / (args.requests + 20)
        queued = asyncio.run(latencies(api, args.requests, limit=1, finish_each=False))
        imports, spawns = cold_starts(kubeconfig, args.cold_starts)
        api.stop()
    print(
        f"run.requested -> PipelineRun created ({args.requests} requests, fake API on loopback, real kubernetes client)"
    )
    print(f"  machine load average {load_before:.1f} before, {os.getloadavg()[0]:.1f} after ({os.cpu_count()} CPUs); "
          f"function-process CPU per run (request + finishing it): {ms(cpu)}")
    for label, values in (("created", created), ("queued (queue grows to N)", queued)):
        print(
            f"  {label:24s} p50 {ms(statistics.median(values))}  p99 {ms(percentile(values, 99))}"
            f"  max {ms(max(values))}"
        )
    print(f"cold start ({args.cold_starts} fresh interpreters)")
    print(f"  import-to-ready          median {ms(statistics.median(imports))}  max {ms(max(imports))}")
    print(f"  spawn-to-readiness HTTP  median {ms(statistics.median(spawns))}  max {ms(max(spawns))}")
    print(f"targets: p99 <= 10 ms: {'met' if percentile(created, 99) <= 0.010 else 'MISSED'}; "
          f"import-to-ready <= 600 ms: {'met' if statistics.median(imports) <= 0.600 else 'MISSED'}")


if __name__ == "__main__":
    main()
