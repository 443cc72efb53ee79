"""Bootstrap planning with its I/O: ask the registry about every selected image, then plan.

The decisions are ``tekton_dag.bootstrap``'s (selection, planning); the questions go to the
registry through ``tekton_dag.oci``, concurrently and bounded by the client.
"""

from __future__ import annotations

from collections.abc import Mapping

from tekton_dag.bootstrap import planning
from tekton_dag.bootstrap.planning import BootstrapPlan
from tekton_dag.bootstrap.selection import BootstrapRejected, find_team, select
from tekton_dag.config.models import Config
from tekton_dag.events.requests import BootstrapRequest
from tekton_dag.oci.client import PresenceCheck, RegistryClient
from tekton_dag.oci.references import ImageRef, ReferenceError, image_ref


async def plan_bootstrap(config: Config, request: BootstrapRequest, registry: RegistryClient) -> BootstrapPlan:
    """Select, check (concurrently, bounded by the client), plan. Raises ``BootstrapRejected``.

    With ``force_rebuild`` the registry is not asked: every selected app is built anyway.
    """
    team = find_team(config, request.team)
    selections = select(team, request.stack, request.apps)
    tag = request.image_tag or planning.DEFAULT_IMAGE_TAG
    try:
        # Apps in several stacks share their image.
        refs = {app: image_ref(team.image_registry, app, tag) for s in selections for app in s.apps}
    except ReferenceError as exc:
        raise BootstrapRejected(str(exc)) from exc
    found: Mapping[ImageRef, PresenceCheck] = {}
    if not request.force_rebuild:
        found = await registry.presence_of_all(refs.values())
    images = {app: str(ref) for app, ref in refs.items()}
    checks = {app: found[ref] for app, ref in refs.items() if ref in found}
    return planning.make_plan(team, selections, tag, images, checks, request.force_rebuild)
