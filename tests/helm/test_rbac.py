"""RBAC is namespaced and least-privilege: no cluster roles, no wildcards, no cluster-admin;
run-creator alone may write PipelineRuns (and its admission Lease), in its team namespace."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
import yaml

from support.helm import REPO, find, one, render, scenarios
from tekton_dag import pipelines
from tekton_dag.testing.rbac import Authorizer, Request, chart_documents, rule_allows, service_account_user

SCENARIOS = scenarios()


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_no_cluster_scoped_rbac_and_no_wildcards(scenario) -> None:
    docs = render(scenario.values_files)
    assert not [d for d in docs if d["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    for role in find(docs, "Role"):
        for rule in role["rules"]:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], role["metadata"]["name"]
    for binding in find(docs, "RoleBinding"):
        assert binding["roleRef"]["kind"] == "Role" and binding["roleRef"]["name"] != "cluster-admin"


def writes(role: dict, group: str, resource: str) -> set[str]:
    verbs = set()
    for rule in role["rules"]:
        if group in rule["apiGroups"] and resource in rule["resources"]:
            verbs |= set(rule["verbs"])
    return verbs & {"create", "update", "patch", "delete", "deletecollection"}


def bound_accounts(docs: list[dict], role: str) -> set[str]:
    return {s["name"] for b in find(docs, "RoleBinding") if b["roleRef"]["name"] == role for s in b["subjects"]}


def test_only_run_creator_writes_pipelineruns() -> None:
    docs = render()
    writers = {r["metadata"]["name"] for r in find(docs, "Role") if writes(r, "tekton.dev", "pipelineruns")}
    assert writers == {"tekton-dag-run-creator", "tekton-dag-status-reporter"}
    # status-reporter only annotates runs it reads (its check run id): get and patch, nothing else.
    reporter = one(docs, "Role", "tekton-dag-status-reporter")
    assert reporter["rules"] == [
        {"apiGroups": ["tekton.dev"], "resources": ["pipelineruns"], "verbs": ["get", "patch"]}]
    assert bound_accounts(docs, "tekton-dag-status-reporter") == {"tekton-dag-status-reporter"}
    role = one(docs, "Role", "tekton-dag-run-creator")
    assert {v for rule in role["rules"] for v in rule["verbs"] if "pipelineruns" in rule["resources"]} == \
        {"create", "get", "list", "patch", "delete"}  # delete: the team's retention; no watch: nothing watches
    # delete: drained queue segments, rewritten heads segments (docs/run-creator.md); no list: nothing lists Leases
    assert writes(role, "coordination.k8s.io", "leases") == {"create", "update", "delete"}
    # Kubernetes Events: create, and nothing else, and only the events.k8s.io kind.
    assert [r for r in role["rules"] if "events" in r["resources"]] == \
        [{"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["create"]}]
    assert bound_accounts(docs, "tekton-dag-run-creator") == {"tekton-dag-run-creator"}


def test_pipelines_run_as_their_own_account() -> None:
    docs = render(sets=["team.pipelineServiceAccount=blue-pipeline"])
    one(docs, "ServiceAccount", "blue-pipeline")
    assert bound_accounts(docs, "tekton-dag-pipeline") == {"blue-pipeline"}
    functions = {ksvc["spec"]["template"]["spec"].get("serviceAccountName") for ksvc in find(docs, "Service")}
    assert "blue-pipeline" not in functions


def test_readers_only_read() -> None:
    docs = render()
    reader = one(docs, "Role", "tekton-dag-pipelinerun-reader")
    # webhook-ingest lists runs for GET /api/runs (kube/listing.py); the resolver reads nothing from the API.
    assert {v for rule in reader["rules"] for v in rule["verbs"]} == {"list"}
    assert bound_accounts(docs, "tekton-dag-pipelinerun-reader") == {"tekton-dag-webhook-ingest"}


def test_plain_manifests_grant_what_the_chart_grants() -> None:
    """knative/rbac.yaml (kubectl apply without Helm) is a copy of the chart's RBAC: same Roles, same rules,
    same bound accounts, so neither drifts into more (or less) than the functions use."""
    chart = render()
    plain = [d for d in yaml.safe_load_all((REPO / "knative" / "rbac.yaml").read_text()) if d]
    for role in find(plain, "Role"):
        name = role["metadata"]["name"]
        assert role["rules"] == one(chart, "Role", name)["rules"], name
        assert bound_accounts(plain, name) == bound_accounts(chart, name), name
    assert {r["metadata"]["name"] for r in find(plain, "Role")} == \
        {r["metadata"]["name"] for r in find(chart, "Role")} - {"tekton-dag-pipeline"}


def test_bootstrap_batcher_has_no_kubernetes_permissions() -> None:
    docs = render()
    assert not [
        b for b in find(docs, "RoleBinding") for s in b["subjects"] if s["name"] == "tekton-dag-bootstrap-batcher"
    ]


def test_all_in_one_account_gets_run_creator_rights() -> None:
    docs = render(sets=["mode=all-in-one"])
    assert bound_accounts(docs, "tekton-dag-run-creator") == {"tekton-dag-all-in-one"}
    assert {d["metadata"]["name"] for d in find(docs, "ServiceAccount")} == {
        "tekton-dag-all-in-one",
        "tekton-dag-pipeline",
    }


def test_pipelines_get_their_role_where_the_stacks_deploy() -> None:
    docs = render(sets=["team.name=blue", "team.deployNamespaces={staging}"])
    role = one(docs, "Role", "tekton-dag-pipeline-blue")
    assert role["metadata"]["namespace"] == "staging"
    assert role["rules"] == one(docs, "Role", "tekton-dag-pipeline")["rules"]
    binding = one(docs, "RoleBinding", "tekton-dag-pipeline-blue")
    assert binding["metadata"]["namespace"] == "staging"
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "tekton-dag-pipeline", "namespace": "tekton-pipelines"}
    ]


# The one list of the API requests each intercept backend makes from the intercept pod, in the stack's
# namespace (namespace "") and, for telepresence connect, in the traffic-manager's: the intercept Roles
# must allow each and grant nothing no request here uses. Upstream sources, at the pinned versions
# (tasks/generate.py: Telepresence 2.25.0, mirrord 3.128.0), in rbac-intercept.yaml's comments.
TELEPRESENCE_CALLS = [
    Request("get", "", "", "pods", name="web-abc"),  # canAccessNS: can-i get pods
    Request("create", "", "", "pods", subresource="portforward", name="web-abc"),  # to the traffic-agent
]
TELEPRESENCE_CONNECT = [
    Request("get", "ambassador", "", "services", name="traffic-manager"), Request("list", "ambassador", "", "pods"),
    Request("get", "ambassador", "", "pods", name="traffic-manager-5f9c"),
    Request("create", "ambassador", "", "pods", subresource="portforward", name="traffic-manager-5f9c"),
]
MIRRORD_CALLS = [
    Request("get", "", "apps", "deployments", name="web"), Request("list", "", "", "pods"),
    Request("create", "", "batch", "jobs"), Request("watch", "", "", "pods"),
    Request("get", "", "", "pods", subresource="log", name="mirrord-agent-x"),
    # kube-rs port-forwards over a WebSocket: an HTTP GET, authorized as verb get.
    Request("get", "", "", "pods", subresource="portforward", name="mirrord-agent-x"),
    Request("create", "", "", "pods", subresource="portforward", name="mirrord-agent-x"),
]
NEVER = [
    Request("create", "", "", "pods"), Request("delete", "", "", "pods", name="web-abc"),
    Request("get", "", "", "secrets", name="t"), Request("create", "", "", "pods", subresource="exec", name="web"),
    Request("patch", "", "apps", "deployments", name="web"), Request("list", "", "", "configmaps"),
    Request("get", "", "operator.metalbear.co", "mirrordoperators", name="operator"),
    # what the pinned clients no longer call, or call only for commands the intercept pod never runs
    Request("list", "", "", "services"), Request("get", "", "", "configmaps", name="telepresence-agents"),
    Request("list", "", "apps", "deployments"), Request("get", "", "apps", "replicasets", name="web-abc"),
]


def in_namespace(request: Request, namespace: str) -> Request:
    return request if request.namespace else dataclasses.replace(request, namespace=namespace)


def unused_grants(role: dict, calls: list[Request]) -> list[tuple[str, str, str]]:
    """Each (group, resource, verb) of the role's rules that no call uses (by name, for a named rule)."""
    return [(group, resource, verb) for rule in role["rules"]
            for group, resource, verb in itertools.product(rule["apiGroups"], rule["resources"], rule["verbs"])
            if not any(rule_allows({**rule, "apiGroups": [group], "resources": [resource], "verbs": [verb]}, call)
                       for call in calls)]


