"""The fake Kubernetes API answers the real client as a kube-apiserver would."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from runcreator.conftest import pr_request
from support.kube import official_client
from tekton_dag.config.models import Config
from tekton_dag.pipelineruns import build_pipelinerun
from tekton_dag.testing.kube_api import FakeKubeApi

G, V, P, NS = "tekton.dev", "v1", "pipelineruns", "team-a"


@pytest.fixture
def objects(kube_api: FakeKubeApi) -> Iterator[client.CustomObjectsApi]:
    api_client = official_client()  # KUBECONFIG points at the fake; urllib3's own retries are off
    yield client.CustomObjectsApi(api_client)
    api_client.close()


def run(config: Config, name: str = "", generate: str = "", labels: dict[str, str] | None = None) -> dict:
    team = config.team("default")
    body = build_pipelinerun(pr_request(), team, team.stack("stack-one"))
    body["metadata"] = {
        "namespace": NS,
        "labels": labels or {},
        **({"name": name} if name else {"generateName": generate}),
    }
    return body


def status_of(exc: pytest.ExceptionInfo[ApiException]) -> tuple[int, str, str]:
    body = json.loads(exc.value.body)
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == exc.value.status
    return exc.value.status, body["reason"], body["message"]


def test_create_answers_201_with_server_fields_and_generated_names(
    objects: client.CustomObjectsApi, config: Config
) -> None:
    created = objects.create_namespaced_custom_object(G, V, NS, P, run(config, generate="stack-pr-"))
    metadata = created["metadata"]
    assert metadata["name"].startswith("stack-pr-") and len(metadata["name"]) == len("stack-pr-") + 5
    assert metadata["uid"] and metadata["resourceVersion"] and metadata["creationTimestamp"].endswith("Z")


def test_conflicts_missing_objects_and_invalid_objects_get_status_bodies(
    objects: client.CustomObjectsApi, kube_api: FakeKubeApi, config: Config
) -> None:
    objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="r1"))
    with pytest.raises(ApiException) as exc:
        objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="r1"))
    assert status_of(exc)[:2] == (409, "AlreadyExists")
    with pytest.raises(ApiException) as exc:
        objects.get_namespaced_custom_object(G, V, NS, P, "nope")
    assert status_of(exc)[:2] == (404, "NotFound")
    bad = run(config, name="r2")
    bad["spec"]["pipelineReff"] = {"name": "x"}
    with pytest.raises(ApiException) as exc:
        objects.create_namespaced_custom_object(G, V, NS, P, bad)
    code, reason, message = status_of(exc)
    if kube_api.schema_dir is None:
        pytest.skip("Tekton schema absent (../shared/schemas): the fake cannot validate fields")
    assert (code, reason) == (422, "Invalid") and "pipelineReff" in message


def test_list_filters_by_label_selector_and_names_its_kind(objects: client.CustomObjectsApi, config: Config) -> None:
    for name, team in (("a", "x"), ("b", "y"), ("c", "x")):
        objects.create_namespaced_custom_object(G, V, NS, P, run(config, name=name, labels={"team": team}))
    listed = objects.list_namespaced_custom_object(G, V, NS, P, label_selector="team=x")
    assert listed["kind"] == "PipelineRunList" and [i["metadata"]["name"] for i in listed["items"]] == ["a", "c"]
    assert [
        i["metadata"]["name"]
        for i in objects.list_namespaced_custom_object(G, V, NS, P, label_selector="team!=x")["items"]
    ] == ["b"]


def test_patches_honour_resource_version_preconditions(objects: client.CustomObjectsApi, config: Config) -> None:
    held = run(config, name="r")
    held["spec"]["status"] = "PipelineRunPending"  # only before it starts: Tekton refuses it on a started run
    created = objects.create_namespaced_custom_object(G, V, NS, P, held)
    stale = created["metadata"]["resourceVersion"]
    objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"metadata": {"annotations": {"a": "b"}}})
    with pytest.raises(ApiException) as exc:
        objects.patch_namespaced_custom_object(
            G, V, NS, P, "r", {"metadata": {"resourceVersion": stale}, "spec": {"status": None}}
        )
    assert status_of(exc)[:2] == (409, "Conflict")
    patched = objects.patch_namespaced_custom_object(G, V, NS, P, "r", [{"op": "remove", "path": "/spec/status"}],
                                                      _content_type="application/json-patch+json")
    assert "status" not in patched["spec"]
    objects.delete_namespaced_custom_object(G, V, NS, P, "r")
    with pytest.raises(ApiException):
        objects.get_namespaced_custom_object(G, V, NS, P, "r")


def test_a_failed_json_patch_test_is_a_422_and_changes_nothing(
    objects: client.CustomObjectsApi, config: Config
) -> None:
    created = objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="r"))
    with pytest.raises(ApiException) as exc:
        objects.patch_namespaced_custom_object(
            G, V, NS, P, "r",
            [{"op": "test", "path": "/spec/status", "value": "PipelineRunPending"},
             {"op": "add", "path": "/spec/x", "value": 1}],
            _content_type="application/json-patch+json",
        )
    assert status_of(exc)[:2] == (422, "Invalid")
    after = objects.get_namespaced_custom_object(G, V, NS, P, "r")
    assert after["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"] and "x" not in after["spec"]


def test_tekton_refuses_spec_changes_but_spec_status_and_any_to_a_done_run(
    objects: client.CustomObjectsApi, config: Config, kube_api: FakeKubeApi
) -> None:
    objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="r"))  # instant Tekton starts it
    with pytest.raises(ApiException) as exc:
        objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"spec": {"timeouts": {"pipeline": "2h"}}})
    assert status_of(exc)[:2] == (400, "BadRequest")
    assert "only status updates are allowed: spec" in status_of(exc)[2]
    objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"spec": {"status": "Cancelled"}})  # allowed; now done
    objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"spec": {"status": "Cancelled"}})  # no change: allowed
    objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"metadata": {"annotations": {"a": "b"}}})
    for change in ({"status": None}, {"status": "StoppedRunFinally"}):
        with pytest.raises(ApiException) as exc:
            objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"spec": change})
        assert status_of(exc)[:2] == (400, "BadRequest")
        assert 'admission webhook "validation.webhook.pipeline.tekton.dev" denied the request' in status_of(exc)[2]
        assert "Once the PipelineRun is complete, no updates are allowed" in status_of(exc)[2]
    assert objects.get_namespaced_custom_object(G, V, NS, P, "r")["spec"]["status"] == "Cancelled"


@pytest.mark.parametrize("value", ["Canceled", "Stopped", "pending"])
def test_tekton_refuses_a_spec_status_it_does_not_know(objects: client.CustomObjectsApi, config: Config,
                                                       value: str) -> None:
    body = run(config, name="r")
    body["spec"]["status"] = value
    with pytest.raises(ApiException) as exc:
        objects.create_namespaced_custom_object(G, V, NS, P, body)
    assert status_of(exc) == (400, "BadRequest", 'admission webhook "validation.webhook.pipeline.tekton.dev" denied '
                              f"the request: validation failed: invalid value: {value} should be Cancelled, "
                              "CancelledRunFinally, StoppedRunFinally or PipelineRunPending: spec.status")
    assert objects.list_namespaced_custom_object(G, V, NS, P)["items"] == []
    objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="r"))  # started at once (instant Tekton)
    with pytest.raises(ApiException) as exc:
        objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"spec": {"status": value}})
    assert status_of(exc)[:2] == (400, "BadRequest") and f"invalid value: {value} should be" in status_of(exc)[2]


def test_tekton_refuses_to_hold_a_started_run_pending_again(objects: client.CustomObjectsApi, config: Config,
                                                           kube_api: FakeKubeApi) -> None:
    body = run(config, name="r")
    body["spec"]["status"] = "PipelineRunPending"
    objects.create_namespaced_custom_object(G, V, NS, P, body)  # held: not started
    objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"spec": {"status": None}})  # started
    assert kube_api.running(NS) == ["r"]
    with pytest.raises(ApiException) as exc:
        objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"spec": {"status": "PipelineRunPending"}})
    assert status_of(exc) == (400, "BadRequest", 'admission webhook "validation.webhook.pipeline.tekton.dev" denied '
                              "the request: validation failed: invalid value: PipelineRun cannot be Pending after "
                              "it is started: spec.status")
    assert "status" not in objects.get_namespaced_custom_object(G, V, NS, P, "r")["spec"]


def test_fault_switches_inject_5xx_and_429(objects: client.CustomObjectsApi, kube_api: FakeKubeApi) -> None:
    kube_api.fail(429, retry_after=1)
    with pytest.raises(ApiException) as exc:
        objects.list_namespaced_custom_object(G, V, NS, P)
    assert exc.value.status == 429 and exc.value.headers["Retry-After"] == "1"
    kube_api.fail(503)
    with pytest.raises(ApiException) as exc:
        objects.list_namespaced_custom_object(G, V, NS, P)
    assert exc.value.status == 503
    assert objects.list_namespaced_custom_object(G, V, NS, P)["items"] == []


def test_a_rejected_object_gets_jsonschemas_words(
    objects: client.CustomObjectsApi, kube_api: FakeKubeApi, config: Config
) -> None:
    """fastjsonschema only decides "valid"; a 422 says what jsonschema's Draft4Validator says."""
    if kube_api.schema_dir is None:
        pytest.skip("Tekton schema absent (../shared/schemas): the fake cannot validate fields")
    import jsonschema

    bad = run(config, name="bad")
    bad["spec"]["timeouts"] = {"pipeline": 5}
    bad["spec"]["params"] = "not-a-list"
    schema = json.loads((kube_api.schema_dir / "tekton.dev/pipelinerun_v1.json").read_text())
    errors = sorted(jsonschema.Draft4Validator(schema).iter_errors(bad), key=lambda e: list(e.absolute_path))
    with pytest.raises(ApiException) as exc:
        objects.create_namespaced_custom_object(G, V, NS, P, bad)
    causes = json.loads(exc.value.body)["details"]["causes"]
    assert exc.value.status == 422 and len(causes) == len(errors) == 2
    assert causes == [
        {"reason": "FieldValueInvalid", "field": ".".join(map(str, e.absolute_path)), "message": e.message}
        for e in errors
    ]


