"""The reference exchange's day-ahead clearing: step orders, one uniform price per MTU.

Integers throughout (power W, prices ct/MWh, one tick = 1 ct/MWh). For one MTU, with
`S(p)` the sell orders with a limit at or below p and `D(p)` the buy orders with a limit at
or above p (`../shared/spec/wholesale.md`, check 2):

- **price**: `p*` is the lowest price between the floor and the cap at which `S(p) >= D(p)`;
  the cap when supply falls short even there (then check 2 fails on the published file:
  a shortage at the cap is for every node to see, not to be hidden);
- **volume**: `V = min(S(p*), D(p*))`;
- **acceptance** (check 3): a sell below `p*` or a buy above it is accepted in full, a sell
  above or a buy below gets nothing; the orders exactly at `p*` share what their side still
  needs to reach `V` (never less than 0) pro rata to their quantities: each gets the floor
  of its share, the watts left over go one each to the largest remainders, ties by the
  order's position in the book (its arrival).

Step curves on a 1-tick grid have one corner case the spec's convention leaves open: when
buys sit exactly one tick below `p*`, the sells below `p*` can exceed `D(p*)` (the
equilibrium lies between two ticks). Check 3 then still accepts those sells in full; the
MTU's `imbalance_w` (accepted sells minus accepted buys) says by how much, and is published
with the curves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Side = Literal["sell", "buy"]


@dataclass(frozen=True)
class StepOrder:
    """One order of the auction in one MTU (ours or a background one)."""

    id: str
    side: Side
    quantity_w: int
    limit_ct_per_mwh: int


@dataclass(frozen=True)
class MtuClearing:
    price_ct_per_mwh: int
    volume_w: int
    imbalance_w: int  # accepted sells - accepted buys (0 but in the one-tick corner case)
    accepted_w: dict[str, int]  # order id -> accepted watts
    supply: list[tuple[int, int]]  # (limit, total W) ascending by limit
    demand: list[tuple[int, int]]  # (limit, total W) descending by limit


def aggregate(orders: Sequence[StepOrder], side: Side) -> list[tuple[int, int]]:
    """The side's step curve: one total per limit price (supply ascending, demand
    descending), zero totals left out."""
    totals: dict[int, int] = {}
    for o in orders:
        if o.side == side and o.quantity_w > 0:
            totals[o.limit_ct_per_mwh] = totals.get(o.limit_ct_per_mwh, 0) + o.quantity_w
    return sorted(totals.items(), reverse=side == "buy")


def clearing_price(supply: Sequence[tuple[int, int]], demand: Sequence[tuple[int, int]],
                   floor: int, cap: int) -> int:
    """The lowest price in [floor, cap] with S(p) >= D(p), else the cap.

    S(p) - D(p) never decreases with p and changes only at a supply limit (S steps up) or
    one tick above a demand limit (D steps down), so the answer is the floor or one of
    those points: each is tried in increasing order with running totals."""
    candidates = sorted({floor, cap} | {p for p, _ in supply if floor < p < cap}
                        | {p + 1 for p, _ in demand if floor < p + 1 < cap})
    sup = sorted(supply)
    dem = sorted(demand)
    s = 0  # S(p) as p rises
    d = sum(q for _, q in dem)  # D(p) as p rises: drops the limits below p
    i = j = 0
    for p in candidates:
        while i < len(sup) and sup[i][0] <= p:
            s += sup[i][1]
            i += 1
        while j < len(dem) and dem[j][0] < p:
            d -= dem[j][1]
            j += 1
        if s >= d:
            return p
    return cap


def _pro_rata(orders: Sequence[StepOrder], share_w: int) -> dict[str, int]:
    """share_w split over `orders` in proportion to their quantities (see the module doc)."""
    total = sum(o.quantity_w for o in orders)
    if total == 0 or share_w <= 0:
        return {o.id: 0 for o in orders}
    share_w = min(share_w, total)
    base = {o.id: o.quantity_w * share_w // total for o in orders}
    left = share_w - sum(base.values())
    ranked = sorted(range(len(orders)),
                    key=lambda k: (-(orders[k].quantity_w * share_w % total), k))
    for k in ranked[:left]:
        base[orders[k].id] += 1
    return base


def clear_mtu(orders: Sequence[StepOrder], floor: int, cap: int) -> MtuClearing:
    """The price, volume and every order's acceptance in one MTU (orders in arrival order)."""
    supply, demand = aggregate(orders, "sell"), aggregate(orders, "buy")
    p = clearing_price(supply, demand, floor, cap)
    s_at = sum(q for limit, q in supply if limit <= p)
    d_at = sum(q for limit, q in demand if limit >= p)
    volume = min(s_at, d_at)
    accepted: dict[str, int] = {}
    totals = {"sell": 0, "buy": 0}
    for side in ("sell", "buy"):
        mine = [o for o in orders if o.side == side]
        in_money = [o for o in mine if (o.limit_ct_per_mwh < p if side == "sell"
                                        else o.limit_ct_per_mwh > p)]
        at_price = [o for o in mine if o.limit_ct_per_mwh == p]
        for o in mine:
            accepted[o.id] = 0
        for o in in_money:
            accepted[o.id] = o.quantity_w
        strict = sum(o.quantity_w for o in in_money)
        accepted.update(_pro_rata(at_price, volume - strict))
        totals[side] = sum(accepted[o.id] for o in mine)
    return MtuClearing(price_ct_per_mwh=p, volume_w=volume,
                       imbalance_w=totals["sell"] - totals["buy"], accepted_w=accepted,
                       supply=supply, demand=demand)
