"""`tekton-dag validate`: check every team, stack and versions file; list every problem."""

from __future__ import annotations

import argparse
import sys

from tekton_dag.cli.common import add_output_option, add_teams_option, emit, fail, warn_if_fallback
from tekton_dag.config.snapshots import load_config_cached


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "validate", help="check the team and stack configuration",
        description="Check every team, stack and versions file under the configuration root and list "
                    "every problem as <file>: <path>: <message>. Exit 0 when valid, 1 otherwise.")
    add_teams_option(parser)
    add_output_option(parser)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    warn_if_fallback(args.teams)
    result = load_config_cached(args.teams)
    if args.output != "table":
        emit({"valid": result.ok, "errors": [vars(e) for e in result.errors]}, args.output)
        return 0 if result.ok else 1
    if result.config is None:
        for error in result.errors:
            print(error)
        return fail(f"{len(result.errors)} problem(s) in the configuration under {args.teams}")
    teams = result.config.teams
    stacks = [s for t in teams for s in t.stacks]
    apps = sum(len(s.apps) for s in stacks)
    print(f"{args.teams}: valid ({len(teams)} team(s), {len(stacks)} stack(s), {apps} app(s))", file=sys.stdout)
    return 0
