"""The coordination MILP: needs in layers, zone cuts, optional balance rows.

The engine's model counts a watt toward one request only. Common coupling
counts it once per *layer*: zonal requests (congestion points) form one layer,
system-wide requests (TSO reserve, BRP balancing) another, so one activation
may relieve its zone and serve a system-wide need of the same direction and
slot at once. A sequential stage is the one-layer case.

Built with the engine's pieces (`Milp`, `define_award_variables`,
`define_cut_constraints`, `solve`, `read_awards`); only the need rows and the
balance rows are ours. Unmet watts cost the scenario's penalty in the
objective, as the spec writes it; the imbalance left by DSO actions (with
`balance_dso`) costs the same per watt.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import highspy
import numpy as np

from oracle.engine import (
    LinearCut,
    Milp,
    Session,
    define_award_variables,
    define_cut_constraints,
    read_awards,
    solve,
)
from oracle.rules import ValidBid
from oracle.scenario import Scenario


def eligibility(
    scenario: Scenario, bids: Sequence[ValidBid], needs: Mapping[tuple[int, int], int]
) -> dict[str, tuple[int, ...]]:
    """Bid id -> requests it may serve (direction, zone, price cap) among those with a need
    in one of its slots; bids that serve none are left out."""
    requests = scenario.requests
    with_need = sorted({r for r, _ in needs})
    out = {}
    for bid in bids:
        ok = tuple(
            r for r in with_need
            if requests[r].direction == bid.direction
            and requests[r].zone in (None, bid.zone)
            and bid.price_eur_per_mw <= _cap(requests[r].max_price_eur_per_mw)
            and any((r, t) in needs for t in bid.slots)
        )
        if ok:
            out[bid.id] = ok
    return out


def _cap(max_price: int | None) -> int | float:
    return float("inf") if max_price is None else max_price


def define_layered_need_constraints(
    m: Milp, session: Session, layer_of: Mapping[int, int], penalty: int
) -> None:
    """need(r, t) <= watts counted toward r + unmet(r, t), a watt counted once per layer.

    Per layer, bids with the same eligible requests form a class; a class with
    one target in a slot feeds that need row directly, otherwise continuous
    split variables bounded by the class's awards in that slot.
    """
    terms: dict[tuple[int, int], tuple[list[int], list[float]]] = {
        key: ([], []) for key in session.needs
    }
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
    for (r, t), q in sorted(session.needs.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        cols, coefs = terms[(r, t)]
        u = m.add_col(penalty, 0.0, float(q), highspy.HighsVarType.kInteger)
        m.unmet_col[(r, t)] = u
        m.need_row[(r, t)] = m.add_row(cols + [u], coefs + [1.0], float(q), np.inf)


def define_balance_constraints(
    m: Milp, session: Session, slots: Sequence[int], fixed_net_w: Mapping[int, int],
    penalty: int,
) -> None:
    """In each slot: net activation (up - down) == net the system-wide requests receive,
    up to a penalised imbalance. `fixed_net_w` is what earlier stages left per slot."""
    requests = session.scenario.requests
    for t in slots:
        cols: list[int] = []
        coefs: list[float] = []
        for bid in session.bids:
            if bid.id in m.award_col and t in bid.slots:
                cols.append(m.award_col[bid.id])
                sign = 1.0 if bid.direction == "up" else -1.0
                coefs.append(sign * m.award_unit_w[bid.id])
        # received by a system-wide request = need - unmet
        rhs = -float(fixed_net_w.get(t, 0))
        for (r, slot), q in session.needs.items():
            if slot == t and requests[r].zone is None:
                sign = 1.0 if requests[r].direction == "up" else -1.0
                cols.append(m.unmet_col[(r, t)])
                coefs.append(sign)
                rhs += sign * q
        short = m.add_col(penalty, 0.0, np.inf, highspy.HighsVarType.kInteger)
        excess = m.add_col(penalty, 0.0, np.inf, highspy.HighsVarType.kInteger)
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
    session = Session(scenario=scenario, bids=list(bids), needs=dict(needs), eligible=eligible)
    penalty = scenario.unmet_penalty_eur_per_mw
    m = Milp()
    define_award_variables(m, session)
    define_layered_need_constraints(m, session, layer_of, penalty)
    define_cut_constraints(m, session, [c for c in cuts if _touches(c, m)])
    if balance:
        define_balance_constraints(m, session, sorted(balance), fixed_net_w or {}, penalty)
    if not m.cost:
        return {}
    return read_awards(m, solve(m, exact))


def _touches(cut: LinearCut, m: Milp) -> bool:
    return any(b in m.award_col for b, _ in cut.terms)
