"""`tekton-dag resolve OWNER/REPO`: which apps of which stacks and teams a repository builds.

`tekton-dag resolve --payload payload.json` shows what a saved webhook body would do, sending
nothing: webhook-ingest's own steps (``webhooks.intake.route``: ignored actions, the slim event
of ``events.github``), the resolver's reading of that event back (``GitHubEvent.from_data``), then
``resolution.resolve`` against the configuration's index, exactly as the chain decides.
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

from tekton_dag import resolution
from tekton_dag.checks import commands
from tekton_dag.cli.common import camel_keys, config_command, emit, fail, usage_error
from tekton_dag.cli.send import read_payload
from tekton_dag.config import graph
from tekton_dag.config.index import ResolverIndex, Target
from tekton_dag.config.models import Config
from tekton_dag.events import catalog, github
from tekton_dag.events.requests import CancelRequest, CommandRequest, RunRequest
from tekton_dag.webhooks import intake


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = config_command(
        subparsers, "resolve", run, help="show the (team, stack, app) targets of a repository",
        description="Look a GitHub repository up the way the resolver does (case-insensitive) and list "
                    "every target it builds, ordered by team, stack and app. Exit 1 when there is none.")
    parser.add_argument("repo", metavar="OWNER/REPO", nargs="?",
                        help="the GitHub repository, e.g. jmjava/tekton-dag-vue-fe (or --payload)")
    parser.add_argument("--payload", metavar="PAYLOAD.json", type=Path,
                        help="a saved webhook body: show the requests it would make, without sending it")
    parser.add_argument("--event", metavar="NAME",
                        help="X-GitHub-Event of --payload (default: inferred from the payload)")
    parser.add_argument(
        "--delivery", default="preview", help="delivery id the event ids derive from (default: preview)"
    )
    parser.set_defaults(parser=parser)


def run(args: argparse.Namespace, config: Config) -> int:
    if (args.payload is None) == (args.repo is None):
        usage_error(args.parser, "give OWNER/REPO or --payload PAYLOAD.json (one of them)")
    if args.payload is not None:
        return preview(args, config)
    if args.event is not None:
        usage_error(args.parser, "--event goes with --payload")
    targets = ResolverIndex.from_config(config).lookup(args.repo)
    if not targets:
        if args.output != "table":  # scripts get an empty result to parse, and still exit 1
            emit([], args.output)
        return fail(f"no app is built from {args.repo} (see `tekton-dag stacks`)")
    rows = [describe(t) for t in targets]
    emit(
        rows,
        args.output,
        headers=("TEAM", "NAMESPACE", "STACK", "APP", "ROLE", "TOOL", "CALLERS", "CALLEES"),
        rows=[
            (
                r["team"],
                r["namespace"],
                r["stack"],
                r["app"],
                r["role"],
                r["tool"],
                len(r["upstream"]),
                len(r["downstream"]),
            )
            for r in rows
        ],
    )
    return 0


def describe(target: Target) -> dict[str, Any]:
    app = target.app
    return {
        "team": target.team.name,
        "namespace": target.team.namespace,
        "stack": target.stack.name,
        "app": app.name,
        "repo": app.repo,
        "role": app.role,
        "tool": app.build.tool,
        "stackFile": target.stack.source,
        "upstream": list(graph.upstream_of(target.stack, app.name)),
        "downstream": list(graph.downstream_of(target.stack, app.name)),
    }


OUTCOMES = {RunRequest: catalog.RUN_REQUESTED, CancelRequest: catalog.RUN_CANCEL_REQUESTED,
            CommandRequest: catalog.COMMAND_REQUESTED}


def preview(args: argparse.Namespace, config: Config) -> int:
    """What ``--payload`` would make happen. Exit 0 when it starts or cancels something, 1 when
    webhook-ingest would ignore or refuse it, or nothing in the configuration wants it."""
    try:
        _, payload = read_payload(args.payload)
    except ValueError as exc:
        return fail(str(exc))
    name = args.event or github.infer_event(payload)
    if not name:
        return fail(
            f"{args.payload}: cannot tell which GitHub event this is: pass --event NAME (e.g. pull_request, push)"
        )
    outcome = intake.route(name, args.delivery, payload)
    result: dict[str, Any] = {
        "event": name,
        "delivery": args.delivery,
        "ingest": {"code": outcome.status, **outcome.body},
        "decisions": [],
    }
    if outcome.event is not None:
        event = github.GitHubEvent.from_data(outcome.event.get_type(), args.delivery, outcome.event.get_data())
        index = ResolverIndex.from_config(config)
        decided = resolution.resolve(event, index, parse_command=commands.parse)
        result["decisions"] = [_decision(d) for d in decided]
    emit(
        camel_keys(result),
        args.output,
        headers=("OUTCOME", "TEAM", "STACK", "APP", "PIPELINE", "DETAIL"),
        rows=_rows(result),
    )
    acted = [d for d in result["decisions"] if d["type"] != catalog.EVENT_IGNORED]
    if acted:
        return 0
    why = (
        outcome.body.get("reason") or "; ".join(d["reason"] for d in result["decisions"]) or outcome.body.get("status")
    )
    return fail(f"{args.payload}: nothing would run: {why}")


def _decision(decision: resolution.Decision) -> dict[str, Any]:
    outcome = decision.outcome
    kind = OUTCOMES.get(type(outcome), catalog.EVENT_IGNORED)
    return {"type": kind, "id": decision.event_id, **dataclasses.asdict(outcome)}


def _rows(result: dict[str, Any]) -> list[tuple[Any, ...]]:
    if not result["decisions"]:
        ingest = result["ingest"]
        return [(f"webhook-ingest {ingest['code']}", "", "", "", "", ingest.get("reason") or ingest.get("status"))]
    rows = []
    for d in result["decisions"]:
        what = d["type"].removeprefix(f"{catalog.PREFIX}.").removesuffix(".v1")
        if d["type"] == catalog.RUN_REQUESTED:
            detail = f"revision {d['revision']}" + (f", PR #{d['pr']['number']}" if d.get("pr") else "")
        elif d["type"] == catalog.RUN_CANCEL_REQUESTED:
            detail = f"PR #{d['pr_number']}: {d['reason']}"
        elif d["type"] == catalog.COMMAND_REQUESTED:
            detail = f"PR #{d['pr_number']}: {d['command']} by {d['user']}" + (f": {d['error']}" if d["error"] else "")
        else:
            detail = d["reason"]
        rows.append((what, d.get("team", ""), d.get("stack", ""), d.get("app", ""), d.get("pipeline", ""), detail))
    return rows
