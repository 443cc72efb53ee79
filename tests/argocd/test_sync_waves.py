"""No sync wave waits on something only a later wave or a PipelineRun can provide.

Every scenario the chart renders (defaults, ci/*, teams/*) is synced through the model of ArgoCD
in tekton_dag/testing/argocd_sync.py (health rules and wave order from gitops-engine and argo-cd, cited there),
on a cluster whose default StorageClass binds on first consumer (kind's, most clouds') and on one
that binds immediately, by a stock ArgoCD and by one with the Broker/Trigger health checks this
project ships for argocd-cm (tests/argocd/test_eventing_health.py)."""

from __future__ import annotations

import copy
import dataclasses
import importlib
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from support.helm import CHART, TEAMS, Scenario, mount_team_config, render, scenarios
from tekton_dag.config.loading import load_config
from tekton_dag.events.requests import RunRequest
from tekton_dag.functions import serving
from tekton_dag.observability import metrics
from tekton_dag.pipelineruns import build_pipelinerun
from tekton_dag.testing import argocd_sync
from tekton_dag.testing.argocd_sync import (
    DEGRADED,
    EVENTING_HEALTH,
    HEALTHY,
    MODELLED,
    PROGRESSING,
    SYNC_WAVE,
    Cluster,
    application_health,
    group_kind,
    health,
    sync,
    synced,
    wave,
)

SCENARIOS = scenarios()
# A team whose cluster runs Tekton with another coschedule mode: its runs bind the team's build-cache
# claim, so the chart makes one (under Tekton's default, `workspaces`, it makes none).
SHARED_CACHE = ["team.coschedule=pipelineruns"]
BINDING_MODES = ["WaitForFirstConsumer", "Immediate"]
ARGOCD = {"stock": None, "eventing-health": EVENTING_HEALTH}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_every_rendered_kind_has_a_modelled_health_rule(scenario: Scenario) -> None:
    kinds = {group_kind(d) for d in render(scenario.values_files)} | {
        group_kind(d) for d in render(sets=["mode=all-in-one"])
    }
    assert kinds <= MODELLED, f"not modelled: {kinds - MODELLED}"


def prerequisite_secrets(scenario: Scenario) -> frozenset[str]:
    """Secrets a scenario's values require to exist before the first sync (docs/argocd.md): a named
    registry Secret (bootstrap-batcher cannot start without the credentials it was told to use)
    and, for a chart with a team, the event key (the functions that seal are not ready without
    it). The webhook and API Secrets are optional: a new team syncs before it created them."""
    import yaml

    names = set()
    teams = False
    for path in scenario.values_files:
        values = yaml.safe_load(path.read_text()) or {}
        names.add((values.get("secrets") or {}).get("registry", {}).get("name"))
        names.add((values.get("secrets") or {}).get("events", {}).get("name"))
        teams = teams or bool((values.get("teamConfig") or {}).get("files"))
    if teams:
        names.add(yaml.safe_load((CHART / "values.yaml").read_text())["secrets"]["events"]["name"])
    return frozenset(n for n in names if n)


@pytest.mark.parametrize("argocd", ARGOCD)
@pytest.mark.parametrize("binding_mode", BINDING_MODES)
@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_sync_completes(scenario: Scenario, binding_mode: str, argocd: str) -> None:
    cluster = Cluster(binding_mode=binding_mode, secrets=prerequisite_secrets(scenario))
    result = sync(render(scenario.values_files), cluster, ARGOCD[argocd])
    assert result.phase == "Succeeded", str(result)


@pytest.mark.parametrize("argocd", ARGOCD)
@pytest.mark.parametrize("binding_mode", BINDING_MODES)
def test_the_all_in_one_sync_completes(binding_mode: str, argocd: str) -> None:
    result = sync(render(sets=["mode=all-in-one"]), Cluster(binding_mode=binding_mode), ARGOCD[argocd])
    assert result.phase == "Succeeded", str(result)


def test_the_build_cache_claim_is_the_last_wave_alone() -> None:
    """The claim binds only when a PipelineRun mounts it: nothing may wait on it."""
    docs = synced(render(sets=SHARED_CACHE))
    (claim,) = [d for d in docs if d["kind"] == "PersistentVolumeClaim"]
    assert wave(claim) == max(wave(d) for d in docs)
    assert [d["kind"] for d in docs if wave(d) == wave(claim)] == ["PersistentVolumeClaim"]


def test_the_sync_assesses_each_object_once_per_wave_it_waits_on() -> None:
    docs = render()
    objects = synced(docs)
    waves = sorted({wave(d) for d in objects})
    waited = sum(1 for number in waves[:-1] for d in objects if wave(d) <= number)  # not the last wave
    with mock.patch.object(argocd_sync, "health", wraps=argocd_sync.health) as assessed:
        assert sync(docs, Cluster(binding_mode="Immediate")).phase == "Succeeded"
    assert assessed.call_count == waited


