"""`tekton-dag stacks [--team T]`: stacks with entry apps and waves."""

from __future__ import annotations

import pytest

from support.clirun import parsed, run_cli


def test_lists_every_stack_as_a_table() -> None:
    result = run_cli("stacks", "--teams", "teams")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[2]) for r in rows] == [("commerce", "shop", "40"), ("default", "stack-one", "3")]
    assert rows[1][4:] == ["demo-fe", "teams/default/stacks/stack-one.yaml"]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_one_team_in_machine_output(fmt: str) -> None:
    (stack,) = parsed(run_cli("stacks", "--team", "default", "--teams", "teams", "-o", fmt), fmt)
    assert stack["entryApps"] == ["demo-fe"]
    assert stack["waves"] == [["demo-api"], ["release-lifecycle-demo"], ["demo-fe"]]
    assert [a["repo"] for a in stack["apps"]] == [
        "jmjava/tekton-dag-vue-fe", "jmjava/tekton-dag-spring-boot", "jmjava/tekton-dag-spring-boot-gradle"]


def test_an_unknown_team_exits_1() -> None:
    result = run_cli("stacks", "--team", "nobody", "--teams", "teams")
    assert result.returncode == 1
    assert result.stderr == "tekton-dag: error: no team 'nobody' (teams: commerce, default)\n"
