"""argocd/: the ApplicationSet gives each team one Application for its cluster and namespace with
its values FILE; the AppProject allows exactly that; sync waves order what ArgoCD applies."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from support.helm import CHART, REPO, SCHEMAS, TEAMS, crd_schema_path, helm_binary, problems, render
from tekton_dag.config.loading import load_config
from tekton_dag.testing.argocd import expand
from tekton_dag.testing.argocd_diff import diff_strategy, stays_out_of_sync
from tekton_dag.testing.argocd_project import refusals

APPSET = yaml.safe_load((REPO / "argocd" / "applicationset.yaml").read_text())
PROJECT = yaml.safe_load((REPO / "argocd" / "appproject.yaml").read_text())


@pytest.fixture(scope="module")
def applications(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    apps = expand(APPSET, REPO, tmp_path_factory.mktemp("appset"), helm_binary())
    return {a["metadata"]["name"]: a for a in apps}


def teams():
    return load_config(TEAMS).config.teams


def test_one_application_per_team(applications) -> None:
    assert sorted(applications) == sorted(f"tekton-dag-{t.name}" for t in teams())


@pytest.mark.parametrize("team", teams(), ids=lambda t: t.name)
def test_application_targets_the_team_cluster_and_namespace(applications, team) -> None:
    app = applications[f"tekton-dag-{team.name}"]
    assert app["spec"]["destination"] == {"name": team.cluster, "namespace": team.namespace}
    assert app["spec"]["project"] == PROJECT["metadata"]["name"]
    assert app["spec"]["source"]["helm"]["releaseName"] == team.name


@pytest.mark.parametrize("team", teams(), ids=lambda t: t.name)
def test_values_path_is_the_team_values_file(applications, team) -> None:
    source = applications[f"tekton-dag-{team.name}"]["spec"]["source"]
    chart = REPO / source["path"]
    assert (chart / "Chart.yaml").is_file() and chart.resolve() == CHART.resolve()
    (values_file,) = source["helm"]["valueFiles"]
    resolved = (chart / values_file).resolve()
    assert resolved.is_file(), f"{values_file} is not a file (the older design pointed at a directory)"
    assert resolved == (TEAMS / team.name / "values.yaml").resolve()
    assert resolved.is_relative_to(REPO.resolve()), "ArgoCD refuses value files outside the repository"


@pytest.mark.parametrize("team", teams(), ids=lambda t: t.name)
def test_project_allows_the_application_and_everything_the_chart_renders(applications, team) -> None:
    app = applications[f"tekton-dag-{team.name}"]
    spec = PROJECT["spec"]
    assert app["spec"]["source"]["repoURL"] in spec["sourceRepos"]
    assert app["spec"]["destination"] in spec["destinations"]
    values = REPO / app["spec"]["source"]["path"] / app["spec"]["source"]["helm"]["valueFiles"][0]
    # Every object's kind and namespace, checked as ArgoCD does before it applies anything.
    rendered = render([values.resolve()], namespace=app["spec"]["destination"]["namespace"])
    assert refusals(PROJECT, app["spec"]["destination"], rendered) == []


def test_project_is_least_privilege() -> None:
    spec = PROJECT["spec"]
    assert spec["clusterResourceWhitelist"] == [{"group": "", "kind": "Namespace"}]
    assert all("*" not in str(d) for d in spec["destinations"])
    assert all(k["kind"] != "*" and k["group"] != "*" for k in spec["namespaceResourceWhitelist"])
    assert len(spec["sourceRepos"]) == 1
    rendered = {(d["apiVersion"].rpartition("/")[0], d["kind"]) for d in render()}
    rendered |= {(d["apiVersion"].rpartition("/")[0], d["kind"]) for d in render(sets=["mode=all-in-one"])}
    # A team whose cluster runs another coschedule mode gets the build-cache claim.
    rendered |= {(d["apiVersion"].rpartition("/")[0], d["kind"]) for d in render(sets=["team.coschedule=pipelineruns"])}
    listed = {(k["group"], k["kind"]) for k in spec["namespaceResourceWhitelist"]}
    assert listed == rendered, "the whitelist lists exactly the kinds the chart can render"


def test_no_two_applications_share_a_destination(applications) -> None:
    """Two releases of the chart in one namespace would render the same objects and their
    Applications would fight over them (helm/team-values.py refuses such teams)."""
    destinations = [
        (a["spec"]["destination"]["name"], a["spec"]["destination"]["namespace"]) for a in applications.values()
    ]
    assert len(destinations) == len(set(destinations)), destinations


def test_sync_is_automated_with_prune_and_cleanup_on_removal(applications) -> None:
    for app in applications.values():
        assert app["spec"]["syncPolicy"]["automated"] == {"prune": True, "selfHeal": True}
        assert "resources-finalizer.argocd.argoproj.io" in app["metadata"]["finalizers"]
    assert APPSET["spec"]["syncPolicy"].get("applicationsSync", "sync") in ("sync", "create-delete")
    assert APPSET["spec"]["syncPolicy"].get("preserveResourcesOnDeletion") is False


def test_every_object_the_chart_syncs_then_compares_equal(applications) -> None:
    """ServerSideApply=true (the Tasks' long scripts) alone gets the Structured-Merge Diff, which
    drops what Knative's webhooks write into a Service on every apply: every Service OutOfSync
    after every sync, and selfHeal syncing it again for good (tekton_dag/testing/argocd_diff.py)."""
    objects = render()
    assert any(d["kind"] == "Service" and d["apiVersion"].startswith("serving.knative.dev/") for d in objects)
    for app in applications.values():
        assert diff_strategy(app) == "server-side", app["metadata"].get("annotations")
        drifting = [f"{d['kind']}/{d['metadata']['name']}" for d in objects if stays_out_of_sync(app, d)]
        assert drifting == [], f"{app['metadata']['name']}: OutOfSync after every sync: {drifting}"


@pytest.mark.parametrize(("annotation", "sync_options", "strategy"), [
    (None, [], "legacy"),
    (None, ["CreateNamespace=true", "ServerSideApply=true"], "structured-merge"),
    ("IncludeMutationWebhook=true", ["ServerSideApply=true"], "structured-merge"),  # only with ServerSideDiff
    ("ServerSideDiff=true", ["ServerSideApply=true"], "server-side"),
    (" ServerSideDiff=true , IncludeMutationWebhook=true", [], "server-side"),
    ("ServerSideDiff=true,ServerSideDiff=false", ["ServerSideApply=true"], "structured-merge"),
])
def test_the_diff_strategy_is_chosen_as_argocds_controller_chooses_it(annotation, sync_options, strategy) -> None:
    app = {"metadata": {"annotations": {"argocd.argoproj.io/compare-options": annotation} if annotation else {}},
           "spec": {"syncPolicy": {"syncOptions": sync_options}}}
    assert diff_strategy(app) == strategy
    knative = {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "metadata": {"name": "resolver"}}
    core = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "resolver"}}
    assert stays_out_of_sync(app, knative) == (strategy == "structured-merge")
    assert not stays_out_of_sync(app, core)


def test_removing_a_team_folder_removes_its_application(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    shutil.copytree(TEAMS, repo / "teams")
    shutil.rmtree(repo / "teams" / "commerce")
    names = {a["metadata"]["name"] for a in expand(APPSET, repo, tmp_path, helm_binary())}
    assert names == {f"tekton-dag-{t.name}" for t in teams() if t.name != "commerce"}


def test_a_template_key_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    broken = yaml.safe_load(yaml.safe_dump(APPSET))
    broken["spec"]["template"]["spec"]["destination"]["namespace"] = "{{ .team.namespaec }}"
    with pytest.raises(KeyError, match="missingkey"):
        expand(broken, REPO, tmp_path, helm_binary())


def test_manifests_match_the_argocd_schemas(applications) -> None:
    docs = [APPSET, PROJECT, *applications.values()]
    if not all(crd_schema_path(d).is_file() for d in docs):
        pytest.skip(f"ArgoCD schemas not found under {SCHEMAS}")
    assert [p for d in docs for p in problems(d)] == []


def test_sync_waves_put_every_object_after_what_it_needs() -> None:
    """RBAC/config → Tasks → Pipelines → dead-letter sink → Broker + SinkBindings → functions →
    Triggers (the argocd-cm Trigger health check calls a Trigger without its subscriber Degraded) →
    the build-cache claim (tests/argocd/test_sync_waves.py syncs this through ArgoCD's rules)."""
    wave: dict[str, set[int]] = {}
    for doc in render(sets=["team.coschedule=pipelineruns"]):  # the mode in which the chart makes the claim
        stage = "dead-letter" if doc["metadata"]["name"] == "dead-letters" else doc["kind"]
        wave.setdefault(stage, set()).add(int(doc["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]))
    assert all(len(numbers) == 1 for numbers in wave.values()), wave
    at = {stage: numbers.pop() for stage, numbers in wave.items()}
    order = ["Role", "Task", "Pipeline", "dead-letter", "Broker", "Service", "Trigger", "PersistentVolumeClaim"]
    assert [at[s] for s in order] == sorted(at[s] for s in order) and len({at[s] for s in order}) == len(order), at
    assert at["ServiceAccount"] == at["RoleBinding"] == at["ConfigMap"] == at["NetworkPolicy"] == at["Role"]
    assert at["PersistentVolumeClaim"] == max(at.values())  # last: only a PipelineRun binds it
    assert at["SinkBinding"] == at["Broker"]
