"""`tekton-dag dev` prints status-reporter's GitHub calls as its recording GitHub appends them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tekton_dag.cli.dev import GitHubCallPrinter
from tekton_dag.github.port import CheckOutput, Repo
from tekton_dag.testing.recording_github import RecordingGitHub, read_log


async def test_each_recorded_call_is_printed_once_and_half_written_lines_wait(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "github-calls.jsonl"
    github, printer = RecordingGitHub(log_path=path), GitHubCallPrinter(path)
    printer.poll()  # no file yet
    repo = Repo("jmjava", "tekton-dag-vue-fe")
    check = await github.create_check_run(repo, name="tekton-dag / stack-one (demo-fe)", head_sha="a" * 40,
                                          external_id="run-1", status="queued", conclusion=None,
                                          output=CheckOutput("Queued", "waiting"))
    with path.open("a") as log:
        log.write('{"call": "upd')  # another process is still writing this line
    printer.poll()
    printer.poll()
    assert capsys.readouterr().out == \
        "github create_check_run: jmjava/tekton-dag-vue-fe tekton-dag / stack-one (demo-fe) queued\n"
    with path.open("a") as log:
        rest = json.dumps({"repo": "jmjava/tekton-dag-vue-fe", "status": "completed", "conclusion": "success",
                           "id": check})
        log.write('ate_check_run", ' + rest[1:] + "\n")
    printer.poll()
    assert capsys.readouterr().out == "github update_check_run: jmjava/tekton-dag-vue-fe completed/success\n"
    assert [c["call"] for c in read_log(path)] == ["create_check_run", "update_check_run"]
