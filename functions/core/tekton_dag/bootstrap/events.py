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
from tekton_dag.events import catalog, codec
from tekton_dag.events.requests import BootstrapRequest, RunRequest

REQUESTED_BY = "bootstrap-batcher"


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
        _event(parent, catalog.RUN_REQUESTED, run.to_data(), plan.team, run.stack)
        for run in run_requests(plan, request)
    ]


def outcome_event(plan: BootstrapPlan, request: BootstrapRequest, parent: CloudEvent) -> CloudEvent:
    """``bootstrap.planned`` or ``bootstrap.skipped`` (nothing to build)."""
    kind = catalog.BOOTSTRAP_PLANNED if plan.to_build else catalog.BOOTSTRAP_SKIPPED
    data = {**plan.to_data(), "delivery": request.delivery, "requested_by": request.requested_by,
            "runs": [run.delivery for run in run_requests(plan, request)]}
    return _event(parent, kind, data, plan.team, ":outcome")


def rejected_event(parent: CloudEvent, data: Any, message: str, reason: str = "rejected") -> CloudEvent:
    """``run.failed`` for a request that will never be planned; ``data`` is the request as received
    (whatever it is: fields that are not strings are left empty)."""
    fields = data if isinstance(data, dict) else {}
    team, stack, delivery = (_text(fields.get(k)) for k in ("team", "stack", "delivery"))
    body = {"team": team, "stack": stack, "pipeline": pipelines.BOOTSTRAP, "delivery": delivery,
            "reason": reason, "message": message}
    return _event(parent, catalog.RUN_FAILED, body, team, f":{reason}")


def _event(parent: CloudEvent, kind: str, data: dict[str, Any], team: str, part: str) -> CloudEvent:
    event_id = catalog.derived_id(parent.get_id(), team or "-", part)
    return codec.following(parent, kind, catalog.SOURCE_BOOTSTRAP_BATCHER, event_id, data, team=team)


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
