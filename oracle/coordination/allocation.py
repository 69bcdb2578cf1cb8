"""Who received what: awarded watts split among requests, and payments among buyers.

Exact integer post-processing of a coordinated clearing. In each slot and
layer, awarded bids are grouped by the requests they may serve and the groups'
watts are split among the requests by `priority_max_flow` (the buyers' roles in
the market's priority order), then handed down to the bids of each group in
tie-break rank order. A watt counts once per layer: sequential coupling has one
layer (the engine's rule), common coupling two (zonal, system-wide).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from oracle.coordination.eligibility import eligibility
from oracle.coordination.flow import priority_max_flow
from oracle.result import Award
from oracle.rules import ValidBid
from oracle.scenario import DEFAULT_PRIORITY, Scenario


def role_order(scenario: Scenario) -> list[str]:
    """The market's priority, then any buyer role it leaves out, in the default order."""
    order: list[str] = list(scenario.market.priority)
    return order + [r for r in DEFAULT_PRIORITY if r not in order]


def buyer_order(scenario: Scenario) -> list[str]:
    """Buyers by role priority, then by their first request (scenario order; on chain the
    need index, so a file and the session rebuilt from its chain events agree), buyers with
    no request last in participant order: whose requests are served first, who gets a
    share's remainder first (the payer rule, `oracle.payers`)."""
    roles = role_order(scenario)
    first: dict[str, int] = {}
    for i, req in enumerate(scenario.requests):
        first.setdefault(req.buyer, i)
    last = len(scenario.requests)
    buyers = [p for p in scenario.participants if p.role in roles]
    buyers.sort(key=lambda p: (roles.index(p.role), first.get(p.id, last)))
    return [p.id for p in buyers]


def layer_of(scenario: Scenario, coupling: str) -> dict[int, int]:
    """Request -> layer: 0 for everything (sequential), or 0 zonal / 1 system-wide (common)."""
    if coupling == "common":
        return {r: int(req.zone is None) for r, req in enumerate(scenario.requests)}
    return dict.fromkeys(range(len(scenario.requests)), 0)


@dataclass(frozen=True)
class Allocation:
    flows: dict[tuple[str, int, int], int]  # (bid, request, slot) -> W counted toward it
    unmet: dict[tuple[int, int], int]  # (request, slot) -> W left unmet, positive only


