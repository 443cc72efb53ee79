"""The call graph of a stack's apps: order, entry points, what depends on what, build waves.

An edge ``caller -> callee`` comes from ``downstream`` in the stack file: the caller calls the
callee. Every function is deterministic: ties are broken by the apps' order in the stack file.
Results are app names (tuples of ``str``); ``stack.app(name)`` gives the ``App``.

The adjacency-based functions (``find_cycle``, ``find_cycles``) take a plain mapping so the
validation can use them on documents that are not (yet) a valid ``Stack``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from tekton_dag.config.models import Stack

Graph = Mapping[str, Sequence[str]]  # app -> the apps it calls, in file order


class GraphError(ValueError):
    """A question the graph cannot answer (unknown app, cycle in a hand-built stack)."""


def edges(stack: Stack) -> dict[str, tuple[str, ...]]:
    """``{app: downstream}`` in file order."""
    return {app.name: app.downstream for app in stack.apps}


def callers(graph: Graph) -> dict[str, tuple[str, ...]]:
    """The reverse graph: ``{app: apps that call it}`` (file order of the callers)."""
    reverse: dict[str, list[str]] = {name: [] for name in graph}
    for caller, callees in graph.items():
        for callee in callees:
            reverse.setdefault(callee, []).append(caller)
    return {name: tuple(found) for name, found in reverse.items()}


def topological_order(stack: Stack) -> tuple[str, ...]:
    """Every app, callers before callees (Kahn's algorithm; ties in file order).

    Raises ``GraphError`` naming a cycle if there is one (a loaded config never has one).
    """
    graph = edges(stack)
    position = {name: i for i, name in enumerate(graph)}
    waiting = {name: 0 for name in graph}
    for callees in graph.values():
        for callee in callees:
            if callee in waiting:
                waiting[callee] += 1
    ready = [name for name in graph if waiting[name] == 0]
    order: list[str] = []
    while ready:
        ready.sort(key=position.__getitem__, reverse=True)
        name = ready.pop()
        order.append(name)
        for callee in graph[name]:
            if callee in waiting:
                waiting[callee] -= 1
                if waiting[callee] == 0:
                    ready.append(callee)
    if len(order) < len(graph):
        cycle = find_cycle(graph) or ()
        raise GraphError(f"stack {stack.name!r} has a dependency cycle: {' -> '.join(cycle)}")
    return tuple(order)


def entry_apps(stack: Stack) -> tuple[str, ...]:
    """Apps no other app calls (where traffic enters the stack), in file order."""
    called = {callee for app in stack.apps for callee in app.downstream}
    return tuple(app.name for app in stack.apps if app.name not in called)


def downstream_of(stack: Stack, app: str) -> tuple[str, ...]:
    """Every app ``app`` calls directly or indirectly, in topological order (``app`` excluded)."""
    return _reachable(stack, app, edges(stack))


def upstream_of(stack: Stack, app: str) -> tuple[str, ...]:
    """Every app that calls ``app`` directly or indirectly, in topological order (``app`` excluded)."""
    return _reachable(stack, app, callers(edges(stack)))


def _reachable(stack: Stack, start: str, graph: Graph) -> tuple[str, ...]:
    if start not in graph:
        raise GraphError(f"stack {stack.name!r} has no app {start!r}")
    seen: set[str] = set()
    todo = list(graph[start])
    while todo:
        name = todo.pop()
        if name not in seen and name != start:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return tuple(name for name in topological_order(stack) if name in seen)


def build_waves(stack: Stack, apps: Iterable[str] | None = None) -> list[tuple[str, ...]]:
    """The selected apps (default: all) grouped into waves, callees before their callers.

    An app's wave comes after the waves of every selected app it reaches, also through apps that
    are not selected (A -> B -> C with A and C selected: C first, then A). Apps in one wave do
    not depend on each other and may build in parallel; each wave lists apps in file order.
    """
    graph = edges(stack)
    selected = set(graph) if apps is None else set(apps)
    unknown = sorted(selected - set(graph))
    if unknown:
        raise GraphError(f"stack {stack.name!r} has no app(s): {', '.join(unknown)}")
    order = topological_order(stack)
    height: dict[str, int] = {}
    for name in reversed(order):  # callees first
        height[name] = max((height[c] + (c in selected) for c in graph[name]), default=0)
    waves: dict[int, list[str]] = {}
    for name in graph:  # file order within a wave
        if name in selected:
            waves.setdefault(height[name], []).append(name)
    return [tuple(waves[level]) for level in sorted(waves)]


def find_cycle(graph: Graph) -> tuple[str, ...] | None:
    """One dependency cycle as a closed path (``("a", "b", "a")``), or ``None``."""
    cycles = find_cycles(graph)
    return cycles[0] if cycles else None


def find_cycles(graph: Graph) -> list[tuple[str, ...]]:
    """One cycle per group of apps that call each other round (strongly connected component).

    Each cycle is a closed path starting at its first app in file order. Callees that are not
    keys of ``graph`` are ignored (unknown apps are reported elsewhere).
    """
    if is_acyclic(graph):  # every valid stack: a cheap count instead of Tarjan's bookkeeping
        return []
    cycles = []
    for component in _strong_components(graph):
        members = set(component)
        start = min(component, key=list(graph).index)
        if len(component) > 1 or start in graph[start]:
            cycles.append(_cycle_through(graph, start, members))
    cycles.sort(key=lambda c: list(graph).index(c[0]))
    return cycles


def is_acyclic(graph: Graph) -> bool:
    """Whether Kahn's algorithm can order every app (callees outside ``graph`` ignored)."""
    waiting = dict.fromkeys(graph, 0)
    for callees in graph.values():
        for callee in callees:
            if callee in waiting:
                waiting[callee] += 1
    ready = [name for name, count in waiting.items() if not count]
    ordered = 0
    while ready:
        ordered += 1
        for callee in graph[ready.pop()]:
            if callee in waiting:
                waiting[callee] -= 1
                if not waiting[callee]:
                    ready.append(callee)
    return ordered == len(waiting)


def _cycle_through(graph: Graph, start: str, members: set[str]) -> tuple[str, ...]:
    """A path start -> ... -> start inside one strongly connected component (breadth-first: short)."""
    previous: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for name in frontier:
            for callee in graph[name]:
                if callee == start:
                    path = [start]
                    while name != start:
                        path.append(name)
                        name = previous[name]
                    return (start, *reversed(path[1:]), start)
                if callee in members and callee not in previous:
                    previous[callee] = name
                    following.append(callee)
        frontier = following
    raise AssertionError("a strongly connected component always has a cycle")


def _strong_components(graph: Graph) -> list[list[str]]:
    """Tarjan's algorithm, iterative (stacks of 40 apps never recurse deeply, user input might)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(graph[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            name, callees = work[-1]
            callee = next((c for c in callees if c in graph), None)
            if callee is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[name])
                if low[name] == index[name]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == name:
                            break
                    components.append(component)
            elif callee not in index:
                index[callee] = low[callee] = len(index)
                stack.append(callee)
                on_stack.add(callee)
                work.append((callee, iter(graph[callee])))
            elif callee in on_stack:
                low[name] = min(low[name], index[callee])
    return components
