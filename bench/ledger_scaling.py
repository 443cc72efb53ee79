"""Benchmark: does a request's cost grow with the team's queue? (issue 18, "Cost that does not grow")

Run: ``.venv/bin/python bench/ledger_scaling.py [--queued 10,1034,3018] [--requests 200]
[--fill pr-test|bootstrap]``.

The default lengths are 10, about 1,000 and about 3,000 with the same remainder modulo 64
(``ledgers.SEAL_AT``): the head holds the newest fewer-than-64 queued runs, so its size depends on
the queue's length modulo 64 (up to ~7 KB), never on the length itself; equal remainders compare
like with like.

For each queue length N: a fresh fake Kubernetes API in its own process (as a real API server
would be), one ``RunCreator`` (the use case behind run-creator) with the real ``kubernetes`` client,
``maxConcurrentRuns: 3``. The queue is filled with N waiting runs through the ordinary request
path (``--fill``: pr-test runs of other pull requests by default, the measured requests' own
priority, so every queued run is ahead of them, the worst case; bootstrap runs wait behind them),
then it measures. The team has seen about ``3 * PRS_REMEMBERED`` other pull requests before, so
its heads memory is as full at every length, and as many more as make the pull requests noted
before the measurement equal modulo the heads memory's cycle (``HEADS_CYCLE``: a heads segment per
33, a rewrite of them, ~22 KB, per 8 segments): only the queue's length differs, not what the
measured window happens to write for the heads.

- ``request``: ``--requests`` pr-test requests, each a new pull request, all queued (the limit is
  full): run-creator CPU per request (this process), the fake API's CPU per request (its process,
  from /proc), API calls and request-body bytes sent to the API per request (counted by the fake
  API: deterministic, not timing);
- ``finish``: as many finished events (a running run ends, the best queued run is promoted and
  started), the same figures per event.

Print ``uptime`` with the figures: the machine is shared and CPU figures are noisy; the byte counts
are not.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import os
import shutil
import subprocess
import tempfile
import time
from multiprocessing.managers import BaseManager
from pathlib import Path
from typing import Any

import yaml

from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.events.requests import PullRequestRef, RunRequest
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.pipelineruns.ledgers import HEADS_IN_HEAD, PRS_REMEMBERED, Ledger
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import RunCreator, ledger_name

ROOT = Path(__file__).resolve().parents[1]
NAMESPACE = "tekton-dag-default"
LIMIT = 3
# Pull requests between two rewrites of the heads segments: they hold PRS_REMEMBERED after one, and
# the next comes when a segment of HEADS_IN_HEAD + 1 makes them more than twice that (ledgers.py).
HEADS_CYCLE = (HEADS_IN_HEAD + 1) * math.ceil((PRS_REMEMBERED + 1) / (HEADS_IN_HEAD + 1))


class ApiProcess(BaseManager):
    """Serves a started ``FakeKubeApi`` from a child process."""


def _started_api() -> FakeKubeApi:
    return FakeKubeApi().start()


ApiProcess.register("FakeKubeApi", _started_api)


def cpu_of(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bootstrap(i: int) -> RunRequest:
    return RunRequest(team="default", stack="stack-one", pipeline="stack-bootstrap", delivery=f"fill-{i}",
                      image_tag="base-1", requested_by="bench")


def pr(i: int, delivery: str = "pr") -> RunRequest:
    sha = f"{i + 1:040x}"
    return RunRequest(team="default", stack="stack-one", pipeline="stack-pr-test", delivery=f"{delivery}-{i}",
                      app="demo-fe", repo="jmjava/tekton-dag-vue-fe", revision=sha,
                      pr=PullRequestRef(number=10_000 + i, head_sha=sha, base_ref="main"))


FILLS = {"bootstrap": bootstrap, "pr-test": lambda i: pr(100_000 + i, "fill")}


async def measure(queued: int, requests: int, teams: Path, kubeconfig_dir: Path, fill: str) -> dict[str, Any]:
    manager = ApiProcess()
    manager.start()
    try:
        api: Any = manager.FakeKubeApi()  # type: ignore[attr-defined]
        api_pid = manager._process.pid  # type: ignore[attr-defined]
        kubeconfig = kubeconfig_dir / f"kubeconfig-{queued}"
        kubeconfig.write_text(yaml.safe_dump(api.kubeconfig_dict()))
        os.environ["KUBECONFIG"] = str(kubeconfig)
        config = load_config_or_raise(teams)
        store = KubernetesStore()
        seen, noted_by_fill = Ledger(), LIMIT + queued if fill == "pr-test" else 0
        for i in range(3 * PRS_REMEMBERED + -noted_by_fill % HEADS_CYCLE):  # the team's past
            seen = seen.note_head(f"stack-one/demo-fe/{200_000 + i}", f"{i + 1:040x}")
        await store.write_ledger(NAMESPACE, ledger_name(config.team("default")), seen.dumps(), None)
        creator = RunCreator(lambda: config, store)
        running = []  # tracked here: asking the fake API would cost it a walk over every run
        for i in range(LIMIT + queued):
            outcome = await creator.request(FILLS[fill](i))
            if outcome.kind == "created":
                running.append(outcome.name)

        async def phase(work: Any) -> dict[str, float]:
            calls, sent = api.traffic()
            cpu, api_cpu = time.process_time(), cpu_of(api_pid)
            await work()
            cpu, api_cpu = time.process_time() - cpu, cpu_of(api_pid) - api_cpu
            all_calls, all_sent = api.traffic()
            return {"cpu_ms": cpu / requests * 1000, "api_cpu_ms": api_cpu / requests * 1000,
                    "calls": (all_calls - calls) / requests, "bytes": (all_sent - sent) / requests}

        async def ask() -> None:
            for i in range(requests):
                outcome = await creator.request(pr(i))
                assert outcome.kind == "queued", outcome

        async def finish() -> None:
            for _ in range(requests):
                name = running.pop(0)
                api.finish(NAMESPACE, name)
                started = await creator.finished(NAMESPACE, name, "default")
                assert len(started) == 1
                running.extend(started)

        result = {"request": await phase(ask), "finish": await phase(finish)}
        store.close()
        return result
    finally:
        manager.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queued", default="10,1034,3018", help="queue lengths, comma-separated")
    parser.add_argument("--requests", type=int, default=200, help="measured requests (and finishes) per length")
    parser.add_argument("--fill", choices=sorted(FILLS), default="pr-test", help="what the queue is filled with")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp:
        teams = shutil.copytree(ROOT / "teams", Path(tmp) / "teams")
        for team_file in teams.glob("*/team.yaml"):
            document = yaml.safe_load(team_file.read_text())
            document["maxConcurrentRuns"] = LIMIT
            team_file.write_text(yaml.safe_dump(document))
        print(f"{'queued':>7} {'phase':>8} {'cpu ms':>7} {'api cpu ms':>10} {'calls':>6} {'bytes sent':>11}")
        for queued in (int(n) for n in args.queued.split(",")):
            result = asyncio.run(measure(queued, args.requests, teams, Path(tmp), args.fill))
            for phase, f in result.items():
                print(f"{queued:>7} {phase:>8} {f['cpu_ms']:>7.2f} {f['api_cpu_ms']:>10.2f} {f['calls']:>6.2f} "
                      f"{f['bytes']:>11.0f}", flush=True)
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())


if __name__ == "__main__":
    main()
