"""`tekton-dag dead-letters` on the local Broker's JSON-lines file (the process, a recording Broker)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest
from cloudevents.core.bindings.http import to_structured_event

from support.clirun import REPO, run_cli
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


class _StallsAfterOne(EventRecorder):
    """A Broker that takes the first event, then holds every later request until released and
    takes none of them."""

    def __init__(self) -> None:
        super().__init__()
        self.stalled = threading.Event()
        self.release = threading.Event()

    def answer(self, headers: Mapping[str, str], body: bytes) -> tuple[int, dict[str, str], bytes]:
        if self.events:
            self.stalled.set()
            self.release.wait(30)
            return 503, {}, b""
        return super().answer(headers, body)


def test_a_replay_cut_short_keeps_the_letters_the_broker_took(tmp_path: Path) -> None:
    file = tmp_path / "dead-letters.jsonl"
    file.write_text(record("run-1") + "\n" + record("run-2") + "\n")
    broker = _StallsAfterOne()
    with broker.serving() as url:
        replay = subprocess.Popen([sys.executable, "-m", "tekton_dag.cli.main", "dead-letters", "replay", "--all",
                                   "--local", str(file), "--broker", url], cwd=REPO,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            assert broker.stalled.wait(30), "the replay never sent its second letter"
            replay.send_signal(signal.SIGKILL)  # cut short where nothing of the CLI's can run
            replay.wait(10)
        finally:
            broker.release.set()
            if replay.poll() is None:
                replay.kill()
    assert [e.get_id() for e in broker.events] == ["run-1"]
    states = {x["eventId"]: x["state"] for x in json.loads(
        run_cli("dead-letters", "list", "--all", "--local", str(file), "-o", "json").stdout)}
    assert states == {"run-1": "replayed", "run-2": "new"}  # `replay --all` sends only run-2 again


@pytest.mark.parametrize(("option", "value", "said"), [
    ("--broker", "localhost:50x0", "--broker"), ("--broker", "http://127.0.0.1:99999/", "--broker"),
    ("--wait", "nan", "--wait"), ("--wait", "inf", "--wait"), ("--wait", "-1", "--wait"),
])
def test_replay_refuses_a_broker_or_wait_it_cannot_use(tmp_path: Path, option: str, value: str, said: str) -> None:
    file = tmp_path / "dead-letters.jsonl"
    file.write_text(record("run-1") + "\n")
    where = ["--local", str(file)] if option == "--broker" else ["--namespace", "ci"]
    result = run_cli("dead-letters", "replay", "--all", *where, option, value)
    assert result.returncode == 2 and said in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert json.loads(run_cli("dead-letters", "list", "--local", str(file), "-o", "json").stdout)[0]["state"] == "new"


@pytest.mark.parametrize(("line", "said"), [
    (b"\xff\xfe{}", "not UTF-8 text"),
    (b"[" * 100_000 + b"]" * 100_000, "JSON nested too deeply"),
])
def test_a_line_no_json_reader_takes_is_named(tmp_path: Path, line: bytes, said: str) -> None:
    file = tmp_path / "dead-letters.jsonl"
    file.write_bytes(record("run-1").encode() + b"\n" + line + b"\n")
    result = run_cli("dead-letters", "list", "--local", str(file))
    assert result.returncode == 1
    assert f"{file}:2: {said}" in result.stderr and "Traceback" not in result.stderr, result.stderr
