"""The admission ledger as data: decisions, supersede groups and its stored text."""

from __future__ import annotations

import json
import random

from tekton_dag.pipelineruns.ledgers import Entry, Ledger


def filled(queued: int, limit: int = 3) -> Ledger:
    ledger = Ledger()
    for i in range(limit + queued):
        ledger = ledger.request(f"run-{i}", 1, limit, now=100.0 + i, group=f"s/a/{i}", sha=f"{i:040x}")
    return ledger


def test_requests_beyond_the_limit_queue_in_priority_then_arrival_order() -> None:
    ledger = filled(queued=2).request("merge", 0, 3, now=200.0).request("boot", 2, 3, now=201.0)
    assert ledger.admitted() == ["run-0", "run-1", "run-2"]
    assert ledger.queue() == ["merge", "run-3", "run-4", "boot"]
    assert ledger.is_queued("run-3") and ledger.is_admitted("run-0") and not ledger.is_admitted("nope")


def test_a_free_slot_is_not_taken_past_runs_of_equal_or_better_priority_that_wait() -> None:
    ledger, moved = filled(queued=1).release(["run-0", "run-1"]).promote(3, now=300.0)
    assert moved == ["run-3"]
    assert ledger.request("pr", 1, 3, now=301.0).is_admitted("pr")  # one slot was still free
    waiting = filled(queued=1).release(["run-0"])  # run-3 waits for the slot run-0 freed
    assert waiting.request("pr", 1, 3, now=301.0).is_queued("pr")
    assert waiting.request("merge", 0, 3, now=301.0).is_admitted("merge")


def test_older_heads_of_the_same_pull_request_only() -> None:
    ledger = (Ledger().request("old", 1, 3, 1.0, group="stack/app/7", sha="1" * 40)
              .request("other-pr", 1, 3, 2.0, group="stack/app/8", sha="1" * 40)
              .request("merge", 0, 3, 3.0))
    assert ledger.older_heads("stack/app/7", "2" * 40) == ["old"]
    assert ledger.older_heads("stack/app/7", "1" * 40) == []  # the same head: a redelivery
    assert ledger.older_heads("", "2" * 40) == []  # merge-release and bootstrap runs have no group


def test_the_text_round_trips_and_is_plain_json() -> None:
    ledger = filled(queued=5).request("merge", 0, 3, now=123.456789)
    text = ledger.dumps()
    body = json.loads(text)
    assert body["nextSeq"] == 9 and body["entries"]["merge"] == ["queued", 0, 8, 123.457]
    assert body["entries"]["run-0"] == ["admitted", 1, 0, 100.0, "s/a/0", "0" * 12]
    again = Ledger.loads(text)
    assert again.queue() == ledger.queue() and again.admitted() == ledger.admitted()
    assert again.entries["run-4"] == Entry("queued", 1, 4, 104.0, "s/a/4", f"{4:040x}"[:12])


def test_entries_written_before_supersede_groups_still_load() -> None:
    text = json.dumps({"nextSeq": 2, "entries": {"a": ["admitted", 1, 0, 5.0], "b": ["queued", 2, 1, 6.0]}})
    ledger = Ledger.loads(text)
    assert ledger.admitted() == ["a"] and ledger.queue() == ["b"] and ledger.entries["a"].group == ""


def test_names_that_need_escaping_are_escaped() -> None:
    name = 'hand "edited"\\name'
    assert list(json.loads(Ledger().request(name, 1, 3, 1.0).dumps())["entries"]) == [name]


def test_adopting_keeps_what_is_recorded_and_appends_the_rest() -> None:
    ledger = Ledger().request("known", 1, 3, 1.0)
    assert ledger.adopt("known", Entry("queued", 2, 0, 9.0)) is ledger
    adopted = ledger.adopt("found", Entry("admitted", 2, 0, 9.0))
    assert adopted.entries["found"] == Entry("admitted", 2, 1, 9.0) and adopted.next_seq == 2


def test_the_views_handed_on_between_ledgers_match_a_fresh_count_and_sort() -> None:
    """Requests pass the queue order and the admitted count on instead of recomputing them: after
    any mix of requests, releases and promotions they equal what a freshly loaded ledger computes."""
    rng = random.Random(3)
    ledger = Ledger()
    for i in range(600):
        roll = rng.random()
        if roll < 0.6:
            ledger = ledger.request(f"run-{i}", rng.choice((0, 1, 2)), 3, float(i))
        elif roll < 0.8 and ledger.entries:
            ledger = ledger.release([rng.choice(list(ledger.entries))])
        else:
            ledger, _ = ledger.promote(3, float(i))
        fresh = Ledger.loads(ledger.dumps())
        assert ledger.queue() == fresh.queue() and ledger.admitted_count == fresh.admitted_count
    assert len(ledger.queue()) > 50  # the mix really built a long queue


def test_superseded_heads_are_remembered_within_bounds_and_survive_the_stored_text() -> None:
    from tekton_dag.pipelineruns.ledgers import HEADS_PER_PR, PRS_REMEMBERED

    shas = [f"{i:x}" * 40 for i in range(1, 8)]
    ledger = Ledger()
    for before, sha in zip([""] + shas, shas, strict=False):
        ledger = ledger.note_head("s/a/1", sha, before)
    assert ledger.newest_head("s/a/1") == shas[-1][:12]
    assert ledger.heads["s/a/1"].superseded == tuple(s[:12] for s in reversed(shas[-1 - HEADS_PER_PR:-1]))
    assert ledger.is_stale_head("s/a/1", shas[-2]) and not ledger.is_stale_head("s/a/1", shas[-1])
    assert not ledger.is_stale_head("s/a/1", shas[-2], before=shas[-1]), "a push back from the newest head is new"
    for pr in range(2, PRS_REMEMBERED + 10):
        ledger = ledger.note_head(f"s/a/{pr}", "f" * 40)
    assert len(ledger.heads) == PRS_REMEMBERED and "s/a/1" not in ledger.heads  # the least recent went first
    again = Ledger.loads(ledger.dumps())
    assert again == ledger and again.dumps() == ledger.dumps()
    assert len(ledger.dumps()) < 40_000


def test_a_synchronize_names_the_head_it_replaced_before_that_heads_own_delivery_arrives() -> None:
    ledger = Ledger().note_head("s/a/1", "b" * 40, before="a" * 40)
    assert ledger.is_stale_head("s/a/1", "a" * 40) and not ledger.is_stale_head("s/a/2", "a" * 40)
