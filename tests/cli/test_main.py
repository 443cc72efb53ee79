"""The console script's shared behaviour: help everywhere, usage errors exit 2."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tekton_dag.cli.main import SUBCOMMANDS, main
from tekton_dag.functions.serving import FUNCTIONS, SERVABLE

README = Path(__file__).resolve().parents[2] / "README.md"
ARABIC_42 = "\u0664\u0662"  # 42 in Arabic-Indic digits, which int() and float() read as 42


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tekton_dag.cli.main", *args], capture_output=True, text=True)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"tekton-dag {command}" in capsys.readouterr().out


def test_dev_help_names_every_function_it_starts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["dev", "--help"])
    description = capsys.readouterr().out.split("\n\n")[1]  # after the usage, before the options
    described = " ".join(description.split()).replace("- ", "-")  # as argparse wrapped it
    missing = [name for name in FUNCTIONS if name not in described]
    assert not missing, f"`tekton-dag dev --help` does not name {missing}"


def test_readme_names_every_function_serve_takes() -> None:
    row = next(line for line in README.read_text().splitlines() if line.startswith("| serve one function |"))
    named = re.search(r"`tekton-dag serve ([^`]+)`", row)
    assert named is not None, row
    assert named.group(1).split("\\|") == list(SERVABLE), "README's `serve` row lists other names than serve takes"


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_readme_shows_every_subcommand(command: str) -> None:
    using = README.read_text().split("## Using it", 1)[1].split("\n## ", 1)[0]
    assert f"`tekton-dag {command}" in using, f"README's \"Using it\" table has no `tekton-dag {command}`"


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("args, message", [
    (("send", "ping", "acme/api", "--timeout", "-1"), "argument --timeout: '-1': must be a positive number"),
    (("send", "ping", "acme/api", "--timeout", "soon"), "argument --timeout: 'soon' is not a number of seconds"),
    (("render", "--mode", "pr", "--app", "demo-fe"), "--mode pr needs --pr NUMBER and --sha HEAD_SHA"),
    (("bootstrap", "--team", "commerce", "--dry-run", "--concurrency", "0"), "--concurrency must be at least 1"),
    (("bootstrap", "--team", "commerce", "--dry-run", "--timeout", "0"), "argument --timeout: '0': must be"),
    (("dev", "--task-seconds", "-1"), "--task-seconds -1.0: must be between 0 and 3600"),
    (("dev", "--after-ack-nice", "20"), "--after-ack-nice '20': must be a whole number from 0 to 19"),
    (("dev", "--github-api", "api.github.com"), "--github-api 'api.github.com': expected an http(s) URL"),
    # Numbers only in ASCII digits, in the range the chain admits: int() and float() alone read
    # Arabic-Indic digits, signs, "1_0" and "1e3", and render printed a run run-creator refuses.
    # (The options after the number would end each command quickly, were the number taken.)
    (("render", "--mode", "pr", "--pr", ARABIC_42, "--sha", "abc"), f"argument --pr: '{ARABIC_42}' is not a whole"),
    (("render", "--mode", "pr", "--pr", "-5", "--sha", "abc"), "argument --pr: '-5' is not a whole number from 1"),
    (("render", "--mode", "pr", "--pr", "2147483648", "--sha", "abc"), "'2147483648': must be from 1 to 2147483647"),
    (("send", "ping", "acme/api", "--number", "0"), "argument --number: '0': must be from 1 to 2147483647"),
    (("send", "ping", "acme/api", "--installation", "-1"), "argument --installation: '-1' is not a whole number"),
    (("send", "ping", "acme/api", "--timeout", "1e3"), "argument --timeout: '1e3' is not a number of seconds"),
    (("bootstrap", "--team", "commerce", "--concurrency", ARABIC_42), "argument --concurrency: '"),
    (("serve", "all-in-one", "--workers", ARABIC_42, "--listen", "nowhere"), "argument --workers: '"),
    (("redeliver", "--since", "1h", "--repo", "a/b", "--hook-id", "0"), "argument --hook-id: '0': must be 1 or more"),
    (("dev", "--task-seconds", ARABIC_42, "--teams", "no-such-dir"), "argument --task-seconds: '"),
    # GitHub's names: ".." is none, and took redeliver's API path elsewhere (/repos/../../hooks/1/deliveries).
    (("redeliver", "--since", "1h", "--repo", "../..", "--hook-id", "1"), "--repo '../..': expected owner/name"),
    (("redeliver", "--since", "1h", "--repo", "acme/..", "--hook-id", "1"), "--repo 'acme/..': expected owner/name"),
    # "-n .." listed every namespace's ConfigMaps (/api/v1/namespaces/../configmaps is /api/v1/configmaps).
    (("dead-letters", "list", "-n", "..", "--kubeconfig", "no-such-file"), "'..' is not a namespace name"),
    # Values send puts in HTTP headers: httpx raised UnicodeEncodeError (a traceback), h11 "Illegal header value".
    (("send", "ping", "acme/api", "--delivery", "\u00e9", "--secret", "s", "--url", "http://127.0.0.1:9/"),
     "argument --delivery: '\u00e9': sent as an HTTP header, it must be printable ASCII"),
    (("send", "--file", "README.md", "--event", "push\nX-Injected: 1"), "argument --event: 'push\\nX-Injected: 1'"),
    (("dead-letters", "replay", "--all", "--local", "none.jsonl", "--broker", "http://127.0.0.1:9",
      "--wait", ARABIC_42), f"argument --wait: '{ARABIC_42}' is not a number of seconds"),
])
def test_options_that_cannot_work_are_usage_errors_with_a_usage_line(args: tuple[str, ...], message: str) -> None:
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"usage: tekton-dag {args[0]} ")
    assert message in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("url", ["http://:8080", "http:api.github.com", "https://ghe.example:0/api/v3"])
def test_dev_refuses_a_github_api_url_without_a_host_or_port_to_send_to(url: str) -> None:
    result = run_cli("dev", "--github-api", url)
    assert result.returncode == 2, result.stderr
    assert f"--github-api {url!r}: expected an http(s) URL (it has " in result.stderr


@pytest.mark.parametrize("args", [("teams",), ("validate",), ("stacks", "-o", "json")])
def test_a_reader_that_leaves_early_is_no_error(args: tuple[str, ...]) -> None:
    """`tekton-dag teams | head -0`: the pipe closes before the first line; exit as SIGPIPE would, quietly."""
    with subprocess.Popen([sys.executable, "-m", "tekton_dag.cli.main", *args], cwd=README.parent,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE) as process:
        assert process.stdout is not None and process.stderr is not None
        process.stdout.close()  # long before the interpreter has started
        stderr = process.stderr.read().decode()
    assert process.returncode == 141, stderr
    assert stderr == ""


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("args", [("teams",), ("validate",), ("render", "--mode", "bootstrap")])
def test_output_that_cannot_be_written_is_one_error_line(args: tuple[str, ...]) -> None:
    with open("/dev/full", "w") as full:  # every write: ENOSPC, as on a full disk
        result = subprocess.run([sys.executable, "-m", "tekton_dag.cli.main", *args], cwd=README.parent,
                                stdout=full, stderr=subprocess.PIPE, text=True)
    assert result.returncode == 1
    assert result.stderr == "tekton-dag: error: cannot write the output: No space left on device\n"


def test_a_closed_stdout_is_no_error() -> None:
    """`tekton-dag teams >&-`: Python has no sys.stdout then, and print() writes nothing."""
    result = subprocess.run([sys.executable, "-m", "tekton_dag.cli.main", "teams"], cwd=README.parent,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: os.close(1))
    assert (result.returncode, result.stderr) == (0, "")
