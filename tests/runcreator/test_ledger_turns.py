"""Turns at the ledger (``usecases.ledger_turns``): the all-in-one's workers, writing one team's
ledger at the same moment, take turns instead of refusing each other's writes; a turn held too
long, or turns that cannot work, cost a wait, never a write (real ``kubernetes`` client, fake API
server; each worker a ``RunCreator`` with its own ``LedgerHints`` on one directory)."""

from __future__ import annotations

import asyncio
import fcntl
import os
import socket
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from runcreator.conftest import FAST, pr_request
from runcreator.test_admission import creator
from tekton_dag.config.models import Config
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases import ledger_turns
from tekton_dag.usecases.creating import RunCreator, ledger_name, read_ledger
from tekton_dag.usecases.ledger_hints import LedgerHints


def ledger_writes(api: FakeKubeApi, since: int) -> list[int]:
    return [status for method, path, status in api.requests[since:] if method == "PUT" and "/leases/" in path]


def workers(config: Config, make_hints: Callable[[Path], LedgerHints], directory: Path) -> list[RunCreator]:
    policy = replace(FAST, deadline=5.0)
    return [creator(config, KubernetesStore(policy=policy), hints=make_hints(directory)) for _ in range(2)]


async def all_at_once(replicas: list[RunCreator], first: int, count: int) -> None:
    outcomes = await asyncio.gather(*(
        replicas[i % 2].request(pr_request(number=first + i, delivery=f"p{first + i}")) for i in range(count)))
    assert {o.kind for o in outcomes} <= {"created", "queued"}, outcomes


async def test_workers_writing_at_once_take_turns_and_refuse_no_write(
    kube_api: FakeKubeApi, config: Config, tmp_path: Path, make_hints: Callable[[Path], LedgerHints]
) -> None:
    replicas = workers(config, make_hints, tmp_path / "hints")
    for i, replica in enumerate(replicas):  # each knows the ledger and the other: the steady state
        await replica.request(pr_request(number=1000 + i, delivery=f"w{i}"))
    before = len(kube_api.requests)
    for first in (1, 101, 201):  # three bursts of 24 requests, half to each worker
        await all_at_once(replicas, first, 24)
    writes = ledger_writes(kube_api, before)
    assert 409 not in writes, writes  # without turns: refused writes in every run (see below)
    assert len(writes) < 72  # the other's turn is waited out, and the waiting changes go together
    team = config.team("default")
    assert team is not None
    ledger, _ = await read_ledger(replicas[0].store, team)
    runs = [run["metadata"]["name"] for run in kube_api.objects("pipelineruns")]
    assert len(runs) == 74 and all(ledger.has(name) for name in runs)


async def test_without_turns_the_same_bursts_refuse_writes(
    kube_api: FakeKubeApi, config: Config, tmp_path: Path, make_hints: Callable[[Path], LedgerHints]
) -> None:
    """What turns save: the hints alone, same bursts (so the test above can fail)."""
    replicas = workers(config, make_hints, tmp_path / "hints")
    for replica in replicas:
        assert replica.hints is not None
        replica.hints.turns.off = True
    for i, replica in enumerate(replicas):
        await replica.request(pr_request(number=1000 + i, delivery=f"w{i}"))
    before = len(kube_api.requests)
    for first in (1, 101, 201):
        await all_at_once(replicas, first, 24)
    assert 409 in ledger_writes(kube_api, before)


async def test_a_turn_held_too_long_costs_a_wait_never_the_write(
    kube_api: FakeKubeApi, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    make_hints: Callable[[Path], LedgerHints],
) -> None:
    monkeypatch.setattr(ledger_turns, "WAIT_S", 0.2)
    directory = tmp_path / "hints"
    replica = workers(config, make_hints, directory)[0]
    team = config.team("default")
    assert team is not None
    await replica.request(pr_request(number=1, delivery="p1"))
    # Another worker that never lets go (stuck; one that died is let go by the kernel).
    stuck = os.open(directory / f"{team.namespace}.{ledger_name(team)}.turn", os.O_RDWR)
    fcntl.flock(stuck, fcntl.LOCK_EX)
    try:
        started = time.monotonic()
        outcome = await replica.request(pr_request(number=2, delivery="p2"))
        waited = time.monotonic() - started
    finally:
        os.close(stuck)
    assert outcome.kind in ("created", "queued") and waited >= 0.2
    ledger, _ = await read_ledger(replica.store, team)
    assert ledger.has(outcome.name)


async def test_without_abstract_sockets_turns_are_off_and_writes_go_as_before(
    kube_api: FakeKubeApi, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    make_hints: Callable[[Path], LedgerHints],
) -> None:
    def no_socket(address: bytes) -> None:
        raise OSError("address family not supported")

    monkeypatch.setattr(ledger_turns, "_bound", no_socket)
    replica = workers(config, make_hints, tmp_path / "hints")[0]
    outcome = await replica.request(pr_request(number=1, delivery="p1"))
    assert outcome.kind == "created" and replica.hints is not None and replica.hints.turns.off


async def test_a_worker_that_asked_gets_the_turn_before_the_holder_takes_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_turns, "WAKE_S", 2.0)  # the hand-over's wait ends on "done", not on time
    one, other = ledger_turns.Turns(tmp_path), ledger_turns.Turns(tmp_path)
    order: list[str] = []
    try:
        async with one.turn("ns.ledger") as held:
            assert held
            asked = asyncio.create_task(_hold(other, "ns.ledger", order, "other"))
            while "ns.ledger" not in one._wanted:  # its "want" arrives on this loop
                await asyncio.sleep(0.001)
            order.append("one")
        started = time.monotonic()
        await _hold(one, "ns.ledger", order, "one again")  # hands over first: waits for it to come back
        await asked
        assert order == ["one", "other", "one again"]
        assert time.monotonic() - started < 1.0  # given back by a message, not found free after WAKE_S
        await asyncio.sleep(0.01)  # "one again" handed nothing over; the other's next write
        started = time.monotonic()  # waits for nobody, though the other handed "one again" ...
        await _hold(other, "ns.ledger", order, "other again")
        await _hold(one, "ns.ledger", order, "one, last")  # ... and got it back with "done"
        assert time.monotonic() - started < 1.0
    finally:
        one.close()
        other.close()


async def _hold(turns: ledger_turns.Turns, ledger: str, order: list[str], who: str) -> None:
    async with turns.turn(ledger) as held:
        assert held
        order.append(who)


async def test_a_worker_gone_is_forgotten_and_a_stranger_cannot_ask(tmp_path: Path) -> None:
    holder, asker = ledger_turns.Turns(tmp_path), ledger_turns.Turns(tmp_path)
    gone = tmp_path / "999999-0.peer"  # a worker that died without closing: no socket bound
    gone.touch()
    try:
        async with holder.turn("ns.ledger"):
            stranger = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # not bound to a worker's name
            stranger.sendto(b"want ns.ledger", holder._address(holder._name))
            stranger.close()
            await asyncio.sleep(0.01)
            assert "ns.ledger" not in holder._wanted  # a worker's want would be remembered
            assert not await asker._take("ns.ledger")  # bounded by WAIT_S; its "want" went to every peer file
        assert not gone.exists()
    finally:
        holder.close()
        asker.close()
