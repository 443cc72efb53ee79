"""The admission ledger as data: decisions, supersede groups and its stored text."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tekton_dag.pipelineruns.ledger_pieces import (
    Chunk,
    Entry,
    Heads,
    IndexChunk,
    Segment,
    entry_text,
    head_text,
    load_segment,
)
from tekton_dag.pipelineruns.ledgers import INDEX_AT, SCATTERED_MAX, Ledger, MissingSegments


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


_TEXTS = st.text(max_size=12) | st.text(st.sampled_from('aZ09./-_"\\\x01é'), max_size=8)


@settings(max_examples=300, deadline=None)
@given(name=_TEXTS, group=_TEXTS, sha=_TEXTS, since=st.floats(allow_nan=True) | st.integers(0, 2**40),
       superseded=st.lists(_TEXTS, max_size=4), seq=st.integers(0, 2**40))
def test_the_stored_text_is_what_the_json_encoder_writes(name: str, group: str, sha: str, since: float,
                                                          superseded: list[str], seq: int) -> None:
    # The head's text is written without json.dumps where a value needs no escaping (a read
    # re-encodes every entry): byte for byte what the encoder would write, for any value.
    compact = {"separators": (",", ":")}
    pr = [group, sha] if group else []
    entry = Entry("queued", 2, seq, since, group, sha)
    expected = json.dumps(["queued", 2, seq, round(since, 3), *pr], **compact)
    assert entry_text(name, entry) == f"{json.dumps(name)}:{expected}"
    heads = Heads(sha, tuple(superseded), seq)
    assert head_text(group, heads) == f"{json.dumps(group)}:{json.dumps([sha, superseded, seq], **compact)}"


@settings(max_examples=60, deadline=None)
@given(prs=st.lists(st.integers(0, 40), max_size=120), hand_built=st.integers(0, 30))
def test_the_heads_text_follows_the_remembered_order_however_they_moved(prs: list[int], hand_built: int) -> None:
    # dumps joins the heads' texts as made (no look-up per pull request) once it has them all:
    # the same text as made afresh, in ``heads``' order, also from a ledger built by hand. And
    # whatever moved where (the head, heads segments, one rewritten segment), each remembered
    # pull request's newest head is the last one noted, and the most recently changed are there.
    from tekton_dag.pipelineruns import ledgers

    start = Ledger(heads={f"s/a/h{n}": Heads("0" * 12, (), n) for n in range(hand_built)}, next_seq=hand_built)
    ledger, newest = start, {f"s/a/h{n}": "0" * 12 for n in range(hand_built)}
    original = ledgers.PRS_REMEMBERED, ledgers.HEADS_IN_HEAD
    ledgers.PRS_REMEMBERED, ledgers.HEADS_IN_HEAD = 24, 8
    try:
        for seq, pr in enumerate(prs):
            sha = f"{seq:012x}" + "0" * 28
            ledger = ledger.note_head(f"s/a/{pr}", sha)
            newest.pop(f"s/a/{pr}", None)
            newest[f"s/a/{pr}"] = sha[:12]
    finally:
        ledgers.PRS_REMEMBERED, ledgers.HEADS_IN_HEAD = original
    fresh = Ledger(ledger.entries, ledger.next_seq, heads=dict(ledger.heads),  # no texts: each made now
                   head_segments=ledger.head_segments)
    assert ledger.dumps() == fresh.dumps()
    assert list(json.loads(ledger.dumps()).get("heads", {})) == list(ledger.heads)
    assert len(ledger.heads) <= 8 or not prs  # a ledger built by hand (or an older text) is sealed on its next note
    remembered = ledger.remembered()
    assert {group: heads.current for group, heads in remembered.items()} == {g: newest[g] for g in remembered}
    assert set(list(newest)[-24:]) <= set(remembered) and len(remembered) <= 2 * 24 + 8
    assert Ledger.loads(ledger.dumps()).remembered() == remembered


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
    from tekton_dag.pipelineruns.ledgers import HEADS_IN_HEAD, HEADS_PER_PR, PRS_REMEMBERED

    shas = [f"{i:x}" * 40 for i in range(1, 8)]
    ledger = Ledger()
    for before, sha in zip([""] + shas, shas, strict=False):
        ledger = ledger.note_head("s/a/1", sha, before)
    assert ledger.newest_head("s/a/1") == shas[-1][:12]
    assert ledger.heads["s/a/1"].superseded == tuple(s[:12] for s in reversed(shas[-1 - HEADS_PER_PR:-1]))
    assert ledger.is_stale_head("s/a/1", shas[-2]) and not ledger.is_stale_head("s/a/1", shas[-1])
    assert not ledger.is_stale_head("s/a/1", shas[-2], before=shas[-1]), "a push back from the newest head is new"
    for pr in range(2, 2 + HEADS_IN_HEAD):  # PR 1 and 32 more: the head seals them into a heads segment
        ledger = ledger.note_head(f"s/a/{pr}", "f" * 40)
    assert ledger.heads == {} and [len(s.chunk.heads) for s in ledger.head_segments] == [HEADS_IN_HEAD + 1]
    assert ledger.is_stale_head("s/a/1", shas[-2]) and ledger.newest_head("s/a/1") == shas[-1][:12], "still known"
    for pr in range(2 + HEADS_IN_HEAD, 2 * PRS_REMEMBERED + 2 * HEADS_IN_HEAD):
        ledger = ledger.note_head(f"s/a/{pr}", "f" * 40)
    remembered = ledger.remembered()
    assert len(remembered) >= PRS_REMEMBERED and "s/a/1" not in remembered  # the least recent went first
    assert not ledger.is_stale_head("s/a/1", shas[-2])
    again = Ledger.loads(ledger.dumps())
    assert again == ledger and again.dumps() == ledger.dumps()
    assert len(ledger.dumps()) < 40_000  # a rewritten heads segment rides in the head until its Lease exists
    stored = ledger.stored()
    assert len(stored.dumps()) < 100 * (HEADS_IN_HEAD + 10)  # then the head lists its name only
    chunks = {s.chunk.name: s.chunk for s in stored.head_segments}
    reloaded = Ledger.loads(stored.dumps(), chunks)
    assert reloaded == stored and reloaded.remembered() == remembered


def test_the_least_recently_changed_pull_request_is_forgotten_first_also_after_a_reload() -> None:
    """The first pull request noted is not the one forgotten when it changed since; the order
    survives the stored text, and a text whose heads are not in that order (written before the
    order was kept) loads in it."""
    from tekton_dag.pipelineruns.ledgers import HEADS_IN_HEAD, PRS_REMEMBERED

    ledger = Ledger()
    for pr in range(1, PRS_REMEMBERED + 1):
        ledger = ledger.note_head(f"s/a/{pr}", "a" * 40)
    pr = 0
    while True:  # new pull requests, up to the one whose note would rewrite the segments as one
        pr += 1
        after = ledger.note_head(f"s/a/new{pr}", "c" * 40)
        if len(after.head_segments) == 1 < len(ledger.head_segments):
            break
        ledger = after
    assert len(ledger.remembered()) == PRS_REMEMBERED + pr - 1  # nothing forgotten before
    ledger = Ledger.loads(ledger.note_head("s/a/1", "b" * 40, before="a" * 40).dumps())  # PR 1 changed last
    ledger = ledger.note_head(f"s/a/new{pr}", "c" * 40)
    assert len(ledger.head_segments) == 1
    remembered = ledger.remembered()
    assert len(remembered) == PRS_REMEMBERED + len(ledger.heads)
    assert "s/a/1" in remembered and "s/a/2" not in remembered
    assert remembered["s/a/1"].superseded == ("a" * 12,)
    for more in range(1, 4):
        ledger = ledger.note_head(f"s/a/more{more}", "d" * 40)
    body = json.loads(ledger.dumps())
    shuffled = Ledger.loads(json.dumps({**body, "heads": dict(reversed(body["heads"].items()))}))
    assert shuffled == ledger and list(shuffled.heads)[-3:] == [f"s/a/more{m}" for m in range(1, 4)]
    assert len(body["heads"]) < HEADS_IN_HEAD


def test_a_synchronize_names_the_head_it_replaced_before_that_heads_own_delivery_arrives() -> None:
    ledger = Ledger().note_head("s/a/1", "b" * 40, before="a" * 40)
    assert ledger.is_stale_head("s/a/1", "a" * 40) and not ledger.is_stale_head("s/a/2", "a" * 40)


def test_a_sealed_queue_answers_every_question_as_one_held_whole() -> None:
    """Model check: the same random mix of requests (each PR superseding its older heads),
    releases and promotions on a ledger that seals into segments after every change (as
    run-creator does) and on one that never seals: the same queue, admissions, positions and
    older heads at every step, and the sealed one survives its stored text."""
    rng = random.Random(18)
    whole, sealed, chunks = Ledger(), Ledger(), {}
    for i in range(3000):
        roll, priority, victim = rng.random(), rng.choice((0, 1, 2)), rng.choice(whole.queue() or ["nobody"])
        group, sha = (f"s/a/{rng.randint(1, 400)}", f"{rng.randint(1, 3):040x}") if rng.random() < 0.5 else ("", "")
        older = whole.older_heads(group, sha)
        assert sorted(sealed.older_heads(group, sha)) == sorted(older)

        if roll < 0.7:
            whole = whole.release(older).request(f"run-{i}", priority, 3, float(i), group, sha)
            sealed = sealed.stored().release(older).request(f"run-{i}", priority, 3, float(i), group, sha).seal()
        elif roll < 0.85:
            whole, sealed = whole.release([victim]), sealed.stored().release([victim]).seal()
        else:
            whole, sealed = whole.promote(3, float(i))[0], sealed.stored().promote(3, float(i))[0].seal()
        assert sealed.queue() == whole.queue() and sealed.admitted() == whole.admitted()
        if i % 100 == 0:
            chunks.update((chunk.name, chunk) for chunk, _ in sealed.listed())  # segments and the index
            again = Ledger.loads(sealed.dumps(), chunks)
            assert again == sealed and again.queue() == whole.queue()
            queued = whole.queue()
            for name in queued[:: max(1, len(queued) // 7)]:
                assert sealed.position(name) == queued.index(name) + 1 and sealed.is_queued(name)
    assert whole.queued_count > 1000 and len(sealed.segments) > 10  # the mix really built a long queue
    assert sealed.index is not None  # ... and an index of its segments
    assert sealed.queued_count == whole.queued_count


def test_the_head_stays_small_however_long_the_queue() -> None:
    """Per SEAL_AT queued runs one segment, and past INDEX_AT of them an index names them instead
    of the head: what the head holds besides its own runs does not grow with the queue."""
    ledger, besides_runs = Ledger(), []
    for i in range(5003):
        ledger = ledger.stored().request(f"run-{i}", 2, 3, float(i)).seal()
        text = ledger.stored().dumps()
        body = json.loads(text)
        assert len(body.get("segments", [])) <= INDEX_AT + 1  # named one by one: the newest few
        besides_runs.append(len(text) - len(json.dumps(body["entries"], separators=(",", ":"))))
    assert ledger.queued_count == 5000 and len(ledger.queue()) == 5000
    assert ledger.index is not None and len(ledger.index.chunk.names) > 70
    # Measured 143 bytes at most at 200 to 1,200 queued, 144 at 4,000 to 5,000 (``nextSeq`` has a
    # digit more); before the index the head named every segment: 78 names, 1.4 KB at 5,000.
    assert max(besides_runs[-1000:]) - max(besides_runs[200:1200]) <= 1
    assert max(besides_runs) < 150


def test_a_head_with_an_index_says_which_segments_it_lacks_the_index_first() -> None:
    ledger = filled(queued=64 * 8).seal().stored().seal().stored()  # 8 segments: indexed
    assert ledger.index is not None and "segments" not in json.loads(ledger.dumps())
    chunks = {c.name: c for c, _ in ledger.listed()}
    with pytest.raises(MissingSegments) as missing:
        Ledger.loads(ledger.dumps())
    assert list(missing.value.names) == [ledger.index.chunk.name]
    index = ledger.index.chunk
    with pytest.raises(MissingSegments) as missing:
        Ledger.loads(ledger.dumps(), {index.name: IndexChunk.loads(index.name, index.text)})
    assert list(missing.value.names) == [s.chunk.name for s in ledger.segments]
    again = Ledger.loads(ledger.dumps(), {n: load_segment(n, c.text) for n, c in chunks.items()})
    assert again == ledger and again.queue() == ledger.queue()


def test_segments_emptied_out_of_the_index_are_named_gone_then_indexed_anew() -> None:
    """Promotion empties the oldest segments: the head names each emptied one until more than
    INDEX_AT are, then a new index leaves them out; once none of it waits, no index is left."""
    ledger = filled(queued=64 * 10).seal().stored().seal().stored()
    first = ledger.index
    assert first is not None and len(first.chunk.names) == 10
    chunks = {c.name: c for c, _ in ledger.listed()}
    for done in range(64 * 10):
        ledger = ledger.stored().release([f"run-{done}"]).promote(3, 1.0)[0].seal()
        body = json.loads(ledger.stored().dumps())
        assert len(body.get("indexGone", [])) <= INDEX_AT
        chunks.update((c.name, c) for c, _ in ledger.listed())
        assert Ledger.loads(ledger.stored().dumps(), chunks).queue() == ledger.queue()
        if done == 64 * 2:  # two emptied: named gone, still the first index
            assert ledger.index == first and len(body["indexGone"]) == 2
        if done == 64 * 5 + 3:  # five emptied: a new index of the five that wait
            assert ledger.index != first and len(ledger.index.chunk.names) == 5  # type: ignore[union-attr]
    assert ledger.queued_count == 0 and ledger.index is None and not ledger.segments


def test_the_position_of_a_run_just_sealed_counts_segments_instead_of_walking_the_queue(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """run-creator asks the position of the run its write recorded, and every SEAL_AT-th write
    seals that run into a segment. Answering must cost per segment, not per queued run: walking
    a queue of thousands was 5% of the all-in-one's CPU at 400 webhooks/s."""
    ledger = Ledger()
    for i in range(3 + 64 * 80):  # one priority, as when every webhook is a pull request
        ledger = ledger.stored().request(f"run-{i}", 1, 3, float(i)).seal()
    last = f"run-{3 + 64 * 80 - 1}"
    assert last not in ledger.entries and ledger.is_queued(last)  # sealed by the write that recorded it
    walked = []
    live = Segment.live

    def counted(segment: Segment) -> Iterator[str]:
        for name in live(segment):
            walked.append(name)
            yield name

    monkeypatch.setattr(Segment, "live", counted)
    assert ledger.position(last) == 64 * 80 and ledger.position("run-3") == 1
    assert len(walked) <= 2 * 64  # the runs of the two segments holding them, not all 5,120
    ledger = ledger.request("head-held", 0, 3, 9e9)  # a better priority: ahead of every segment
    assert ledger.position(last) == 64 * 80 + 1 and ledger.position("head-held") == 1
    monkeypatch.setattr(Segment, "live", live)
    assert ledger.queue().index(last) + 1 == ledger.position(last)


