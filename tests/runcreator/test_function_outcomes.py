"""What a team sees from run-creator besides its replies: Kubernetes Events in its namespace
(``kubectl get events``), and its retention applied by the periodic reconcile. Through the
function's ASGI app and the real client against the fake API."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from func_python.cloudevent import ASGIApplication

from runcreator.conftest import FAST, NAMESPACE, TEAMS, pr_request
from runcreator.test_function import event, post, reply_of, started
from tekton_dag.events import catalog
from tekton_dag.functions.run_creator import RunCreatorFunction
from tekton_dag.kube.stores import KubernetesStore
from tekton_dag.testing.kube_api import FakeKubeApi
from tekton_dag.usecases.event_budget import EventBudget


@pytest.fixture
async def function(kube_api: FakeKubeApi, tmp_path: Path) -> AsyncIterator[RunCreatorFunction]:
    """run-creator on a copy of the example teams whose default team keeps one finished run."""
    teams = tmp_path / "teams"
    shutil.copytree(TEAMS, teams)
    team_file = teams / "default" / "team.yaml"
    team_file.write_text(team_file.read_text() + "retention:\n  keepLast: 1\n")
    store = KubernetesStore(policy=FAST)
    function = started(store, TEKTON_DAG_TEAMS_DIR=str(teams))
    yield function
    function.stop()
    store.close()


@pytest.fixture
async def client(function: RunCreatorFunction) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=ASGIApplication(function))
    async with httpx.AsyncClient(transport=transport, base_url="http://run-creator") as client:
        yield client


async def events_of(function: RunCreatorFunction, kube_api: FakeKubeApi) -> list[tuple[str, str, str, str]]:
    """(type, reason, regarding kind, regarding name) of the Events in the team's namespace."""
    await function.events.flush()
    found = sorted(kube_api.objects("events", NAMESPACE), key=lambda e: e["eventTime"])
    return [(e["type"], e["reason"], e["regarding"]["kind"], e["regarding"]["name"]) for e in found]


async def request(client: httpx.AsyncClient, n: int, sha: str = "a" * 40) -> str:
    reply = reply_of(
        await post(client, event(catalog.RUN_REQUESTED, pr_request(number=n, sha=sha).to_data(), id=f"e{n}{sha[0]}"))
    )
    return reply.get_data()["pipelinerun"]


async def test_a_queued_run_gets_a_normal_event_about_its_pipelinerun(client, function, kube_api: FakeKubeApi) -> None:
    names = [await request(client, n) for n in range(1, 5)]
    assert await events_of(function, kube_api) == [("Normal", "Queued", "PipelineRun", names[3])]
    [queued] = kube_api.objects("events", NAMESPACE)
    assert "maxConcurrentRuns" in queued["note"] and queued["reportingController"] == "tekton-dag.dev/run-creator"


async def test_a_queue_filling_in_a_burst_gets_the_budgets_events_then_one_that_counts_the_rest(
    client, function, kube_api: FakeKubeApi
) -> None:
    """client-go's spam filter per team (usecases.event_budget): 25 Queued Events at once, then
    one per 5 minutes naming how many runs queued meanwhile without one."""
    now = [1000.0]
    function.queued_events = EventBudget(clock=lambda: now[0])
    names = [await request(client, n) for n in range(1, 1 + 3 + 25 + 6)]
    queued = [name for kind, reason, _, name in await events_of(function, kube_api) if reason == "Queued"]
    assert queued == names[3:28]
    now[0] += 300
    last = await request(client, 99)
    await function.events.flush()
    [summary] = [e for e in kube_api.objects("events", NAMESPACE) if e["regarding"]["name"] == last]
    assert summary["reason"] == "Queued" and "6 more of the team's runs queued before it" in summary["note"]


async def test_a_new_head_supersedes_and_a_closed_pr_cancels_with_events(
    client, function, kube_api: FakeKubeApi
) -> None:
    first = await request(client, 7, "a" * 40)
    second = await request(client, 7, "b" * 40)
    cancel = {
        "team": "default",
        "stack": "stack-one",
        "app": "demo-fe",
        "pr_number": 7,
        "reason": "closed",
        "delivery": "c1",
    }
    await post(client, event(catalog.RUN_CANCEL_REQUESTED, cancel, id="c1"))
    assert await events_of(function, kube_api) == [
        ("Normal", "Superseded", "PipelineRun", first),
        ("Normal", "Cancelled", "PipelineRun", second),
    ]


