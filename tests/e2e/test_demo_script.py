"""scripts/demo, the README's main command: sets up, runs the chain, shows a PipelineRun, stops."""

from __future__ import annotations

import os
import subprocess

import pytest
import yaml

from support.e2e import ROOT

pytestmark = pytest.mark.slow


def test_the_demo_shows_the_pipelinerun_it_produced_and_stops_the_chain():
    env = {k: v for k, v in os.environ.items() if k != "GITHUB_WEBHOOK_SECRET"}
    result = subprocess.run([str(ROOT / "scripts" / "demo")], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "→ 202" in out and "run.created: tekton-dag-default/" in out
    run_yaml = out.split("the PipelineRun it produced", 1)[1].split("\n", 1)[1].split("== stopping", 1)[0]
    run = yaml.safe_load(run_yaml)
    assert run["kind"] == "PipelineRun" and run["spec"]["pipelineRef"]["name"] == "stack-pr-test"
    assert out.rstrip().endswith("tekton-dag dev: stopped")
