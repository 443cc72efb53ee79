"""The local Broker's journal: what it acked survives a stop, and resumes in order with its attempts."""

from __future__ import annotations

import asyncio
import itertools
import time

import pytest

from support.broker import broker_yaml, event, eventually, trigger_yaml
from tekton_dag.bus.journal import Journal, JournalError
from tekton_dag.testing.recorder import EventRecorder

TYPE_A = "dev.example.a.v1"
ONLY_A = f"filter:\n  attributes:\n    type: {TYPE_A}\n"
# The one retry waits 30 s: exponential waits the delay itself before the first retry (linear would
# retry at once, as Knative's dispatcher does: tekton_dag.bus.delivery).
SLOW_RETRIES = "retry: 1\nbackoffPolicy: exponential\nbackoffDelay: PT30S\n"


async def unreachable_url() -> str:
    with EventRecorder().serving() as url:
        pass
    return url  # nothing listens there any more


async def test_an_acked_event_outlives_the_broker_and_is_delivered_by_the_next_one(start_broker, tmp_path):
    journal = tmp_path / "journal.sqlite3"
    docs = [broker_yaml(SLOW_RETRIES), trigger_yaml("t", "s", ONLY_A)]
    async with start_broker(docs, {"s": await unreachable_url()}, journal=Journal(journal), close_grace=0.2) as first:
        assert (await first.post(event(TYPE_A, id="e-1"))).status_code == 202
        await eventually(lambda: first.broker.stats["retried"] == 1 or first.broker.in_flight == 1)
    assert first.dead_letters() == []  # kept for the next start, not dead-lettered

    sub = EventRecorder()
    with sub.serving() as url:
        async with start_broker(docs, {"s": url}, journal=Journal(journal), close_grace=0.2) as second:
            await eventually(lambda: len(sub.received) == 1)
            assert second.broker.stats["resumed"] == 1
        assert [e.get_id() for e in sub.received] == ["e-1"]
        async with start_broker(docs, {"s": url}, journal=Journal(journal), close_grace=0.2) as third:
            await asyncio.sleep(0.2)
            assert third.broker.stats["resumed"] == 0, "a delivered event must not come back"
    assert len(sub.received) == 1


async def test_an_event_no_trigger_matches_is_acked_without_a_journal_write(start_broker, tmp_path):
    """Nothing to keep, nothing written (Tekton's ``unknown`` events, outcomes of teams without checks):
    before, each cost an empty transaction on the ack path."""
    journal = Journal(tmp_path / "journal.sqlite3")
    docs = [broker_yaml(SLOW_RETRIES), trigger_yaml("t", "s", ONLY_A)]
    async with start_broker(docs, {"s": await unreachable_url()}, journal=journal, close_grace=0.2) as running:
        commits = journal.stats.commits
        assert (await running.post(event("dev.example.nobody.v1", id="n-1"))).status_code == 202
        assert running.broker.stats["accepted"] == 1 and journal.stats.commits == commits
        assert (await running.post(event(TYPE_A, id="e-1"))).status_code == 202
        assert journal.stats.commits > commits, "a matched event is journalled before its ack"


async def test_a_resumed_delivery_keeps_the_attempts_it_already_spent(start_broker, tmp_path):
    journal = tmp_path / "journal.sqlite3"
    docs = [broker_yaml(SLOW_RETRIES), trigger_yaml("t", "s", ONLY_A)]  # two attempts in all
    failing = EventRecorder(status=500)
    with failing.serving() as url:
        async with start_broker(docs, {"s": url}, journal=Journal(journal), close_grace=0.2) as first:
            await first.post(event(TYPE_A, id="e-1"))
            await eventually(lambda: len(failing.received) == 1)
            await asyncio.sleep(0.1)  # the failed attempt is recorded before the backoff
        async with start_broker(docs, {"s": url}, journal=Journal(journal), close_grace=0.2) as second:
            await eventually(lambda: second.broker.stats["dead_lettered"] == 1)
            letters = second.dead_letters()
    assert len(failing.received) == 2, "one attempt before the restart, the last one after it"
    assert [letter["attempts"] for letter in letters] == [2]