def first_run(docs: list[dict[str, Any]], root: Path, coschedule: str | None = None) -> dict[str, Any] | None:
    """The first PipelineRun run-creator makes for the team the chart mounts (a bootstrap of its
    first stack), built by run-creator's own code from the team's files; None without a team."""
    if not mount_team_config(docs, None, root).is_dir():
        return None
    loaded = load_config(root)
    assert loaded.errors == ()
    (team,) = loaded.config.teams
    if coschedule is not None:
        team = dataclasses.replace(team, pipeline_runs=dataclasses.replace(team.pipeline_runs, coschedule=coschedule))
    stack = team.stacks[0]
    request = RunRequest(team=team.name, stack=stack.name, pipeline="stack-bootstrap", delivery="d-1",
                         image_tag="bootstrap", requested_by="bootstrap-batcher")
    return build_pipelinerun(request, team, stack)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_the_application_is_healthy_once_the_teams_first_run_started(scenario: Scenario, tmp_path: Path) -> None:
    """On a WaitForFirstConsumer class a claim binds only when a Pod mounts it, and ArgoCD shows a
    Pending claim, so the Application, as Progressing. Every claim the chart makes must be one the
    team's runs mount: under Tekton's default coschedule (every scenario here) runs bind only their
    own volumeClaimTemplate, and the chart's build-cache claim stayed Pending for good."""
    docs = render(scenario.values_files)
    cluster = Cluster(secrets=prerequisite_secrets(scenario))
    assert sync(docs, cluster).phase == "Succeeded"
    run = first_run(docs, tmp_path / "teams")
    if run is not None:
        cluster.start(run)
    assert application_health(cluster) == HEALTHY, {k: why for k, why in cluster.why.items() if why}


def test_the_application_stays_progressing_until_the_first_run_binds_the_claim(tmp_path: Path) -> None:
    """What the ArgoCD UI shows on a WaitForFirstConsumer class when the team's coschedule mode has
    its runs share the team's build-cache claim (documented in docs/argocd.md)."""
    team_values = sorted(Path(__file__).resolve().parents[2].glob("teams/*/values.yaml"))[0]
    docs = render([team_values], sets=SHARED_CACHE)
    cluster = Cluster(secrets=frozenset({"tekton-dag-event-key"}))
    assert sync(docs, cluster).phase == "Succeeded"
    assert application_health(cluster) == PROGRESSING
    run = first_run(docs, tmp_path / "teams", coschedule="pipelineruns")
    assert run is not None
    cluster.start(run)
    assert application_health(cluster) == HEALTHY


