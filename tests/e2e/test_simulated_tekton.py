"""``tekton-dag dev --simulate-tekton``: runs go queued → started → succeeded and the admission
queue drains on Tekton's own CloudEvents, with no hand-sent event (real processes, real HTTP)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys

import pytest
import yaml
from test_dev_cli import read_until

from support.e2e import REPO, TEAMS, eventually, run_cli, running_chain, send
from tekton_dag.events import catalog
from tekton_dag.testing.serving import free_port

pytestmark = pytest.mark.slow
LIMIT = 3  # teams/default: maxConcurrentRuns


async def test_dev_simulate_tekton_runs_a_queued_run_to_success_after_the_others(tmp_path) -> None:
    port, runs = free_port(), tmp_path / "runs"
    env = {**os.environ, "GITHUB_WEBHOOK_SECRET": "sim-secret"}
    env.pop("KUBECONFIG", None)
    dev = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tekton_dag.cli.main", "dev", "--teams", str(TEAMS), "--port", str(port),
        "--dry-run-dir", str(runs), "--work-dir", str(tmp_path / "work"), "--simulate-tekton", "--task-seconds", "0.3",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        banner = await read_until(dev.stdout, "tekton-dag dev: ready")
        assert "Tekton:          simulated (0.3s per TaskRun)" in banner
        # at once: sent one after the other on a loaded machine, the first runs could finish before the
        # last arrives, and nothing would wait in the queue
        sent = await asyncio.gather(*(run_cli("send", "pull_request.opened", REPO, "--number", str(number),
                                              "--url", f"http://127.0.0.1:{port}/webhook/github", env=env)
                                      for number in range(1, LIMIT + 2)))
        for code, out, err in sent:
            assert code == 0, out + err
        printed = ""
        while printed.count("tekton successful:") < LIMIT + 1:
            printed += await read_until(dev.stdout, "tekton successful:", timeout=60)
    finally:
        dev.send_signal(signal.SIGINT)
        await asyncio.wait_for(dev.communicate(), 30)
    [queued] = re.findall(r"run\.queued: tekton-dag-default/(\S+)", printed)
    life = [line.split(":")[0] for line in printed.splitlines() if queued in line]
    # Tekton sends each event from its own goroutine, so events of one round may arrive in any order.
    # Its "queued" (no condition yet, Tekton v1.12+, the double's default) and "unknown"
    # (PipelineRunPending) are sent as soon as its controllers see the created run, while
    # run-creator's run.queued follows the ledger write: any may reach the Broker first (all are
    # "queued" on the check, checks.reports). The run waits first, is admitted (run.started) after it
    # was queued, runs (v1.12+ sends no "started": the reconciler stores Running at once) and
    # succeeds last.
    assert set(life[:3]) == {"run.queued", "tekton queued", "tekton unknown"} and life[-1] == "tekton successful"
    assert sorted(life[3:-1]) == ["run.started", "tekton running"]
    run = yaml.safe_load((runs / "tekton-dag-default" / f"{queued}.yaml").read_text())
    assert "status" not in run["spec"]  # run-creator cleared PipelineRunPending
    assert run["status"]["conditions"][0]["status"] == "True" and run["status"]["completionTime"]


async def test_the_chain_with_simulated_tekton_drains_the_queue_within_the_limit(tmp_path, tekton_free_api) -> None:
    api = tekton_free_api
    async with running_chain(tmp_path, api, simulate_tekton=True, task_seconds=0.5) as (chain, outcomes):
        await asyncio.gather(*(send(chain, "pull_request.opened", "--number", str(n)) for n in range(1, LIMIT + 3)))
        await eventually(lambda: sum(t == catalog.TEKTON_PIPELINERUN_SUCCESSFUL for t in outcomes.types) == LIMIT + 2,
                         timeout=60, what="every run succeeded")
    assert outcomes.types.count(catalog.RUN_QUEUED) == 2
    assert outcomes.types.count(catalog.RUN_STARTED) >= 1  # the queue drained on Tekton's events
    assert api.max_running["tekton-dag-default"] <= LIMIT
    runs = api.objects("pipelineruns")
    assert len(runs) == LIMIT + 2 and all(r["status"]["conditions"][0]["status"] == "True" for r in runs)
