"""The pipelines against Tekton's TaskRun rules (tekton_dag/testing/tekton_rules.py), on the PipelineRuns
the run-creator really builds for every example team: one PVC per TaskRun, taskRunSpecs that name
real tasks and steps, no API token where PR code runs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import yaml

from tekton_dag import pipelines as contract
from tekton_dag.config.checks import resource_problems
from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.events.requests import PullRequestRef, RunRequest
from tekton_dag.pipelineruns import build_pipelinerun
from tekton_dag.testing.tekton_rules import (
    COSCHEDULE_MODES,
    check_pipelinerun,
    check_results,
    claims,
    go_json,
    result_budget,
    taskrun_workspaces,
    termination_message,
)

ROOT = Path(__file__).resolve().parents[2]
TASKS = {
    d["metadata"]["name"]: d for d in (yaml.safe_load(f.read_text()) for f in sorted((ROOT / "tasks").glob("*.yaml")))
}
PIPES = {
    d["metadata"]["name"]: d
    for d in (yaml.safe_load(f.read_text()) for f in sorted((ROOT / "pipeline").glob("*.yaml")))
}
CONFIG = load_config_or_raise(ROOT / "teams")


def request(team, pipeline: str) -> RunRequest:
    stack = team.stacks[0]
    app = stack.apps[0].name
    if pipeline == contract.BOOTSTRAP:
        return RunRequest(team=team.name, stack=stack.name, pipeline=pipeline, delivery="b-1", image_tag="base-1")
    pr = PullRequestRef(number=7, head_sha="a" * 40, base_ref="main") if pipeline == contract.PR_TEST else None
    return RunRequest(team=team.name, stack=stack.name, pipeline=pipeline, delivery="d-1", app=app,
                      repo="owner/repo", revision="a" * 40, pr=pr)


def run_for(team, pipeline: str) -> dict:
    return build_pipelinerun(request(team, pipeline), team, team.stacks[0])


RUNS = [(team.name, pipeline) for team in CONFIG.teams for pipeline in contract.PIPELINES]


# --- the checker itself --------------------------------------------------------------------------
def pipeline_with(*workspaces: tuple[str, str]) -> dict:
    return {"spec": {"workspaces": [{"name": w} for _, w in workspaces],
                     "tasks": [{"name": "t", "taskRef": {"name": "t"},
                                "workspaces": [{"name": n, "workspace": w} for n, w in workspaces]}]}}


def test_two_claims_fail_only_under_coschedule_workspaces():
    pipe = pipeline_with(("source", "run"), ("cache", "cache"))
    run = {"spec": {"workspaces": [{"name": "run", "volumeClaimTemplate": {"spec": {}}},
                                   {"name": "cache", "persistentVolumeClaim": {"claimName": "team-cache"}}]}}
    [violation] = check_pipelinerun(pipe, run, coschedule="workspaces")
    assert violation.task == "t" and violation.rule == "one-pvc"
    assert "more than one PersistentVolumeClaim is bound" in violation.message
    for mode in set(COSCHEDULE_MODES) - {"workspaces"}:
        assert check_pipelinerun(pipe, run, coschedule=mode) == []
    with pytest.raises(ValueError, match="unknown affinity assistant coschedule"):
        check_pipelinerun(pipe, run, coschedule="nodes")


def test_one_claim_twice_with_two_subpaths_is_one_claim_and_secrets_are_not_claims():
    pipe = pipeline_with(("source", "run"), ("cache", "cache"), ("creds", "creds"))
    run = {"spec": {"workspaces": [
        {"name": "run", "persistentVolumeClaim": {"claimName": "team"}, "subPath": "runs/r1"},
        {"name": "cache", "persistentVolumeClaim": {"claimName": "team"}, "subPath": "cache"},
        {"name": "creds", "secret": {"secretName": "git"}}]}}
    assert check_pipelinerun(pipe, run) == []
    bound = taskrun_workspaces(pipe["spec"]["tasks"][0], run)
    assert claims(bound) == {"team"} and [b.get("subPath") for b in bound] == ["runs/r1", "cache", None]


def test_unbound_workspaces_optional_are_left_out_required_fail_the_run():
    pipe = pipeline_with(("source", "run"), ("cache", "cache"))
    task = {"spec": {"steps": [{"name": "s"}], "workspaces": [{"name": "source"}, {"name": "cache", "optional": True}]}}
    run = {"spec": {"workspaces": [{"name": "run", "emptyDir": {}}]}}
    assert check_pipelinerun(pipe, run, tasks={"t": task}) == []
    [violation] = check_pipelinerun(
        pipe, {"spec": {"workspaces": [{"name": "cache", "emptyDir": {}}]}}, tasks={"t": task}
    )
    assert violation.rule == "workspace" and "expected workspace 'run'" in violation.message


def test_taskrunspecs_must_name_a_pipeline_task_and_its_steps():
    pipe = pipeline_with(("source", "run"))
    task = {"spec": {"steps": [{"name": "build"}]}}
    run = {"spec": {"workspaces": [{"name": "run", "emptyDir": {}}],
                    "taskRunSpecs": [{"pipelineTaskName": "nope"},
                                     {"pipelineTaskName": "t", "stepSpecs": [{"name": "build"}, {"name": "lint"}]}]}}
    found = {(v.task, v.message) for v in check_pipelinerun(pipe, run, tasks={"t": task})}
    assert found == {("nope", "pipelineRun's taskrunSpecs defined wrong taskName: 'nope', does not exist in Pipeline"),
                     ("t", "invalid StepOverride: No Step named lint")}


def test_termination_message_is_tektons_json_and_budget_is_shared_by_the_pods_containers():
    # The shape of pkg/termination/write.go output (compare its tests): results, then StartedAt.
    assert termination_message({"digest": "sha256:1"}, started_at="2026-01-02T03:04:05.000Z", reason=None) == (
        b'[{"key":"digest","value":"sha256:1","type":1},{"key":"StartedAt","value":"2026-01-02T03:04:05.000Z","type":3}]')
    assert go_json("<a&b>\u2028é") == '"\\u003ca\\u0026b\\u003e\\u2028é"'  # Go escapes these; UTF-8 stays
    one_step = {"spec": {"steps": [{"name": "a", "script": "x"}]}}
    three_steps = {"spec": {"steps": [{"name": n, "script": "x"} for n in "abc"]}}
    assert result_budget(one_step) == 4096  # prepare + place-scripts + 1 step: 12288 / 3
    assert result_budget(three_steps) == 12288 // 5
    overhead = len(termination_message({}))
    assert check_results("t", one_step, {"a": {"r": "x" * (4096 - overhead - 40)}}) == []
    [violation] = check_results("t", one_step, {"a": {"r": "x" * 4096}})
    assert violation.rule == "result-size" and "above max allowed size 4096" in violation.message


# --- the real pipelines and the PipelineRuns the run-creator builds --------------------------------
@pytest.mark.parametrize(("team", "pipeline"), RUNS)
def test_every_taskrun_binds_at_most_one_pvc_under_tektons_default_flags(team, pipeline):
    run = run_for(CONFIG.team(team), pipeline)
    assert check_pipelinerun(PIPES[pipeline], run, tasks=TASKS, coschedule="workspaces") == []


@pytest.mark.parametrize("mode", ["pipelineruns", "isolate-pipelinerun", "disabled"])
def test_other_coschedule_modes_bind_the_team_build_cache_and_still_pass(mode):
    team = CONFIG.team("default")
    team = replace(team, pipeline_runs=replace(team.pipeline_runs, coschedule=mode))
    for pipeline in contract.PIPELINES:
        run = run_for(team, pipeline)
        bound = {w["name"]: w for w in run["spec"]["workspaces"]}
        assert (
            bound[contract.W_BUILD_CACHE]["persistentVolumeClaim"]["claimName"] == team.pipeline_runs.build_cache_claim
        )
        assert check_pipelinerun(PIPES[pipeline], run, tasks=TASKS, coschedule=mode) == []
        # The same run on a cluster left at the default would fail: the checker sees it.
        assert {v.rule for v in check_pipelinerun(PIPES[pipeline], run, tasks=TASKS)} == {"one-pvc"}


# --- compute resources -------------------------------------------------------------------------------
QUANTITY = r"^[0-9]+(\.[0-9]+)?(m|Ki|Mi|Gi|Ti)?$"


@pytest.mark.parametrize("task", sorted(TASKS))
def test_every_step_requests_cpu_and_memory_and_limits_memory(task):
    for step in TASKS[task]["spec"]["steps"]:
        resources = step.get("computeResources") or {}
        requests, limits = resources.get("requests", {}), resources.get("limits", {})
        assert set(requests) == {"cpu", "memory"} and "memory" in limits, (task, step["name"], resources)
        for value in [*requests.values(), *limits.values()]:
            assert __import__("re").match(QUANTITY, str(value)), (task, step["name"], value)


def test_the_contract_lists_every_step_of_the_tasks_with_its_resources():
    """Config checks a team's stepResources against ``contract.STEP_RESOURCES``: it must be the Tasks' steps."""
    steps = {f"{name}/{step['name']}": step["computeResources"]
             for name, task in TASKS.items() for step in task["spec"]["steps"]}
    assert steps == contract.STEP_RESOURCES


def test_a_teams_step_resources_reach_the_pipelinerun_as_step_specs():
    team = CONFIG.team("commerce")
    override = dict(team.pipeline_runs.step_resources)
    assert override, "teams/commerce/team.yaml shows pipelineRuns.stepResources"
    for pipeline in contract.PIPELINES:
        run = run_for(team, pipeline)
        specs = {s["pipelineTaskName"]: s for s in run["spec"].get("taskRunSpecs", [])}
        for key, resources in override.items():
            task, step = key.split("/")
            if task not in contract.PIPELINE_TASKS[pipeline]:
                assert task not in specs or not specs[task].get("stepSpecs")
                continue
            assert {"name": step, "computeResources": resources} in specs[task]["stepSpecs"]
        assert check_pipelinerun(PIPES[pipeline], run, tasks=TASKS) == []


# Overrides of compile-maven/compile, whose Task requests cpu 1 and memory 2Gi and limits memory 4Gi.
OVERRIDES = [
    {"limits": {"memory": "1Gi"}},  # below the Task's request, which stays
    {"requests": {"memory": "6Gi"}},  # above the Task's limit, which stays
    {"requests": {"cpu": "2"}, "limits": {"cpu": "1500m"}},
    {"limits": {"cpu": "500m"}},  # below the Task's cpu request
    {"requests": {"cpu": "2", "memory": "3Gi"}, "limits": {"memory": "6Gi"}},  # commerce's: fine
    {"requests": {"memory": "4Gi"}, "limits": {"cpu": "1"}},  # equal is fine
    {"limits": {"memory": "4096Mi", "cpu": "1000m"}},  # the same amounts written otherwise
]


@pytest.mark.parametrize("override", OVERRIDES, ids=[str(o) for o in OVERRIDES])
def test_config_refuses_exactly_the_step_resources_whose_pod_the_cluster_refuses(override):
    """The config check (its own merge over contract.STEP_RESOURCES) against rule 4 applied to the
    PipelineRun the product builds and the Tasks in tasks/: one refuses what the other fails."""
    team = CONFIG.team("commerce")
    document = {"pipelineRuns": {"stepResources": {"compile-maven/compile": override}}}
    refused = list(resource_problems(document, "team.yaml"))
    settings = replace(team.pipeline_runs, step_resources={"compile-maven/compile": override})
    run = run_for(replace(team, pipeline_runs=settings), contract.PR_TEST)
    failed = [v for v in check_pipelinerun(PIPES[contract.PR_TEST], run, tasks=TASKS) if v.rule == "pod-resources"]
    assert len(refused) == len(failed), (refused, failed)
    assert all(v.task == "compile-maven" and "PodCreationFailed" in v.message for v in failed)


@pytest.mark.parametrize("pipeline", contract.PIPELINES)
def test_the_contract_lists_each_pipelines_tasks(pipeline):
    spec = PIPES[pipeline]["spec"]
    assert set(contract.PIPELINE_TASKS[pipeline]) == {t["name"] for t in [*spec["tasks"], *spec["finally"]]}


# --- no API token where PR code runs -------------------------------------------------------------------
def effective_pod_template(run: dict, task: str) -> dict:
    """Tekton's GetTaskRunSpec: taskRunSpecs[].podTemplate over taskRunTemplate.podTemplate, field by field."""
    merged = dict(run["spec"].get("taskRunTemplate", {}).get("podTemplate", {}))
    for spec in run["spec"].get("taskRunSpecs", []):
        if spec["pipelineTaskName"] == task:
            merged |= spec.get("podTemplate", {})
    return merged