@pytest.mark.parametrize("team", ["default", "commerce"])
def test_intercept_pods_have_what_their_backend_calls_and_nothing_more(team: str) -> None:
    """Each team's intercept pods run as tekton-dag-intercept-<team> (the name the pipelines pass) in
    every namespace its stacks deploy into, allowed exactly the requests its interceptBackend makes."""
    values = yaml.safe_load((REPO / "teams" / team / "values.yaml").read_text())
    backend = yaml.safe_load(values["teamConfig"]["files"]["team.yaml"])["interceptBackend"]
    assert backend == {"default": "telepresence", "commerce": "mirrord"}[team]
    docs = chart_documents()
    authorizer = Authorizer(docs)
    account = pipelines.INTERCEPT_SERVICE_ACCOUNT_PREFIX + team
    namespaces = [values["team"]["namespace"], *values["team"]["deployNamespaces"]]
    own = TELEPRESENCE_CALLS if backend == "telepresence" else MIRRORD_CALLS
    connect = TELEPRESENCE_CONNECT if backend == "telepresence" else []
    # The other backend's requests, but for those of the same kind as one of this backend's own.
    kinds = {(r.verb, r.group, r.resource, r.subresource) for r in own + connect}
    other = [r for r in (*TELEPRESENCE_CALLS, *TELEPRESENCE_CONNECT, *MIRRORD_CALLS)
             if (r.verb, r.group, r.resource, r.subresource) not in kinds]
    for namespace in namespaces:
        assert (namespace, account) in authorizer.service_accounts
        user = service_account_user(namespace, account)
        for request in own + connect:
            assert authorizer.authorize(user, in_namespace(request, namespace))[0], (namespace, request)
        for request in NEVER + other:
            assert not authorizer.authorize(user, in_namespace(request, namespace))[0], (namespace, request)
        # Not the namespace's default account, nor the pipelines' own.
        assert not authorizer.authorize(service_account_user(namespace, "default"),
                                        in_namespace(own[0], namespace))[0]
    # Nothing more: every verb the intercept Roles grant is one of the requests above.
    roles = [d for d in docs if d["kind"] == "Role" and d["metadata"]["name"] == account]
    assert {r["metadata"]["namespace"] for r in roles} == set(namespaces) | ({"ambassador"} if connect else set())
    for role in roles:
        calls = connect if role["metadata"]["namespace"] == "ambassador" else own
        assert unused_grants(role, calls) == [], role["metadata"]["namespace"]


def test_no_intercept_account_without_a_team() -> None:
    docs = render()
    assert not [d for d in docs if d["metadata"]["name"].startswith(pipelines.INTERCEPT_SERVICE_ACCOUNT_PREFIX)]


def test_the_pipelines_name_the_account_the_chart_renders() -> None:
    pipeline = yaml.safe_load((REPO / "pipeline" / "stack-pr-test.yaml").read_text())
    (task,) = [t for t in pipeline["spec"]["tasks"] if t["name"] == "deploy-intercepts"]
    (param,) = [p for p in task["params"] if p["name"] == "intercept-service-account"]
    assert param["value"] == pipelines.INTERCEPT_SERVICE_ACCOUNT_PREFIX + "$(params.team)"
