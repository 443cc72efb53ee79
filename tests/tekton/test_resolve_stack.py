"""Behaviour of tasks/scripts/resolve_stack.py: run as the Task runs it, with env in, files and results out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "tasks" / "scripts" / "resolve_stack.py"
RESULTS = ("header-name", *(f"run-compile-{t}" for t in ("npm", "maven", "gradle", "pip", "composer")))

STACK = {
    "name": "shop",
    "propagation": {"header-name": "x-session"},
    "defaults": {"namespace": "shop-staging", "service-port": "80", "container-port": "8080"},
    "apps": [
        {"name": "web", "repo": "acme/web", "role": "frontend", "downstream": ["api"],
         "build": {"tool": "npm", "expected-minutes": 2}, "tests": {"playwright": "tests/e2e"}},
        {"name": "api", "repo": "acme/api", "role": "middleware", "downstream": ["store"],
         "build": {"tool": "maven", "build-command": "mvn -B package", "env": {"MAVEN_ARGS": "-q 'x'"},
                   "expected-minutes": 8}},
        {"name": "store", "repo": "acme/store", "role": "persistence", "build": {"tool": "pip"}},
    ],
}


def run(tmp: Path, **env: str) -> tuple[subprocess.CompletedProcess, dict[str, str]]:
    results = tmp / "results"
    results.mkdir(exist_ok=True)
    base = {"STACK_JSON": json.dumps(STACK), "IMAGE_REGISTRY": "reg.test:5000", "IMAGE_TAG": "abc123",
            "WORKSPACE_PATH": str(tmp / "ws"), "RUN_NAME": "stack-pr-7-x", "TASKRUN_NAMESPACE": "ci"}
    base.update({"RESULT_" + r.upper().replace("-", "_"): str(results / r) for r in RESULTS})
    base.update(env)
    proc = subprocess.run([sys.executable, str(SCRIPT)], env=base, capture_output=True, text=True)
    out = {r: (results / r).read_text() for r in RESULTS if (results / r).exists()}
    return proc, out


def test_bootstrap_plans_every_app_longest_first_and_deploys_callees_first(tmp_path):
    proc, out = run(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert out["header-name"] == "x-session"
    plan = tmp_path / "ws/.tekton-dag"
    assert [r.split("\t")[0] for r in (plan / "deploy-order.tsv").read_text().splitlines()] == ["store", "api", "web"]
    assert [r.split("\t")[0] for r in (plan / "entries.tsv").read_text().splitlines()] == ["web"]
    assert out["run-compile-npm"] == out["run-compile-maven"] == out["run-compile-pip"] == "true"
    assert out["run-compile-gradle"] == "false"
    builds = (tmp_path / "ws/.tekton-dag/builds.tsv").read_text().splitlines()
    # store has no estimate (first: it may be long), then api (8 min) before web (2 min)
    assert [b.split("\t")[0] for b in builds] == ["store", "api", "web"]
    assert builds[1].split("\t")[3] == "reg.test:5000/api:abc123"
    deploy = sorted(p.name for p in (tmp_path / "ws/.tekton-dag/deploy").iterdir())
    assert deploy == ["000-store.json", "001-api.json", "002-web.json"]


def test_pr_run_builds_the_changed_app_and_plans_a_serving_pr_workload(tmp_path):
    proc, out = run(tmp_path, CHANGED_APP="api", PR_NUMBER="7", APP_REVISIONS='{"api": "deadbeef"}')
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "ws/.tekton-dag/builds.tsv").read_text().split("\t")[0] == "api"
    assert out["run-compile-npm"] == "false" and out["run-compile-maven"] == "true"
    assert (tmp_path / "ws/.tekton-dag/clone.tsv").read_text() == "api\tacme/api\tdeadbeef\n"
    items = json.loads((tmp_path / "ws/.tekton-dag/pr/api.json").read_text())["items"]
    deployment, service = items
    assert deployment["metadata"]["name"] == "api-pr-7"
    assert deployment["metadata"]["labels"]["tekton-dag.dev/run"] == "stack-pr-7-x"
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert "command" not in container and "args" not in container  # the PR build runs its own entrypoint
    assert deployment["spec"]["template"]["spec"]["automountServiceAccountToken"] is False  # PR code: no token
    assert service["spec"]["selector"]["tekton-dag.dev/variant"] == "pr-7"
    stable = json.loads((tmp_path / "ws/.tekton-dag/deploy/001-api.json").read_text())["items"][1]
    assert stable["spec"]["selector"]["tekton-dag.dev/variant"] == "stable"  # stable Service never selects PR pods


def test_build_env_is_written_shell_quoted(tmp_path):
    proc, _ = run(tmp_path, BUILD_APPS="api")
    assert proc.returncode == 0, proc.stderr
    env_file = tmp_path / "ws/.tekton-dag/commands/api.env"
    shown = subprocess.run(
        ["sh", "-c", '. "$1"; printf %s "$MAVEN_ARGS"', "sh", str(env_file)], capture_output=True, text=True
    )
    assert shown.stdout == "-q 'x'"
    assert (tmp_path / "ws/.tekton-dag/commands/api.build-command").read_text() == "mvn -B package"


def test_versions_resolve_with_default(tmp_path):
    proc, _ = run(tmp_path, VERSIONS_JSON='{"api": {"version": "1.2.0", "last-released": "1.1.0"}}')
    assert proc.returncode == 0, proc.stderr
    release = [row.split("\t") for row in (tmp_path / "ws/.tekton-dag/release.tsv").read_text().splitlines()]
    assert {app: target.rsplit(":", 1)[1] for app, _, target in release} == {
        "api": "v1.2.0", "store": "v0.1.0-rc.0", "web": "v0.1.0-rc.0"}


@pytest.mark.parametrize(("env", "message"), [
    ({"PR_NUMBER": "1" * 21}, "pr-number: '111111111111111111111' is not a number of at most 20 digits"),
    ({"STACK_JSON": json.dumps({**STACK, "propagation": {"header-name": "h" * 129}})},
     "propagation.header-name: longer than 128 characters"),
    ({"BUILD_APPS": "web,nope"}, "build-apps: unknown app(s) nope"),
    ({"CHANGED_APP": "ghost"}, "changed-app: 'ghost' is not an app"),
    ({"STACK_JSON": "{not json"}, "stack-json is not valid JSON"),
    ({"STACK_NAME": "other"}, "run is for stack 'other'"),
    ({"PR_NUMBER": "7; rm -rf /"}, "pr-number"),
    ({"IMAGE_TAG": "a b"}, "image-tag"),
    ({"APP_REVISIONS": '{"web": "$(reboot)"}', "BUILD_APPS": "web"}, "app-revisions.web"),
])
def test_bad_input_fails_with_a_precise_message(tmp_path, env, message):
    proc, _ = run(tmp_path, **env)
    assert proc.returncode == 1 and message in proc.stderr and "Traceback" not in proc.stderr


def test_cycle_is_named(tmp_path):
    stack = json.loads(json.dumps(STACK))
    stack["apps"][2]["downstream"] = ["web"]
    proc, _ = run(tmp_path, STACK_JSON=json.dumps(stack))
    assert proc.returncode == 1 and "downstream cycle web -> api -> store -> web" in proc.stderr


def test_observed_durations_order_builds_when_the_stack_has_no_estimate(tmp_path):
    stack = json.loads(json.dumps(STACK))
    for app in stack["apps"]:
        app["build"].pop("expected-minutes", None)
    history = tmp_path / "history.tsv"
    history.write_text("web\t30\napi\t400\nstore\t120\n")
    proc, _ = run(tmp_path, STACK_JSON=json.dumps(stack), BUILD_HISTORY=str(history))
    assert proc.returncode == 0, proc.stderr
    builds = (tmp_path / "ws/.tekton-dag/builds.tsv").read_text().splitlines()
    assert [b.split("\t")[0] for b in builds] == ["api", "store", "web"]


REPO_PATHS = [".", "Dockerfile", "docker/app.Dockerfile", "./sub/dir/", "tests/e2e", "a_b-c.d",
              "../x", "a/../b", "/etc", "a b", "a;b", "$(params.x)", "dir/..", "é"]


@pytest.mark.parametrize("path", REPO_PATHS)
def test_config_refuses_exactly_the_paths_resolve_stack_refuses(tmp_path, path):
    """The task cannot import the config's rule (it runs in the pipeline's image), so the two are
    held to the same answers: what `tekton-dag validate` passes, the run takes, and the reverse."""
    from tekton_dag.config.validation import FORMATS

    stack = json.loads(json.dumps(STACK))
    stack["apps"][0]["context-dir"] = path
    proc, _ = run(tmp_path, STACK_JSON=json.dumps(stack))
    refused_by_task = proc.returncode != 0 and "must be a relative path inside the repository" in proc.stderr
    assert refused_by_task is not FORMATS["repo-path"](path), proc.stderr
