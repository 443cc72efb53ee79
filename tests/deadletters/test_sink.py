"""The dead-letter sink as deployed: `tekton-dag serve dead-letters` over HTTP, storing ConfigMaps in
the fake API as its own ServiceAccount (the chart's RBAC enforced), replaying through K_SINK what
`tekton-dag dead-letters replay --namespace` marked."""

from __future__ import annotations

import base64
import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from prometheus_client.parser import text_string_to_metric_families

from support.clirun import run_cli
from tekton_dag.events import catalog, codec
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.testing.recorder import EventRecorder
from tekton_dag.testing.sealing import KEYS, sealed
from tekton_dag.testing.serving import Served, free_port, served_function

NAMESPACE = "tekton-dag-default"  # team default's release
SINK_ACCOUNT = "tekton-dag-dead-letters"
RUN_CREATOR = "http://run-creator.tekton-dag-default.svc.cluster.local"


def run_requested(event_id: str = "run-1") -> CloudEvent:
    data = {"team": "default", "stack": "stack-one", "app": "demo-fe", "pipeline": "pr", "pr": 7}
    return sealed(CloudEvent({"type": catalog.RUN_REQUESTED, "source": catalog.SOURCE_RESOLVER, "id": event_id,
                              "specversion": "1.0", "datacontenttype": "application/json", "team": "default"},
                             json.dumps(data).encode()))


def dead_lettered(event: CloudEvent, code: int = 500, body: bytes = b"boom") -> CloudEvent:
    """``event`` as Knative's dispatcher sends it to a dead-letter sink (events.deadletters docstring)."""
    extensions = {"knativeerrordest": RUN_CREATOR, "knativeerrorcode": str(code),
                  "knativeerrordata": base64.b64encode(body).decode()}
    return CloudEvent({**event.get_attributes(), **extensions}, event.get_data())


@contextlib.contextmanager
def sink(api: FakeKubeApi, tmp_path: Path, broker: EventRecorder, account: str = SINK_ACCOUNT,
         **env: str) -> Iterator[tuple[Served, int]]:
    metrics_port = free_port()
    with broker.serving() as url, served_function("dead-letters", {
        "KUBECONFIG": str(api.kubeconfig_for(NAMESPACE, account)), "TEKTON_DAG_NAMESPACE": NAMESPACE,
        "K_SINK": url, "METRICS_PORT": str(metrics_port), "TEKTON_DAG_DEAD_LETTERS_REPLAY_SECONDS": "0.1", **env,
    }, tmp_path) as served:
        yield served, metrics_port


def post(served: Served, event: CloudEvent, structured: bool = False) -> int:
    message = to_structured_event(event) if structured else to_binary_event(event)
    return httpx.post(served.url, headers=dict(message.headers), content=message.body, timeout=10).status_code


def letters(api: FakeKubeApi) -> list[dict[str, Any]]:
    return [cm for cm in api.objects("configmaps", NAMESPACE)
            if cm["metadata"].get("labels", {}).get("tekton-dag.dev/dead-letter") == "true"]


def counter(port: int, name: str) -> float:
    # The listener starts in the background half a second after start (functions.lifecycle).
    eventually(lambda: _listening(port), timeout=5)
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    return sum(sample.value for family in text_string_to_metric_families(text) for sample in family.samples
               if sample.name == name)


