"""`tekton-dag teams`: the teams of the configuration and their main settings."""

from __future__ import annotations

import argparse
from typing import Any

from tekton_dag.cli.common import add_output_option, add_teams_option, emit, load_config_or_report
from tekton_dag.config.models import Team


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "teams", help="list the teams",
        description="List every team with its namespace, stacks and limits (exit 1 if the configuration is invalid).")
    add_teams_option(parser)
    add_output_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    config = load_config_or_report(args.teams)
    if config is None:
        return 1
    rows = [describe(team) for team in config.teams]
    emit(rows, args.output,
         headers=("TEAM", "NAMESPACE", "STACKS", "APPS", "REGISTRY", "MAX RUNS", "MAX BUILDS", "PUSH"),
         rows=[(r["name"], r["namespace"], ",".join(r["stacks"]), r["apps"], r["imageRegistry"],
                r["maxConcurrentRuns"], r["maxParallelBuilds"], r["push"]) for r in rows])
    return 0


def describe(team: Team) -> dict[str, Any]:
    return {
        "name": team.name,
        "namespace": team.namespace,
        "sharedNamespace": team.shared_namespace,
        "cluster": team.cluster,
        "imageRegistry": team.image_registry,
        "cacheRepo": team.cache_repo,
        "interceptBackend": team.intercept_backend,
        "maxConcurrentRuns": team.max_concurrent_runs,
        "maxParallelBuilds": team.max_parallel_builds,
        "push": team.push,
        "stacks": [stack.name for stack in team.stacks],
        "apps": sum(len(stack.apps) for stack in team.stacks),
        "source": team.source,
    }
