"""Stands in for the cluster and the clock the Tekton task scripts see, and runs the real scripts
against them (tests and bench).

`FakeCluster(tmp)` makes a bin directory with `kubectl` (fake_kubectl.py), `sleep` (advances the
virtual clock instead of waiting) and `date` (prints the virtual clock for `+%s`), and a state
directory. `run_containerize(...)` lays out a workspace with a build plan and runs
tasks/scripts/containerize.sh with only that bin directory in front of PATH. The scripts are read
from the checkout this package is installed from (editable install), as they are not in the wheel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[4]
SCRIPTS = ROOT / "tasks" / "scripts"
FAKE_KUBECTL = Path(__file__).with_name("fake_kubectl.py")

FAKE_SLEEP = """#!/usr/bin/env bash
# fake sleep: advance the virtual clock by $1 seconds (decimals allowed, millisecond precision)
set -eu
s=$1; int=${s%%.*}; frac=0
case $s in *.*) frac=${s#*.}; frac=${frac}000; frac=${frac:0:3} ;; esac
c=$(<"$FAKE_KUBE_DIR/clock_ms")
echo $(( c + 10#${int:-0} * 1000 + 10#$frac )) >"$FAKE_KUBE_DIR/clock_ms"
"""

FAKE_DATE = """#!/usr/bin/env bash
# fake date: `date +%s` prints the virtual clock; anything else is the real date
if [ "$#" -eq 1 ] && [ "$1" = "+%s" ]; then c=$(<"$FAKE_KUBE_DIR/clock_ms"); echo $(( c / 1000 )); exit 0; fi
exec /bin/date "$@"
"""


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str
    ops: list[dict[str, Any]]
    workspace: Path

    @property
    def makespan(self) -> float:
        return max((op["t"] for op in self.ops), default=0.0)

    def max_existing(self) -> int:
        return max((op["existing"] for op in self.ops if op["op"] == "create"), default=0)

    def ops_for(self, pod: str) -> list[str]:
        return [op["op"] for op in self.ops if op.get("pod") == pod]


class FakeCluster:
    def __init__(self, tmp: Path) -> None:
        self.bin = tmp / "fakebin"
        self.state = tmp / "fakekube"
        self.bin.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "clock_ms").write_text("0")
        kubectl = self.bin / "kubectl"
        kubectl.write_text(f"#!{sys.executable} -S\nexec(open({str(FAKE_KUBECTL)!r}).read())\n")
        (self.bin / "sleep").write_text(FAKE_SLEEP)
        (self.bin / "date").write_text(FAKE_DATE)
        for tool in ("kubectl", "sleep", "date"):
            (self.bin / tool).chmod(0o755)

    def scenario(self, apps: dict[str, dict[str, Any]]) -> None:
        (self.state / "scenario.json").write_text(json.dumps(apps))

    def env(self) -> dict[str, str]:
        return {"PATH": f"{self.bin}:{os.environ.get('PATH', '/usr/bin:/bin')}", "FAKE_KUBE_DIR": str(self.state)}

    def ops(self) -> list[dict[str, Any]]:
        path = self.state / "ops.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def pods(self) -> dict[str, Any]:
        path = self.state / "pods.json"
        return json.loads(path.read_text()) if path.exists() else {}


def write_plan(workspace: Path, apps: list[str], *, registry: str = "registry.test:5000", tag: str = "t1",
               dockerfiles: bool = True) -> None:
    plan = workspace / ".tekton-dag"
    plan.mkdir(parents=True, exist_ok=True)
    rows = []
    for app in apps:
        if dockerfiles:
            (workspace / "apps" / app).mkdir(parents=True, exist_ok=True)
            (workspace / "apps" / app / "Dockerfile").write_text("FROM scratch\n")
        rows.append(f"{app}\tapps/{app}\tDockerfile\t{registry}/{app}:{tag}\t\n")
    (plan / "builds.tsv").write_text("".join(rows))


def run_containerize(cluster: FakeCluster, workspace: Path, *, max_parallel: int, poll: float = 1,
                     pending_timeout: int = 30, extra_env: dict[str, str] | None = None,
                     timeout: float = 120) -> Result:
    env = {
        **cluster.env(),
        "PLAN_DIR": str(workspace / ".tekton-dag"),
        "WORKSPACE_PATH": str(workspace),
        "RUN_NAME": "stack-pr-7-abcde",
        "OWNER_POD_NAME": "stack-pr-7-abcde-containerize-pod",
        "OWNER_POD_UID": "0b9d3c1e-1111-2222-3333-444455556666",
        "NODE_NAME": "node-1",
        "SOURCE_CLAIM": "pvc-abc123",
        "KANIKO_IMAGE": "ghcr.io/osscontainertools/kaniko:v1.28.2",
        "MAX_PARALLEL_BUILDS": str(max_parallel),
        "POLL_SECONDS": str(poll),
        "PENDING_TIMEOUT_SECONDS": str(pending_timeout),
        **(extra_env or {}),
    }
    proc = subprocess.run(["bash", str(SCRIPTS / "containerize.sh")], env=env, capture_output=True,
                          text=True, timeout=timeout)
    return Result(proc.returncode, proc.stdout, proc.stderr, cluster.ops(), workspace)


def run_script(
    cluster: FakeCluster, script: str, env: dict[str, str], *, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run one of tasks/scripts/ with the fakes first on PATH and `env` added."""
    return subprocess.run(["bash", str(SCRIPTS / script)], env={**cluster.env(), **env}, capture_output=True,
                          text=True, timeout=timeout)