def talks_to_the_api(task: str) -> bool:
    return any("kubectl " in step.get("script", "") for step in TASKS[task]["spec"]["steps"])


@pytest.mark.parametrize(("team", "pipeline"), RUNS)
def test_only_tasks_that_talk_to_the_api_get_a_service_account_token(team, pipeline):
    run = run_for(CONFIG.team(team), pipeline)
    for pt in [*PIPES[pipeline]["spec"]["tasks"], *PIPES[pipeline]["spec"]["finally"]]:
        mounted = effective_pod_template(run, pt["name"]).get("automountServiceAccountToken", True)
        assert mounted == talks_to_the_api(pt["taskRef"]["name"]), pt["name"]
    # PR code runs in the compile tasks and in the tests of run-stack-tests: never with a token.
    assert not talks_to_the_api("run-stack-tests") and not any(
        talks_to_the_api(t) for t in TASKS if t.startswith("compile-")
    )


def test_the_resource_table_in_docs_is_the_tasks_own():
    """docs/tekton.md "Compute resources" lists every step with its defaults, as the Tasks declare them."""
    import re

    text = (ROOT / "docs/tekton.md").read_text().split("## Compute resources", 1)[1].split("\n## ", 1)[0]
    documented = {}
    for cells in (
        row.strip("|").split("|")
        for row in text.splitlines()
        if row.startswith("| ") and "/" in row and "task/step" not in row
    ):
        names, cpu, memory, limit = (c.strip() for c in cells)
        for name in names.split(", "):
            match = re.fullmatch(r"(.*)\{(.*)\}(.*)", name)
            for expanded in ([match[1] + x + match[3] for x in match[2].split(",")] if match else [name]):
                documented[expanded] = {"requests": {"cpu": cpu, "memory": memory}, "limits": {"memory": limit}}
    declared = {f"{t}/{s['name']}": s["computeResources"] for t, task in TASKS.items() for s in task["spec"]["steps"]}
    assert documented == declared
