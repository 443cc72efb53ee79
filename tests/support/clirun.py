"""Running the real console entry point in a subprocess.

Shared by tests/cli/test_{validate,resolve,teams,stacks}.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != "TEKTON_DAG_TEAMS_DIR"}
    environment.update(env or {})
    return subprocess.run([sys.executable, "-m", "tekton_dag.cli.main", *args], capture_output=True, text=True,
                          cwd=cwd, env=environment, timeout=60)


def parsed(result: subprocess.CompletedProcess[str], fmt: str) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)
