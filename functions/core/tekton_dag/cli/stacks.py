"""`tekton-dag stacks [--team T]`: the stacks of every team (or one), with entry apps."""

from __future__ import annotations

import argparse
from typing import Any

from tekton_dag.cli.common import config_command, emit, fail
from tekton_dag.config import graph
from tekton_dag.config.models import Config, Stack, Team


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = config_command(
        subparsers, "stacks", run, help="list the stacks of every team, or of one",
        description="List stacks with their apps, entry apps and build waves. `-o json|yaml` adds every "
                    "app with its repo, build tool and downstream apps.")
    parser.add_argument("--team", metavar="T", help="only this team's stacks")


def run(args: argparse.Namespace, config: Config) -> int:
    teams = config.teams
    if args.team is not None:
        team = config.team(args.team)
        if team is None:
            return fail(f"no team {args.team!r} (teams: {', '.join(t.name for t in config.teams)})")
        teams = (team,)
    rows = [describe(team, stack) for team in teams for stack in team.stacks]
    emit(rows, args.output,
         headers=("TEAM", "STACK", "APPS", "WAVES", "ENTRY APPS", "FILE"),
         rows=[(r["team"], r["name"], len(r["apps"]), len(r["waves"]), ",".join(r["entryApps"]), r["source"])
               for r in rows])
    return 0


def describe(team: Team, stack: Stack) -> dict[str, Any]:
    return {
        "team": team.name,
        "name": stack.name,
        "description": stack.description,
        "source": stack.source,
        "entryApps": list(graph.entry_apps(stack)),
        "waves": [list(wave) for wave in graph.build_waves(stack)],
        "apps": [
            {"name": app.name, "repo": app.repo, "role": app.role, "tool": app.build.tool,
             "downstream": list(app.downstream)}
            for app in stack.apps
        ],
    }