def allocate_layers(
    scenario: Scenario,
    bids: Sequence[ValidBid],
    awards_w: Mapping[str, int],
    needs: Mapping[tuple[int, int], int],
    layers: Mapping[int, int],
    stages: Mapping[str, Sequence[tuple[int, int]]] | None = None,
) -> Allocation:
    """Split the awards among requests, slot by slot and layer by layer.

    Without `stages` (common coupling), requests are served in buyer priority order.
    With `stages` (bid -> [(stage, W bought in it)], sequential coupling), the watts a
    stage bought first serve that stage's requests, then every edge opens: each buyer
    keeps what its stage bought, and the flow ends maximum (what `oracle.check` expects).
    """
    by_id = {b.id: b for b in bids}
    awarded = [by_id[b] for b in sorted(awards_w, key=lambda b: by_id[b].rank)]
    eligible = eligibility(scenario, awarded, needs)
    buyers = buyer_order(scenario)
    roles = role_order(scenario)
    role = {p.id: p.role for p in scenario.participants}
    requests = scenario.requests
    if stages is None:
        level = {r: buyers.index(req.buyer) for r, req in enumerate(requests)}
        parts = {b: [(0, w)] for b, w in awards_w.items()}
    else:
        level = {r: roles.index(role[req.buyer]) for r, req in enumerate(requests)}
        parts = {b: list(stages[b]) for b in awards_w}
    last = len(roles)
    flows: dict[tuple[str, int, int], int] = {}
    received: dict[tuple[int, int], int] = defaultdict(int)
    # indexed once: the requests of each (layer, slot) in request order, the awarded bids of
    # each slot in rank order (a scan of every bid's slots per slot was most of a replica's
    # checking time on large sessions)
    layer_slot_reqs: dict[tuple[int, int], list[int]] = defaultdict(list)
    for r, t in sorted(needs):
        layer_slot_reqs[(layers[r], t)].append(r)
    if stages is None:
        _split_one_stage(scenario, awarded, awards_w, eligible, needs, layers,
                         layer_slot_reqs, level, flows, received)
        unmet = {key: q - received[key] for key, q in needs.items() if q > received[key]}
        return Allocation(flows=flows, unmet=unmet)
    # per slot, each awarded bid as (id, requests it may serve, its (stage, W) parts)
    slot_bids: dict[int, list[tuple[str, tuple[int, ...], list[tuple[int, int]]]]] = (
        defaultdict(list))
    for bid in awarded:
        item = (bid.id, eligible.get(bid.id, ()), parts[bid.id])
        for t in sorted(set(bid.slots)):
            slot_bids[t].append(item)
    for layer in sorted(set(layers.values())):
        for t in range(scenario.market.slots):
            reqs = layer_slot_reqs.get((layer, t), [])
            if not reqs:
                continue
            in_reqs = set(reqs)
            # supply nodes: (requests the bids may serve, stage that bought the watts)
            groups: dict[tuple[tuple[int, ...], int], list[tuple[str, int]]] = defaultdict(list)
            narrowed: dict[tuple[int, ...], tuple[int, ...]] = {}  # eligible -> in reqs
            for bid_id, may, bid_parts in slot_bids.get(t, ()):
                serves = narrowed.get(may)
                if serves is None:
                    serves = narrowed[may] = tuple(r for r in may if r in in_reqs)
                if serves:
                    for stage, w in bid_parts:
                        groups[(serves, stage)].append((bid_id, w))
            keys = sorted(groups)
            pos = {r: j for j, r in enumerate(reqs)}
            supplies = [sum(w for _, w in groups[k]) for k in keys]
            edges = [(i, pos[r], 0 if stages is None or level[r] == k[1] else last)
                     for i, k in enumerate(keys) for r in k[0]]
            got = priority_max_flow(supplies, [needs[(r, t)] for r in reqs],
                                    [level[r] for r in reqs], edges)
            for i, k in enumerate(keys):
                # hand the group's flows down to its bids, rank order, requests in order;
                # watts are taken from the front, so the bids before `first` are exhausted
                members = groups[k]
                if stages is None and len(k[0]) == 1:
                    # one request, one part per bid (so one flow key per bid): when the
                    # request takes the group's whole supply, every bid gives all its watts
                    r = k[0][0]
                    f = got.get((i, pos[r]), 0)
                    if f == supplies[i]:
                        received[(r, t)] += f
                        for bid_id, w in members:
                            if w:
                                flows[(bid_id, r, t)] = w
                        continue
                _hand_down([b for b, _ in members], [w for _, w in members],
                           [(r, got.get((i, pos[r]), 0)) for r in k[0]], t, received, flows)
    unmet = {key: q - received[key] for key, q in needs.items() if q > received[key]}
    return Allocation(flows=flows, unmet=unmet)


def _split_one_stage(
    scenario: Scenario,
    awarded: Sequence[ValidBid],
    awards_w: Mapping[str, int],
    eligible: Mapping[str, tuple[int, ...]],
    needs: Mapping[tuple[int, int], int],
    layers: Mapping[int, int],
    layer_slot_reqs: Mapping[tuple[int, int], list[int]],
    level: Mapping[int, int],
    flows: dict[tuple[str, int, int], int],
    received: dict[tuple[int, int], int],
) -> None:
    """`allocate_layers` without stages (one part per bid), filling `flows` and `received`.

    The same split, computed per class of bids (those that may serve the same requests)
    rather than per bid: per slot, the class's bids in rank order are listed once, and a
    slot narrows each class's requests once; classes that serve the same requests in a slot
    are merged back into rank order."""
    class_of: dict[tuple[int, ...], int] = {}
    classes: list[tuple[int, ...]] = []
    slot_classes: dict[int, dict[int, list[tuple[int, str, int]]]] = defaultdict(dict)
    for bid in awarded:
        may = eligible.get(bid.id, ())
        if not may:
            continue
        c = class_of.get(may)
        if c is None:
            c = class_of[may] = len(classes)
            classes.append(may)
        item = (bid.rank, bid.id, awards_w[bid.id])
        for t in sorted(set(bid.slots)):
            per_class = slot_classes[t]
            members = per_class.get(c)
            if members is None:
                per_class[c] = [item]
            else:
                members.append(item)
    for layer in sorted(set(layers.values())):
        for t in range(scenario.market.slots):
            reqs = layer_slot_reqs.get((layer, t), [])
            if not reqs:
                continue
            in_reqs = set(reqs)
            groups: dict[tuple[int, ...], list[tuple[int, str, int]]] = {}
            for c, items in slot_classes.get(t, {}).items():
                serves = tuple(r for r in classes[c] if r in in_reqs)
                if not serves:
                    continue
                group = groups.get(serves)
                # merged classes back into rank order (ranks are distinct)
                groups[serves] = items if group is None else sorted(group + items)
            keys = sorted(groups)
            pos = {r: j for j, r in enumerate(reqs)}
            supplies = [sum(w for _, _, w in groups[k]) for k in keys]
            edges = [(i, pos[r], 0) for i, k in enumerate(keys) for r in k]
            got = priority_max_flow(supplies, [needs[(r, t)] for r in reqs],
                                    [level[r] for r in reqs], edges)
            for i, k in enumerate(keys):
                members = groups[k]
                if len(k) == 1:
                    r = k[0]
                    f = got.get((i, pos[r]), 0)
                    if f == supplies[i]:  # the request takes every watt of the group
                        received[(r, t)] += f
                        for _, bid_id, w in members:
                            if w:
                                flows[(bid_id, r, t)] = w
                        continue
                _hand_down([b for _, b, _ in members], [w for _, _, w in members],
                           [(r, got.get((i, pos[r]), 0)) for r in k], t, received, flows)


