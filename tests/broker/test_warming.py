"""Start-up work in the background: it runs after its delay, failures are only logged, and the
heap is frozen once."""

from __future__ import annotations

import gc
import logging
import time

import pytest

from tekton_dag import warming


def test_a_step_runs_after_its_delay_and_then_the_heap_is_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warming, "_frozen", type(warming._frozen)())
    frozen_before = gc.get_freeze_count()
    ran: list[float] = []
    started = time.monotonic()
    warming.in_background(lambda: ran.append(time.monotonic() - started), "test step", delay=0.2).join(5)
    assert ran and ran[0] >= 0.2
    assert gc.get_freeze_count() > frozen_before
    gc.unfreeze()


def test_a_failing_step_is_logged_and_freezing_happens_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(warming, "_frozen", type(warming._frozen)())
    freezes: list[int] = []
    monkeypatch.setattr(gc, "freeze", lambda: freezes.append(1))

    def broken() -> None:
        raise ImportError("no module named nowhere")

    with caplog.at_level(logging.WARNING, logger="tekton_dag.warming"):
        warming.in_background(broken, "broken step").join(5)
        warming.in_background(lambda: None, "second step").join(5)
    assert "broken step failed: no module named nowhere" in caplog.text
    assert freezes == [1]


HELD = """
import gc, json, sys, time
from tekton_dag import warming
warming.hold_collections(0.3)
held = not gc.isenabled()
time.sleep(1.0)
print(json.dumps({"held": held, "resumed": gc.isenabled(), "frozen": gc.get_freeze_count() > 0}))
"""


def test_collections_are_held_while_a_function_starts_then_resume_with_the_heap_frozen() -> None:
    import json
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", HELD], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"held": True, "resumed": True, "frozen": True}


def test_tekton_dag_serve_holds_collections_while_it_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    from tekton_dag.cli import main, serve
    from tekton_dag.functions import serving

    held: list[bool] = []
    monkeypatch.setattr(warming, "hold_collections", lambda: held.append(True))
    monkeypatch.setattr(serving, "serve", lambda name: None)
    monkeypatch.setattr(serve.deferred, "defer", lambda deferral: False)
    monkeypatch.setenv("TEKTON_DAG_TEAMS_DIR", "teams")  # serve sets it: restored after the test
    assert main.main(["serve", "dead-letters"]) == 0
    assert held == [True]
    # not for --workers: the forked workers would not have the thread that resumes collections
    monkeypatch.setattr("tekton_dag.cli.workers.serve_workers", lambda workers: 0)
    assert main.main(["serve", "all-in-one", "--workers", "2"]) == 0
    assert held == [True]
