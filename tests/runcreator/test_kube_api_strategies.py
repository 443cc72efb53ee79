"""The fake API follows each kind's registry strategy as kube-apiserver does: which kinds a PUT
creates, which kinds have a ``metadata.generation``, how a failed delete precondition is worded,
and what a PipelineRun's ``/status`` accepts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from runcreator.test_kube_api import NS, G, P, V, run, status_of
from support.kube import official_client
from tekton_dag.config.models import Config
from tekton_dag.kube import events as kube_events
from tekton_dag.testing.kube_api import FakeKubeApi

LEASES = ("coordination.k8s.io", "v1", NS, "leases")


@pytest.fixture
def objects(kube_api: FakeKubeApi) -> Iterator[client.CustomObjectsApi]:
    api_client = official_client()
    yield client.CustomObjectsApi(api_client)
    api_client.close()


@pytest.fixture
def free_objects(tekton_free_api: FakeKubeApi) -> Iterator[client.CustomObjectsApi]:
    """The API without its instant Tekton: a run's status is only what a test writes."""
    api_client = official_client()
    yield client.CustomObjectsApi(api_client)
    api_client.close()


def lease(name: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": name, **metadata},
            "spec": {"holderIdentity": "me"}}


def config_map(name: str, **metadata: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, **metadata}, "data": {"k": "1"}}


def put(objects: client.CustomObjectsApi, group: str, plural: str, name: str, body: dict[str, Any]) -> tuple[dict, int]:
    """(answer, status) of a PUT: the generated client maps only a 200 answer to a body."""
    answer = objects.replace_namespaced_custom_object(group, "v1", NS, plural, name, body, _preload_content=False)
    return json.loads(answer.data), answer.status


# --- PUT to a name nobody holds ------------------------------------------------------------------
def test_a_put_creates_a_lease_or_an_event_and_is_404_for_a_config_map_or_a_pipelinerun(
    objects: client.CustomObjectsApi, config: Config
) -> None:
    """apiserver registry/store.go ``Update``: the strategy's ``AllowCreateOnUpdate`` decides.
    Leases and Events: true (the create path; a resourceVersion sent is dropped), 201 Created.
    ConfigMaps and custom resources: false, 404 NotFound."""
    created, code = put(objects, "coordination.k8s.io", "leases", "fresh", lease("fresh", resourceVersion="4242"))
    assert code == 201 and created["metadata"]["uid"] and created["metadata"]["creationTimestamp"]
    assert created["metadata"]["resourceVersion"] != "4242" and "generation" not in created["metadata"]
    assert objects.get_namespaced_custom_object(*LEASES, "fresh")["spec"] == {"holderIdentity": "me"}
    again, code = put(objects, "coordination.k8s.io", "leases", "fresh", created)
    assert code == 200 and again["metadata"]["uid"] == created["metadata"]["uid"]

    event = kube_events.event_body(kube_events.pipelinerun_ref(NS, "r"), "Queued", "Queue", "waits", "Normal", "rc-0")
    event["metadata"]["name"] = "e1"
    assert put(objects, "events.k8s.io", "events", "e1", event)[1] == 201

    core = client.CoreV1Api(objects.api_client)
    with pytest.raises(ApiException) as missing:
        core.replace_namespaced_config_map("c", NS, config_map("c"))
    assert status_of(missing) == (404, "NotFound", 'configmaps "c" not found')
    core.create_namespaced_config_map(NS, config_map("c"))
    with pytest.raises(ApiException) as taken:
        core.create_namespaced_config_map(NS, config_map("c"))
    assert status_of(taken) == (409, "AlreadyExists", 'configmaps "c" already exists')
    with pytest.raises(ApiException) as missing:
        objects.replace_namespaced_custom_object(G, V, NS, P, "r", run(config, name="r"))
    assert status_of(missing) == (404, "NotFound", 'pipelineruns.tekton.dev "r" not found')


