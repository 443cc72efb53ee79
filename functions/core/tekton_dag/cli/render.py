"""`tekton-dag render` (placeholder until its issue lands)."""

from __future__ import annotations

import argparse

from tekton_dag.cli.common import fail


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("render", help="(not yet available)")
    parser.set_defaults(run=lambda args: fail("'render' is not available yet"))
