"""RBAC is namespaced and least-privilege: no cluster roles, no wildcards, no cluster-admin;
run-creator alone may write PipelineRuns (and its admission Lease), in its team namespace."""

from __future__ import annotations

import pytest
import yaml

from support.helm import REPO, find, one, render, scenarios

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
