"""run-creator and Tekton's real events (built by the Tekton double): a cancelled run ends as
``failed`` and frees its slot; an event for another team's namespace goes to that team's Broker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary_event
from cloudevents.core.v1.event import CloudEvent
from func_python.cloudevent import ASGIApplication

from runcreator.conftest import FAST, NAMESPACE, TEAMS, bootstrap_request, merge_request, pr_request
from tekton_dag.eventing.forwarding import TeamForwarder
from tekton_dag.events import catalog
from tekton_dag.functions.lifecycle import Wiring
from tekton_dag.functions.run_creator import new
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.testing import tekton_events
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.sealing import TEST_EVENT_KEY, sealed
from tekton_dag.testing.tekton import TektonDouble, Timing, load_pipelines

PIPELINES = load_pipelines(Path(__file__).resolve().parents[2] / "pipeline")


@pytest.fixture
def api(tekton_free_api: FakeKubeApi) -> FakeKubeApi:
    return tekton_free_api


@pytest.fixture
def sink() -> Iterator[EventRecorder]:
    recorder = EventRecorder()
    with recorder.serving():
        yield recorder


@pytest.fixture
async def client(api: FakeKubeApi, sink: EventRecorder) -> AsyncIterator[httpx.AsyncClient]:
    store = KubernetesStore(policy=FAST)
    forwarder = TeamForwarder(sink.url + "{namespace}/tekton-dag")
    function = new(Wiring(store=store, forwarder=forwarder))
    function.start({"TEKTON_DAG_TEAMS_DIR": str(TEAMS), "TEKTON_DAG_CONFIG_RELOAD_S": "0",
                    "TEKTON_DAG_RECONCILE_SECONDS": "0", "TEKTON_DAG_EVENT_KEY": TEST_EVENT_KEY})
    app = ASGIApplication(function)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://run-creator") as client:
        yield client
    function.stop()
    await forwarder.aclose()
    store.close()


async def post(client: httpx.AsyncClient, event: CloudEvent) -> httpx.Response:
    message = to_binary_event(event)
    return await client.post("/", headers=dict(message.headers), content=message.body)


async def test_a_run_cancelled_by_hand_ends_as_failed_and_frees_its_slot(client, api: FakeKubeApi) -> None:
    for n in range(1, 5):  # the default team admits 3 at once: the 4th waits Pending
        await post(client, sealed(CloudEvent({"type": catalog.RUN_REQUESTED, "source": "/t", "id": f"e{n}"},
                                             pr_request(number=n).to_data())))
    tekton = TektonDouble(KubernetesStore(policy=FAST), [NAMESPACE], PIPELINES, timing=Timing(default=3600.0))
    await tekton.poll()
    runs = {r["metadata"]["name"]: r for r in api.objects("pipelineruns", NAMESPACE)}
    waiting = [n for n, r in runs.items() if r["spec"].get("status") == "PipelineRunPending"]
    running = sorted(set(runs) - set(waiting))
    assert len(waiting) == 1 and len(running) == 3

    api_run = api.get("pipelineruns", NAMESPACE, running[0])
    assert api_run is not None
    await KubernetesStore(policy=FAST).patch_run(NAMESPACE, running[0], {"spec": {"status": "Cancelled"}})  # kubectl
    await tekton.poll()
    [failed] = [
        e for e in tekton.events if e.get_subject() == running[0] and e.get_type() == catalog.TEKTON_PIPELINERUN_FAILED
    ]
    assert failed.get_data()["pipelineRun"]["status"]["conditions"][0]["reason"] == "Cancelled"

    response = await post(client, failed)
    assert response.status_code == 200
    assert response.headers["ce-type"] == catalog.RUN_STARTED
    await tekton.poll()
    started = api.get("pipelineruns", NAMESPACE, waiting[0])
    assert started is not None and tekton_events.succeeded_condition(started)["reason"] == "Running"


async def test_a_closed_pull_requests_started_run_still_cleans_up_and_a_waiting_one_runs_nothing(
    client, api: FakeKubeApi
) -> None:
    """A started pr-test run may have deployed the PR's app and intercepts, which only its
    ``finally`` cleanup-run removes; Tekton skips ``finally`` for ``Cancelled`` and runs it for
    ``CancelledRunFinally`` (tektoncd/pipeline docs/pipelineruns.md, "Cancelling a PipelineRun",
    "Gracefully cancelling a PipelineRun"). A run that never started has nothing to clean up:
    ``Cancelled`` ends it without a single TaskRun."""
    for n in range(1, 5):  # the default team admits 3 at once: the 4th waits Pending
        await post(client, sealed(CloudEvent({"type": catalog.RUN_REQUESTED, "source": "/t", "id": f"e{n}"},
                                             pr_request(number=n).to_data())))
    now = [0.0]
    tekton = TektonDouble(KubernetesStore(policy=FAST), [NAMESPACE], PIPELINES, timing=Timing(default=1.0),
                          clock=lambda: now[0])
    by_pr = {r["metadata"]["labels"]["tekton-dag.dev/pr"]: r["metadata"]["name"]
             for r in api.objects("pipelineruns", NAMESPACE)}
    while tekton.children(NAMESPACE, by_pr["1"]).get("deploy-intercepts") is None or \
            tekton.children(NAMESPACE, by_pr["1"])["deploy-intercepts"].state != "done":
        await tekton.poll()
        now[0] += 1.0
        assert now[0] < 100, tekton.children(NAMESPACE, by_pr["1"])
    assert api.get("pipelineruns", NAMESPACE, by_pr["4"])["spec"]["status"] == "PipelineRunPending"

    for pr in (4, 1):  # closed: run-creator cancels every run of the pull request
        cancel = {"team": "default", "stack": "stack-one", "app": "demo-fe", "pr_number": pr, "reason": "closed",
                  "delivery": f"close-{pr}"}
        response = await post(client, sealed(CloudEvent(
            {"type": catalog.RUN_CANCEL_REQUESTED, "source": "/t", "id": f"c{pr}"}, cancel)))
        assert response.headers["ce-type"] == catalog.RUN_CANCELLED, response.text
    for _ in range(5):
        await tekton.poll()
        now[0] += 1.0

    started, waiting = (api.get("pipelineruns", NAMESPACE, by_pr[pr]) for pr in ("1", "4"))
    assert started is not None and waiting is not None
    assert (started["spec"]["status"], waiting["spec"]["status"]) == ("CancelledRunFinally", "Cancelled")
    children = tekton.children(NAMESPACE, by_pr["1"])
    assert children["cleanup-run"].state == "done" and children["cleanup-run"].reason == "Succeeded"
    assert tekton_events.succeeded_condition(started)["reason"] == "Cancelled"
    assert not [c for c in tekton.children(NAMESPACE, by_pr["4"]).values() if c.state != "waiting"]
    assert tekton_events.succeeded_condition(waiting)["reason"] == "Cancelled"


async def test_a_done_run_leaves_no_claim_behind_under_tektons_default_coschedule(client, api: FakeKubeApi) -> None:
    """Each run's shared-workspace is a volumeClaimTemplate: one claim of the team's workspace size
    per run. Under ``coschedule: workspaces`` (Tekton's default) Tekton deletes it when the run is
    done only if the run asks with ``tekton.dev/auto-cleanup-pvc: "true"``; otherwise it stays bound
    until the PipelineRun is deleted, which without ``retention`` is never (tektoncd/pipeline
    pkg/reconciler/pipelinerun/affinity_assistant.go ``cleanupAffinityAssistantsAndPVCs``)."""
    for n, request in enumerate((pr_request(number=1), merge_request(), bootstrap_request())):
        await post(client, sealed(CloudEvent({"type": catalog.RUN_REQUESTED, "source": "/t", "id": f"e{n}"},
                                             request.to_data())))
    now = [0.0]
    tekton = TektonDouble(KubernetesStore(policy=FAST), [NAMESPACE], PIPELINES, timing=Timing(default=1.0),
                          clock=lambda: now[0])
    await tekton.poll()
    assert len(tekton.claims(NAMESPACE)) == 3  # one per run, while it runs
    for _ in range(30):
        now[0] += 1.0
        await tekton.poll()
    runs = api.objects("pipelineruns", NAMESPACE)
    assert [tekton_events.succeeded_condition(r)["status"] for r in runs] == ["True"] * 3
    assert tekton.claims(NAMESPACE) == []


def tekton_event(namespace: str, **extensions: str) -> CloudEvent:
    run = {"metadata": {"name": "r-1", "namespace": namespace, "labels": {"tekton-dag.dev/team": "other"}},
           "spec": {}, "status": {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}}
    return tekton_events.cloud_event(run) if not extensions else CloudEvent(
        {**tekton_events.cloud_event(run).get_attributes(), **extensions}, {"pipelineRun": run})


async def test_an_event_for_a_namespace_no_team_here_owns_goes_to_that_teams_broker(
    client, sink: EventRecorder
) -> None:
    event = tekton_event("team-elsewhere")
    response = await post(client, event)
    assert response.status_code == 202
    [forwarded] = sink.received
    assert (forwarded.get_id(), forwarded.get_type(), forwarded.get_source()) == (
        event.get_id(), event.get_type(), "/apis/tekton.dev/v1/namespaces/team-elsewhere/PipelineRun/r-1")
    assert forwarded.get_extension(catalog.EXT_FORWARDED) == "commerce-ci,tekton-dag-default"


async def test_a_forwarded_event_is_never_forwarded_again(client, sink: EventRecorder) -> None:
    response = await post(client, tekton_event("team-elsewhere", **{catalog.EXT_FORWARDED: "team-x"}))
    assert response.status_code == 202 and sink.received == []


async def test_a_namespace_without_a_broker_drops_the_event_and_a_failing_broker_is_retried(client, sink) -> None:
    sink.status = 404  # Knative's broker ingress: no such Broker
    assert (await post(client, tekton_event("not-tekton-dag"))).status_code == 202
    sink.status = 503
    response = await post(client, tekton_event("team-elsewhere"))
    assert response.status_code == 503 and "answered 503" in response.text  # Tekton retries


def test_a_template_without_the_namespace_is_refused() -> None:
    with pytest.raises(ValueError, match="TEKTON_DAG_TEAM_BROKER_URL"):
        TeamForwarder("http://broker/tekton-dag")
