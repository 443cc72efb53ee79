"""`tekton-dag bootstrap` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse

from tekton_dag.cli.common import fail


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("bootstrap", help="(not yet available)")
    parser.set_defaults(run=lambda args: fail("'bootstrap' is not available yet"))
