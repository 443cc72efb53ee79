"""`tekton-dag resolve OWNER/REPO`: the targets of a repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from support.clirun import REPO, parsed, run_cli
from support.trees import BASE, write_tree


def test_resolves_the_example_front_end_as_a_table() -> None:
    result = run_cli("resolve", "jmjava/tekton-dag-vue-fe", "--teams", "teams")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["TEAM", "NAMESPACE", "STACK", "APP", "ROLE", "TOOL", "CALLERS", "CALLEES"]
    assert row.split() == ["default", "tekton-dag-default", "stack-one", "demo-fe", "frontend", "npm", "0", "2"]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_fan_out_in_machine_output_any_case(tmp_path: Path, fmt: str) -> None:
    write_tree(tmp_path, BASE)
    data = parsed(run_cli("resolve", "ACME/Api", "--teams", "teams", "-o", fmt, cwd=tmp_path), fmt)
    assert [(t["team"], t["stack"], t["app"]) for t in data] == [("alpha", "shop", "api"), ("beta", "shop", "api")]
    assert data[0]["upstream"] == ["web"] and data[0]["downstream"] == ["db"]
    assert data[0]["stackFile"] == "teams/alpha/stacks/shop.yaml"


def test_an_unknown_repo_exits_1() -> None:
    result = run_cli("resolve", "nobody/nothing", "--teams", str(REPO / "teams"))
    assert result.returncode == 1
    assert result.stderr == "tekton-dag: error: no app is built from nobody/nothing (see `tekton-dag stacks`)\n"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_an_unknown_repo_is_an_empty_machine_result_and_exit_1(fmt: str) -> None:
    result = run_cli("resolve", "nobody/nothing", "--teams", str(REPO / "teams"), "-o", fmt)
    assert result.returncode == 1
    assert (json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)) == []
    assert "no app is built from nobody/nothing" in result.stderr


def test_an_invalid_config_lists_its_errors(tmp_path: Path) -> None:
    write_tree(tmp_path, {**BASE, "teams/beta/team.yaml": "name: beta\nstacks: [stacks/shop.yaml]\n"})
    result = run_cli("resolve", "acme/api", "--teams", "teams", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "teams/beta/team.yaml: namespace: required field is missing",
        "tekton-dag: error: 1 problem(s) in the configuration under teams",
    ]
