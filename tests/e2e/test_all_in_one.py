"""The all-in-one function (root func.yaml): served the way func serves it, webhook to PipelineRun."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
import yaml

from support.e2e import REPO, ROOT, SECRET, TEAM_NAMESPACE, TEAMS, eventually, params, run_cli, wait_ready
from tekton_dag.bus import routing
from tekton_dag.bus.triggers import load_topology
from tekton_dag.devchain.chain import free_port
from tekton_dag.functions import all_in_one as allinone
from tekton_dag.testing import rbac
from tekton_dag.testing.kube_api import FakeKubeApi

pytestmark = pytest.mark.slow

# What func's build scaffolding (service/main.py) runs for an http function with a new() factory.
SERVE = "import func_python.http, function.func as f; func_python.http.serve(f.new)"


def test_the_bus_routes_exactly_like_the_knative_triggers():
    bus, cluster = allinone.topology(), load_topology(ROOT / "knative")
    samples = [t for types in routing.CONSUMES.values() for t in types] + list(routing.OUTCOMES)
    for event_type in samples:
        attrs = {"type": event_type, "source": "/x", "id": "1", "specversion": "1.0"}
        assert sorted(t.subscriber.ref_name for t in bus.triggers if t.matches(attrs)) == sorted(
            t.subscriber.ref_name for t in cluster.triggers if t.matches(attrs)), event_type
    assert {t.name for t in bus.triggers} == {t.name for t in cluster.triggers}
    knative = cluster.delivery
    assert (knative.retry, knative.backoff_policy, knative.backoff_delay_s) == (
        routing.DELIVERY.retry, routing.DELIVERY.backoff_policy, routing.DELIVERY.backoff_delay_s)


def test_root_func_yaml_is_an_http_function_named_tekton_dag():
    spec = yaml.safe_load((ROOT / "func.yaml").read_text())
    assert (spec["name"], spec["runtime"], spec["invoke"]) == ("tekton-dag", "python", "http")
    assert spec["deploy"]["options"]["scale"]["min"] == 1


@pytest.fixture
def all_in_one_api(monkeypatch):
    """The fake API with the chart's RBAC as ``mode=all-in-one`` renders it."""
    with FakeKubeApi(rbac_documents=rbac.chart_documents(sets=["mode=all-in-one"])) as api:
        monkeypatch.setenv("KUBECONFIG", str(api.kubeconfig))
        yield api


SERVED_BY = {
    "func's scaffolding": [sys.executable, "-c", SERVE],
    "tekton-dag serve all-in-one": [
        sys.executable,
        "-m",
        "tekton_dag.cli.main",
        "serve",
        "all-in-one",
        "--teams",
        str(TEAMS),
    ],
}


@pytest.mark.parametrize("command", SERVED_BY.values(), ids=SERVED_BY.keys())
async def test_all_in_one_turns_a_signed_webhook_into_a_pipelinerun(tmp_path, all_in_one_api, command):
    kube_api = all_in_one_api
    account = kube_api.kubeconfig_for(TEAM_NAMESPACE, "tekton-dag-all-in-one")  # its own ServiceAccount
    port = free_port()
    env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "TEKTON_DAG_TEAMS_DIR": str(TEAMS),
           "GITHUB_WEBHOOK_SECRET": SECRET, "KUBECONFIG": str(account),
           "TEKTON_DAG_RECONCILE_SECONDS": "0", "TEKTON_DAG_DEAD_LETTER_FILE": str(tmp_path / "dl.jsonl"),
           "TEKTON_DAG_JOURNAL": str(tmp_path / "journal.sqlite3")}
    env.pop("K_SINK", None)
    server = await asyncio.create_subprocess_exec(*command, cwd=ROOT, env=env,
                                                  stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    try:
        await wait_ready(f"http://127.0.0.1:{port}", "all-in-one")
        for _ in range(2):  # a redelivery makes no second run
            code, out, err = await run_cli("send", "pull_request.opened", REPO, "--number", "5", "--delivery", "aio-1",
                                           "--url", f"http://127.0.0.1:{port}/webhook/github", "--secret", SECRET)
            assert code == 0, out + err
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 1, what="one PipelineRun")
        await asyncio.sleep(0.3)
    finally:
        server.terminate()
        _, err = await server.communicate()
    runs = kube_api.objects("pipelineruns")
    assert len(runs) == 1 and params(runs[0])["pr-number"] == "5"
    assert runs[0]["spec"]["pipelineRef"]["name"] == "stack-pr-test"
    assert not (tmp_path / "dl.jsonl").exists(), err.decode()[-2000:]
    assert kube_api.callers == {f"system:serviceaccount:{TEAM_NAMESPACE}:tekton-dag-all-in-one"}
