"""`tekton-dag teams`: the teams of the configuration and their main settings."""

from __future__ import annotations

import argparse
from typing import Any

from tekton_dag.cli.common import config_command, emit
from tekton_dag.config.models import Config, Team


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    config_command(
        subparsers,
        "teams",
        run,
        help="list the teams",
        description="List every team with its namespace, stacks and limits (exit 1 if the configuration is invalid).",
    )


def run(args: argparse.Namespace, config: Config) -> int:
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
