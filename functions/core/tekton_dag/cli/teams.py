"""`tekton-dag teams` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse

from tekton_dag.cli.common import fail


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("teams", help="(not yet available)")
    parser.set_defaults(run=lambda args: fail("'teams' is not available yet"))