def test_a_finished_run_and_its_successor_do_not_walk_the_queue(monkeypatch: pytest.MonkeyPatch) -> None:
    """A finished event releases an admitted run (held by the head, never by a segment) and
    promotes the first waiting one (in the first segment): neither looks through the other
    segments. Both did, every time: 0.36 ms per finished event at 3,000 queued (under cProfile)."""
    ledger = Ledger()
    for i in range(3 + 64 * 80):
        ledger = ledger.stored().request(f"run-{i}", 1, 3, float(i)).seal()
    looked = []
    holds = Segment.holds

    def counted(segment: Segment, name: str) -> bool:
        looked.append(segment.chunk.name)
        return holds(segment, name)

    monkeypatch.setattr(Segment, "holds", counted)
    finished, promoted = ledger.release(["run-0"]).promote(3, 1.0)
    assert promoted == ["run-3"] and finished.position("run-4") == 1
    assert len(set(looked)) <= 1  # the first segment, of 80


def test_a_request_that_changes_no_segment_does_not_walk_them(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a request asks besides "is this run recorded" (its place, whether to compact or
    re-index, what the head lists and names) is handed on from the ledger it derives from when
    the segments did not change. Each walked every segment: a request's ledger work made 677
    function calls at 3,000 queued against 106 at 10 (339 now; cProfile's count)."""
    ledger = Ledger()
    for i in range(3 + 64 * 80):
        ledger = ledger.stored().request(f"run-{i}", 1, 3, float(i), f"s/a/{i}", f"{i:040x}").seal()
    ledger = ledger.stored().seal().stored()  # the index made, and created
    ledger.seal(), ledger.dumps(), ledger.listed(), ledger.unstored(), ledger.queued_count  # its views: made once
    walked = []
    live_count, scattered = Segment.live_count.fget, Segment.scattered.func  # type: ignore[attr-defined]
    monkeypatch.setattr(Segment, "live_count", property(lambda s: walked.append(s) or live_count(s)))
    monkeypatch.setattr(Segment, "scattered", property(lambda s: walked.append(s) or scattered(s)))
    for i in range(10):
        name, group = f"new-{i}", f"s/b/{i}"
        assert not ledger.has(name) and not ledger.older_heads(group, "f" * 40)
        ledger = ledger.note_head(group, "f" * 40).request(name, 1, 3, 9e9, group, "f" * 40).seal()
        assert ledger.position(name) == 64 * 80 + i + 1 and ledger.listed() and not ledger.unstored()
        ledger.dumps()
    assert walked == []


def test_a_ledger_written_before_segments_is_read_and_sealed_on_its_next_write() -> None:
    old = filled(queued=2000)  # never sealed: the format every ledger had before segments
    text = old.dumps()
    assert "segments" not in json.loads(text) and len(text) > 100_000
    ledger = Ledger.loads(text)
    assert ledger.queue() == old.queue()
    sealed = ledger.seal()
    assert [len(c.entries) for c in sealed.unstored()] == [64] * 31 + [16]  # a Lease each, small
    assert sealed.queue() == old.queue() and sealed.admitted() == old.admitted()
    assert len(sealed.dumps()) > 100_000  # carried by the head until their Leases exist
    assert len(sealed.stored().dumps()) < 2_000


def test_a_head_naming_segments_not_handed_in_says_which() -> None:
    ledger = filled(queued=70).seal().stored()
    names = [s.chunk.name for s in ledger.segments]
    with pytest.raises(MissingSegments) as missing:
        Ledger.loads(ledger.dumps())
    assert list(missing.value.names) == names
    chunks = {s.chunk.name: Chunk.loads(s.chunk.name, s.chunk.text) for s in ledger.segments}
    assert Ledger.loads(ledger.dumps(), chunks).queue() == ledger.queue()


def test_runs_waiting_in_a_segment_are_superseded_released_and_promoted_there() -> None:
    ledger = filled(queued=100).seal().stored()  # run-3 ... run-66 in a segment, the rest in the head
    assert "run-10" not in ledger.entries and ledger.is_queued("run-10")
    assert ledger.older_heads("s/a/10", "f" * 40) == ["run-10"]
    released = ledger.release(["run-10"])
    assert not released.has("run-10") and released.queued_count == 99
    promoted, moved = released.release(["run-0"]).promote(3, 500.0)
    assert moved == ["run-3"] and promoted.is_admitted("run-3") and promoted.position("run-4") == 1


def test_runs_released_from_the_middle_of_the_queue_do_not_pile_up_in_the_head() -> None:
    """Superseded or cancelled while waiting: the head names such runs only up to a bound, then
    rewrites the segment that holds the most of them."""
    ledger = filled(queued=3000).seal().stored()
    for i in range(3, 3003, 7):  # one in seven of the waiting runs, spread over every segment
        ledger = ledger.stored().release([f"run-{i}"]).seal()
        assert sum(len(s.scattered) for s in ledger.segments) <= SCATTERED_MAX
    assert ledger.queued_count == 3000 - len(range(3, 3003, 7))
    assert ledger.queue() == [f"run-{i}" for i in range(3, 3003) if (i - 3) % 7]
    assert len(ledger.stored().dumps()) < 3_000 + SCATTERED_MAX * 20
