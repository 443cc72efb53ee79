"""A bootstrap plan as CloudEvents.

- one ``run.requested`` per stack with apps to build: pipeline ``stack-bootstrap``, ``build_apps``
  in wave order, the plan's ``image_tag``; ``max-parallel-builds`` is the team's, added by the
  PipelineRun builder;
- the outcome: ``bootstrap.planned`` (something to build) or ``bootstrap.skipped`` (nothing: every
  image was found), both listing what is built and skipped and why;
- a rejected request (unknown team, stack or app): ``run.failed`` with ``reason: rejected``.

Ids are derived from the request's id (``catalog.derived_id``), so a redelivered request yields
the same events and the run-creator's deduplication holds.
"""

from __future__ import annotations

from typing import Any

from cloudevents.core.v1.event import CloudEvent

from tekton_dag import pipelines
from tekton_dag.bootstrap.planning import BootstrapPlan
from tekton_dag.events import catalog
from tekton_dag.events.requests import BootstrapRequest, RunRequest

REQUESTED_BY = "bootstrap-batcher"
JSON = "application/json"


def run_requests(plan: BootstrapPlan, request: BootstrapRequest) -> list[RunRequest]:
    return [
        RunRequest(
            team=plan.team,
            stack=stack.stack,
            pipeline=pipelines.BOOTSTRAP,
            delivery=catalog.derived_id(request.delivery, stack.stack),
            build_apps=stack.build_apps,
            image_tag=plan.image_tag,
            requested_by=REQUESTED_BY,
        )
        for stack in plan.to_build
    ]


def run_requested_events(plan: BootstrapPlan, request: BootstrapRequest, parent: CloudEvent) -> list[CloudEvent]:
    return [
        _event(parent, catalog.RUN_REQUESTED, run.to_data(), plan.team, run.stack, run.stack)
        for run in run_requests(plan, request)
    ]


def outcome_event(plan: BootstrapPlan, request: BootstrapRequest, parent: CloudEvent) -> CloudEvent:
    """``bootstrap.planned`` or ``bootstrap.skipped`` (nothing to build)."""
    kind = catalog.BOOTSTRAP_PLANNED if plan.to_build else catalog.BOOTSTRAP_SKIPPED
    data = {**plan.to_data(), "delivery": request.delivery, "requested_by": request.requested_by,
            "runs": [run.delivery for run in run_requests(plan, request)]}
    return _event(parent, kind, data, plan.team, request.stack, ":outcome")


def rejected_event(parent: CloudEvent, data: dict[str, Any], message: str, reason: str = "rejected") -> CloudEvent:
    """``run.failed`` for a request that will never be planned; ``data`` is the request as received."""
    team = str(data.get("team", "")) if isinstance(data, dict) else ""
    stack = str(data.get("stack", "")) if isinstance(data, dict) else ""
    body = {
        "team": team, "stack": stack, "pipeline": pipelines.BOOTSTRAP,
        "delivery": str(data.get("delivery", "")) if isinstance(data, dict) else "",
        "reason": reason, "message": message,
    }
    return _event(parent, catalog.RUN_FAILED, body, team, stack, f":{reason}")


def _event(parent: CloudEvent, kind: str, data: dict[str, Any], team: str, stack: str, part: str) -> CloudEvent:
    attributes: dict[str, Any] = {
        "id": catalog.derived_id(parent.get_id(), team or "-", part),
        "source": catalog.SOURCE_BOOTSTRAP_BATCHER,
        "type": kind,
        "datacontenttype": JSON,
    }
    if team:
        attributes[catalog.EXT_TEAM] = team
        attributes["subject"] = f"{team}/{stack}" if stack else team
    traceparent = parent.get_extension(catalog.EXT_TRACEPARENT)
    if traceparent:
        attributes[catalog.EXT_TRACEPARENT] = traceparent
    return CloudEvent(attributes=attributes, data=data)

