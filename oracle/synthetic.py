"""Seeded random market sessions, for benchmarks and property tests.

The shape follows the congestion problems the market exists for: each zone
(a transformer) has an evening peak window where load exceeds its limit
(`up` needs), some zones have a midday PV window (`down` needs), and a TSO
buys system-wide reserve in a few slots. Aggregators offer rectangle bids
(the same watts over a window of consecutive quarter-hours) placed around
those windows, half of them indivisible, some divisible ones with a minimum
quantity. Needs are sized to a fraction of what is offered, so sessions are
feasible and competitive. Same seed, same scenario.
"""

from __future__ import annotations

import random
from typing import Any


def random_session(
    n_bids: int,
    *,
    n_slots: int = 96,
    n_zones: int = 20,
    n_aggregators: int = 20,
    seed: int = 0,
    indivisible_share: float = 0.5,
    system_wide: bool = True,
    need_share: float = 0.4,
    granularity_w: int = 100,
) -> dict[str, Any]:
    """A scenario dict (flexmarket.scenario/1) with `n_bids` bids."""
    rng = random.Random(seed)
    zones = [f"Z{z:02d}" for z in range(n_zones)]
    aggs = [f"AGG{a:02d}" for a in range(n_aggregators)]
    # each zone's congestion windows: evening (up) and, for some, midday PV (down)
    windows: dict[tuple[str, str], tuple[int, int]] = {}
    for z in zones:
        start = rng.randrange(int(n_slots * 0.66), max(int(n_slots * 0.66) + 1, int(n_slots * 0.8)))
        windows[(z, "up")] = (start, min(n_slots, start + rng.randint(6, 20)))
        if rng.random() < 0.4:
            start = rng.randrange(
                int(n_slots * 0.42), max(int(n_slots * 0.42) + 1, int(n_slots * 0.55))
            )
            windows[(z, "down")] = (start, min(n_slots, start + rng.randint(4, 16)))
    keys = sorted(windows)

    assets: list[dict[str, Any]] = []
    bids: list[dict[str, Any]] = []
    supply: dict[tuple[str, str, int], int] = {}
    for i in range(n_bids):
        zone, direction = keys[rng.randrange(len(keys))]
        w0, w1 = windows[(zone, direction)]
        length = rng.randint(2, 12)
        start = rng.randint(max(0, w0 - length + 1), max(0, min(n_slots - length, w1 - 1)))
        slots = list(range(start, min(n_slots, start + length)))
        qty = rng.randint(20, 600) * granularity_w
        seller = aggs[rng.randrange(len(aggs))]
        n_assets = rng.randint(1, 4)
        p_max = -(-qty // n_assets)
        divisible = rng.random() >= indivisible_share
        p_min = 0
        if divisible and rng.random() < 0.3:
            p_min = rng.randint(1, max(1, p_max // granularity_w // 2)) * granularity_w
        names = []
        for k in range(n_assets):
            aid = f"{seller}-{i:05d}-{k}"
            names.append(aid)
            assets.append(
                {
                    "id": aid,
                    "manager": seller,
                    "type": "load" if direction == "up" else "storage",
                    "p_max_w": p_max,
                    "p_min_w": p_min,
                    "zone": zone,
                }
            )
        bid: dict[str, Any] = {
            "id": f"B{i:05d}",
            "seller": seller,
            "zone": zone,
            "direction": direction,
            "quantity_w": qty,
            "divisible": divisible,
            "price_eur_per_mw": rng.randint(100, 2000) * 1000,
            "assets": names,
            "submitted_at": f"2026-01-01T{rng.randrange(24):02d}:{rng.randrange(60):02d}:00+00:00",
        }
        if len(slots) != n_slots:
            bid["slots"] = slots
        bids.append(bid)
        for t in slots:
            supply[(zone, direction, t)] = supply.get((zone, direction, t), 0) + qty

    requests: list[dict[str, Any]] = []
    profiles = {
        key: [
            int(supply.get((key[0], key[1], t), 0) * need_share * rng.uniform(0.5, 1.0))
            // granularity_w
            * granularity_w
            for t in range(n_slots)
        ]
        for key in keys
    }
    # a zone cannot need up and down in one slot (a file error, docs/files.md): where the
    # windows' bids overlap, the larger need stays (up on a tie); the random draws are unchanged
    for zone in zones:
        up, down = profiles.get((zone, "up")), profiles.get((zone, "down"))
        if up is not None and down is not None:
            for t in range(n_slots):
                if up[t] and down[t]:
                    if up[t] >= down[t]:
                        down[t] = 0
                    else:
                        up[t] = 0
    for zone, direction in keys:
        profile = profiles[(zone, direction)]
        if any(profile):
            requests.append(
                {
                    "id": f"{zone}-{direction}",
                    "buyer": "DSO1",
                    "zone": zone,
                    "direction": direction,
                    "quantity_w": profile,
                }
            )
    if system_wide:
        for direction in ("up", "down"):
            total = [sum(supply.get((z, direction, t), 0) for z in zones) for t in range(n_slots)]
            profile = [0] * n_slots
            for t in rng.sample(range(n_slots), k=max(1, n_slots // 8)):
                profile[t] = int(total[t] * 0.15) // granularity_w * granularity_w
            if any(profile):
                requests.append(
                    {
                        "id": f"TSO-{direction}",
                        "buyer": "TSO1",
                        "zone": None,
                        "direction": direction,
                        "quantity_w": profile,
                    }
                )

    return {
        "schema": "flexmarket.scenario/1",
        "name": f"synthetic session: {n_bids} bids, {n_slots} slots, {n_zones} zones, seed {seed}",
        "market": {
            "id": f"SYN-{n_bids}-{seed}",
            "product": "CongestionManagement",
            "pricing": "pay_as_bid",
            "start": "2026-01-02T00:00:00+01:00",
            "slot_minutes": 15,
            "slots": n_slots,
            "min_bid_w": 1000,
            "granularity_w": granularity_w,
        },
        "participants": [{"id": "DSO1", "role": "DSO"}, {"id": "TSO1", "role": "TSO"}]
        + [{"id": a, "role": "aggregator"} for a in aggs],
        "zones": [{"id": z} for z in zones],
        "assets": assets,
        "requests": requests,
        "bids": bids,
    }
