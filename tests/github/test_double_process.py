"""``python -m tekton_dag.testing.github_api`` (the double as its own process: benches, by hand)
stops on SIGTERM and on SIGINT, even when started with SIGINT ignored, as a non-interactive shell
starts background jobs (it hung there until killed)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_double_process_stops_on_a_signal_even_with_sigint_ignored(tmp_path: Path, sig: signal.Signals) -> None:
    with subprocess.Popen(
            [sys.executable, "-m", "tekton_dag.testing.github_api", "--key-file", str(tmp_path / "app.pem")],
            stdout=subprocess.PIPE, text=True,
            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) as process:
        try:
            assert process.stdout is not None
            assert "GITHUB_API_URL=" in process.stdout.readline()  # serving
            process.send_signal(sig)
            assert process.wait(10) == 0
        finally:
            process.kill()
