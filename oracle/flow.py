"""Integer maximum flow on a supply/demand bipartite graph.

Used to split awarded watts among the requests they may serve, slot by slot,
exactly in integers (the MILP's continuous split variables are only a model).
Deterministic: nodes and edges are visited in the order given.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

from oracle.errors import OracleError


def bipartite_max_flow(
    supplies: Sequence[int],
    demands: Sequence[int],
    edges: Sequence[tuple[int, int]],
) -> dict[tuple[int, int], int]:
    """Largest flow from supply nodes to demand nodes along `edges` (supply, demand).

    Returns the flow on every edge that carries any. Supply i sends at most
    supplies[i]; demand j receives at most demands[j]. Edmonds-Karp with BFS
    in index order, so the same input always gives the same flows.
    """
    graph, source, sink = supply_graph(supplies, len(demands))
    n_s = len(supplies)
    for j, d in enumerate(demands):
        if d > 0:
            add_edge(graph, n_s + j, sink, d)
    edge_pos: dict[tuple[int, int], tuple[int, int]] = {}
    for i, j in edges:
        if supplies[i] > 0 and demands[j] > 0 and (i, j) not in edge_pos:
            edge_pos[(i, j)] = (i, len(graph[i]))
            add_edge(graph, i, n_s + j, sum(supplies))  # uncapacitated in effect

    augment(graph, source, sink)
    return edge_flows(graph, edge_pos)


Graph = list[list[list[int]]]  # per node: [to, residual capacity, index of the reverse edge]


def add_edge(graph: Graph, u: int, v: int, cap: int) -> None:
    """An edge u -> v of capacity `cap` and its reverse (capacity 0)."""
    graph[u].append([v, cap, len(graph[v])])
    graph[v].append([u, 0, len(graph[u]) - 1])


def supply_graph(supplies: Sequence[int], n_demands: int) -> tuple[Graph, int, int]:
    """The residual graph of a bipartite flow: supply nodes 0.., demand nodes after them,
    then the source and the sink; the source's edges to every positive supply added.
    Returns (graph, source, sink)."""
    n_s = len(supplies)
    source, sink = n_s + n_demands, n_s + n_demands + 1
    graph: Graph = [[] for _ in range(n_s + n_demands + 2)]
    for i, s in enumerate(supplies):
        if s > 0:
            add_edge(graph, source, i, s)
    return graph, source, sink


def augment(graph: Graph, source: int, sink: int) -> None:
    """Push flow along shortest augmenting paths (BFS in edge order) until none is left."""
    while True:
        parent: list[tuple[int, int] | None] = [None] * len(graph)
        parent[source] = (source, -1)
        queue = deque([source])
        while queue and parent[sink] is None:
            u = queue.popleft()
            for k, (v, cap, _) in enumerate(graph[u]):
                if cap > 0 and parent[v] is None:
                    parent[v] = (u, k)
                    queue.append(v)
        if parent[sink] is None:
            return
        path = []
        v = sink
        while v != source:
            step = parent[v]
            if step is None:  # the search gave a parent to every vertex it reached
                raise OracleError(f"max-flow: vertex {v} of the augmenting path has no parent")
            path.append(step)
            v = step[0]
        push = min(graph[u][k][1] for u, k in path)
        for u, k in path:
            graph[u][k][1] -= push
            to, _, rev = graph[u][k]
            graph[to][rev][1] += push


def edge_flows(
    graph: Graph, edge_pos: dict[tuple[int, int], tuple[int, int]]
) -> dict[tuple[int, int], int]:
    """The flow carried by each (supply, demand) edge, read off its reverse edge."""
    flows = {}
    for key, (u, k) in edge_pos.items():
        v, _, rev = graph[u][k]
        carried = graph[v][rev][1]
        if carried:
            flows[key] = carried
    return flows
