"""The run-creator function through func-python's ASGI app, and once over a real socket."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import UTC
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event, to_binary_event
from cloudevents.core.v1.event import CloudEvent
from func_python.cloudevent import ASGIApplication

from runcreator.conftest import FAST, NAMESPACE, TEAMS, pr_request
from tekton_dag.config.models import Config
from tekton_dag.events import catalog
from tekton_dag.functions.lifecycle import Wiring
from tekton_dag.functions.run_creator import RunCreatorFunction, new
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.sealing import TEST_EVENT_KEY, sealed
from tekton_dag.testing.serving import free_port

TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def event(kind: str, data: Any, id: str = "evt-1", **extensions: str) -> CloudEvent:
    """An event as its producer sends it: requests sealed with the team's event key."""
    plain = CloudEvent(
        attributes={"type": kind, "source": "/test", "id": id, "datacontenttype": "application/json", **extensions},
        data=data,
    )
    return plain if isinstance(data, bytes) else sealed(plain)


async def post(client: httpx.AsyncClient, ce: CloudEvent) -> httpx.Response:
    message = to_binary_event(ce)
    return await client.post("/", headers=dict(message.headers), content=message.body)


def reply_of(response: httpx.Response) -> CloudEvent:
    return from_http_event(HTTPMessage(headers=dict(response.headers), body=response.content))


def started(store: KubernetesStore, **env: str) -> RunCreatorFunction:
    """The function as func-python starts it (ASGITransport runs no lifespan), on the example teams."""
    function = new(Wiring(store=store))
    function.start(
        {
            "TEKTON_DAG_EVENT_KEY": TEST_EVENT_KEY,
            "TEKTON_DAG_TEAMS_DIR": str(TEAMS),
            "TEKTON_DAG_CONFIG_RELOAD_S": "0",
            "TEKTON_DAG_RECONCILE_SECONDS": "0",
            **env,
        }
    )
    return function


@pytest.fixture
async def client(kube_api: FakeKubeApi) -> AsyncIterator[httpx.AsyncClient]:
    store = KubernetesStore(policy=FAST)
    function = started(store)
    app = ASGIApplication(function)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://run-creator") as client:
        yield client
    function.stop()
    store.close()


async def test_run_requested_creates_and_replies_run_created(client: httpx.AsyncClient, kube_api: FakeKubeApi) -> None:
    response = await post(client, event(catalog.RUN_REQUESTED, pr_request().to_data(), traceparent=TRACE))
    assert response.status_code == 200
    reply = reply_of(response)
    assert reply.get_type() == catalog.RUN_CREATED and reply.get_source() == catalog.SOURCE_RUN_CREATOR
    assert reply.get_id() == "evt-1/run.created.v1" and reply.get_extension("traceparent") == TRACE
    data = reply.get_data()
    [run] = kube_api.objects()
    assert data["pipelinerun"] == run["metadata"]["name"] and data["namespace"] == NAMESPACE
    assert run["metadata"]["annotations"]["tekton-dag.dev/traceparent"] == TRACE


async def test_a_field_from_a_newer_producer_is_ignored_not_a_permanent_failure(
    client: httpx.AsyncClient, kube_api: FakeKubeApi
) -> None:
    # During a rolling update the resolver may be one version ahead: its extra field must not
    # turn the event into a 400 (which the Broker never retries, so the run would be lost).
    data = {**pr_request().to_data(), "priority_hint": "high", "pr": {**pr_request().to_data()["pr"], "title": "x"}}
    response = await post(client, event(catalog.RUN_REQUESTED, data))
    assert response.status_code == 200 and reply_of(response).get_type() == catalog.RUN_CREATED
    assert len(kube_api.objects()) == 1


async def test_over_the_limit_replies_run_queued_and_a_finished_event_replies_run_started(
    client: httpx.AsyncClient, kube_api: FakeKubeApi
) -> None:
    replies = [reply_of(await post(client, event(catalog.RUN_REQUESTED, pr_request(number=n).to_data(), id=f"e{n}")))
               for n in range(1, 6)]
    assert [r.get_type() for r in replies] == [catalog.RUN_CREATED] * 3 + [catalog.RUN_QUEUED] * 2
    # What status-reporter shows on the queued check: the place in the queue, the limit, repo and head.
    assert [(r.get_data()["position"], r.get_data()["limit"]) for r in replies[3:]] == [(1, 3), (2, 3)]
    assert replies[4].get_data()["repo"] == "jmjava/tekton-dag-vue-fe"
    assert replies[4].get_data()["head_sha"] == "a" * 40
    assert "position" not in replies[0].get_data()
    finished = kube_api.finish(NAMESPACE, kube_api.running()[0])
    response = await post(client, event(catalog.TEKTON_PIPELINERUN_SUCCESSFUL, finished, id="t1"))
    reply = reply_of(response)
    assert reply.get_type() == catalog.RUN_STARTED and reply.get_data()["pipelineruns"] == kube_api.running()[-1:]
    assert reply.get_data()["pipelineruns"] == [replies[3].get_data()["pipelinerun"]]  # the first in the queue
    again = await post(client, event(catalog.TEKTON_PIPELINERUN_SUCCESSFUL, finished, id="t1"))
    assert again.status_code == 202 and again.content == b""  # nothing more to start


