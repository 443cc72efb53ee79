"""`tekton-dag validate`: exit 0 when valid, 1 with every problem listed."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from support.clirun import REPO, parsed, run_cli
from support.trees import BASE, write_tree

BROKEN = {
    "teams/alpha/team.yaml": "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml, stacks/gone.yaml]\n",
    "teams/beta/stacks/shop.yaml": (
        "name: shop\napps:\n  - {name: api, repo: acme/api, role: boss, build: {tool: npm}}\n"
    ),
}
EXPECTED = [
    'teams/alpha/team.yaml: stacks[1]: stack file "stacks/gone.yaml" does not exist',
    'teams/beta/stacks/shop.yaml: apps[0].role: "boss" is not one of: frontend, middleware, persistence, standalone',
]


def test_the_example_teams_are_valid() -> None:
    result = run_cli("validate", "--teams", "teams")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "teams: valid (2 team(s), 2 stack(s), 43 app(s))\n"


def test_teams_dir_comes_from_the_environment_by_default(tmp_path: Path) -> None:
    result = run_cli("validate", cwd=tmp_path, env={"TEKTON_DAG_TEAMS_DIR": str(REPO / "teams")})
    assert result.returncode == 0 and "valid (2 team(s)" in result.stdout


def test_every_problem_is_listed_and_exit_is_1(tmp_path: Path) -> None:
    write_tree(tmp_path, {**BASE, **BROKEN})
    result = run_cli("validate", "--teams", "teams", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.splitlines() == EXPECTED
    assert result.stderr == "tekton-dag: error: 2 problem(s) in the configuration under teams\n"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_machine_output_lists_errors_as_records(tmp_path: Path, fmt: str) -> None:
    write_tree(tmp_path, {**BASE, **BROKEN})
    result = run_cli("validate", "--teams", "teams", "-o", fmt, cwd=tmp_path)
    assert result.returncode == 1
    data = parsed(result.__class__(result.args, 0, result.stdout, result.stderr), fmt)
    assert data["valid"] is False
    assert [f"{e['file']}: {e['path']}: {e['message']}" for e in data["errors"]] == EXPECTED


def test_a_timeout_longer_than_go_can_hold_is_named_with_file_and_path(tmp_path: Path) -> None:
    """Tekton's webhook would refuse every PipelineRun of the team (time: invalid duration)."""
    team = BASE["teams/alpha/team.yaml"] + "pipelineRuns: {timeouts: {pipeline: 2562048h}}\n"
    write_tree(tmp_path, {**BASE, "teams/alpha/team.yaml": team})
    result = run_cli("validate", "--teams", "teams", cwd=tmp_path)
    assert result.returncode == 1, result.stdout
    assert result.stdout.splitlines() == [
        'teams/alpha/team.yaml: pipelineRuns.timeouts.pipeline: "2562048h" is longer than a Go duration can be (at '
        "most 2562047h47m16.854775807s): Tekton would refuse every PipelineRun (time: invalid duration)"]


def test_a_missing_directory_is_a_config_error_not_a_crash(tmp_path: Path) -> None:
    result = run_cli("validate", "--teams", "nowhere", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == "nowhere: (top): no such directory (and no stacks/registry.yaml beside it)\n"
    assert "Traceback" not in result.stderr


def test_a_root_that_is_a_file_is_said_to_be_one(tmp_path: Path) -> None:
    (tmp_path / "teams.yaml").write_text("name: alpha\n")
    result = run_cli("teams", "--teams", "teams.yaml", cwd=tmp_path)
    assert result.returncode == 1
    assert "teams.yaml: (top): not a directory (and no stacks/registry.yaml beside it)" in result.stderr


def test_the_fallback_layout_validates(tmp_path: Path) -> None:
    result = run_cli("validate", "--teams", "teams", cwd=REPO / "tests/fixtures/config/fallback")
    assert result.returncode == 0 and "valid (1 team(s), 2 stack(s), 5 app(s))" in result.stdout


def test_a_collection_used_as_a_key_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    write_tree(tmp_path, {**BASE, "teams/alpha/team.yaml": "name: alpha\nnamespace: alpha-ci\n[a, b]: 1\n"})
    result = run_cli("validate", "--teams", "teams", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == ("teams/alpha/team.yaml: line 3, column 1: invalid YAML: "
                             "a key must be a string, not a sequence\n")
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(("make", "said"), [
    (lambda path: path.mkdir(), "not a file"),
    (lambda path: path.symlink_to(path.parent / "gone.yaml"), "a symbolic link to nothing"),
])
def test_a_team_yaml_that_is_there_but_no_file_is_said_as_such(tmp_path: Path, make: Any, said: str) -> None:
    (tmp_path / "teams" / "alpha").mkdir(parents=True)
    make(tmp_path / "teams" / "alpha" / "team.yaml")
    result = run_cli("validate", "--teams", "teams", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout == f"teams/alpha/team.yaml: (top): {said}: every team directory needs a team.yaml\n"


def test_a_root_whose_name_is_not_utf8_is_read_like_any_other(tmp_path: Path) -> None:
    """A file name is bytes: the configuration snapshot's key hashed it as UTF-8 text and raised."""
    root = os.fsdecode(b"teams-\xff")
    shutil.copytree(REPO / "teams", tmp_path / root)
    result = run_cli("validate", "--teams", root, "-o", "json", cwd=tmp_path)  # JSON: the output is text
    assert parsed(result, "json") == {"valid": True, "errors": []}
