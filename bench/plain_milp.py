"""The textbook MILP of a session, the reference the engine is measured against (issue 13).

One integer award per valid bid (a binary for an indivisible bid, a number of granularity
steps for a divisible one, semi-integer with a minimum), a need row per request and slot,
a continuous split part per bid, request and slot where a bid may serve several requests
of that slot, a continuous unmet part per request and slot priced at the session's penalty
in the objective (no least-unmet-first step, no Hall rows, no digits, no relax-and-round).
The session is split into its independent parts (bids sharing no request), each solved by
HiGHS on one thread, one after the other, exactly (absolute gap below one unit of the
objective's gcd: every objective value is a multiple of it) unless `rel_gap` is given.

What a session *is* (valid bids, needs, the requests a bid may serve) comes from
oracle.engine.build_session: that is the market's definition, not a modelling choice.
The cost of the answer is recomputed exactly (integer awards, unmet by max-flow:
oracle.engine.allocate), so the two objectives are compared as integers.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import highspy
import numpy as np

from oracle.engine import Session, allocate, bid_groups, build_session
from oracle.rules import ValidBid
from oracle.scenario import Scenario


@dataclass(frozen=True)
class PlainOutcome:
    seconds: float
    objective_ueur: int  # awards at bid prices + penalty * unmet, recomputed exactly
    dual_bound_ueur: float
    parts: int
    largest_part_cols: int
    optimal: bool  # every part solved to its gap


def objective_ueur(session: Session, awards_w: dict[str, int]) -> int:
    """Awards at bid prices plus the penalty of the unmet watts (max-flow split)."""
    price = {b.id: b.price_eur_per_mw for b in session.bids}
    unmet = allocate(session, awards_w)
    return (sum(w * price[b] for b, w in awards_w.items())
            + session.scenario.unmet_penalty_eur_per_mw * sum(unmet.values()))


def _solve_part(session: Session, bids: list[ValidBid], needs: dict[tuple[int, int], int],
                rel_gap: float | None, time_limit_s: float,
                ) -> tuple[dict[str, int], float, bool, int]:
    g = session.scenario.market.granularity_w
    penalty = session.scenario.unmet_penalty_eur_per_mw
    cost: list[float] = []
    lower: list[float] = []
    upper: list[float] = []
    kind: list[highspy.HighsVarType] = []
    rows: list[dict[int, float]] = []
    row_lo: list[float] = []
    row_hi: list[float] = []

    def col(c: float, lo: float, hi: float, k: highspy.HighsVarType) -> int:
        cost.append(c)
        lower.append(lo)
        upper.append(hi)
        kind.append(k)
        return len(cost) - 1

    need_row: dict[tuple[int, int], int] = {}
    for (r, t), q in sorted(needs.items()):
        u = col(penalty, 0.0, float(q), highspy.HighsVarType.kContinuous)
        need_row[(r, t)] = len(rows)
        rows.append({u: 1.0})
        row_lo.append(float(q))
        row_hi.append(np.inf)
    award: dict[str, tuple[int, int]] = {}
    for bid in bids:
        if not bid.divisible or bid.min_quantity_w >= bid.quantity_w:
            j = col(bid.price_eur_per_mw * bid.quantity_w, 0, 1, highspy.HighsVarType.kInteger)
            unit = bid.quantity_w
        else:
            k_min = -(-bid.min_quantity_w // g)
            semi = k_min > 1
            j = col(bid.price_eur_per_mw * g, k_min if semi else 0, bid.quantity_w // g,
                    highspy.HighsVarType.kSemiInteger if semi else highspy.HighsVarType.kInteger)
            unit = g
        award[bid.id] = (j, unit)
        reqs = session.eligible[bid.id]
        for t in bid.slots:
            served = [r for r in reqs if (r, t) in needs]
            if len(served) == 1:
                rows[need_row[(served[0], t)]][j] = float(unit)
            elif served:
                link = {j: -float(unit)}
                for r in served:
                    x = col(0.0, 0.0, np.inf, highspy.HighsVarType.kContinuous)
                    rows[need_row[(r, t)]][x] = 1.0
                    link[x] = 1.0
                rows.append(link)
                row_lo.append(-np.inf)
                row_hi.append(0.0)
    scale = 0
    for c in cost:
        scale = math.gcd(scale, int(c))
    scale = scale or 1
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(cost), len(rows)
    lp.col_cost_ = np.asarray(cost) / scale
    lp.col_lower_ = np.asarray(lower, dtype=float)
    lp.col_upper_ = np.asarray(upper, dtype=float)
    lp.row_lower_ = np.asarray(row_lo, dtype=float)
    lp.row_upper_ = np.asarray(row_hi, dtype=float)
    per_col: list[list[tuple[int, float]]] = [[] for _ in cost]
    for i, row in enumerate(rows):
        for j, v in row.items():
            per_col[j].append((i, v))
    start, index, value = [0], [], []
    for entries in per_col:
        for i, v in sorted(entries):
            index.append(i)
            value.append(v)
        start.append(len(index))
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.asarray(start, dtype=np.int32)
    lp.a_matrix_.index_ = np.asarray(index, dtype=np.int32)
    lp.a_matrix_.value_ = np.asarray(value, dtype=float)
    lp.integrality_ = kind
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 1)
    h.setOptionValue("random_seed", 0)
    h.setOptionValue("mip_rel_gap", 0.0 if rel_gap is None else rel_gap)
    h.setOptionValue("mip_abs_gap", 0.999 if rel_gap is None else 0.0)
    h.setOptionValue("time_limit", max(time_limit_s, 0.01))
    h.passModel(lp)
    h.run()
    status = h.modelStatusToString(h.getModelStatus())
    values = h.getSolution().col_value
    awards = {}
    for bid_id, (j, unit) in award.items():
        k = round(values[j])
        if k:
            awards[bid_id] = k * unit
    return awards, h.getInfo().mip_dual_bound * scale, status == "Optimal", len(cost)


def solve_plain(scenario: Scenario, rel_gap: float | None = None,
                time_limit_s: float = 3600.0) -> PlainOutcome:
    """The session's optimum by the textbook MILP, part by part (exact unless `rel_gap`),
    stopping at `time_limit_s` in all (then `optimal` is False: the figure is a floor)."""
    t0 = time.perf_counter()
    session, _ = build_session(scenario)
    groups, find = bid_groups(session.bids, session.eligible)
    awards: dict[str, int] = {}
    bound = 0.0
    optimal = True
    largest = 0
    covered: set[tuple[int, int]] = set()
    for bids in groups:
        root = find(("b", bids[0].id))
        needs = {k: q for k, q in session.needs.items() if find(("r", k[0])) == root}
        covered.update(needs)
        left = time_limit_s - (time.perf_counter() - t0)
        part_awards, part_bound, ok, n_cols = _solve_part(session, bids, needs, rel_gap, left)
        awards.update(part_awards)
        bound += part_bound
        optimal = optimal and ok
        largest = max(largest, n_cols)
    # needs no bid can serve are unmet whatever is done: the same penalty for everyone
    unserved = sum(q for k, q in session.needs.items() if k not in covered)
    bound += session.scenario.unmet_penalty_eur_per_mw * unserved
    return PlainOutcome(
        seconds=time.perf_counter() - t0,
        objective_ueur=objective_ueur(session, awards),
        dual_bound_ueur=bound,
        parts=len(groups),
        largest_part_cols=largest,
        optimal=optimal,
    )
