"""docs/onboarding.md works: its tested blocks, run in order on a scratch copy of the
repository, onboard team `payments`, and ArgoCD's expansion then yields its Application."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support.helm import REPO, helm_binary, render
from tekton_dag.testing.argocd import expand

RUNBOOK = REPO / "docs" / "onboarding.md"
TESTED_BLOCK = re.compile(r"<!-- runbook: tested -->\n```sh\n(.*?)```", re.DOTALL)


def runbook_blocks() -> list[str]:
    return TESTED_BLOCK.findall(RUNBOOK.read_text())


@pytest.fixture
def scratch_repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    for folder in ("teams", "argocd", "tasks", "pipeline"):
        shutil.copytree(REPO / folder, repo / folder)
    shutil.copytree(REPO / "helm", repo / "helm", symlinks=True)  # keeps files/ → ../../../tasks links
    (repo / ".venv").symlink_to(REPO / ".venv")
    return repo


def test_the_runbook_has_tested_steps_for_each_stage() -> None:
    text = "\n".join(runbook_blocks())
    for command in ("team.yaml", "stacks/checkout.yaml", "tekton-dag validate", "helm/team-values.py", "helm template"):
        assert command in text


def test_following_the_runbook_onboards_the_team(scratch_repo: Path, tmp_path: Path) -> None:
    env = {**os.environ, "TMPDIR": str(tmp_path),
           "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{Path(helm_binary()).parent}{os.pathsep}{os.environ['PATH']}"}
    for number, block in enumerate(runbook_blocks(), start=1):
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=scratch_repo, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"runbook block {number} failed:\n{block}\n{result.stdout}\n{result.stderr}"

    values = scratch_repo / "teams" / "payments" / "values.yaml"
    assert yaml.safe_load(values.read_text())["team"]["namespace"] == "payments-ci"
    project = yaml.safe_load((scratch_repo / "argocd" / "appproject.yaml").read_text())
    assert {"name": "in-cluster", "namespace": "payments-ci"} in project["spec"]["destinations"]

    appset = yaml.safe_load((scratch_repo / "argocd" / "applicationset.yaml").read_text())
    apps = {a["metadata"]["name"]: a for a in expand(appset, scratch_repo, tmp_path, helm_binary())}
    app = apps["tekton-dag-payments"]
    assert app["spec"]["destination"] == {"name": "in-cluster", "namespace": "payments-ci"}
    chart = scratch_repo / app["spec"]["source"]["path"]
    assert (chart / app["spec"]["source"]["helm"]["valueFiles"][0]).resolve() == values.resolve()

    docs = render([values], chart=chart)
    defaults = {p.get("default") for d in docs if d["kind"] in ("Task", "Pipeline")
                for p in d["spec"].get("params", []) if p["name"] == "image-registry"}
    assert defaults == {"registry.payments.example:5000"}
    assert (tmp_path / "payments-rendered.yaml").read_text().count("kind: Trigger") == len(
        [d for d in docs if d["kind"] == "Trigger"])
