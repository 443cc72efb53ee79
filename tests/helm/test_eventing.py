"""Knative objects: the five functions, one Trigger per (function, input type) of the event catalog,
the Broker's class and DeliverySpec, K_SINK through SinkBindings, and the all-in-one mode."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

import pytest

from support.helm import find, one, render
from tekton_dag.events import catalog
from tekton_dag.functions.serving import FUNCTIONS

# What each function consumes, from the catalog: the chart must subscribe exactly these.
INPUTS = {
    "resolver": {catalog.GITHUB_PULL_REQUEST, catalog.GITHUB_PUSH, catalog.GITHUB_ISSUE_COMMENT,
                 catalog.GITHUB_CHECK_RUN, catalog.GITHUB_CHECK_SUITE, catalog.GITHUB_MERGE_GROUP},
    "run-creator": {catalog.RUN_REQUESTED, catalog.RUN_CANCEL_REQUESTED, *catalog.TEKTON_PIPELINERUN_FINISHED},
    "bootstrap-batcher": {catalog.BOOTSTRAP_REQUESTED},
    "status-reporter": {catalog.RUN_CREATED, catalog.RUN_QUEUED, catalog.RUN_STARTED, catalog.RUN_FAILED,
                        catalog.RUN_CANCELLED, *catalog.TEKTON_PIPELINERUN_SHOWN, catalog.COMMAND_REQUESTED,
                        catalog.GITHUB_CHECK_RUN, catalog.GITHUB_CHECK_SUITE},  # an older head's Re-run only
}


# run-creator's outcomes reach status-reporter only when marked for a team with GitHub checks
RERUNS = {catalog.GITHUB_CHECK_RUN, catalog.GITHUB_CHECK_SUITE}  # status-reporter: only those marked outdated
OUTCOMES_FOR_CHECKS = {catalog.RUN_CREATED, catalog.RUN_QUEUED, catalog.RUN_STARTED, catalog.RUN_FAILED,
                       catalog.RUN_CANCELLED}


def annotations(ksvc: dict[str, Any]) -> dict[str, str]:
    return ksvc["spec"]["template"]["metadata"]["annotations"]


def test_each_function_of_the_registry_is_a_knative_service() -> None:
    names = {d["metadata"]["name"] for d in find(render(), "Service")}
    assert names == set(FUNCTIONS) | {"dead-letters"}


def test_webhook_ingest_never_scales_to_zero() -> None:
    assert annotations(one(render(), "Service", "webhook-ingest"))["autoscaling.knative.dev/min-scale"] == "1"


def test_autoscaling_annotations_follow_values() -> None:
    ksvc = one(render(sets=["functions.resolver.maxScale=9", "functions.resolver.target=7"]), "Service", "resolver")
    assert annotations(ksvc)["autoscaling.knative.dev/max-scale"] == "9"
    assert annotations(ksvc)["autoscaling.knative.dev/target"] == "7"


def test_triggers_subscribe_each_function_to_exactly_its_catalog_types() -> None:
    triggers = find(render(), "Trigger")
    subscribed: dict[str, set[str]] = {}
    for trigger in triggers:
        spec = trigger["spec"]
        function = spec["subscriber"]["ref"]["name"]
        assert spec["subscriber"]["ref"] == {
            "apiVersion": "serving.knative.dev/v1",
            "kind": "Service",
            "name": function,
        }
        assert spec["broker"] == "tekton-dag"
        attributes = spec["filter"]["attributes"]
        outcome = function == "status-reporter" and attributes["type"] in OUTCOMES_FOR_CHECKS
        rerun = function == "status-reporter" and attributes["type"] in RERUNS
        assert attributes == {"type": attributes["type"], **({"tektondagchecks": "true"} if outcome else {}),
                              **({"tektondagoutdated": "true"} if rerun else {})}
        assert trigger["metadata"]["name"].startswith(f"{function}-")
        subscribed.setdefault(function, set()).add(attributes["type"])
    assert subscribed == INPUTS
    assert len(triggers) == sum(map(len, INPUTS.values())), "one Trigger per input type"


def test_tekton_pipelinerun_events_reach_run_creator_and_status_reporter() -> None:
    subscribers: dict[str, set[str]] = {}
    for trigger in find(render(), "Trigger"):
        subscribers.setdefault(trigger["spec"]["filter"]["attributes"]["type"], set()).add(
            trigger["spec"]["subscriber"]["ref"]["name"])
    for finished in catalog.TEKTON_PIPELINERUN_FINISHED:
        assert subscribers[finished] == {"run-creator", "status-reporter"}
    for progress in (catalog.TEKTON_PIPELINERUN_STARTED, catalog.TEKTON_PIPELINERUN_RUNNING):
        assert subscribers[progress] == {"status-reporter"}


def test_no_function_consumes_a_type_it_could_loop_on() -> None:
    """Knative's TTL restarts when a function POSTs to K_SINK: nobody may consume what it produces."""
    produced = {"resolver": {catalog.RUN_REQUESTED, catalog.RUN_CANCEL_REQUESTED, catalog.EVENT_IGNORED},
                "bootstrap-batcher": {catalog.RUN_REQUESTED, catalog.BOOTSTRAP_PLANNED, catalog.BOOTSTRAP_SKIPPED},
                "status-reporter": {catalog.RUN_REQUESTED, catalog.RUN_CANCEL_REQUESTED}}
    for function, types in produced.items():
        assert not types & INPUTS[function]


