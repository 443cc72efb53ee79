"""Who consumes and who produces which event type: the one source of the project's Triggers.

``scripts/generate`` writes the Triggers from ``CONSUMES``: ``knative/triggers.yaml`` (what a
cluster applies and what the local Broker reads) and the chart's ``files/routing.yaml``; the
all-in-one function (no Knative Eventing) routes by this table directly. A test checks the loop
guard: no function consumes a type it produces.
"""

from __future__ import annotations

import re

from tekton_dag.bus.delivery import DeliverySpec
from tekton_dag.events import catalog

# GitHub's requests for runs: what webhook-ingest publishes and the resolver turns into requests.
GITHUB_EVENTS: tuple[str, ...] = (catalog.GITHUB_PULL_REQUEST, catalog.GITHUB_PUSH, catalog.GITHUB_ISSUE_COMMENT,
                                  catalog.GITHUB_CHECK_RUN, catalog.GITHUB_CHECK_SUITE, catalog.GITHUB_MERGE_GROUP)

# GitHub's Re-run buttons: status-reporter gets only those of an outdated head (OUTDATED_ONLY), whose
# checks GitHub reset to queued and nothing will run.
RERUNS: tuple[str, ...] = (catalog.GITHUB_CHECK_RUN, catalog.GITHUB_CHECK_SUITE)

# run-creator's outcomes of a run request or cancel (what status-reporter shows on GitHub).
RUN_OUTCOMES: tuple[str, ...] = (catalog.RUN_CREATED, catalog.RUN_QUEUED, catalog.RUN_STARTED, catalog.RUN_FAILED,
                                 catalog.RUN_CANCELLED)

CONSUMES: dict[str, tuple[str, ...]] = {
    "resolver": GITHUB_EVENTS,
    "run-creator": (catalog.RUN_REQUESTED, catalog.RUN_CANCEL_REQUESTED, *catalog.TEKTON_PIPELINERUN_FINISHED),
    "bootstrap-batcher": (catalog.BOOTSTRAP_REQUESTED,),
    "status-reporter": (*RUN_OUTCOMES, *catalog.TEKTON_PIPELINERUN_SHOWN, catalog.COMMAND_REQUESTED,
                        *RERUNS),
}

# Attributes a Trigger matches besides ``type`` (Knative Eventing, "Trigger filtering": exact match
# on any CloudEvents attribute, extensions included; an event without one does not match). run-creator's
# outcomes reach status-reporter only for teams that want GitHub checks (run-creator marks those,
# EXT_CHECKS); for every other team status-reporter had nothing to do with them but be called.
CHECKS_ONLY: dict[str, str] = {catalog.EXT_CHECKS: "true"}
OUTDATED_ONLY: dict[str, str] = {catalog.EXT_OUTDATED: "true"}
ATTRIBUTES: dict[tuple[str, str], dict[str, str]] = {**{("status-reporter", t): CHECKS_ONLY for t in RUN_OUTCOMES},
                                                     **{("status-reporter", t): OUTDATED_ONLY for t in RERUNS}}

PRODUCES: dict[str, tuple[str, ...]] = {
    "webhook-ingest": (*GITHUB_EVENTS, catalog.RUN_REQUESTED, catalog.BOOTSTRAP_REQUESTED),
    # command.requested: status-reporter consumes it (it holds the GitHub credentials to authorise).
    "resolver": (catalog.RUN_REQUESTED, catalog.RUN_CANCEL_REQUESTED, catalog.COMMAND_REQUESTED, catalog.EVENT_IGNORED),
    "run-creator": (*RUN_OUTCOMES, catalog.EVENT_IGNORED),
    # run.failed: its answer to a bootstrap request it refuses (bootstrap/events.py rejected_event).
    "bootstrap-batcher": (
        catalog.RUN_REQUESTED, catalog.BOOTSTRAP_PLANNED, catalog.BOOTSTRAP_SKIPPED, catalog.RUN_FAILED,
    ),
    # Its replies are empty; an authorised command's requests go to the Broker (K_SINK).
    "status-reporter": (catalog.RUN_REQUESTED, catalog.RUN_CANCEL_REQUESTED),
}

# The Broker's DeliverySpec in knative/broker.yaml (without its dead-letter sink); the all-in-one
# function's bus uses it too. A test keeps the two equal.
DELIVERY = DeliverySpec(retry=5, backoff_policy="exponential", backoff_delay_s=1.0)

# A function whose Triggers retry otherwise than the Broker. status-reporter's writes to GitHub are
# paced (github/pacing.py: one a second per installation), so a burst of one installation's run
# events keeps some of them answered 503 for minutes, longer than the Broker's 5 retries (about 31 s
# of backoff) last. Its Triggers retry 10 times from 1 s (about 17 minutes of backoff); a retried
# event writes nothing once GitHub shows the run's state. Knative takes a Trigger's delivery whole
# (bus/triggers.py Trigger.delivery_with), so each field is set; the dead-letter sink stays the Broker's.
TRIGGER_DELIVERY: dict[str, DeliverySpec] = {
    "status-reporter": DeliverySpec(retry=10, backoff_policy="exponential", backoff_delay_s=1.0),
}

# Outcome events no function of the chain acts on: the end states a person (or `tekton-dag dev`)
# watches; status-reporter shows the run outcomes on GitHub.
OUTCOMES: tuple[str, ...] = (*RUN_OUTCOMES, catalog.BOOTSTRAP_PLANNED, catalog.BOOTSTRAP_SKIPPED,
                             catalog.EVENT_IGNORED)


def input_name(event_type: str) -> str:
    """``dev.tektondag.github.pull_request.v1`` → ``github-pull-request``;
    ``dev.tekton.event.pipelinerun.failed.v1`` → ``pipelinerun-failed``."""
    stem = re.sub(r"\.v\d+$", "", event_type, flags=re.ASCII)
    for prefix in (f"{catalog.PREFIX}.", "dev.tekton.event."):
        if stem.startswith(prefix):
            stem = stem[len(prefix):]
            break
    return re.sub(r"[._]", "-", stem)


def trigger_name(function: str, event_type: str) -> str:
    """The Trigger that delivers ``event_type`` to ``function``: ``<function>-<input>``."""
    return f"{function}-{input_name(event_type)}"


def routes() -> dict[str, tuple[str, str]]:
    """Trigger name → (event type, function) for every subscription."""
    return {trigger_name(f, t): (t, f) for f, types in CONSUMES.items() for t in types}


def trigger_delivery(function: str) -> dict[str, object] | None:
    """The ``spec.delivery`` of ``function``'s Triggers as a manifest writes it, or None (the Broker's)."""
    spec = TRIGGER_DELIVERY.get(function)
    if spec is None:
        return None
    return {"retry": spec.retry, "backoffPolicy": spec.backoff_policy, "backoffDelay": f"PT{spec.backoff_delay_s:g}S"}


def filter_attributes(function: str, event_type: str) -> dict[str, str]:
    """The attributes of the Trigger delivering ``event_type`` to ``function``: its type, and ATTRIBUTES."""
    return {"type": event_type, **ATTRIBUTES.get((function, event_type), {})}