async def test_cancel_requested_replies_run_cancelled_with_the_runs(
    client: httpx.AsyncClient, kube_api: FakeKubeApi
) -> None:
    await post(client, event(catalog.RUN_REQUESTED, pr_request().to_data()))
    cancel = {
        "team": "default",
        "stack": "stack-one",
        "app": "demo-fe",
        "pr_number": 42,
        "reason": "closed",
        "delivery": "c1",
    }
    reply = reply_of(await post(client, event(catalog.RUN_CANCEL_REQUESTED, cancel, id="c1")))
    assert reply.get_type() == catalog.RUN_CANCELLED
    assert reply.get_data()["pipelineruns"] == [kube_api.objects()[0]["metadata"]["name"]]


async def test_permanent_failures_reply_run_failed_with_the_reason(
    client: httpx.AsyncClient, kube_api: FakeKubeApi
) -> None:
    kube_api.missing_namespaces.add(NAMESPACE)
    reply = reply_of(await post(client, event(catalog.RUN_REQUESTED, pr_request().to_data())))
    assert (
        reply.get_type() == catalog.RUN_FAILED
        and 'namespaces "tekton-dag-default" not found' in reply.get_data()["reason"]
    )
    unknown = {**pr_request().to_data(), "team": "nobody"}
    reply = reply_of(await post(client, event(catalog.RUN_REQUESTED, unknown)))
    assert reply.get_type() == catalog.RUN_FAILED and reply.get_data()["reason"] == "team 'nobody' is not configured"
    cancel = {"team": "nobody", "stack": "s", "app": "a", "pr_number": 1, "reason": "closed", "delivery": "c"}
    reply = reply_of(await post(client, event(catalog.RUN_CANCEL_REQUESTED, cancel)))
    assert reply.get_type() == catalog.RUN_FAILED and reply.get_data()["reason"] == "team 'nobody' is not configured"


@pytest.mark.parametrize(
    "data",
    [b"{not json", {"team": "default"}, {**pr_request().to_data(), "pipeline": "deploy-prod"}],
    ids=["not JSON", "missing fields", "unknown pipeline"],
)
async def test_undecodable_data_is_answered_400(client: httpx.AsyncClient, data: Any) -> None:
    response = await post(client, event(catalog.RUN_REQUESTED, data))
    assert response.status_code == 400 and catalog.RUN_REQUESTED in response.text


@pytest.mark.parametrize("labels", ["x", ["tekton-dag.dev/team"]], ids=["a string", "a list"])
async def test_a_tekton_event_whose_labels_are_no_object_is_answered_400(client: httpx.AsyncClient,
                                                                        labels: Any) -> None:
    """Tekton's events are unsealed: a labels value of another shape is a 400, not a 500 for the
    Broker to retry until it dead-letters it."""
    run = {"pipelineRun": {"metadata": {"name": "r", "namespace": NAMESPACE, "labels": labels}}}
    response = await post(client, event(catalog.TEKTON_PIPELINERUN_SUCCESSFUL, run))
    assert response.status_code == 400 and "metadata.labels: must be an object" in response.text


async def test_an_api_that_stays_down_is_answered_503_so_the_broker_retries(
    client: httpx.AsyncClient, kube_api: FakeKubeApi
) -> None:
    kube_api.fail(503, times=10_000)
    response = await post(client, event(catalog.RUN_REQUESTED, pr_request().to_data()))
    assert response.status_code == 503 and "gave up after" in response.text


