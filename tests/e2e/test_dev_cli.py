"""`tekton-dag dev` as a user runs it: a real process tree, Ctrl-C, a dry-run directory."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path

import pytest
import yaml

from support.e2e import KNATIVE, REPO, TEAMS, run_cli
from tekton_dag.devchain.chain import free_port

pytestmark = pytest.mark.slow


async def read_until(stream: asyncio.StreamReader, marker: str, timeout: float = 30) -> str:
    seen = ""
    while marker not in seen:
        line = await asyncio.wait_for(stream.readline(), timeout)
        if not line:
            raise AssertionError(f"output ended before {marker!r}:\n{seen}")
        seen += line.decode()
    return seen


def child_pid(parent: int, function: str) -> int:
    """The pid of ``tekton-dag serve FUNCTION`` started by process ``parent`` (from /proc)."""
    for proc in Path("/proc").iterdir():
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
        except (OSError, ValueError):
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent and cmdline[-2:] == [b"serve", function.encode()]:
            return int(proc.name)
    raise AssertionError(f"no {function} child of {parent}")


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


async def test_dev_runs_the_chain_into_a_dry_run_directory_and_stops_cleanly_on_ctrl_c(tmp_path):
    port, runs = free_port(), tmp_path / "runs"
    env = {**os.environ, "GITHUB_WEBHOOK_SECRET": "dev-secret,older-secret"}
    env.pop("KUBECONFIG", None)
    dev = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tekton_dag.cli.main", "dev", "--teams", str(TEAMS), "--port", str(port),
        "--dry-run-dir", str(runs), "--work-dir", str(tmp_path / "work"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        banner = await read_until(dev.stdout, "tekton-dag dev: ready")
        assert f"http://127.0.0.1:{port}/webhook/github" in banner
        assert "dev-secret  (from GITHUB_WEBHOOK_SECRET)" in banner
        assert f"dry run, YAML in {runs}" in banner
        older = {**env, "GITHUB_WEBHOOK_SECRET": "older-secret"}  # still active: rotation
        code, out, err = await run_cli("send", "pull_request.opened", REPO, "--number", "9",
                                       "--url", f"http://127.0.0.1:{port}/webhook/github", env=older)
        assert code == 0, out + err
        printed = await read_until(dev.stdout, ".yaml")
        assert "run.created: tekton-dag-default/" in printed and "pr=9" in printed
        files = list(runs.rglob("*.yaml"))
        assert len(files) == 1 and files[0].parent.name == "tekton-dag-default"
        run = yaml.safe_load(files[0].read_text())
        assert run["kind"] == "PipelineRun" and run["spec"]["pipelineRef"]["name"] == "stack-pr-test"
        os.kill(child_pid(dev.pid, "resolver"), signal.SIGKILL)
        assert "resolver exited (code -9)" in await read_until(dev.stdout, "exited")
    finally:
        dev.send_signal(signal.SIGINT)
        rest = (await asyncio.wait_for(dev.stdout.read(), 30)).decode()
        await dev.wait()
    assert dev.returncode == 0 and "tekton-dag dev: stopped" in rest
    assert not port_open(port), "webhook-ingest still listening after Ctrl-C"
    work_logs = sorted(p.name for p in (tmp_path / "work").glob("*.log"))
    assert work_logs == ["bootstrap-batcher.log", "resolver.log", "run-creator.log", "webhook-ingest.log"]


async def test_an_invalid_trigger_manifest_is_a_clear_startup_error(tmp_path):
    bad = tmp_path / "knative"
    bad.mkdir()
    text = (KNATIVE / "triggers.yaml").read_text()
    (bad / "triggers.yaml").write_text(text.replace("name: resolver\n", "nme: resolver\n", 1))
    code, out, err = await run_cli("dev", "--teams", str(TEAMS), "--port", str(free_port()), "--triggers", str(bad),
                                   "--work-dir", str(tmp_path / "work"))
    assert code == 1
    assert f"{bad / 'triggers.yaml'}: Trigger resolver-github-pull-request: spec.subscriber.ref.name" in err
    assert "Traceback" not in err + out
    assert not list((tmp_path / "work").glob("*.log")), "no function may start with invalid Triggers"


async def test_dev_refuses_a_missing_kubeconfig(tmp_path):
    code, _, err = await run_cli("dev", "--kubeconfig", str(tmp_path / "nope"))
    assert code == 1 and "--kubeconfig" in err and "no such file" in err


def test_the_kubernetes_target_is_the_given_or_existing_kubeconfig(tmp_path, monkeypatch):
    from tekton_dag.cli.dev import pick_kubeconfig

    real = tmp_path / "config"
    real.write_text("apiVersion: v1\nkind: Config\n")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert pick_kubeconfig(None) is None  # nothing there: dry run
    assert pick_kubeconfig(str(real)) == str(real)
    monkeypatch.setenv("KUBECONFIG", str(real))
    assert pick_kubeconfig(None) == str(real)
    monkeypatch.delenv("KUBECONFIG")
    assert pick_kubeconfig(None) is None


async def test_dev_with_a_kubeconfig_creates_runs_in_that_cluster(tmp_path, kube_api):
    port = free_port()
    env = {**os.environ, "GITHUB_WEBHOOK_SECRET": "k-secret"}
    dev = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tekton_dag.cli.main", "dev", "--teams", str(TEAMS), "--port", str(port),
        "--kubeconfig", str(kube_api.kubeconfig), "--work-dir", str(tmp_path / "work"), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        banner = await read_until(dev.stdout, "tekton-dag dev: ready")
        assert f"cluster from {kube_api.kubeconfig}" in banner
        code, out, err = await run_cli("send", "push", "jmjava/tekton-dag-vue-fe",
                                       "--url", f"http://127.0.0.1:{port}/webhook/github", env=env)
        assert code == 0, out + err
        await read_until(dev.stdout, "run.")
    finally:
        dev.send_signal(signal.SIGINT)
        await asyncio.wait_for(dev.communicate(), 30)
    runs = kube_api.objects("pipelineruns")
    assert [r["spec"]["pipelineRef"]["name"] for r in runs] == ["stack-merge-release"]


def test_the_journal_is_the_given_then_the_env_then_beside_the_work_dir_then_in_the_state_dir(tmp_path, monkeypatch):
    from tekton_dag.cli.dev import pick_journal

    monkeypatch.delenv("TEKTON_DAG_JOURNAL", raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert pick_journal(tmp_path / "j.sqlite3", tmp_path / "work") == tmp_path / "j.sqlite3"
    assert pick_journal(None, tmp_path / "work") == tmp_path / "work" / "broker-journal.sqlite3"
    assert pick_journal(None, None) == tmp_path / "state" / "tekton-dag" / "dev" / "broker-journal.sqlite3"
    monkeypatch.setenv("TEKTON_DAG_JOURNAL", str(tmp_path / "env.sqlite3"))
    assert pick_journal(None, tmp_path / "work") == tmp_path / "env.sqlite3"
