"""Entry point of the ``tekton-dag`` console script.

Exit codes (DESIGN.md): 0 ok, 1 user or configuration error, 2 usage error (argparse's own).
Each subcommand lives in its own module and registers itself; this module only wires them.
"""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from tekton_dag import __version__
from tekton_dag.observability import logs

# Order here is the order in `--help`.
SUBCOMMANDS = (
    "validate",
    "resolve",
    "teams",
    "stacks",
    "render",
    "serve",
    "dev",
    "send",
    "bootstrap",
    "dead-letters",
    "redeliver",
)


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; when ``argv`` names a subcommand first, only that one is registered.

    Registering imports the subcommand's module, and some import a lot (the registry client, the
    PipelineRun builder...). `tekton-dag serve` is how every function starts, so its cold start
    must not pay for the others. Everything argparse prints for that subcommand is unchanged:
    its help, usage and errors do not depend on its siblings; `tekton-dag --help` still lists all.
    """
    chosen = [argv[0]] if argv and argv[0] in SUBCOMMANDS else SUBCOMMANDS
    parser = argparse.ArgumentParser(
        prog="tekton-dag",
        description="Multi-team CI orchestration for Tekton.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in chosen:
        importlib.import_module(f"tekton_dag.cli.{name.replace('-', '_')}").register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    logs.install()  # a value we were sent cannot start a log line of its own
    real_stdout = sys.stdout
    if real_stdout is not None and args.command != "serve":  # serve's stdout is the servers' own
        sys.stdout = _Output(real_stdout)
    try:
        code = int(args.run(args) or 0)
        if sys.stdout is not None:  # None: started with stdout closed (`>&-`), and print() writes nothing
            sys.stdout.flush()  # here, where a failed write is caught, rather than at exit
        return code
    except KeyboardInterrupt:
        return 128 + signal.SIGINT
    except BrokenPipeError:  # the reader left (`tekton-dag teams | head -1`): nothing more to say
        _discard_output()
        return 128 + signal.SIGPIPE  # what a shell reports for a command that SIGPIPE stopped
    except OutputFailed as exc:  # a full disk, `> /dev/full`
        _discard_output()
        print(f"tekton-dag: error: cannot write the output: {exc}", file=sys.stderr)
        return 1
    finally:
        sys.stdout = real_stdout


class OutputFailed(Exception):
    """Writing to stdout failed: not an OSError, which a command may catch as its own (e.g. dev's
    "cannot start") and then misname."""


class _Output:
    """stdout, whose failed writes are told apart from the other OSErrors a command may raise."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputFailed(exc.strerror or str(exc)) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise OutputFailed(exc.strerror or str(exc)) from None

    def __getattr__(self, name: str) -> Any:  # isatty, fileno, encoding...
        return getattr(self._stream, name)


def _discard_output() -> None:
    """Python flushes stdout again at exit, into the same failing file: point it at /dev/null."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.__stdout__.fileno() if sys.__stdout__ else 1)


if __name__ == "__main__":
    sys.exit(main())
