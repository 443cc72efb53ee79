"""Every CloudEvent type, source and extension this system produces or consumes.

This module is the one place these strings are written; ``docs/events.md`` documents the same
catalog and a test checks that the two agree. Types are reverse-DNS with a version suffix, as
Tekton's own events are (``dev.tekton.event.pipelinerun.successful.v1``).
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "dev.tektondag"

# Published by webhook-ingest, one per accepted GitHub delivery.
GITHUB_PULL_REQUEST: Final = f"{PREFIX}.github.pull_request.v1"
GITHUB_PUSH: Final = f"{PREFIX}.github.push.v1"
GITHUB_ISSUE_COMMENT: Final = f"{PREFIX}.github.issue_comment.v1"  # a command on a pull request
GITHUB_CHECK_RUN: Final = f"{PREFIX}.github.check_run.v1"  # a check's Re-run button
GITHUB_CHECK_SUITE: Final = f"{PREFIX}.github.check_suite.v1"  # a head's Re-run all button
GITHUB_MERGE_GROUP: Final = f"{PREFIX}.github.merge_group.v1"  # a merge queue's group
GITHUB_PREFIX: Final = f"{PREFIX}.github."

# Requests: published by resolver, webhook-ingest's REST API, the CLI and bootstrap-batcher.
RUN_REQUESTED: Final = f"{PREFIX}.run.requested.v1"
RUN_CANCEL_REQUESTED: Final = f"{PREFIX}.run.cancel.requested.v1"
BOOTSTRAP_REQUESTED: Final = f"{PREFIX}.bootstrap.requested.v1"
# A PR comment's command, resolved to its targets by the resolver; status-reporter authorises it
# (it holds the GitHub credentials) and publishes the run / cancel requests.
COMMAND_REQUESTED: Final = f"{PREFIX}.command.requested.v1"

# Outcomes: every request ends in exactly one of these, so nothing ends silently.
RUN_CREATED: Final = f"{PREFIX}.run.created.v1"
RUN_QUEUED: Final = f"{PREFIX}.run.queued.v1"
RUN_STARTED: Final = f"{PREFIX}.run.started.v1"  # a queued run admitted later
RUN_FAILED: Final = f"{PREFIX}.run.failed.v1"
RUN_CANCELLED: Final = f"{PREFIX}.run.cancelled.v1"
BOOTSTRAP_PLANNED: Final = f"{PREFIX}.bootstrap.planned.v1"
BOOTSTRAP_SKIPPED: Final = f"{PREFIX}.bootstrap.skipped.v1"
EVENT_IGNORED: Final = f"{PREFIX}.event.ignored.v1"

# Tekton's own events (ConfigMap `config-events` `sink` = a team's Broker; docs/tekton.md). Tekton
# has no `cancelled` type: a cancelled run ends with Succeeded False/Cancelled, sent as `failed`
# (tektoncd/pipeline pkg/reconciler/events/cloudevent/cloudevent.go, getEventType).
TEKTON_PIPELINERUN_SUCCESSFUL: Final = "dev.tekton.event.pipelinerun.successful.v1"
TEKTON_PIPELINERUN_FAILED: Final = "dev.tekton.event.pipelinerun.failed.v1"
TEKTON_PIPELINERUN_FINISHED: Final = (TEKTON_PIPELINERUN_SUCCESSFUL, TEKTON_PIPELINERUN_FAILED)
# The states before the end, for status-reporter only: Unknown/Started → started, Unknown/Running →
# running, any other Unknown reason (PipelineRunPending, stopping) → unknown (same source as above).
TEKTON_PIPELINERUN_STARTED: Final = "dev.tekton.event.pipelinerun.started.v1"
TEKTON_PIPELINERUN_RUNNING: Final = "dev.tekton.event.pipelinerun.running.v1"
TEKTON_PIPELINERUN_UNKNOWN: Final = "dev.tekton.event.pipelinerun.unknown.v1"
TEKTON_PIPELINERUN_ALL: Final = (TEKTON_PIPELINERUN_STARTED, TEKTON_PIPELINERUN_RUNNING, TEKTON_PIPELINERUN_UNKNOWN,
                                 *TEKTON_PIPELINERUN_FINISHED)
# What a check shows (checks/reports.py ``from_tekton``): not ``unknown``, so no Trigger delivers it.
TEKTON_PIPELINERUN_SHOWN: Final = (TEKTON_PIPELINERUN_STARTED, TEKTON_PIPELINERUN_RUNNING, *TEKTON_PIPELINERUN_FINISHED)

# `source` attribute of what each producer emits.
SOURCE_WEBHOOK_INGEST: Final = "/tekton-dag/webhook-ingest"
SOURCE_RESOLVER: Final = "/tekton-dag/resolver"
SOURCE_RUN_CREATOR: Final = "/tekton-dag/run-creator"
SOURCE_BOOTSTRAP_BATCHER: Final = "/tekton-dag/bootstrap-batcher"
SOURCE_STATUS_REPORTER: Final = "/tekton-dag/status-reporter"  # the run / cancel requests of an authorised command
SOURCE_CLI: Final = "/tekton-dag/cli"

# Extension attributes: lowercase letters and digits only (CloudEvents naming rule).
EXT_GITHUB_DELIVERY: Final = "githubdelivery"  # X-GitHub-Delivery of the originating webhook
EXT_GITHUB_EVENT: Final = "githubevent"  # X-GitHub-Event of the originating webhook
EXT_TEAM: Final = "team"
EXT_PARTITION_KEY: Final = "partitionkey"  # owner/repo: per-repo ordering on the Kafka Broker
EXT_TRACEPARENT: Final = "traceparent"  # W3C trace context (CloudEvents distributed tracing)
EXT_FORWARDED: Final = "tektondagforwarded"  # on a Tekton event forwarded to its team: who forwarded it
EXT_BROKER_TTL: Final = "knativebrokerttl"  # Knative's loop guard; only Brokers touch it
EXT_RECEIVED: Final = "tektondagreceived"  # RFC 3339 time webhook-ingest received the request (latency metric)
# "true" on run-creator's outcomes for a team that wants GitHub checks (team.yaml github.checks):
# status-reporter's Triggers for those outcomes filter on it (bus/routing.py ATTRIBUTES).
EXT_CHECKS: Final = "tektondagchecks"
EXT_SEAL: Final = "tektondagseal"  # HMAC of an event that makes things happen (events.sealing)
# "true" on a check_run / check_suite re-run of a head that is no longer its pull request's: the
# resolver runs nothing for it; status-reporter's Triggers for those types filter on it, and it
# settles the checks GitHub reset for the re-run (usecases/declining.py).
EXT_OUTDATED: Final = "tektondagoutdated"

# Event ids of derived events are derived too, so a redelivered input yields the same outputs.
def derived_id(parent_id: str, *parts: str) -> str:
    """The id of an event produced from ``parent_id`` for ``parts`` (e.g. team, stack, app)."""
    return "/".join((parent_id, *parts)) if parts else parent_id
