"""The all-in-one's own event key, used when none is configured: kept beside its journal, so that
events journalled before a restart still pass the seal check after it."""

from __future__ import annotations

import stat

from tekton_dag.events import sealing
from tekton_dag.functions.all_in_one import own_event_key


def test_the_key_is_made_once_kept_owner_only_and_read_again_after_a_restart(tmp_path):
    journal = tmp_path / "state" / "broker-journal.sqlite3"
    first = own_event_key(journal)
    assert len(first) >= sealing.MIN_KEY_LENGTH
    kept = journal.with_name(journal.name + ".event-key")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert own_event_key(journal) == first  # the next process seals and checks with the same key


def test_a_short_or_empty_kept_key_is_replaced(tmp_path):
    journal = tmp_path / "broker-journal.sqlite3"
    journal.with_name(journal.name + ".event-key").write_text("short")
    assert len(own_event_key(journal)) >= sealing.MIN_KEY_LENGTH
