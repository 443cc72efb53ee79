"""A request's cost does not grow with the team's queue, and a team's queue is not capped by one
Lease annotation (issue 18): through the real client against the fake API, counting the bytes
run-creator writes (deterministic: a fixed clock, the same requests)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runcreator.conftest import FAST, NAMESPACE, bootstrap_request, pr_request
from tekton_dag.config.models import Config
from tekton_dag.kube.stores import LEDGER_ANNOTATION, KubernetesStore
from tekton_dag.pipelineruns.ledgers import HEADS_IN_HEAD, INDEX_AT, PRS_REMEMBERED, SEAL_AT, Ledger
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import RunCreator, ledger_name, read_ledger

PRS = SEAL_AT  # measured requests per queue length: one whole sealing cycle


def sha(i: int) -> str:
    return f"{i + 1:040x}"


def pr_number(round_: int, i: int) -> int:
    return 10_000 * round_ + i


async def bytes_per_request(kube_api: FakeKubeApi, rc: RunCreator, round_: int) -> float:
    _, sent = kube_api.traffic()
    for i in range(PRS):
        request = pr_request(number=pr_number(round_, i), sha=sha(i), delivery=f"d{round_}-{i}")
        assert (await rc.request(request)).kind == "queued"
    return (kube_api.traffic()[1] - sent) / PRS


async def test_bytes_written_per_request_are_the_same_at_ten_and_a_thousand_queued(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    team = config.team("default")
    # The pull requests' heads are known beforehand, so both rounds write the same heads memory
    # (bounded by PRS_REMEMBERED, not by the queue): only the queue's length differs.
    warm = Ledger()
    for round_ in (1, 2):
        for i in range(PRS):
            warm = warm.note_head(f"stack-one/demo-fe/{pr_number(round_, i)}", sha(i))
    await store.write_ledger(NAMESPACE, ledger_name(team), warm.dumps(), None)
    rc = RunCreator(lambda: config, store, clock=lambda: 1_000.0)
    for i in range(3 + 10):  # three hold the slots, ten wait
        await rc.request(bootstrap_request(f"fill-{i}"))
    at_ten = await bytes_per_request(kube_api, rc, 1)
    for i in range(13, 13 + 960):  # now 1,034 wait: as many in the head as at ten (mod SEAL_AT)
        await rc.request(bootstrap_request(f"fill-{i}"))
    assert (await read_ledger(store, team))[0].queued_count == 10 + PRS + 960
    at_thousand = await bytes_per_request(kube_api, rc, 2)
    # What still differs: the sequence numbers in the head (its queued runs and remembered pull
    # requests) have a digit more, and the queue index (16 segments' names) is rewritten once per
    # INDEX_AT segments (measured: +133 of 9,652 bytes, 1.4%). Before the index the head named
    # every segment (+372, 3.9%; +16 bytes per SEAL_AT queued runs); before segments it carried
    # every queued run: +960 runs x ~60 bytes, +58 KB per request.
    assert at_thousand - at_ten < SEAL_AT + HEADS_IN_HEAD + 2 * 24, (at_ten, at_thousand)


async def test_a_ledger_in_the_format_before_segments_is_read_and_converted(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    team = config.team("default")
    old = Ledger()
    for i in range(3 + 200):  # as the old code wrote it: every queued run in the one annotation
        old = old.request(f"old-{i}", 2, 3, 1.0 * i, f"stack-one/demo-fe/{i}", sha(i))
    await store.write_ledger(NAMESPACE, ledger_name(team), old.dumps(), None)
    rc = RunCreator(lambda: config, store)
    first = await rc.request(bootstrap_request("new-1"))  # this write seals the old queue
    head = json.loads((await store.read_ledger(NAMESPACE, ledger_name(team)))[0] or "")
    carried = [s[3]["entries"] for s in head["segments"]]  # still carried by the head: nothing is lost
    assert [len(entries) for entries in carried] == [64, 64, 64, 9]  # the 200 old ones and new-1
    second = await rc.request(bootstrap_request("new-2"))  # this one creates their Leases
    text = (await store.read_ledger(NAMESPACE, ledger_name(team)))[0] or ""
    assert json.loads(text)["segments"] == [s[0] for s in head["segments"]] and len(text) < 1_000  # names only
    leases = sorted(lease["metadata"]["name"] for lease in kube_api.objects("leases"))
    assert leases == sorted([ledger_name(team), *(f"{ledger_name(team)}-{s[0]}" for s in head["segments"])])
    ledger, _ = await RunCreator(lambda: config, store)._read(team)  # a replica that starts now
    assert ledger.queue() == [*old.queue(), first.name, second.name]
    assert ledger.admitted() == old.admitted()


async def test_a_queue_index_is_carried_by_the_head_until_the_next_write_creates_it(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    """The index is made like a segment: the write that makes it carries it in the head, the next
    one (by any replica) creates its Lease and names it only. A replica that starts between the
    two, or after, reads the whole queue; its Lease goes once the queue drains."""
    team = config.team("default")
    rc = RunCreator(lambda: config, store)

    async def head() -> dict[str, Any]:
        return json.loads((await store.read_ledger(NAMESPACE, ledger_name(team)))[0] or "{}")

    requested = 0
    while not isinstance((await head()).get("index"), list) and requested < 1_000:  # until a write makes one
        await rc.request(bootstrap_request(f"b{requested}"))
        requested += 1
    index_name, content = (await head()).get("index") or ("none made", {})
    assert requested == 3 + SEAL_AT * (INDEX_AT + 1) + 1  # the write that stored the fifth segment
    assert "segments" not in (await head())  # every stored segment is in the index, none named
    leases = {lease["metadata"]["name"] for lease in kube_api.objects("leases")}
    assert f"{ledger_name(team)}-{index_name}" not in leases  # carried: no Lease yet
    assert {f"{ledger_name(team)}-{n}" for n in content["segments"]} <= leases
    queue = (await read_ledger(store, team))[0].queue()
    assert len(queue) == requested - 3
    other = KubernetesStore(policy=FAST)  # a replica that starts now, between the two writes
    assert (await read_ledger(other, team))[0].queue() == queue

    after = await RunCreator(lambda: config, store).request(bootstrap_request("after"))  # another replica
    assert (await head())["index"] == index_name  # named only: its Lease exists
    assert f"{ledger_name(team)}-{index_name}" in {lease["metadata"]["name"] for lease in kube_api.objects("leases")}
    assert (await read_ledger(other, team, {}))[0].queue() == [*queue, after.name]  # index Lease read
    other.close()

    for _ in range(requested + 1):  # everything finishes: the queue drains, in order
        name = kube_api.running(NAMESPACE)[0]
        kube_api.finish(NAMESPACE, name)
        await rc.finished(NAMESPACE, name, "default")
    assert [s.split("/")[1] for s in kube_api.start_order[3:]] == [*queue, after.name]
    ledger = (await read_ledger(store, team))[0]
    assert ledger.queued_count == 0 and ledger.index is None and not ledger.segments
    left = {lease["metadata"]["name"] for lease in kube_api.objects("leases")}
    assert left == {ledger_name(team), *(f"{ledger_name(team)}-{s.chunk.name}" for s in ledger.head_segments)}


@pytest.mark.slow
async def test_a_queue_far_beyond_what_one_annotation_held_starts_in_order_and_leaves_no_segment(
    kube_api: FakeKubeApi, config: Config
) -> None:
    """2,500 waiting pull requests: about 280 KB as one ledger, over the 256 KiB annotation limit
    (the old ledger's write was refused, 422, at about 2,000 - docs/run-creator.md). Two replicas
    take the requests and the finished events in turn."""
    team = config.team("default")
    stores = [KubernetesStore(policy=FAST) for _ in range(2)]
    replicas = [RunCreator(lambda: config, s) for s in stores]
    for i in range(3 + 2_500):
        outcome = await replicas[i % 2].request(pr_request(number=i + 1, sha=sha(i), delivery=f"p{i}"))
        assert outcome.kind == ("created" if i < 3 else "queued"), outcome.reason
        assert outcome.position == (0 if i < 3 else i - 2)
    queue = (await read_ledger(stores[0], team))[0].queue()
    assert len(queue) == 2_500 and queue == sorted(kube_api.pending(), key=queue.index)
    head = (await stores[0].read_ledger(NAMESPACE, ledger_name(team)))[0] or ""
    assert len(head.encode()) < 20_000  # heads memory (256 PRs) and the list of ~40 segments
    for i in range(3 + 2_500):
        name = kube_api.running(NAMESPACE)[0]
        kube_api.finish(NAMESPACE, name)
        await replicas[i % 2].finished(NAMESPACE, name, "default")
    assert [s.split("/")[1] for s in kube_api.start_order[3:]] == queue  # first in, first out
    assert kube_api.max_running[NAMESPACE] == 3
    # No queue segment is left; the heads segments the head lists remember the newest pull requests.
    ledger = (await read_ledger(stores[0], team))[0]
    listed = [f"{ledger_name(team)}-{s.chunk.name}" for s in ledger.head_segments]
    remembered = ledger.remembered()
    assert PRS_REMEMBERED <= len(remembered) <= 2 * PRS_REMEMBERED + HEADS_IN_HEAD
    assert f"stack-one/demo-fe/{3 + 2_500}" in remembered and "stack-one/demo-fe/1" not in remembered
    leases = {lease["metadata"]["name"]: lease for lease in kube_api.objects("leases")}
    assert sorted(leases) == sorted([ledger_name(team), *listed])
    assert LEDGER_ANNOTATION in leases[ledger_name(team)]["metadata"]["annotations"]
    for s in stores:
        s.close()


async def test_bytes_written_per_request_do_not_grow_with_the_pull_requests_remembered(
    kube_api: FakeKubeApi, config: Config, store: KubernetesStore
) -> None:
    """The heads memory rides in heads segments, written once, not in every write of the head: a
    team that has seen 700 pull requests writes about what one that has seen 64 does (before, the
    256 remembered pull requests' heads, ~21.7 KB, were in every write)."""
    rc = RunCreator(lambda: config, store, clock=lambda: 1_000.0)
    for i in range(3):  # they hold the slots: every pull request below waits
        await rc.request(bootstrap_request(f"fill-{i}"))
    at_few = await bytes_per_request(kube_api, rc, 1)  # the team's first 64 pull requests
    for i in range(640):
        await rc.request(pr_request(number=pr_number(3, i), sha=sha(i), delivery=f"d3-{i}"))
    at_many = await bytes_per_request(kube_api, rc, 2)
    assert len((await read_ledger(store, config.team("default")))[0].remembered()) >= 256
    print(f"bytes per request: {at_few:.0f} with 64 pull requests seen, {at_many:.0f} with 768")
    assert at_many < at_few + 1_500 and at_many < 12_000, (at_few, at_many)
