"""docs/migration-guide.md works on the earlier layout: its tested blocks, run in order on a git
repository holding only stacks/registry.yaml and the stack files, first run on the fallback, then
turn it into teams/default/, and the result renders with the chart for ArgoCD."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from support.helm import REPO, helm_binary, render
from tekton_dag.config.loading import load_config

GUIDE = REPO / "docs" / "migration-guide.md"
TESTED_BLOCK = re.compile(r"<!-- migration: tested -->\n```sh\n(.*?)```", re.DOTALL)
LEGACY = REPO / "tests" / "fixtures" / "config" / "fallback"  # stacks/registry.yaml + two stacks


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args], cwd=cwd,
                   check=True, capture_output=True, timeout=60)


def test_following_the_guide_migrates_the_registry_to_a_team(tmp_path: Path) -> None:
    repo = tmp_path / "legacy"
    shutil.copytree(LEGACY, repo)
    shutil.copytree(REPO / "argocd", repo / "argocd")
    shutil.copytree(REPO / "helm", repo / "helm", symlinks=True)
    for folder in ("tasks", "pipeline"):
        shutil.copytree(REPO / folder, repo / folder)
    (repo / ".venv").symlink_to(REPO / ".venv")
    git("init", "-q", cwd=repo)
    git("add", "stacks", cwd=repo)
    git("commit", "-q", "-m", "the earlier layout", cwd=repo)
    before = load_config(repo / "teams").config.team("default")
    env = {
        **os.environ,
        "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{Path(helm_binary()).parent}{os.pathsep}{os.environ['PATH']}",
    }

    blocks = TESTED_BLOCK.findall(GUIDE.read_text())
    assert len(blocks) >= 4
    for number, block in enumerate(blocks, start=1):
        result = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=repo, env=env,
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"guide block {number} failed:\n{block}\n{result.stdout}\n{result.stderr}"

    assert not (repo / "stacks" / "registry.yaml").exists()
    after = load_config(repo / "teams").config.team("default")
    assert [s.name for s in after.stacks] == [s.name for s in before.stacks]
    assert dict(after.versions) == dict(before.versions)
    values = repo / "teams" / "default" / "values.yaml"
    assert yaml.safe_load(values.read_text())["team"]["namespace"] == "tekton-pipelines"
    docs = render([values], chart=repo / "helm" / "tekton-dag")
    # Under Tekton's default coschedule no run mounts the team's claim, so the chart makes none
    # (tests/argocd/test_sync_waves.py); the claim's name is still the team's.
    assert after.pipeline_runs.coschedule == "workspaces" and after.pipeline_runs.build_cache_claim == "build-cache"
    assert [d for d in docs if d["kind"] == "PersistentVolumeClaim"] == []
    shared = render([values], sets=["team.coschedule=pipelineruns"], chart=repo / "helm" / "tekton-dag")
    assert {d["metadata"]["name"] for d in shared if d["kind"] == "PersistentVolumeClaim"} == {"build-cache"}