def test_served_alone_over_a_real_socket(kube_api: FakeKubeApi) -> None:
    """`tekton-dag serve run-creator` runs exactly ``serving.serve('run-creator')``."""
    port = free_port()
    env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "KUBECONFIG": str(kube_api.kubeconfig),
           "TEKTON_DAG_TEAMS_DIR": str(TEAMS), "TEKTON_DAG_RECONCILE_SECONDS": "0"}
    with subprocess.Popen(  # the with closes the stderr pipe (a ResourceWarning under -W error before)
        [sys.executable, "-c", "from tekton_dag.functions.serving import serve; serve('run-creator')"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    ) as server:
        _ask_served(server, port, kube_api)


def _served(port: int, kube_api: FakeKubeApi) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "KUBECONFIG": str(kube_api.kubeconfig),
           "TEKTON_DAG_TEAMS_DIR": str(TEAMS), "TEKTON_DAG_RECONCILE_SECONDS": "0"}
    return subprocess.Popen(
        [sys.executable, "-c", "from tekton_dag.functions.serving import serve; serve('run-creator')"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )


def _wait_ready(server: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        try:
            if httpx.get(f"{base}/health/readiness").status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert server.poll() is None and time.monotonic() < deadline, "run-creator did not become ready"
        time.sleep(0.05)


BINARY = {"ce-specversion": "1.0", "ce-type": catalog.RUN_REQUESTED, "ce-source": "/s", "ce-id": "e-1",
          "content-type": "application/json"}
MALFORMED = [
    # Batched mode (cloudevents/spec http-protocol-binding.md section 3.3), which no Broker delivers:
    # func-python answered 500 "'list' object has no attribute 'get'", and a 500 is retried.
    ({"content-type": "application/cloudevents-batch+json"}, b"[]", "batch"),
    # No ce-specversion: no CloudEvent (sdk-go v2/protocol/http/message.go ReadEncoding); the Python SDK
    # made one up, and an id too (event.Validate() refuses a missing one).
    ({k: v for k, v in BINARY.items() if k != "ce-specversion"}, b"{}", "ce-specversion"),
    ({k: v for k, v in BINARY.items() if k != "ce-id"}, b"{}", "id"),
    ({"content-type": "application/cloudevents+json"}, b"{not json", "structured mode body: not valid JSON (Expecting"),
]


def test_served_alone_a_malformed_cloudevent_gets_a_400_naming_what_is_wrong(kube_api: FakeKubeApi) -> None:
    """func-python's own answer names nothing ("This endpoint expects CloudEvent requests.")."""
    port = free_port()
    with _served(port, kube_api) as server:
        try:
            base = f"http://127.0.0.1:{port}"
            _wait_ready(server, base)
            for headers, body, named in MALFORMED:
                response = httpx.post(base, headers=headers, content=body)
                assert response.status_code == 400 and named in response.text, (headers, response.text)
            assert kube_api.objects() == []
        finally:
            server.terminate()
            server.wait(timeout=10)


def _ask_served(server: subprocess.Popen[bytes], port: int, kube_api: FakeKubeApi) -> None:
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_ready(server, base)
        message = to_binary_event(event(catalog.RUN_REQUESTED, pr_request().to_data()))
        response = httpx.post(base, headers=dict(message.headers), content=message.body)
        assert response.status_code == 200 and reply_of(response).get_type() == catalog.RUN_CREATED
        assert len(kube_api.objects()) == 1
    finally:
        server.terminate()
        server.wait(timeout=10)


async def test_started_from_env_with_a_dry_run_dir_writes_yaml_files(tmp_path, config: Config) -> None:
    function = new()
    function.start(
        {
            "TEKTON_DAG_EVENT_KEY": TEST_EVENT_KEY,
            "TEKTON_DAG_TEAMS_DIR": str(TEAMS),
            "TEKTON_DAG_DRY_RUN_DIR": str(tmp_path),
            "TEKTON_DAG_RECONCILE_SECONDS": "0",
        }
    )
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=ASGIApplication(function)), base_url="http://rc"
        ) as client:
            reply = reply_of(await post(client, event(catalog.RUN_REQUESTED, pr_request().to_data())))
        assert reply.get_type() == catalog.RUN_CREATED
        assert (tmp_path / NAMESPACE / f"{reply.get_data()['pipelinerun']}.yaml").is_file()
    finally:
        function.stop()


async def test_the_periodic_reconcile_started_by_start_unsticks_a_queue(kube_api: FakeKubeApi) -> None:
    store = KubernetesStore(policy=FAST)
    function = started(store, TEKTON_DAG_RECONCILE_SECONDS="0.05")
    try:
        names = [(await function.creator.request(pr_request(number=n, delivery=f"d{n}"))).name for n in range(1, 5)]
        kube_api.finish(NAMESPACE, names[0])  # Tekton's event for it is lost
        deadline = time.monotonic() + 5
        while kube_api.pending() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert kube_api.pending() == [] and names[3] in kube_api.running()
    finally:
        function.stop()
        store.close()


