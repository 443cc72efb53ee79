"""knative/ is the routing a cluster applies: complete, loop-free, and what the local Broker reads.

knative/triggers.yaml is generated from tekton_dag/bus/routing.py by scripts/generate (tests/generate
checks it is fresh); the Trigger tests here check that what it generates routes exactly that table.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tekton_dag.bus import routing
from tekton_dag.bus.triggers import load_topology, read_documents
from tekton_dag.events import catalog
from tekton_dag.functions.serving import FUNCTIONS

KNATIVE = Path(__file__).resolve().parents[2] / "knative"


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return [doc for _, doc in read_documents(KNATIVE)]


def by_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_every_consumed_type_has_exactly_its_trigger(docs):
    triggers = by_kind(docs, "Trigger")
    expected = {
        name: {"type": t, "subscriber": f} for name, (t, f) in routing.routes().items()
    }
    actual = {
        name: {"type": d["spec"]["filter"]["attributes"]["type"], "subscriber": d["spec"]["subscriber"]["ref"]["name"]}
        for name, d in triggers.items()
    }
    assert actual == expected


def test_triggers_follow_the_naming_and_subscriber_contract(docs):
    for name, trigger in by_kind(docs, "Trigger").items():
        spec = trigger["spec"]
        assert spec["broker"] == "tekton-dag"
        assert spec["subscriber"]["ref"]["apiVersion"] == "serving.knative.dev/v1"
        assert spec["subscriber"]["ref"]["kind"] == "Service"
        function, event_type = spec["subscriber"]["ref"]["name"], spec["filter"]["attributes"]["type"]
        assert spec["filter"]["attributes"] == routing.filter_attributes(function, event_type), name
        assert name == routing.trigger_name(function, event_type)


@pytest.mark.parametrize("function", sorted(routing.CONSUMES))
def test_no_function_consumes_a_type_it_produces(function):
    assert not set(routing.CONSUMES[function]) & set(routing.PRODUCES.get(function, ()))


def test_outcomes_reach_only_functions_that_publish_nothing_for_them():
    """Outcomes end the chain: whoever reads them (status-reporter, for GitHub) starts nothing for
    them. status-reporter publishes run / cancel requests only for a PR command, and commands come
    only from the resolver, out of GitHub's events: no outcome leads back to a request. The GitHub
    Re-runs it reads (an older head's only) it answers on GitHub alone."""
    readers = {f for f, types in routing.CONSUMES.items() if set(types) & set(routing.OUTCOMES)}
    assert readers == {"status-reporter"}
    assert set(routing.PRODUCES["status-reporter"]) == {catalog.RUN_REQUESTED, catalog.RUN_CANCEL_REQUESTED}
    assert set(routing.CONSUMES["status-reporter"]) - set(routing.OUTCOMES) - set(catalog.TEKTON_PIPELINERUN_SHOWN) \
        == {catalog.COMMAND_REQUESTED, *routing.RERUNS}
    assert {f for f, types in routing.PRODUCES.items() if catalog.COMMAND_REQUESTED in types} == {"resolver"}
    assert set(routing.CONSUMES["resolver"]) == set(routing.GITHUB_EVENTS)


def test_every_function_is_a_service_with_its_sink_binding(docs):
    services = by_kind(docs, "Service")
    bindings = {d["spec"]["subject"]["name"]: d for d in by_kind(docs, "SinkBinding").values()}
    for name in FUNCTIONS:
        assert name in services, name
        assert bindings[name]["spec"]["sink"]["ref"] == {
            "apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "tekton-dag"}
    scale = "autoscaling.knative.dev/min-scale"
    assert services["webhook-ingest"]["spec"]["template"]["metadata"]["annotations"][scale] == "1"


def test_the_broker_retries_with_exponential_backoff_and_a_dead_letter_sink(docs):
    topology = load_topology(KNATIVE)
    assert topology.delivery.retry >= 3 and topology.delivery.backoff_policy == "exponential"
    assert topology.delivery.dead_letter_sink is not None
    assert by_kind(docs, "Service").get(topology.delivery.dead_letter_sink.ref_name), "the DLS must exist"


def test_status_reporter_retries_longer_and_keeps_the_brokers_dead_letter_sink():
    """Its GitHub writes are paced (routing.TRIGGER_DELIVERY): its Triggers retry 10 times from 1 s,
    about 17 minutes of backoff against the Broker's 31 s, then go to the Broker's dead-letter sink
    (a Trigger's delivery is taken whole by Knative, only the sink falls back). The others keep the
    Broker's delivery. The all-in-one's bus routes with the same table."""
    from tekton_dag.functions.all_in_one import topology as all_in_one_topology

    for topology in (load_topology(KNATIVE), all_in_one_topology()):
        broker = load_topology(KNATIVE).delivery
        for trigger in topology.triggers:
            spec = trigger.delivery_with(broker)
            if trigger.subscriber.ref_name == "status-reporter":
                assert (spec.retry, spec.backoff_policy, spec.backoff_delay_s) == (10, "exponential", 1.0)
                assert sum(spec.backoff(i) for i in range(spec.retry)) > 15 * 60
            else:
                assert spec == broker, trigger.name
            assert spec.dead_letter_sink == broker.dead_letter_sink, trigger.name


def test_tekton_sends_its_events_to_the_broker_through_config_events(docs):
    # config-defaults `default-cloud-events-sink` is deprecated (tektoncd/pipeline docs/additional-configs.md)
    configmaps = by_kind(docs, "ConfigMap")
    assert "config-defaults" not in configmaps
    events = configmaps["config-events"]
    assert events["metadata"]["namespace"] == "tekton-pipelines"
    assert events["data"] == {"formats": "tektonv1",
                              "sink": "http://broker-ingress.knative-eventing.svc.cluster.local/tekton-dag/tekton-dag"}


def test_manifests_are_plain_yaml_without_templating():
    for path in KNATIVE.glob("*.yaml"):
        text = path.read_text()
        assert "{{" not in text, path
        assert all(isinstance(d, dict) for d in yaml.safe_load_all(text)), path


SCHEMAS = Path(__file__).resolve().parents[2] / ".." / "shared" / "schemas"
SCHEMA_FILES = {
    ("eventing.knative.dev/v1", "Broker"): "eventing.knative.dev/broker_v1.json",
    ("eventing.knative.dev/v1", "Trigger"): "eventing.knative.dev/trigger_v1.json",
    ("serving.knative.dev/v1", "Service"): "serving.knative.dev/service_v1.json",
}


def test_knative_objects_match_their_crd_schemas(docs):
    import json

    import jsonschema

    if not SCHEMAS.is_dir():
        pytest.skip(f"CRD schemas not found at {SCHEMAS} (they live beside the checkout, not in it)")
    checked = 0
    for doc in docs:
        schema_file = SCHEMA_FILES.get((doc["apiVersion"], doc["kind"]))
        if schema_file:
            jsonschema.validate(doc, json.loads((SCHEMAS / schema_file).read_text()))
            checked += 1
    assert checked == len(routing.routes()) + 1 + len(FUNCTIONS) + 1  # triggers, broker, services, DLS


def test_core_kinds_are_valid_kubernetes(docs):
    import kubernetes_validate

    core = [d for d in docs if d["apiVersion"] in ("v1", "rbac.authorization.k8s.io/v1")]
    assert {d["kind"] for d in core} == {"ConfigMap", "ServiceAccount", "Role", "RoleBinding"}
    for doc in core:
        kubernetes_validate.validate(doc, "1.30", strict=True)


def allowed(docs: list[dict], account: str, group: str, resource: str, verb: str) -> bool:
    roles = by_kind(docs, "Role")
    for binding in by_kind(docs, "RoleBinding").values():
        if any(s["kind"] == "ServiceAccount" and s["name"] == account for s in binding["subjects"]):
            for rule in roles[binding["roleRef"]["name"]]["rules"]:
                if group in rule["apiGroups"] and resource in rule["resources"] and verb in rule["verbs"]:
                    return True
    return False


def test_each_function_runs_as_its_own_account_with_just_what_it_needs(docs):
    accounts = set(by_kind(docs, "ServiceAccount"))
    services = by_kind(docs, "Service")
    for name in FUNCTIONS:
        account = services[name]["spec"]["template"]["spec"]["serviceAccountName"]
        assert account == f"tekton-dag-{name}" and account in accounts
    assert allowed(docs, "tekton-dag-run-creator", "tekton.dev", "pipelineruns", "create")
    assert allowed(docs, "tekton-dag-run-creator", "coordination.k8s.io", "leases", "update")
    assert allowed(docs, "tekton-dag-webhook-ingest", "tekton.dev", "pipelineruns", "list")
    assert not allowed(docs, "tekton-dag-webhook-ingest", "tekton.dev", "pipelineruns", "create")
    assert not allowed(docs, "tekton-dag-resolver", "tekton.dev", "pipelineruns", "create")


def test_the_routing_table_matches_what_the_handlers_accept():
    from tekton_dag.events import catalog, github

    assert set(routing.CONSUMES["resolver"]) == set(github.CLOUDEVENT_TYPES.values())
    assert set(routing.CONSUMES["run-creator"]) == {
        catalog.RUN_REQUESTED, catalog.RUN_CANCEL_REQUESTED, *catalog.TEKTON_PIPELINERUN_FINISHED}
    assert routing.CONSUMES["bootstrap-batcher"] == (catalog.BOOTSTRAP_REQUESTED,)


@pytest.mark.parametrize("event_type, name", [
    ("dev.tektondag.github.pull_request.v1", "github-pull-request"),
    ("dev.tektondag.run.cancel.requested.v1", "run-cancel-requested"),
    ("dev.tekton.event.pipelinerun.successful.v1", "pipelinerun-successful"),
])
def test_trigger_input_names(event_type, name):
    assert routing.input_name(event_type) == name
