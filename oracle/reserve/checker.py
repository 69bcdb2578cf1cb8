"""The reserve market's independent checker: re-validates a reserve result against its file
without the solver and without the clearing's code (proposing and checking apart, as
`oracle.checker` and `oracle.capacity.checker`).

What it checks, each violation naming where:
- the hashes: `input_hash` of the file, `result_hash` of the body;
- the offers: exactly the offer ids that are late, cancelled or break a rule are rejected;
  every award is the version in force of a valid offer, at its own prices and aggregator,
  whole granularity steps, within the offer, 0 or at least its minimum (divisible), all or
  nothing (indivisible);
- quantities: the awards within `max_quantity_w`, `awarded_w` and `unmet_w` their sums;
- money: each award's availability, budget and collateral, the expected cost and the budget
  (`oracle.reserve.money`, the one home of the formulas, which the contract mirrors);
- optimality, by its own exact search (dynamic programming over granularity steps, not the
  MILP): no awards leave fewer watts unmet, nor cost less with as few unmet. Skipped, and said
  so in `notes`, when the search would exceed `SEARCH_LIMIT` steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from oracle.canonical import canonical_json, keccak_hex
from oracle.reserve.files import Offer, Period, ReserveFile, expected_minutes, max_quantity_w
from oracle.reserve.money import (
    availability_per_day_ueur,
    budget_ueur,
    expected_cost_per_w_x240,
    per_w_ueur,
)
from oracle.reserve.result import ReserveResult

SEARCH_LIMIT = 50_000_000
_INF = np.int64(2**62)


@dataclass(frozen=True)
class Violation:
    where: str  # "awards[O1].quantity_w", "result_hash", "optimality"
    message: str


def _in_force(f: ReserveFile) -> dict[str, Offer]:
    """The checker's own reading: per offer id, the highest version at or before gate
    closure."""
    out: dict[str, Offer] = {}
    for o in f.offers:
        if o.submitted_at <= f.tender.gate_closure and (
                o.id not in out or o.version > out[o.id].version):
            out[o.id] = o
    return out


def _breaks_a_rule(f: ReserveFile, o: Offer) -> bool:
    t = f.tender
    roles = {p.id: p.role for p in f.participants}
    return (o.cancelled or roles.get(o.aggregator) != "aggregator" or o.quantity_w <= 0
            or o.quantity_w % t.granularity_w != 0
            or (o.min_quantity_w or 0) > o.quantity_w
            or o.availability_price_eur_per_mw_h > t.availability_price_cap_eur_per_mw_h
            or o.utilisation_price_eur_per_mwh > t.utilisation_price_cap_eur_per_mwh
            or not o.assets)


def _allowed_units(o: Offer, g: int) -> tuple[int, int]:
    """(least, most) granularity steps of an award other than 0."""
    if not o.divisible:
        return o.quantity_w // g, o.quantity_w // g
    least = max(-(-(o.min_quantity_w or g) // g), 1)
    return least, o.quantity_w // g


def best_by_search(f: ReserveFile, offers: list[Offer]) -> tuple[int, int] | None:
    """(least unmet W, least expected cost x240 with it) over every allowed award, by dynamic
    programming over awarded granularity steps; None when too large to search."""
    t = f.tender
    g = t.granularity_w
    top = max_quantity_w(t) // g
    work = sum((_allowed_units(o, g)[1] - _allowed_units(o, g)[0] + 1) for o in offers) \
        * (top + 1)
    if work > SEARCH_LIMIT:
        return None
    period = Period.of(t)
    dp = np.full(top + 1, _INF, dtype=np.int64)
    dp[0] = 0
    for o in offers:
        per_unit = expected_cost_per_w_x240(
            o.availability_price_eur_per_mw_h, o.utilisation_price_eur_per_mwh,
            period.quarters_per_day, t.days, t.expected_activations, expected_minutes(t)) * g
        least, most = _allowed_units(o, g)
        new = dp.copy()
        for k in range(least, min(most, top) + 1):
            shifted = np.where(dp[:top + 1 - k] < _INF, dp[:top + 1 - k] + per_unit * k, _INF)
            new[k:] = np.minimum(new[k:], shifted)
        dp = new
    reachable = np.flatnonzero(dp < _INF)
    unmet = np.maximum(0, t.quantity_w - reachable * g)
    least_unmet = int(unmet.min())
    cost = int(dp[reachable[unmet == least_unmet]].min())
    return least_unmet, cost


def check_reserve(f: ReserveFile, result: ReserveResult,
                  notes: list[str] | None = None) -> list[Violation]:
    """Every violation of `result` against `f`; `notes` (when given) gets what was not
    checked (the optimality of a result too large for the exact search)."""
    out: list[Violation] = []

    def fail(where: str, message: str) -> None:
        out.append(Violation(where, message))

    t = f.tender
    g = t.granularity_w
    period = Period.of(t)
    q_day = period.quarters_per_day
    if result.input_hash != keccak_hex(canonical_json(f.canonical())):
        fail("input_hash", "is not keccak256 of the canonical file")
    if result.result_hash != result.compute_result_hash():
        fail("result_hash", "does not match the result's body")
    if (result.tender, result.product, result.zone, result.direction) != (
            t.id, t.product, t.zone, t.direction):
        fail("tender", "tender, product, zone or direction differs from the file's")
    in_force = _in_force(f)
    valid = {oid: o for oid, o in in_force.items() if not _breaks_a_rule(f, o)}
    should_reject = {o.id for o in f.offers} - set(valid)
    rejected = [r.offer for r in result.rejected]
    if sorted(set(rejected)) != sorted(should_reject) or len(rejected) != len(set(rejected)):
        fail("rejected", f"lists {sorted(set(rejected))}, the file's late, cancelled or invalid "
             f"offers are {sorted(should_reject)}")
    seen: set[str] = set()
    awarded = 0
    expected = 0
    for a in result.awards:
        where = f"awards[{a.offer}]"
        if a.offer in seen:
            fail(where, "awarded twice")
            continue
        seen.add(a.offer)
        o = valid.get(a.offer)
        if o is None:
            fail(where, "is not a valid offer in force")
            continue
        if (a.version, a.aggregator, a.availability_price_eur_per_mw_h,
                a.utilisation_price_eur_per_mwh) != (
                o.version, o.aggregator, o.availability_price_eur_per_mw_h,
                o.utilisation_price_eur_per_mwh):
            fail(where, f"version, aggregator or prices differ from version {o.version} in "
                 "force")
        least, most = _allowed_units(o, g)
        q = a.quantity_w
        if q % g or not least * g <= q <= most * g:
            fail(f"{where}.quantity_w", f"{q} is not an allowed award of the offer "
                 f"({'all or nothing' if not o.divisible else 'steps of ' + str(g)}, "
                 f"{least * g} to {most * g} W)")
        awarded += q
        avail = t.days * availability_per_day_ueur(a.availability_price_eur_per_mw_h, q, q_day)
        budget = budget_ueur(a.availability_price_eur_per_mw_h,
                             a.utilisation_price_eur_per_mwh, q, q_day, t.days,
                             t.max_activations, t.max_activation_minutes // 15)
        if (a.availability_ueur, a.budget_ueur, a.collateral_ueur) != (
                avail, budget, per_w_ueur(t.collateral_eur_per_mw, q)):
            fail(f"{where}.money", f"availability {a.availability_ueur}, budget "
                 f"{a.budget_ueur}, collateral {a.collateral_ueur} µEUR; the rules give "
                 f"{avail}, {budget}, {per_w_ueur(t.collateral_eur_per_mw, q)}")
        expected += expected_cost_per_w_x240(
            a.availability_price_eur_per_mw_h, a.utilisation_price_eur_per_mwh, q_day, t.days,
            t.expected_activations, expected_minutes(t)) * q
    if awarded > max_quantity_w(t):
        fail("awarded_w", f"{awarded} W awarded, above max_quantity_w {max_quantity_w(t)}")
    if result.awarded_w != awarded or result.unmet_w != max(0, t.quantity_w - awarded):
        fail("awarded_w", f"awarded_w {result.awarded_w}, unmet_w {result.unmet_w}; the awards "
             f"give {awarded} and {max(0, t.quantity_w - awarded)}")
    if result.expected_cost_x240 != expected:
        fail("expected_cost_x240", f"{result.expected_cost_x240}; the awards give {expected}")
    if result.budget_ueur != sum(a.budget_ueur for a in result.awards):
        fail("budget_ueur", "is not the sum of the awards' budgets")
    if not out:
        best = best_by_search(f, sorted(valid.values(), key=lambda o: o.id))
        if best is None:
            if notes is not None:
                notes.append(f"optimality not checked: the exact search is beyond "
                             f"{SEARCH_LIMIT:,} steps (a replica re-solves instead)")
        elif (result.unmet_w, result.expected_cost_x240) != best:
            fail("optimality", f"unmet {result.unmet_w} W at expected cost "
                 f"{result.expected_cost_x240} /240 µEUR; the best is unmet {best[0]} W at "
                 f"{best[1]}")
    return out
