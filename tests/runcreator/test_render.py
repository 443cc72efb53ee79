"""`tekton-dag render` and scripts/generate-run.sh: the same builder, by hand."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
import yaml

from runcreator.conftest import ROOT, TEAMS
from tekton_dag.cli.main import main
from tekton_dag.config.models import Config
from tekton_dag.events.requests import PullRequestRef, RunRequest
from tekton_dag.pipelineruns import build_pipelinerun
from tekton_dag.testing.kube_api import FakeKubeApi

SCRIPT = ROOT / "scripts" / "generate-run.sh"


def render(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["render", "--teams", str(TEAMS), *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_render_prints_what_run_creator_would_create(capsys: pytest.CaptureFixture[str], config: Config) -> None:
    code, out, _ = render(
        capsys, "--mode", "pr", "--app", "demo-fe", "--pr", "7", "--sha", "abc123", "--delivery", "by-hand"
    )
    team = config.team("default")
    request = RunRequest(
        team="default",
        stack="stack-one",
        pipeline="stack-pr-test",
        delivery="by-hand",
        app="demo-fe",
        repo="jmjava/tekton-dag-vue-fe",
        revision="abc123",
        pr=PullRequestRef(7, "abc123"),
        requested_by="cli",
    )
    assert code == 0 and yaml.safe_load(out) == build_pipelinerun(request, team, team.stack("stack-one"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--mode", "merge", "--app", "nope"), "app 'nope' is in no stack of team 'default'"),
        (("--mode", "merge", "--team", "ghost"), "team 'ghost' is not in"),
        (("--mode", "merge", "--stack", "stack-one"), "app: required for stack-merge-release"),
    ],
    ids=["unknown app", "unknown team", "merge without app"],
)
def test_render_explains_bad_requests_and_exits_1(
    capsys: pytest.CaptureFixture[str], args: tuple[str, ...], message: str
) -> None:
    code, out, err = render(capsys, *args)
    assert code == 1 and out == "" and message in err


def test_pr_mode_without_pr_and_sha_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:  # argparse's parser.error: exit 2 with the usage line
        render(capsys, "--mode", "pr", "--app", "demo-fe")
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("usage: tekton-dag render")
    assert "--mode pr needs --pr NUMBER and --sha HEAD_SHA" in err


def test_generate_run_script_applies_through_kubectl() -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is required for this test (it is on the CI image)"
    kube_api = FakeKubeApi(tls=True).start()  # kubectl sends its token over HTTPS only
    env = {**os.environ, "KUBECONFIG": str(kube_api.kubeconfig), "TEKTON_DAG_TEAMS_DIR": str(TEAMS),
           # The fake publishes no OpenAPI documents, so kubectl leaves validation to the server.
           "KUBECTL_CREATE_FLAGS": "--validate=false"}
    result = subprocess.run([str(SCRIPT), "--mode", "merge", "--app", "demo-api", "--sha", "f00d", "--apply"],
                            env=env, capture_output=True, text=True, timeout=60)
    kube_api.stop()
    assert result.returncode == 0, result.stderr
    [run] = kube_api.objects()
    assert f"pipelinerun.tekton.dev/{run['metadata']['name']} created" in result.stdout
    assert run["spec"]["pipelineRef"] == {"name": "stack-merge-release"}


def test_generate_run_script_applies_nothing_when_rendering_fails(kube_api: FakeKubeApi) -> None:
    env = {**os.environ, "KUBECONFIG": str(kube_api.kubeconfig), "TEKTON_DAG_TEAMS_DIR": str(TEAMS)}
    result = subprocess.run(
        [str(SCRIPT), "--mode", "pr", "--app", "demo-fe", "--apply"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and "--mode pr needs" in result.stderr and kube_api.requests == []
