"""Capacity clearing (`../shared/spec/capacity.md`), per zone, exact and deterministic.

- Premium, DAM: the allocation of largest welfare `sum(price * allocated_w)`; among those,
  the tie rule of the whole capacity market, lexicographic in the (submitted_at, id) order:
  the earliest request as much as it can get, then the next, and so on. When every request
  is divisible without a minimum above the granularity, the greedy by price, then that order,
  is that allocation (each granularity step is worth its price alone); otherwise MILPs on
  HiGHS per zone: the largest welfare, then, request by request in order, its most units at
  that welfare with the earlier ones fixed (skipped when the incumbent already gives it all
  it asked). Exact: objectives are integers and the absolute gap is below one.
- Uniform pricing: where some valid request did not get all it asked in a slot, the lowest
  price allocated there (the reserve price if none), elsewhere the reserve price.
- Social equity, DAM: fcfs, largest_first (total requested watts, then rank) or pro_rata.
- IDM: releases and requests one by one in submitted_at order (at one instant releases first,
  then requests by id); a request gets what the DAM rule gives it alone against what is left
  (fcfs step; premium: it pays its own price). A release returns capacity at once; one that
  returns more than its request holds in some slot is refused whole, with a reason.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

import highspy
import numpy as np

from oracle.capacity.files import (
    CapacityFile,
    Release,
    ValidRequest,
    order_key,
    per_slot,
    validate,
)
from oracle.capacity.result import Allocation, CapacityResult, Rejection
from oracle.errors import SolverError
from oracle.parallel import run_highs

EXACT_MAX = 2**53
INTEGER = int(highspy.HighsVarType.kInteger)
SEMI_INTEGER = int(highspy.HighsVarType.kSemiInteger)


@dataclass
class ZoneState:
    remaining: list[int]  # W per slot (negative when earlier holdings exceed the capacity)


def _step(r: ValidRequest, remaining: list[int], g: int) -> list[int]:
    """What one request gets alone against `remaining`: the fcfs step of the spec."""
    if not r.divisible:
        if all(q <= max(rem, 0) for q, rem in zip(r.quantity_w, remaining, strict=True)):
            return list(r.quantity_w)
        return [0] * len(remaining)
    out = []
    for q, rem in zip(r.quantity_w, remaining, strict=True):
        a = min(q, max(rem, 0)) // g * g
        out.append(a if a >= r.min_quantity_w and a > 0 else 0)
    return out


def _take(state: ZoneState, alloc: list[int]) -> None:
    for t, a in enumerate(alloc):
        state.remaining[t] -= a


def _sequential(requests: list[ValidRequest], state: ZoneState, g: int
                ) -> dict[str, list[int]]:
    out = {}
    for r in requests:
        a = _step(r, state.remaining, g)
        _take(state, a)
        out[r.id] = a
    return out


def _largest_first(r: ValidRequest) -> tuple[int, tuple[datetime, str]]:
    return (-r.total_w, order_key(r.submitted_at, r.id))


def _pro_rata(requests: list[ValidRequest], state: ZoneState, g: int) -> dict[str, list[int]]:
    out = {r.id: [0] * len(state.remaining) for r in requests}
    for t, cap in enumerate(state.remaining):
        cap = max(cap, 0)
        asks = [(r, r.quantity_w[t]) for r in requests if r.quantity_w[t] > 0]
        total = sum(q for _, q in asks)
        if total <= cap:
            for r, q in asks:
                out[r.id][t] = q
            continue
        given = {r.id: q * cap // total // g * g for r, q in asks}
        left = cap - sum(given.values())
        while left >= g:
            short = [r for r, q in asks if given[r.id] + g <= q]
            if not short:
                break
            for r in short:  # requests are in submitted_at order already
                if left < g:
                    break
                given[r.id] += g
                left -= g
        for r, _ in asks:
            out[r.id][t] = given[r.id]
    for r in requests:
        _take(state, out[r.id])
    return out


def _greedy_premium(requests: list[ValidRequest], state: ZoneState, g: int
                    ) -> dict[str, list[int]]:
    by_price = sorted(requests, key=lambda r: (-r.price, r.rank))
    return _sequential(by_price, state, g)


def _milp_premium(requests: list[ValidRequest], state: ZoneState, g: int
                  ) -> dict[str, list[int]]:
    """Largest welfare, then the tie rule (lexicographic in rank order), exact MILPs."""
    slots = len(state.remaining)
    cols: list[tuple[int, int]] = []  # (request index, slot) or (request index, -1)
    lower: list[float] = []
    upper: list[float] = []
    kind: list[int] = []
    welfare: list[int] = []
    rows: dict[int, list[tuple[int, int]]] = defaultdict(list)  # slot -> (col, W per unit)
    for i, r in enumerate(requests):
        if not r.divisible:
            c = len(cols)
            cols.append((i, -1))
            lower.append(0)
            upper.append(1)
            kind.append(INTEGER)
            welfare.append(r.price * r.total_w)
            for t, q in enumerate(r.quantity_w):
                if q:
                    rows[t].append((c, q))
            continue
        kmin = -(-r.min_quantity_w // g)
        for t, q in enumerate(r.quantity_w):
            kmax = q // g
            if kmax < max(kmin, 1):
                continue
            c = len(cols)
            cols.append((i, t))
            lower.append(kmin if kmin > 1 else 0)
            upper.append(kmax)
            kind.append(SEMI_INTEGER if kmin > 1 else INTEGER)  # semi: 0 or kmin..kmax
            welfare.append(r.price * g)
            rows[t].append((c, g))
    if not cols:
        return {r.id: [0] * slots for r in requests}
    if sum(w * int(u) for w, u in zip(welfare, upper, strict=True)) > EXACT_MAX:
        raise SolverError("capacity clearing: a zone's welfare exceeds 2**53 µEUR, the "
                          "largest integer the solver holds exactly")
    row_slots = sorted(rows)
    entries: list[list[tuple[int, float]]] = [[] for _ in cols]
    for k, t in enumerate(row_slots):
        for c, coef in rows[t]:
            entries[c].append((k, float(coef)))
    caps = [float(max(state.remaining[t], 0)) for t in row_slots]

    def solve(cost: list[int], fixed: list[tuple[list[int], float, float]]) -> list[int]:
        """Maximise `cost` subject to the capacity rows and the `fixed` rows."""
        col_entries = [list(e) for e in entries]
        row_lower = [-np.inf] * len(row_slots)
        row_upper = list(caps)
        for coefs, lo, hi in fixed:
            for c, coef in enumerate(coefs):
                if coef:
                    col_entries[c].append((len(row_lower), float(coef)))
            row_lower.append(lo)
            row_upper.append(hi)
        start: list[int] = [0]
        index: list[int] = []
        value: list[float] = []
        for e in col_entries:
            for k, x in e:
                index.append(k)
                value.append(x)
            start.append(len(index))
        outcome = run_highs({
            "cost": [-float(v) for v in cost], "lower": lower, "upper": upper, "kind": kind,
            "row_lower": row_lower, "row_upper": row_upper, "start": start, "index": index,
            "value": value, "rel_gap": 0.0, "abs_gap": 0.5, "merge_parallel": True,
        })
        if outcome["status"] != "Optimal":
            raise SolverError(f"capacity clearing: HiGHS ended {outcome['status']}")
        return [round(v) for v in outcome["values"]]

    def units_of(i: int, solution: list[int]) -> int:
        return sum(unit[c] * solution[c] for c in cols_of[i])

    # units (granularity steps) each column gives its request
    unit = [requests[i].total_w // g if t < 0 else 1 for i, t in cols]
    cols_of: dict[int, list[int]] = defaultdict(list)
    for c, (i, _) in enumerate(cols):
        cols_of[i].append(c)
    solution = solve(welfare, [])
    best = sum(w * v for w, v in zip(welfare, solution, strict=True))
    fixed: list[tuple[list[int], float, float]] = [(welfare, best - 0.5, np.inf)]
    # the tie rule: in rank order, each request as many units as the earlier ones allow
    for i in sorted(cols_of, key=lambda i: requests[i].rank):
        most = sum(unit[c] * upper[c] for c in cols_of[i])
        got = units_of(i, solution)
        if got < most:
            coefs = [unit[c] if c in cols_of[i] else 0 for c in range(len(cols))]
            solution = solve(coefs, fixed)
            got = units_of(i, solution)
        coefs = [unit[c] if c in cols_of[i] else 0 for c in range(len(cols))]
        fixed.append((coefs, got - 0.5, got + 0.5))
    second = solution
    out = {r.id: [0] * slots for r in requests}
    for c, v in enumerate(second):
        i, t = cols[c]
        r = requests[i]
        if t < 0:
            if v:
                out[r.id] = list(r.quantity_w)
        else:
            out[r.id][t] = int(v) * g
    for r in requests:
        _take(state, out[r.id])
    return out


def _uniform_prices(requests: list[ValidRequest], alloc: dict[str, list[int]], slots: int,
                    reserve: int) -> list[int]:
    prices = []
    for t in range(slots):
        short = any(alloc[r.id][t] < r.quantity_w[t] for r in requests)
        allocated = [r.price for r in requests if alloc[r.id][t] > 0]
        prices.append((min(allocated) if allocated else reserve) if short else reserve)
    return prices


def clear_capacity(f: CapacityFile) -> CapacityResult:
    """Clear a capacity file (the spec's rules): the sealed result."""
    m = f.market
    g = m.granularity_w
    valid, rejected = validate(f)
    zones = {z.id: ZoneState(per_slot(z.capacity_w, m.slots)) for z in f.zones}
    held: dict[str, list[int]] = {}
    for a in f.allocated:
        held[a.request] = per_slot(a.allocated_w, m.slots)
        _take(zones[a.zone], held[a.request])
    zone_of = {a.request: a.zone for a in f.allocated}
    alloc: dict[str, list[int]] = {}
    payment: dict[str, int] = {}
    prices: dict[str, list[int]] = {}
    premium = m.mechanism == "premium"
    by_zone: dict[str, list[ValidRequest]] = defaultdict(list)
    for r in valid:
        by_zone[r.zone].append(r)
    release_notes: list[Rejection] = []
    if m.phase == "DAM":
        for zone in sorted(zones):  # every zone: a zone nobody asked for has its prices too
            reqs, state = by_zone.get(zone, []), zones[zone]
            if not premium:
                if m.social_rule == "pro_rata":
                    got = _pro_rata(reqs, state, g)
                elif m.social_rule == "largest_first":
                    got = _sequential(sorted(reqs, key=_largest_first), state, g)
                else:
                    got = _sequential(reqs, state, g)
            elif all(r.divisible and r.min_quantity_w <= g for r in reqs):
                got = _greedy_premium(reqs, state, g)
            else:
                got = _milp_premium(reqs, state, g)
            alloc.update(got)
            if premium and m.pricing == "uniform":
                prices[zone] = _uniform_prices(reqs, got, m.slots,
                                               m.reserve_price_eur_per_mw_slot)
        for r in valid:
            price = prices[r.zone] if r.zone in prices else [r.price] * m.slots
            payment[r.id] = sum(a * p for a, p in zip(alloc[r.id], price, strict=True))
    else:
        events: list[tuple[tuple[datetime, int, str], ValidRequest | Release]] = [
            ((rel.submitted_at, 0, f"{i:09d}"), rel) for i, rel in enumerate(f.releases)]
        events += [((r.submitted_at, 1, r.id), r) for r in valid]
        events.sort(key=lambda e: e[0])
        for _, item in events:
            if isinstance(item, ValidRequest):
                zone_of[item.id] = item.zone
                got_w = _step(item, zones[item.zone].remaining, g)
                _take(zones[item.zone], got_w)
                alloc[item.id] = got_w
                held[item.id] = list(got_w)
                payment[item.id] = sum(x * item.price for x in got_w) if premium else 0
                continue
            q = per_slot(item.quantity_w, m.slots)
            have = held.get(item.request, [0] * m.slots)
            bad = next((t for t in range(m.slots) if q[t] > have[t]), None)
            if bad is not None:
                release_notes.append(Rejection(
                    request=item.request,
                    reason=f"release at {item.submitted_at.isoformat()} refused: {q[bad]} W "
                    f"in slot {bad}, the request holds {have[bad]} W"))
                continue
            for t in range(m.slots):
                have[t] -= q[t]
                zones[zone_of[item.request]].remaining[t] += q[t]
    allocations = [
        Allocation(request=r.id, participant=r.participant, zone=r.zone,
                   allocated_w=alloc[r.id], payment_ueur=payment[r.id])
        for r in sorted(valid, key=lambda r: r.id) if any(alloc[r.id])
    ]
    rejections = [Rejection(request=r.id, reason=rejected[r.id])
                  for r in f.requests if r.id in rejected] + release_notes
    welfare = sum(a * r.price for r in valid for a in alloc[r.id]) if premium else 0
    result = CapacityResult(
        market=m.id, phase=m.phase, mechanism=m.mechanism, allocations=allocations,
        rejected=rejections,
        clearing_prices=prices if premium and m.pricing == "uniform" and m.phase == "DAM"
        else None,
        remaining_w={z: zones[z].remaining for z in sorted(zones)},
        total_payment_ueur=sum(a.payment_ueur for a in allocations),
        welfare_ueur=welfare,
    )
    return result.sealed(f.input_hash())