def test_max_running_follows_starts_cancels_finishes_and_deletes(
    objects: client.CustomObjectsApi, kube_api: FakeKubeApi, config: Config
) -> None:
    def create(name: str, pending: bool = False) -> None:
        body = run(config, name=name)
        if pending:
            body["spec"]["status"] = "PipelineRunPending"
        objects.create_namespaced_custom_object(G, V, NS, P, body)

    for name in ("r1", "r2", "r3"):
        create(name)
    kube_api.finish(NS, "r1")
    objects.delete_namespaced_custom_object(G, V, NS, P, "r2")
    assert kube_api.running(NS) == ["r3"] and kube_api.max_running[NS] == 3
    create("r4"), create("r5")
    assert kube_api.max_running[NS] == 3
    create("r6")
    assert kube_api.max_running[NS] == 4
    objects.patch_namespaced_custom_object(G, V, NS, P, "r6", {"spec": {"status": "Cancelled"}})
    create("r7", pending=True)
    assert kube_api.pending(NS) == ["r7"] and kube_api.max_running[NS] == 4
    objects.patch_namespaced_custom_object(G, V, NS, P, "r7", {"spec": {"status": None}})
    assert kube_api.max_running[NS] == 4 and kube_api.running(NS) == ["r3", "r4", "r5", "r7"]
    create("r8")
    assert kube_api.max_running[NS] == 5 and kube_api.max_running.get("elsewhere") is None
    assert kube_api.start_order == [f"{NS}/r{i}" for i in (1, 2, 3, 4, 5, 6, 7, 8)]


