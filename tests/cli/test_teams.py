"""`tekton-dag teams`: one row per team."""

from __future__ import annotations

import pytest

from support.clirun import parsed, run_cli


def test_lists_the_example_teams_as_a_table() -> None:
    result = run_cli("teams", "--teams", "teams")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["TEAM", "NAMESPACE", "STACKS", "APPS"]
    assert [line.split()[:4] for line in lines[1:]] == [
        ["commerce", "commerce-ci", "shop", "40"], ["default", "tekton-dag-default", "stack-one", "3"]]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_machine_output_has_the_team_settings(fmt: str) -> None:
    data = parsed(run_cli("teams", "--teams", "teams", "-o", fmt), fmt)
    default = next(t for t in data if t["name"] == "default")
    assert default["maxConcurrentRuns"] == 3 and default["interceptBackend"] == "telepresence"
    assert default["source"] == "teams/default/team.yaml"
