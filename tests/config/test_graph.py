"""Dependency order, entry apps, reachability and build waves of a stack."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tekton_dag.config import graph
from tekton_dag.config.models import App, Build, Stack


def make_stack(edges: dict[str, list[str]]) -> Stack:
    apps = tuple(App(name=n, repo=f"o/{n}", role="middleware", build=Build(tool="npm"), downstream=tuple(d))
                 for n, d in edges.items())
    return Stack(name="s", apps=apps)


# web and admin call bff/api; api calls db and cache; bff calls api; worker is alone.
SHOP = make_stack({"web": ["bff"], "admin": ["api"], "bff": ["api"], "api": ["db", "cache"],
                   "db": [], "cache": [], "worker": []})


def test_topological_order_puts_callers_first_ties_in_file_order() -> None:
    assert graph.topological_order(SHOP) == ("web", "admin", "bff", "api", "db", "cache", "worker")


def test_entry_apps_are_those_nobody_calls() -> None:
    assert graph.entry_apps(SHOP) == ("web", "admin", "worker")


def test_downstream_and_upstream_are_transitive() -> None:
    assert graph.downstream_of(SHOP, "web") == ("bff", "api", "db", "cache")
    assert graph.upstream_of(SHOP, "api") == ("web", "admin", "bff")
    assert graph.downstream_of(SHOP, "db") == () and graph.upstream_of(SHOP, "web") == ()


def test_waves_build_callees_first() -> None:
    assert graph.build_waves(SHOP) == [("db", "cache", "worker"), ("api",), ("admin", "bff"), ("web",)]


def test_waves_of_a_selection_keep_order_through_unselected_apps() -> None:
    assert graph.build_waves(SHOP, ["web", "db"]) == [("db",), ("web",)]
    assert graph.build_waves(SHOP, ["web", "worker"]) == [("web", "worker")]


def test_unknown_apps_are_errors() -> None:
    with pytest.raises(graph.GraphError, match="no app 'nope'"):
        graph.downstream_of(SHOP, "nope")
    with pytest.raises(graph.GraphError, match="nope"):
        graph.build_waves(SHOP, ["nope"])


def test_a_hand_built_cycle_is_named() -> None:
    cyclic = make_stack({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["d"]})
    assert graph.find_cycles(graph.edges(cyclic)) == [("a", "b", "c", "a"), ("d", "d")]
    with pytest.raises(graph.GraphError, match="a -> b -> c -> a"):
        graph.topological_order(cyclic)
    assert graph.find_cycle(graph.edges(SHOP)) is None


@st.composite
def dags(draw: st.DrawFn) -> Stack:
    """Random acyclic stacks: an app only calls apps listed after it, then names are shuffled."""
    size = draw(st.integers(1, 25))
    names = draw(st.permutations([f"app-{i}" for i in range(size)]))
    edges = {names[i]: sorted({names[j] for j in draw(st.lists(st.integers(i + 1, size - 1), max_size=4))})
             if i < size - 1 else [] for i in range(size)}
    order = draw(st.permutations(list(edges)))
    return make_stack({n: edges[n] for n in order})


@settings(max_examples=150, deadline=None)
@given(dags(), st.data())
def test_order_and_waves_respect_every_edge(stack: Stack, data: st.DataObject) -> None:
    order = graph.topological_order(stack)
    assert sorted(order) == sorted(a.name for a in stack.apps)
    position = {n: i for i, n in enumerate(order)}
    selected = data.draw(st.sets(st.sampled_from([a.name for a in stack.apps])))
    waves = graph.build_waves(stack, selected)
    wave_of = {n: w for w, wave in enumerate(waves) for n in wave}
    assert set(wave_of) == selected and all(waves)
    for app in stack.apps:
        for callee in app.downstream:
            assert position[app.name] < position[callee]
        if app.name in selected:
            for below in graph.downstream_of(stack, app.name):
                if below in selected:
                    assert wave_of[below] < wave_of[app.name]
    assert graph.find_cycle(graph.edges(stack)) is None


@settings(max_examples=100, deadline=None)
@given(dags(), st.data())
def test_an_added_back_edge_is_found_as_a_cycle(stack: Stack, data: st.DataObject) -> None:
    order = graph.topological_order(stack)
    paths = [(a, b) for a in order for b in graph.downstream_of(stack, a)]
    if not paths:
        return
    top, bottom = data.draw(st.sampled_from(paths))
    edges = {k: list(v) for k, v in graph.edges(stack).items()}
    edges[bottom].append(top)
    cycle = graph.find_cycle(edges)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert all(b in edges[a] for a, b in itertools.pairwise(cycle))
