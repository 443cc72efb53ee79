"""The dead-letter store works as the sink's ServiceAccount with exactly the Role the chart renders:
every verb it uses is granted, and taking any one out of the Role breaks it (kube-apiserver's 403)."""

from __future__ import annotations

import pytest

from tekton_dag.events.deadletters import REPLAYED, Letter
from tekton_dag.kube.clients import RetryingApi
from tekton_dag.kube.deadletters import DeadLetterStore
from tekton_dag.kube.errors import ApiError
from tekton_dag.kube.retrying import RetryPolicy
from tekton_dag.testing import rbac
from tekton_dag.testing.kube_api import FakeKubeApi

NAMESPACE = "tekton-dag-default"
ROLE = "tekton-dag-dead-letters"
FAST = RetryPolicy(deadline=0.5, timeout=2.0)


def store_as(api: FakeKubeApi, limit: int = 1) -> DeadLetterStore:
    path = api.kubeconfig_for(NAMESPACE, ROLE)
    return DeadLetterStore(NAMESPACE, limit, api=RetryingApi(FAST), kubeconfig=str(path))


def letter(event_id: str) -> Letter:
    return Letter(name=f"dl-{event_id}", event={"id": event_id, "type": "t", "source": "s", "specversion": "1.0"},
                  received=f"2026-12-01T00:00:0{event_id[-1]}Z")


async def exercise(store: DeadLetterStore) -> None:
    """Every call the sink makes: store (create, list), bound (delete), store again (patch), replay."""
    assert await store.add(letter("e1")) == 0
    assert await store.add(letter("e2")) == 1  # limit 1: e1 dropped before it was replayed
    assert await store.add(letter("e2")) == 0  # the same letter again: 409, then patch
    await store.mark_replayed("dl-e2")
    assert [(x.name, x.state) for x in await store.letters()] == [("dl-e2", REPLAYED)]


async def test_the_sink_does_all_it_needs_with_the_charts_role() -> None:
    with FakeKubeApi(rbac_documents=rbac.chart_documents()) as api:
        await exercise(store_as(api))
        assert {method for method, path, _ in api.requests if "/configmaps" in path} == {
            "POST", "GET", "PATCH", "DELETE"}  # create, list, patch, delete: the Role's four verbs


def role_verbs() -> list[str]:
    [role] = [d for d in rbac.chart_documents() if d["kind"] == "Role" and d["metadata"]["name"] == ROLE
              and d["metadata"]["namespace"] == NAMESPACE]
    [rule] = role["rules"]
    assert rule["resources"] == ["configmaps"] and rule["apiGroups"] == [""]
    verbs: list[str] = rule["verbs"]
    return verbs


@pytest.mark.parametrize("verb", role_verbs())
async def test_each_verb_of_the_role_is_needed(verb: str) -> None:
    documents = rbac.chart_documents()
    for doc in documents:
        if doc["kind"] == "Role" and doc["metadata"]["name"] == ROLE:
            doc["rules"][0]["verbs"].remove(verb)
    with FakeKubeApi(rbac_documents=documents) as api:
        with pytest.raises(ApiError, match="403"):
            await exercise(store_as(api))


async def test_an_event_too_large_for_a_configmap_is_listed_without_its_body(kube_api: FakeKubeApi) -> None:
    # A ConfigMap holds at most 1 MiB of data (the fake API refuses more, as kube-apiserver does).
    store = DeadLetterStore(NAMESPACE, api=RetryingApi(FAST), kubeconfig=str(kube_api.kubeconfig))
    huge = letter("e1")
    huge.event["data"] = "x" * (1024 * 1024)
    assert await store.add(huge) == 0
    [kept] = await store.letters()
    assert (kept.name, kept.dropped_data, kept.event) == ("dl-e1", True, {})