def test_a_put_that_would_create_still_checks_the_name_the_uid_and_the_object(objects: client.CustomObjectsApi) -> None:
    """handlers/rest.go ``checkName`` first (400); then the body's uid, a precondition the empty
    stored object fails (etcd3 store ``GuaranteedUpdate``: 409 with the storage error); then the
    create's own validation (422)."""
    with pytest.raises(ApiException) as exc:
        objects.replace_namespaced_custom_object(*LEASES, "l", lease("other"))
    assert status_of(exc) == (400, "BadRequest",
                              "the name of the object (other) does not match the name on the URL (l)")
    with pytest.raises(ApiException) as exc:
        objects.replace_namespaced_custom_object(*LEASES, "l", lease("l", uid="u-1"))
    assert status_of(exc) == (409, "Conflict", 'Operation cannot be fulfilled on leases.coordination.k8s.io "l": '
                                               "StorageError: invalid object, Code: 4, Key: /registry/leases/"
                                               f"{NS}/l, ResourceVersion: 0, AdditionalErrorMsg: Precondition "
                                               "failed: UID in precondition: u-1, UID in object meta: ")
    with pytest.raises(ApiException) as exc:
        objects.replace_namespaced_custom_object(*LEASES, "l", lease("l", labels={"bad key!": "v"}))
    assert status_of(exc)[:2] == (422, "Invalid")
    assert objects.list_namespaced_custom_object(*LEASES)["items"] == []


def test_a_put_that_creates_needs_the_create_verb_too(kube_api: FakeKubeApi) -> None:
    """handlers/update.go ``withAuthorization``: a create on update is authorized again as
    ``create``; without it, 403 with the authorizer's reason (RBAC's is empty)."""
    documents: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "updater", "namespace": NS}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "update", "namespace": NS},
         "rules": [{"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "verbs": ["get", "update"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "update", "namespace": NS},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "update"},
         "subjects": [{"kind": "ServiceAccount", "name": "updater", "namespace": NS}]},
    ]
    with FakeKubeApi(rbac_documents=documents) as api:
        path = api.kubeconfig_for(NS, "updater")
        api_client = kube_config.new_client_from_config(config_file=str(path))
        try:
            with pytest.raises(ApiException) as exc:
                client.CustomObjectsApi(api_client).replace_namespaced_custom_object(*LEASES, "l", lease("l"))
        finally:
            api_client.close()
        assert status_of(exc) == (403, "Forbidden", 'leases.coordination.k8s.io "l" is forbidden: ')
        assert json.loads(exc.value.body)["details"] == {"name": "l", "group": "coordination.k8s.io", "kind": "leases"}
        assert api.get("leases", NS, "l") is None


# --- metadata.generation ------------------------------------------------------------------------
def test_built_in_kinds_keep_the_generation_they_were_created_with(objects: client.CustomObjectsApi) -> None:
    """The Lease, ConfigMap and Event strategies never set a generation (their PrepareForCreate
    and PrepareForUpdate leave it alone), and rest/update.go ``BeforeUpdate`` keeps the stored
    one: none unless the creator sent one, and no update changes it."""
    created = objects.create_namespaced_custom_object(*LEASES, lease("l"))
    assert "generation" not in created["metadata"]
    changed = objects.patch_namespaced_custom_object(*LEASES, "l", {"spec": {"holderIdentity": "you"}})
    assert "generation" not in changed["metadata"]
    replaced = objects.replace_namespaced_custom_object(
        *LEASES, "l", {**changed, "metadata": {**changed["metadata"], "generation": 7}})
    assert "generation" not in replaced["metadata"]

    core = client.CoreV1Api(objects.api_client)
    kept = core.create_namespaced_config_map(NS, config_map("c", generation=3))
    assert kept.metadata.generation == 3
    patched = core.patch_namespaced_config_map("c", NS, {"data": {"k": "2"}, "metadata": {"generation": 9}},
                                               _content_type="application/merge-patch+json")
    assert patched.metadata.generation == 3


