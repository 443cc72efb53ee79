"""The fake API authenticates and authorizes as kube-apiserver does, against the chart's own RBAC.

run-creator's real store (``KubernetesStore``) works as the run-creator ServiceAccount with what
``helm template`` renders, and fails with kube-apiserver's 403 as soon as the chart stops granting
one verb it uses. The rule matching itself is checked on small hand-made policies.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes import config as kube_config
from kubernetes.client.exceptions import ApiException

from runcreator.conftest import FAST, NAMESPACE, pr_request
from tekton_dag.config.models import Config
from tekton_dag.kube.errors import PermanentApiError
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.pipelineruns.building import build_pipelinerun
from tekton_dag.testing import rbac
from tekton_dag.testing.kube_api import FakeKubeApi

RUN_CREATOR = f"system:serviceaccount:{NAMESPACE}:tekton-dag-run-creator"
G, V, P = "tekton.dev", "v1", "pipelineruns"


def without(documents: list[dict[str, Any]], role: str, resource: str, verb: str) -> list[dict[str, Any]]:
    """The chart's documents with ``verb`` on ``resource`` taken out of Role ``role``."""
    for doc in documents:
        if doc["kind"] == "Role" and doc["metadata"]["name"] == role:
            for rule in doc["rules"]:
                if resource in rule["resources"]:
                    rule["verbs"] = [v for v in rule["verbs"] if v != verb]
    return documents


def store_as(api: FakeKubeApi, account: str, namespace: str = NAMESPACE) -> KubernetesStore:
    path = api.kubeconfig_for(namespace, account)
    return KubernetesStore(str(path), policy=FAST)


def objects_as(api: FakeKubeApi, account: str, namespace: str = NAMESPACE) -> client.CustomObjectsApi:
    path = api.kubeconfig_for(namespace, account)
    return client.CustomObjectsApi(kube_config.new_client_from_config(config_file=str(path)))


def a_run(config: Config, name: str = "r1") -> dict[str, Any]:
    team = config.team("default")
    run = build_pipelinerun(pr_request(), team, team.stack("stack-one"))
    run["metadata"]["name"] = name
    return run


@pytest.fixture
def chart_api() -> Iterator[FakeKubeApi]:
    with FakeKubeApi(rbac_documents=rbac.chart_documents()) as api:
        yield api


async def exercise(store: KubernetesStore, config: Config) -> None:
    """Every call run-creator's store makes, in the order the function makes them."""
    run = a_run(config)
    assert await store.create_run(run)
    assert await store.get_run(NAMESPACE, "r1") is not None
    assert [r["metadata"]["name"] for r in await store.list_runs(NAMESPACE, {})] == ["r1"]
    assert await store.patch_run(NAMESPACE, "r1", {"spec": {"status": None}}) is not None
    assert await store.read_ledger(NAMESPACE, "ledger") == (None, None)
    version = await store.write_ledger(NAMESPACE, "ledger", "{}", None)
    await store.write_ledger(NAMESPACE, "ledger", "{}", version)
    await store.create_segment(NAMESPACE, "ledger-q1", "ledger", "{}")  # a sealed part of the queue
    assert await store.read_segment(NAMESPACE, "ledger-q1") == "{}"
    await store.delete_segment(NAMESPACE, "ledger-q1")  # drained


async def test_run_creator_does_all_it_needs_as_its_own_service_account(chart_api: FakeKubeApi, config: Config) -> None:
    store = store_as(chart_api, "tekton-dag-run-creator")
    await exercise(store, config)
    store.close()
    assert chart_api.callers == {RUN_CREATOR}
    assert not [r for r in chart_api.requests if r[2] in (401, 403)]


USED = [("pipelineruns", "create"), ("pipelineruns", "get"), ("pipelineruns", "list"), ("pipelineruns", "patch"),
        ("leases", "get"), ("leases", "create"), ("leases", "update"), ("leases", "delete")]


