"""Kubernetes Events (events.k8s.io/v1): the fake API checks them as kube-apiserver does, and
run-creator's recorder creates them through the real client, best-effort and bounded."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import httpx
import pytest
from kubernetes import client

from support.kube import official_client
from tekton_dag.kube import events as kube_events
from tekton_dag.testing.kube_api import FakeKubeApi

NS = "team-a"


@pytest.fixture
def events_api(kube_api: FakeKubeApi) -> Iterator[client.EventsV1Api]:
    api_client = official_client()
    yield client.EventsV1Api(api_client)
    api_client.close()


def good() -> dict:
    return kube_events.event_body(
        kube_events.pipelinerun_ref(NS, "run-1"), "Queued", "Queue", "waits", "Normal", "rc-0"
    )


def test_a_recorder_event_is_accepted_and_kubectl_sees_its_fields(
    events_api: client.EventsV1Api, kube_api: FakeKubeApi
) -> None:
    events_api.create_namespaced_event(NS, good())
    [stored] = kube_api.objects("events", NS)
    assert stored["regarding"] == {
        "apiVersion": "tekton.dev/v1",
        "kind": "PipelineRun",
        "namespace": NS,
        "name": "run-1",
    }
    assert stored["reportingController"] == "tekton-dag.dev/run-creator" and stored["type"] == "Normal"
    assert stored["metadata"]["name"].startswith("run-1.")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e.pop("eventTime"), "eventTime"),
        (lambda e: e.update(type="Info"), "type"),
        (lambda e: e.update(reportingController=""), "reportingController"),
        (lambda e: e.update(reportingController="not a name!"), "reportingController"),
        (lambda e: e.update(reportingInstance=""), "reportingInstance"),
        (lambda e: e.update(action="x" * 129), "action"),
        (lambda e: e.update(reason=""), "reason"),
        (lambda e: e.update(note="é" * 513), "note"),  # 1026 bytes: the limit counts bytes
        (lambda e: e.update(series={"count": 1, "lastObservedTime": e["eventTime"]}), "series.count"),
        (lambda e: e.update(deprecatedCount=3), "deprecatedCount"),
        (lambda e: e["regarding"].pop("namespace"), "regarding.namespace"),
        (lambda e: e.update(message="core/v1's field"), ""),  # not in the events.k8s.io/v1 schema
    ],
    ids=[
        "no eventTime",
        "bad type",
        "no controller",
        "controller not a qualified name",
        "no instance",
        "action too long",
        "no reason",
        "note over 1 KiB",
        "series of one",
        "deprecated field",
        "regarding elsewhere",
        "unknown field",
    ],
)
def test_events_the_apiserver_refuses_get_422_naming_the_field(kube_api: FakeKubeApi, change, field: str) -> None:
    # Plain HTTP: the kubernetes client (37.x) refuses some of these itself, before the wire.
    body = good()
    change(body)
    token = kube_api.kubeconfig_dict()["users"][0]["user"]["token"]  # the admin's: past RBAC, to the validation
    answer = httpx.post(f"{kube_api.base_url}/apis/events.k8s.io/v1/namespaces/{NS}/events", json=body,
                        headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 422 and answer.json()["reason"] == "Invalid"
    assert field in [c["field"] for c in answer.json()["details"]["causes"]]


def test_the_note_is_cut_to_one_kib_on_a_character_boundary() -> None:
    body = kube_events.event_body(
        kube_events.pipelinerun_ref(NS, "r"), "RunNotCreated", "Create", "é" * 2000, "Warning", "i"
    )
    assert len(body["note"].encode()) <= 1024 and body["note"].endswith("...")


async def test_a_full_queue_drops_events_and_never_blocks() -> None:
    recorder = kube_events.EventRecorder(queue_size=2)  # emit starts the drain, which cannot run before we yield
    for n in range(5):
        recorder.emit(kube_events.pipelinerun_ref(NS, f"r{n}"), "Queued", "Queue", "waits")
    assert recorder.dropped == 3
    await recorder.close()


async def test_an_api_that_refuses_events_is_counted_not_raised(kube_api: FakeKubeApi) -> None:
    kube_api.fail(500, times=3, plural="events")
    recorder = kube_events.EventRecorder()
    recorder.start()
    for n in range(4):
        recorder.emit(kube_events.pipelinerun_ref(NS, f"r{n}"), "Queued", "Queue", "waits")
    await recorder.flush()
    await recorder.close()
    assert (recorder.failed, recorder.created) == (3, 1)
    assert [e["regarding"]["name"] for e in kube_api.objects("events", NS)] == ["r3"]
    await asyncio.sleep(0)
