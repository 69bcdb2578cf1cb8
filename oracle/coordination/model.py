"""The coordination MILP: needs in layers, zone cuts, optional balance rows.

The engine's model counts a watt toward one request only. Common coupling
counts it once per *layer*: zonal requests (congestion points) form one layer,
system-wide requests (TSO reserve, BRP balancing) another, so one activation
may relieve its zone and serve a system-wide need of the same direction and
slot at once. A sequential stage is the one-layer case.

Built with the engine's pieces (`Milp`, `define_award_variables`,
`define_cut_constraints`, `solve_many`, `read_awards`); only the need rows and the
balance rows are ours. Unmet watts cost the scenario's penalty in the
objective, as the spec writes it; the imbalance left by DSO actions (with
`balance_dso`) costs the same per watt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import highspy
import numpy as np

from oracle.coordination.eligibility import eligibility
from oracle.engine import (
    LinearCut,
    Milp,
    Session,
    bid_groups,
    define_award_variables,
    define_cut_constraints,
    read_awards,
    solve_many,
)
from oracle.rules import ValidBid, injection_sign
from oracle.scenario import Scenario


def define_layered_need_constraints(
    m: Milp, session: Session, layer_of: Mapping[int, int], penalty: int,
    floor: Mapping[tuple[int, int], int] | None = None,
) -> None:
    """need(r, t) <= watts counted toward r + unmet(r, t), a watt counted once per layer.

    Per layer, bids with the same eligible requests form a class; a class with
    one target in a slot feeds that need row directly, otherwise continuous
    split variables bounded by the class's awards in that slot.

    With `floor` ((request, slot) -> unmet watts when every bid is fully awarded),
    unmet watts are free but bounded by the floor (the engine's lexicographic regime):
    no penalty coefficient, and no unmet column where the floor is zero. The bound is
    stated per *group*: the needs of one layer and slot that share bids; a group's
    least unmet is the sum of its members' (groups are independent max-flows), and
    stating it per group rather than per slot keeps zones apart in the model.
    """
    terms: dict[tuple[int, int], tuple[list[int], list[float]]] = {
        key: ([], []) for key in session.needs
    }
    group: dict[tuple[int, int], tuple[int, int]] = {key: key for key in session.needs}

    def find(key: tuple[int, int]) -> tuple[int, int]:
        while group[key] != key:
            group[key] = group[group[key]]
            key = group[key]
        return key
    for layer in sorted(set(layer_of.values())):
        classes: dict[tuple[int, ...], list[ValidBid]] = defaultdict(list)
        for bid in session.bids:
            reqs = tuple(r for r in session.eligible.get(bid.id, ()) if layer_of[r] == layer)
            if reqs and bid.id in m.award_col:
                classes[reqs].append(bid)
        for reqs, bids in sorted(classes.items()):
            active: dict[int, list[ValidBid]] = defaultdict(list)
            for bid in bids:
                for t in bid.slots:
                    active[t].append(bid)
            for t in sorted(active):
                targets = [r for r in reqs if (r, t) in session.needs]
                for r in targets[1:]:
                    a, b = sorted((find((targets[0], t)), find((r, t))))
                    group[b] = a
                if len(targets) == 1:
                    cols, coefs = terms[(targets[0], t)]
                    for bid in active[t]:
                        cols.append(m.award_col[bid.id])
                        coefs.append(float(m.award_unit_w[bid.id]))
                    continue
                split = []
                for r in targets:
                    x = m.add_col(0, 0.0, float(session.needs[(r, t)]),
                                  highspy.HighsVarType.kContinuous)
                    split.append(x)
                    terms[(r, t)][0].append(x)
                    terms[(r, t)][1].append(1.0)
                if split:
                    m.add_row(split + [m.award_col[b.id] for b in active[t]],
                              [1.0] * len(split)
                              + [-float(m.award_unit_w[b.id]) for b in active[t]],
                              -np.inf, 0.0)
    group_floor: dict[tuple[int, int], int] = defaultdict(int)
    for key in session.needs:
        group_floor[find(key)] += floor.get(key, 0) if floor is not None else 0
    hard = {key for key in session.needs if floor is not None and not group_floor[find(key)]}
    implied = implied_need_rows(session, layer_of, terms, hard)
    free: dict[tuple[int, int], list[int]] = defaultdict(list)
    for (r, t), q in sorted(session.needs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cols, coefs = terms[(r, t)]
        coefs = [min(c, float(q)) for c in coefs]  # no column counts for more than the need
        if (r, t) in implied:
            continue
        if (r, t) in hard:
            m.need_row[(r, t)] = m.add_row(cols, coefs, float(q), np.inf)
            continue
        u = m.add_col(0 if floor is not None else penalty, 0.0, float(q),
                      highspy.HighsVarType.kInteger)
        m.unmet_col[(r, t)] = u
        free[find((r, t))].append(u)
        m.need_row[(r, t)] = m.add_row(cols + [u], coefs + [1.0], float(q), np.inf)
    if floor is not None:
        for key, us in sorted(free.items()):
            m.add_row(us, [1.0] * len(us), -np.inf, float(group_floor[key]))


def implied_need_rows(
    session: Session, layer_of: Mapping[int, int],
    terms: Mapping[tuple[int, int], tuple[list[int], list[float]]],
    hard: set[tuple[int, int]],
) -> set[tuple[int, int]]:
    """Need rows that other layers' rows imply: left out of the model, which stays exact.

    A row R, sum(min(w_j, D) x_j) >= D, with no unmet column, is implied by rows
    R_1..R_k of *other* layers (no unmet columns either), sum(min(w_j, D_i) x_j) >= D_i,
    when their columns are disjoint, every column of each R_i is in R with the same
    watts w_j, and sum(min(D, D_i)) >= D: min(w, D) >= min(w, D_i) * min(D, D_i) / D_i
    for every w >= 0, so R_i gives sum over its columns of min(w_j, D) x_j >= min(D, D_i),
    for integer and fractional x alike (the LP relaxation is unchanged too). Under common
    coupling this is the usual case of a system-wide need no larger than the zonal needs
    of its slot: the zones' own rows already carry it, and without that one row coupling
    every zone the model falls apart into one small part per zone (`optimise_layers`).
    """
    by_slot: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for key in sorted(hard):
        by_slot[key[1]].append(key)
    out: set[tuple[int, int]] = set()
    for _, keys in sorted(by_slot.items()):
        for key in keys:
            need = session.needs[key]
            weight = dict(zip(*terms[key], strict=True))
            covered, used = 0, set[int]()
            for other in keys:
                if other in out or layer_of[other[0]] == layer_of[key[0]]:
                    continue
                cols, coefs = terms[other]
                if not cols or used.intersection(cols) or any(
                    weight.get(c) != w for c, w in zip(cols, coefs, strict=True)
                ):
                    continue
                used.update(cols)
                covered += min(need, session.needs[other])
                if covered >= need:
                    out.add(key)
                    break
    return out


def define_balance_constraints(
    m: Milp, session: Session, slots: Sequence[int], fixed_net_w: Mapping[int, int],
    cost_per_w: int,
) -> None:
    """In each slot: net activation (up - down) == net the system-wide requests receive,
    up to an imbalance costing `cost_per_w`. `fixed_net_w` is what earlier stages left."""
    requests = session.scenario.requests
    for t in slots:
        cols: list[int] = []
        coefs: list[float] = []
        for bid in session.bids:
            if bid.id in m.award_col and t in bid.slots:
                cols.append(m.award_col[bid.id])
                sign = float(injection_sign(bid.direction))
                coefs.append(sign * m.award_unit_w[bid.id])
        # received by a system-wide request = need - unmet
        rhs = -float(fixed_net_w.get(t, 0))
        for (r, slot), q in session.needs.items():
            if slot == t and requests[r].zone is None:
                sign = float(injection_sign(requests[r].direction))
                cols.append(m.unmet_col[(r, t)])
                coefs.append(sign)
                rhs += sign * q
        short = m.add_col(cost_per_w, 0.0, np.inf, highspy.HighsVarType.kInteger)
        excess = m.add_col(cost_per_w, 0.0, np.inf, highspy.HighsVarType.kInteger)
        m.add_row(cols + [short, excess], coefs + [1.0, -1.0], rhs, rhs)


def optimise_layers(
    scenario: Scenario,
    bids: Sequence[ValidBid],
    needs: Mapping[tuple[int, int], int],
    layer_of: Mapping[int, int],
    cuts: Sequence[LinearCut],
    *,
    exact: bool,
    balance_slots: Sequence[int] = (),
    fixed_net_w: Mapping[int, int] | None = None,
) -> dict[str, int]:
    """Cost-minimal awards (W per bid, zero awards omitted) of one coordination model.

    With `balance_slots`, every bid active in one of them may be awarded as a
    counter-activation even when it serves no request.
    """
    eligible = eligibility(scenario, bids, needs)
    balance = set(balance_slots)
    if balance:
        for bid in bids:
            if bid.id not in eligible and balance.intersection(bid.slots):
                eligible[bid.id] = ()
    penalty = scenario.unmet_penalty_eur_per_mw
    groups = [list(bids)] if balance else independent_parts(bids, eligible, cuts)
    awards: dict[str, int] = {}
    milps: list[Milp] = []
    for part in groups:
        ids = {b.id for b in part}
        reqs = {r for b in part for r in eligible.get(b.id, ())}
        session = Session(
            scenario=scenario,
            bids=[b for b in part if b.id in eligible],
            needs={k: q for k, q in needs.items() if balance or k[0] in reqs},
            eligible={b: e for b, e in eligible.items() if b in ids},
        )
        m = Milp()
        define_award_variables(m, session)
        part_cuts = [c for c in cuts if _touches(c, m)]
        floor = None
        if not balance and not part_cuts and penalty > max(
            (max(b.price_eur_per_mw, 0) * b.quantity_w for b in session.bids), default=0
        ):
            floor = least_unmet(scenario, session.bids, session.needs, layer_of)
        define_layered_need_constraints(m, session, layer_of, penalty, floor)
        define_cut_constraints(m, session, part_cuts)
        if balance:
            # balance is worth any offered price, but never a need: it costs one µEUR per W
            # more than the dearest bid, far below the unmet penalty
            dearest = max((b.price_eur_per_mw for b in session.bids), default=0)
            define_balance_constraints(m, session, sorted(balance), fixed_net_w or {},
                                       min(max(dearest, 0) + 1, penalty))
        if m.cost:
            milps.append(m)
    for m, values in zip(milps, solve_many(milps, exact), strict=True):
        awards.update(read_awards(m, values))
    return awards


def least_unmet(
    scenario: Scenario, bids: Sequence[ValidBid], needs: Mapping[tuple[int, int], int],
    layer_of: Mapping[int, int],
) -> dict[tuple[int, int], int]:
    """(request, slot) -> unmet watts with every bid fully awarded: summed over a group of
    needs sharing bids (define_layered_need_constraints), a floor for any award set.

    Served watts are a sum of max-flows, submodular in the awards: while more can be
    served, raising one bid to its full quantity serves at least one more watt, at a cost
    below the penalty (checked by the caller). So minimal unmet comes first, and it is
    this floor, as long as no cut forbids the full awards.
    """
    from oracle.coordination.allocation import allocate_layers

    full = {b.id: b.quantity_w for b in bids}
    unmet = allocate_layers(scenario, bids, full, needs, layer_of).unmet
    return {key: w for key, w in unmet.items() if w}


def independent_parts(
    bids: Sequence[ValidBid], eligible: Mapping[str, tuple[int, ...]],
    cuts: Sequence[LinearCut],
) -> list[list[ValidBid]]:
    """Bids that share no request and no cut can be optimised apart (smaller MILPs)."""
    return bid_groups(bids, eligible, cuts)[0]


def _touches(cut: LinearCut, m: Milp) -> bool:
    return any(b in m.award_col for b, _ in cut.terms)
