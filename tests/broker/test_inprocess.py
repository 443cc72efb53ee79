"""The all-in-one's in-process bus (tekton_dag.bus.inprocess): the Broker calls handlers directly,
with the answer rules, retries, dead letters, journal and seal checks of an HTTP hop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent

from tekton_dag.bus.broker import LocalBroker
from tekton_dag.bus.deadletters import error_extensions
from tekton_dag.bus.delivery import DeliverySpec, Destination
from tekton_dag.bus.inprocess import (
    InProcessPublisher,
    handed_over,
    outcome_of,
    subscriber,
    transported,
    wire_round_trip,
)
from tekton_dag.bus.journal import Journal
from tekton_dag.bus.triggers import Topology, Trigger, compile_attributes
from tekton_dag.eventing.publishing import PublishError
from tekton_dag.eventing.wire import with_extensions
from tekton_dag.events import catalog, codec, sealing

URL = "http://handler.tekton-dag.internal/"


class Handler:
    """A cloudevent handler as func-python calls it; ``answers`` scripts each call's answer."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.seen: list[CloudEvent] = []

    async def handle(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        self.seen.append(scope["event"])
        answer = self.answers.pop(0) if self.answers else 202
        if isinstance(answer, BaseException):
            raise answer
        if isinstance(answer, float):
            await asyncio.sleep(answer)
            answer = 202
        if isinstance(answer, CloudEvent):
            await send.binary(answer)
            return
        status, body = answer if isinstance(answer, tuple) else (answer, b"")
        await send.http({"type": "http.response.start", "status": status, "headers": []})
        await send.http({"type": "http.response.body", "body": body})


def event(kind: str = "test.event", **data: Any) -> CloudEvent:
    return CloudEvent({"type": kind, "source": "/test", "id": f"id-{kind}", "specversion": "1.0",
                       "datacontenttype": "application/json"}, data or {"n": 1})


async def broker_with(handler: Handler, tmp_path: Path, *, kind: str = "test.event", timeout: float = 2.0,
                      journal: Journal | None = None) -> LocalBroker:
    delivery = DeliverySpec(retry=2, backoff_policy="linear", backoff_delay_s=0.01, timeout_s=timeout)
    trigger = Trigger("t", "tekton-dag", Destination("Service", "handler"), compile_attributes({"type": kind}, "t"))
    broker = LocalBroker(Topology("tekton-dag", delivery, (trigger,)), {"handler": URL}, tmp_path / "dl.jsonl",
                         keys=sealing.EventKeys({sealing.KEY_ENV: "k" * 32}) if kind in sealing.SEALED_TYPES
                         else None, journal=journal, direct={URL: subscriber(handler, "handler")})
    broker.start()
    return broker


async def settle(broker: LocalBroker) -> None:
    assert await broker.drained(5)


async def test_the_handler_gets_a_decoded_copy_and_its_reply_reenters(tmp_path):
    reply = event("test.reply", answer=42)
    handler, replies = Handler(reply), Handler()
    broker = await broker_with(handler, tmp_path)
    broker.direct["http://replies/"] = subscriber(replies, "replies")
    sent = event(n=1)
    assert await broker.ingest(sent) == (202, "")
    await settle(broker)
    assert handler.seen[0].get_data() == {"n": 1} and handler.seen[0] is not sent
    assert handler.seen[0].get_data() is not sent.get_data()  # a copy, as from the wire
    assert broker.stats["replies"] == 1 and broker.stats["delivered"] == 1


@pytest.mark.parametrize("answer", [503, 500, 429, RuntimeError("boom"), (200, b"not a CloudEvent")],
                         ids=["503", "500", "429", "raises", "non-CloudEvent body"])
async def test_retryable_answers_are_retried_like_over_http(tmp_path, answer):
    handler = Handler(answer, 202)
    broker = await broker_with(handler, tmp_path)
    await broker.ingest(event())
    await settle(broker)
    assert len(handler.seen) == 2 and broker.stats["retried"] == 1 and broker.stats["delivered"] == 1


def test_a_non_cloudevent_reply_leaves_no_error_extensions_as_over_http():
    """The all-in-one reads a handler's answer by the HTTP rules: a 2xx whose body is no CloudEvent
    is Knative's empty 502, whose dead letter has no ``knativeerror*`` extensions, while a failed
    answer's has them (tests/broker/test_broker_delivery.py covers both over HTTP)."""
    assert error_extensions(URL, outcome_of(200, None, "<html>ok</html>", URL)) == {}
    assert error_extensions(URL, outcome_of(500, None, "boom", URL))["knativeerrorcode"] == "500"


async def test_a_final_answer_dead_letters_at_once(tmp_path):
    handler = Handler(400)
    broker = await broker_with(handler, tmp_path)
    await broker.ingest(event())
    await settle(broker)
    assert len(handler.seen) == 1 and broker.stats["dead_lettered"] == 1
    line = json.loads((tmp_path / "dl.jsonl").read_text().splitlines()[0])
    assert "answered 400" in json.dumps(line)


async def test_a_handler_slower_than_the_delivery_timeout_is_cut_off_and_retried(tmp_path):
    handler = Handler(1.0, 202)
    broker = await broker_with(handler, tmp_path, timeout=0.1)
    await broker.ingest(event())
    await settle(broker)
    assert len(handler.seen) == 2 and broker.stats["retried"] == 1


async def test_publishing_checks_the_seal_like_the_http_ingress(tmp_path):
    handler = Handler()
    broker = await broker_with(handler, tmp_path, kind=catalog.RUN_REQUESTED)
    publisher = InProcessPublisher(broker)
    unsealed = event(catalog.RUN_REQUESTED, team="default")
    with pytest.raises(PublishError, match="answered 401: unsealed"):
        await publisher.publish(unsealed)
    assert broker.stats["accepted"] == 0 and not handler.seen
    await publisher.publish(sealing.EventKeys({sealing.KEY_ENV: "k" * 32}).seal(unsealed, unsealed.get_data()))
    await settle(broker)
    assert broker.stats["accepted"] == 1 and len(handler.seen) == 1


async def test_a_published_event_is_journalled_before_publish_returns(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    handler = Handler(5.0)  # still being delivered when we look
    broker = await broker_with(handler, tmp_path, journal=journal, timeout=10)
    await InProcessPublisher(broker).publish(event())
    # committed: another connection to the file sees it pending (the journal's writes are its own)
    with contextlib.closing(sqlite3.connect(journal.path)) as db:
        assert db.execute("SELECT count(*) FROM deliveries WHERE state = 0").fetchone() == (1,)
    broker.abandon()
    journal.close()


EVENTS = {
    "run.requested, sealed, with TTL and partition key": sealing.EventKeys({sealing.KEY_ENV: "k" * 32}).seal(
        *(lambda e: (e, e.get_data()))(with_extensions(codec.build(
            catalog.RUN_REQUESTED, "/tekton-dag/resolver", "d-1", {"team": "default", "pr": 7, "apps": ["a", "b"]},
            subject="jmjava/x", team="default", traceparent="00-" + "a" * 32 + "-" + "b" * 16 + "-01"),
            knativebrokerttl=254))),
    "non-ASCII, quotes, percent signs and nested data": codec.build(
        "dev.example.odd", "/odd source%20", "ïd \"quoted\" 100%", {"text": "é ñ ✓ \u2028", "n": [1.5, None, True,
                                                                                                 {"deep": {}}]},
        subject="sub ject/é", extensions={"tektondagx": "v a%l \"é\""}),
}


@pytest.mark.parametrize("sample", EVENTS.values(), ids=EVENTS.keys())
def test_the_direct_copy_is_what_the_codec_round_trip_gives(sample):
    fast, wire = transported(sample), wire_round_trip(sample)
    assert fast.get_attributes() == wire.get_attributes()
    assert fast.get_data() == wire.get_data() and fast.get_data() is not sample.get_data()


@pytest.mark.parametrize("sample", EVENTS.values(), ids=EVENTS.keys())
def test_what_a_handler_hands_over_has_the_wires_attributes_and_its_own_data(sample):
    """Publishes and replies: attributes as decoded from the wire, the data not copied (the
    sender is done with it; every delivery copies it)."""
    given, wire = handed_over(sample), wire_round_trip(sample)
    assert given.get_attributes() == wire.get_attributes() and given.get_data() == wire.get_data()


def test_the_all_in_one_bus_tests_only_the_triggers_of_an_events_type():
    """Like the Broker reading ``knative/`` (``load_topology``), the all-in-one's bus narrows each
    event to the Triggers that can match its type: it routes the same, without testing ~20
    filters per accepted event."""
    from support.e2e import ROOT
    from tekton_dag.bus import routing
    from tekton_dag.bus.triggers import load_topology
    from tekton_dag.functions import all_in_one

    bus, cluster = all_in_one.topology(), load_topology(ROOT / "knative")
    for event_type in {t for types in routing.CONSUMES.values() for t in types} | set(routing.OUTCOMES):
        assert sorted(t.name for t in bus.candidates(event_type)) == sorted(
            t.name for t in cluster.candidates(event_type)), event_type
        for attributes in ({"type": event_type}, {"type": event_type, "tektondagchecks": "true"}):
            # and matches the same: run-creator's outcomes reach status-reporter only when marked
            assert sorted(t.name for t in bus.candidates(event_type) if t.matches(attributes)) == sorted(
                t.name for t in cluster.candidates(event_type) if t.matches(attributes)), attributes


# --- first try in the sender's task (the all-in-one: ``first_try_here``) ---------------------------
def chain_broker(tmp_path: Path, first: Handler, second: Handler, *, journal: Journal | None = None,
                 timeout: float = 2.0, here: tuple[str, ...] = ("first", "second")) -> LocalBroker:
    """``test.event`` → first, whose ``test.reply`` → second; both in process, tried in the sender's task."""
    spec = DeliverySpec(retry=2, backoff_policy="linear", backoff_delay_s=0.01, timeout_s=timeout)
    triggers = tuple(
        Trigger(name, "tekton-dag", Destination("Service", name), compile_attributes({"type": kind}, name))
        for name, kind in (("first", "test.event"), ("second", "test.reply")))
    urls = {"first": "http://first/", "second": "http://second/"}
    direct = {urls["first"]: subscriber(first, "first"), urls["second"]: subscriber(second, "second")}
    broker = LocalBroker(Topology("tekton-dag", spec, triggers), urls, tmp_path / "dl.jsonl", journal=journal,
                         direct=direct, first_try_here=frozenset(urls[name] for name in here))
    broker.start()
    return broker


def rows(journal: Journal) -> list[tuple[int, int]]:
    """(state, attempts) of every row the journal holds, as another connection reads them."""
    with contextlib.closing(sqlite3.connect(journal.path)) as db:
        return db.execute("SELECT state, attempts FROM deliveries ORDER BY id").fetchall()


async def test_a_first_try_delivers_the_event_and_its_reply_before_publish_returns_and_journals_nothing(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    first, second = Handler(event("test.reply", answer=42)), Handler()
    broker = chain_broker(tmp_path, first, second, journal=journal)
    await InProcessPublisher(broker).publish(event(n=1))
    # Before publish returned (the webhook's ack): both handlers had it, and nothing was written.
    assert [e.get_data() for e in first.seen] == [{"n": 1}] and [e.get_data() for e in second.seen] == [{"answer": 42}]
    assert rows(journal) == []
    assert {k: broker.stats[k] for k in ("accepted", "delivered", "replies", "retried")} == {
        "accepted": 2, "delivered": 2, "replies": 1, "retried": 0}
    assert broker.in_flight == 0
    await broker.close(1)
    journal.close()


async def test_a_failed_first_try_is_journalled_with_its_attempt_and_retried_by_the_workers(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    first = Handler(503, 0.3)  # refuses, then takes 0.3 s to take it: time to look at the journal
    broker = chain_broker(tmp_path, first, Handler(), journal=journal)
    await InProcessPublisher(broker).publish(event())
    assert len(first.seen) == 1 and rows(journal) == [(0, 1)]  # pending, its first attempt spent
    await settle(broker)
    assert len(first.seen) == 2 and broker.stats["retried"] == 1 and broker.stats["delivered"] == 1
    await broker.close(1)
    assert all(state != 0 for state, _ in rows(journal))  # delivered: nothing left to resume
    journal.close()


async def test_a_final_answer_on_the_first_try_is_dead_lettered_before_publish_returns(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    first = Handler(400)
    broker = chain_broker(tmp_path, first, Handler(), journal=journal)
    await InProcessPublisher(broker).publish(event())
    assert "answered 400" in (tmp_path / "dl.jsonl").read_text()
    assert len(first.seen) == 1 and broker.stats["dead_lettered"] == 1 and rows(journal) == []
    await broker.close(1)
    journal.close()


async def test_a_reply_whose_first_try_fails_is_journalled_and_the_event_that_made_it_is_done(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    first, second = Handler(event("test.reply")), Handler(503, 0.3)
    broker = chain_broker(tmp_path, first, second, journal=journal)
    await InProcessPublisher(broker).publish(event())
    assert rows(journal) == [(0, 1)]  # only the reply, pending: the event was delivered
    await settle(broker)
    assert len(first.seen) == 1 and len(second.seen) == 2
    await broker.close(1)
    journal.close()


async def test_the_first_tries_of_one_sender_share_a_time_budget(tmp_path, monkeypatch):
    """GitHub waits 10 s for a webhook's answer: the event's and its replies' first tries get
    FIRST_TRY_S together; what outlasts it is cut off (a 504) and goes to the workers."""
    from tekton_dag.bus import broker as broker_module

    monkeypatch.setattr(broker_module, "FIRST_TRY_S", 0.4)
    journal = Journal(tmp_path / "journal.sqlite3")
    first, second = Handler(event("test.reply")), Handler(0.3, 202)  # each alone within 0.4 s
    first.handle = _slow(first.handle, 0.25)  # type: ignore[method-assign]
    broker = chain_broker(tmp_path, first, second, journal=journal)
    loop = asyncio.get_running_loop()
    began = loop.time()
    await InProcessPublisher(broker).publish(event())
    took = loop.time() - began
    assert 0.35 <= took < 0.6, took  # the reply's try was cut at the budget's end, not its own 2 s
    assert len(second.seen) == 1 and rows(journal) == [(0, 1)]
    await settle(broker)
    assert len(second.seen) == 2 and broker.stats["delivered"] == 2
    await broker.close(1)
    journal.close()


def _slow(handle: Any, seconds: float) -> Any:
    async def slowly(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await asyncio.sleep(seconds)
        await handle(scope, receive, send)

    return slowly


async def test_only_the_subscribers_named_are_tried_in_the_senders_task(tmp_path):
    """The all-in-one names the resolver and run-creator; status-reporter (GitHub's pacing) and
    bootstrap-batcher (registries) keep the journal-first path, so no ack waits on them."""
    journal = Journal(tmp_path / "journal.sqlite3")
    first, second = Handler(event("test.reply")), Handler(0.3)
    broker = chain_broker(tmp_path, first, second, journal=journal, here=("first",))
    await InProcessPublisher(broker).publish(event())
    assert len(first.seen) == 1 and rows(journal) == [(0, 0)]  # the reply: journalled, not tried yet
    await settle(broker)
    assert len(second.seen) == 1
    await broker.close(1)
    journal.close()


def test_the_all_in_one_tries_only_the_resolver_and_run_creator_in_the_webhooks_task():
    from tekton_dag.functions import all_in_one
    from tekton_dag.functions.serving import FUNCTIONS

    assert {all_in_one.internal_url(n) for n in ("resolver", "run-creator")} == all_in_one.FIRST_TRY_HERE
    assert {all_in_one.internal_url(n) for n in FUNCTIONS} >= all_in_one.FIRST_TRY_HERE


async def test_after_a_first_try_that_may_be_retried_its_subscriber_goes_journal_first_until_it_delivers(tmp_path):
    """An API outage must cost one ack the first-try budget, not every ack: after a retryable
    failure, the subscriber's next events are journalled at once (publish returns before the
    handler is called), until one of its deliveries succeeds again."""
    journal = Journal(tmp_path / "journal.sqlite3")
    first = Handler(503, 0.3, 0.3, 202)  # refuses; then each try takes 0.3 s
    broker = chain_broker(tmp_path, first, Handler(), journal=journal)
    publisher = InProcessPublisher(broker)
    await publisher.publish(event())
    assert len(first.seen) == 1 and rows(journal) == [(0, 1)]
    loop = asyncio.get_running_loop()
    began = loop.time()
    await publisher.publish(event(n=2))  # paused: journalled, not tried in this task
    assert loop.time() - began < 0.25 and rows(journal) == [(0, 1), (0, 0)]
    await settle(broker)  # the workers deliver both; a success ends the pause
    assert broker.stats["delivered"] == 2
    await publisher.publish(event(n=3))  # tried here again: delivered before publish returns
    assert len(first.seen) == 4 and broker.stats["delivered"] == 3 and len(rows(journal)) == 2
    await broker.close(1)
    journal.close()
