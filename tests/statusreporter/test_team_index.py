"""status-reporter's per-configuration look-ups (``TeamIndex``) answer as the walk over every team
they replace: the metric label of an event's team (its name or its label value, the first team in
order wins), a team by name, whether any team wants checks; a reloaded configuration is indexed anew."""

from __future__ import annotations

import dataclasses

from runcreator.conftest import TEAMS
from tekton_dag.config.loading import load_config_or_raise
from tekton_dag.config.models import Config
from tekton_dag.functions.status_reporter import StatusReporterFunction, TeamIndex
from tekton_dag.observability import metrics
from tekton_dag.pipelineruns.naming import label_value

NAMES = ("web", "Web_Team!", "web-team", "a" * 70, "web", "b.c", "x" * 63)


def config_of(names: tuple[str, ...]) -> Config:
    [team, *_] = load_config_or_raise(TEAMS).teams
    return Config(teams=tuple(dataclasses.replace(team, name=name) for name in names))


def walked_label(config: Config, named: str) -> str:
    """The walk status-reporter did per event before the index."""
    return next((t.name for t in config.teams if named in (t.name, label_value(t.name))), metrics.UNCONFIGURED)


def test_the_index_answers_as_the_walk_over_every_team() -> None:
    config = config_of(NAMES)
    index = TeamIndex(config)
    keys = {key for name in NAMES for key in (name, label_value(name))} | {"", "nobody", "WEB"}
    assert {k: index.label_of.get(k, metrics.UNCONFIGURED) for k in keys} == {k: walked_label(config, k) for k in keys}
    assert all(index.by_name[name] is config.team(name) for name in NAMES)
    assert index.checks_wanted == any(t.github.checks for t in config.teams)


def test_a_new_configuration_is_indexed_anew() -> None:
    function = StatusReporterFunction()
    served = [config_of(("one",))]
    function._current_config = lambda: served[0]  # type: ignore[method-assign]
    assert function._team_label({"team": "one"}) == "one"
    served[0] = config_of(("two",))
    assert function._team_label({"team": "one"}) == metrics.UNCONFIGURED
    assert function._team_label({"team": "two"}) == "two"
