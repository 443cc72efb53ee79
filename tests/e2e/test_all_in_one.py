"""The all-in-one function (root func.yaml): served the way func serves it, webhook to PipelineRun."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sqlite3
import sys
from pathlib import Path, PurePosixPath

import pytest
import yaml

from support.e2e import (
    REPO,
    ROOT,
    SECRET,
    TEAM_NAMESPACE,
    TEAMS,
    eventually,
    params,
    run_cli,
    scrape,
    value,
    wait_ready,
)
from tekton_dag.bus import routing
from tekton_dag.bus.journal import Journal, NewDelivery
from tekton_dag.bus.triggers import load_topology
from tekton_dag.functions import all_in_one as allinone
from tekton_dag.testing import rbac
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.serving import free_port

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


def test_root_func_yaml_keeps_the_journal_and_dead_letters_on_an_emptydir():
    """func deploys what func.yaml says: the journal of acked events must outlive a container restart."""
    from tekton_dag.bus.journal import JOURNAL_ENV

    run = yaml.safe_load((ROOT / "func.yaml").read_text())["run"]
    env = {e["name"]: e["value"] for e in run["envs"]}
    volumes = run.get("volumes") or []
    for volume in volumes:  # func's own rules (knative/func pkg/functions/function_volumes.go validateVolumes)
        kinds = [k for k in ("secret", "configMap", "persistentVolumeClaim", "emptyDir") if k in volume]
        assert len(kinds) == 1 and volume.get("path"), volume
        assert volume.get("emptyDir", {}).get("medium", "") in ("", "Memory")
    empty_dirs = {PurePosixPath(v["path"]) for v in volumes if "emptyDir" in v}
    for name in (JOURNAL_ENV, "TEKTON_DAG_DEAD_LETTER_FILE"):
        assert PurePosixPath(env[name]).parent in empty_dirs, f"{name}={env[name]} is on no emptyDir"


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
    "tekton-dag serve all-in-one --workers 2": [
        sys.executable, "-m", "tekton_dag.cli.main", "serve", "all-in-one", "--workers", "2", "--teams", str(TEAMS),
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


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports (``serve --workers`` gives worker i
    ``METRICS_PORT + i``)."""
    for _ in range(50):
        first = free_port()
        with contextlib.ExitStack() as stack:
            try:
                for offset in range(count):
                    sock = stack.enter_context(socket.socket())
                    sock.bind(("127.0.0.1", first + offset))
            except OSError:
                continue
        return first
    raise RuntimeError(f"no {count} consecutive free ports")


async def test_all_in_one_workers_check_signatures_and_share_the_team_limit(tmp_path, all_in_one_api):
    """Two worker processes on one port: a bad signature is refused before anything is accepted;
    twelve PRs at once reach both workers, yet team default (maxConcurrentRuns 3) never has more
    than 3 PipelineRuns running: the workers admit through the one Lease ledger."""
    kube_api = all_in_one_api
    port, metrics_port = free_port(), consecutive_free_ports(2)
    journal = tmp_path / "journal.sqlite3"
    env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "GITHUB_WEBHOOK_SECRET": SECRET,
           "KUBECONFIG": str(kube_api.kubeconfig_for(TEAM_NAMESPACE, "tekton-dag-all-in-one")),
           "TEKTON_DAG_RECONCILE_SECONDS": "0", "TEKTON_DAG_DEAD_LETTER_FILE": str(tmp_path / "dl.jsonl"),
           "TEKTON_DAG_JOURNAL": str(journal), "METRICS_PORT": str(metrics_port)}
    env.pop("K_SINK", None)
    server = await asyncio.create_subprocess_exec(
        *SERVED_BY["tekton-dag serve all-in-one --workers 2"], cwd=ROOT, env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}/webhook/github"
    try:
        await wait_ready(f"http://127.0.0.1:{port}", "all-in-one workers")
        for _ in range(4):  # new connections: both workers see one
            code, out, err = await run_cli("send", "pull_request.opened", REPO, "--number", "99", "--url", url,
                                           "--secret", "not-the-secret")
            assert code != 0 and "401" in out + err, out + err
        workers = [f"http://127.0.0.1:{metrics_port + i}/metrics" for i in range(2)]  # worker i: METRICS_PORT + i
        assert [value(await scrape(url), "tektondag_broker_events_accepted_total") for url in workers] == [0, 0]
        sent = await asyncio.gather(*(
            run_cli("send", "pull_request.opened", REPO, "--number", str(n), "--delivery", f"w-{n}", "--url", url,
                    "--secret", SECRET) for n in range(1, 13)))
        assert all(code == 0 for code, _, _ in sent), sent
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == 12, what="twelve PipelineRuns")
        accepted = [value(await scrape(url), "tektondag_webhooks_total", outcome="accepted") for url in workers]
    finally:
        server.terminate()
        _, err = await server.communicate()
    assert server.returncode == 0, err.decode()[-2000:]
    assert kube_api.max_running[TEAM_NAMESPACE] == 3
    assert len(kube_api.running(TEAM_NAMESPACE)) == 3
    assert sorted(int(params(run)["pr-number"]) for run in kube_api.objects("pipelineruns")) == list(range(1, 13))
    assert all(accepted) and sum(accepted) == 12, accepted  # both workers took webhooks


