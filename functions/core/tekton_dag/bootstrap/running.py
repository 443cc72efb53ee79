"""The I/O half of planning: ask the registry about every selected image, then plan."""

from __future__ import annotations

from tekton_dag.bootstrap import planning
from tekton_dag.bootstrap.planning import BootstrapPlan
from tekton_dag.bootstrap.selection import BootstrapRejected, find_team, select
from tekton_dag.config.models import Config
from tekton_dag.events.requests import BootstrapRequest
from tekton_dag.oci.client import RegistryClient
from tekton_dag.oci.references import ReferenceError


async def plan_bootstrap(config: Config, request: BootstrapRequest, registry: RegistryClient) -> BootstrapPlan:
    """Select, check (concurrently, bounded by the client), plan. Raises ``BootstrapRejected``.

    With ``force_rebuild`` the registry is not asked: every selected app is built anyway.
    """
    team = find_team(config, request.team)
    selections = select(team, request.stack, request.apps)
    tag = request.image_tag or planning.DEFAULT_IMAGE_TAG
    try:
        images = planning.images(team, selections, tag)
    except ReferenceError as exc:
        raise BootstrapRejected(str(exc)) from exc
    checks = {}
    if not request.force_rebuild:
        checks = await registry.presence_of_all(images.values())
    return planning.make_plan(team, selections, tag, checks, request.force_rebuild)