def test_lists_page_with_limit_and_continue_as_the_apiserver_does(
    objects: client.CustomObjectsApi, config: Config
) -> None:
    for n in range(5):
        objects.create_namespaced_custom_object(G, V, NS, P, run(config, name=f"run-{n}", labels={"k": "v"}))
    first = objects.list_namespaced_custom_object(G, V, NS, P, limit=2)
    assert [i["metadata"]["name"] for i in first["items"]] == ["run-0", "run-1"]
    assert first["metadata"]["remainingItemCount"] == 3 and first["metadata"]["continue"]
    second = objects.list_namespaced_custom_object(
        G, V, NS, P, limit=2, _continue=first["metadata"]["continue"], label_selector="k=v"
    )
    assert [i["metadata"]["name"] for i in second["items"]] == ["run-2", "run-3"]
    assert "remainingItemCount" not in second["metadata"]  # the apiserver omits it under a selector
    last = objects.list_namespaced_custom_object(G, V, NS, P, limit=2, _continue=second["metadata"]["continue"])
    assert [i["metadata"]["name"] for i in last["items"]] == ["run-4"] and not last["metadata"].get("continue")
    with pytest.raises(ApiException) as bad:
        objects.list_namespaced_custom_object(G, V, NS, P, limit=2, _continue="not-a-token")
    assert status_of(bad)[:2] == (400, "BadRequest")