async def test_resumed_deliveries_go_one_after_another_per_partition_key(start_broker, tmp_path):
    journal = tmp_path / "journal.sqlite3"
    docs = [broker_yaml(SLOW_RETRIES), trigger_yaml("t", "s", ONLY_A)]
    order = [("a", "a-1"), ("b", "b-1"), ("a", "a-2"), ("b", "b-2"), ("a", "a-3")]
    async with start_broker(docs, {"s": await unreachable_url()}, journal=Journal(journal), close_grace=0.2) as first:
        for key, event_id in order:
            assert (await first.post(event(TYPE_A, id=event_id, partitionkey=key))).status_code == 202

    arrivals: dict[str, float] = {}

    class Stamping(EventRecorder):
        def answer(self, headers, body):  # type: ignore[no-untyped-def]
            arrivals[f"{len(arrivals)}"] = time.monotonic()
            return super().answer(headers, body)

    sub = Stamping(delay=0.15)
    with sub.serving() as url:
        async with start_broker(docs, {"s": url}, journal=Journal(journal), close_grace=0.2):
            await eventually(lambda: len(sub.received) == 5)
    got = [e.get_id() for e in sub.received]
    stamps = dict(zip(got, arrivals.values(), strict=False))
    for key in ("a", "b"):
        ids = [i for k, i in order if k == key]
        assert [i for i in got if i.startswith(key)] == ids
        for before, after in itertools.pairwise(ids):
            assert stamps[after] - stamps[before] >= 0.14, f"{after} sent before {before} was answered"
    assert stamps["b-1"] - stamps["a-1"] < 0.1, "different keys are resumed side by side"


async def test_resumed_events_without_a_partition_key_go_side_by_side(start_broker, tmp_path):
    """Tekton's events carry no ``partitionkey``: resumed all in one chain, one slow subscriber
    (timeouts and backoff: minutes) held up every other."""
    journal = tmp_path / "journal.sqlite3"
    docs = [broker_yaml(SLOW_RETRIES), trigger_yaml("t", "s", ONLY_A)]
    async with start_broker(docs, {"s": await unreachable_url()}, journal=Journal(journal), close_grace=0.2) as first:
        for event_id in ("k-1", "k-2", "k-3"):
            assert (await first.post(event(TYPE_A, id=event_id))).status_code == 202
    arrivals: dict[str, float] = {}

    class Stamping(EventRecorder):
        def answer(self, headers, body):  # type: ignore[no-untyped-def]
            arrivals[str(len(arrivals))] = time.monotonic()
            return super().answer(headers, body)

    sub = Stamping(delay=0.3)
    with sub.serving() as url:
        async with start_broker(docs, {"s": url}, journal=Journal(journal), close_grace=0.2):
            await eventually(lambda: len(sub.received) == 3)
    stamps = sorted(arrivals.values())
    assert stamps[-1] - stamps[0] < 0.25, "each was sent before the one before it was answered"


async def test_a_journal_in_use_by_another_broker_is_refused(tmp_path):
    first = Journal(tmp_path / "journal.sqlite3")
    first.open()
    try:
        with pytest.raises(JournalError, match="used by another running Broker"):
            Journal(tmp_path / "journal.sqlite3").open()
    finally:
        first.close()
    Journal(tmp_path / "journal.sqlite3").open()  # free again once closed


async def test_a_reply_and_the_end_of_the_delivery_that_produced_it_are_one_write(start_broker, tmp_path):
    journal = tmp_path / "journal.sqlite3"
    reply_type = "dev.example.reply.v1"
    docs = [broker_yaml(SLOW_RETRIES), trigger_yaml("t", "s", ONLY_A),
            trigger_yaml("r", "down", f"filter:\n  attributes:\n    type: {reply_type}\n")]
    from cloudevents.core.v1.event import CloudEvent

    replying = EventRecorder(status=200, reply=CloudEvent({"type": reply_type, "source": "/s", "id": "reply-1"}, {}))
    with replying.serving() as url:
        async with start_broker(
            docs, {"s": url, "down": await unreachable_url()}, journal=Journal(journal), close_grace=0.2
        ) as first:
            await first.post(event(TYPE_A, id="e-1"))
            await eventually(lambda: first.broker.stats["replies"] == 1)
    receiver = EventRecorder()
    with receiver.serving() as url:
        async with start_broker(docs, {"s": url, "down": url}, journal=Journal(journal), close_grace=0.2) as second:
            await eventually(lambda: len(receiver.received) == 1)
            await asyncio.sleep(0.1)
            assert second.broker.stats["resumed"] == 1
    assert [e.get_id() for e in receiver.received] == ["reply-1"], "only the reply is pending, not its parent"