@pytest.mark.parametrize(("resource", "verb"), USED, ids=[f"{r}-{v}" for r, v in USED])
async def test_a_verb_the_chart_stops_granting_fails_with_kube_apiservers_403(
    config: Config, resource: str, verb: str
) -> None:
    documents = without(rbac.chart_documents(), "tekton-dag-run-creator", resource, verb)
    with FakeKubeApi(rbac_documents=documents) as api:
        store = store_as(api, "tekton-dag-run-creator")
        with pytest.raises(PermanentApiError) as failure:
            await exercise(store, config)
        store.close()
    group = "tekton.dev" if resource == "pipelineruns" else "coordination.k8s.io"
    assert (f'User "{RUN_CREATOR}" cannot {verb} resource "{resource}" in API group "{group}" '
            f'in the namespace "{NAMESPACE}"') in str(failure.value)
    assert [s for _, _, s in api.requests].count(403) == 1


def test_the_403_is_kube_apiservers_status(chart_api: FakeKubeApi, config: Config) -> None:
    reader = objects_as(chart_api, "tekton-dag-webhook-ingest")
    reader.list_namespaced_custom_object(G, V, NAMESPACE, P)  # it may read
    with pytest.raises(ApiException) as exc:
        reader.patch_namespaced_custom_object(G, V, NAMESPACE, P, "x", {"spec": {}})
    assert exc.value.status == 403
    assert json.loads(exc.value.body) == {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "reason": "Forbidden", "code": 403,
        "message": f'pipelineruns.tekton.dev "x" is forbidden: User "system:serviceaccount:{NAMESPACE}:'
                   f'tekton-dag-webhook-ingest" cannot patch resource "pipelineruns" in API group "tekton.dev" '
                   f'in the namespace "{NAMESPACE}"',
        "details": {"name": "x", "group": "tekton.dev", "kind": "pipelineruns"},
    }
    with pytest.raises(ApiException) as exc:  # a collection: no name in the message
        reader.create_namespaced_custom_object(G, V, NAMESPACE, P, a_run(config))
    assert json.loads(exc.value.body)["message"].startswith("pipelineruns.tekton.dev is forbidden: User ")


def test_rights_stop_at_the_team_namespace_and_at_the_accounts_the_chart_binds(
    chart_api: FakeKubeApi, config: Config
) -> None:
    run_creator = objects_as(chart_api, "tekton-dag-run-creator")
    other_team = a_run(config)
    other_team["metadata"]["namespace"] = "commerce-ci"
    with pytest.raises(ApiException) as exc:
        run_creator.create_namespaced_custom_object(G, V, "commerce-ci", P, other_team)
    assert exc.value.status == 403 and 'in the namespace "commerce-ci"' in json.loads(exc.value.body)["message"]
    batcher = objects_as(chart_api, "tekton-dag-bootstrap-batcher")  # bound to nothing
    with pytest.raises(ApiException) as exc:
        batcher.list_namespaced_custom_object(G, V, NAMESPACE, P)
    assert exc.value.status == 403
    with pytest.raises(KeyError, match="no ServiceAccount"):
        chart_api.kubeconfig_for(NAMESPACE, "tekton-dag-nobody")


def test_an_unknown_token_is_401_and_no_token_is_anonymous(chart_api: FakeKubeApi, tmp_path: Path) -> None:
    forged = chart_api.kubeconfig_dict()
    forged["users"][0]["user"]["token"] = "forged"
    path = tmp_path / "forged"
    path.write_text(json.dumps(forged))
    objects = client.CustomObjectsApi(kube_config.new_client_from_config(config_file=str(path)))
    with pytest.raises(ApiException) as exc:
        objects.list_namespaced_custom_object(G, V, NAMESPACE, P)
    assert exc.value.status == 401
    assert json.loads(exc.value.body) == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                          "message": "Unauthorized", "reason": "Unauthorized", "code": 401}
    import urllib.request

    with urllib.request.urlopen(f"{chart_api.base_url}/version") as answer:  # public-info-viewer: anyone
        assert answer.status == 200
    request = urllib.request.Request(f"{chart_api.base_url}/apis/{G}/{V}/namespaces/{NAMESPACE}/{P}")
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(request)
    assert denied.value.code == 403 and 'User \\"system:anonymous\\" cannot list' in denied.value.read().decode()


# --- rule matching (evaluation_helpers.go), on hand-made policies --------------------------------
SA = rbac.service_account_user("ns", "sa")


def policy(*rules: dict[str, Any], binding: str = "RoleBinding", role: str = "Role", ns: str = "ns") -> rbac.Authorizer:
    role_doc = {
        "kind": role,
        "metadata": {"name": "r", **({"namespace": ns} if role == "Role" else {})},
        "rules": list(rules),
    }
    binding_doc = {
        "kind": binding,
        "metadata": {"name": "b", **({"namespace": ns} if binding == "RoleBinding" else {})},
        "roleRef": {"kind": role, "name": "r"},
        "subjects": [{"kind": "ServiceAccount", "name": "sa", "namespace": "ns"}],
    }
    return rbac.Authorizer([role_doc, binding_doc])