def share_payments(
    scenario: Scenario, awards: Sequence[Award], allocation: Allocation,
    bids: Sequence[ValidBid],
) -> list[dict[str, int | str]]:
    """Each award's payment split among buyers in proportion to the watts they received.

    Integer division; the remainder goes to the first of them in priority order. An award
    that no request counted is paid by one buyer (`counter_activation_payer`).
    """
    buyers = buyer_order(scenario)
    req_buyer = [req.buyer for req in scenario.requests]
    got: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for (bid, r, _), w in allocation.flows.items():
        got[bid][req_buyer[r]] += w
    slots_of = {b.id: b.slots for b in bids}
    rows: list[dict[str, int | str]] = []
    for a in awards:
        received = {b: w for b, w in got.get(a.bid, {}).items() if w}
        if not received:
            payer = counter_activation_payer(scenario, slots_of[a.bid])
            rows.append({"bid": a.bid, "buyer": payer, "received_w_slots": 0,
                         "payment_ueur": a.payment_ueur})
            continue
        total = sum(received.values())
        ordered = [b for b in buyers if b in received]
        parts = {b: a.payment_ueur * received[b] // total for b in ordered}
        parts[ordered[0]] += a.payment_ueur - sum(parts.values())
        rows += [{"bid": a.bid, "buyer": b, "received_w_slots": received[b],
                  "payment_ueur": parts[b]} for b in ordered]
    return rows


def counter_activation_payer(scenario: Scenario, slots: Sequence[int]) -> str:
    """Who pays an award that no request counted, covering `slots`.

    Under `balance_dso` such an award is a counter-activation, bought because a DSO's zonal
    need was served in one of its slots: the first DSO (buyer order) with a zonal need
    there pays it, from its balancing need on chain (docs/contracts.md). Otherwise (watts an
    indivisible bid delivers beyond every need, say), or failing such a DSO: the first buyer,
    in priority order, with a need in one of its slots; failing that, the first buyer.
    """
    buyers = buyer_order(scenario)
    n = scenario.market.slots

    def needs_in(buyer: str, zonal_only: bool) -> bool:
        for req in scenario.requests:
            if req.buyer != buyer or (zonal_only and req.zone is None):
                continue
            q = req.quantity_w
            if any((q if isinstance(q, int) else q[t]) > 0 for t in slots if 0 <= t < n):
                return True
        return False

    if scenario.market.balance_dso:
        role = {p.id: p.role for p in scenario.participants}
        dsos = [b for b in buyers if role[b] == "DSO"]
        for b in dsos:
            if needs_in(b, True):
                return b
    payers = [b for b in buyers if needs_in(b, False)]
    return (payers or buyers)[0]


def _hand_down(ids: list[str], left: list[int], taken: list[tuple[int, int]], t: int,
               received: dict[tuple[int, int], int],
               flows: dict[tuple[str, int, int], int]) -> None:
    """Hand a supply group's flows down to its bids: `ids` in rank order with their watts
    `left`, `taken` the (request, W) the group gives each request, in request order; watts
    are taken from the front, so the bids before `first` are exhausted."""
    first = 0
    for r, f in taken:
        received[(r, t)] += f
        n = first
        while f and n < len(ids):
            take = min(f, left[n])
            if take:
                key = (ids[n], r, t)
                flows[key] = flows.get(key, 0) + take
                left[n] -= take
                f -= take
            if not left[n]:
                first = n + 1
            n += 1
