"""From the registry's answers to a plan: build or skip each app, and the waves to build them in.

Decision per selected app (image ``<team.image_registry>/<app>:<tag>``):

| registry says | force_rebuild | decision |
|---|---|---|
| present | no | skip ("image exists") |
| present / not asked | yes | build ("force-rebuild") |
| absent | - | build ("image missing") |
| unknown (unreachable, auth, 5xx) | - | build, with the registry's reason: never skip blindly |

The tag defaults to ``DEFAULT_IMAGE_TAG`` (``bootstrap``): the pipeline takes one ``image-tag``
for every app it builds, so per-app versions cannot be that tag; a request may name another.

Planning asks no registry itself: it is given each app's image name and what the registry said
(any ``RegistryAnswer``; ``tekton_dag.usecases.bootstrapping`` asks ``tekton_dag.oci``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from tekton_dag.bootstrap.selection import Selection
from tekton_dag.config import graph
from tekton_dag.config.models import Team

DEFAULT_IMAGE_TAG = "bootstrap"

REASON_EXISTS = "image exists"
REASON_MISSING = "image missing"
REASON_FORCED = "force-rebuild"
REASON_UNKNOWN = "registry check failed"

PRESENT, ABSENT = "present", "absent"  # any other answer means the registry could not tell


class RegistryAnswer(Protocol):
    """What the registry said about one image (``tekton_dag.oci.client.PresenceCheck`` is one)."""

    @property
    def presence(self) -> str:
        """``PRESENT``, ``ABSENT``, or anything else for "cannot tell"."""

    @property
    def reason(self) -> str:
        """In words, e.g. "found (sha256:…)" or "registry … unreachable: …"."""


@dataclass(frozen=True)
class AppDecision:
    app: str
    image: str
    build: bool
    reason: str  # one of the REASON_* words
    detail: str = ""  # what the registry said, e.g. "found (sha256:…)" or "registry … unreachable: …"

    def to_data(self) -> dict[str, Any]:
        return {"app": self.app, "image": self.image, "reason": self.reason, "detail": self.detail}


@dataclass(frozen=True)
class StackPlan:
    stack: str
    decisions: tuple[AppDecision, ...]  # every selected app, file order
    waves: tuple[tuple[str, ...], ...]  # the apps to build, callees before callers

    @property
    def build_apps(self) -> tuple[str, ...]:
        """The apps to build in wave order (what the pipeline's ``build-apps`` receives)."""
        return tuple(app for wave in self.waves for app in wave)

    @property
    def built(self) -> tuple[AppDecision, ...]:
        order = {app: i for i, app in enumerate(self.build_apps)}
        return tuple(sorted((d for d in self.decisions if d.build), key=lambda d: order[d.app]))

    @property
    def skipped(self) -> tuple[AppDecision, ...]:
        return tuple(d for d in self.decisions if not d.build)

    def to_data(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "build_apps": list(self.build_apps),
            "waves": [list(w) for w in self.waves],
            "built": [d.to_data() for d in self.built],
            "skipped": [d.to_data() for d in self.skipped],
        }


@dataclass(frozen=True)
class BootstrapPlan:
    team: str
    image_tag: str
    force_rebuild: bool
    stacks: tuple[StackPlan, ...]

    @property
    def to_build(self) -> tuple[StackPlan, ...]:
        """The stacks with at least one app to build (one pipeline run each)."""
        return tuple(s for s in self.stacks if s.build_apps)

    def to_data(self) -> dict[str, Any]:
        return {
            "team": self.team,
            "image_tag": self.image_tag,
            "force_rebuild": self.force_rebuild,
            "stacks": [s.to_data() for s in self.stacks],
        }


def decide(app: str, image: str, check: RegistryAnswer | None, force_rebuild: bool) -> AppDecision:
    if force_rebuild:
        return AppDecision(app, image, True, REASON_FORCED, check.reason if check else "")
    if check is None or check.presence not in (PRESENT, ABSENT):
        return AppDecision(app, image, True, REASON_UNKNOWN, check.reason if check else "not checked")
    if check.presence == ABSENT:
        return AppDecision(app, image, True, REASON_MISSING, check.reason)
    return AppDecision(app, image, False, REASON_EXISTS, check.reason)


def make_plan(
    team: Team,
    selections: list[Selection],
    tag: str,
    images: Mapping[str, str],
    checks: Mapping[str, RegistryAnswer],
    force_rebuild: bool = False,
) -> BootstrapPlan:
    """The plan, given each selected app's image name (``images``) and the registry's answer per
    app (``checks``; may be empty when forced)."""
    stacks = []
    for selection in selections:
        decisions = tuple(
            decide(app, images[app], checks.get(app), force_rebuild) for app in selection.apps
        )
        to_build = [d.app for d in decisions if d.build]
        waves = tuple(graph.build_waves(selection.stack, to_build)) if to_build else ()
        stacks.append(StackPlan(selection.stack.name, decisions, waves))
    return BootstrapPlan(team.name, tag, force_rebuild, tuple(stacks))