def _listening(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "not within the time"
        time.sleep(0.05)


@pytest.mark.parametrize("structured", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["binary", "structured"])
def test_a_dead_letter_is_kept_as_a_configmap_with_the_original_event(
        kube_api: FakeKubeApi, tmp_path: Path, structured: bool) -> None:
    with sink(kube_api, tmp_path, EventRecorder()) as (served, _):
        assert post(served, dead_lettered(run_requested()), structured) == 200
    [stored] = letters(kube_api)
    labels, annotations = stored["metadata"]["labels"], stored["metadata"]["annotations"]
    assert labels["tekton-dag.dev/dead-letter-state"] == "new"
    assert annotations["tekton-dag.dev/dead-letter-destination"] == RUN_CREATOR
    assert annotations["tekton-dag.dev/dead-letter-code"] == "500"
    assert stored["data"]["error"] == "boom"  # knativeerrordata, base64-decoded
    event = json.loads(stored["data"]["event.json"])
    assert event["id"] == "run-1" and event["tektondagseal"]
    assert not {"knativeerrordest", "knativeerrorcode", "knativeerrordata"} & set(event)


@pytest.mark.slow
def test_the_same_failure_twice_is_one_letter(kube_api: FakeKubeApi, tmp_path: Path) -> None:
    with sink(kube_api, tmp_path, EventRecorder()) as (served, _):
        assert post(served, dead_lettered(run_requested(), code=502)) == 200
        assert post(served, dead_lettered(run_requested(), code=503)) == 200
    [stored] = letters(kube_api)
    assert stored["metadata"]["annotations"]["tekton-dag.dev/dead-letter-code"] == "503"


def test_the_store_is_bounded_and_counts_what_it_dropped(kube_api: FakeKubeApi, tmp_path: Path) -> None:
    with sink(kube_api, tmp_path, EventRecorder(), TEKTON_DAG_DEAD_LETTERS_MAX="2",
              TEKTON_DAG_TEAMS_DIR=str(tmp_path / "no-teams")) as (served, port):
        for number in range(1, 5):
            assert post(served, dead_lettered(run_requested(f"run-{number}"))) == 200
        assert counter(port, "tektondag_dead_letters_dropped_total") == 2
        assert counter(port, "tektondag_dead_letters_stored_total") == 4
        # It reads no team configuration, so it exports no configuration gauge (whose 0 would alert).
        assert "tektondag_config_last_reload_successful" not in httpx.get(f"http://127.0.0.1:{port}/metrics").text
    kept = sorted(json.loads(cm["data"]["event.json"])["id"] for cm in letters(kube_api))
    assert kept == ["run-3", "run-4"]  # the oldest went first


def test_without_the_charts_rights_nothing_is_stored_and_the_broker_is_asked_to_retry(
        kube_api: FakeKubeApi, tmp_path: Path) -> None:
    # resolver's ServiceAccount has no ConfigMap rights in the chart: the fake API answers 403.
    with sink(kube_api, tmp_path, EventRecorder(), account="tekton-dag-resolver") as (served, _):
        assert post(served, dead_lettered(run_requested())) == 503
    assert letters(kube_api) == []


def test_replay_publishes_the_original_event_once_and_a_second_replay_is_harmless(
        kube_api: FakeKubeApi, tmp_path: Path) -> None:
    broker = EventRecorder()
    admin = ["--namespace", NAMESPACE, "--kubeconfig", str(kube_api.kubeconfig)]
    with sink(kube_api, tmp_path, broker) as (served, port):
        assert post(served, dead_lettered(run_requested())) == 200
        listed = run_cli("dead-letters", "list", *admin, "-o", "json")
        assert listed.returncode == 0, listed.stderr
        [letter] = json.loads(listed.stdout)
        assert (letter["eventId"], letter["state"], letter["code"]) == ("run-1", "new", "500")

        replay = run_cli("dead-letters", "replay", letter["name"], *admin)
        assert replay.returncode == 0, replay.stdout + replay.stderr
        [event] = broker.events
        assert event.get_id() == "run-1" and event.get_type() == catalog.RUN_REQUESTED
        assert event.get_extension("knativeerrorcode") is None
        KEYS.check(event, codec.data(event))  # the seal still verifies: nothing sealed was altered
        assert letters(kube_api)[0]["metadata"]["labels"]["tekton-dag.dev/dead-letter-state"] == "replayed"
        assert counter(port, "tektondag_dead_letters_replayed_total") == 1

        assert run_cli("dead-letters", "replay", "--all", *admin).stdout.strip() == "nothing to replay"
        assert json.loads(run_cli("dead-letters", "list", *admin, "-o", "json").stdout) == []
        again = run_cli("dead-letters", "replay", letter["name"], *admin)
        assert again.returncode == 0, again.stderr
        assert [e.get_id() for e in broker.events] == ["run-1", "run-1"]  # the same event: consumers drop it


@pytest.mark.slow
def test_replay_of_an_unknown_letter_marks_nothing(kube_api: FakeKubeApi, tmp_path: Path) -> None:
    with sink(kube_api, tmp_path, EventRecorder()) as (served, _):
        assert post(served, dead_lettered(run_requested())) == 200
        result = run_cli("dead-letters", "replay", "dl-nope", letters(kube_api)[0]["metadata"]["name"],
                         "--namespace", NAMESPACE, "--kubeconfig", str(kube_api.kubeconfig))
    assert result.returncode == 1
    assert "no dead letter named dl-nope" in result.stderr
    assert letters(kube_api)[0]["metadata"]["labels"]["tekton-dag.dev/dead-letter-state"] == "new"


def test_a_user_without_configmap_rights_is_told_what_is_missing(kube_api: FakeKubeApi) -> None:
    kubeconfig = kube_api.kubeconfig_for(NAMESPACE, "tekton-dag-resolver")
    result = run_cli("dead-letters", "list", "--namespace", NAMESPACE, "--kubeconfig", str(kubeconfig))
    assert result.returncode == 1
    assert "forbidden" in result.stderr and "list and patch on configmaps" in result.stderr
    assert "Traceback" not in result.stderr