async def test_a_reply_no_trigger_matches_ends_its_parent_with_a_mark_not_a_commit(start_broker, tmp_path, monkeypatch):
    """As an empty answer does: the parent's end rides along with the next commit (before, such a
    reply -- run-creator's outcome for a team without checks -- cost a transaction per webhook)."""
    from cloudevents.core.v1.event import CloudEvent

    import tekton_dag.bus.journal as journal_module

    monkeypatch.setattr(journal_module, "MARK_DELAY_S", 30.0)  # marks wait for the next commit or the stop
    path = tmp_path / "journal.sqlite3"
    docs = [broker_yaml(SLOW_RETRIES), trigger_yaml("t", "s", ONLY_A)]
    unmatched = CloudEvent({"type": "dev.example.nobody.v1", "source": "/s", "id": "reply-1"}, {})
    replying = EventRecorder(status=200, reply=unmatched)
    with replying.serving() as url:
        journal = Journal(path)
        async with start_broker(docs, {"s": url}, journal=journal, close_grace=0.2) as first:
            commits = journal.stats.commits
            assert (await first.post(event(TYPE_A, id="e-1"))).status_code == 202
            await eventually(lambda: first.broker.stats["replies"] == 1)
            await asyncio.sleep(0.05)
            assert journal.stats.commits == commits + 1, "only the accept of e-1 committed"
            assert first.broker.stats["accepted"] == 2, "the reply was taken"
        async with start_broker(docs, {"s": url}, journal=Journal(path), close_grace=0.2) as second:
            await asyncio.sleep(0.1)
            assert second.broker.stats["resumed"] == 0, "the stop committed the parent's end"
    assert [e.get_id() for e in replying.received] == ["e-1"]


async def test_a_reply_the_journal_refused_makes_its_parent_try_again(start_broker, tmp_path):
    """A reply has no sender to answer 503 to: when the journal cannot take it (locked, full), the
    delivery that produced it counts as failed and is retried; before, the parent was finished in
    memory, pending on disk, and nothing delivered the reply until a restart."""
    reply_type = "dev.example.reply.v1"
    retries = "retry: 3\nbackoffPolicy: linear\nbackoffDelay: PT0.05S\n"
    docs = [broker_yaml(retries), trigger_yaml("t", "s", ONLY_A),
            trigger_yaml("r", "down", f"filter:\n  attributes:\n    type: {reply_type}\n")]
    from concurrent.futures import Future

    from cloudevents.core.v1.event import CloudEvent

    class RefusingFirstReply(Journal):
        refused = 0

        def submit(self, deliveries, completes=None):  # type: ignore[no-untyped-def]
            if completes is not None and not self.refused:
                self.refused += 1
                failed: Future[list[int]] = Future()
                failed.set_exception(JournalError("database is locked"))
                return failed
            return super().submit(deliveries, completes)

    journal = RefusingFirstReply(tmp_path / "journal.sqlite3")
    replying = EventRecorder(status=200, reply=CloudEvent({"type": reply_type, "source": "/s", "id": "reply-1"}, {}))
    receiver = EventRecorder()
    with replying.serving() as url, receiver.serving() as down:
        async with start_broker(docs, {"s": url, "down": down}, journal=journal, close_grace=0.2) as running:
            assert (await running.post(event(TYPE_A, id="e-1"))).status_code == 202
            await eventually(lambda: len(receiver.received) == 1)
            await eventually(lambda: running.broker.in_flight == 0)
            assert running.dead_letters() == []
    assert journal.refused == 1 and len(replying.received) == 2
    assert [e.get_id() for e in receiver.received] == ["reply-1"]


async def test_a_dead_letter_that_cannot_be_written_does_not_stop_the_deliveries(start_broker, tmp_path):
    """An exception in a delivery (here the dead-letter file is a directory) ended the worker task
    for good, unlogged: the delivery stayed in flight forever and, one by one, the workers were gone."""
    (tmp_path / "dead-letters.jsonl").mkdir()
    type_b = "dev.example.b.v1"
    docs = [broker_yaml(), trigger_yaml("t", "s", ONLY_A),
            trigger_yaml("u", "other", f"filter:\n  attributes:\n    type: {type_b}\n")]
    refusing, receiver = EventRecorder(status=400, reply=b"no"), EventRecorder()
    with refusing.serving() as url, receiver.serving() as other:
        async with start_broker(docs, {"s": url, "other": other}, concurrency=1, close_grace=0.2) as running:
            assert (await running.post(event(TYPE_A, id="a-1"))).status_code == 202
            await eventually(lambda: len(refusing.received) == 1)
            assert (await running.post(event(type_b, id="b-1"))).status_code == 202
            await eventually(lambda: len(receiver.received) == 1)
            await eventually(lambda: running.broker.in_flight == 0)


async def test_a_ttl_beyond_what_the_journal_holds_is_bounded_not_a_500(start_broker, tmp_path):
    """``knativebrokerttl`` of 10^20 made SQLite raise OverflowError: the ingress answered 500 and
    the marks waiting for that commit were dropped unlogged."""
    receiver = EventRecorder()
    with receiver.serving() as url:
        docs = [broker_yaml(), trigger_yaml("t", "s", ONLY_A)]
        async with start_broker(docs, {"s": url}, journal=Journal(tmp_path / "journal.sqlite3"),
                                close_grace=0.2) as running:
            assert (await running.post(event(TYPE_A, id="e-1", knativebrokerttl=10**20))).status_code == 202
            await eventually(lambda: len(receiver.received) == 1)