def test_delete_honours_uid_and_resource_version_preconditions(
    objects: client.CustomObjectsApi, config: Config
) -> None:
    created = objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="gone"))
    for preconditions in ({"uid": "someone-else"}, {"resourceVersion": "999999"}):
        with pytest.raises(ApiException) as conflict:
            objects.delete_namespaced_custom_object(G, V, NS, P, "gone", body={"preconditions": preconditions})
        status, reason, message = status_of(conflict)
        assert (status, reason) == (409, "Conflict")
        assert message.startswith('Operation cannot be fulfilled on PipelineRun.tekton.dev "gone": the ')
    objects.delete_namespaced_custom_object(
        G, V, NS, P, "gone", body={"preconditions": {"uid": created["metadata"]["uid"]}}
    )
    with pytest.raises(ApiException) as missing:
        objects.get_namespaced_custom_object(G, V, NS, P, "gone")
    assert missing.value.status == 404


@pytest.fixture
def free_objects(tekton_free_api: FakeKubeApi) -> Iterator[client.CustomObjectsApi]:
    """The API without its instant Tekton: a run's status is only what a test writes."""
    api_client = official_client()
    yield client.CustomObjectsApi(api_client)
    api_client.close()


def test_status_is_a_subresource_of_a_pipelinerun(free_objects: client.CustomObjectsApi, config: Config) -> None:
    """apiextensions-apiserver customresource/strategy.go (create and main-resource updates keep
    the stored status) and status_strategy.go (a status write changes nothing but status)."""
    body = run(config, name="r")
    body["status"] = {"conditions": [{"type": "Succeeded", "status": "True", "reason": "Succeeded"}]}
    assert "status" not in free_objects.create_namespaced_custom_object(G, V, NS, P, body)
    running = {"startTime": "2026-12-03T10:00:00Z", "conditions": [{"type": "Succeeded", "status": "Unknown"}]}
    written = free_objects.patch_namespaced_custom_object_status(
        G, V, NS, P, "r", {"status": running, "metadata": {"labels": {"via": "status"}}, "spec": {"timeouts": None}})
    assert written["status"] == running and "via" not in written["metadata"]["labels"]
    assert written["spec"] == free_objects.get_namespaced_custom_object(G, V, NS, P, "r")["spec"]
    patched = free_objects.patch_namespaced_custom_object(
        G, V, NS, P, "r", {"status": {"startTime": None}, "metadata": {"labels": {"via": "main"}}})
    assert patched["status"] == running and patched["metadata"]["labels"]["via"] == "main"
    replaced = free_objects.replace_namespaced_custom_object(G, V, NS, P, "r", {**patched, "status": {}})
    assert replaced["status"] == running
    assert free_objects.get_namespaced_custom_object_status(G, V, NS, P, "r")["status"] == running
    with pytest.raises(ApiException) as missing:  # Leases have no status subresource
        free_objects.get_namespaced_custom_object_status("coordination.k8s.io", "v1", NS, "leases", "r")
    assert missing.value.status == 404


def test_generation_counts_changes_outside_metadata_and_status(
    free_objects: client.CustomObjectsApi, config: Config
) -> None:
    """customresource/strategy.go: 1 on create, +1 for every change outside metadata (status is
    reset first); a status-subresource write never bumps it."""
    held = run(config, name="r")
    held["spec"]["status"] = "PipelineRunPending"
    assert free_objects.create_namespaced_custom_object(G, V, NS, P, held)["metadata"]["generation"] == 1

    def generation_after(patch: dict, status: bool = False) -> int:
        write = (free_objects.patch_namespaced_custom_object_status if status
                 else free_objects.patch_namespaced_custom_object)
        return write(G, V, NS, P, "r", patch)["metadata"]["generation"]

    assert generation_after({"metadata": {"labels": {"a": "b"}}}) == 1
    assert generation_after({"status": {"startTime": "2026-12-03T10:00:00Z"}}) == 1  # ignored by the main resource
    assert generation_after({"status": {"conditions": []}}, status=True) == 1
    assert generation_after({"spec": {"status": "Cancelled"}}) == 2
    assert generation_after({"spec": {"status": "Cancelled"}}) == 2  # no change


