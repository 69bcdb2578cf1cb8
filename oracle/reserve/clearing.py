"""Reserve clearing: the awards of least expected cost that cover the tender, exact, on HiGHS.

The expected cost of an offer's watt is its availability over every available hour of the
period plus the tender's expected activations, each of `expected_activation_minutes`, at its
utilisation price (`money.expected_cost_per_w_x240`, exact in µEUR / 240). In order, each with
the earlier ones fixed (lexicographic, like the capacity market's tie rule):

1. the least unmet watts (`quantity_w` covered when the offers can; the awards never exceed
   `max_quantity_w`);
2. the least expected cost;
3. in tie-break order (earlier submission of the version in force, then the smaller id), each
   offer as many granularity steps as the earlier ones allow.

Divisible offers take whole granularity steps, 0 or from their minimum; indivisible ones all
or nothing. Every objective is an integer and the absolute gap is below one, so the optimum is
exact; sums beyond 2**53 (the solver's exact integers) are refused.
"""

from __future__ import annotations

import highspy
import numpy as np

from oracle.errors import SolverError
from oracle.parallel import run_highs
from oracle.reserve.files import (
    Period,
    ReserveFile,
    ValidOffer,
    expected_minutes,
    max_quantity_w,
    validate,
)
from oracle.reserve.money import (
    EXPECTED_COST_SCALE,
    availability_per_day_ueur,
    budget_ueur,
    expected_cost_per_w_x240,
    per_w_ueur,
)
from oracle.reserve.result import ReserveAward, ReserveRejection, ReserveResult

EXACT_MAX = 2**53
INTEGER = int(highspy.HighsVarType.kInteger)
SEMI_INTEGER = int(highspy.HighsVarType.kSemiInteger)


def offer_cost_per_w_x240(f: ReserveFile, o: ValidOffer) -> int:
    t = f.tender
    period = Period.of(t)
    return expected_cost_per_w_x240(o.availability_price, o.utilisation_price,
                                    period.quarters_per_day, t.days, t.expected_activations,
                                    expected_minutes(t))


def award_of(f: ReserveFile, o: ValidOffer, quantity_w: int) -> ReserveAward:
    """An award's money: what the contract escrows and locks for it."""
    t = f.tender
    period = Period.of(t)
    return ReserveAward(
        offer=o.id, version=o.version, aggregator=o.aggregator, quantity_w=quantity_w,
        availability_price_eur_per_mw_h=o.availability_price,
        utilisation_price_eur_per_mwh=o.utilisation_price,
        availability_ueur=t.days * availability_per_day_ueur(
            o.availability_price, quantity_w, period.quarters_per_day),
        budget_ueur=budget_ueur(o.availability_price, o.utilisation_price, quantity_w,
                                period.quarters_per_day, t.days, t.max_activations,
                                t.max_activation_minutes // 15),
        collateral_ueur=per_w_ueur(t.collateral_eur_per_mw, quantity_w),
    )


def _columns(offers: list[ValidOffer], g: int
             ) -> tuple[list[float], list[float], list[int], list[int]]:
    """Per offer one column: units of `g` (divisible) or 0/1 (indivisible). Returns the
    bounds, the kinds and the watts of one unit."""
    lower, upper, kind, unit_w = [], [], [], []
    for o in offers:
        if not o.divisible:
            lower.append(0.0)
            upper.append(1.0)
            kind.append(INTEGER)
            unit_w.append(o.quantity_w)
            continue
        kmin = -(-o.min_quantity_w // g)
        lower.append(float(kmin) if kmin > 1 else 0.0)
        upper.append(float(o.quantity_w // g))
        kind.append(SEMI_INTEGER if kmin > 1 else INTEGER)  # semi: 0 or kmin..kmax
        unit_w.append(g)
    return lower, upper, kind, unit_w


def clear_reserve(f: ReserveFile) -> ReserveResult:
    """Clear a reserve file: the sealed result."""
    t = f.tender
    g = t.granularity_w
    valid, rejected = validate(f)
    need, most = t.quantity_w, max_quantity_w(t)
    lower, upper, kind, unit_w = _columns(valid, g)
    cost = [offer_cost_per_w_x240(f, o) * w for o, w in zip(valid, unit_w, strict=True)]
    n = len(valid)
    if sum(c * int(u) for c, u in zip(cost, upper, strict=True)) > EXACT_MAX \
            or sum(w * int(u) for w, u in zip(unit_w, upper, strict=True)) > EXACT_MAX:
        raise SolverError("reserve clearing: the offers' expected cost or watts exceed 2**53, "
                          "the largest integer the solver holds exactly")
    # column n: unmet watts. Rows: 0 cover (sum W + unmet >= need), 1 at most max_quantity_w.
    col_entries: list[list[tuple[int, float]]] = [[(0, float(w)), (1, float(w))]
                                                  for w in unit_w]
    col_entries.append([(0, 1.0)])
    lo = lower + [0.0]
    hi = upper + [float(need)]
    kinds = kind + [INTEGER]

    def solve(objective: list[int], fixed: list[tuple[list[int], float, float]]) -> list[int]:
        entries = [list(e) for e in col_entries]
        row_lower = [float(need), -np.inf]
        row_upper = [np.inf, float(most)]
        for coefs, low, high in fixed:
            for c, coef in enumerate(coefs):
                if coef:
                    entries[c].append((len(row_lower), float(coef)))
            row_lower.append(low)
            row_upper.append(high)
        start, index, value = [0], [], []
        for e in entries:
            for k, x in e:
                index.append(k)
                value.append(x)
            start.append(len(index))
        outcome = run_highs({
            "cost": [float(v) for v in objective], "lower": lo, "upper": hi, "kind": kinds,
            "row_lower": row_lower, "row_upper": row_upper, "start": start, "index": index,
            "value": value, "rel_gap": 0.0, "abs_gap": 0.5, "merge_parallel": True,
        })
        if outcome["status"] != "Optimal":
            raise SolverError(f"reserve clearing: HiGHS ended {outcome['status']}")
        return [round(v) for v in outcome["values"]]

    unmet_only = [0] * n + [1]
    solution = solve(unmet_only, [])
    fixed: list[tuple[list[int], float, float]] = [
        (unmet_only, solution[n] - 0.5, solution[n] + 0.5)]
    cost_row = cost + [0]
    solution = solve(cost_row, fixed)
    best = sum(c * v for c, v in zip(cost_row, solution, strict=True))
    fixed.append((cost_row, -np.inf, best + 0.5))
    for i in range(n):  # valid offers are in tie-break order
        mine = [0] * (n + 1)
        mine[i] = 1
        if solution[i] < int(upper[i]):
            solution = solve([-v for v in mine], fixed)
        fixed.append((mine, solution[i] - 0.5, solution[i] + 0.5))
    awards = [award_of(f, o, solution[i] * unit_w[i]) for i, o in enumerate(valid)
              if solution[i]]
    awards.sort(key=lambda a: a.offer)
    awarded = sum(a.quantity_w for a in awards)
    result = ReserveResult(
        tender=t.id, product=t.product, zone=t.zone, direction=t.direction, awards=awards,
        rejected=[ReserveRejection(offer=oid, reason=rejected[oid]) for oid in sorted(rejected)],
        awarded_w=awarded, unmet_w=max(0, need - awarded),
        expected_cost_x240=sum(offer_cost_per_w_x240(f, o) * solution[i] * unit_w[i]
                               for i, o in enumerate(valid)),
        budget_ueur=sum(a.budget_ueur for a in awards),
    )
    return result.sealed(f.input_hash())


__all__ = ["EXPECTED_COST_SCALE", "clear_reserve"]
