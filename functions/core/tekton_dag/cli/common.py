"""Helpers shared by subcommands: the config-root option, output formats, errors."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any, NoReturn

import yaml

from tekton_dag.config.loading import DEFAULT_TEAMS_DIR, TEAMS_DIR_ENV, registry_fallback
from tekton_dag.config.models import Config
from tekton_dag.config.snapshots import load_config_cached
from tekton_dag.eventing import K_SINK_ENV
from tekton_dag.syntax import ascii_digits, decimal, http_url_problem, tcp_port


def add_teams_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--teams",
        metavar="DIR",
        default=os.environ.get(TEAMS_DIR_ENV, DEFAULT_TEAMS_DIR),
        help=f"configuration root (default: ${TEAMS_DIR_ENV} or ./{DEFAULT_TEAMS_DIR})",
    )


def add_output_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output", choices=("table", "json", "yaml"), default="table",
        help="output format (default: a readable table)",
    )


def emit(data: Any, fmt: str, headers: Sequence[str] = (), rows: Iterable[Sequence[Any]] = ()) -> None:
    """Print ``data`` as JSON or YAML, or ``rows`` as a table under ``headers``."""
    if fmt == "json":
        print(json.dumps(data, indent=2, sort_keys=False))
    elif fmt == "yaml":
        print(yaml.safe_dump(data, sort_keys=False), end="")
    else:
        print_table(headers, rows)


def print_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    cells = [[str(h) for h in headers]] + [["" if c is None else str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    for row in cells:
        print("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())


def seconds(text: str) -> float:
    """An argparse ``type`` for a number of seconds in ASCII digits with at most one '.', and maybe a
    '-' for the caller's bounds to refuse by name: ``float`` alone also reads Arabic-Indic
    digits, "1_0", "1e3", "nan" and "inf". A bad value is a usage error (exit 2), not a traceback."""
    digits = text.strip()
    value = decimal(digits.removeprefix("-"))
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds (digits 0-9, at most one '.')")
    return -value if digits.startswith("-") else value


def positive_seconds(text: str) -> float:
    """``seconds``, more than 0."""
    value = seconds(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive number of seconds")
    return value


def whole_number(low: int = 0, high: int | None = None) -> Callable[[str], int]:
    """An argparse ``type`` for a count or an id: ASCII digits from ``low`` to ``high``, else a usage
    error. ``int`` alone also reads other scripts' digits, "1_000", " 7" and a sign."""
    bounds = f"from {low} to {high}" if high is not None else f"{low} or more"

    def parse(text: str) -> int:
        if not ascii_digits(text):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number {bounds} in digits 0-9")
        if not low <= int(text) <= (int(text) if high is None else high):
            raise argparse.ArgumentTypeError(f"{text!r}: must be {bounds}")
        return int(text)

    return parse


def port_number(text: str) -> int:
    """An argparse ``type`` for a TCP port to listen on: 1 to 65535, else a usage error."""
    port = tcp_port(text)
    if port is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1 to 65535")
    return port


def http_url(text: str) -> str:
    """An argparse ``type`` for where to send: an http(s) URL with a host (``syntax.http_url_problem``),
    else a usage error (exit 2) rather than httpx's ``InvalidURL`` traceback at the first request.
    An empty value passes, for options whose default is an unset environment variable."""
    problem = http_url_problem(text) if text else None
    if problem:
        raise argparse.ArgumentTypeError(f"{text!r} {problem}")
    return text


def sink_in_env() -> tuple[str, str]:
    """``$K_SINK`` (Knative's Broker address, "" when unset) and why it is no URL to send to, worded
    ``K_SINK '<value>' <problem>`` ("" when it is unset or usable): read when a command needs it
    and no option gave one, so that a junk value is blamed on the variable, not on an option."""
    sink = os.environ.get(K_SINK_ENV, "")
    problem = http_url_problem(sink) if sink else None
    return sink, f"{K_SINK_ENV} {sink!r} {problem}" if problem else ""


def usage_error(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """Options that do not go together: argparse's usage line and exit 2 (DESIGN.md exit codes)."""
    parser.error(message)  # raises SystemExit(2)


def camel_keys(data: Any) -> Any:
    """``data`` with every dict key in camelCase (``build_apps`` -> ``buildApps``): the one key
    style of the CLI's machine output, as of the REST API."""
    if isinstance(data, dict):
        return {_camel(k) if isinstance(k, str) else k: camel_keys(v) for k, v in data.items()}
    if isinstance(data, list):
        return [camel_keys(v) for v in data]
    return data


def _camel(key: str) -> str:
    first, *rest = key.split("_")
    return first + "".join(part[:1].upper() + part[1:] for part in rest)


def fail(message: str) -> int:
    print(f"tekton-dag: error: {message}", file=sys.stderr)
    return 1


def config_command(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    run: Callable[[argparse.Namespace, Config], int],
    *,
    help: str,
    description: str,
) -> argparse.ArgumentParser:
    """A subcommand that prints what the configuration says: ``--teams``, ``-o``, and ``run(args,
    config)`` called once the configuration loaded (exit 1 after every problem is reported, if not)."""
    parser = subparsers.add_parser(name, help=help, description=description)
    add_teams_option(parser)
    add_output_option(parser)

    def load_then_run(args: argparse.Namespace) -> int:
        config = load_config_or_report(args.teams)
        return 1 if config is None else run(args, config)

    parser.set_defaults(run=load_then_run)
    return parser


def warn_if_fallback(root: str) -> None:
    """Say so when ``root`` is missing and ``stacks/registry.yaml`` beside it is read instead:
    every command that reads the configuration accepts that layout, with this warning."""
    fallback = registry_fallback(root)
    if fallback is not None:
        print(f"tekton-dag: warning: no {root} directory: reading {fallback} as the one team 'default' "
              "(the earlier layout; see docs/migration-guide.md)", file=sys.stderr)


def load_config_or_report(root: str) -> Config | None:
    """The configuration under ``root``, or ``None`` after printing every problem to stderr."""
    warn_if_fallback(root)
    result = load_config_cached(root)
    if result.config is None:
        for error in result.errors:
            print(error, file=sys.stderr)
        fail(f"{len(result.errors)} problem(s) in the configuration under {root}")
    return result.config
