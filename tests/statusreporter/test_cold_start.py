"""status-reporter's path to ready stays light: the GitHub client's heavy parts (the JWT library with
cryptography, the HTTP transport: aiohttp, gidgethub's sans-I/O layer) load after start, in the
background warm-up, not before the first readiness probe (docs/functions.md: cold start ≤ 300 ms),
and so do prometheus_client and the metrics (made after ready, every function) and the PR
commands' use case with the request dataclasses;
httpx, which only tests' in-process clients use, is not imported at all."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from statusreporter.conftest import teams_with_checks
from tekton_dag.testing.github_api import GitHubApiDouble

PROBE = """
import json, sys, time
from tekton_dag.functions.status_reporter import new
function = new()
function.start(dict(__import__("os").environ))
ready = function.ready()
before = {m: m in sys.modules for m in ("jwt", "aiohttp", "httpx", "httpcore", "cryptography", "prometheus_client",
                                       "gidgethub", "tekton_dag.usecases.commanding",
                                       "tekton_dag.events.requests", "tekton_dag.events.github")}
time.sleep(1.5)  # the warm-up runs 0.5 s after start
after = {m: m in sys.modules for m in ("jwt", "aiohttp", "httpx", "prometheus_client", "gidgethub",
                                       "tekton_dag.usecases.commanding")}
print(json.dumps({"ready": ready, "before": before, "after": after}))
"""


def test_jwt_and_the_http_transport_load_after_ready_in_the_warm_up(tmp_path: Path) -> None:
    teams = teams_with_checks(tmp_path / "teams")
    with GitHubApiDouble() as github:
        key = tmp_path / "app.pem"
        key.write_text(github.private_key_pem)
        env = {**os.environ, "TEKTON_DAG_TEAMS_DIR": str(teams), "TEKTON_DAG_DRY_RUN_DIR": str(tmp_path / "runs"),
               "GITHUB_API_URL": github.url, "GITHUB_APP_ID": github.app_id, "GITHUB_APP_PRIVATE_KEY_FILE": str(key),
               "TEKTON_DAG_EVENT_KEY": "k" * 64, "TEKTON_DAG_CONFIG_RELOAD_S": "0"}
        env.pop("KUBECONFIG", None)
        result = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["ready"] == [True, "OK"]
    assert seen["before"] == {"jwt": False, "aiohttp": False, "httpx": False, "httpcore": False, "cryptography": False,
                              "prometheus_client": False, "gidgethub": False,
                              "tekton_dag.usecases.commanding": False, "tekton_dag.events.requests": False,
                              "tekton_dag.events.github": False}
    # its HTTP is aiohttp's, never httpx; the metrics are made in the warm-up (observability.metrics)
    assert seen["after"] == {"jwt": True, "aiohttp": True, "httpx": False, "prometheus_client": True,
                             "gidgethub": True, "tekton_dag.usecases.commanding": True}