async def test_a_run_that_cannot_be_created_gets_a_warning(client, function, kube_api: FakeKubeApi) -> None:
    kube_api.fail(403, times=1, methods=("POST",), plural="pipelineruns")
    name = await request(client, 1)
    unknown_stack = {**pr_request(number=2).to_data(), "stack": "nope"}
    await post(client, event(catalog.RUN_REQUESTED, unknown_stack, id="e-nope"))
    assert await events_of(function, kube_api) == [
        ("Warning", "RunNotCreated", "PipelineRun", name),
        ("Warning", "RunNotCreated", "ConfigMap", "tekton-dag-teams"),
    ]
    notes = [e["note"] for e in kube_api.objects("events", NAMESPACE)]
    assert any("stack 'nope' of team 'default' is not configured" in n for n in notes)


async def test_an_event_the_api_refuses_never_fails_the_run(client, function, kube_api: FakeKubeApi) -> None:
    kube_api.fail(500, times=100, plural="events")
    names = [await request(client, n) for n in range(1, 5)]
    assert len(set(names)) == 4 and len(kube_api.objects("pipelineruns", NAMESPACE)) == 4
    await function.events.flush()
    assert function.events.failed == 1 and kube_api.objects("events", NAMESPACE) == []


async def test_reconcile_applies_the_teams_retention(client, function, kube_api: FakeKubeApi) -> None:
    names = [await request(client, n) for n in range(1, 4)]
    for age, name in enumerate(names[:2]):
        kube_api.finish(NAMESPACE, name, at=datetime.now(UTC) - timedelta(hours=age))
    await function.reconcile_once()
    assert {o["metadata"]["name"] for o in kube_api.objects("pipelineruns", NAMESPACE)} == {names[0], names[2]}


async def test_a_rejected_configuration_change_is_a_warning_for_that_team_once(function, kube_api: FakeKubeApi) -> None:
    teams = Path(function.configs.store.root)
    team_file = teams / "default" / "team.yaml"
    team_file.write_text(team_file.read_text() + "maxConcurrentRuns: many\n")
    function.configs.store.refresh()
    await function.reconcile_once()
    await function.reconcile_once()  # the same errors: no second Event
    assert await events_of(function, kube_api) == [("Warning", "ConfigRejected", "ConfigMap", "tekton-dag-teams")]
    [rejected] = kube_api.objects("events", NAMESPACE)
    assert "teams/default/team.yaml" in rejected["note"] and "previous one keeps serving" in rejected["note"]


async def test_the_all_in_one_reports_a_dead_letter_of_its_bus_as_a_warning(kube_api: FakeKubeApi,
                                                                             tmp_path: Path) -> None:
    from cloudevents.core.v1.event import CloudEvent

    from tekton_dag.functions import all_in_one
    from tekton_dag.functions.lifecycle import Wiring
    from tekton_dag.testing.sealing import TEST_EVENT_KEY

    store = KubernetesStore(policy=FAST)
    function = all_in_one.new(Wiring(store=store))
    function.start(
        {
            "TEKTON_DAG_TEAMS_DIR": str(TEAMS),
            "TEKTON_DAG_CONFIG_RELOAD_S": "0",
            "TEKTON_DAG_RECONCILE_SECONDS": "0",
            "TEKTON_DAG_EVENT_KEY": TEST_EVENT_KEY,
            "GITHUB_WEBHOOK_SECRET": "s",
            # its own files: not the defaults under /tmp/tekton-dag, which a served all-in-one may hold
            "TEKTON_DAG_JOURNAL": str(tmp_path / "journal.sqlite3"),
            "TEKTON_DAG_DEAD_LETTER_FILE": str(tmp_path / "dead-letters.jsonl"),
        }
    )
    try:
        [listener] = function.broker.dead_letter_listeners
        request = CloudEvent(
            attributes={"type": catalog.RUN_REQUESTED, "source": "/tekton-dag/resolver", "id": "r1", "team": "default"},
            data={},
        )
        listener(request, "http://run-creator.internal/", "503 after 6 tries")
        await function.instances["run-creator"].events.flush()
    finally:
        function.stop()
        store.close()
    [dead] = kube_api.objects("events", NAMESPACE)
    assert (dead["type"], dead["reason"], dead["regarding"]["kind"]) == ("Warning", "DeadLettered", "ConfigMap")
    assert catalog.RUN_REQUESTED in dead["note"] and "503 after 6 tries" in dead["note"]