async def test_all_in_one_workers_refuse_a_journal_left_undelivered_by_a_bigger_pool(tmp_path):
    """Scaling down never strands journalled events: a worker-3 journal holding one pending
    delivery stops a two-worker start, naming the file and the way out."""
    journal = tmp_path / "journal.sqlite3"
    leftover = Journal(journal.with_name(journal.name + ".worker-3"))
    leftover.open()
    leftover.accept([NewDelivery("resolver", "k", 10, b"{}")])
    leftover.close()
    env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{free_port()}", "TEKTON_DAG_JOURNAL": str(journal)}
    code, _out, err = await run_cli("serve", "all-in-one", "--workers", "2", "--teams", str(TEAMS), env=env)
    assert code == 1
    assert f"journal {leftover.path} (worker 3) holds 1 undelivered deliveries: start with --workers 4" in err


async def test_an_all_in_one_whose_journal_another_broker_holds_stops_and_says_so(tmp_path):
    """A start-up failure (here the journal's lock, held by another running Broker) ends the
    process with its reason. granian took the exception raised in the ASGI lifespan for a missing
    lifespan and served on: a process that logged "ASGI Lifespan errored" and was never ready."""
    journal = tmp_path / "journal.sqlite3"
    holder = Journal(journal)
    holder.open()  # takes the lock, as a running all-in-one does
    try:
        env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{free_port()}", "TEKTON_DAG_JOURNAL": str(journal),
               "GITHUB_WEBHOOK_SECRET": "s"}
        code, _out, err = await asyncio.wait_for(run_cli("serve", "all-in-one", "--teams", str(TEAMS), env=env), 60)
    finally:
        holder.close()
    assert code == 1, err
    assert f"journal {journal}: used by another running Broker" in err and "Traceback" not in err


async def test_workers_are_for_the_all_in_one_only():
    code, _, err = await run_cli("serve", "resolver", "--workers", "2", "--teams", str(TEAMS))
    assert code == 2 and "only all-in-one runs several workers, not resolver" in err


async def test_each_worker_resumes_its_own_journal_after_a_restart(tmp_path, all_in_one_api):
    """Webhooks acked by two workers while the API refuses PipelineRuns stay in each worker's
    journal through a stop; the next start (two workers again) resumes both and creates every run."""
    kube_api = all_in_one_api
    journal = tmp_path / "journal.sqlite3"
    journals = (journal, journal.with_name(journal.name + ".worker-1"))
    env = {**os.environ, "GITHUB_WEBHOOK_SECRET": SECRET, "TEKTON_DAG_KUBE_DEADLINE_SECONDS": "0.2",
           "KUBECONFIG": str(kube_api.kubeconfig_for(TEAM_NAMESPACE, "tekton-dag-all-in-one")),
           "TEKTON_DAG_RECONCILE_SECONDS": "0", "TEKTON_DAG_DEAD_LETTER_FILE": str(tmp_path / "dl.jsonl"),
           "TEKTON_DAG_JOURNAL": str(journal)}
    env.pop("K_SINK", None)

    async def serving() -> tuple[asyncio.subprocess.Process, str]:
        port = free_port()
        server = await asyncio.create_subprocess_exec(
            *SERVED_BY["tekton-dag serve all-in-one --workers 2"], cwd=ROOT,
            env={**env, "LISTEN_ADDRESS": f"127.0.0.1:{port}"},
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
        await wait_ready(f"http://127.0.0.1:{port}", "all-in-one workers")
        return server, f"http://127.0.0.1:{port}/webhook/github"

    kube_api.fail(503, times=100_000, methods=("POST",), plural="pipelineruns")
    server, url = await serving()
    numbers = iter(range(1, 41))
    sent: list[int] = []
    try:
        # Rounds of four until both workers hold some: a new connection goes to whichever worker
        # accepts first (cli/workers.py), so eight at once all went to one worker now and then.
        while len(sent) < 40 and not (sent and all(p.exists() and pending(p) for p in journals)):
            batch = [next(numbers) for _ in range(4)]
            answers = await asyncio.gather(*(
                run_cli("send", "pull_request.opened", REPO, "--number", str(n), "--delivery", f"r-{n}", "--url", url,
                        "--secret", SECRET) for n in batch))
            assert all(code == 0 for code, _, _ in answers), answers
            sent += batch
            await asyncio.sleep(0.5)
    finally:
        server.terminate()
        _, err = await server.communicate()
    assert not kube_api.objects("pipelineruns")
    assert all(pending(path) for path in journals), ([pending(p) for p in journals], err.decode()[-2000:])
    kube_api.clear_faults()
    server, _ = await serving()
    try:
        await eventually(lambda: len(kube_api.objects("pipelineruns")) == len(sent), timeout=40,
                         what=f"{len(sent)} PipelineRuns")
    finally:
        server.terminate()
        await server.communicate()
    assert sorted(int(params(run)["pr-number"]) for run in kube_api.objects("pipelineruns")) == sent


def pending(path: Path) -> int:
    """Deliveries a journal still holds undelivered (state 0)."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        return int(db.execute("SELECT count(*) FROM deliveries WHERE state = 0").fetchone()[0])
