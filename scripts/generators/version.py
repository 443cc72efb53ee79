"""Stamp the project's version (``[project] version`` in pyproject.toml) into the files that must spell it.

The version is written by hand in one place, the root pyproject.toml. tasks/generate.py puts it on
every Task and Pipeline; the files below cannot read it (and ``tekton_dag.__version__`` should not:
importlib.metadata costs every function ~50 ms at start), so this stamps it into them:
each (file, pattern) must match at least once, else the file changed shape and this says where.
Run through ``scripts/generate [--check]``.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from pathlib import Path

from output import ROOT, apply

V = r"(?P<version>[0-9][0-9A-Za-z.+-]*)"  # whatever is there now
# (glob under the root, pattern whose `version` group is the version); ^/$ anchor to lines.
COPIES: tuple[tuple[str, str], ...] = (
    ("functions/*/pyproject.toml", rf'^version = "{V}"$'),  # each func project ...
    ("functions/*/pyproject.toml", rf'"tekton-dag=={V}"'),  # ... pins the core it was released with
    ("functions/core/tekton_dag/__init__.py", rf'^__version__ = "{V}"$'),  # read at runtime, without metadata
    ("helm/tekton-dag/Chart.yaml", rf"^version: {V}$"),
    ("helm/tekton-dag/Chart.yaml", rf'^appVersion: "{V}"$'),  # the images' tag
    ("knative/services.yaml", rf"image: ghcr\.io/jmjava/tekton-dag/[a-z-]+:{V}$"),
    ("knative/broker.yaml", rf"image: ghcr\.io/jmjava/tekton-dag/dead-letters:{V}$"),  # the dead-letter sink
)


class ShapeError(Exception):
    """A file no longer holds the version where this generator expects it."""


# MAJOR.MINOR.PATCH only: the one spelling valid both for Python (PEP 440) and for the chart,
# whose version "must follow the SemVer 2 standard" (https://helm.sh/docs/topics/charts/#charts-and-versioning);
# a pre-release is spelt differently by each (0.11.0rc1 / 0.11.0-rc.1), so it is refused, not guessed.
RELEASE = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+")


def project_version(root: Path) -> str:
    version = str(tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"])
    if not RELEASE.fullmatch(version):
        raise ShapeError(f"pyproject.toml: [project] version {version!r} is not MAJOR.MINOR.PATCH")
    return version


def stamped(text: str, pattern: str, version: str, path: str) -> str:
    regex = re.compile(pattern, re.MULTILINE)
    if not regex.search(text):
        raise ShapeError(f"{path}: no line matches {pattern!r}: where does the version go now?")
    def put(match: re.Match[str]) -> str:  # the matched text with its `version` group replaced
        return text[match.start():match.start("version")] + version + text[match.end("version"):match.end()]
    return regex.sub(put, text)


def files(root: Path) -> dict[Path, str]:
    version = project_version(root)
    out: dict[Path, str] = {}
    for glob, pattern in COPIES:
        paths = sorted(root.glob(glob))
        if not paths:
            raise ShapeError(f"{glob}: no such file under {root}")
        for path in paths:
            current = out.get(path) or path.read_text(encoding="utf-8")
            out[path] = stamped(current, pattern, version, path.relative_to(root).as_posix())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 naming each stale file")
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root (default: this checkout)")
    args = parser.parse_args(argv)
    try:
        expected = files(args.root)
    except ShapeError as error:
        print(f"version: {error}; nothing written", file=sys.stderr)
        return 1
    return apply(expected, root=args.root, check=args.check)


if __name__ == "__main__":
    raise SystemExit(main())
