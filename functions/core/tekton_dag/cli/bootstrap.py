"""`tekton-dag bootstrap`: plan a team's bootstrap here, print it, and publish the request.

The plan printed is what this machine sees (the registry asked from here); without ``--dry-run``
the ``bootstrap.requested`` event goes to the Broker (``--sink`` or ``K_SINK``), and
bootstrap-batcher makes the plan that counts, in the cluster. Exit 1 for an unknown team, stack
or app, an invalid configuration, no sink, or a Broker that refused the event.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import uuid
from collections import Counter
from collections.abc import Iterable
from typing import Any, TextIO

from tekton_dag.bootstrap.planning import DEFAULT_IMAGE_TAG, AppDecision, BootstrapPlan
from tekton_dag.bootstrap.selection import BootstrapRejected
from tekton_dag.cli.common import (
    add_output_option,
    add_teams_option,
    camel_keys,
    emit,
    fail,
    http_url,
    positive_seconds,
    sink_in_env,
    usage_error,
    warn_if_fallback,
    whole_number,
)
from tekton_dag.config.loading import load_config
from tekton_dag.config.models import Config
from tekton_dag.eventing import K_SINK_ENV
from tekton_dag.eventing.publishing import Publisher, PublishError
from tekton_dag.events import catalog, codec, sealing
from tekton_dag.events.requests import BootstrapRequest
from tekton_dag.oci.client import DEFAULT_CONCURRENCY, DEFAULT_TIMEOUT_S, PresenceCheck, RegistryClient
from tekton_dag.oci.credentials import CredentialsError, CredentialStore, load_credentials
from tekton_dag.oci.references import ImageRef
from tekton_dag.usecases.bootstrapping import plan_bootstrap


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "bootstrap",
        help="plan a bootstrap (what is built, what is skipped and why) and publish it",
        description="Plan building a team's images: the requested apps (or all), skipping images "
        "already in the team's registry unless --force-rebuild, in dependency waves. Without "
        "--dry-run, publishes a bootstrap.requested event to the Broker.",
    )
    parser.add_argument("--team", required=True, help="team name (teams/<team>/team.yaml)")
    parser.add_argument("--stack", default="", help="one stack of the team (default: every stack)")
    parser.add_argument("--apps", default="", metavar="A,B", help="comma-separated apps (default: every app)")
    parser.add_argument("--force-rebuild", action="store_true", help="build even apps whose image exists")
    parser.add_argument("--image-tag", default="", metavar="TAG",
                        help=f"tag to check and build (default: {DEFAULT_IMAGE_TAG})")
    parser.add_argument("--dry-run", action="store_true", help="print the plan only; publish nothing")
    parser.add_argument("--sink", type=http_url, default="", metavar="URL",
                        help=f"Broker ingress URL (default: ${K_SINK_ENV})")
    parser.add_argument("--concurrency", type=whole_number(), default=DEFAULT_CONCURRENCY, metavar="N",
                        help=f"registry requests at once (default: {DEFAULT_CONCURRENCY})")
    parser.add_argument("--timeout", type=positive_seconds, default=DEFAULT_TIMEOUT_S, metavar="SECONDS",
                        help=f"registry request timeout (default: {DEFAULT_TIMEOUT_S:g})")
    add_teams_option(parser)
    add_output_option(parser)
    parser.set_defaults(run=run, parser=parser)


def run(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        usage_error(args.parser, "--concurrency must be at least 1")
    sink, problem = (args.sink, "") if args.sink else sink_in_env()  # --sink was checked by argparse
    if not args.dry_run:  # what publishing needs, before the plan asks the registry about every image
        if not sink:
            return fail(f"no Broker to publish to: pass --sink URL or set {K_SINK_ENV} (or use --dry-run)")
        if problem:
            return fail(problem)
        keys = sealing.EventKeys(os.environ)
        if not keys.current():
            return fail(f"bootstrap.requested cannot be published: {sealing.KeyMissing(keys.file_problem).reason}")
    warn_if_fallback(args.teams)
    result = load_config(args.teams)
    if result.config is None:
        for error in result.errors:
            print(f"  {error}", file=sys.stderr)
        return fail(f"invalid configuration in {args.teams} ({len(result.errors)} problem(s))")
    delivery = str(uuid.uuid4())
    request = BootstrapRequest(
        team=args.team, delivery=delivery, stack=args.stack,
        apps=tuple(a.strip() for a in args.apps.split(",") if a.strip()),
        force_rebuild=args.force_rebuild, image_tag=args.image_tag, requested_by="cli",
    )
    try:
        credentials = load_credentials()
        plan = asyncio.run(_plan(result.config, request, credentials, args))
    except (BootstrapRejected, CredentialsError) as exc:
        return fail(str(exc))
    show(plan, args.output, published_to=None if args.dry_run else sink, delivery=delivery)
    if args.dry_run or not sink:
        return 0
    try:
        asyncio.run(_publish(sink, request))
    except PublishError as exc:
        return fail(f"bootstrap.requested not published: {exc}")
    except sealing.KeyMissing as exc:
        return fail(f"bootstrap.requested not published: {exc.reason}")
    print(f"published {catalog.BOOTSTRAP_REQUESTED} id={delivery} to {sink}", file=sys.stderr)
    return 0


async def _plan(config: Config, request: BootstrapRequest, credentials: CredentialStore,
                args: argparse.Namespace) -> BootstrapPlan:
    progress = Progress(sys.stderr) if sys.stderr.isatty() else None
    async with ProgressClient(credentials, concurrency=args.concurrency, timeout=args.timeout,
                              progress=progress) as registry:
        try:
            return await plan_bootstrap(config, request, registry)
        finally:
            if progress is not None:
                progress.done()


class Progress:
    """``checked 12/40 images`` rewritten in place: on a terminal only (a log or a pipe gets none)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.checked = 0
        self.total = 0

    def update(self) -> None:
        self.stream.write(f"\rchecked {self.checked}/{self.total} image(s) in the registry")
        self.stream.flush()

    def done(self) -> None:
        if self.total:
            self.stream.write("\n")
            self.stream.flush()