def allowed(authorizer: rbac.Authorizer, verb: str, resource: str, group: str = "", sub: str = "", name: str = "",
            ns: str = "ns") -> bool:
    return authorizer.authorize(SA, rbac.Request(verb, ns, group, resource, sub, name))[0]


def test_subresources_are_their_own_resource() -> None:
    logs = policy({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]})
    assert allowed(logs, "get", "pods", sub="log", name="p")
    assert not allowed(logs, "get", "pods", name="p") and not allowed(logs, "get", "pods", sub="exec", name="p")
    any_log = policy({"apiGroups": [""], "resources": ["*/log"], "verbs": ["get"]})
    assert allowed(any_log, "get", "pods", sub="log", name="p") and not allowed(any_log, "get", "pods", name="p")
    pods = policy({"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]})
    assert not allowed(pods, "get", "pods", sub="log", name="p")


def test_wildcards_groups_and_verbs() -> None:
    everything = policy({"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]})
    assert allowed(everything, "deletecollection", "leases", "coordination.k8s.io")
    assert allowed(everything, "get", "pods", sub="log", name="p")
    tekton = policy({"apiGroups": ["tekton.dev"], "resources": ["pipelineruns"], "verbs": ["get"]})
    assert not allowed(tekton, "get", "pipelineruns", "", name="x")  # the core group is not tekton.dev
    assert not allowed(tekton, "watch", "pipelineruns", "tekton.dev")


def test_resource_names_never_match_create_or_list() -> None:
    named = policy({"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["l1"],
                    "verbs": ["get", "update", "create", "list"]})
    assert allowed(named, "get", "leases", "coordination.k8s.io", name="l1")
    assert allowed(named, "update", "leases", "coordination.k8s.io", name="l1")
    assert not allowed(named, "get", "leases", "coordination.k8s.io", name="l2")
    assert not allowed(named, "create", "leases", "coordination.k8s.io")
    assert not allowed(named, "list", "leases", "coordination.k8s.io")


def test_a_rolebinding_grants_in_its_namespace_only_a_clusterrolebinding_everywhere() -> None:
    rule = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
    local = policy(rule, role="ClusterRole")  # RoleBinding → ClusterRole: still only in "ns"
    assert allowed(local, "get", "configmaps", name="c") and not allowed(
        local, "get", "configmaps", name="c", ns="other"
    )
    everywhere = policy(rule, binding="ClusterRoleBinding", role="ClusterRole")
    assert allowed(everywhere, "get", "configmaps", name="c", ns="other")


def test_non_resource_urls_and_group_subjects() -> None:
    authorizer = rbac.Authorizer([])  # the bootstrap policy alone
    assert authorizer.authorize(SA, rbac.Request("get", path="/apis/tekton.dev"))[0]  # system:discovery
    assert not authorizer.authorize(SA, rbac.Request("get", path="/metrics"))[0]
    assert authorizer.authorize(rbac.ADMIN_USER, rbac.Request("delete", "any", "apps", "deployments", name="d"))[0]
    assert not authorizer.authorize(SA, rbac.Request("get", "ns", "", "pods", name="p"))[0]


def test_a_binding_to_a_missing_role_says_so_in_the_403() -> None:
    authorizer = rbac.Authorizer([{"kind": "RoleBinding", "metadata": {"name": "b", "namespace": "ns"},
                                   "roleRef": {"kind": "Role", "name": "gone"},
                                   "subjects": [{"kind": "ServiceAccount", "name": "sa"}]}])  # namespace: the binding's
    request = rbac.Request("get", "ns", "", "pods", name="p")
    ok, reason = authorizer.authorize(SA, request)
    assert not ok and reason == 'RBAC: role.rbac.authorization.k8s.io "gone" not found'
    message, _ = rbac.forbidden(SA, request, reason)
    assert message == (
        'pods "p" is forbidden: User "system:serviceaccount:ns:sa" cannot get resource "pods" in API group "" '
        'in the namespace "ns": RBAC: role.rbac.authorization.k8s.io "gone" not found'
    )