async def test_config_changes_on_disk_are_followed_without_a_restart(tmp_path, kube_api: FakeKubeApi) -> None:
    import shutil

    teams = tmp_path / "teams"
    shutil.copytree(TEAMS, teams)
    function = new()
    function.start(
        {
            "TEKTON_DAG_EVENT_KEY": TEST_EVENT_KEY,
            "TEKTON_DAG_TEAMS_DIR": str(teams),
            "TEKTON_DAG_CONFIG_RELOAD_S": "0.05",
            "TEKTON_DAG_RECONCILE_SECONDS": "0",
        }
    )
    try:
        assert function.ready() == (True, "OK")
        team_file = teams / "default" / "team.yaml"
        team_file.write_text(team_file.read_text().replace("maxConcurrentRuns: 3", "maxConcurrentRuns: 1"))
        deadline = time.monotonic() + 5
        while function.creator.config().team("default").max_concurrent_runs != 1:
            assert time.monotonic() < deadline, "the new configuration was not loaded"
            await asyncio.sleep(0.05)
        kinds = [(await function.creator.request(pr_request(number=n, delivery=f"d{n}"))).kind for n in (1, 2)]
        assert kinds == ["created", "queued"]
    finally:
        function.stop()


async def test_an_unsealed_or_foreign_request_creates_nothing(client: httpx.AsyncClient, kube_api: FakeKubeApi) -> None:
    plain = CloudEvent(attributes={"type": catalog.RUN_REQUESTED, "source": "/forger", "id": "f-1",
                                   "datacontenttype": "application/json"}, data=pr_request().to_data())
    unsealed = await post(client, plain)
    foreign = await post(client, sealed(plain, key="another-teams-event-key-0123456789abcdef"))
    assert (unsealed.status_code, foreign.status_code) == (401, 403)
    assert "unsealed" in unsealed.text and "wrong seal" in foreign.text
    assert kube_api.objects() == []


async def test_a_forged_tekton_event_frees_no_slot_of_a_run_still_going(
    client: httpx.AsyncClient, kube_api: FakeKubeApi
) -> None:
    for n in range(1, 5):  # three running, one waiting behind the team's limit of 3
        await post(client, event(catalog.RUN_REQUESTED, pr_request(number=n).to_data(), id=f"e{n}"))
    still_running = next(r for r in kube_api.objects() if r["metadata"]["name"] == kube_api.running()[0])
    response = await post(client, event(catalog.TEKTON_PIPELINERUN_SUCCESSFUL, {"pipelineRun": still_running}, id="t1"))
    assert response.status_code == 202
    assert len(kube_api.running()) == 3 and len(kube_api.pending()) == 1


async def test_a_superseded_head_ends_as_event_ignored(client: httpx.AsyncClient, kube_api: FakeKubeApi) -> None:
    from dataclasses import replace

    from tekton_dag.events import schemas

    old, new = pr_request(sha="a" * 40, delivery="d-a"), pr_request(sha="b" * 40, delivery="d-b")
    assert new.pr is not None
    new = replace(new, pr=replace(new.pr, before_sha="a" * 40))
    await post(client, event(catalog.RUN_REQUESTED, new.to_data(), id="evt-b"))
    response = await post(client, event(catalog.RUN_REQUESTED, old.to_data(), id="evt-a"))
    reply = reply_of(response)
    assert reply.get_type() == catalog.EVENT_IGNORED and reply.get_id() == "evt-a/event.ignored.v1"
    data = reply.get_data()
    schemas.check(catalog.EVENT_IGNORED, data, AssertionError)
    assert data["reason"].startswith("superseded: head aaaaaaaaaaaa") and data["input_id"] == "evt-a"
    assert len(kube_api.objects()) == 1


