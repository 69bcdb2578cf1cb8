"""Conflicts between buyers, found in a coordinated result (Zecchino, Knezovic and
Marinelli, ISGT Europe 2017, in market terms).

Each conflict is `{"type", "slot", "zones", "requests", "bids", "detail"}`,
integers and strings only (results are hashed). Types:

- `imbalance`: in a slot where zonal (DSO) needs were served, the net activation
  (up - down, every award) differs from the net the system-wide requests
  received: the DSO's actions leave the system unbalanced by `detail.unbalanced_w`
  (positive: more injection than asked for).
- `zone_overload`: a bid that could serve a system-wide need more cheaply than
  the dearest bid serving it (or while the need is short) was left out because
  its smallest addition would break zone safety or the congestion guard in its
  zone (`detail.rule`: "zone_safety" or "congestion_guard"); one conflict per slot
  and zone.
- `scarcity`: needs of two or more roles in one slot and direction, and the
  offers did not cover them all: who was served, who was left unmet.
- `shared_use`: one award served two or more buyers in a slot, with the split
  (`detail.shared_w`: watts counted twice, common coupling only).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from oracle.coordination.allocation import Allocation, role_order
from oracle.coordination.zones import buyer_roles, zonal_need_cells, zone_headroom_w
from oracle.rules import ValidBid, bid_serves, injection_sign
from oracle.scenario import Scenario


def find_conflicts(
    scenario: Scenario,
    bids: Sequence[ValidBid],
    awards_w: Mapping[str, int],
    needs: Mapping[tuple[int, int], int],
    allocation: Allocation,
) -> list[dict[str, Any]]:
    requests = scenario.requests
    by_id = {b.id: b for b in bids}
    roles = buyer_roles(scenario)
    n = scenario.market.slots
    got: dict[tuple[int, int], int] = defaultdict(int)
    by_req_slot: dict[tuple[int, int], list[str]] = defaultdict(list)
    for (b, r, t), w in sorted(allocation.flows.items()):
        got[(r, t)] += w
        by_req_slot[(r, t)].append(b)
    out: list[dict[str, Any]] = []

    # --- imbalance
    for t in range(n):
        zonal = [r for r in range(len(requests)) if requests[r].zone is not None and got[(r, t)]]
        if not zonal:
            continue
        net = sum(injection_sign(by_id[b].direction) * w for b, w in awards_w.items()
                  if t in by_id[b].slots)
        net -= sum(injection_sign(requests[r].direction) * got[(r, t)]
                   for r in range(len(requests)) if requests[r].zone is None)
        if net:
            used = sorted({b for r in zonal for b in by_req_slot[(r, t)]})
            out.append(_conflict("imbalance", t, sorted({requests[r].zone or "" for r in zonal}),
                                 [requests[r].id for r in zonal], used,
                                 {"unbalanced_w": net}))

    # --- zone_overload
    headroom = zone_headroom_w(scenario)
    guarded = zonal_need_cells(scenario)
    g = scenario.market.granularity_w
    load: dict[tuple[str, int], int] = defaultdict(int)  # down - up awarded, per zone and slot
    for b, w in awards_w.items():
        for t in by_id[b].slots:
            load[(by_id[b].zone, t)] -= injection_sign(by_id[b].direction) * w

    def blocked(bid: ValidBid) -> str | None:
        step = g if awards_w.get(bid.id, 0) else bid.min_quantity_w
        for t in bid.slots:
            if any(d != bid.direction for d in guarded.get((bid.zone, t), ())):
                return "congestion_guard"
            cell, more = (bid.zone, t), -injection_sign(bid.direction) * step
            if cell in headroom and load[cell] + more > headroom[cell]:
                return "zone_safety"
        return None

    for t in range(n):
        found: dict[str, tuple[list[str], list[str], set[str]]] = {}
        for r, req in enumerate(requests):
            if req.zone is not None or (r, t) not in needs:
                continue
            paid = [by_id[b].price_eur_per_mw for b in by_req_slot[(r, t)]]
            short = (r, t) in allocation.unmet
            for bid in bids:
                if (t not in bid.slots or not bid_serves(bid, req)
                        or awards_w.get(bid.id, 0) >= bid.quantity_w
                        or not (short or (paid and bid.price_eur_per_mw < max(paid)))):
                    continue
                rule = blocked(bid)
                if rule is None:
                    continue
                names, ids, rules = found.setdefault(bid.zone, ([], [], set()))
                if req.id not in names:
                    names.append(req.id)
                ids.append(bid.id)
                rules.add(rule)
        for zone, (names, ids, rules) in sorted(found.items()):
            out.append(_conflict("zone_overload", t, [zone], names, sorted(set(ids)),
                                 {"rule": ",".join(sorted(rules))}))

    # --- scarcity
    for t in range(n):
        for direction in ("up", "down"):
            reqs = [r for r in range(len(requests))
                    if (r, t) in needs and requests[r].direction == direction]
            if len({roles[r] for r in reqs}) < 2:
                continue
            if not any((r, t) in allocation.unmet for r in reqs):
                continue
            order = role_order(scenario)
            reqs.sort(key=lambda r: (order.index(roles[r]), r))
            out.append(_conflict(
                "scarcity", t,
                sorted({z for r in reqs if (z := requests[r].zone) is not None}),
                [requests[r].id for r in reqs],
                sorted({b for r in reqs for b in by_req_slot[(r, t)]}),
                {"direction": direction,
                 "served_w": {requests[r].id: got[(r, t)] for r in reqs},
                 "unmet_w": {requests[r].id: allocation.unmet.get((r, t), 0) for r in reqs}},
            ))

    # --- shared_use
    per_bid_slot: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    reqs_of: dict[tuple[str, int], list[str]] = defaultdict(list)
    for (b, r, t), w in sorted(allocation.flows.items()):
        per_bid_slot[(b, t)][requests[r].buyer] += w
        reqs_of[(b, t)].append(requests[r].id)
    for (b, t), split in sorted(per_bid_slot.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        if len(split) < 2:
            continue
        out.append(_conflict(
            "shared_use", t, [by_id[b].zone], reqs_of[(b, t)], [b],
            {"split_w": dict(split), "shared_w": max(0, sum(split.values()) - awards_w[b])},
        ))
    out.sort(key=lambda c: (c["slot"], _TYPES.index(c["type"])))
    return out


_TYPES = ("imbalance", "zone_overload", "scarcity", "shared_use")


def _conflict(kind: str, slot: int, zones: list[str], requests: list[str], bids: list[str],
              detail: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "slot": slot, "zones": zones, "requests": requests, "bids": bids,
            "detail": detail}
