"""`tekton-dag resolve OWNER/REPO`: which apps of which stacks and teams a repository builds.

`tekton-dag resolve --payload payload.json` shows what a saved webhook body would do, sending
nothing (``cli/payload_preview.py``, imported only then: the webhook path's modules were about
40% of a plain lookup's imports).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from tekton_dag.cli.common import config_command, emit, fail, usage_error
from tekton_dag.config import graph
from tekton_dag.config.index import ResolverIndex, Target
from tekton_dag.config.models import Config


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
        from tekton_dag.cli.payload_preview import preview

        return preview(args, config)
    if args.event is not None:
        usage_error(args.parser, "--event goes with --payload")
    targets = ResolverIndex.lookup_in(config, args.repo)
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
