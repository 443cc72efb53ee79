"""teams/<team>/values.yaml is derived from team.yaml (the one source of truth) and cannot drift.

helm/team-values.py writes it (and argocd/appproject.yaml); ``--check`` fails on any stale,
missing or orphaned file. The rendered chart carries the team's facts and files unchanged, laid
out so the project's own loader reads the same team from the mounted ConfigMap.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from support.helm import REPO, TEAMS, find, mount_team_config, one, render
from tekton_dag.config.loading import load_config

SCRIPT = REPO / "helm" / "team-values.py"
TEAM_DIRS = sorted(p.parent for p in TEAMS.glob("*/team.yaml"))


def team_values(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], cwd=cwd, capture_output=True, text=True, timeout=60)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """teams/ and argocd/ of the repository in a scratch folder, for edits."""
    shutil.copytree(TEAMS, tmp_path / "teams")
    shutil.copytree(REPO / "argocd", tmp_path / "argocd")
    return tmp_path


def test_the_committed_values_files_are_up_to_date() -> None:
    result = team_values("--check")
    assert result.returncode == 0, result.stderr


def test_every_team_has_a_values_file() -> None:
    assert TEAM_DIRS, "no team in teams/"
    assert all((d / "values.yaml").is_file() for d in TEAM_DIRS)


def test_an_edited_team_yaml_makes_the_values_stale_until_regenerated(repo_copy: Path) -> None:
    team_file = repo_copy / "teams" / "default" / "team.yaml"
    team_file.write_text(team_file.read_text().replace("imageRegistry: localhost:5000",
                                                       "imageRegistry: registry.moved.example:5000"))
    stale = team_values("--check", cwd=repo_copy)
    assert stale.returncode == 1
    assert "teams/default/values.yaml: stale" in stale.stderr
    assert team_values(cwd=repo_copy).returncode == 0
    assert team_values("--check", cwd=repo_copy).returncode == 0
    docs = render([repo_copy / "teams" / "default" / "values.yaml"])
    defaults = {p.get("default") for d in docs if d["kind"] in ("Task", "Pipeline")
                for p in d["spec"].get("params", []) if p["name"] == "image-registry"}
    assert defaults == {"registry.moved.example:5000"}


def test_a_values_file_without_its_team_is_reported(repo_copy: Path) -> None:
    (repo_copy / "teams" / "default" / "team.yaml").unlink()
    shutil.rmtree(repo_copy / "teams" / "default" / "stacks")
    result = team_values("--check", cwd=repo_copy)
    assert result.returncode == 1
    # The loader itself refuses a team folder without team.yaml, so the orphan cannot deploy.
    assert "teams/default/team.yaml" in result.stderr and "missing" in result.stderr


def test_invalid_configuration_writes_nothing(repo_copy: Path) -> None:
    team_file = repo_copy / "teams" / "commerce" / "team.yaml"
    team_file.write_text(team_file.read_text().replace("maxParallelBuilds: 8", "maxParallelBuilds: lots"))
    before = {p: p.read_text() for p in repo_copy.rglob("values.yaml")}
    result = team_values(cwd=repo_copy)
    assert result.returncode == 1
    assert "teams/commerce/team.yaml" in result.stderr and "maxParallelBuilds" in result.stderr
    assert {p: p.read_text() for p in repo_copy.rglob("values.yaml")} == before


@pytest.mark.parametrize("team_dir", TEAM_DIRS, ids=[d.name for d in TEAM_DIRS])
def test_the_configmap_mounts_the_team_files_where_the_loader_reads_them(team_dir: Path, tmp_path: Path) -> None:
    docs = render([team_dir / "values.yaml"])
    for ksvc in find(docs, "Service"):
        if ksvc["metadata"]["name"] == "dead-letters":
            continue
        spec = ksvc["spec"]["template"]["spec"]
        env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
        mount = next(m for m in spec["containers"][0]["volumeMounts"] if m["name"] == "team-config")
        assert mount["mountPath"] == env["TEKTON_DAG_TEAMS_DIR"]
        # Lay the ConfigMap out as the kubelet would, then load it with the project's loader.
        root = mount_team_config(docs, ksvc["metadata"]["name"], tmp_path / ksvc["metadata"]["name"] / "teams")
        mounted = load_config(root)
        assert mounted.errors == ()
        on_disk = load_config(TEAMS).config.team(team_dir.name)
        (team,) = mounted.config.teams
        assert (team.name, team.namespace, team.stacks) == (on_disk.name, on_disk.namespace, on_disk.stacks)
        assert {p.relative_to(root / team.name).as_posix() for p in (root / team.name).rglob("*.yaml")} == \
            {p.relative_to(team_dir).as_posix() for p in team_dir.rglob("*.yaml") if p.name != "values.yaml"}


@pytest.mark.parametrize("team_dir", TEAM_DIRS, ids=[d.name for d in TEAM_DIRS])
def test_chart_objects_carry_the_team_facts(team_dir: Path) -> None:
    team = load_config(TEAMS).config.team(team_dir.name)
    docs = render([team_dir / "values.yaml"])
    values = yaml.safe_load((team_dir / "values.yaml").read_text())
    deploy = set(values["team"]["deployNamespaces"])
    stack_defaults = {s.document.get("defaults", {}).get("namespace") for s in team.stacks} - {None, team.namespace}
    assert deploy == stack_defaults, "the namespaces the stacks deploy into get the pipelines' Role"
    # Telepresence teams also bind their intercept pods' account in the traffic-manager's namespace
    # (rbac-intercept.yaml: telepresence connect port-forwards to the manager there).
    manager = {"ambassador"} if team.intercept_backend == "telepresence" else set()
    assert {d["metadata"]["namespace"] for d in docs} == {team.namespace} | deploy | manager
    one(docs, "ServiceAccount", team.pipeline_runs.service_account)
    # The chart makes the build-cache claim only where the team's runs bind it (not under Tekton's
    # default coschedule, where a claim no Pod mounts would stay Pending: tests/argocd).
    claims = [d["metadata"]["name"] for d in find(docs, "PersistentVolumeClaim")]
    assert claims == ([] if team.pipeline_runs.coschedule == "workspaces" else [team.pipeline_runs.build_cache_claim])
    assert values["team"]["coschedule"] == team.pipeline_runs.coschedule
    ingest = one(docs, "Service", "webhook-ingest")["spec"]["template"]["spec"]
    secrets = {v["secret"]["secretName"] for v in ingest["volumes"] if "secret" in v}
    assert (team.webhook.secret_name or "tekton-dag-github-webhook") in secrets
    assert values["team"]["maxParallelBuilds"] == team.max_parallel_builds


def test_the_registry_yaml_fallback_is_refused_with_the_way_out(tmp_path: Path) -> None:
    """Without teams/ the functions fall back to stacks/registry.yaml; the chart needs a team folder."""
    shutil.copytree(REPO / "tests" / "fixtures" / "config" / "fallback", tmp_path / "legacy")
    assert load_config(tmp_path / "legacy" / "teams").config.team("default") is not None
    result = team_values("--teams", "teams", cwd=tmp_path / "legacy")
    assert result.returncode == 1
    assert "migration-guide.md" in result.stderr
    assert not list((tmp_path / "legacy").rglob("values.yaml"))


def add_team(repo: Path, name: str, namespace: str, *, cluster: str = "in-cluster", shared: bool = True) -> None:
    folder = repo / "teams" / name
    shutil.copytree(repo / "teams" / "default" / "stacks", folder / "stacks")
    (folder / "team.yaml").write_text(yaml.safe_dump({
        "name": name, "namespace": namespace, "cluster": cluster, "sharedNamespace": shared,
        "stacks": [f"stacks/{p.name}" for p in sorted((folder / "stacks").glob("*.yaml"))]}))


def test_two_teams_in_one_namespace_are_refused_naming_both(repo_copy: Path) -> None:
    """sharedNamespace lets the functions serve both, but two chart releases in one namespace render
    the same objects and two Applications would fight over them: refused, nothing written."""
    default = yaml.safe_load((repo_copy / "teams" / "default" / "team.yaml").read_text())
    (repo_copy / "teams" / "default" / "team.yaml").write_text(
        (repo_copy / "teams" / "default" / "team.yaml").read_text() + "sharedNamespace: true\n")
    add_team(repo_copy, "billing", default["namespace"])
    project_before = (repo_copy / "argocd" / "appproject.yaml").read_text()
    result = team_values(cwd=repo_copy)
    assert result.returncode == 1
    assert f'teams "billing" and "default" both deploy to namespace \'{default["namespace"]}\'' in result.stderr
    assert "fight over the same objects" in result.stderr
    assert not (repo_copy / "teams" / "billing" / "values.yaml").exists()
    assert (repo_copy / "argocd" / "appproject.yaml").read_text() == project_before
    assert team_values("--check", cwd=repo_copy).returncode == 1


def test_the_same_namespace_on_two_clusters_is_two_places(repo_copy: Path) -> None:
    default = yaml.safe_load((repo_copy / "teams" / "default" / "team.yaml").read_text())
    (repo_copy / "teams" / "default" / "team.yaml").write_text(
        (repo_copy / "teams" / "default" / "team.yaml").read_text() + "sharedNamespace: true\n")
    add_team(repo_copy, "billing", default["namespace"], cluster="spoke-eu")
    result = team_values(cwd=repo_copy)
    assert result.returncode == 0, result.stderr
    assert (repo_copy / "teams" / "billing" / "values.yaml").is_file()
