"""Benchmark: Tekton event → check updated, through status-reporter, at a steady rate; GitHub calls per run.

Run: ``.venv/bin/python bench/status_reporter_update.py [--runs 300] [--rate 100]``.

status-reporter is served through func-python's ASGI app (binary CloudEvents in), reads and annotates
each PipelineRun in the fake Kubernetes API with the real ``kubernetes`` client over loopback HTTP, and
talks to the recording GitHub (``tekton_dag.testing.recording_github``: no network, no latency of its
own). Every run first gets ``run.created`` (the check is created), then Tekton's ``started`` and
``successful`` events arrive at ``--rate`` per second; the latency of each is from its POST to the
202, i.e. until the check was updated and the run annotated. The fake API runs in this process, so its
work competes with the function for the GIL: the figures are an upper bound. Against the GitHub API
double (when it lands) the client's HTTP round trip adds to them.

Targets (issue 15): p99 ≤ 50 ms at 100 runs/s; at most 3 GitHub calls per run.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import shutil
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent
from func_python.cloudevent import ASGIApplication
from kubernetes.config import new_client_from_config

from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.events import catalog
from tekton_dag.events.requests import PullRequestRef, RunRequest
from tekton_dag.functions.lifecycle import Wiring
from tekton_dag.functions.status_reporter import new
from tekton_dag.kube.retrying import RetryPolicy
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.pipelineruns.building import build_pipelinerun
from tekton_dag.testing import tekton_events
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.recording_github import RecordingGitHub

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 50.0


def teams_with_checks(directory: Path) -> Path:
    shutil.copytree(ROOT / "teams", directory)
    team_file = directory / "default" / "team.yaml"
    team_file.write_text(team_file.read_text() + "github:\n  checks: true\n")
    return directory


def tekton_event(run: dict, status: str, reason: str) -> CloudEvent:
    run = {**run, "status": {"conditions": [{"type": "Succeeded", "status": status, "reason": reason}]}}
    return tekton_events.cloud_event(run)


async def post(client: httpx.AsyncClient, event: CloudEvent) -> float:
    message = to_binary_event(event)
    started = time.perf_counter()
    response = await client.post("/", headers=dict(message.headers), content=message.body)
    assert response.status_code == 202, response.text
    return (time.perf_counter() - started) * 1000


async def main(runs: int, rate: float) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="tekton-dag-bench-"))
    teams = teams_with_checks(scratch / "teams")
    config = load_config_or_raise(teams)
    team = config.team("default")
    assert team is not None and team.stack("stack-one") is not None
    with FakeKubeApi(instant_tekton=False, enforce_rbac=False, validate=False) as api:
        policy = RetryPolicy(deadline=5.0, timeout=2.0, first_backoff=0.01, max_backoff=0.05)
        store = KubernetesStore(api_client=new_client_from_config(config_file=str(api.kubeconfig)), policy=policy)
        github = RecordingGitHub()
        function = new(Wiring(store=store, github=github))
        function.start({"TEKTON_DAG_TEAMS_DIR": str(teams), "TEKTON_DAG_CONFIG_RELOAD_S": "0"})
        created = []
        for n in range(runs):
            request = RunRequest(team="default", stack="stack-one", pipeline="stack-pr-test", delivery=f"d{n}",
                                 app="demo-fe", repo="jmjava/tekton-dag-vue-fe", revision=f"{n:040x}",
                                 pr=PullRequestRef(number=n + 1, head_sha=f"{n:040x}"))
            run = build_pipelinerun(request, team, team.stack("stack-one"))  # type: ignore[arg-type]
            await store.create_run(run)
            created.append(run)
        transport = httpx.ASGITransport(app=ASGIApplication(function))
        async with httpx.AsyncClient(transport=transport, base_url="http://status-reporter") as client:
            for run in created:
                data = {"team": "default", "namespace": team.namespace, "pipelinerun": run["metadata"]["name"]}
                await post(client, CloudEvent(attributes={"type": catalog.RUN_CREATED, "source": "/bench",
                                                          "id": f"c-{data['pipelinerun']}"}, data=data))
            pending = []
            begun = time.perf_counter()
            schedule = [tekton_event(r, "Unknown", "Started") for r in created]
            schedule += [tekton_event(r, "True", "Succeeded") for r in created]
            for index, event in enumerate(schedule):
                delay = begun + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(post(client, event)))
            latencies = list(await asyncio.gather(*pending))
        function.stop()
        store.close()
    ids = {c["id"]: c["external_id"] for c in github.calls if c["call"] == "create_check_run"}
    per_run = Counter(ids.get(c["id"], c.get("external_id")) for c in github.calls)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(f"{len(latencies)} Tekton events at {rate:g}/s over {runs} runs: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"(target {TARGET_P99_MS:g}: {'met' if p99 <= TARGET_P99_MS else 'MISSED'})")
    print(f"GitHub calls per run: max {max(per_run.values())}, total {len(github.calls)} "
          f"(target ≤ 3: {'met' if max(per_run.values()) <= 3 else 'MISSED'})")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.runs, arguments.rate))
