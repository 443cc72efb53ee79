"""`tekton-dag dead-letters` on the local Broker's JSON-lines file (the process, a recording Broker)."""

from __future__ import annotations

import json
from pathlib import Path

from cloudevents.core.bindings.http import to_structured_event

from support.clirun import run_cli
from tekton_dag.events import catalog
from tekton_dag.testing.recorder import EventRecorder

from .test_sink import run_requested


def record(event_id: str, subscriber: str = "http://127.0.0.1:9/") -> str:
    """One line as the local Broker writes it (bus.deadletters.DeadLetters.write)."""
    event = json.loads(to_structured_event(run_requested(event_id)).body)
    return json.dumps({"time": "2026-12-01T00:00:00+00:00", "trigger": "run-creator-run-requested",
                       "subscriber": subscriber, "attempts": 6, "status": 503, "reason": "answered 503",
                       "event": event})


def test_list_and_replay_a_local_file(tmp_path: Path) -> None:
    file = tmp_path / "dead-letters.jsonl"
    file.write_text(record("run-1") + "\n" + record("run-2") + "\n")
    listed = run_cli("dead-letters", "list", "--local", str(file), "-o", "json")
    assert listed.returncode == 0, listed.stderr
    letters = json.loads(listed.stdout)
    assert [(x["eventId"], x["code"], x["trigger"]) for x in letters] == [
        ("run-1", "503", "run-creator-run-requested"), ("run-2", "503", "run-creator-run-requested")]

    broker = EventRecorder()
    with broker.serving() as url:
        replay = run_cli("dead-letters", "replay", letters[0]["name"], "--local", str(file), "--broker", url)
        assert replay.returncode == 0, replay.stderr
        assert [e.get_id() for e in broker.events] == ["run-1"]
        assert broker.events[0].get_type() == catalog.RUN_REQUESTED
        rest = run_cli("dead-letters", "replay", "--all", "--local", str(file), "--broker", url)
        assert rest.returncode == 0, rest.stderr
    assert [e.get_id() for e in broker.events] == ["run-1", "run-2"]  # --all skipped the replayed one
    assert json.loads(run_cli("dead-letters", "list", "--local", str(file), "-o", "json").stdout) == []
    everything = json.loads(run_cli("dead-letters", "list", "--all", "--local", str(file), "-o", "json").stdout)
    assert {x["state"] for x in everything} == {"replayed"}


def test_a_failed_replay_is_not_marked(tmp_path: Path) -> None:
    file = tmp_path / "dead-letters.jsonl"
    file.write_text(record("run-1") + "\n")
    with EventRecorder(status=500).serving() as url:
        result = run_cli("dead-letters", "replay", "--all", "--local", str(file), "--broker", url)
    assert result.returncode == 1 and "the Broker answered 500" in result.stdout
    assert json.loads(run_cli("dead-letters", "list", "--local", str(file), "-o", "json").stdout)[0]["state"] == "new"


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    file = tmp_path / "dead-letters.jsonl"
    file.write_text(record("run-1") + "\n{not json\n")
    result = run_cli("dead-letters", "list", "--local", str(file))
    assert result.returncode == 1
    assert f"{file}:2: not JSON" in result.stderr and "Traceback" not in result.stderr


def test_replay_needs_names_or_all(tmp_path: Path) -> None:
    result = run_cli("dead-letters", "replay", "--local", str(tmp_path / "x.jsonl"), "--broker", "http://127.0.0.1:9/")
    assert result.returncode == 2 and "name the letters to replay, or give --all" in result.stderr
