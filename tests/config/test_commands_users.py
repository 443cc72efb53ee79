"""team.yaml ``commands.users``: who may comment /retest, /test and /cancel besides repository writers."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.trees import BASE, write_tree
from tekton_dag.config.errors import ConfigInvalid
from tekton_dag.config.loading import load_config_or_raise

TEAM = "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml]\n"


def test_listed_users_may_command_case_insensitively(tmp_path: Path) -> None:
    yaml = TEAM + "commands:\n  users: [Alice, 'release-bot[bot]']\n"
    team = load_config_or_raise(write_tree(tmp_path, {**BASE, "teams/alpha/team.yaml": yaml})).team("alpha")
    assert team is not None and team.commands.users == ("Alice", "release-bot[bot]")
    assert team.commands.allows("alice") and team.commands.allows("RELEASE-BOT[bot]")
    assert not team.commands.allows("mallory")


def test_by_default_nobody_is_listed(tmp_path: Path) -> None:
    team = load_config_or_raise(write_tree(tmp_path, BASE)).team("alpha")
    assert team is not None and team.commands.users == () and not team.commands.allows("alice")


@pytest.mark.parametrize(("value", "where"), [
    ("{users: ['not a login']}", "commands.users[0]"),
    ("{users: alice}", "commands.users"),
    ("{admins: [alice]}", "commands"),
])
def test_a_bad_list_names_the_field(tmp_path: Path, value: str, where: str) -> None:
    yaml = TEAM + f"commands: {value}\n"
    with pytest.raises(ConfigInvalid) as raised:
        load_config_or_raise(write_tree(tmp_path, {**BASE, "teams/alpha/team.yaml": yaml}))
    assert f"teams/alpha/team.yaml: {where}" in str(raised.value), str(raised.value)