def test_status_reporter_can_publish_an_authorised_command_sealed() -> None:
    """PR commands: status-reporter checks the command's seal and seals the requests it publishes to
    K_SINK, so it needs its SinkBinding and the event key like the chain's functions."""
    docs = render()
    binding = one(docs, "SinkBinding", "status-reporter-sink")
    assert binding["spec"]["subject"]["name"] == "status-reporter"
    assert binding["spec"]["sink"]["ref"] == {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker",
                                              "name": "tekton-dag"}
    container = one(docs, "Service", "status-reporter")["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["TEKTON_DAG_EVENT_KEY_FILE"] == "/var/run/secrets/tekton-dag/events/key"
    assert "/var/run/secrets/tekton-dag/events" in {m["mountPath"] for m in container["volumeMounts"]}


def test_broker_delivery_has_retries_and_a_dead_letter_sink() -> None:
    docs = render()
    broker = one(docs, "Broker", "tekton-dag")
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "MTChannelBasedBroker"
    delivery = broker["spec"]["delivery"]
    assert delivery["retry"] == 5 and delivery["backoffPolicy"] == "exponential"
    sink = delivery["deadLetterSink"]["ref"]
    assert one(docs, "Service", sink["name"])  # the dead-letter sink is rendered too


def test_status_reporter_triggers_retry_longer_with_the_brokers_dead_letter_sink() -> None:
    """As knative/triggers.yaml (routing.TRIGGER_DELIVERY): every field set, since Knative takes a
    Trigger's delivery whole, and no sink of its own, so the Broker's is used."""
    for trigger in find(render(), "Trigger"):
        delivery = trigger["spec"].get("delivery")
        if trigger["spec"]["subscriber"]["ref"]["name"] == "status-reporter":
            assert delivery == {"retry": 10, "backoffPolicy": "exponential", "backoffDelay": "PT1S"}
        else:
            assert delivery is None, trigger["metadata"]["name"]


def test_kafka_broker_orders_delivery_per_partition_and_uses_its_config() -> None:
    config = ["eventing.broker.config.apiVersion=v1", "eventing.broker.config.kind=ConfigMap",
              "eventing.broker.config.name=kafka-broker-config"]
    docs = render(sets=["eventing.broker.class=Kafka", *config])
    broker = one(docs, "Broker", "tekton-dag")
    assert broker["metadata"]["annotations"]["eventing.knative.dev/broker.class"] == "Kafka"
    assert broker["spec"]["config"]["name"] == "kafka-broker-config"
    for trigger in find(docs, "Trigger"):
        assert trigger["metadata"]["annotations"]["kafka.eventing.knative.dev/delivery.order"] == "ordered"


def test_an_external_dead_letter_sink_replaces_the_rendered_one() -> None:
    docs = render(sets=["eventing.deadLetter.enabled=false", "eventing.deadLetter.sink.uri=http://dls.ops.svc"])
    assert one(docs, "Broker", "tekton-dag")["spec"]["delivery"]["deadLetterSink"] == {"uri": "http://dls.ops.svc"}
    assert not find(docs, "Service", "dead-letters")


def test_every_function_gets_k_sink_from_a_sinkbinding_to_the_broker() -> None:
    bindings = find(render(), "SinkBinding")
    subjects = set()
    for binding in bindings:
        spec = binding["spec"]
        assert set(spec) == {"subject", "sink"}
        assert spec["sink"] == {
            "ref": {"apiVersion": "eventing.knative.dev/v1", "kind": "Broker", "name": "tekton-dag"}
        }
        assert set(spec["subject"]) == {"apiVersion", "kind", "name"}
        assert (spec["subject"]["apiVersion"], spec["subject"]["kind"]) == ("serving.knative.dev/v1", "Service")
        subjects.add(spec["subject"]["name"])
    assert subjects == set(FUNCTIONS)


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_functions_use_func_python_health_endpoints_and_their_own_account(function: str) -> None:
    spec = one(render(), "Service", function)["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/liveness"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/readiness"
    assert spec["serviceAccountName"] == f"tekton-dag-{function}"
    assert container["securityContext"]["runAsNonRoot"] is True


def mounted_secrets(spec: dict[str, Any]) -> dict[str, str]:
    """Secret name → the file path the container sees it at."""
    mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
    return {v["secret"]["secretName"]: f"{mounts[v['name']]}/{v['secret']['items'][0]['path']}"
            for v in spec["volumes"] if "secret" in v}


def test_a_team_secret_is_mounted_where_webhook_ingest_looks_for_team_secrets() -> None:
    from tekton_dag.webhooks import secrets as webhook_secrets

    spec = one(render(sets=["team.webhookSecret=team-hook"]), "Service", "webhook-ingest")["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    team_dir = env[webhook_secrets.TEAM_SECRETS_DIR_ENV]
    assert mounted_secrets(spec)["team-hook"] == f"{team_dir}/team-hook/{webhook_secrets.TEAM_SECRET_KEY}"
    assert webhook_secrets.SHARED_ENV not in env and webhook_secrets.SHARED_FILE_ENV not in env


def test_without_a_team_secret_the_shared_secret_is_a_mounted_file() -> None:
    from tekton_dag.functions import webhook_ingest
    from tekton_dag.webhooks import secrets as webhook_secrets

    spec = one(render(), "Service", "webhook-ingest")["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    files = mounted_secrets(spec)
    assert env[webhook_secrets.SHARED_FILE_ENV] == files["tekton-dag-github-webhook"]
    assert env[webhook_ingest.API_TOKEN_FILE_ENV] == files["tekton-dag-api-token"]
    assert webhook_secrets.SHARED_ENV not in env, "secret values never go into env from values"


def test_registry_credentials_reach_bootstrap_batcher_as_the_file_it_reads() -> None:
    from tekton_dag.oci import credentials

    spec = one(render(sets=["secrets.registry.name=regcred"]), "Service", "bootstrap-batcher")["spec"]["template"][
        "spec"
    ]
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert env[credentials.AUTH_FILE_ENV] == mounted_secrets(spec)["regcred"]


def test_all_in_one_mode_is_one_service_and_no_eventing() -> None:
    docs = render(sets=["mode=all-in-one"])
    (ksvc,) = find(docs, "Service")
    assert ksvc["metadata"]["name"] == "tekton-dag"
    assert annotations(ksvc)["autoscaling.knative.dev/max-scale"] == "1"
    assert not [d for d in docs if d["apiVersion"].startswith(("eventing.knative.dev", "sources.knative.dev"))]
    assert find(docs, "Task") and find(docs, "Pipeline")


def test_the_all_in_one_keeps_its_journal_and_dead_letters_on_an_emptydir() -> None:
    """Every acked webhook waits in the journal until it is delivered: on the container's own
    file system a restart (crash, OOM kill, failed liveness probe) would start without it."""
    from tekton_dag.bus.journal import JOURNAL_ENV
    from tekton_dag.functions import all_in_one

    spec = one(render(sets=["mode=all-in-one"]), "Service", "tekton-dag")["spec"]["template"]["spec"]
    container = spec["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    journal = PurePosixPath(env.get(JOURNAL_ENV) or all_in_one.DEFAULT_JOURNAL)
    dead_letters = PurePosixPath(env.get(all_in_one.DEAD_LETTER_ENV) or all_in_one.DEFAULT_DEAD_LETTER_FILE)
    empty_dirs = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
    mounts = {PurePosixPath(m["mountPath"]): m for m in container["volumeMounts"] if m["name"] in empty_dirs}
    for path in (journal, dead_letters):
        assert path.parent in mounts, f"{path} is on no emptyDir volume: {sorted(map(str, mounts))}"
        assert not mounts[path.parent].get("readOnly")
    distributed = render()
    assert not [v for d in find(distributed, "Service") for v in d["spec"]["template"]["spec"].get("volumes", [])
                if "emptyDir" in v]  # the chain's functions keep no state on disk


def test_extra_env_reaches_only_its_function() -> None:
    docs = render(sets=["functions.runCreator.env.TEKTON_DAG_RECONCILE_SECONDS=30"])
    env = {
        e["name"]: e["value"]
        for e in one(docs, "Service", "run-creator")["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    assert env["TEKTON_DAG_RECONCILE_SECONDS"] == "30"
    other = one(docs, "Service", "resolver")["spec"]["template"]["spec"]["containers"][0]["env"]
    assert "TEKTON_DAG_RECONCILE_SECONDS" not in {e["name"] for e in other}
