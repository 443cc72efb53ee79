"""Both Kubernetes doubles refuse what a real API server refuses, with its answer.

The tests' fake API and the dry-run store behind ``tekton-dag dev`` share one module of limits
(``tekton_dag.kube.apilimits``); each limit is checked here through the real client (fake API)
and through the run-creator's store interface (dry run), with the same message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from runcreator.conftest import NAMESPACE, pr_request
from support.kube import official_client
from tekton_dag.config.building import go_duration_nanoseconds, is_go_duration
from tekton_dag.config.checks import duration_problems
from tekton_dag.config.models import Config
from tekton_dag.kube import apilimits
from tekton_dag.kube.errors import PermanentApiError, TransientApiError
from tekton_dag.kube.stores import LEDGER_ANNOTATION, DirectoryStore
from tekton_dag.pipelineruns import build_pipelinerun
from tekton_dag.testing import go_durations
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import RunCreator

G, V, P = "tekton.dev", "v1", "pipelineruns"
LONG_VALUE = "a" * 64
LABEL_RULE = ("a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and "
              "must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', "
              "regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')")


@pytest.fixture
def objects(kube_api: FakeKubeApi) -> Iterator[client.CustomObjectsApi]:
    api_client = official_client()  # KUBECONFIG points at the fake (as the cluster admin)
    yield client.CustomObjectsApi(api_client)
    api_client.close()


def a_run(config: Config, name: str = "r1", labels: dict[str, str] | None = None,
          annotations: dict[str, str] | None = None) -> dict[str, Any]:
    team = config.team("default")
    run = build_pipelinerun(pr_request(), team, team.stack("stack-one"))
    run["metadata"]["name"] = name
    run["metadata"]["labels"].update(labels or {})
    run["metadata"].setdefault("annotations", {}).update(annotations or {})
    return run


def status(exc: pytest.ExceptionInfo[ApiException]) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(exc.value.body)
    assert body["kind"] == "Status" and body["code"] == exc.value.status
    return body


def test_a_label_value_over_63_characters_is_422_with_its_cause(
    objects: client.CustomObjectsApi, config: Config
) -> None:
    with pytest.raises(ApiException) as exc:
        objects.create_namespaced_custom_object(
            G, V, NAMESPACE, P, a_run(config, labels={"tekton-dag.dev/pr": LONG_VALUE})
        )
    body = status(exc)
    assert (body["code"], body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        f'PipelineRun.tekton.dev "r1" is invalid: metadata.labels: Invalid value: "{LONG_VALUE}": '
        "must be no more than 63 characters"
    )
    assert body["details"] == {"name": "r1", "group": "tekton.dev", "kind": "PipelineRun", "causes": [
        {"reason": "FieldValueInvalid", "field": "metadata.labels",
         "message": f'Invalid value: "{LONG_VALUE}": must be no more than 63 characters'}]}


@pytest.mark.parametrize(
    ("labels", "annotations", "fragment"),
    [
        ({"team": "a b"}, {}, f'metadata.labels: Invalid value: "a b": {LABEL_RULE}'),
        (
            {"-bad": "x"},
            {},
            'metadata.labels: Invalid value: "-bad": name part must consist of alphanumeric characters',
        ),
        ({"Example.com/x": "y"}, {}, 'Invalid value: "Example.com/x": prefix part a lowercase RFC 1123 subdomain'),
        ({"a/b/c": "y"}, {}, 'Invalid value: "a/b/c": a valid label key must consist of'),
        ({}, {"bad key!": "x"}, 'metadata.annotations: Invalid value: "bad key!": name part must consist'),
        ({}, {"x": "y" * (256 * 1024)}, "metadata.annotations: Too long: must have at most 262144 bytes"),
    ],
    ids=[
        "label value chars",
        "label key chars",
        "label key prefix",
        "label key slashes",
        "annotation key",
        "annotation size",
    ],
)
def test_label_and_annotation_limits(
    objects: client.CustomObjectsApi, config: Config, labels: dict[str, str], annotations: dict[str, str], fragment: str
) -> None:
    with pytest.raises(ApiException) as exc:
        objects.create_namespaced_custom_object(
            G, V, NAMESPACE, P, a_run(config, labels=labels, annotations=annotations)
        )
    body = status(exc)
    assert body["code"] == 422 and fragment in body["message"], body["message"]
    assert body["details"]["causes"] and all(c["field"] in body["message"] for c in body["details"]["causes"])


def test_names_follow_dns_1123_and_tektons_webhook(objects: client.CustomObjectsApi, config: Config) -> None:
    with pytest.raises(ApiException) as exc:
        objects.create_namespaced_custom_object(G, V, NAMESPACE, P, a_run(config, name="Run_1"))
    body = status(exc)
    assert body["code"] == 422 and body["message"].startswith(
        'PipelineRun.tekton.dev "Run_1" is invalid: metadata.name: Invalid value: "Run_1": '
        "a lowercase RFC 1123 subdomain"
    )
    with pytest.raises(ApiException) as exc:  # a valid subdomain, but Tekton's webhook allows 63 characters
        objects.create_namespaced_custom_object(G, V, NAMESPACE, P, a_run(config, name="r" * 64))
    body = status(exc)
    assert (body["code"], body["reason"]) == (400, "BadRequest")
    assert body["message"] == (
        'admission webhook "validation.webhook.pipeline.tekton.dev" denied the request: validation '
        "failed: Invalid resource name: length must be no more than 63 characters: metadata.name"
    )
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "a.b"}, "spec": {}}
    objects.create_namespaced_custom_object("coordination.k8s.io", "v1", NAMESPACE, "leases", lease)  # dots: fine
    lease["metadata"]["name"] = "a" * 254
    with pytest.raises(ApiException) as exc:
        objects.create_namespaced_custom_object("coordination.k8s.io", "v1", NAMESPACE, "leases", lease)
    assert status(exc)["message"].endswith("must be no more than 253 characters")


@pytest.mark.parametrize(("timeouts", "said"), [
    ({"pipeline": "30m", "tasks": "50m0s", "finally": "10m0s"}, "50m0s should be <= pipeline duration"),
    ({"pipeline": "1h", "tasks": "55m", "finally": "10m"}, "55m + 10m should be <= pipeline duration"),
    ({"pipeline": "1h", "tasks": "0s"}, "0s should be <= pipeline duration: spec.timeouts.tasks"),
    ({"tasks": "2h"}, "2h should be <= default timeout duration"),
])
def test_tektons_webhook_refuses_timeouts_that_do_not_nest(objects: client.CustomObjectsApi, config: Config,
                                                            timeouts: dict[str, str], said: str) -> None:
    run = a_run(config, name="timeouts")
    run["spec"]["timeouts"] = timeouts
    with pytest.raises(ApiException) as exc:
        objects.create_namespaced_custom_object(G, V, NAMESPACE, P, run)
    body = status(exc)
    assert (body["code"], body["reason"]) == (400, "BadRequest") and said in body["message"], body["message"]
    run["spec"]["timeouts"] = {"pipeline": "1h0m0s", "tasks": "50m0s", "finally": "10m0s"}  # the defaults nest
    objects.create_namespaced_custom_object(G, V, NAMESPACE, P, run)


# Durations at Go's edge (time.Duration: 2**63 - 1 ns = 2562047h47m16.854775807s), in the forms the
# configuration's schema admits, each unit's last value and the first past it.
GO_EDGES = ["2562047h47m16.854775807s", "2562047h47m16.854775808s", "2562047h47m16.8547758079999s", "2562048h",
            "2562047h48m", "153722867m", "153722868m", "9223372036s", "9223372037s", "9223372036854ms",
            "9223372036855ms", "2562047.7880152155h", "2562047.788015216h", "0000000000000000000001h",
            "9223372036854775808ms", "99999999999999999999h", "1.5h", "1h0m0s"]


def test_config_and_tektons_webhook_read_durations_alike_at_gos_edge(objects: client.CustomObjectsApi,
                                                                        config: Config) -> None:
    """What ``tekton-dag validate`` lets through, Tekton's webhook (the double: Go's ParseDuration
    ported on its own) takes, as the same number of nanoseconds; what it refuses, the webhook refuses."""
    for number, value in enumerate(GO_EDGES):
        nanoseconds = go_duration_nanoseconds(value)
        assert is_go_duration(value) and list(duration_problems(
            {"pipelineRuns": {"timeouts": {"pipeline": value}}}, "team.yaml")) == ([] if nanoseconds else [ANY])
        run = a_run(config, name=f"edge-{number}")
        run["spec"]["timeouts"] = {"pipeline": value}
        if nanoseconds is not None:
            assert go_durations.parse_duration(value) == nanoseconds, value
            objects.create_namespaced_custom_object(G, V, NAMESPACE, P, run)
            continue
        with pytest.raises(ApiException) as exc:
            objects.create_namespaced_custom_object(G, V, NAMESPACE, P, run)
        assert status(exc)["message"] == (
            'admission webhook "webhook.pipeline.tekton.dev" denied the request: mutation failed: cannot decode '
            f'incoming new object: time: invalid duration "{value}"')


def test_sizes_past_etcd_and_past_the_request_limit(kube_api: FakeKubeApi) -> None:
    api_client = official_client()
    core = client.CoreV1Api(api_client)

    def config_map(size: int) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "big"}, "data": {"x": "y" * size}}

    with pytest.raises(ApiException) as exc:  # a ConfigMap holds at most 1 MiB of data (ValidateConfigMap)
        core.create_namespaced_config_map(NAMESPACE, config_map(1024 * 1024 + 1))
    assert (status(exc)["code"], status(exc)["message"]) == (
        422, 'ConfigMap "big" is invalid: []: Too long: must have at most 1048576 bytes')
    fits = config_map(1024 * 1024)
    fits["metadata"]["name"] = "fits"
    core.create_namespaced_config_map(NAMESPACE, fits)  # exactly 1 MiB (values count, not keys)
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "big"},
             "spec": {"holderIdentity": "y" * (1536 * 1024)}}
    with pytest.raises(ApiException) as exc:  # stored JSON over 1.5 MiB: etcd refuses, the API server says so
        client.CustomObjectsApi(api_client).create_namespaced_custom_object(
            "coordination.k8s.io", "v1", NAMESPACE, "leases", lease)
    assert status(exc) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                           "message": "etcdserver: request is too large", "code": 500}
    with pytest.raises(ApiException) as exc:  # a body over 3 MiB is not even read
        core.create_namespaced_config_map(NAMESPACE, config_map(3 * 1024 * 1024))
    body = status(exc)
    assert (body["code"], body["reason"], body["message"]) == (
        413, "RequestEntityTooLarge", "Request entity too large: limit is 3145728")
    core.create_namespaced_config_map(NAMESPACE, config_map(1024 * 1024))  # 1 MiB is fine
    api_client.close()


# kube-apiserver's answer to an empty Secret key, as a conformance suite recorded it (Secrets and
# ConfigMaps share IsConfigMapKey): the text the fake must give, two spaces included.
CONFIG_KEY_RULE = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  "
                   "or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')")


@pytest.mark.parametrize(("key", "errors"), [
    ("stacks/a.yaml", [CONFIG_KEY_RULE]),
    ("", [CONFIG_KEY_RULE]),
    ("..data", ["must not start with '..'"]),
    ("..", ["must not be '..'"]),
    ("k" * 254, ["must be no more than 253 characters"]),
], ids=["slash", "empty", "dot-dot prefix", "dot-dot", "254 characters"])
def test_a_config_map_key_kubernetes_refuses_is_422_naming_the_key(kube_api: FakeKubeApi, key: str,
                                                                    errors: list[str]) -> None:
    api_client = official_client()
    core = client.CoreV1Api(api_client)
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(NAMESPACE, {"apiVersion": "v1", "kind": "ConfigMap",
                                                      "metadata": {"name": "keys"}, "data": {"ok.yaml": "", key: "x"}})
    body = status(exc)
    shown = [f'data[{key}]: Invalid value: "{key}": {e}' for e in errors]
    assert (body["code"], body["reason"]) == (422, "Invalid")
    listed = shown[0] if len(shown) == 1 else f"[{', '.join(shown)}]"
    assert body["message"] == f'ConfigMap "keys" is invalid: {listed}'
    assert [c["field"] for c in body["details"]["causes"]] == [f"data[{key}]"] * len(errors)
    core.create_namespaced_config_map(NAMESPACE, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keys"},
                                                  "data": {"ok.yaml": "", "stacks__a.yaml": "x", "k" * 253: "y"}})
    api_client.close()


def test_a_pr_number_beyond_any_label_fails_the_run_instead_of_making_it(kube_api: FakeKubeApi, config: Config) -> None:
    """10^70 as a PR number makes a 71-character label value: a real API server refuses the run."""
    team = config.team("default")
    run = build_pipelinerun(pr_request(number=10**70), team, team.stack("stack-one"))
    assert len(run["metadata"]["labels"]["tekton-dag.dev/pr"]) == 71
    api_client = official_client()
    with pytest.raises(ApiException) as exc:
        client.CustomObjectsApi(api_client).create_namespaced_custom_object(G, V, NAMESPACE, P, run)
    api_client.close()
    assert status(exc)["code"] == 422 and "metadata.labels: Invalid value" in status(exc)["message"]


# --- the dry-run store behind `tekton-dag dev` refuses the same --------------------------------
async def test_the_dry_run_store_refuses_what_the_api_server_refuses(tmp_path: Path, config: Config) -> None:
    store = DirectoryStore(tmp_path)
    with pytest.raises(PermanentApiError) as refused:
        await store.create_run(a_run(config, labels={"tekton-dag.dev/pr": LONG_VALUE}))
    assert refused.value.status == 422
    assert refused.value.message == (
        f'create PipelineRun {NAMESPACE}/r1: PipelineRun.tekton.dev "r1" is invalid: metadata.labels: '
        f'Invalid value: "{LONG_VALUE}": must be no more than 63 characters')
    assert not list(tmp_path.rglob("*.yaml"))  # nothing half-written
    assert await store.create_run(a_run(config))
    with pytest.raises(PermanentApiError, match=r"metadata.annotations: Invalid value"):
        await store.patch_run(NAMESPACE, "r1", {"metadata": {"annotations": {"no spaces": "x"}}})
    with pytest.raises(TransientApiError, match="etcdserver: request is too large"):
        await store.patch_run(NAMESPACE, "r1", {"spec": {"params": [{"name": "x", "value": "y" * 1600 * 1024}]}})
    with pytest.raises(PermanentApiError, match="Too long: must have at most 262144 bytes"):
        await store.write_ledger(NAMESPACE, "ledger", "x" * (256 * 1024), None)  # the Lease annotation's limit
    assert await store.read_ledger(NAMESPACE, "ledger") == (None, None)


async def test_tekton_dag_dev_fails_a_run_a_cluster_would_refuse(tmp_path: Path, config: Config) -> None:
    rc = RunCreator(lambda: config, DirectoryStore(tmp_path))
    outcome = await rc.request(pr_request(number=10**70))
    assert outcome.kind == "failed" and "must be no more than 63 characters" in outcome.reason
    assert not list(tmp_path.rglob("*.yaml"))


def test_the_limits_measure_what_kubernetes_measures() -> None:
    assert apilimits.label_value("a" * 63) == [] and apilimits.label_value("") == []
    assert apilimits.label_key("tekton-dag.dev/pr") == [] and apilimits.label_key("a" * 63) == []
    assert apilimits.label_key("a" * 64) == ["name part must be no more than 63 characters"]
    assert apilimits.dns1123_label("a.b") == ["must not contain dots"]
    assert apilimits.annotations_size({"k": "é"}) == 3  # bytes, as Go's len counts them
    annotations = {LEDGER_ANNOTATION: "x" * (256 * 1024 - len(LEDGER_ANNOTATION))}
    assert apilimits.metadata_causes({"name": "l", "annotations": annotations}) == []
    annotations[LEDGER_ANNOTATION] += "x"
    assert [c.reason for c in apilimits.metadata_causes({"name": "l", "annotations": annotations})] == [
        "FieldValueTooLong"
    ]