def test_a_put_needs_a_resource_version_where_the_kind_forbids_unconditional_updates(
    objects: client.CustomObjectsApi, config: Config
) -> None:
    """apiserver registry/store.go ``Update``: without ``AllowUnconditionalUpdate`` (custom
    resources, Leases) a PUT without resourceVersion is 422; a ConfigMap's strategy allows it."""
    created = objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="r"))
    del created["metadata"]["resourceVersion"]
    with pytest.raises(ApiException) as exc:
        objects.replace_namespaced_custom_object(G, V, NS, P, "r", created)
    assert status_of(exc) == (422, "Invalid", 'pipelineruns.tekton.dev "r" is invalid: metadata.resourceVersion: '
                                              "Invalid value: 0x0: must be specified for an update")
    assert json.loads(exc.value.body)["details"]["causes"] == [{
        "reason": "FieldValueInvalid", "field": "metadata.resourceVersion",
        "message": "Invalid value: 0x0: must be specified for an update"}]
    lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"}, "spec": {}}
    objects.create_namespaced_custom_object("coordination.k8s.io", "v1", NS, "leases", lease)
    with pytest.raises(ApiException) as exc:
        objects.replace_namespaced_custom_object("coordination.k8s.io", "v1", NS, "leases", "l", lease)
    assert status_of(exc)[:2] == (422, "Invalid") and status_of(exc)[2].startswith('leases.coordination.k8s.io "l"')
    core = client.CoreV1Api(objects.api_client)
    config_map = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"k": "1"}}
    core.create_namespaced_config_map(NS, config_map)
    assert core.replace_namespaced_config_map("c", NS, {**config_map, "data": {"k": "2"}}).data == {"k": "2"}


def test_a_body_naming_another_object_is_refused(objects: client.CustomObjectsApi, config: Config) -> None:
    """apiserver handlers/rest.go ``checkName`` (400, for PUT and patch alike); a PUT's uid is a
    precondition the storage checks (409 Conflict); a patched uid is an immutable field (422)."""
    created = objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="r"))
    renamed = {**created, "metadata": {**created["metadata"], "name": "other"}}
    with pytest.raises(ApiException) as exc:
        objects.replace_namespaced_custom_object(G, V, NS, P, "r", renamed)
    assert status_of(exc) == (400, "BadRequest",
                              "the name of the object (other) does not match the name on the URL (r)")
    with pytest.raises(ApiException) as exc:
        objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"metadata": {"name": "other"}})
    assert status_of(exc)[:2] == (400, "BadRequest")
    uid = created["metadata"]["uid"]
    with pytest.raises(ApiException) as exc:
        objects.replace_namespaced_custom_object(G, V, NS, P, "r", {**created, "metadata": {**created["metadata"],
                                                                                            "uid": "someone-else"}})
    assert status_of(exc) == (409, "Conflict", 'Operation cannot be fulfilled on pipelineruns.tekton.dev "r": '
                              f"StorageError: invalid object, Code: 4, Key: /registry/tekton.dev/pipelineruns/{NS}/r, "
                              "ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: "
                              f"someone-else, UID in object meta: {uid}")
    with pytest.raises(ApiException) as exc:
        objects.patch_namespaced_custom_object(G, V, NS, P, "r", {"metadata": {"uid": "someone-else"}})
    assert status_of(exc) == (422, "Invalid", 'PipelineRun.tekton.dev "r" is invalid: metadata.uid: '
                                              'Invalid value: "someone-else": field is immutable')
    assert objects.get_namespaced_custom_object(G, V, NS, P, "r")["metadata"] == created["metadata"]


