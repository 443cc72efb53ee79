"""`tekton-dag resolve` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse

from tekton_dag.cli.common import fail


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("resolve", help="(not yet available)")
    parser.set_defaults(run=lambda args: fail("'resolve' is not available yet"))
