"""`tekton-dag resolve OWNER/REPO`: the targets of a repository."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from support.clirun import REPO, parsed, run_cli
from support.trees import BASE, write_tree


def test_resolves_the_example_front_end_as_a_table() -> None:
    result = run_cli("resolve", "jmjava/tekton-dag-vue-fe", "--teams", "teams")
    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split() == ["TEAM", "NAMESPACE", "STACK", "APP", "ROLE", "TOOL", "CALLERS", "CALLEES"]
    assert row.split() == ["default", "tekton-dag-default", "stack-one", "demo-fe", "frontend", "npm", "0", "2"]


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_fan_out_in_machine_output_any_case(tmp_path: Path, fmt: str) -> None:
    write_tree(tmp_path, BASE)
    data = parsed(run_cli("resolve", "ACME/Api", "--teams", "teams", "-o", fmt, cwd=tmp_path), fmt)
    assert [(t["team"], t["stack"], t["app"]) for t in data] == [("alpha", "shop", "api"), ("beta", "shop", "api")]
    assert data[0]["upstream"] == ["web"] and data[0]["downstream"] == ["db"]
    assert data[0]["stackFile"] == "teams/alpha/stacks/shop.yaml"


def test_an_unknown_repo_exits_1() -> None:
    result = run_cli("resolve", "nobody/nothing", "--teams", str(REPO / "teams"))
    assert result.returncode == 1
    assert result.stderr == "tekton-dag: error: no app is built from nobody/nothing (see `tekton-dag stacks`)\n"


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_an_unknown_repo_is_an_empty_machine_result_and_exit_1(fmt: str) -> None:
    result = run_cli("resolve", "nobody/nothing", "--teams", str(REPO / "teams"), "-o", fmt)
    assert result.returncode == 1
    assert (json.loads(result.stdout) if fmt == "json" else yaml.safe_load(result.stdout)) == []
    assert "no app is built from nobody/nothing" in result.stderr


def test_an_invalid_config_lists_its_errors(tmp_path: Path) -> None:
    write_tree(tmp_path, {**BASE, "teams/beta/team.yaml": "name: beta\nstacks: [stacks/shop.yaml]\n"})
    result = run_cli("resolve", "acme/api", "--teams", "teams", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "teams/beta/team.yaml: namespace: required field is missing",
        "tekton-dag: error: 1 problem(s) in the configuration under teams",
    ]


def saved(tmp_path: Path, kind: str, repo: str = "jmjava/tekton-dag-vue-fe") -> Path:
    from tekton_dag.devchain import samples

    path = tmp_path / f"{kind}.json"
    path.write_bytes(samples.build(samples.Sample(kind, repo, number=5, sha="a" * 40), "x").body)
    return path


def test_a_saved_payload_shows_where_it_would_go_without_sending(tmp_path: Path) -> None:
    result = run_cli(
        "resolve",
        "--payload",
        str(saved(tmp_path, "pull_request.opened")),
        "--teams",
        str(REPO / "teams"),
        "-o",
        "json",
    )
    data = parsed(result, "json")
    assert data["event"] == "pull_request" and data["ingest"]["code"] == 202
    [decision] = data["decisions"]
    assert decision["type"] == "dev.tektondag.run.requested.v1"
    assert (decision["team"], decision["stack"], decision["app"], decision["pipeline"]) == (
        "default",
        "stack-one",
        "demo-fe",
        "stack-pr-test",
    )
    assert decision["revision"] == "a" * 40 and decision["pr"]["headSha"] == "a" * 40
    table = run_cli("resolve", "--payload", str(saved(tmp_path, "push")), "--teams", str(REPO / "teams"))
    assert table.returncode == 0 and table.stdout.splitlines()[1].split()[:5] == [
        "run.requested",
        "default",
        "stack-one",
        "demo-fe",
        "stack-merge-release",
    ]


def test_a_payload_that_starts_nothing_says_why_and_exits_1(tmp_path: Path) -> None:
    ping = run_cli("resolve", "--payload", str(saved(tmp_path, "ping")), "--teams", str(REPO / "teams"), "-o", "json")
    assert ping.returncode == 1
    assert json.loads(ping.stdout)["decisions"] == [] and json.loads(ping.stdout)["ingest"]["status"] == "pong"
    stranger = saved(tmp_path, "pull_request.opened", repo="nobody/nothing")
    result = run_cli("resolve", "--payload", str(stranger), "--teams", str(REPO / "teams"))
    assert result.returncode == 1
    assert "event.ignored" in result.stdout and "repository nobody/nothing is not an app of any stack" in result.stderr


def test_resolve_takes_a_repo_or_a_payload() -> None:
    for args in ((), ("acme/api", "--payload", "p.json")):
        result = run_cli("resolve", *args, "--teams", str(REPO / "teams"))
        assert result.returncode == 2 and "give OWNER/REPO or --payload PAYLOAD.json" in result.stderr
