"""resolver: a GitHub CloudEvent in, one request event per target out.

A func-python cloudevent function. For each ``dev.tektondag.github.*`` event it asks
``resolution.resolve`` what to do: ``run.requested`` / ``run.cancel.requested`` per target,
``command.requested`` per team for a PR comment's command (parsed by ``checks.commands``),
``event.ignored`` (with the reason) for an unknown repository or a filtered target. A reply
carries one CloudEvent, so the last event rides on the reply and any others (a repository in
several stacks or teams) are POSTed to the Broker (``K_SINK``) first. It answers the Broker:

- 200 with the last event as a binary-mode CloudEvent reply, once the others were accepted (most
  repositories have one target: no extra request at all);
- 400 for an event it can never handle: wrong type, bad data (the Broker does not retry); 401 or 403 for
  one whose seal is missing or wrong (events.sealing);
- 503 when the Broker or the configuration is unavailable (the Broker retries; derived event ids
  make the retry's events duplicates that consumers drop).

A 2xx reply is always a CloudEvent (a Broker counts any other body as a failed delivery); a
refusal's body is its reason in plain text, which the Broker keeps with a dead letter
(``knativeerrordata``) and a sender reads.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from cloudevents.core.v1.event import CloudEvent

from tekton_dag import resolution
from tekton_dag.checks import commands
from tekton_dag.eventing.publishing import PublishError
from tekton_dag.events import catalog, codec, sealing
from tekton_dag.events.github import GitHubEvent, PayloadError
from tekton_dag.events.requests import CommandRequest
from tekton_dag.functions.lifecycle import Handler, Wiring

log = logging.getLogger("tekton_dag.resolver")


class Resolver(Handler):
    async def handle(self, scope: Mapping[str, Any], receive: Any, send: Any) -> None:
        outcome = await self._process(scope["event"])
        if isinstance(outcome, CloudEvent):
            await send.binary(outcome)
            return
        status, reason = outcome
        body = reason.encode()
        await send.http({"type": "http.response.start", "status": status,
                         "headers": [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]})
        await send.http({"type": "http.response.body", "body": body})

    async def _process(self, event: CloudEvent) -> CloudEvent | tuple[int, str]:
        """The reply event, or the status and reason of a refusal."""
        delivery = event.get_id()
        try:
            data = codec.data(event)
            github = GitHubEvent.from_data(event.get_type(), delivery, data)
        except (codec.EventDecodeError, PayloadError) as exc:
            log.warning("event %s (%s) refused: %s", delivery, event.get_type(), exc)
            return 400, f"{event.get_type()[:80]}: {exc}"
        try:
            self.keys.check(event, data)
        except sealing.SealError as exc:
            log.warning("event %s (%s) refused: %s", delivery, event.get_type(), exc.reason)
            return exc.status, exc.reason
        index = self.configs.index() if self.configs else None
        if index is None or self.publisher is None:  # not ready: the Broker retries
            log.warning("event %s not resolved: %s", delivery, self.ready()[1])
            return 503, self.ready()[1]
        signed_for = codec.extension(event, catalog.EXT_TEAM)
        decisions = resolution.resolve(github, index, signed_for=signed_for, parse_command=commands.parse)
        traceparent = codec.extension(event, catalog.EXT_TRACEPARENT)
        # resolve() always decides at least once (an unknown repository is one event.ignored).
        try:
            events = [self._sealed(outgoing(decision, event, github, traceparent)) for decision in decisions]
        except sealing.KeyMissing as exc:
            log.warning("event %s not resolved: %s", delivery, exc.reason)
            return 503, exc.reason
        try:
            for extra in events[:-1]:
                await self.publisher.publish(extra)
        except PublishError as exc:
            log.warning("event %s: publishing failed, Broker will retry: %s", delivery, exc)
            return 503, "the Broker did not accept the events; retry later"  # its address stays internal
        # On the loop's next turn: by then the reply is on its way (in the all-in-one, its run is
        # being created), so the line's ~0.1 ms of formatting and writing is off the webhook's path
        # (docs/performance.md, twenty-fifth round).
        asyncio.get_running_loop().call_soon(_log_decisions, delivery, github.repo, decisions)
        return events[-1]

    def _sealed(self, event: CloudEvent) -> CloudEvent:
        return self.keys.seal(event, event.get_data())


def _log_decisions(delivery: str, repo: str, decisions: tuple[resolution.Decision, ...]) -> None:
    log.info("event %s %s: %s", delivery, repo, ", ".join(describe(d) for d in decisions))


def outgoing(decision: resolution.Decision, cause: CloudEvent, github: GitHubEvent, traceparent: str) -> CloudEvent:
    """The CloudEvent that carries ``decision``."""
    outcome = decision.outcome
    if isinstance(outcome, resolution.Ignored):
        data = {"reason": outcome.reason, "input_type": cause.get_type(), "input_id": cause.get_id(),
                "repo": github.repo, "team": outcome.team, "stack": outcome.stack, "app": outcome.app}
        return codec.build(
            catalog.EVENT_IGNORED, catalog.SOURCE_RESOLVER, decision.event_id, data,
            subject=github.repo, team=outcome.team, traceparent=traceparent,
            extensions={catalog.EXT_GITHUB_DELIVERY: github.delivery, catalog.EXT_GITHUB_EVENT: github.name},
        )
    return codec.request_event(
        outcome, catalog.SOURCE_RESOLVER, decision.event_id,
        repo=github.repo, github_delivery=github.delivery, traceparent=traceparent,
        received=codec.extension(cause, catalog.EXT_RECEIVED),
    )


def describe(decision: resolution.Decision) -> str:
    outcome = decision.outcome
    if isinstance(outcome, resolution.Ignored):
        return f"ignored ({outcome.reason})"
    what = getattr(outcome, "pipeline", None) or getattr(outcome, "action", None) or "cancel"
    if isinstance(outcome, CommandRequest):
        return f"command {outcome.command!r} ({outcome.action or 'malformed'}) for team {outcome.team}"
    return f"{what} for {outcome.team}/{outcome.stack}/{outcome.app}"


def new(wiring: Wiring | None = None) -> Resolver:
    """func-python's factory: one instance per process."""
    return Resolver(wiring)
