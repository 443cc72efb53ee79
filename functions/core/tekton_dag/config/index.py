"""From a GitHub repository to the apps it builds: ``owner/repo`` -> ``(team, stack, app)`` targets.

One repo may serve several apps, in several stacks and teams (fan-out); inside one stack it
serves at most one app (the loader rejects more). Targets come in a fixed, documented order:
by team name, then stack name, then app name. GitHub treats owner and repository names
case-insensitively, and so does ``lookup``.

The index is built once per loaded ``Config`` (the reloader builds a new one with each new
config) and is read-only afterwards, so lookups need no locks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from tekton_dag.config.loading import collector_paused
from tekton_dag.config.models import App, Config, Stack, Team


@dataclass(frozen=True, eq=False, slots=True)
class Target:
    """One app of one stack of one team that a repository builds."""

    team: Team
    stack: Stack
    app: App

    @property
    def key(self) -> tuple[str, str, str]:
        """``(team, stack, app)`` names: what identifies a target."""
        return (self.team.name, self.stack.name, self.app.name)

    # Compared and hashed by names: the model objects hold mappings, which are not hashable.
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Target) and self.key == other.key

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        return f"Target(team={self.team.name!r}, stack={self.stack.name!r}, app={self.app.name!r})"


def _key(target: Target) -> tuple[str, str, str]:
    return target.key


def _ordered(targets: list[Target]) -> tuple[Target, ...]:
    """A repository's targets in the documented order: team, stack, app (by name)."""
    return tuple(targets) if len(targets) == 1 else tuple(sorted(targets, key=_key))


def normalize_repo(repo: str) -> str:
    """The lookup key of ``owner/repo``: lower case, without surrounding blanks or a ``.git`` suffix."""
    key = repo.strip().lower()
    return key[:-4] if key.endswith(".git") else key


class ResolverIndex:
    """``owner/repo`` -> every target, in the order team, stack, app (by name)."""

    def __init__(self, targets: dict[str, tuple[Target, ...]]) -> None:
        self._targets = targets

    @classmethod
    def from_config(cls, config: Config) -> ResolverIndex:
        found: dict[str, list[Target]] = {}
        with collector_paused():
            for team in config.teams:
                for stack in team.stacks:
                    for app in stack.apps:
                        found.setdefault(normalize_repo(app.repo), []).append(Target(team, stack, app))
            return cls({repo: _ordered(targets) for repo, targets in found.items()})

    @staticmethod
    def lookup_in(config: Config, repo: str) -> tuple[Target, ...]:
        """``ResolverIndex.from_config(config).lookup(repo)`` without building the index: a single
        lookup (``tekton-dag resolve``) then passes over the apps once and makes only the targets it
        returns (building the index made 40,000 and took 0.13 s, a tenth of that command)."""
        normalized = normalize_repo(repo)
        given: list[Target] = []  # as ``lookup``: the spelling given first, then the normalised one
        found: list[Target] = []
        for team in config.teams:
            for stack in team.stacks:
                for app in stack.apps:
                    key = normalize_repo(app.repo)
                    if key == repo:
                        given.append(Target(team, stack, app))
                    if key == normalized:
                        found.append(Target(team, stack, app))
        return _ordered(given or found)

    def lookup(self, repo: str) -> tuple[Target, ...]:
        """Every target of ``repo`` (``"Owner/Repo"``, any case); ``()`` for an unknown repo."""
        found = self._targets.get(repo)
        if found is None:  # the fast path above serves repos already in canonical form
            found = self._targets.get(normalize_repo(repo), ())
        return found

    def repos(self) -> tuple[str, ...]:
        """Every known repository (normalised), sorted."""
        return tuple(sorted(self._targets))

    def __len__(self) -> int:
        return len(self._targets)

    def __iter__(self) -> Iterator[str]:
        return iter(self.repos())
