"""Bad input to any subcommand: one `tekton-dag: error:` line naming the file or setting and what
is wrong, exit 1 (or 2 for usage), never a traceback (the real console entry point, a subprocess)."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.clirun import run_cli

DEEP_JSON = b"[" * 100_000 + b"]" * 100_000  # valid JSON that Python's decoder cannot nest


def one_error(result: object, message: str, code: int = 1) -> None:
    assert result.returncode == code, result.stderr  # type: ignore[attr-defined]
    assert message in result.stderr and "Traceback" not in result.stderr, result.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize("command", [("resolve", "--payload"), ("send", "--secret", "s", "--print", "--file")])
def test_a_saved_body_nested_too_deeply_is_named(tmp_path: Path, command: tuple[str, ...]) -> None:
    body = tmp_path / "deep.json"
    body.write_bytes(DEEP_JSON)
    one_error(run_cli(*command, str(body)), f"tekton-dag: error: {body}: JSON nested too deeply")
