"""Group commit of the admission ledger: changes arriving while a write is in flight share the
next write, and admission, queue order and supersede stay what one write per change gave, also
with two replicas (real ``kubernetes`` client, fake API server)."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import Any

from runcreator.conftest import FAST, NAMESPACE, pr_request
from runcreator.test_admission import HeldLedgerWrites, creator
from tekton_dag.config.models import Config
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import read_ledger


def lease_writes(api: FakeKubeApi, since: int = 0) -> list[int]:
    return [status for method, path, status in api.requests[since:] if method in ("PUT", "POST") and "leases" in path]


class Held(HeldLedgerWrites):
    """Also counts the creates whose answer run-creator has: from then on, without waiting for
    anything else, its request hands its change to the ledger."""

    def __init__(self) -> None:
        super().__init__()
        self.created = 0

    async def create_run(self, run: dict[str, Any]) -> bool:
        created = await super().create_run(run)
        self.created += 1
        return created


async def runs_created(store: Held, count: int) -> None:
    while store.created < count:
        await asyncio.sleep(0.01)


async def one_write_in_flight(kube_api: FakeKubeApi, config: Config) -> tuple[Held, Any, int, asyncio.Task[Any]]:
    """A run-creator whose team holds one run (p1) and whose ledger write for p2 is in flight and
    held; returns the store, the run-creator, the API's request count before p2, and p2's task."""
    store = Held()
    store.go.set()
    rc = creator(config, store)
    await rc.request(pr_request(number=1, delivery="p1"))
    store.go.clear()
    store.writing.clear()
    before = len(kube_api.requests)
    pending = asyncio.create_task(rc.request(pr_request(number=2, delivery="p2")))
    await store.writing.wait()  # p2's write is in flight
    return store, rc, before, pending


async def test_requests_arriving_during_a_ledger_write_share_the_next_one(
    kube_api: FakeKubeApi, config: Config
) -> None:
    store, rc, before, first = await one_write_in_flight(kube_api, config)
    rest = [asyncio.create_task(rc.request(pr_request(number=n, delivery=f"p{n}"))) for n in range(3, 8)]
    await runs_created(store, 7)  # every one waits for the ledger now
    store.go.set()
    outcomes = [await first, *[await task for task in rest]]
    # p2 took the second slot; of the five, the first to reach the ledger took the last one.
    assert outcomes[0].kind == "created" and sorted(o.kind for o in outcomes[1:]) == ["created"] + ["queued"] * 4
    assert lease_writes(kube_api, before) == [200, 200]  # p2's, then one for the five
    ledger = (await read_ledger(store, config.team("default")))[0]
    # Each learns its own place: the order in which the changes reached the ledger.
    queued = [o for o in outcomes if o.kind == "queued"]
    assert sorted(ledger.queue()) == sorted(o.name for o in queued)
    assert [ledger.queue()[o.position - 1] for o in queued] == [o.name for o in queued]
    assert sorted(kube_api.running(NAMESPACE)) == sorted([*ledger.admitted()])
    store.close()


async def test_a_newer_head_in_the_same_write_supersedes_the_older_before_it_ever_starts(
    kube_api: FakeKubeApi, config: Config
) -> None:
    store, rc, before, holder = await one_write_in_flight(kube_api, config)
    older = asyncio.create_task(rc.request(pr_request(number=9, sha="a" * 40, delivery="h1")))
    await runs_created(store, 3)
    newer = asyncio.create_task(rc.request(pr_request(number=9, sha="b" * 40, delivery="h2")))
    await runs_created(store, 4)
    store.go.set()
    await holder
    old, new = await older, await newer
    assert new.kind == "created" and new.superseded == (old.name,)
    assert kube_api.get("pipelineruns", NAMESPACE, old.name)["spec"]["status"] == "Cancelled"
    assert f"{NAMESPACE}/{old.name}" not in kube_api.start_order
    assert f"{NAMESPACE}/{new.name}" in kube_api.start_order
    assert lease_writes(kube_api, before) == [200, 200]
    ledger = (await read_ledger(store, config.team("default")))[0]
    assert not ledger.has(old.name) and ledger.is_admitted(new.name)
    assert ledger.is_stale_head("stack-one/demo-fe/9", "a" * 40)
    store.close()


async def test_two_replicas_writing_in_batches_admit_exactly_the_limit(
    kube_api: FakeKubeApi, config: Config
) -> None:
    """120 requests at once on two replicas whose ledger writes are slow enough to batch: the
    writes conflict across replicas (409, re-read, the whole batch applied again), yet exactly
    the limit is admitted, every other run waits in the ledger in one order, and far fewer
    writes than requests were made."""
    kube_api.delay(0.03, times=10_000, methods=("PUT", "POST"), plural="leases")
    stores = [KubernetesStore(policy=replace(FAST, deadline=10.0, timeout=2.0)) for _ in range(2)]
    replicas = [creator(config, s) for s in stores]
    requests = [pr_request(number=n, delivery=f"p{n}") for n in range(1, 121)]
    outcomes = await asyncio.gather(*(replicas[n % 2].request(r) for n, r in enumerate(requests)))
    assert [o.kind for o in outcomes].count("created") == 3
    assert [o.kind for o in outcomes].count("queued") == 117
    assert kube_api.max_running[NAMESPACE] == 3 and len(kube_api.pending()) == 117
    ledger = (await read_ledger(stores[0], config.team("default")))[0]
    assert sorted(ledger.queue()) == sorted(kube_api.pending())
    assert sorted(o.position for o in outcomes if o.kind == "queued") == list(range(1, 118))
    writes = lease_writes(kube_api)
    assert writes.count(409) > 0, "the replicas' batches never conflicted: the test proves nothing"
    assert len(writes) < 60, writes
    for s in stores:
        s.close()