@pytest.mark.parametrize("function", sorted(serving.SERVABLE))
async def test_the_model_knows_which_functions_wait_for_the_event_key(function: str, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """``needs_event_key`` is each handler's own answer: started with the repository's teams and no
    event key, its ready() names the missing key exactly when the model says it waits for it."""
    # the dead-letter sink drops the configuration gauges from this process's registry for good
    # (right for its own pod); here it would take them from every later test in the session
    monkeypatch.setattr(metrics, "without_configuration", lambda: None)
    handler = importlib.import_module(serving.SERVABLE[function].module).new()
    handler.start({"TEKTON_DAG_TEAMS_DIR": str(TEAMS), "K_SINK": "http://127.0.0.1:9/",
                   "TEKTON_DAG_JOURNAL": str(tmp_path / "journal.db"), "TEKTON_DAG_CONFIG_CACHE": "off",
                   "TEKTON_DAG_NAMESPACE": "tekton-dag", "TEKTON_DAG_DEAD_LETTER_FILE": str(tmp_path / "dl.jsonl")})
    try:
        ready, why = handler.ready()
    finally:
        handler.stop()
    assert ("no event key configured" in why) is argocd_sync.needs_event_key(function), (ready, why)


def test_a_team_without_its_event_key_waits_at_the_functions_wave() -> None:
    """A new team's first sync before anyone created the event key: the functions that seal are not
    ready, so the sync stays at their wave (what docs/argocd.md tells a team to create first)."""
    values = sorted(TEAMS.glob("*/values.yaml"))[0]
    docs = render([values])
    result = sync(docs, Cluster(binding_mode="Immediate"))
    functions_wave = wave(next(d for d in docs if d["kind"] == "Service" and d["metadata"]["name"] == "resolver"))
    assert result.phase == "Running" and result.wave == functions_wave, str(result)
    assert "Secret/tekton-dag-event-key (the event key" in str(result)
    assert "status-reporter" not in str(result)  # it seals nothing: ready without the key
    keyed = Cluster(binding_mode="Immediate", secrets=frozenset({"tekton-dag-event-key"}))
    assert sync(docs, keyed).phase == "Succeeded"


# --- the model catches what it must catch ---------------------------------------------------------
def moved(docs: list[dict], kind: str, to_wave: int) -> list[dict]:
    docs = copy.deepcopy(docs)
    for doc in docs:
        if doc["kind"] == kind:
            doc["metadata"].setdefault("annotations", {})[SYNC_WAVE] = str(to_wave)
    return docs


def test_a_claim_in_wave_0_stalls_the_sync_on_a_wait_for_first_consumer_class() -> None:
    """The chart before this fix: the build-cache PVC in wave 0 kept Tasks, Pipelines and functions out."""
    result = sync(moved(render(sets=SHARED_CACHE), "PersistentVolumeClaim", 0), Cluster())
    assert result.phase == "Running" and result.wave == 0
    assert "PersistentVolumeClaim/tekton-dag-build-cache Progressing" in str(result) and "PipelineRun" in str(result)
    assert sync(moved(render(sets=SHARED_CACHE), "PersistentVolumeClaim", 0),
                Cluster(binding_mode="Immediate")).phase == "Succeeded"


def test_triggers_before_their_functions_fail_the_sync_with_the_trigger_health_check() -> None:
    functions_wave = wave(next(d for d in render() if d["kind"] == "Service" and d["metadata"]["name"] == "resolver"))
    early = moved(render(), "Trigger", functions_wave - 1)
    result = sync(early, Cluster(binding_mode="Immediate"), EVENTING_HEALTH)
    assert result.phase == "Failed" and "does not exist" in str(result)
    # Stock ArgoCD has no Trigger health: it would not notice (the Triggers resolve later).
    assert sync(early, Cluster(binding_mode="Immediate")).phase == "Succeeded"


def test_functions_that_need_a_secret_the_chart_does_not_create_stall_the_sync() -> None:
    docs = copy.deepcopy(render())
    for doc in docs:
        for volume in doc.get("spec", {}).get("template", {}).get("spec", {}).get("volumes", []):
            volume.get("secret", {}).pop("optional", None)
    result = sync(docs, Cluster(binding_mode="Immediate"))
    assert result.phase == "Running" and "Secret/tekton-dag-github-webhook" in str(result)


def test_helm_test_hooks_are_never_synced() -> None:
    with_hooks = render(tests=True)
    assert len(with_hooks) > len(render())
    assert synced(with_hooks) == render()


# --- health rules, one by one ---------------------------------------------------------------------
def obj(api: str, kind: str, status: dict | None = None) -> dict:
    return {"apiVersion": api, "kind": kind, "metadata": {"name": "x"}, "status": status or {}}


@pytest.mark.parametrize("phase,expected", [("Pending", PROGRESSING), ("Bound", HEALTHY), ("Lost", DEGRADED)])
def test_pvc_health(phase: str, expected: str) -> None:
    assert health(obj("v1", "PersistentVolumeClaim", {"phase": phase})) == expected


def conditions(**values: str) -> dict:
    return {"conditions": [{"type": t, "status": v} for t, v in values.items()]}


@pytest.mark.parametrize(
    "status,expected",
    [
        ({}, PROGRESSING),
        (conditions(ConfigurationsReady="True", RoutesReady="True", Ready="True"), HEALTHY),
        (conditions(ConfigurationsReady="True", RoutesReady="Unknown", Ready="Unknown"), PROGRESSING),
        (conditions(ConfigurationsReady="False", RoutesReady="True", Ready="False"), DEGRADED),
        (conditions(Ready="True"), PROGRESSING),  # the Lua counts three True conditions
    ],
)
def test_knative_service_health(status: dict, expected: str) -> None:
    assert health(obj("serving.knative.dev/v1", "Service", status)) == expected


EARLY, LATE = "2026-12-01T10:00:00Z", "2026-12-01T10:30:00Z"


# argo-cd resource_customizations/batch/CronJob/health.lua (HEAD 31087e2), case by case.
@pytest.mark.parametrize(
    "spec,status,expected",
    [
        ({"suspend": True}, {}, "Suspended"),
        ({}, None, PROGRESSING),  # no status at all: "Waiting for CronJob"
        ({}, {}, HEALTHY),  # not scheduled yet
        ({}, {"lastScheduleTime": LATE}, HEALTHY),  # first run not finished: "may not be healthy", Healthy
        ({}, {"lastScheduleTime": LATE, "lastSuccessfulTime": EARLY, "active": [{"name": "j"}]}, HEALTHY),
        ({}, {"lastScheduleTime": LATE, "lastSuccessfulTime": EARLY}, DEGRADED),  # the last run failed
        ({}, {"lastScheduleTime": EARLY, "lastSuccessfulTime": LATE}, HEALTHY),
    ],
    ids=["suspended", "no status", "never scheduled", "first run", "running", "last run failed", "last run ok"],
)
def test_cronjob_health(spec: dict, status: dict | None, expected: str) -> None:
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "x"}, "spec": spec}
    if status is not None:
        cronjob["status"] = status
    assert health(cronjob) == expected


@pytest.mark.parametrize(
    "api,kind",
    [
        ("tekton.dev/v1", "Task"),
        ("tekton.dev/v1", "Pipeline"),
        ("sources.knative.dev/v1", "SinkBinding"),
        ("v1", "ConfigMap"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        ("eventing.knative.dev/v1", "Broker"),  # argo-cd has no eventing.knative.dev check
        ("eventing.knative.dev/v1", "Trigger"),
    ],
)
def test_kinds_without_health(api: str, kind: str) -> None:
    assert health(obj(api, kind)) is None


def test_an_unmodelled_kind_is_an_error_not_a_pass() -> None:
    with pytest.raises(KeyError, match="not modelled"):
        health(obj("apps/v1", "Deployment"))
