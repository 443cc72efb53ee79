"""ArgoCD refuses to sync what the AppProject does not permit, before it applies anything
(tekton_dag/testing/argocd_project.py, from argo-cd's controller/sync.go and gitops-engine's
sync_context.go). tests/argocd/test_applicationset.py holds each team's render to argocd/appproject.yaml."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from support.helm import REPO, TEAMS, render
from tekton_dag.config.loading import load_config
from tekton_dag.testing.argocd_project import refusals
from tekton_dag.testing.argocd_sync import Cluster, sync

PROJECT = yaml.safe_load((REPO / "argocd" / "appproject.yaml").read_text())
DESTINATION = {"name": "in-cluster", "namespace": "ci"}


def project(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "p"}, "spec": {"destinations": [DESTINATION], **spec}}


def obj(api: str, kind: str, name: str = "x", namespace: str | None = None) -> dict[str, Any]:
    metadata = {"name": name, **({"namespace": namespace} if namespace else {})}
    return {"apiVersion": api, "kind": kind, "metadata": metadata}


def test_a_namespace_outside_the_destinations_fails_the_whole_sync_before_any_wave() -> None:
    cluster = Cluster(binding_mode="Immediate")
    docs = [obj("v1", "ConfigMap", "a"), obj("rbac.authorization.k8s.io/v1", "Role", "r", namespace="ambassador"),
            obj("v1", "ConfigMap", "b", namespace="elsewhere")]
    result = sync(docs, cluster, project=project(), destination=DESTINATION)
    assert (result.phase, result.wave) == ("Failed", None)
    assert result.waiting == ("one or more synchronization tasks are not valid: namespace ambassador is not "
                              "permitted in project 'p'; namespace elsewhere is not permitted in project 'p'",)
    assert cluster.applied == {}  # nothing applied


def test_an_object_without_a_namespace_is_in_the_destination_namespace() -> None:
    assert refusals(project(), DESTINATION, [obj("v1", "ConfigMap")]) == []
    elsewhere = {"name": "in-cluster", "namespace": "other"}
    assert refusals(project(), elsewhere, [obj("v1", "ConfigMap")]) == [
        "namespace other is not permitted in project 'p'"]


def test_kinds_namespaced_by_whitelist_cluster_scoped_only_when_listed() -> None:
    role, namespace = obj("rbac.authorization.k8s.io/v1", "Role"), obj("v1", "Namespace", "ci")
    assert refusals(project(), DESTINATION, [role]) == []  # no whitelist: every namespaced kind
    assert refusals(project(namespaceResourceWhitelist=[]), DESTINATION, [role]) == [
        "resource rbac.authorization.k8s.io:Role is not permitted in project p"]  # an empty one: none
    assert refusals(project(namespaceResourceBlacklist=[{"group": "rbac.authorization.k8s.io", "kind": "*"}]),
                    DESTINATION, [role]) == ["resource rbac.authorization.k8s.io:Role is not permitted in project p"]
    assert refusals(project(), DESTINATION, [namespace]) == ["resource :Namespace is not permitted in project p"]
    listed = project(clusterResourceWhitelist=[{"group": "", "kind": "Namespace", "name": "c*"}])
    assert refusals(listed, DESTINATION, [namespace]) == []
    assert refusals(listed, DESTINATION, [obj("v1", "Namespace", "other")]) == [
        "resource :Namespace is not permitted in project p"]


def test_destinations_match_the_cluster_by_name_and_the_namespace_by_glob() -> None:
    globbed = project(destinations=[{"name": "in-cluster", "namespace": "team-*"}])
    assert refusals(globbed, DESTINATION, [obj("v1", "ConfigMap", namespace="team-a")]) == []
    other_cluster = {"name": "prod", "namespace": "team-a"}
    assert refusals(globbed, other_cluster, [obj("v1", "ConfigMap")]) == [
        "namespace team-a is not permitted in project 'p'"]


def test_a_deny_pattern_is_not_guessed_at() -> None:
    denying = project(destinations=[{"name": "in-cluster", "namespace": "!kube-system"}])
    with pytest.raises(NotImplementedError, match="deny patterns"):
        refusals(denying, DESTINATION, [obj("v1", "ConfigMap")])


def test_the_project_without_the_traffic_managers_namespace_fails_a_telepresence_team() -> None:
    """What the generated project missed before it listed `ambassador` (the intercept Role there)."""
    team = next(t for t in load_config(TEAMS).config.teams if t.intercept_backend == "telepresence")
    trimmed = copy.deepcopy(PROJECT)
    trimmed["spec"]["destinations"] = [d for d in trimmed["spec"]["destinations"] if d["namespace"] != "ambassador"]
    destination = {"name": team.cluster, "namespace": team.namespace}
    docs = render([TEAMS / team.name / "values.yaml"], namespace=team.namespace)
    result = sync(docs, Cluster(binding_mode="Immediate"), project=trimmed, destination=destination)
    assert result.phase == "Failed" and "namespace ambassador is not permitted in project 'tekton-dag'" in str(result)
