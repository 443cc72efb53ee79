"""The chart lints strictly and renders valid objects for every scenario: defaults, ci/*, teams/*."""

from __future__ import annotations

import pytest

from support.helm import CHART, SCHEMAS, Scenario, crd_schema_path, is_crd, problems, render, run_helm, scenarios

SCENARIOS = scenarios()
IDS = [s.name for s in SCENARIOS]


def test_every_ci_scenario_and_every_team_is_a_scenario() -> None:
    names = set(IDS)
    assert {"ci/default-values.yaml", "ci/all-in-one-values.yaml", "ci/kafka-values.yaml"} <= names


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_lints_strictly(scenario: Scenario) -> None:
    args = ["lint", "--strict", str(CHART)]
    for path in scenario.values_files:
        args += ["--values", str(path)]
    from support.helm import team_namespace

    result = run_helm(*args, "--namespace", team_namespace(scenario.values_files), check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[WARNING]" not in result.stdout and "[ERROR]" not in result.stdout, result.stdout


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_core_kinds_are_valid_kubernetes_objects(scenario: Scenario) -> None:
    docs = [d for d in render(scenario.values_files) if not is_crd(d)]
    assert docs, "no core objects rendered"
    assert [p for d in docs for p in problems(d)] == []


@pytest.mark.parametrize("scenario", SCENARIOS, ids=IDS)
def test_custom_resources_match_their_schemas(scenario: Scenario) -> None:
    if not SCHEMAS.is_dir():
        pytest.skip(f"CRD schemas not found at {SCHEMAS}: Tekton/Knative objects not schema-checked")
    docs = [d for d in render(scenario.values_files) if is_crd(d) and crd_schema_path(d).is_file()]
    assert docs, "no custom resources with a schema rendered"
    assert [p for d in docs for p in problems(d)] == []


def test_kinds_without_a_schema_are_named() -> None:
    """SinkBinding has no schema in ../shared/schemas: say so instead of passing silently
    (tests/helm/test_eventing.py checks its fields one by one)."""
    if not SCHEMAS.is_dir():
        pytest.skip(f"CRD schemas not found at {SCHEMAS}")
    missing = sorted({f"{d['apiVersion']}/{d['kind']}" for s in SCENARIOS for d in render(s.values_files)
                      if is_crd(d) and not crd_schema_path(d).is_file()})
    if missing:
        pytest.skip(f"no schema in {SCHEMAS} for: {', '.join(missing)}")


def test_every_object_lands_in_the_release_namespace() -> None:
    docs = render(sets=["team.namespace=team-x"], namespace="team-x")
    assert {d["metadata"].get("namespace") for d in docs} == {"team-x"}


def test_only_pipeline_rbac_reaches_the_deploy_namespaces() -> None:
    docs = render(sets=["team.namespace=team-x", "team.deployNamespaces={staging}"], namespace="team-x")
    elsewhere = {(d["kind"], d["metadata"]["name"]) for d in docs if d["metadata"]["namespace"] != "team-x"}
    assert elsewhere == {("Role", "tekton-dag-pipeline-default"), ("RoleBinding", "tekton-dag-pipeline-default")}


def test_every_object_carries_the_standard_labels_and_the_team() -> None:
    for doc in render(sets=["team.name=blue"]):
        labels = doc["metadata"]["labels"]
        for key in ("app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version",
                    "app.kubernetes.io/managed-by", "helm.sh/chart", "app.kubernetes.io/component"):
            assert key in labels, f"{doc['kind']}/{doc['metadata']['name']} lacks {key}"
        assert labels["tekton-dag.dev/team"] == "blue"


def test_selector_labels_never_include_the_version() -> None:
    for ksvc in (d for d in render() if d["kind"] == "Service"):
        assert "app.kubernetes.io/version" not in ksvc["spec"]["template"]["metadata"]["labels"]


def test_packaged_chart_renders_exactly_like_the_folder(tmp_path) -> None:
    """The .tgz carries real copies of tasks/ and pipeline/ (helm follows the links): same output."""
    run_helm("package", CHART, "--destination", tmp_path)
    (archive,) = tmp_path.glob("tekton-dag-*.tgz")
    assert render(chart=archive) == render()


def test_packaged_chart_contains_the_tekton_files(tmp_path) -> None:
    run_helm("package", CHART, "--destination", tmp_path)
    import tarfile

    (archive,) = tmp_path.glob("tekton-dag-*.tgz")
    with tarfile.open(archive) as packaged:
        names = packaged.getnames()
    from support.helm import REPO

    for path in sorted((REPO / "tasks").glob("*.yaml")) + sorted((REPO / "pipeline").glob("*.yaml")):
        folder = path.parent.name
        assert f"tekton-dag/files/{folder}/{path.name}" in names
