"""Glue for the image tests: ``scripts/build-images`` as a process, and a local wheelhouse.

The wheelhouse holds the third-party wheels the core needs (fetched once per session from the
package registries, which are reachable here) and never a ``tekton_dag`` wheel, so an install with
``--no-index`` from it plus a build context proves the core came from the context.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BUILD_IMAGES = ROOT / "scripts" / "build-images"
# pip with no configuration at all: this machine's pip.conf adds local indexes and find-links.
NO_PIP_CONFIG = {**os.environ, "PIP_CONFIG_FILE": os.devnull}


def build_images(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BUILD_IMAGES), *args], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHON": sys.executable})


def core_wheel(context: Path) -> Path:
    (wheel,) = (context / "wheels").glob("tekton_dag-*.whl")
    return wheel


def wheelhouse(core: Path, into: Path) -> Path:
    """Every third-party wheel ``core`` needs, in ``into`` (with the index; not the core itself)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--wheel-dir", str(into), str(core)],
                   check=True, capture_output=True, text=True)
    for wheel in into.glob("tekton_dag-*.whl"):
        wheel.unlink()
    return into
