"""Idempotent creation, retries, permanent failures and per-team admission, through the real
``kubernetes`` client against the fake API server."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import datetime

import pytest

from runcreator.conftest import FAST, NAMESPACE, bootstrap_request, merge_request, pr_request
from tekton_dag.config.models import Config
from tekton_dag.kube.errors import TransientApiError
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.pipelineruns.ledgers import HEADS_IN_HEAD, Ledger
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import RunCreator, ledger_name, read_ledger


def creator(config: Config, store: KubernetesStore, **kwargs) -> RunCreator:
    return RunCreator(lambda: config, store, **kwargs)


async def test_the_same_request_three_times_makes_one_run(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = creator(config, store)
    outcomes = [await rc.request(pr_request()) for _ in range(3)]
    assert {o.kind for o in outcomes} == {"created"} and len({o.name for o in outcomes}) == 1
    assert len(kube_api.objects("pipelineruns")) == 1
    assert sum(1 for m, p, s in kube_api.requests if m == "POST" and "pipelineruns" in p and s == 409) == 2


async def test_transient_api_errors_are_retried_until_success(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    kube_api.fail(503, times=2, methods=("POST",), plural="pipelineruns")
    kube_api.fail(429, times=1, methods=("POST",), plural="pipelineruns", retry_after=0)
    outcome = await creator(config, store).request(pr_request())
    assert outcome.kind == "created"
    assert [s for m, p, s in kube_api.requests if m == "POST" and "pipelineruns" in p] == [503, 503, 429, 201]


async def test_an_api_that_stays_down_raises_transient_and_frees_the_slot(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    kube_api.fail(500, times=1000, methods=("POST",), plural="pipelineruns")
    with pytest.raises(TransientApiError, match="gave up after"):
        await creator(config, store).request(pr_request())
    kube_api.clear_faults()
    text, _ = await store.read_ledger(NAMESPACE, ledger_name(config.team("default")))
    assert Ledger.loads(text).admitted() == []  # looked (404), so the slot is not leaked


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        (lambda api: api.missing_namespaces.add(NAMESPACE), 'namespaces "tekton-dag-default" not found'),
        (lambda api: api.forbidden_namespaces.add(NAMESPACE), "is forbidden"),
    ],
    ids=["namespace missing (404)", "forbidden (403)"],
)
async def test_permanent_api_errors_fail_the_run_with_the_api_message(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore, setup, message: str
) -> None:
    setup(kube_api)
    outcome = await creator(config, store).request(pr_request())
    assert outcome.kind == "failed" and message in outcome.reason
    assert [s for m, p, s in kube_api.requests if "pipelineruns" in p and m == "POST"] in ([], [404], [403])


async def test_an_invalid_pipelinerun_is_a_permanent_failure_and_releases_its_slot(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    team = config.team("default")
    bad = replace(
        config, teams=(replace(team, pipeline_runs=replace(team.pipeline_runs, timeout_pipeline="one hour")),)
    )
    rc = creator(bad, store)
    outcome = await rc.request(pr_request())
    assert outcome.kind == "failed" and "timeouts" in outcome.reason  # 422 from the Tekton schema
    text, _ = await store.read_ledger(NAMESPACE, ledger_name(team))
    assert Ledger.loads(text).entries == {}  # a failed start never counts against the limit


async def test_over_the_limit_runs_wait_pending_and_start_in_priority_then_fifo_order(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = creator(config, store)
    first = [await rc.request(pr_request(number=n, delivery=f"p{n}")) for n in (1, 2, 3)]
    later = [
        bootstrap_request("b1"), pr_request(number=4, delivery="p4"), merge_request("m1"),
        pr_request(number=5, delivery="p5"), merge_request("m2", sha="c" * 40), bootstrap_request("b2"),
    ]
    outcomes = [await rc.request(r) for r in later]
    assert [o.kind for o in first] == ["created"] * 3 and [o.kind for o in outcomes] == ["queued"] * 6
    assert sorted(kube_api.pending()) == sorted(o.name for o in outcomes)
    order = []
    while kube_api.running(NAMESPACE):
        name = kube_api.running(NAMESPACE)[0]
        kube_api.finish(NAMESPACE, name)
        order += await rc.finished(NAMESPACE, name, "default")
    expected = [outcomes[i].name for i in (2, 4, 1, 3, 0, 5)]  # merges, then PRs, then bootstraps; FIFO within
    assert order == expected
    assert kube_api.max_running[NAMESPACE] == 3


async def test_a_lost_finished_event_is_repaired_by_the_reconcile(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = creator(config, store)
    names = [(await rc.request(pr_request(number=n, delivery=f"p{n}"))).name for n in range(1, 5)]
    kube_api.finish(NAMESPACE, names[0])  # ...and its CloudEvent never arrives
    assert kube_api.pending() == [names[3]]
    assert await rc.reconcile(config.team("default")) == [names[3]]
    assert kube_api.pending() == [] and kube_api.max_running[NAMESPACE] == 3


async def test_a_ledger_write_with_an_unknown_outcome_is_reread_not_assumed(
    kube_api: FakeKubeApi, config: Config
) -> None:
    store = KubernetesStore(policy=replace(FAST, timeout=0.2))
    rc = creator(config, store)
    await rc.request(pr_request(number=1, delivery="p1"))
    kube_api.delay(0.5, times=1, methods=("PUT",), plural="leases")  # lands, but the answer is lost
    outcome = await rc.request(pr_request(number=2, delivery="p2"))
    assert outcome.kind == "created"
    text, _ = await store.read_ledger(NAMESPACE, ledger_name(config.team("default")))
    assert sorted(Ledger.loads(text).admitted()) == sorted([r["metadata"]["name"] for r in kube_api.objects()])
    store.close()


async def test_a_superseding_write_whose_answer_is_lost_still_cancels_and_starts(
    kube_api: FakeKubeApi, config: Config
) -> None:
    """The write lands, its answer is lost, the retry gets 409 and the re-read finds our own write:
    what that write decided (cancel the older head, start the new one) must still be done, or the
    older run keeps its slot beside the new one: four running against a limit of three."""
    store = KubernetesStore(policy=replace(FAST, timeout=0.2))
    rc = creator(config, store)
    assert config.team("default").max_concurrent_runs == 3
    for number in (1, 2):
        await rc.request(pr_request(number=number, delivery=f"p{number}"))
    old = await rc.request(pr_request(number=7, sha="a" * 40, delivery="a"))
    assert kube_api.running(NAMESPACE) and len(kube_api.running(NAMESPACE)) == 3
    kube_api.delay(0.5, times=1, methods=("PUT",), plural="leases")  # lands, but the answer is lost
    new = await rc.request(pr_request(number=7, sha="b" * 40, delivery="b"))
    assert new.superseded == (old.name,)
    assert new.name in kube_api.running(NAMESPACE) and old.name not in kube_api.running(NAMESPACE)
    assert kube_api.max_running[NAMESPACE] == 3
    store.close()


async def test_an_orphaned_ledger_entry_is_released_after_the_grace_period(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    team = config.team("default")
    clock = [1000.0]
    rc = creator(config, store, clock=lambda: clock[0], orphan_grace=60)
    ghost = Ledger().request("ghost-run", 1, 3, now=1000.0)  # a replica died between ledger and create
    await store.write_ledger(NAMESPACE, ledger_name(team), ghost.dumps(), None)
    await rc.reconcile(team)
    assert "ghost-run" in Ledger.loads((await store.read_ledger(NAMESPACE, ledger_name(team)))[0]).entries
    clock[0] += 61
    await rc.reconcile(team)
    assert Ledger.loads((await store.read_ledger(NAMESPACE, ledger_name(team)))[0]).entries == {}


async def test_a_storm_with_two_replicas_never_exceeds_the_limit(kube_api: FakeKubeApi, config: Config) -> None:
    """200 requests at once, limit 3, two run-creators with their own clients against one API;
    then runs finish (several at once, events to either replica, reconciles in between)."""
    team = config.team("default")
    stores = [KubernetesStore(policy=replace(FAST, deadline=5.0)) for _ in range(2)]
    replicas = [creator(config, s) for s in stores]
    makers = [lambda i: pr_request(number=i + 1, delivery=f"p{i}"), lambda i: merge_request(f"m{i}", sha=f"{i:040x}"),
              lambda i: bootstrap_request(f"b{i}")]
    requests = [makers[i % 3](i) for i in range(200)]
    outcomes = await asyncio.gather(*(replicas[i % 2].request(r) for i, r in enumerate(requests)))
    assert [o.kind for o in outcomes].count("created") == 3, [o.reason for o in outcomes if o.kind == "failed"]
    assert len(kube_api.objects()) == 200 and len(kube_api.pending()) == 197
    # The order in which the ledger serialised the concurrent requests is their arrival order.
    queue = (await read_ledger(stores[0], team))[0].queue()  # the head and its queue segments
    assert sorted(queue) == sorted(kube_api.pending())
    rng = random.Random(4)
    started_by_round: list[list[str]] = []
    while kube_api.running(NAMESPACE):
        before = len(kube_api.start_order)
        finishing = kube_api.running(NAMESPACE)[: rng.randint(1, 3)]
        for name in finishing:
            kube_api.finish(NAMESPACE, name)
        events = [replicas[rng.randint(0, 1)].finished(NAMESPACE, n, "default") for n in finishing]
        reconciling = [replicas[rng.randint(0, 1)].reconcile(team)] if len(started_by_round) % 10 == 9 else []
        await asyncio.gather(*events, *reconciling)
        # Runs started in the same round may reach the API in any order; rounds may not.
        started_by_round.append(sorted((s.split("/")[1] for s in kube_api.start_order[before:]), key=queue.index))
    assert kube_api.max_running[NAMESPACE] == 3
    assert kube_api.pending() == [] and len(kube_api.start_order) == 200
    # Priority (merge-release, pr-test, bootstrap), then first in, first out.
    assert [name for round_ in started_by_round for name in round_] == queue
    priority = {r["metadata"]["name"]: r["metadata"]["labels"]["tekton-dag.dev/priority"] for r in kube_api.objects()}
    assert [priority[name] for name in queue] == sorted(priority[name] for name in queue)
    # The 197 waiting runs went through queue segments (under 409s); drained, their Leases are gone.
    # What stays: the head, and the heads segments it lists (67 pull requests' heads, remembered).
    ledger = (await read_ledger(stores[0], team))[0]
    listed = [f"{ledger_name(team)}-{s.chunk.name}" for s in ledger.head_segments]
    assert len(listed) == 67 // (HEADS_IN_HEAD + 1) and len(ledger.remembered()) == 67
    leases = sorted(lease["metadata"]["name"] for lease in kube_api.objects("leases"))
    assert leases == sorted([ledger_name(team), *listed])
    for s in stores:
        s.close()


async def test_a_create_with_an_unknown_outcome_is_retried_into_409_and_counted_once(
    kube_api: FakeKubeApi, config: Config
) -> None:
    store = KubernetesStore(policy=replace(FAST, timeout=0.2))
    kube_api.delay(0.5, times=1, methods=("POST",), plural="pipelineruns")  # created, but the answer is lost
    outcome = await creator(config, store).request(pr_request())
    assert outcome.kind == "created" and [r["metadata"]["name"] for r in kube_api.objects()] == [outcome.name]
    assert [s for m, p, s in kube_api.requests if m == "POST" and "pipelineruns" in p] == [201, 409]
    text, _ = await store.read_ledger(NAMESPACE, ledger_name(config.team("default")))
    assert Ledger.loads(text).admitted() == [outcome.name]
    store.close()


async def test_a_start_patch_with_an_unknown_outcome_still_starts_the_next_run(
    kube_api: FakeKubeApi, config: Config
) -> None:
    store = KubernetesStore(policy=replace(FAST, timeout=0.2))
    rc = creator(config, store)
    names = [(await rc.request(pr_request(number=n, delivery=f"p{n}"))).name for n in range(1, 5)]
    kube_api.finish(NAMESPACE, names[0])
    kube_api.delay(0.5, times=1, methods=("PATCH",), plural="pipelineruns")
    assert await rc.finished(NAMESPACE, names[0], "default") == [names[3]]
    assert kube_api.pending() == [] and kube_api.max_running[NAMESPACE] == 3
    store.close()


def calls(api: FakeKubeApi, since: int) -> list[tuple[str, str]]:
    return [(m, "leases" if "leases" in p else "pipelineruns") for m, p, _ in api.requests[since:]]


async def test_a_queued_request_costs_two_api_calls_and_an_admitted_one_three(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = creator(config, store)
    await rc.request(pr_request(number=1, delivery="p1"))  # the first ledger write creates the Lease
    before = len(kube_api.requests)
    assert (await rc.request(pr_request(number=2, delivery="p2"))).kind == "created"
    assert calls(kube_api, before) == [("POST", "pipelineruns"), ("PUT", "leases"), ("PATCH", "pipelineruns")]
    await rc.request(pr_request(number=3, delivery="p3"))
    before = len(kube_api.requests)
    assert (await rc.request(pr_request(number=4, delivery="p4"))).kind == "queued"
    assert calls(kube_api, before) == [("POST", "pipelineruns"), ("PUT", "leases")]


async def test_a_run_whose_ledger_write_is_refused_is_cancelled_not_left_waiting(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    kube_api.fail(403, times=1, methods=("POST",), plural="leases")
    outcome = await creator(config, store).request(pr_request())
    assert outcome.kind == "failed"
    run = kube_api.get("pipelineruns", NAMESPACE, outcome.name)
    assert run["spec"]["status"] == "Cancelled" and kube_api.start_order == []


async def test_the_reconcile_adopts_runs_created_but_never_recorded(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    """A creator that died between creating a run and recording it: after the grace period the
    reconcile records it as what it is (running: holds a slot; pending: waits in the queue)."""
    team = config.team("default")
    clock = [0.0]
    rc = creator(config, store, clock=lambda: clock[0], orphan_grace=60)
    builder = creator(config, store)  # records into its own view, then we drop its entries
    names = [(await builder.request(pr_request(number=n, delivery=f"p{n}"))).name for n in range(1, 5)]
    await store.write_ledger(
        NAMESPACE, ledger_name(team), Ledger().dumps(), (await store.read_ledger(NAMESPACE, ledger_name(team)))[1]
    )
    created = max(datetime.fromisoformat(r["metadata"]["creationTimestamp"].replace("Z", "+00:00")).timestamp()
                  for r in kube_api.objects())
    clock[0] = created + 1
    assert await rc.reconcile(team) == []
    assert Ledger.loads((await store.read_ledger(NAMESPACE, ledger_name(team)))[0]).entries == {}  # too young
    clock[0] = created + 62
    assert await rc.reconcile(team) == []  # three run and hold the slots; the pending one waits
    ledger = Ledger.loads((await store.read_ledger(NAMESPACE, ledger_name(team)))[0])
    assert sorted(ledger.admitted()) == sorted(names[:3]) and ledger.queue() == [names[3]]
    kube_api.finish(NAMESPACE, names[0])
    assert await rc.finished(NAMESPACE, names[0], "default") == [names[3]]
    assert kube_api.pending() == [] and kube_api.max_running[NAMESPACE] == 3


class CancelsFailing(KubernetesStore):
    """A store whose PipelineRun cancels fail while ``failing`` is set (the API down, the retries spent)."""

    def __init__(self) -> None:
        super().__init__(policy=FAST)
        self.failing = False

    async def cancel_run(self, namespace: str, name: str) -> bool:
        if self.failing:
            raise TransientApiError(f"cancel PipelineRun {namespace}/{name}: the API is down")
        return await super().cancel_run(namespace, name)


async def test_the_reconcile_cancels_a_superseded_run_whose_cancel_was_lost_instead_of_adopting_it(
    kube_api: FakeKubeApi, config: Config
) -> None:
    """The superseding write released the older head's run, then its cancel failed: the run is
    still waiting in the cluster and in no ledger entry. After the grace period the reconcile
    must cancel it (the ledger knows its head is superseded), never queue it to start later."""
    store = CancelsFailing()
    team = config.team("default")
    clock = [0.0]
    rc = creator(config, store, clock=lambda: clock[0], orphan_grace=60)
    running = [(await rc.request(pr_request(number=n, delivery=f"p{n}"))).name for n in range(1, 4)]
    older = await rc.request(pr_request(number=7, sha="a" * 40, delivery="a"))
    assert older.kind == "queued"
    store.failing = True
    with pytest.raises(TransientApiError):
        await rc.request(pr_request(number=7, sha="b" * 40, delivery="b"))
    store.failing = False
    created = max(datetime.fromisoformat(r["metadata"]["creationTimestamp"].replace("Z", "+00:00")).timestamp()
                  for r in kube_api.objects())
    clock[0] = created + 62
    await rc.reconcile(team)
    assert older.name not in Ledger.loads((await store.read_ledger(NAMESPACE, ledger_name(team)))[0]).entries
    assert kube_api.get("pipelineruns", NAMESPACE, older.name)["spec"]["status"] == "Cancelled"
    for name in running:
        kube_api.finish(NAMESPACE, name)
        await rc.finished(NAMESPACE, name, "default")
    assert f"{NAMESPACE}/{older.name}" not in kube_api.start_order
    store.close()


class HeldLedgerWrites(KubernetesStore):
    """Holds each ledger write until ``go`` is set: an update stays in flight as long as a test likes."""

    def __init__(self) -> None:
        super().__init__(policy=FAST)
        self.writing, self.go = asyncio.Event(), asyncio.Event()

    async def write_ledger(self, namespace: str, name: str, text: str, version: str | None) -> str:
        self.writing.set()
        await self.go.wait()
        return await super().write_ledger(namespace, name, text, version)


async def test_a_request_arriving_during_a_ledger_update_neither_reads_the_ledger_nor_conflicts(
    kube_api: FakeKubeApi, config: Config
) -> None:
    """Under load most requests arrive while another's ledger update is in flight. The supersede
    check must use this replica's copy then, not read the ledger again: such reads (and the
    409s of updates that started from a copy they put back) doubled run-creator's CPU per request
    and built the chain's latency tail (docs/local-dev.md, Performance)."""
    store = HeldLedgerWrites()
    store.go.set()
    rc = creator(config, store)
    await rc.request(pr_request(number=1, delivery="p1"))  # this replica knows the ledger now
    store.go.clear()
    store.writing.clear()
    before = len(kube_api.requests)
    first = asyncio.create_task(rc.request(pr_request(number=2, delivery="p2")))
    await store.writing.wait()  # first's ledger update is in flight
    second = asyncio.create_task(rc.request(pr_request(number=3, delivery="p3")))
    while sum(1 for m, p, _ in kube_api.requests[before:] if m == "POST" and "pipelineruns" in p) < 2:
        await asyncio.sleep(0.01)  # second has created its run: its supersede check is behind it
    store.go.set()
    assert [(await first).kind, (await second).kind] == ["created", "created"]
    leases = [(m, s) for m, p, s in kube_api.requests[before:] if "leases" in p]
    assert leases == [("PUT", 200), ("PUT", 200)]  # no read, no conflict
    store.close()
