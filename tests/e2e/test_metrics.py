"""/metrics through real processes: each function's scrape, parsed by prometheus_client's own
parser, moves as a webhook goes through the chain (docs/operations.md lists the metrics)."""

from __future__ import annotations

import asyncio
import os
import sys

import httpx
import pytest
from prometheus_client import REGISTRY

from support.e2e import REPO, ROOT, SECRET, TEAMS, eventually, run_cli, running_chain, scrape, send, value, wait_ready
from tekton_dag.events import catalog
from tekton_dag.functions.serving import FUNCTIONS
from tekton_dag.testing.serving import free_port

pytestmark = pytest.mark.slow

def broker_count(name: str) -> float:
    """A counter of the local Broker, which runs in this test process."""
    return sum(s.value for m in REGISTRY.collect() for s in m.samples if s.name == name)


async def test_every_function_exports_metrics_that_follow_a_webhook_through_the_chain(tmp_path, kube_api):
    delivered_before = broker_count("tektondag_broker_events_delivered_total")
    async with running_chain(tmp_path, kube_api) as (chain, _outcomes):
        before = {name: await scrape(fn.metrics_url) for name, fn in chain.functions.items()}
        assert set(before) == set(FUNCTIONS)
        for name, samples in before.items():  # every one loaded its configuration and says so
            assert value(samples, "tektondag_config_last_reload_successful") == 1, name
            assert value(samples, "tektondag_config_loaded_timestamp_seconds") > 0, name
        assert value(before["run-creator"], "tektondag_runs_total") == 0

        assert "→ 202" in await send(chain, "pull_request.opened", "--number", "3", "--delivery", "metrics-1")
        assert "→ 401" in await send_badly_signed(chain)
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 1, what="one PipelineRun")
        await eventually(lambda: chain.broker is not None and chain.broker.in_flight == 0, what="a drained Broker")

        ingest = await scrape(chain.functions["webhook-ingest"].metrics_url)
        async with httpx.AsyncClient() as client:  # with a METRICS_PORT listener, not on the public port
            assert (await client.get(chain.functions["webhook-ingest"].url + "metrics")).status_code == 404
        run_creator = await scrape(chain.functions["run-creator"].metrics_url)

    assert value(ingest, "tektondag_webhooks_total", event="pull_request", outcome="accepted", code="202") == 1
    assert value(ingest, "tektondag_webhooks_total", outcome="rejected", reason="signature", code="401") == 1
    assert value(ingest, "tektondag_webhook_signature_failures_total") == 1
    assert value(ingest, "tektondag_events_published_total", type=catalog.GITHUB_PULL_REQUEST, result="ok") == 1
    assert value(run_creator, "tektondag_runs_total", team="default", outcome="created") == 1
    assert value(run_creator, "tektondag_webhook_to_run_created_seconds_count", team="default") == 1
    assert 0 < value(run_creator, "tektondag_webhook_to_run_created_seconds_sum", team="default") < 20
    assert value(run_creator, "tektondag_admission_running_runs", team="default") == 1
    assert value(run_creator, "tektondag_admission_queued_runs", team="default") == 0
    # github event -> resolver, run.requested -> run-creator, run.created -> nobody but the observer
    assert broker_count("tektondag_broker_events_delivered_total") - delivered_before >= 2


async def send_badly_signed(chain) -> str:
    _code, out, err = await run_cli("send", "pull_request.opened", REPO, "--url", chain.webhook_url,
                                   "--secret", "not-the-secret", "--delivery", "metrics-forged")
    return out + err


async def test_the_all_in_one_answers_get_metrics_with_the_whole_chain_in_one_scrape(tmp_path, kube_api):
    """Without METRICS_PORT (a local ``tekton-dag serve``) the public port answers ``GET /metrics``."""
    port = free_port()
    env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "TEKTON_DAG_TEAMS_DIR": str(TEAMS),
           "GITHUB_WEBHOOK_SECRET": SECRET, "KUBECONFIG": str(kube_api.kubeconfig),
           "TEKTON_DAG_RECONCILE_SECONDS": "0", "TEKTON_DAG_DEAD_LETTER_FILE": str(tmp_path / "dl.jsonl"),
           # its own journal: the default one is locked by any other all-in-one running on the machine
           "TEKTON_DAG_JOURNAL": str(tmp_path / "journal.sqlite3")}
    env.pop("K_SINK", None)
    env.pop("METRICS_PORT", None)
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tekton_dag.cli.main", "serve", "all-in-one", "--teams", str(TEAMS),
        cwd=ROOT, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(url, "all-in-one")
        code, out, err = await run_cli("send", "pull_request.opened", REPO, "--number", "8", "--delivery", "aio-m",
                                       "--url", f"{url}/webhook/github", "--secret", SECRET)
        assert code == 0, out + err
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 1, what="one PipelineRun")

        for _ in range(100):  # the reply of run-creator reaches the bus a moment after the run exists
            samples = await scrape(f"{url}/metrics")
            if value(samples, "tektondag_broker_events_delivered_total") >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        server.terminate()
        await server.communicate()
    assert value(samples, "tektondag_webhooks_total", event="pull_request", outcome="accepted") == 1
    assert value(samples, "tektondag_broker_events_accepted_total") >= 3  # github event, run.requested, run.created
    assert value(samples, "tektondag_broker_events_delivered_total", trigger="resolver-github-pull-request") == 1
    assert value(samples, "tektondag_broker_events_delivered_total", trigger="run-creator-run-requested") == 1
    assert value(samples, "tektondag_broker_events_dead_lettered_total") == 0
    assert value(samples, "tektondag_runs_total", team="default", outcome="created") == 1
    assert value(samples, "tektondag_webhook_to_run_created_seconds_count", team="default") == 1
