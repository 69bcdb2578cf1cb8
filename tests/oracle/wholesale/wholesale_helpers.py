"""A small day-ahead auction for the wholesale tests: random step curves, the exchange's
uniform price (the lowest tick at which supply covers demand), our orders treated by it."""

from __future__ import annotations

import random
from typing import Any

FLOOR, CAP = -50_000, 400_000


def clearing_price(supply: list[list[int]], demand: list[list[int]]) -> int:
    def s(p: int) -> int:
        return sum(q for limit, q in supply if limit <= p)

    def d(p: int) -> int:
        return sum(q for limit, q in demand if limit >= p)

    lo, hi = FLOOR, CAP
    if s(hi) < d(hi):
        return CAP
    while lo < hi:
        mid = (lo + hi) // 2
        if s(mid) >= d(mid):
            hi = mid
        else:
            lo = mid + 1
    return lo


def auction(seed: int = 0, mtus: int = 24, ours: int = 30) -> dict[str, Any]:
    rng = random.Random(seed)
    curves, prices, orders = [], [], []
    mine: list[tuple[int, str, int, int]] = []
    for _ in range(ours):
        side = rng.choice(["sell", "sell", "buy"])
        mtu = rng.randrange(mtus)
        limit = rng.randrange(-2_000, 25_000, 10)
        mine.append((mtu, side, limit, rng.randrange(1, 60) * 1000))
    for t in range(mtus):
        steps: dict[str, dict[int, int]] = {"supply": {}, "demand": {}}
        for side, n in (("supply", 40), ("demand", 30)):
            for _ in range(n):
                limit = rng.randrange(-5_000, 30_000, 10)
                steps[side][limit] = steps[side].get(limit, 0) + rng.randrange(1, 500) * 100_000
        demand_cap = steps["demand"]
        demand_cap[CAP] = demand_cap.get(CAP, 0) + rng.randrange(5, 20) * 1_000_000  # price-taking
        for mtu, side, limit, q in mine:
            if mtu == t:
                curve = steps["supply" if side == "sell" else "demand"]
                curve[limit] = curve.get(limit, 0) + q
        supply = [[p, q] for p, q in sorted(steps["supply"].items())]
        demand = [[p, q] for p, q in sorted(steps["demand"].items(), reverse=True)]
        curves.append({"mtu": t, "supply": supply, "demand": demand})
        prices.append(clearing_price(supply, demand))
    for k, (mtu, side, limit, q) in enumerate(mine):
        p = prices[mtu]
        in_money = limit < p if side == "sell" else limit > p
        at_price = limit == p
        accepted = q if in_money else (q // 2 if at_price else 0)
        orders.append({"id": f"O{k + 1}", "participant": f"AG{k % 3 + 1}", "zone": f"F{k % 2 + 1}",
                       "side": side, "mtu": mtu, "quantity_w": q, "limit_ct_per_mwh": limit,
                       "accepted_w": accepted, "payment_ueur": accepted * 60 * p // 6000})
    return {"schema": "flexmarket.wholesale-results/1", "exchange": "Reference Exchange",
            "auction": "day-ahead", "delivery_start": "2026-05-26T00:00:00+02:00",
            "mtu_minutes": 60, "mtus": mtus, "price_floor_ct_per_mwh": FLOOR,
            "price_cap_ct_per_mwh": CAP, "curves": curves, "prices_ct_per_mwh": prices,
            "orders": orders}
