"""owner/repo -> targets: case-insensitive, fan-out in a fixed order."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.trees import BASE, write_tree
from tekton_dag.config.index import ResolverIndex, Target, normalize_repo
from tekton_dag.config.loading import load_config_or_raise


@pytest.fixture
def index(tmp_path: Path) -> ResolverIndex:
    extra = {
        "teams/alpha/team.yaml": "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml, stacks/admin.yaml]\n",
        "teams/alpha/stacks/admin.yaml": "name: admin\napps:\n  - {name: api, repo: acme/api, role: middleware, "
                                         "build: {tool: maven}}\n",
    }
    return ResolverIndex.from_config(load_config_or_raise(write_tree(tmp_path, {**BASE, **extra})))


@pytest.mark.parametrize("spelling", ["acme/api", "ACME/API", "Acme/Api", " acme/api ", "acme/api.git"])
def test_lookup_ignores_case_as_github_does(index: ResolverIndex, spelling: str) -> None:
    assert len(index.lookup(spelling)) == 3


def test_fan_out_is_ordered_by_team_stack_app(index: ResolverIndex) -> None:
    keys = [t.key for t in index.lookup("acme/api")]
    assert keys == [("alpha", "admin", "api"), ("alpha", "shop", "api"), ("beta", "shop", "api")]


def test_targets_carry_the_model_objects(index: ResolverIndex) -> None:
    (target,) = index.lookup("acme/web")
    assert (target.team.namespace, target.stack.name, target.app.build.tool) == ("alpha-ci", "shop", "npm")
    assert target == Target(target.team, target.stack, target.app) and len({target, target}) == 1


def test_unknown_repo_has_no_target(index: ResolverIndex) -> None:
    assert index.lookup("acme/nothing") == ()
    assert index.lookup("acme") == ()


def test_repos_are_listed_normalised(index: ResolverIndex) -> None:
    assert index.repos() == ("acme/api", "acme/db", "acme/web")
    assert len(index) == 3 and normalize_repo("Acme/Web.GIT") == "acme/web"


def test_a_single_lookup_finds_what_the_index_finds_in_the_same_order(tmp_path: Path) -> None:
    """``lookup_in`` (the CLI's one lookup, no index built) agrees with ``lookup`` for every
    spelling, fan-out order included, and for a repository whose name itself ends in ``.git``
    (normalising it twice would not find it)."""
    extra = {
        "teams/alpha/team.yaml": "name: alpha\nnamespace: alpha-ci\nstacks: [stacks/shop.yaml, stacks/admin.yaml]\n",
        "teams/alpha/stacks/admin.yaml": "name: admin\napps:\n  - {name: api, repo: acme/api, role: middleware, "
                                         "build: {tool: maven}}\n  - {name: odd, repo: acme/odd.git.git, "
                                         "role: persistence, build: {tool: maven}}\n",
    }
    config = load_config_or_raise(write_tree(tmp_path, {**BASE, **extra}))
    index = ResolverIndex.from_config(config)
    spellings = ["acme/api", "ACME/API", " acme/api.git ", "acme/web", "acme/odd.git", "acme/odd.git.git",
                 "acme/odd", "acme/nothing", ""]
    for spelling in spellings:
        assert ResolverIndex.lookup_in(config, spelling) == index.lookup(spelling)
        assert [t.key for t in ResolverIndex.lookup_in(config, spelling)] == [t.key for t in index.lookup(spelling)]
    assert len(ResolverIndex.lookup_in(config, "acme/api")) == 3 and ResolverIndex.lookup_in(config, "acme/odd.git")
