"""Benchmark: Tekton event → check updated, through status-reporter, at a steady rate; GitHub calls per run.

Run: ``.venv/bin/python bench/status_reporter_update.py [--runs 300] [--rate 100]``.

status-reporter is served through func-python's ASGI app (binary CloudEvents in), reads and annotates
each PipelineRun in the fake Kubernetes API with the real ``kubernetes`` client over loopback HTTP, and
talks to the GitHub API double (``tekton_dag.testing.github_api``: every request and answer checked
against GitHub's OpenAPI description, the App's JWT and installation token verified) through the real
client it builds from ``GITHUB_*``, as a deployment does. Every run first gets ``run.created`` (the
check is created), then Tekton's ``started`` and ``successful`` events arrive at ``--rate`` per
second; the latency of each is from its POST to the 202, i.e. until GitHub answered the update and
the run was annotated. The GitHub double runs in a process of its own (``python -m
tekton_dag.testing.github_api``, as a remote GitHub would; each call it prints is counted here), and
so does the fake Kubernetes API (as a kube-apiserver is: in this process its work competed with the
function for the GIL, p99 55-107 ms against 45-87 ms, docs/performance.md). ``--github-in-process``
puts the double in this process (its ~100 threads then share the GIL with the function).

Targets (issue 15): p99 ≤ 50 ms at 100 runs/s; at most 3 GitHub calls per run (create, start,
complete), the installation token fetched once for all.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent
from func_python.cloudevent import ASGIApplication

from tekton_dag import pipelines
from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.events import catalog
from tekton_dag.events.requests import PullRequestRef, RunRequest
from tekton_dag.functions.lifecycle import Wiring
from tekton_dag.functions.status_reporter import new
from tekton_dag.kube.retrying import RetryPolicy
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.pipelineruns.building import build_pipelinerun
from tekton_dag.testing import tekton_events
from tekton_dag.testing.github_api import GitHubApiDouble

ROOT = Path(__file__).resolve().parents[1]
TARGET_P99_MS = 50.0
INSTALLATION = 1001  # the double's default installation (every repository)


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


Calls = list[tuple[str, str, str, int]]  # method, path, operation, status


class DoubleProcess:
    """The GitHub API double in its own process; ``stop()`` returns the calls it printed."""

    def __init__(self, key: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tekton_dag.testing.github_api", "--key-file",
                                         str(key)], stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        first = self.process.stdout.readline()  # "GitHub API double at URL: GITHUB_API_URL=... GITHUB_APP_ID=..."
        settings = dict(word.split("=", 1) for word in first.split() if "=" in word)
        self.url, self.app_id = settings["GITHUB_API_URL"], settings["GITHUB_APP_ID"]
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout), daemon=True)
        self.reader.start()

    def stop(self) -> Calls:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(10)
        self.reader.join(10)
        calls = []
        for line in self.lines:  # "github: POST /repos/o/r/check-runs → 201 (checks/create, installation)"
            found = re.match(r"github: (\S+) (\S+) → (\d+) \(([^,]+),", line)
            if found:
                calls.append((found[1], found[2], found[4], int(found[3])))
        return calls


class InProcess:
    def __init__(self, key: Path) -> None:
        self.double = GitHubApiDouble()
        self.double.start()
        key.write_text(self.double.private_key_pem)
        self.url, self.app_id = self.double.url, self.double.app_id

    def stop(self) -> Calls:
        self.double.stop()
        assert not self.double.violations, self.double.violations
        return [(c.method, c.path, c.operation, c.status) for c in self.double.calls]


# Without its cyclic collector (stored JSON has no cycles), as bench/chain_throughput.py runs it.
FAKE_API = (
    "import gc, sys; gc.disable(); import tekton_dag.testing.kube_api as fake\n"
    "api = fake.FakeKubeApi(instant_tekton=False, enforce_rbac=False, validate=False).start()\n"
    "print(api.kubeconfig, flush=True); sys.stdin.read(); api.stop()\n"
)


async def main(runs: int, rate: float, in_process: bool) -> None:
    scratch = Path(tempfile.mkdtemp(prefix="tekton-dag-bench-"))
    teams = teams_with_checks(scratch / "teams")
    config = load_config_or_raise(teams)
    team = config.team("default")
    assert team is not None and team.stack("stack-one") is not None
    # The fake API in its own process, as a kube-apiserver is: in this one it would share the GIL
    # with status-reporter and put its own pauses into the figures.
    api = subprocess.Popen([sys.executable, "-c", FAKE_API], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert api.stdout is not None and api.stdin is not None
    kubeconfig = api.stdout.readline().strip()
    try:
        policy = RetryPolicy(deadline=5.0, timeout=2.0, first_backoff=0.01, max_backoff=0.05)
        store = KubernetesStore(kubeconfig, policy=policy)
        key = scratch / "github-app.pem"
        github = InProcess(key) if in_process else DoubleProcess(key)
        function = new(Wiring(store=store))
        function.start({"TEKTON_DAG_TEAMS_DIR": str(teams), "TEKTON_DAG_CONFIG_RELOAD_S": "0",
                        "GITHUB_API_URL": github.url, "GITHUB_APP_ID": github.app_id,
                        "GITHUB_APP_PRIVATE_KEY_FILE": str(key)})
        created = []
        for n in range(runs + 1):  # the last is a warm-up run, outside the timed phase
            request = RunRequest(team="default", stack="stack-one", pipeline="stack-pr-test", delivery=f"d{n}",
                                 app="demo-fe", repo="jmjava/tekton-dag-vue-fe", revision=f"{n:040x}",
                                 pr=PullRequestRef(number=n + 1, head_sha=f"{n:040x}"))
            run = build_pipelinerun(request, team, team.stack("stack-one"))  # type: ignore[arg-type]
            run["metadata"]["annotations"][pipelines.A_GITHUB_INSTALLATION] = str(INSTALLATION)
            await store.create_run(run)
            created.append(run)
        transport = httpx.ASGITransport(app=ASGIApplication(function))
        async with httpx.AsyncClient(transport=transport, base_url="http://status-reporter") as client:
            for run in created:
                data = {"team": "default", "namespace": team.namespace, "pipelinerun": run["metadata"]["name"]}
                await post(client, CloudEvent(attributes={"type": catalog.RUN_CREATED, "source": "/bench",
                                                          "id": f"c-{data['pipelinerun']}"}, data=data))
            # Warm-up: the double compiles each operation's OpenAPI validators on first use (~0.2 s, a
            # cost GitHub does not have); one run through started and succeeded before the clock starts.
            warm_up = created.pop()
            for warming in (tekton_event(warm_up, "Unknown", "Started"), tekton_event(warm_up, "True", "Succeeded")):
                await post(client, warming)
            # Made before the clock starts: made after it (~0.1-0.2 s) they went out as a burst of the
            # first 10-20 events at once, whose queueing was most of p99, and their CPU was counted.
            schedule = [tekton_event(r, "Unknown", "Started") for r in created]
            schedule += [tekton_event(r, "True", "Succeeded") for r in created]
            pending = []
            cpu = time.process_time()
            begun = time.perf_counter()
            for index, event in enumerate(schedule):
                delay = begun + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                pending.append(asyncio.create_task(post(client, event)))
            latencies = list(await asyncio.gather(*pending))
            cpu_ms = (time.process_time() - cpu) * 1000 / len(pending)
            await asyncio.sleep(0)
        function.stop()
        await asyncio.sleep(0.1)  # the client closes on the loop
        store.close()
        calls = github.stop()
    finally:
        api.stdin.close()
        api.wait(10)
    # each check run's calls: its create (the check run id it answered is on the run) and its updates
    per_run = Counter(path.rsplit("/", 1)[1] for _, path, op, _ in calls if op == "checks/update")
    creates = sum(op == "checks/create" for _, _, op, _ in calls)
    per_run = Counter({check: count + 1 for check, count in per_run.items()})
    tokens = sum(op == "apps/create-installation-access-token" for _, _, op, _ in calls)
    failed = [c for c in calls if c[3] >= 400]
    assert creates == runs + 1, f"{creates} check runs created for {runs} runs and the warm-up"
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100)[98]
    print(f"{len(latencies)} Tekton events at {rate:g}/s over {runs} runs: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
          f"(target {TARGET_P99_MS:g}: {'met' if p99 <= TARGET_P99_MS else 'MISSED'})")
    print(f"CPU per Tekton event in this process (status-reporter and its client"
          f"{', the GitHub double' if in_process else ''}): {cpu_ms:.1f} ms")
    print(f"GitHub calls per run: max {max(per_run.values())}, min {min(per_run.values())}; installation token "
          f"fetches {tokens} for {len(per_run)} runs; total calls {len(calls)}, failed {len(failed)} "
          f"(target ≤ 3 per run: {'met' if max(per_run.values()) <= 3 else 'MISSED'})")
    print(f"load average (uptime): {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--rate", type=float, default=100.0)
    parser.add_argument("--github-in-process", action="store_true", help="the GitHub double in this process")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.runs, arguments.rate, arguments.github_in_process))