def test_a_negative_generation_is_refused_on_a_built_in_kind_and_replaced_on_a_custom_resource(
    objects: client.CustomObjectsApi, config: Config
) -> None:
    """apimachinery ``ValidateObjectMetaAccessor`` refuses a negative generation
    (``ValidateNonnegativeField``: 422). A built-in kind keeps what it was sent, so it reaches that
    check; a custom resource's strategy sets 1 in ``PrepareForCreate``, which ``BeforeCreate``
    runs before validating, so the same body is created with generation 1."""
    with pytest.raises(ApiException) as exc:
        objects.create_namespaced_custom_object(*LEASES, lease("l", generation=-1))
    negative = "Invalid value: -1: must be greater than or equal to 0"
    message = f'Lease.coordination.k8s.io "l" is invalid: metadata.generation: {negative}'
    assert status_of(exc) == (422, "Invalid", message)
    assert json.loads(exc.value.body)["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "message": negative, "field": "metadata.generation"}]
    core = client.CoreV1Api(objects.api_client)
    with pytest.raises(ApiException) as exc:
        core.create_namespaced_config_map(NS, config_map("c", generation=-5))
    assert status_of(exc)[:2] == (422, "Invalid")
    assert core.create_namespaced_config_map(NS, config_map("c", generation=0)).metadata.generation == 0

    body = run(config, name="negative")
    body["metadata"]["generation"] = -3
    assert objects.create_namespaced_custom_object(G, V, NS, P, body)["metadata"]["generation"] == 1


# --- delete preconditions -----------------------------------------------------------------------
def test_a_failed_delete_precondition_is_worded_as_before_delete_words_it(
    objects: client.CustomObjectsApi, config: Config
) -> None:
    """apiserver registry/rest/delete.go ``BeforeDelete``: a 409 Conflict on the object's kind
    (``GroupResource{gvk.Group, gvk.Kind}``) before anything is deleted."""
    uid = objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="gone"))["metadata"]["uid"]
    with pytest.raises(ApiException) as exc:
        objects.delete_namespaced_custom_object(G, V, NS, P, "gone", body={"preconditions": {"uid": "someone-else"}})
    assert status_of(exc) == (409, "Conflict", 'Operation cannot be fulfilled on PipelineRun.tekton.dev "gone": the '
                                               f"UID in the precondition (someone-else) does not match the UID in "
                                               f"record ({uid}). The object might have been deleted and then recreated")
    assert json.loads(exc.value.body)["details"] == {"name": "gone", "group": "tekton.dev", "kind": "PipelineRun"}

    core = client.CoreV1Api(objects.api_client)
    version = core.create_namespaced_config_map(NS, config_map("c")).metadata.resource_version
    with pytest.raises(ApiException) as exc:
        core.delete_namespaced_config_map("c", NS, body={"preconditions": {"resourceVersion": "1"}})
    assert status_of(exc) == (409, "Conflict", 'Operation cannot be fulfilled on ConfigMap "c": the ResourceVersion '
                                               f"in the precondition (1) does not match the ResourceVersion in record "
                                               f"({version}). The object might have been modified")
    with pytest.raises(ApiException) as exc:  # an empty uid is a precondition too (a non-nil pointer)
        core.delete_namespaced_config_map("c", NS, body={"preconditions": {"uid": ""}})
    assert status_of(exc)[:2] == (409, "Conflict")
    done = core.delete_namespaced_config_map("c", NS, body={"preconditions": {"resourceVersion": version}})
    assert done["status"] == "Success" and done["details"]["uid"]  # registry/store.go finalizeDelete


# --- a PipelineRun's /status --------------------------------------------------------------------
@pytest.mark.parametrize("status, field", [
    ({"startTime": 5}, "status.startTime"),
    ({"conditions": [{"status": "True", "reason": "Succeeded"}]}, "status.conditions[0]"),
    ({"childReferences": "none"}, "status.childReferences"),
], ids=["a time that is no string", "a condition without its type", "a list that is no list"])
def test_a_status_write_is_checked_against_the_crds_status_schema(
    free_objects: client.CustomObjectsApi, tekton_free_api: FakeKubeApi, config: Config, status: dict[str, Any],
    field: str,
) -> None:
    """tektoncd/pipeline config/300-crds/300-pipelinerun.yaml gives v1 ``status`` a structural
    schema; apiextensions-apiserver customresource/status_strategy.go ``ValidateUpdate`` checks a
    ``/status`` write against it: 422 Invalid naming the field, nothing written."""
    if tekton_free_api.schema_dir is None:
        pytest.skip("Tekton schema absent (../shared/schemas): the fake cannot validate fields")
    current = free_objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="r"))
    for write in ("patch", "replace"):
        with pytest.raises(ApiException) as exc:
            if write == "patch":
                free_objects.patch_namespaced_custom_object_status(G, V, NS, P, "r", {"status": status})
            else:
                free_objects.replace_namespaced_custom_object_status(G, V, NS, P, "r", {**current, "status": status})
        code, reason, message = status_of(exc)
        assert (code, reason) == (422, "Invalid")
        assert message.startswith(f'PipelineRun.tekton.dev "r" is invalid: {field}')
        assert json.loads(exc.value.body)["details"]["causes"][0]["field"] == field
    assert "status" not in free_objects.get_namespaced_custom_object(G, V, NS, P, "r")


def test_a_status_write_with_fields_the_schema_does_not_know_is_accepted(
    free_objects: client.CustomObjectsApi, config: Config
) -> None:
    """Unknown fields are pruned by a real apiserver, not refused: the fake lets them through."""
    free_objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="r"))
    status = {"startTime": "2026-12-03T10:00:00Z", "conditions": [{"type": "Succeeded", "status": "Unknown"}],
              "somethingNew": {"a": 1}}
    assert free_objects.patch_namespaced_custom_object_status(G, V, NS, P, "r", {"status": status})["status"] == status
