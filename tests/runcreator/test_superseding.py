"""Supersede on a new head sha, cancel on a closed PR; merge-release runs are never cancelled."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace

import kubernetes
import pytest

from runcreator.conftest import FAST, NAMESPACE, merge_request, pr_request
from tekton_dag.config.models import Config
from tekton_dag.events.requests import CancelRequest, RunRequest
from tekton_dag.kube.errors import TransientApiError
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.pipelineruns.ledgers import HEADS_IN_HEAD, Ledger
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import RunCreator, ledger_name

# A run that waited is Cancelled (it ran nothing); a started one CancelledRunFinally (its finally cleans up).
STOPPED = ("Cancelled", "CancelledRunFinally")


def status_of(api: FakeKubeApi, name: str) -> str | None:
    return api.get("pipelineruns", NAMESPACE, name)["spec"].get("status")


async def test_a_new_head_sha_cancels_the_older_runs_of_that_pr_only(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = RunCreator(lambda: config, store)
    old = await rc.request(pr_request(sha="1" * 40, delivery="d1"))
    other_app = await rc.request(pr_request(sha="1" * 40, app="demo-api", delivery="d2"))
    other_pr = await rc.request(pr_request(number=7, sha="1" * 40, delivery="d3"))
    queued_old = await rc.request(pr_request(sha="2" * 40, delivery="d4"))  # supersedes `old`, takes its slot
    assert queued_old.superseded == (old.name,) and queued_old.kind == "created"
    new = await rc.request(pr_request(sha="3" * 40, delivery="d5"))
    assert new.superseded == (queued_old.name,)
    assert status_of(kube_api, old.name) == status_of(kube_api, queued_old.name) == "CancelledRunFinally"
    assert status_of(kube_api, other_app.name) is None and status_of(kube_api, other_pr.name) is None
    assert status_of(kube_api, new.name) is None and kube_api.max_running[NAMESPACE] == 3


async def test_a_redelivered_request_does_not_cancel_its_own_run(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = RunCreator(lambda: config, store)
    first = await rc.request(pr_request())
    again = await rc.request(pr_request(delivery="redelivered"))
    assert again.name == first.name and again.superseded == () and status_of(kube_api, first.name) is None


async def test_a_redelivery_cancels_the_older_head_its_first_delivery_failed_to_cancel(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    """The first delivery of a new head released the older head's slot, then its cancel failed
    (503: the Broker redelivers). The redelivery finds its run recorded; it must still cancel the
    older head before its own run starts, or the team runs one over its limit."""
    rc = RunCreator(lambda: config, store)
    for number in (1, 2):
        await rc.request(pr_request(number=number, delivery=f"other-{number}"))
    old = await rc.request(pr_request(number=7, sha="a" * 40, delivery="a"))
    newer = pr_request(number=7, sha="b" * 40, delivery="b")
    kube_api.fail(503, times=1000, methods=("PATCH",), plural="pipelineruns")
    with pytest.raises(TransientApiError):
        await rc.request(newer)
    kube_api.clear_faults()
    again = await rc.request(newer)
    assert again.superseded == (old.name,) and status_of(kube_api, old.name) == "CancelledRunFinally"
    assert old.name not in kube_api.running(NAMESPACE) and kube_api.max_running[NAMESPACE] == 3
    other_pr = await rc.request(pr_request(number=8, sha="c" * 40, delivery="c"))
    assert (await rc.request(pr_request(number=8, sha="c" * 40, delivery="c"))).superseded == ()  # nothing older
    assert status_of(kube_api, other_pr.name) == "PipelineRunPending"  # queued behind the limit, not cancelled


async def test_a_closed_pr_cancels_its_pending_and_running_runs_and_frees_the_slots(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = RunCreator(lambda: config, store)
    merge = await rc.request(merge_request())
    running = await rc.request(pr_request(number=5, delivery="d1"))
    running_other_app = await rc.request(pr_request(number=5, app="demo-api", delivery="d2"))
    waiting = await rc.request(pr_request(number=6, delivery="d3"))
    assert waiting.kind == "queued"
    cancelled = await rc.cancel(CancelRequest(team="default", stack="stack-one", app="demo-fe", pr_number=5,
                                              reason="closed", delivery="c1"))
    assert cancelled == (running.name,)
    assert status_of(kube_api, running.name) == "CancelledRunFinally"
    assert status_of(kube_api, waiting.name) is None  # started in the freed slot
    assert status_of(kube_api, merge.name) is None and status_of(kube_api, running_other_app.name) is None


async def test_merge_release_runs_are_never_cancelled(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = RunCreator(lambda: config, store)
    merge = await rc.request(merge_request())
    await rc.cancel(
        CancelRequest(team="default", stack="stack-one", app="demo-fe", pr_number=42, reason="closed", delivery="c")
    )
    await rc.request(pr_request(sha="9" * 40))
    assert status_of(kube_api, merge.name) is None


async def test_a_new_head_cancels_an_older_head_that_was_still_waiting(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    rc = RunCreator(lambda: config, store)
    for n in (1, 2, 3):
        await rc.request(pr_request(number=n, delivery=f"fill{n}"))
    waiting = await rc.request(pr_request(sha="1" * 40, delivery="d1"))
    newer = await rc.request(pr_request(sha="2" * 40, delivery="d2"))
    assert waiting.kind == newer.kind == "queued" and newer.superseded == (waiting.name,)
    assert status_of(kube_api, waiting.name) == "Cancelled" and status_of(kube_api, newer.name) == "PipelineRunPending"
    # The cancelled run no longer waits: the next free slot goes to the newer head.
    first = kube_api.running(NAMESPACE)[0]
    kube_api.finish(NAMESPACE, first)
    assert await rc.finished(NAMESPACE, first, "default") == [newer.name]


async def test_two_new_heads_at_once_on_two_replicas_leave_exactly_one_run(
    kube_api: FakeKubeApi, config: Config
) -> None:
    """Supersede is decided in the conditional ledger write, so concurrent heads of one PR on
    different replicas serialise there: whichever is recorded last cancels the other."""
    stores = [KubernetesStore(policy=replace(FAST, deadline=5.0)) for _ in range(2)]
    replicas = [RunCreator(lambda: config, s) for s in stores]
    for round_ in range(5):
        heads = [f"{round_}{i}".ljust(40, "0") for i in range(2)]
        outcomes = await asyncio.gather(
            *(
                replicas[i].request(pr_request(number=100 + round_, sha=heads[i], delivery=f"d{round_}{i}"))
                for i in range(2)
            )
        )
        alive = [o.name for o in outcomes if status_of(kube_api, o.name) not in STOPPED]
        assert len(alive) == 1, outcomes
        assert [o.superseded for o in outcomes if o.name in alive] == [
            tuple(o.name for o in outcomes if o.name not in alive)
        ]
    for s in stores:
        s.close()


async def test_a_new_head_whose_older_run_finished_unreported_is_still_created(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    """The older head's run is done but its finished event has not come yet, so the ledger still
    holds it: Tekton refuses to change a done run (400), and there is nothing to cancel."""
    rc = RunCreator(lambda: config, store)
    older = await rc.request(pr_request(sha="1" * 40, delivery="d1"))
    kube_api.finish(NAMESPACE, older.name)
    newer = await rc.request(pr_request(sha="2" * 40, delivery="d2"))
    assert newer.kind == "created" and newer.superseded == ()
    assert status_of(kube_api, older.name) is None and status_of(kube_api, newer.name) is None


class HeldStarts(KubernetesStore):
    """A replica whose starts wait until the test lets them go."""

    def __init__(self) -> None:
        super().__init__(policy=FAST)
        self.reached, self.go = asyncio.Event(), asyncio.Event()

    async def start_run(self, namespace: str, name: str) -> bool:
        self.reached.set()
        await self.go.wait()
        return await super().start_run(namespace, name)


async def test_a_replica_late_to_start_a_run_does_not_undo_a_newer_heads_cancel(
    kube_api: FakeKubeApi, config: Config
) -> None:
    """Replica 0 records head A and is about to start it; replica 1 records head B, which
    supersedes A, and cancels A. Replica 0's start, coming after, must not undo that cancel
    (the start is conditional on the run still waiting)."""
    held, other = HeldStarts(), KubernetesStore(policy=FAST)
    late, prompt = RunCreator(lambda: config, held), RunCreator(lambda: config, other)
    first = asyncio.create_task(late.request(pr_request(number=7, sha="1" * 40, delivery="a")))
    await asyncio.wait_for(held.reached.wait(), 5)
    newer = await prompt.request(pr_request(number=7, sha="2" * 40, delivery="b"))
    held.go.set()
    older = await first
    assert older.kind == newer.kind == "created" and newer.superseded == (older.name,)
    assert status_of(kube_api, older.name) == "Cancelled" and status_of(kube_api, newer.name) is None
    assert kube_api.running(NAMESPACE) == [newer.name]
    for store in (held, other):
        store.close()


# --- supersede remembers: the newest head wins whatever order the deliveries come in ---------

A, B = "a" * 40, "b" * 40


def head(sha: str, delivery: str, before: str = "") -> RunRequest:
    request = pr_request(sha=sha, delivery=delivery)
    assert request.pr is not None
    return replace(request, pr=replace(request.pr, before_sha=before))


def delete_run(api: FakeKubeApi, name: str) -> None:
    """Delete a PipelineRun through the real kubernetes client, as retention or a person would."""
    client = kubernetes.config.new_client_from_config(str(api.kubeconfig))
    try:
        kubernetes.client.CustomObjectsApi(client).delete_namespaced_custom_object(
            "tekton.dev", "v1", NAMESPACE, "pipelineruns", name)
    finally:
        client.close()


async def test_a_redelivered_old_head_whose_run_was_deleted_is_ignored_and_the_newest_keeps_running(
        kube_api: FakeKubeApi, config: Config, store: KubernetesStore) -> None:
    rc = RunCreator(lambda: config, store)
    old = await rc.request(head(A, "d-open"))
    new = await rc.request(head(B, "d-sync", before=A))
    assert new.superseded == (old.name,) and status_of(kube_api, old.name) == "CancelledRunFinally"
    delete_run(kube_api, old.name)
    again = await rc.request(head(A, "d-open"))  # GitHub's "Redeliver" of the opened delivery
    assert again.kind == "ignored" and again.reason.startswith(f"superseded: head {A[:12]}")
    assert kube_api.get("pipelineruns", NAMESPACE, old.name) is None, "the stale run must not come back"
    assert status_of(kube_api, new.name) is None, "the newest head's run keeps running"
    # Another replica, without a copy of the ledger, knows it too.
    other_store = KubernetesStore(policy=FAST)
    again = await RunCreator(lambda: config, other_store).request(head(A, "d-open"))
    other_store.close()
    assert again.kind == "ignored" and kube_api.get("pipelineruns", NAMESPACE, old.name) is None


async def test_a_replica_with_a_stale_copy_cancels_the_old_head_it_created_before_it_starts(
        kube_api: FakeKubeApi, config: Config, store: KubernetesStore) -> None:
    behind = RunCreator(lambda: config, store)
    old = await behind.request(head(A, "d-open"))  # this replica last saw A as the newest head
    other_store = KubernetesStore(policy=FAST)
    new = await RunCreator(lambda: config, other_store).request(head(B, "d-sync", before=A))
    other_store.close()
    delete_run(kube_api, old.name)
    again = await behind.request(head(A, "d-open"))
    assert again.kind == "ignored"
    assert status_of(kube_api, old.name) == "Cancelled" and old.name not in kube_api.running(NAMESPACE)
    assert status_of(kube_api, new.name) is None and kube_api.running(NAMESPACE) == [new.name]


async def test_an_old_head_delivered_after_the_synchronize_that_replaced_it_is_ignored(
        kube_api: FakeKubeApi, config: Config, store: KubernetesStore) -> None:
    rc = RunCreator(lambda: config, store)
    new = await rc.request(head(B, "d-sync", before=A))  # GitHub's order: before=A, after=B
    late = await rc.request(head(A, "d-open"))
    assert late.kind == "ignored" and [r["metadata"]["name"] for r in kube_api.objects()] == [new.name]
    assert status_of(kube_api, new.name) is None


async def test_a_push_back_to_an_earlier_head_is_a_new_head_and_wins(
        kube_api: FakeKubeApi, config: Config, store: KubernetesStore) -> None:
    rc = RunCreator(lambda: config, store)
    first = await rc.request(head(A, "d1"))
    second = await rc.request(head(B, "d2", before=A))
    delete_run(kube_api, first.name)
    back = await rc.request(head(A, "d3", before=B))  # force-push back to A: before is the newest head
    assert back.kind == "created" and back.superseded == (second.name,)
    assert status_of(kube_api, second.name) == "CancelledRunFinally" and status_of(kube_api, back.name) is None


async def test_a_push_back_reaching_a_replica_whose_copy_is_behind_is_not_ignored(
        kube_api: FakeKubeApi, config: Config, store: KubernetesStore) -> None:
    """R1 saw A then B; R2 saw C replace B; a push back to A (before=C) reaches R1. R1's copy says
    A was superseded and C is unknown to it: only the ledger can tell that A is the newest head
    now. Before, R1 answered "ignored" from its copy: the pull request's head got no run and C's
    kept going (likely with the all-in-one's two workers, each with its own copy)."""
    C = "c" * 40
    r1 = RunCreator(lambda: config, store)
    first = await r1.request(head(A, "d1"))
    await r1.request(head(B, "d2", before=A))
    other_store = KubernetesStore(policy=FAST)
    third = await RunCreator(lambda: config, other_store).request(head(C, "d3", before=B))
    other_store.close()
    delete_run(kube_api, first.name)
    back = await r1.request(head(A, "d4", before=C))
    assert back.kind == "created" and back.superseded == (third.name,)
    assert status_of(kube_api, third.name) == "CancelledRunFinally" and status_of(kube_api, back.name) is None


async def test_a_push_back_while_the_old_heads_cancelled_run_is_still_there_runs_again_and_wins(
        kube_api: FakeKubeApi, config: Config, store: KubernetesStore) -> None:
    """Run names come from the pull request and the head: pushing back to A found A's cancelled
    run under that name, called it "created" and did nothing; B kept running and A never ran.
    (The test above deletes A's run first, as retention would.)"""
    rc = RunCreator(lambda: config, store)
    first = await rc.request(head(A, "d1"))
    second = await rc.request(head(B, "d2", before=A))
    assert status_of(kube_api, first.name) == "CancelledRunFinally"
    back = await rc.request(head(A, "d3", before=B))
    assert back.kind == "created" and back.name != first.name and back.superseded == (second.name,)
    assert status_of(kube_api, second.name) == "CancelledRunFinally" and back.name in kube_api.running(NAMESPACE)
    again = await rc.request(head(A, "d3", before=B))  # a redelivery of the push back: the same run
    assert again.name == back.name and len(kube_api.objects()) == 3


async def test_a_reopened_pull_request_whose_run_was_cancelled_at_close_runs_again(
        kube_api: FakeKubeApi, config: Config, store: KubernetesStore) -> None:
    rc = RunCreator(lambda: config, store)
    first = await rc.request(head(A, "d-open"))
    request = head(A, "d-open")
    assert request.pr is not None
    await rc.cancel(CancelRequest(request.team, request.stack, request.app, request.pr.number, "closed", "d-close"))
    assert status_of(kube_api, first.name) == "CancelledRunFinally"
    reopened = await rc.request(head(A, "d-reopen"))
    assert reopened.kind == "created" and reopened.name != first.name
    assert kube_api.running(NAMESPACE) == [reopened.name]
    redelivered = await rc.request(head(A, "d-open"))  # the first delivery again: its own run, stopped
    assert redelivered.name == first.name and kube_api.running(NAMESPACE) == [reopened.name]


async def test_a_superseded_head_is_still_recognised_once_its_pull_request_moved_to_a_stored_heads_segment(
        kube_api: FakeKubeApi, config: Config, store: KubernetesStore) -> None:
    """The head Lease holds only the pull requests changed most recently; older ones are sealed
    into heads segments (their own Leases). A redelivery of an old head is recognised from there,
    by this replica and by one that starts now and reads the segments from the API."""
    rc = RunCreator(lambda: config, store)
    old = await rc.request(head(A, "d-open"))
    new = await rc.request(head(B, "d-sync", before=A))
    for n in range(1000, 1001 + 2 * HEADS_IN_HEAD):  # other pull requests push it out of the head
        await rc.request(pr_request(number=n, sha=f"{n:040x}", delivery=f"d-other-{n}"))
    delete_run(kube_api, old.name)
    text = (await store.read_ledger(NAMESPACE, ledger_name(config.team("default"))))[0] or ""
    written = json.loads(text)
    assert "stack-one/demo-fe/42" not in written.get("heads", {})
    assert all(isinstance(s, str) for s in written["headSegments"][:-1]), "stored: the head lists them by name"
    again = await rc.request(head(A, "d-open"))
    assert again.kind == "ignored" and again.reason.startswith(f"superseded: head {A[:12]}")
    other_store = KubernetesStore(policy=FAST)
    again = await RunCreator(lambda: config, other_store).request(head(A, "d-open"))
    other_store.close()
    assert again.kind == "ignored" and kube_api.get("pipelineruns", NAMESPACE, old.name) is None
    assert status_of(kube_api, new.name) is None, "the newest head's run keeps running"


async def test_a_head_written_with_every_remembered_pull_request_in_it_is_sealed_and_still_known(
        kube_api: FakeKubeApi, config: Config, store: KubernetesStore) -> None:
    """A head Lease as written before heads segments (all 256 remembered pull requests in it): the
    next write seals them into a heads segment (carried by the head until the write after creates
    its Lease); what they remember still counts."""
    team = config.team("default")
    old = Ledger().note_head("stack-one/demo-fe/42", B, before=A)
    for n in range(1000, 1255):
        old = old.note_head(f"stack-one/demo-fe/{n}", f"{n:040x}")
    earlier = Ledger(heads=old.remembered(), next_seq=old.next_seq).dumps()  # every head inline, no segment
    assert len(json.loads(earlier)["heads"]) == 256 and "headSegments" not in earlier
    await store.write_ledger(NAMESPACE, ledger_name(team), earlier, None)
    rc = RunCreator(lambda: config, store)
    for n in (2000, 2001):
        assert (await rc.request(pr_request(number=n, sha=f"{n:040x}", delivery=f"d-{n}"))).kind == "created"
    written = json.loads((await store.read_ledger(NAMESPACE, ledger_name(team)))[0] or "")
    assert len(written["heads"]) == 1 and [type(s) for s in written["headSegments"]] == [str]
    assert len(json.dumps(written)) < 2_000
    other_store = KubernetesStore(policy=FAST)
    late = await RunCreator(lambda: config, other_store).request(head(A, "d-open"))
    other_store.close()
    assert late.kind == "ignored" and late.reason.startswith(f"superseded: head {A[:12]}")
