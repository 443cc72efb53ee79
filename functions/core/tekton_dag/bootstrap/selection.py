"""Which apps a bootstrap request covers: the requested ones, or every app of the stack(s).

All or nothing: one unknown team, stack or app rejects the whole request (nothing is started), and
the rejection names every unknown app at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tekton_dag.config.models import Config, Stack, Team


class BootstrapRejected(ValueError):
    """A request naming a team, stack or app that does not exist (a permanent error)."""

    def __init__(self, message: str, unknown_apps: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.unknown_apps = tuple(unknown_apps)


@dataclass(frozen=True)
class Selection:
    stack: Stack
    apps: tuple[str, ...]  # file order of the stack


def find_team(config: Config, name: str) -> Team:
    team = config.team(name)
    if team is None:
        known = ", ".join(t.name for t in config.teams) or "none"
        raise BootstrapRejected(f"unknown team {name!r} (teams: {known})")
    return team


def select(team: Team, stack: str = "", apps: Sequence[str] = ()) -> list[Selection]:
    """The apps to consider per stack; stacks without a requested app are left out.

    ``stack=""`` means every stack of the team; ``apps=()`` every app of those stacks. An app
    requested without a stack is taken from every stack of the team that has it.
    """
    stacks = _stacks(team, stack)
    if not apps:
        return [Selection(s, tuple(a.name for a in s.apps)) for s in stacks]
    wanted = list(dict.fromkeys(apps))
    known = {a.name for s in stacks for a in s.apps}
    unknown = [a for a in wanted if a not in known]
    if unknown:
        where = f"stack {stack!r}" if stack else f"any stack of team {team.name!r}"
        names = ", ".join(repr(a) for a in unknown)
        raise BootstrapRejected(f"unknown app{'s' if len(unknown) > 1 else ''} {names}: not in {where}", unknown)
    selections = []
    for s in stacks:
        chosen = tuple(a.name for a in s.apps if a.name in wanted)
        if chosen:
            selections.append(Selection(s, chosen))
    return selections


def _stacks(team: Team, name: str) -> tuple[Stack, ...]:
    if not name:
        if not team.stacks:
            raise BootstrapRejected(f"team {team.name!r} has no stacks")
        return team.stacks
    found = team.stack(name)
    if found is None:
        known = ", ".join(s.name for s in team.stacks) or "none"
        raise BootstrapRejected(f"team {team.name!r} has no stack {name!r} (stacks: {known})")
    return (found,)
