"""The console script's shared behaviour: help everywhere, usage errors exit 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tekton_dag.cli.main import SUBCOMMANDS, main


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tekton_dag.cli.main", *args], capture_output=True, text=True)


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    assert f"tekton-dag {command}" in capsys.readouterr().out


def test_unknown_subcommand_is_a_usage_error() -> None:
    result = run_cli("frobnicate")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
