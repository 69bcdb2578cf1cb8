"""Seeded session families the engine was never tuned on (issue 13), for bench_clear.

Written apart from `oracle.synthetic` on purpose (no shared code, other shapes): the
engine's speed must not depend on data we designed. Every family is a function
`(n_bids, seed) -> scenario dict (flexmarket.scenario/1)`; same arguments, same dict.
Zones scale with the size (`zones_for`): 1,000 bids -> 10, 2,500 -> 25, 10,000 -> 50.

- `unseen`: the sessions of issue 13. Nearly all bids are rectangle bids, 30 % over
  every slot, the rest over a contiguous range from a random start to a random later
  slot (mostly long); 80 % up; half indivisible, a third of the divisible ones with a
  minimum quantity; 1-6 assets of 3.7-50 kW, so ~1-300 kW per bid; prices 50,000 to
  2,000,000 EUR/MW. Each zone needs 15-60 % of its offered supply in ~70 % of the slots
  and nothing elsewhere (a ragged profile); a zone's up and down needs fall in different
  slots; a quarter of the requests have a max price; ~10 % of the bids are invalid;
  unmet penalty 1e8 EUR/MW (low enough to enter the objective).
- `knapsack`: indivisible bids only, each zone's need a flat block over a window that
  the window's bids can meet only by a tight combination: the need is a random subset's
  total plus a few hundred watts, so nearly every choice overshoots or falls short.
- `ties`: prices from three values and sizes from four, the same windows for many bids:
  many optimal award sets, which the engine must break the same way every time.
- `scarce`: needs of 80-160 % of what is offered in 60 % of the slots, so much of
  them stays unmet; half the requests with a max price; odd seeds at a penalty of
  2e6 EUR/MW, a price some bids exceed (the penalty competes with the bids), even seeds
  at 1e12 (above every bid's cost: least unmet first).
- `coupled`: a TSO need over every zone of a direction in a third of the slots on top of
  ragged zonal needs, minimum quantities on most divisible bids, several sellers' bids
  sharing windows: one large part per direction.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

N_SLOTS = 96
GRANULARITY_W = 100


def zones_for(n_bids: int) -> int:
    return max(4, n_bids // 100) if n_bids <= 2500 else max(25, n_bids // 200)


class _Builder:
    """Participants, assets and bids of one session, with the validity faults it can plant."""

    def __init__(self, rng: random.Random, n_zones: int, n_sellers: int) -> None:
        self.rng = rng
        self.zones = [f"GZ{z:03d}" for z in range(n_zones)]
        self.sellers = [f"FSP{s:03d}" for s in range(n_sellers)]
        self.assets: list[dict[str, Any]] = []
        self.bids: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        # (zone, direction, slot) -> W offered by valid bids
        self.offered: dict[tuple[str, str, int], int] = {}

    def asset_set(self, seller: str, zone: str, n: int, lo_w: int, hi_w: int,
                  kind: str) -> tuple[list[str], int]:
        names, total = [], 0
        for _ in range(n):
            p = self.rng.randint(lo_w, hi_w)
            name = f"M{len(self.assets):06d}"
            self.assets.append({"id": name, "manager": seller, "type": kind,
                                "p_max_w": p, "zone": zone})
            names.append(name)
            total += p
        return names, total

    def bid(self, *, zone: str, direction: str, seller: str, assets: list[str], qty: int,
            price: int, slots: list[int] | None, divisible: bool, min_w: int | None = None,
            valid: bool = True) -> dict[str, Any]:
        k = len(self.bids)
        b: dict[str, Any] = {
            "id": f"X{k:06d}", "seller": seller, "zone": zone, "direction": direction,
            "quantity_w": qty, "divisible": divisible, "price_eur_per_mw": price,
            "assets": assets,
            "submitted_at": f"2026-03-0{1 + k % 3}T{(k // 60) % 24:02d}:{k % 60:02d}:"
                            f"{(k * 7) % 60:02d}+00:00",
        }
        if slots is not None:
            b["slots"] = slots
        if min_w is not None:
            b["min_quantity_w"] = min_w
        self.bids.append(b)
        if valid:
            for t in (slots if slots is not None else range(N_SLOTS)):
                key = (zone, direction, t)
                self.offered[key] = self.offered.get(key, 0) + qty
        return b

    def spoil(self, b: dict[str, Any]) -> None:
        """Make a bid break one validity rule (rules 1, 2, 4 or 5), chosen at random."""
        fault = self.rng.randrange(5)
        if fault == 0:  # an asset managed by someone else
            other = next(a for a in self.assets if a["manager"] != b["seller"])
            b["assets"] = b["assets"] + [other["id"]]
        elif fault == 1:  # more than its assets can do
            b["quantity_w"] = b["quantity_w"] * 3 + 400_000
        elif fault == 2:  # not a multiple of the granularity
            b["quantity_w"] = b["quantity_w"] + 37
        elif fault == 3:  # below the minimum bid
            b["quantity_w"] = 500
            b.pop("min_quantity_w", None)
        else:  # a minimum above the quantity
            b["divisible"] = True
            b["min_quantity_w"] = b["quantity_w"] + GRANULARITY_W

    def scenario(self, name: str, market_id: str, penalty: int,
                 buyers: tuple[str, ...] = ("DSO-A",)) -> dict[str, Any]:
        roles = {"DSO-A": "DSO", "TSO-A": "TSO"}
        return {
            "schema": "flexmarket.scenario/1",
            "name": name,
            "market": {
                "id": market_id, "product": "CongestionManagement", "pricing": "pay_as_bid",
                "start": "2026-03-04T00:00:00+00:00", "slot_minutes": 15, "slots": N_SLOTS,
                "min_bid_w": 1000, "granularity_w": GRANULARITY_W,
            },
            "participants": [{"id": b, "role": roles[b]} for b in buyers]
            + [{"id": s, "role": "aggregator"} for s in self.sellers],
            "zones": [{"id": z} for z in self.zones],
            "assets": self.assets,
            "requests": self.requests,
            "bids": self.bids,
            "unmet_penalty_eur_per_mw": penalty,
        }


def _round_w(w: float) -> int:
    return int(w) // GRANULARITY_W * GRANULARITY_W


def _window(rng: random.Random) -> list[int] | None:
    """30 % every slot (None), else from a random start to a random later slot."""
    if rng.random() < 0.3:
        return None
    a = rng.randrange(N_SLOTS - 1)
    b = rng.randint(a + 1, N_SLOTS - 1)
    return list(range(a, b + 1))


def unseen(n_bids: int, seed: int) -> dict[str, Any]:
    """Issue 13's rectangle-heavy family (see the module docstring)."""
    rng = random.Random(f"unseen-{seed}")
    s = _Builder(rng, zones_for(n_bids), max(10, n_bids // 50))
    spoiled = []
    for _ in range(n_bids):
        zone = rng.choice(s.zones)
        direction = "up" if rng.random() < 0.8 else "down"
        seller = rng.choice(s.sellers)
        names, p_sum = s.asset_set(seller, zone, rng.randint(1, 6), 3700, 50_000,
                                   "load" if direction == "up" else "storage")
        qty = max(1000, _round_w(p_sum * rng.uniform(0.25, 1.0)))
        divisible = rng.random() < 0.5
        min_w = None
        if divisible and rng.random() < 1 / 3:
            min_w = max(GRANULARITY_W, _round_w(qty * rng.uniform(0.1, 0.6)))
        bad = rng.random() < 0.1
        b = s.bid(zone=zone, direction=direction, seller=seller, assets=names, qty=qty,
                  price=rng.randint(50, 2000) * 1000, slots=_window(rng),
                  divisible=divisible, min_w=min_w, valid=not bad)
        if bad:
            spoiled.append(b)
    for b in spoiled:
        s.spoil(b)
    for zone in s.zones:
        side = {t: ("up" if rng.random() < 0.75 else "down") for t in range(N_SLOTS)
                if rng.random() < 0.7}
        for direction in ("up", "down"):
            profile = [
                _round_w(s.offered.get((zone, direction, t), 0) * rng.uniform(0.15, 0.6))
                if side.get(t) == direction else 0
                for t in range(N_SLOTS)
            ]
            if any(profile):
                req: dict[str, Any] = {"id": f"{zone}-{direction}", "buyer": "DSO-A",
                                       "zone": zone, "direction": direction,
                                       "quantity_w": profile}
                if rng.random() < 0.25:
                    req["max_price_eur_per_mw"] = rng.randint(800, 1800) * 1000
                s.requests.append(req)
    return s.scenario(f"unseen family: {n_bids} bids, seed {seed}", f"UNSEEN-{n_bids}-{seed}",
                      100_000_000)


def knapsack(n_bids: int, seed: int) -> dict[str, Any]:
    """Indivisible bids whose sizes nearly match the needs (see the module docstring)."""
    rng = random.Random(f"knapsack-{seed}")
    s = _Builder(rng, zones_for(n_bids), max(10, n_bids // 50))
    per_zone = n_bids // len(s.zones)
    for z, zone in enumerate(s.zones):
        count = per_zone + (1 if z < n_bids - per_zone * len(s.zones) else 0)
        w0 = rng.randrange(0, N_SLOTS - 24)
        w1 = w0 + rng.randint(8, 24)
        chosen = []
        for _ in range(count):
            seller = rng.choice(s.sellers)
            names, p_sum = s.asset_set(seller, zone, rng.randint(1, 3), 5000, 40_000, "load")
            qty = _round_w(p_sum)
            a = rng.randint(max(0, w0 - 6), w0)
            b = rng.randint(w1, min(N_SLOTS - 1, w1 + 6))
            slots = list(range(a, b + 1))
            s.bid(zone=zone, direction="up", seller=seller, assets=names, qty=qty,
                  price=rng.randint(300, 900) * 1000, slots=slots, divisible=False)
            if rng.random() < 0.3:
                chosen.append(qty)
        need = sum(chosen) + rng.randint(1, 9) * GRANULARITY_W
        offered_min = min(s.offered.get((zone, "up", t), 0) for t in range(w0, w1 + 1))
        need = min(need, offered_min)
        profile = [need if w0 <= t <= w1 else 0 for t in range(N_SLOTS)]
        s.requests.append({"id": f"{zone}-up", "buyer": "DSO-A", "zone": zone,
                           "direction": "up", "quantity_w": profile})
    return s.scenario(f"knapsack family: {n_bids} bids, seed {seed}", f"KNAP-{n_bids}-{seed}",
                      1_000_000_000_000)


def ties(n_bids: int, seed: int) -> dict[str, Any]:
    """Many equal prices and sizes over shared windows (see the module docstring)."""
    rng = random.Random(f"ties-{seed}")
    s = _Builder(rng, zones_for(n_bids), max(10, n_bids // 50))
    windows = {z: [(a, a + rng.choice((4, 8, 16))) for a in rng.sample(range(0, N_SLOTS - 17), 3)]
               for z in s.zones}
    for _ in range(n_bids):
        zone = rng.choice(s.zones)
        direction = "up" if rng.random() < 0.7 else "down"
        seller = rng.choice(s.sellers)
        qty = rng.choice((5000, 10_000, 20_000, 40_000))
        names, _ = s.asset_set(seller, zone, 1, qty, qty, "storage")
        a, b = rng.choice(windows[zone])
        divisible = rng.random() < 0.5
        s.bid(zone=zone, direction=direction, seller=seller, assets=names, qty=qty,
              price=rng.choice((400_000, 500_000, 600_000)), slots=list(range(a, b + 1)),
              divisible=divisible,
              min_w=qty // 2 if divisible and rng.random() < 0.3 else None)
    for zone in s.zones:
        for direction in ("up", "down"):
            profile = [
                _round_w(s.offered.get((zone, direction, t), 0) * 0.45)
                if (t // 8) % 2 == (0 if direction == "up" else 1) else 0
                for t in range(N_SLOTS)
            ]
            if any(profile):
                s.requests.append({"id": f"{zone}-{direction}", "buyer": "DSO-A",
                                   "zone": zone, "direction": direction,
                                   "quantity_w": profile})
    return s.scenario(f"ties family: {n_bids} bids, seed {seed}", f"TIES-{n_bids}-{seed}",
                      1_000_000_000_000)


def scarce(n_bids: int, seed: int) -> dict[str, Any]:
    """Needs above what is offered (see the module docstring)."""
    rng = random.Random(f"scarce-{seed}")
    s = _Builder(rng, zones_for(n_bids), max(10, n_bids // 50))
    for _ in range(n_bids):
        zone = rng.choice(s.zones)
        seller = rng.choice(s.sellers)
        names, p_sum = s.asset_set(seller, zone, rng.randint(1, 4), 2000, 30_000, "load")
        qty = max(1000, _round_w(p_sum * rng.uniform(0.5, 1.0)))
        a = rng.randrange(N_SLOTS - 2)
        b = min(N_SLOTS - 1, a + rng.randint(1, 40))
        divisible = rng.random() < 0.5
        s.bid(zone=zone, direction="up", seller=seller, assets=names, qty=qty,
              price=rng.randint(100, 3000) * 1000, slots=list(range(a, b + 1)),
              divisible=divisible,
              min_w=_round_w(qty * 0.4) if divisible and rng.random() < 0.4 else None)
    for z, zone in enumerate(s.zones):
        profile = [_round_w(s.offered.get((zone, "up", t), 0) * rng.uniform(0.8, 1.6))
                   if rng.random() < 0.6 else 0 for t in range(N_SLOTS)]
        req: dict[str, Any] = {"id": f"{zone}-up", "buyer": "DSO-A", "zone": zone,
                               "direction": "up", "quantity_w": profile}
        if z % 2:
            req["max_price_eur_per_mw"] = 2_500_000
        s.requests.append(req)
    # one penalty per session: odd seeds 2e6 EUR/MW (it competes with the bids), even
    # seeds 1e12 (above every bid's cost: least unmet first)
    penalty = 2_000_000 if seed % 2 else 1_000_000_000_000
    return s.scenario(f"scarce family: {n_bids} bids, seed {seed}", f"SCARCE-{n_bids}-{seed}",
                      penalty)


def coupled(n_bids: int, seed: int) -> dict[str, Any]:
    """Zonal needs under a TSO need per direction (see the module docstring)."""
    rng = random.Random(f"coupled-{seed}")
    s = _Builder(rng, zones_for(n_bids), max(10, n_bids // 40))
    for _ in range(n_bids):
        zone = rng.choice(s.zones)
        direction = "up" if rng.random() < 0.6 else "down"
        seller = rng.choice(s.sellers)
        names, p_sum = s.asset_set(seller, zone, rng.randint(1, 5), 3000, 60_000, "storage")
        qty = max(1000, _round_w(p_sum * rng.uniform(0.3, 1.0)))
        a = rng.randrange(N_SLOTS)
        b = min(N_SLOTS - 1, a + rng.randint(0, 47))
        divisible = rng.random() < 0.6
        s.bid(zone=zone, direction=direction, seller=seller, assets=names, qty=qty,
              price=rng.randint(80, 1500) * 1000, slots=list(range(a, b + 1)),
              divisible=divisible,
              min_w=_round_w(qty * rng.uniform(0.2, 0.8)) if divisible and rng.random() < 0.7
              else None)
    for zone in s.zones:
        side = {t: rng.choice(("up", "down")) for t in range(N_SLOTS) if rng.random() < 0.6}
        for direction in ("up", "down"):
            profile = [_round_w(s.offered.get((zone, direction, t), 0) * rng.uniform(0.1, 0.4))
                       if side.get(t) == direction else 0 for t in range(N_SLOTS)]
            if any(profile):
                s.requests.append({"id": f"{zone}-{direction}", "buyer": "DSO-A", "zone": zone,
                                   "direction": direction, "quantity_w": profile})
    for direction in ("up", "down"):
        total = [sum(s.offered.get((z, direction, t), 0) for z in s.zones)
                 for t in range(N_SLOTS)]
        slots = set(rng.sample(range(N_SLOTS), N_SLOTS // 3))
        profile = [_round_w(total[t] * 0.2) if t in slots else 0 for t in range(N_SLOTS)]
        s.requests.append({"id": f"TSO-{direction}", "buyer": "TSO-A", "zone": None,
                           "direction": direction, "quantity_w": profile})
    return s.scenario(f"coupled family: {n_bids} bids, seed {seed}", f"COUPLED-{n_bids}-{seed}",
                      1_000_000_000_000, buyers=("DSO-A", "TSO-A"))


FAMILIES: dict[str, Callable[[int, int], dict[str, Any]]] = {
    "unseen": unseen,
    "knapsack": knapsack,
    "ties": ties,
    "scarce": scarce,
    "coupled": coupled,
}
