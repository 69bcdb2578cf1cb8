"""Zones under coordination: traffic light, zone safety and the congestion guard.

All three are read from the scenario alone, so the checker can recompute them.

- Traffic light, per zone and slot: `red` when the slot is in the zone's
  `red_slots` (the DSO suspends the market there: no bid of that zone covering
  the slot may be activated); `yellow` when a DSO request of that zone needs
  watts in the slot (its congestion is cleared in the market); `green` otherwise.
- Zone safety, for a zone with both `forecast_w` and `limit_w`: the load
  `forecast - up awards + down awards` stays at most `limit`, or, when the
  forecast is already above the limit, at most the forecast (it may only go
  down): `down - up <= max(limit - forecast, 0)`.
- Congestion guard: in a zone and slot where a zonal request needs watts of one
  direction, no bid of the opposite direction is activated (it would undo the
  relief the request is buying: the paper's TSO-activation-in-a-congested-area
  conflict).

Zone safety is a `LinearCut` per zone and slot, the engine's own way of saying
"sum(coef * award_w) <= rhs in this slot"; the guard depends on the needs only,
so it removes the bids it concerns before clearing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping

from oracle.engine import LinearCut
from oracle.rules import ValidBid, injection_sign
from oracle.scenario import Scenario, per_slot

GREEN, YELLOW, RED = "green", "yellow", "red"


def buyer_roles(scenario: Scenario) -> dict[int, str]:
    """Request index -> role of its buyer."""
    role = {p.id: p.role for p in scenario.participants}
    return {r: role[req.buyer] for r, req in enumerate(scenario.requests)}


def red_cells(scenario: Scenario) -> set[tuple[str, int]]:
    return {(z.id, t) for z in scenario.zones for t in z.red_slots or []}


def is_suspended(bid: ValidBid, red: set[tuple[str, int]]) -> bool:
    """A bid is out of the market when its zone is red in any slot it covers."""
    return any((bid.zone, t) in red for t in bid.slots)


def zonal_need_cells(scenario: Scenario) -> dict[tuple[str, int], set[str]]:
    """(zone, slot) -> directions of the zonal requests with a positive need there."""
    cells: dict[tuple[str, int], set[str]] = defaultdict(set)
    n = scenario.market.slots
    for req in scenario.requests:
        if req.zone is None:
            continue
        for t, q in enumerate(per_slot(req.quantity_w, n) or []):
            if q > 0:
                cells[(req.zone, t)].add(req.direction)
    return cells


def traffic_light(scenario: Scenario) -> dict[str, list[str]]:
    """Zone id -> state per slot."""
    n = scenario.market.slots
    red = red_cells(scenario)
    roles = buyer_roles(scenario)
    yellow: set[tuple[str, int]] = set()
    for r, req in enumerate(scenario.requests):
        if req.zone is not None and roles[r] == "DSO":
            for t, q in enumerate(per_slot(req.quantity_w, n) or []):
                if q > 0:
                    yellow.add((req.zone, t))
    return {
        z.id: [RED if (z.id, t) in red else YELLOW if (z.id, t) in yellow else GREEN
               for t in range(n)]
        for z in scenario.zones
    }


def zone_headroom_w(scenario: Scenario) -> dict[tuple[str, int], int]:
    """(zone, slot) -> the most `down - up` may reach there (zones with forecast and limit)."""
    n = scenario.market.slots
    out = {}
    for z in scenario.zones:
        forecast, limit = per_slot(z.forecast_w, n), per_slot(z.limit_w, n)
        if forecast is None or limit is None:
            continue
        for t in range(n):
            out[(z.id, t)] = max(limit[t] - forecast[t], 0)
    return out


def _sign(direction: str) -> float:
    """A bid's sign in a zone's load (the opposite of its net injection)."""
    return float(-injection_sign(direction))


def against_congestion(bid: ValidBid, cells: Mapping[tuple[str, int], set[str]]) -> bool:
    """The congestion guard: the bid would act against a zonal need in one of its slots.

    The needs are known before clearing, so the guard removes such bids up front (the
    same as a cut `award <= 0`, without the rows)."""
    return any(d != bid.direction for t in bid.slots for d in cells.get((bid.zone, t), ()))


def zone_cuts(scenario: Scenario, bids: Iterable[ValidBid]) -> list[LinearCut]:
    """Zone safety cuts over `bids`, in (zone, slot) order."""
    headroom = zone_headroom_w(scenario)
    active: dict[tuple[str, int], list[ValidBid]] = defaultdict(list)
    for bid in bids:
        for t in bid.slots:
            if (bid.zone, t) in headroom:
                active[(bid.zone, t)].append(bid)
    return [
        LinearCut(f"zone {zone} slot {t}", t, tuple((b.id, _sign(b.direction)) for b in here),
                  float(headroom[(zone, t)]))
        for (zone, t), here in sorted(active.items())
    ]


def shift_cuts(cuts: Iterable[LinearCut], fixed_w: Mapping[str, int]) -> list[LinearCut]:
    """The same cuts for the rest of a bid set, once `fixed_w` is already awarded."""
    out = []
    for cut in cuts:
        used = sum(coef * fixed_w.get(b, 0) for b, coef in cut.terms)
        out.append(LinearCut(cut.name, cut.slot, cut.terms, cut.rhs - used) if used else cut)
    return out
