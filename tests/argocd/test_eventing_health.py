"""Broker and Trigger health in ArgoCD. Stock ArgoCD has no health check for eventing.knative.dev
(argo-cd resource_customizations/ has none; argoproj/argo-cd#28554 was closed unmerged), so a sync
never waits for them; with the argocd-cm checks this project ships
(argocd/argocd-cm-knative-eventing-health.yaml) it waits for a Ready Broker. The shipped Lua runs
under a real Lua 5.1 (ArgoCD runs health scripts in gopher-lua, a Lua 5.1) and must agree with the
model's ``ready_condition_health`` on every case."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
from typing import Any

import pytest
import yaml

from support.helm import REPO, render
from tekton_dag.testing.argocd_sync import (
    BROKER,
    DEGRADED,
    EVENTING_HEALTH,
    HEALTHY,
    PROGRESSING,
    SYNC_WAVE,
    TRIGGER,
    Cluster,
    application_health,
    health,
    sync,
    wave,
)

SHIPPED = REPO / "argocd" / "argocd-cm-knative-eventing-health.yaml"
KEYS = {
    BROKER: "resource.customizations.health.eventing.knative.dev_Broker",
    TRIGGER: "resource.customizations.health.eventing.knative.dev_Trigger",
}


def scripts() -> dict[str, str]:
    return yaml.safe_load(SHIPPED.read_text())["data"]


def obj(kind: str, status: dict[str, Any] | None, generation: int = 1) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "eventing.knative.dev/v1",
        "kind": kind,
        "metadata": {"name": "tekton-dag", "generation": generation},
    }
    if status is not None:
        doc["status"] = status
    return doc


def ready(value: str, observed: int | None = None, **extra: str) -> dict[str, Any]:
    status: dict[str, Any] = {"conditions": [{"type": "Addressable", "status": "True"},
                                             {"type": "Ready", "status": value, **extra}]}
    if observed is not None:
        status["observedGeneration"] = observed
    return status


CASES = {
    "no status yet": (None, 1, PROGRESSING),
    "status without conditions": ({}, 1, PROGRESSING),
    "Ready True": (ready("True", observed=1), 1, HEALTHY),
    "Ready False": (ready("False", observed=1, reason="DeadLetterSinkResolveFailed"), 1, DEGRADED),
    "Ready Unknown": (ready("Unknown", observed=1), 1, PROGRESSING),
    "only other conditions": ({"conditions": [{"type": "Addressable", "status": "True"}]}, 1, PROGRESSING),
    "Ready True for an older generation": (ready("True", observed=1), 2, PROGRESSING),
    "Ready True, no observedGeneration": (ready("True", message="ok"), 2, HEALTHY),
}


def lua_literal(value: Any) -> str:
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # ASCII only here: JSON's escapes are Lua's
    if isinstance(value, list):
        return "{" + ", ".join(lua_literal(v) for v in value) + "}"
    return "{" + ", ".join(f"[{lua_literal(k)}] = {lua_literal(v)}" for k, v in value.items()) + "}"


def run_lua(script: str, doc: dict[str, Any]) -> str:
    """The script's status, run as ArgoCD runs it: ``obj`` a global, only base and table libraries
    (util/lua/lua.go runLuaWithResourceActionParameters, SkipOpenLibs for argocd-cm scripts)."""
    binary = shutil.which("lua5.1")
    assert binary, "lua5.1 not found: run scripts/install-tools (Debian's lua5.1 package)"
    program = (
        "string, math, io, debug, coroutine = nil, nil, nil, nil, nil\n"
        f"obj = {lua_literal(doc)}\n"
        f"local check = assert(loadstring({lua_literal(script)}))\n"
        "local hs = check()\n"
        "print(hs.status)\n"
    )
    result = subprocess.run([binary, "-"], input=program, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_shipped_file_sets_one_key_per_kind_with_the_same_script() -> None:
    data = scripts()
    assert set(data) == set(KEYS.values())
    assert data[KEYS[BROKER]] == data[KEYS[TRIGGER]]
    assert yaml.safe_load(SHIPPED.read_text())["metadata"] == {"name": "argocd-cm", "namespace": "argocd"}


def test_the_docs_show_the_shipped_script() -> None:
    assert scripts()[KEYS[BROKER]].strip() in (REPO / "docs" / "argocd.md").read_text()


@pytest.mark.parametrize("gk", [BROKER, TRIGGER], ids=["Broker", "Trigger"])
@pytest.mark.parametrize("case", CASES)
def test_the_shipped_lua_and_the_model_agree(gk: tuple[str, str], case: str) -> None:
    status, generation, expected = CASES[case]
    doc = obj(gk[1], copy.deepcopy(status), generation)
    assert run_lua(scripts()[KEYS[gk]], doc) == expected
    assert health(doc, EVENTING_HEALTH) == expected


@pytest.mark.parametrize("case", CASES)
def test_stock_argocd_gives_broker_and_trigger_no_health(case: str) -> None:
    status, generation, _ = CASES[case]
    assert health(obj("Broker", status, generation)) is None
    assert health(obj("Trigger", status, generation)) is None


# --- what it changes for a sync ---------------------------------------------------------------------
def unready_broker_then_config() -> list[dict[str, Any]]:
    """The Broker (its dead-letter sink never resolves, so it never becomes Ready) in wave 0, a
    ConfigMap after it."""
    broker = copy.deepcopy(next(d for d in render() if d["kind"] == "Broker"))
    broker["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] = "missing"
    broker["metadata"]["annotations"][SYNC_WAVE] = "0"
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "after", "annotations": {SYNC_WAVE: "1"}}}
    return [broker, config]


def test_with_the_shipped_checks_an_unready_broker_holds_the_sync_and_the_app_progressing() -> None:
    cluster = Cluster()
    result = sync(unready_broker_then_config(), cluster, EVENTING_HEALTH)
    assert result.phase == "Running" and result.wave == 0, str(result)
    assert "Broker/tekton-dag Progressing" in str(result) and "dead-letter sink" in str(result)
    assert application_health(cluster, EVENTING_HEALTH) == PROGRESSING


def test_without_them_argocd_does_not_wait_for_the_broker() -> None:
    cluster = Cluster()
    assert sync(unready_broker_then_config(), cluster).phase == "Succeeded"
    assert application_health(cluster) == HEALTHY  # although the Broker is not Ready


def test_in_the_chart_the_sync_waits_on_the_broker_only_with_the_shipped_checks() -> None:
    docs = copy.deepcopy(render())
    broker = next(d for d in docs if d["kind"] == "Broker")
    broker["spec"]["delivery"]["deadLetterSink"]["ref"]["name"] = "missing"
    held = sync(docs, Cluster(binding_mode="Immediate"), EVENTING_HEALTH)
    assert held.phase == "Running" and held.wave == wave(broker) and "Broker/tekton-dag" in str(held)
    # Stock ArgoCD goes on to the functions, which then wait for K_SINK (the Broker's address).
    stock = sync(docs, Cluster(binding_mode="Immediate"))
    assert stock.phase == "Running" and stock.wave is not None and stock.wave > wave(broker), str(stock)
    assert not any(w.startswith("Broker/") for w in stock.waiting)
