"""Ledger hints (``usecases.ledger_hints``): the all-in-one's workers tell each other what they
wrote to a team's ledger, so taking turns costs one conditional write each, not a refused write,
a read and the write again; a stale hint costs only that, never a wrong admission
(real ``kubernetes`` client, fake API server)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from runcreator.conftest import FAST, pr_request
from runcreator.test_admission import creator
from tekton_dag.config.models import Config
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.creating import RunCreator, ledger_name, read_ledger
from tekton_dag.usecases.ledger_hints import HINTS_ENV, LedgerHints


def ledger_calls(api: FakeKubeApi, since: int) -> list[tuple[str, int]]:
    return [(method, status) for method, path, status in api.requests[since:] if "leases" in path]


async def take_turns(replicas: list[RunCreator], kube_api: FakeKubeApi, first: int) -> list[tuple[str, int]]:
    """Each replica in turn queues a new pull request's run; the ledger requests that took."""
    before = len(kube_api.requests)
    for i in range(6):
        assert (await replicas[i % 2].request(pr_request(number=first + i, delivery=f"p{first + i}"))).kind in (
            "created", "queued")
    return ledger_calls(kube_api, before)


async def test_workers_taking_turns_write_the_ledger_once_each_with_hints(
    kube_api: FakeKubeApi, config: Config, tmp_path: Path, make_hints: Callable[[Path], LedgerHints]
) -> None:
    def workers(hints: LedgerHints | None) -> list[RunCreator]:
        return [creator(config, KubernetesStore(policy=replace(FAST, deadline=5.0)), hints=hints) for _ in range(2)]

    without = workers(None)
    for i, replica in enumerate(without):  # each knows the ledger: what follows is the steady state
        await replica.request(pr_request(number=100 + i, delivery=f"w{i}"))
    # Without hints each write starts from the copy the replica wrote itself: refused, read, written.
    assert await take_turns(without, kube_api, 1) == [("PUT", 409), ("GET", 200), ("PUT", 200)] * 6

    shared = make_hints(tmp_path / "hints")
    with_hints = workers(shared)
    for i, replica in enumerate(with_hints):
        await replica.request(pr_request(number=200 + i, delivery=f"h{i}"))
    assert await take_turns(with_hints, kube_api, 11) == [("PUT", 200)] * 6
    # The ledger is what one writer would have left: every run of both replicas is in it.
    team = config.team("default")
    assert team is not None
    ledger, _ = await read_ledger(with_hints[0].store, team)
    assert sorted(n for n in _run_names(kube_api) if ledger.has(n)) == sorted(_run_names(kube_api))


def _run_names(api: FakeKubeApi) -> list[str]:
    return [run["metadata"]["name"] for run in api.objects("pipelineruns")]


async def test_a_stale_hint_costs_a_read_never_a_wrong_ledger(
    kube_api: FakeKubeApi, config: Config, tmp_path: Path, make_hints: Callable[[Path], LedgerHints]
) -> None:
    hints = make_hints(tmp_path / "hints")
    team = config.team("default")
    assert team is not None
    one, other = (creator(config, KubernetesStore(policy=FAST), hints=hints) for _ in range(2))
    await one.request(pr_request(number=1, delivery="p1"))
    stale = hints.latest(team.namespace, ledger_name(team))
    assert stale is not None
    await other.request(pr_request(number=2, delivery="p2"))
    await one.request(pr_request(number=3, delivery="p3"))
    hints.wrote(team.namespace, ledger_name(team), *stale)  # an older note, as when two notes cross
    before = len(kube_api.requests)
    await other.request(pr_request(number=4, delivery="p4"))
    assert ledger_calls(kube_api, before) == [("PUT", 409), ("GET", 200), ("PUT", 200)]
    ledger, _ = await read_ledger(other.store, team)
    assert sorted(n for n in _run_names(kube_api) if ledger.has(n)) == sorted(_run_names(kube_api))
    assert len(_run_names(kube_api)) == 4


def test_hints_are_read_from_the_environment_the_workers_share(tmp_path: Path) -> None:
    assert LedgerHints.from_env({}) is None
    hints = LedgerHints.from_env({HINTS_ENV: str(tmp_path / "h")})
    assert hints is not None and hints.directory == tmp_path / "h"
    assert hints.latest("ns", "lease") is None
    hints.wrote("ns", "lease", "7", '{"entries":{}}')
    assert LedgerHints(tmp_path / "h").latest("ns", "lease") == ("7", '{"entries":{}}')
    assert (tmp_path / "h" / "ns.lease").stat().st_mode & 0o777 == 0o600
