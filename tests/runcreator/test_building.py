"""The one PipelineRun builder: contract with pipelines.py, golden files, Tekton schema."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from runcreator.conftest import ROOT, bootstrap_request, merge_request, pr_request
from tekton_dag import pipelines
from tekton_dag.config.models import Config, GitHubReporting
from tekton_dag.oci.references import image_ref
from tekton_dag.pipelineruns import BuildError, build_pipelinerun, canonical_json

GOLDEN = Path(__file__).parent / "golden"
SCHEMA = ROOT / ".." / "shared" / "schemas" / "tekton.dev" / "pipelinerun_v1.json"
TRACE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
CASES = {
    pipelines.PR_TEST: lambda: pr_request(),
    pipelines.MERGE_RELEASE: lambda: merge_request(),
    pipelines.BOOTSTRAP: lambda: bootstrap_request(),
}


def build(config: Config, pipeline: str) -> dict:
    team = config.team("default")
    return build_pipelinerun(CASES[pipeline](), team, team.stack("stack-one"), traceparent=TRACE)


@pytest.mark.parametrize("pipeline", pipelines.PIPELINES)
def test_output_matches_the_reviewed_golden_file(config: Config, pipeline: str) -> None:
    golden = GOLDEN / f"{pipeline}.yaml"
    rendered = yaml.safe_dump(build(config, pipeline), sort_keys=False)
    if os.environ.get("UPDATE_GOLDEN"):
        golden.write_text(rendered)
    assert rendered == golden.read_text(), f"regenerate with UPDATE_GOLDEN=1 and review the diff of {golden.name}"


@pytest.mark.parametrize("pipeline", pipelines.PIPELINES)
def test_params_and_workspaces_follow_the_pipeline_contract(config: Config, pipeline: str) -> None:
    run = build(config, pipeline)
    assert [p["name"] for p in run["spec"]["params"]] == list(pipelines.PARAMS[pipeline])
    # build-cache is optional and left unbound under Tekton's default coschedule (one PVC per TaskRun).
    assert [w["name"] for w in run["spec"]["workspaces"]] == [
        w for w in pipelines.WORKSPACES if w != pipelines.W_BUILD_CACHE
    ]
    assert all(isinstance(p["value"], str) for p in run["spec"]["params"])


@pytest.mark.parametrize("pipeline", pipelines.PIPELINES)
def test_output_is_valid_against_the_tekton_schema(config: Config, pipeline: str) -> None:
    if not SCHEMA.is_file():
        pytest.skip(f"Tekton schema not vendored at {SCHEMA} (../shared/schemas is absent)")
    import jsonschema

    jsonschema.Draft4Validator(json.loads(SCHEMA.read_text())).validate(build(config, pipeline))


def test_values_come_from_the_team_config(config: Config) -> None:
    team = config.team("default")
    settings = replace(
        team.pipeline_runs,
        service_account="sa-x",
        workspace_size="9Gi",
        storage_class="fast",
        git_credentials_secret="creds-x",
        build_cache_claim="cache-x",
        fs_group=1000,
        timeout_pipeline="2h0m0s",
        coschedule="pipelineruns",
    )
    team = replace(team, namespace="ns-x", image_registry="reg.example:5000", cache_repo=None, max_parallel_builds=7,
                   intercept_backend="mirrord", pipeline_runs=settings)
    run = build_pipelinerun(pr_request(), team, team.stack("stack-one"))
    params = {p["name"]: p["value"] for p in run["spec"]["params"]}
    spec = run["spec"]
    assert run["metadata"]["namespace"] == "ns-x"
    assert (
        params["image-registry"],
        params["cache-repo"],
        params["max-parallel-builds"],
        params["intercept-backend"],
    ) == ("reg.example:5000", "", "7", "mirrord")
    assert spec["taskRunTemplate"]["serviceAccountName"] == "sa-x"
    assert spec["taskRunTemplate"]["podTemplate"] == {"securityContext": {"fsGroup": 1000, "runAsNonRoot": True},
                                                      "automountServiceAccountToken": False}
    assert spec["timeouts"]["pipeline"] == "2h0m0s"
    claim = spec["workspaces"][0]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "9Gi" and claim["storageClassName"] == "fast"
    assert spec["workspaces"][1] == {"name": "git-credentials", "secret": {"secretName": "creds-x"}}
    assert spec["workspaces"][2] == {"name": "build-cache", "persistentVolumeClaim": {"claimName": "cache-x"}}


@pytest.mark.parametrize(("registry", "insecure"), [
    ("kind-registry:5000", "true"),  # the kind e2e's registry: Kaniko would try https only
    ("localhost:5000", "true"), ("127.0.0.1:5000", "true"), ("[::1]:5000", "true"), ("lab.local:5000", "true"),
    ("reg.example:5000", "false"), ("ghcr.io/acme", "false"), ("10.0.0.5:5000", "false"), ("acme", "false"),
])
def test_a_localhost_style_registry_is_pushed_to_over_plain_http(config: Config, registry: str, insecure: str) -> None:
    """insecure-registry follows the rule bootstrap-batcher's registry client asks by (http for these
    hosts), so what bootstrap checks over http is pushed over http."""
    team = replace(config.team("default"), image_registry=registry)
    run = build_pipelinerun(pr_request(), team, team.stack("stack-one"))
    params = {p["name"]: p["value"] for p in run["spec"]["params"]}
    assert params["insecure-registry"] == insecure
    assert image_ref(registry, "app", "t").api_base.startswith("http://") is (insecure == "true")


@pytest.mark.parametrize(("registry", "insecure"), [
    ("registry.lab.example:5000/team", "true"), ("other.example:443", "true"), ("other.example", "true"),
    ("registry.lab.example:5001", "false"), ("registry.example.com", "false"), ("localhost:5000", "true"),
])
def test_a_registry_the_operator_lists_as_insecure_is_pushed_to_over_plain_http(
    config: Config, registry: str, insecure: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """TEKTON_DAG_INSECURE_REGISTRIES (the chart's registries.insecure) is one list for both: the
    registry client asks a listed host over http, and the pipelines push to it with insecure-registry
    (before, only the client read it: bootstrap found images over http that Kaniko pushed over https)."""
    team = replace(config.team("default"), image_registry=registry)
    stack = team.stack("stack-one")
    monkeypatch.setenv("TEKTON_DAG_INSECURE_REGISTRIES", "registry.lab.example:5000, other.example")
    params = {p["name"]: p["value"] for p in build_pipelinerun(pr_request(), team, stack)["spec"]["params"]}
    assert params["insecure-registry"] == insecure
    assert image_ref(registry, "app", "t").api_base.startswith("http://") is (insecure == "true")
    monkeypatch.delenv("TEKTON_DAG_INSECURE_REGISTRIES")  # a later request reads the list again
    params = {p["name"]: p["value"] for p in build_pipelinerun(pr_request(), team, stack)["spec"]["params"]}
    assert params["insecure-registry"] == ("true" if registry.startswith("localhost") else "false")


def test_stack_json_is_the_canonical_stack_document(config: Config) -> None:
    team = config.team("default")
    params = {p["name"]: p["value"] for p in build(config, pipelines.PR_TEST)["spec"]["params"]}
    assert json.loads(params["stack-json"]) == dict(team.stack("stack-one").document)
    assert params["stack-json"] == canonical_json(dict(team.stack("stack-one").document))
    assert json.loads(params["versions-json"])["demo-fe"] == {"version": "0.1.0-rc.1", "last-released": "0.0.0"}
    assert json.loads(params["app-revisions"]) == {"demo-fe": "a" * 40}


def test_labels_and_annotations_identify_the_run(config: Config) -> None:
    metadata = build(config, pipelines.PR_TEST)["metadata"]
    assert metadata["labels"] == {
        "app.kubernetes.io/managed-by": "tekton-dag",
        "tekton-dag.dev/team": "default",
        "tekton-dag.dev/stack": "stack-one",
        "tekton-dag.dev/pipeline": "stack-pr-test",
        "tekton-dag.dev/priority": "1",
        "tekton-dag.dev/app": "demo-fe",
        "tekton-dag.dev/pr": "42",
    }
    assert metadata["annotations"] == {"tekton-dag.dev/delivery": "d-1", "tekton-dag.dev/head-sha": "a" * 40,
                                       "tekton-dag.dev/traceparent": TRACE, "tekton.dev/auto-cleanup-pvc": "true"}


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (replace(pr_request(), app="nope"), "app 'nope' is not in stack 'stack-one'"),
        (replace(pr_request(), pr=None), "pr: required for stack-pr-test"),
        (replace(merge_request(), app=""), "app: required for stack-merge-release"),
        (replace(bootstrap_request(), build_apps=("demo-fe", "ghost")), "app 'ghost' is not in stack"),
    ],
    ids=["unknown app", "pr-test without a PR", "merge without an app", "unknown build app"],
)
def test_requests_that_cannot_become_a_run_are_refused_with_the_reason(config: Config, request_, message: str) -> None:
    team = config.team("default")
    with pytest.raises(BuildError, match=message):
        build_pipelinerun(request_, team, team.stack("stack-one"))


def test_a_team_with_github_checks_turns_the_pipelines_pr_comment_off(config: Config) -> None:
    """One summary, not two: status-reporter's check replaces post-result's comment (team.yaml github.checks)."""
    team = config.team("default")
    assert team is not None and team.stack("stack-one") is not None
    params = {p["name"]: p["value"] for p in build(config, pipelines.PR_TEST)["spec"]["params"]}
    assert params[pipelines.P_POST_RESULT_COMMENT] == "true"
    with_checks = replace(team, github=GitHubReporting(checks=True))
    run = build_pipelinerun(pr_request(), with_checks, with_checks.stack("stack-one"))  # type: ignore[arg-type]
    assert {p["name"]: p["value"] for p in run["spec"]["params"]}[pipelines.P_POST_RESULT_COMMENT] == "false"


def test_the_stack_and_versions_json_follow_a_reloaded_configuration(config: Config) -> None:
    """The texts are kept per configuration object: a reload's new objects give their own."""
    team = config.team("default")
    stack = team.stack("stack-one")
    first = {p["name"]: p["value"] for p in build(config, pipelines.PR_TEST)["spec"]["params"]}
    changed_stack = replace(stack, document={**stack.document, "description": "changed"})
    changed_versions = {**team.versions, "demo-fe": replace(team.versions["demo-fe"], version="9.9.9")}
    reloaded = replace(team, stacks=(changed_stack,), versions=changed_versions)
    run = build_pipelinerun(pr_request(), reloaded, changed_stack, traceparent=TRACE)
    params = {p["name"]: p["value"] for p in run["spec"]["params"]}
    assert json.loads(params["stack-json"])["description"] == "changed"
    assert params["stack-json"] == canonical_json(dict(changed_stack.document))
    assert json.loads(params["versions-json"])["demo-fe"]["version"] == "9.9.9"
    again = {p["name"]: p["value"] for p in build(config, pipelines.PR_TEST)["spec"]["params"]}
    assert again["stack-json"] == first["stack-json"] and again["versions-json"] == first["versions-json"]
    assert json.loads(first["stack-json"])["description"] != "changed"


def test_the_stack_json_is_encoded_once_per_stack(config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stack of 40 apps is ~9 KB of JSON in every run: encoded once, not per request."""
    from tekton_dag.pipelineruns import building

    encoded: list[object] = []
    real = building.canonical_json
    monkeypatch.setattr(building, "canonical_json", lambda value: encoded.append(value) or real(value))
    team = config.team("default")
    stack = replace(team.stack("stack-one"), document=dict(team.stack("stack-one").document))  # not seen before
    for number in range(5):
        build_pipelinerun(pr_request(number=number + 1), team, stack)
    assert sum(1 for value in encoded if isinstance(value, dict) and "apps" in value) == 1


def test_the_kept_texts_are_bounded() -> None:
    from tekton_dag.pipelineruns.building import _TextsByIdentity

    texts = _TextsByIdentity(4)
    documents = [{"n": i} for i in range(10)]
    for document in documents:
        assert texts.text(document, lambda d=document: canonical_json(d)) == canonical_json(document)
    assert len(texts) == 4
    kept = documents[-1]
    assert texts.text(kept, lambda: "made again") == canonical_json(kept)  # still kept
    assert texts.text(documents[0], lambda: "made again") == "made again"  # the oldest went first