@pytest.mark.parametrize("operation", [
    {"op": "remove", "path": "/spec/missing"},
    {"op": "remove", "path": "/spec/params/99"},
    {"op": "replace", "path": "/spec/params/99", "value": {"name": "x", "value": "y"}},
    {"op": "add", "path": "/spec/params/99", "value": {"name": "x", "value": "y"}},
    {"op": "add", "path": "/spec/missing/deeper", "value": 1},
    {"op": "test", "path": "/metadata/name", "value": "other"},
    {"op": "frobnicate", "path": "/spec"},
])
def test_a_json_patch_that_does_not_apply_is_answered_422(
    objects: client.CustomObjectsApi, config: Config, operation: dict
) -> None:
    """evanphx/json-patch's Apply errors, answered by apiserver handlers/patch.go ``applyJSPatch``
    with NewGenericServerResponse(422): a fixed message and empty details, nothing changed."""
    created = objects.create_namespaced_custom_object(G, V, NS, P, run(config, name="r"))
    with pytest.raises(ApiException) as exc:
        objects.patch_namespaced_custom_object(G, V, NS, P, "r", [operation],
                                               _content_type="application/json-patch+json")
    body = json.loads(exc.value.body)
    assert (exc.value.status, body["reason"], body["message"], body["details"]) == (
        422, "Invalid", "the server rejected our request due to an error in our request", {})
    assert objects.get_namespaced_custom_object(G, V, NS, P, "r") == created


def test_json_patches_index_lists_as_json_patch_does(
    objects: client.CustomObjectsApi, kube_api: FakeKubeApi, config: Config
) -> None:
    body = run(config, name="r")
    body["metadata"]["finalizers"] = ["example.com/a", "example.com/b"]  # a list a patch may change
    objects.create_namespaced_custom_object(G, V, NS, P, body)
    patched = objects.patch_namespaced_custom_object(
        G, V, NS, P, "r",
        [{"op": "add", "path": "/metadata/finalizers/2", "value": "example.com/end"},
         {"op": "add", "path": "/metadata/finalizers/-", "value": "example.com/dash"},
         {"op": "remove", "path": "/metadata/finalizers/-1"},
         {"op": "move", "from": "/metadata/finalizers/0", "path": "/metadata/finalizers/-"},
         {"op": "test", "path": "/metadata/finalizers/0", "value": "example.com/b"}],
        _content_type="application/json-patch+json")
    assert patched["metadata"]["finalizers"] == ["example.com/b", "example.com/end", "example.com/a"]
    token = kube_api.kubeconfig_dict()["users"][0]["user"]["token"]  # a body the client would not send
    answer = httpx.patch(f"{kube_api.base_url}/apis/{G}/{V}/namespaces/{NS}/{P}/r", content=b'["remove"]',
                         headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json-patch+json"})
    assert (answer.status_code, answer.json()["message"]) == (  # DecodePatch: not a list of operations
        400, "json: cannot unmarshal string into Go value of type jsonpatch.Operation")


def test_label_selectors_follow_the_apimachinery_grammar(objects: client.CustomObjectsApi, config: Config) -> None:
    """apimachinery pkg/labels/selector.go ``Parse`` and ``Requirement.Matches``."""
    for name, labels in (("a", {"team": "x", "n": "1"}), ("b", {"team": "y", "n": "5"}), ("c", {"other": ""})):
        objects.create_namespaced_custom_object(G, V, NS, P, run(config, name=name, labels=labels))

    def names(selector: str) -> list[str]:
        listed = objects.list_namespaced_custom_object(G, V, NS, P, label_selector=selector)
        return [i["metadata"]["name"] for i in listed["items"]]

    assert names("team in (x, z)") == ["a"]
    assert names("team notin (x)") == ["b", "c"]  # notin matches a missing key
    assert names("team,!other") == ["a", "b"]
    assert names("!team") == ["c"]
    assert names("team==y") == ["b"]
    assert names("other=") == ["c"] and names("other in ()") == ["c"]  # the empty value
    assert names("n>1") == ["b"] and names("n<5,team") == ["a"]
    assert names("team!=x,n") == ["b"]
    for selector, message in (
        ("team in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
        ("team=x,", "found '', expected: identifier after ','"),
        ("team x", "unable to parse requirement: found 'x', expected: in, notin, =, ==, !=, gt, lt"),
        ("=x", "found '=', expected: !, identifier, or 'end of string'"),
        ("n>x", "unable to parse requirement: values[0]: Invalid value: \"x\": "
                "for 'Gt', 'Lt' operators, the value must be an integer"),
        ("app:x", "unable to parse requirement: <nil>: Invalid value: \"app:x\": name part must consist of "
                  "alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character "
                  "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is "
                  "'([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"),
    ):
        with pytest.raises(ApiException) as exc:
            names(selector)
        assert status_of(exc) == (400, "BadRequest", message), selector
