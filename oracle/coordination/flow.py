"""Integer maximum flow that serves demands in priority order.

The split of awarded watts among requests must be a maximum flow (so that
`oracle.check` agrees on what the awards can serve) *and* respect the buyers'
priority (the DSO's needs first, then the TSO's, ...). Edmonds-Karp does both
when the sink edges are opened level by level: an augmenting path ends on a
sink edge and never runs one backwards, so what a level received is never taken
back by a later level, and the final flow is maximum.
Deterministic: nodes and edges are visited in the order given (edges of one level
in the order given, levels in increasing order).
"""

from __future__ import annotations

from collections.abc import Sequence

from oracle.flow import add_edge, augment, edge_flows, supply_graph


def priority_max_flow(
    supplies: Sequence[int],
    demands: Sequence[int],
    levels: Sequence[int],
    edges: Sequence[tuple[int, int]] | Sequence[tuple[int, int, int]],
) -> dict[tuple[int, int], int]:
    """Flow on each (supply, demand) edge; demands of a lower level are served first.

    An edge may carry a third item, the level from which it may be used (default 0):
    sequential coupling first lets each stage's purchases serve that stage's requests
    only, then opens every edge so that the flow ends maximum.
    """
    graph, source, sink = supply_graph(supplies, len(demands))
    n_s = len(supplies)
    big = sum(supplies)
    edge_level = {(e[0], e[1]): (e[2] if len(e) > 2 else 0) for e in edges}
    edge_pos: dict[tuple[int, int], tuple[int, int]] = {}
    for level in sorted(set(levels) | set(edge_level.values())):
        for (i, j), lv in edge_level.items():
            if lv == level and supplies[i] > 0 and demands[j] > 0:
                edge_pos[(i, j)] = (i, len(graph[i]))
                add_edge(graph, i, n_s + j, big)
        for j, d in enumerate(demands):
            if levels[j] == level and d > 0:
                add_edge(graph, n_s + j, sink, d)
        augment(graph, source, sink)

    return edge_flows(graph, edge_pos)
