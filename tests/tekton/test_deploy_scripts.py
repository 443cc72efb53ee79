"""deploy.sh, intercept.sh and cleanup.sh on a plan made by the real resolve-stack, against the fake kubectl."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest

from tekton_dag.testing.task_scripts import SCRIPTS, FakeCluster, run_script

pytestmark = pytest.mark.skipif(
    shutil.which("jq") is None, reason="jq is needed by the scripts (the task image ships it)"
)

STACK = {
    "name": "shop",
    "defaults": {"namespace": "shop", "container-port": "8080"},
    "apps": [
        {"name": "web", "repo": "acme/web", "role": "frontend", "downstream": ["api"], "build": {"tool": "npm"}},
        {"name": "api", "repo": "acme/api", "role": "middleware", "downstream": ["db"], "build": {"tool": "maven"}},
        {"name": "db", "repo": "acme/db", "role": "persistence", "build": {"tool": "pip"}},
    ],
}
RUN = "stack-pr-7-abc"
K8S = "1.33.0"


def plan(tmp: Path, **env: str) -> Path:
    ws = tmp / "ws"
    proc = subprocess.run([sys.executable, str(SCRIPTS / "resolve_stack.py")], capture_output=True, text=True, env={
        "STACK_JSON": json.dumps(STACK), "IMAGE_REGISTRY": "reg.test", "IMAGE_TAG": "t9", "WORKSPACE_PATH": str(ws),
        "RUN_NAME": RUN, "TEAM": "commerce", **env})
    assert proc.returncode == 0, proc.stderr
    return ws / ".tekton-dag"


def applied(cluster: FakeCluster) -> list[str]:
    return [op["object"] for op in cluster.ops() if op["op"] == "apply"]


def test_deploy_applies_callees_first_and_waits_for_each_rollout(tmp_path):
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path)
    proc = run_script(cluster, "deploy.sh", {"PLAN_DIR": str(plan_dir)})
    assert proc.returncode == 0, proc.stderr
    ops = [(op["op"], op["object"]) for op in cluster.ops() if op["op"] in ("apply", "rollout")]
    assert [o for o in ops if o[1].startswith("Deployment")] == [
        ("apply", "Deployment/shop/db"), ("rollout", "Deployment/shop/db"),
        ("apply", "Deployment/shop/api"), ("rollout", "Deployment/shop/api"),
        ("apply", "Deployment/shop/web"), ("rollout", "Deployment/shop/web")]
    for item in json.loads((cluster.state / "objects.json").read_text()).values():
        kubernetes_validate.validate(item, K8S, strict=True)


def test_deploy_stops_at_a_failed_rollout(tmp_path):
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path)
    cluster.scenario({"api": {"rollout-fails": True}})
    proc = run_script(cluster, "deploy.sh", {"PLAN_DIR": str(plan_dir)})
    assert proc.returncode == 1
    assert "rollout of app 'api' failed" in proc.stderr
    assert "Deployment/shop/web" not in applied(cluster)


def test_deploy_only_the_selected_apps(tmp_path):
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path)
    proc = run_script(cluster, "deploy.sh", {"PLAN_DIR": str(plan_dir), "DEPLOY_APPS": "api"})
    assert proc.returncode == 0, proc.stderr
    assert applied(cluster) == ["Deployment/shop/api", "Service/shop/api"]


def test_deploy_only_the_apps_this_run_built(tmp_path):
    """merge-release deploys what it built, read from the plan (no app list travels as a result)."""
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path, BUILD_APPS="web,db")
    proc = run_script(cluster, "deploy.sh", {"PLAN_DIR": str(plan_dir), "ONLY_BUILT": "true"})
    assert proc.returncode == 0, proc.stderr
    assert [o for o in applied(cluster) if o.startswith("Deployment")] == ["Deployment/shop/db", "Deployment/shop/web"]


def intercept_env(plan_dir: Path, backend: str) -> dict[str, str]:
    return {
        "PLAN_DIR": str(plan_dir),
        "RUN_NAME": RUN,
        "PR_NUMBER": "7",
        "HEADER_NAME": "x-dev-session",
        "HEADER_VALUE": "pr-7",
        "FORWARDER_SOURCE": (SCRIPTS / "intercept_forwarder.py").read_text(),
        "FORWARDER_IMAGE": "python:3.12.8-slim-bookworm",
        "OWNER_POD_NAME": "tr-pod",
        "OWNER_POD_UID": "uid-1",
        "OWNER_POD_NAMESPACE": "shop",
        "INTERCEPT_BACKEND": backend,
        "TELEPRESENCE_IMAGE": "ghcr.io/telepresenceio/telepresence:2.25.0",
        "MIRRORD_IMAGE": "ghcr.io/metalbear-co/mirrord-cli:3.128.0",
        "INTERCEPT_SERVICE_ACCOUNT": "tekton-dag-intercept-blue",
    }


@pytest.mark.parametrize("backend", ["telepresence", "mirrord"])
def test_intercept_runs_the_pr_build_beside_stable_and_routes_by_header(tmp_path, backend):
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path, CHANGED_APP="api", PR_NUMBER="7")
    assert run_script(cluster, "deploy.sh", {"PLAN_DIR": str(plan_dir)}).returncode == 0
    proc = run_script(cluster, "intercept.sh", intercept_env(plan_dir, backend))
    assert proc.returncode == 0, proc.stderr
    objects = json.loads((cluster.state / "objects.json").read_text())
    pr = objects["Deployment/shop/api-pr-7"]
    assert pr["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.test/api:t9"
    assert "command" not in pr["spec"]["template"]["spec"]["containers"][0]  # the PR build serves
    assert objects["Deployment/shop/api"]["spec"]["template"]["spec"]["containers"][0]["image"] == "reg.test/api:t9"
    pod = cluster.pods()["api-pr-7-intercept"]["manifest"]
    kubernetes_validate.validate(pod, K8S, strict=True)
    assert pod["metadata"]["labels"]["tekton-dag.dev/run"] == RUN
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "uid-1"
    text = json.dumps(pod)
    assert "http://api-pr-7.shop.svc:80" in text
    # Its own account (the chart's Role for the backend), never the namespace's default one.
    assert pod["spec"]["serviceAccountName"] == "tekton-dag-intercept-blue"
    if backend == "telepresence":
        env = {e["name"]: e["value"] for e in pod["spec"]["containers"][1]["env"]}
        assert env["HEADER"] == "x-dev-session=pr-7" and env["WORKLOAD"] == "api"
        # Telepresence OSS 2.25.0's flags (pkg/client/cli/intercept/command.go): --http-header "Name=value",
        # the http mechanism implied; no --mechanism http, which OSS < 2.25 rejected along with the header.
        intercept = shlex.split(pod["spec"]["containers"][1]["command"][2].split("; ")[2])
        assert intercept == ["telepresence", "intercept", "$WORKLOAD", "--port", "18080:$SERVICE_PORT",
                             "--http-header", "$HEADER"]
        assert pod["spec"]["containers"][1]["image"] == "ghcr.io/telepresenceio/telepresence:2.25.0"
    else:
        env = {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"]}
        config = json.loads(env["MIRRORD_CONFIG"])
        assert config["target"]["path"] == "deployment/api"
        assert config["operator"] is False  # its own agent Job; no cluster-scoped operator lookup
        assert config["feature"]["network"]["incoming"]["http_filter"]["header_filter"] == "^x-dev-session: pr-7$"


def test_intercept_needs_the_stable_stack(tmp_path):
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path, CHANGED_APP="api", PR_NUMBER="7")
    proc = run_script(cluster, "intercept.sh", intercept_env(plan_dir, "telepresence"))
    assert proc.returncode == 1 and "the stable 'api' is not deployed in shop" in proc.stderr


def test_intercept_that_never_gets_ready_fails(tmp_path):
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path, CHANGED_APP="api", PR_NUMBER="7")
    cluster.scenario({"api": {"never-ready": True}})
    assert run_script(cluster, "deploy.sh", {"PLAN_DIR": str(plan_dir)}).returncode == 0
    proc = run_script(cluster, "intercept.sh", intercept_env(plan_dir, "mirrord"))
    assert proc.returncode == 1 and "the mirrord intercept of 'api' did not start" in proc.stderr


def test_unknown_backend_is_rejected(tmp_path):
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path, CHANGED_APP="api", PR_NUMBER="7")
    proc = run_script(cluster, "intercept.sh", intercept_env(plan_dir, "istio"))
    assert proc.returncode == 1 and "must be telepresence or mirrord" in proc.stderr


def test_cleanup_removes_only_this_runs_objects(tmp_path):
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path, CHANGED_APP="api", PR_NUMBER="7")
    assert run_script(cluster, "deploy.sh", {"PLAN_DIR": str(plan_dir)}).returncode == 0
    assert run_script(cluster, "intercept.sh", intercept_env(plan_dir, "telepresence")).returncode == 0
    # another run's PR workload for PR 8 in the same namespace
    other = json.loads((plan_dir / "pr" / "api.json").read_text())
    for item in other["items"]:
        item["metadata"]["name"] = "api-pr-8"
        item["metadata"]["labels"]["tekton-dag.dev/run"] = "stack-pr-8-zzz"
    (tmp_path / "other.json").write_text(json.dumps(other))
    subprocess.run(
        ["kubectl", "apply", "-f", str(tmp_path / "other.json")], env=cluster.env(), check=True, capture_output=True
    )
    proc = run_script(cluster, "cleanup.sh", {"PLAN_DIR": str(plan_dir), "RUN_NAME": RUN, "DEFAULT_NAMESPACE": "ci"})
    assert proc.returncode == 0, proc.stderr
    left = set(json.loads((cluster.state / "objects.json").read_text()))
    assert left == {"Deployment/shop/db", "Service/shop/db", "Deployment/shop/api", "Service/shop/api",
                    "Deployment/shop/web", "Service/shop/web", "Deployment/shop/api-pr-8", "Service/shop/api-pr-8"}
    assert cluster.pods()["api-pr-7-intercept"]["deleted_ms"] is not None


FAKE_CURL = """#!/usr/bin/env bash
# fake curl for validate-intercepts: the stack as a black box. FAKE_NETWORK says how it behaves:
#   ok: a request with the PR header reaches the PR build (its forwarder logs it), others do not
#   no-propagation: the header is dropped on the way; leak: every request reaches the PR build
#   stable-down: requests without the header fail to connect
with_header=false
for arg in "$@"; do case $arg in "x-dev-session: pr-7") with_header=true ;; esac; done
case $FAKE_NETWORK/$with_header in
  ok/true | stable-down/true | leak/*) echo "forwarded GET / -> 200" >>"$FORWARDER_LOG" ;;
  stable-down/false) printf 000; exit 7 ;;
esac
printf 200
"""


def validate(tmp_path: Path, network: str) -> tuple[subprocess.CompletedProcess, dict]:
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path, CHANGED_APP="api", PR_NUMBER="7")
    (cluster.bin / "curl").write_text(FAKE_CURL)
    (cluster.bin / "curl").chmod(0o755)
    log = tmp_path / "forwarder.log"
    cluster.scenario({"api": {"log-file": str(log)}})
    assert run_script(cluster, "deploy.sh", {"PLAN_DIR": str(plan_dir)}).returncode == 0
    assert run_script(cluster, "intercept.sh", intercept_env(plan_dir, "telepresence")).returncode == 0
    proc = run_script(cluster, "validate_intercepts.sh", {
        "PLAN_DIR": str(plan_dir), "RUN_NAME": RUN, "HEADER_NAME": "x-dev-session", "HEADER_VALUE": "pr-7",
        "RESULT_SUMMARY": str(tmp_path / "summary"), "FAKE_NETWORK": network, "FORWARDER_LOG": str(log)})
    summary = json.loads((tmp_path / "summary").read_text()) if (tmp_path / "summary").exists() else {}
    return proc, summary


def test_validate_passes_when_only_header_traffic_reaches_the_pr_build(tmp_path):
    proc, summary = validate(tmp_path, "ok")
    assert proc.returncode == 0, proc.stderr
    assert (
        summary["header_reached_pr_build"] and summary["ordinary_traffic_stayed_stable"] and summary["stable_answered"]
    )
    detail = json.loads((tmp_path / "ws/.tekton-dag/intercept-summary.json").read_text())
    assert detail["with_header"] == "web=200" and set(summary) == {
        "header_reached_pr_build", "ordinary_traffic_stayed_stable", "stable_answered"}  # the result stays bounded


@pytest.mark.parametrize(("network", "message"), [
    ("no-propagation", "never reached the PR build"),
    ("leak", "requests WITHOUT the header reached the PR build"),
    ("stable-down", "the stable stack did not answer ordinary requests: web=000"),
])
def test_validate_fails_on_broken_routing(tmp_path, network, message):
    proc, _ = validate(tmp_path, network)
    assert proc.returncode == 1 and message in proc.stderr


def test_intercept_needs_its_service_account(tmp_path):
    cluster, plan_dir = FakeCluster(tmp_path), plan(tmp_path, CHANGED_APP="api", PR_NUMBER="7")
    env = intercept_env(plan_dir, "telepresence")
    del env["INTERCEPT_SERVICE_ACCOUNT"]
    proc = run_script(cluster, "intercept.sh", env)
    assert proc.returncode != 0 and "INTERCEPT_SERVICE_ACCOUNT" in proc.stderr
