"""CPU the metrics add to one webhook's way through the chain, measured call by call.

What one pull_request webhook that creates a run executes because of the metrics (the same code
the functions run, not a copy): webhook-ingest counts the answer and formats the
``tektondagreceived`` stamp (one more attribute of the event it makes anyway), the publisher counts
it; the local Broker counts 3
accepted events and 3 deliveries; the resolver copies the stamp into run.requested; run-creator
counts the outcome and observes the latency. The stamp also travels as one more HTTP header on 4
encode/decode hops (ingest → Broker → resolver, resolver → Broker → run-creator). Scrapes cost
nothing per webhook and are not counted. Budget: 0.1 ms CPU per webhook.

    .venv/bin/python bench/metrics_overhead.py [--rounds 5] [--iterations 20000]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

from cloudevents.core.bindings.http import to_binary_event

from tekton_dag.config.loading import load_config
from tekton_dag.eventing.wire import decode_event, with_extensions
from tekton_dag.events import catalog, codec
from tekton_dag.functions import run_creator, webhook_ingest
from tekton_dag.observability import metrics
from tekton_dag.pipelineruns.creating import Outcome, RunCreator

ROOT = Path(__file__).resolve().parents[1]
BUDGET_MS = 0.1


def per_call_ms(work: Callable[[], object], iterations: int) -> float:
    start = time.process_time()
    for _ in range(iterations):
        work()
    return (time.process_time() - start) * 1000 / iterations


def main(rounds: int, iterations: int) -> None:
    config = load_config(ROOT / "teams").config
    assert config is not None, "teams/ does not load"
    creator = run_creator.new()
    creator.creator = RunCreator(lambda: config, store=None)  # type: ignore[arg-type]
    team = config.teams[0].name
    outcome = Outcome("created", SimpleNamespace(team=team), "run-1", "ns")  # type: ignore[arg-type]
    event = codec.build(
        catalog.GITHUB_PULL_REQUEST,
        catalog.SOURCE_WEBHOOK_INGEST,
        "d-1",
        {"repo": "a/b", "n": 1},
        subject="a/b",
        extensions={catalog.EXT_GITHUB_DELIVERY: "d-1"},
    )
    stamped = with_extensions(event, **{catalog.EXT_RECEIVED: webhook_ingest._rfc3339(time.time())})
    accepted = {"status": "accepted", "delivery": "d-1"}

    def ingest() -> None:
        name = metrics.event_label("pull_request")
        webhook_ingest._rfc3339(time.time())
        metrics.EVENTS_PUBLISHED.labels(catalog.GITHUB_PULL_REQUEST, "ok").inc()
        webhook_ingest._count_webhook(name, 202, accepted)

    def broker() -> None:
        for trigger in ("resolver-github-pull-request", "run-creator-run-requested", "x"):
            metrics.BROKER_ACCEPTED.inc()
            metrics.BROKER_DELIVERED.labels(trigger).inc()

    def resolver() -> None:
        codec.extension(stamped, catalog.EXT_RECEIVED)

    def run_creator_() -> None:
        creator._observe(outcome, codec.extension(stamped, catalog.EXT_RECEIVED))

    def wire(with_stamp: bool) -> Callable[[], object]:
        sent = stamped if with_stamp else event

        def hop() -> object:
            message = to_binary_event(sent)
            return decode_event(dict(message.headers), message.body)

        return hop

    parts = {"webhook-ingest": ingest, "Broker (3 events)": broker, "resolver": resolver, "run-creator": run_creator_}
    totals = []
    for round_ in range(rounds):
        costs = {name: per_call_ms(work, iterations) for name, work in parts.items()}
        header = 4 * max(0.0, per_call_ms(wire(True), iterations // 4) - per_call_ms(wire(False), iterations // 4))
        total = sum(costs.values()) + header
        totals.append(total)
        print(
            f"round {round_ + 1}: "
            + "  ".join(f"{n} {v * 1000:.1f} µs" for n, v in costs.items())
            + f"  header on 4 hops {header * 1000:.1f} µs  → {total * 1000:.1f} µs per webhook",
            flush=True,
        )
    print(
        f"per webhook: median {statistics.median(totals) * 1000:.1f} µs, range {min(totals) * 1000:.1f}-"
        f"{max(totals) * 1000:.1f} µs (budget {BUDGET_MS * 1000:.0f} µs): "
        f"{'met' if statistics.median(totals) <= BUDGET_MS else 'MISSED'}"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=20000)
    args = parser.parse_args()
    main(args.rounds, args.iterations)