async def test_outcomes_admission_and_latency_are_exported_as_metrics(
    client: httpx.AsyncClient, kube_api: FakeKubeApi
) -> None:
    from datetime import datetime, timedelta

    from prometheus_client import REGISTRY

    def value(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    outcomes = ("created", "queued", "started", "cancelled", "failed")
    before = {o: value("tektondag_runs_total", team="default", outcome=o) for o in outcomes}
    unconfigured = value("tektondag_runs_total", team="unconfigured", outcome="failed")
    timed = value("tektondag_webhook_to_run_created_seconds_count", team="default")
    fast = value("tektondag_webhook_to_run_created_seconds_bucket", team="default", le="1.0")
    slow = value("tektondag_webhook_to_run_created_seconds_bucket", team="default", le="10.0")
    received = (datetime.now(UTC) - timedelta(seconds=2)).isoformat()
    for n in range(1, 5):
        await post(
            client, event(catalog.RUN_REQUESTED, pr_request(number=n).to_data(), id=f"m{n}", tektondagreceived=received)
        )
    assert value("tektondag_admission_running_runs", team="default") == 3  # the example team's limit
    assert value("tektondag_admission_queued_runs", team="default") == 1
    finished = kube_api.finish(NAMESPACE, kube_api.running()[0])
    await post(client, event(catalog.TEKTON_PIPELINERUN_SUCCESSFUL, finished, id="mt1"))
    assert value("tektondag_admission_queued_runs", team="default") == 0
    cancel = {
        "team": "default",
        "stack": "stack-one",
        "app": "demo-fe",
        "pr_number": 2,
        "reason": "closed",
        "delivery": "mc",
    }
    await post(client, event(catalog.RUN_CANCEL_REQUESTED, cancel, id="mc"))
    await post(client, event(catalog.RUN_REQUESTED, {**pr_request().to_data(), "team": "nobody-" + "x" * 40}, id="mx"))
    moved = {o: value("tektondag_runs_total", team="default", outcome=o) - before[o] for o in outcomes}
    assert moved == {"created": 3, "queued": 1, "started": 1, "cancelled": 1, "failed": 0}
    assert (
        value("tektondag_runs_total", team="unconfigured", outcome="failed") == unconfigured + 1
    )  # no label per name sent
    assert value("tektondag_webhook_to_run_created_seconds_count", team="default") == timed + 4
    # each was received 2 s before it got here: between the 1 s and 10 s buckets
    assert value("tektondag_webhook_to_run_created_seconds_bucket", team="default", le="1.0") == fast
    assert value("tektondag_webhook_to_run_created_seconds_bucket", team="default", le="10.0") == slow + 4


async def test_outcomes_name_the_github_app_installation_status_reporter_acts_as(
    client: httpx.AsyncClient, kube_api: FakeKubeApi
) -> None:
    # run.failed of a run never created has no PipelineRun to read the installation from: it is in the data.
    from_app = {**pr_request(number=7).to_data(), "installation_id": 1001}
    created = reply_of(await post(client, event(catalog.RUN_REQUESTED, from_app, id="i1")))
    assert created.get_type() == catalog.RUN_CREATED and created.get_data()["installation_id"] == 1001
    plain = reply_of(await post(client, event(catalog.RUN_REQUESTED, pr_request(number=8).to_data(), id="i2")))
    assert "installation_id" not in plain.get_data()


async def test_only_outcomes_of_teams_with_checks_reach_status_reporter(tmp_path, kube_api: FakeKubeApi) -> None:
    """run-creator marks the outcomes of a team with GitHub checks (``tektondagchecks: true``), and the
    Triggers scripts/generate writes (knative/triggers.yaml, what the local Broker and a cluster apply)
    deliver run-creator's outcomes to status-reporter only when marked: the other teams' runs never
    call it. Tekton's own events still reach it for every team."""
    from statusreporter.conftest import teams_with_checks  # team default asks for checks, commerce does not
    from support.e2e import ROOT
    from tekton_dag.bus.triggers import load_topology

    topology = load_topology(ROOT / "knative")

    def receivers(reply: CloudEvent) -> set[str]:
        attributes = {k: str(v) for k, v in reply.get_attributes().items()}
        return {str(t.subscriber.ref_name) for t in topology.candidates(reply.get_type()) if t.matches(attributes)}

    store = KubernetesStore(policy=FAST)
    function = started(store, TEKTON_DAG_TEAMS_DIR=str(teams_with_checks(tmp_path / "teams")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=ASGIApplication(function)),
                                 base_url="http://run-creator") as client:
        marked = reply_of(await post(client, event(catalog.RUN_REQUESTED, pr_request().to_data(), id="r1")))
        cancel = {"team": "commerce", "stack": "commerce", "app": "a", "pr_number": 1, "reason": "closed",
                  "delivery": "c1"}
        unmarked = reply_of(await post(client, event(catalog.RUN_CANCEL_REQUESTED, cancel, id="c1")))
    function.stop()
    store.close()
    assert (marked.get_type(), unmarked.get_type()) == (catalog.RUN_CREATED, catalog.RUN_CANCELLED)
    assert marked.get_extension(catalog.EXT_CHECKS) == "true" and unmarked.get_extension(catalog.EXT_CHECKS) is None
    assert receivers(marked) == {"status-reporter"} and receivers(unmarked) == set()
    tekton = CloudEvent(attributes={"type": catalog.TEKTON_PIPELINERUN_SUCCESSFUL, "source": "/t", "id": "t"})
    assert receivers(tekton) == {"run-creator", "status-reporter"}