class ProgressClient(RegistryClient):
    """The registry client, counting the checks for ``Progress``."""

    def __init__(self, *args: Any, progress: Progress | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress = progress

    async def presence_of_all(self, images: Iterable[ImageRef]) -> dict[ImageRef, PresenceCheck]:
        unique = list(dict.fromkeys(images))
        if self.progress is not None:
            self.progress.total = len(unique)
            self.progress.update()
        return await super().presence_of_all(unique)

    async def presence(self, image: ImageRef) -> PresenceCheck:
        check = await super().presence(image)
        if self.progress is not None:
            self.progress.checked += 1
            self.progress.update()
        return check


async def _publish(sink: str, request: BootstrapRequest) -> None:
    event = codec.request_event(request, catalog.SOURCE_CLI, request.delivery)
    event = sealing.EventKeys(os.environ).seal(event, event.get_data())  # KeyMissing: the caller says why
    publisher = Publisher(sink)
    try:
        await publisher.publish(event)
    finally:
        await publisher.aclose()


def show(plan: BootstrapPlan, fmt: str, published_to: str | None, delivery: str) -> None:
    """The plan; in the table, a cause shared by several apps (a registry that is down, ...) is
    one line with a count under the table instead of the same text on every row."""
    data = camel_keys({**plan.to_data(), "delivery": delivery, "published_to": published_to})
    decisions = [(stack, d) for stack in plan.stacks for d in (*stack.built, *stack.skipped)]
    causes = Counter(why(d) for _, d in decisions)
    rows = []
    for stack, decision in decisions:
        wave = {app: i + 1 for i, wave in enumerate(stack.waves) for app in wave}.get(decision.app, "-")
        shown = why(decision) if causes[why(decision)] == 1 else f"{decision.reason} (below)"
        rows.append((stack.stack, decision.app, "build" if decision.build else "skip", wave, shown))
    emit(data, fmt, ("STACK", "APP", "ACTION", "WAVE", "REASON"), rows)
    if fmt == "table":
        for cause, count in causes.items():
            if count > 1:
                print(f"{count} app(s): {cause}")
        for stack in plan.stacks:
            print(f"{plan.team}/{stack.stack}: build {len(stack.build_apps)} app(s) in {len(stack.waves)} "
                  f"wave(s), skip {len(stack.skipped)}; image tag {plan.image_tag}")


def why(decision: AppDecision) -> str:
    return f"{decision.reason}: {decision.detail}" if decision.detail else decision.reason
