"""Independent checker: re-validate a result against its scenario, without the solver.

The engine proposes, the checker disposes (gsy-e's habit). Everything here is
recomputed from the scenario on its own terms, sharing no code with the engine
but the scenario parser, canonical JSON and a textbook max-flow:

- bid rules 1 to 5 (which bids are valid, which rejected);
- every award: its bid is valid, the seller is the bid's, indivisible bids all or
  nothing, divisible ones between their minimum and quantity in granularity steps;
- prices and payments (pay-as-bid, or the highest accepted price of the zone and
  direction for uniform pricing), in integers;
- needs: the stated unmet watts are exactly what the awards leave, slot by slot
  (the awards can cover need minus unmet, and no more);
- totals, ordering, and both hashes.

`check` returns every violation found (an empty list means the result holds).
Optimality is not its business: verifiers compare costs with their own clear.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal, InvalidOperation

from oracle.flow import add_edge, augment, supply_graph
from oracle.result import Result
from oracle.scenario import Bid, Request, Scenario, scenario_problems

MAX_GAP = Decimal("0.0001")


@dataclass(frozen=True)
class Violation:
    where: str  # e.g. "awards[2].payment_ueur", "unmet", "result_hash"
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def _bid_problems(scenario: Scenario) -> dict[str, str]:
    """Bid id -> why it is invalid, recomputed from the rules' text."""
    m = scenario.market
    role = {p.id: p.role for p in scenario.participants}
    asset = {a.id: a for a in scenario.assets}
    p_min = {a.id: a.p_min_w for a in scenario.assets}
    zone_ids = {z.id for z in scenario.zones}
    bad: dict[str, str] = {}

    def fails(b: Bid) -> str | None:
        named = [asset.get(a) for a in b.assets]
        if role.get(b.seller) != "aggregator":
            return "rule 1: seller is not an aggregator"
        if any(a is None or a.manager != b.seller for a in named) or len(set(b.assets)) < len(
            b.assets
        ):
            return "rule 1: an asset is unknown or not managed by the seller"
        if b.zone not in zone_ids or any(a is not None and a.zone != b.zone for a in named):
            return "rule 2: an asset lies outside the bid's zone"
        if sum(a.p_max_w for a in named if a is not None) < b.quantity_w:
            return "rule 2: assets cannot deliver quantity_w"
        if b.quantity_w < m.min_bid_w or b.quantity_w % m.granularity_w:
            return "rule 4: quantity_w breaks min_bid_w or granularity_w"
        cap = m.price_cap_eur_per_mw
        if b.price_eur_per_mw < m.price_floor_eur_per_mw or (
            cap is not None and b.price_eur_per_mw > cap
        ):
            return "rule 4: price outside floor and cap"
        if b.slots is not None and (
            not b.slots
            or len(set(b.slots)) < len(b.slots)
            or min(b.slots) < 0
            or max(b.slots) >= m.slots
        ):
            return "rule 4: slots do not exist"
        if b.divisible and _min_award(b, scenario, p_min) > b.quantity_w:
            return "rule 5: min_quantity_w exceeds quantity_w"
        return None

    for b in scenario.bids:
        reason = fails(b)
        if reason:
            bad[b.id] = reason
    # rule 3 over the survivors, first come first served; an asset's taken slots as the bits
    # of one integer (a set of (asset, slot) cells cost ~0.3 s at 2,500 bids)
    taken: dict[str, int] = defaultdict(int)
    order = sorted((b for b in scenario.bids if b.id not in bad), key=_arrival)
    every = (1 << m.slots) - 1
    for b in order:
        mask = every if b.slots is None else _bits(b.slots)
        if any(taken[a] & mask for a in b.assets):
            bad[b.id] = "rule 3: an asset already backs an earlier bid in an overlapping slot"
        else:
            for a in b.assets:
                taken[a] |= mask
    return bad


def _arrival(b: Bid) -> tuple[bool, int, str]:
    """(submitted_at, id) order, bids without a time last; the time as integer microseconds
    of UTC (aware datetimes compare as their UTC times; comparing them directly costs two
    utcoffset() calls per comparison)."""
    t = b.submitted_at
    if t is None:
        return (True, 0, b.id)
    off = t.utcoffset() or timedelta(0)
    us = ((t.toordinal() * 86400 + t.hour * 3600 + t.minute * 60 + t.second) * 10**6
          + t.microsecond)
    return (False, us - off // timedelta(microseconds=1), b.id)


def _bits(slots: list[int]) -> int:
    """Distinct non-negative slot indices as the bits of one integer."""
    low, high = min(slots), max(slots)
    if high - low + 1 == len(slots) == len(set(slots)):
        return ((1 << len(slots)) - 1) << low
    cells = bytearray(high // 8 + 1)
    for t in slots:
        cells[t >> 3] |= 1 << (t & 7)
    return int.from_bytes(cells, "little")


def _slots(b: Bid, scenario: Scenario) -> list[int]:
    return list(range(scenario.market.slots)) if b.slots is None else list(b.slots)


def _min_award(b: Bid, scenario: Scenario, p_min: dict[str, int]) -> int:
    if not b.divisible:
        return b.quantity_w
    if b.min_quantity_w is not None:
        return b.min_quantity_w
    return max([scenario.market.granularity_w] + [p_min.get(a, 0) for a in b.assets])


def _may_serve(b: Bid, r: Request) -> bool:
    """Same direction, the request's zone (or any zone), price within the request's max."""
    cap = r.max_price_eur_per_mw
    return (
        r.direction == b.direction
        and r.zone in (None, b.zone)
        and (cap is None or b.price_eur_per_mw <= cap)
    )


def _need(scenario: Scenario, r: int, t: int) -> int:
    q = scenario.requests[r].quantity_w
    return q if isinstance(q, int) else q[t]


def check(scenario: Scenario, result: Result) -> list[Violation]:
    """Every way `result` breaks the rules of `scenario` (empty when it holds)."""
    out: list[Violation] = []

    def fail(where: str, what: str) -> None:
        out.append(Violation(where, what))

    m = scenario.market
    if result.market != m.id:
        fail("market", f"{result.market!r} is not the scenario's market {m.id!r}")
    if result.pricing != m.pricing:
        fail("pricing", f"{result.pricing!r}, the market uses {m.pricing!r}")
    if result.input_hash != scenario.input_hash():
        fail("input_hash", "does not match the canonical scenario")
    if result.result_hash != result.compute_result_hash():
        fail("result_hash", "does not match the canonical result")
    if result.mip_gap is not None:
        try:
            gap = Decimal(result.mip_gap)
            if not Decimal(0) <= gap <= MAX_GAP:
                fail("mip_gap", f"{result.mip_gap} is outside 0 to {MAX_GAP}")
        except InvalidOperation:
            fail("mip_gap", f"{result.mip_gap!r} is not a decimal number")

    # --- a scenario built without parse_scenario (model_construct, model_copy(update=...))
    # may hold what no result can be checked against exactly: integers beyond the
    # contracts' widths or the solver's 2**53, contradictory needs (docs/files.md)
    for where, what in scenario_problems(scenario):
        fail(f"scenario.{where}" if where else "scenario", what)

    # --- validity: rejected list == invalid bids, in file order
    invalid = _bid_problems(scenario)
    stated = [r.bid for r in result.rejected]
    expected = [b.id for b in scenario.bids if b.id in invalid]
    if stated != expected:
        missing = [b for b in expected if b not in stated]
        extra = [b for b in stated if b not in invalid]
        fail(
            "rejected", f"should list {expected} in file order (missing {missing}, wrongly {extra})"
        )

    # --- awards
    bids = {b.id: b for b in scenario.bids}
    p_min = {a.id: a.p_min_w for a in scenario.assets}
    ids = [a.bid for a in result.awards]
    if ids != sorted(ids) or len(set(ids)) != len(ids):
        fail("awards", "not sorted by bid id or a bid awarded twice")
    awarded: dict[str, int] = {}
    for i, a in enumerate(result.awards):
        where = f"awards[{i}]"
        b = bids.get(a.bid)
        if b is None:
            fail(f"{where}.bid", f"unknown bid {a.bid!r}")
            continue
        if a.bid in invalid:
            fail(f"{where}.bid", f"bid {a.bid} is invalid ({invalid[a.bid]})")
        if a.seller != b.seller:
            fail(f"{where}.seller", f"{a.seller!r}, the bid's seller is {b.seller!r}")
        q = a.quantity_w
        if q <= 0:
            fail(f"{where}.quantity_w", f"{q} is not positive (zero awards are not listed)")
        elif not b.divisible and q != b.quantity_w:
            fail(
                f"{where}.quantity_w", f"{q}: indivisible bid of {b.quantity_w} W is all or nothing"
            )
        elif b.divisible and not (low := _min_award(b, scenario, p_min)) <= q <= b.quantity_w:
            fail(f"{where}.quantity_w", f"{q} is outside {low}..{b.quantity_w}")
        elif q % m.granularity_w:
            fail(f"{where}.quantity_w", f"{q} is not a multiple of granularity_w {m.granularity_w}")
        awarded[a.bid] = q

    clearing: dict[tuple[str, str], int] = defaultdict(lambda: -(10**30))
    for bid_id in awarded:
        b = bids[bid_id]
        clearing[(b.zone, b.direction)] = max(clearing[(b.zone, b.direction)], b.price_eur_per_mw)
    for i, a in enumerate(result.awards):
        b = bids.get(a.bid)
        if b is None:
            continue
        price = b.price_eur_per_mw if m.pricing == "pay_as_bid" else clearing[(b.zone, b.direction)]
        if a.price_eur_per_mw != price:
            fail(f"awards[{i}].price_eur_per_mw", f"{a.price_eur_per_mw}, should be {price}")
        if a.payment_ueur != a.quantity_w * price:
            fail(
                f"awards[{i}].payment_ueur",
                f"{a.payment_ueur}, should be {a.quantity_w} W x {price} = {a.quantity_w * price}",
            )
    total = sum(a.payment_ueur for a in result.awards)
    if result.total_cost_ueur != total:
        fail("total_cost_ueur", f"{result.total_cost_ueur}, the payments add up to {total}")

    # --- needs: unmet rows well formed
    req_index = {r.id: i for i, r in enumerate(scenario.requests)}
    unmet: dict[tuple[int, int], int] = {}
    keys = []
    for i, u in enumerate(result.unmet):
        r = req_index.get(u.request)
        if r is None or not 0 <= u.slot < m.slots:
            fail(f"unmet[{i}]", f"unknown request {u.request!r} or slot {u.slot}")
            continue
        if not 0 < u.quantity_w <= _need(scenario, r, u.slot):
            fail(f"unmet[{i}].quantity_w", f"{u.quantity_w} is not within 1..need")
        unmet[(r, u.slot)] = u.quantity_w
        keys.append((r, u.slot))
    if keys != sorted(keys) or len(set(keys)) != len(keys):
        fail("unmet", "not in request order then slot order, or a row repeated")

    # --- needs: the awards cover need - unmet exactly, slot by slot
    active: dict[int, list[str]] = defaultdict(list)
    for bid_id in awarded:
        for t in _slots(bids[bid_id], scenario):
            active[t].append(bid_id)
    # the requests each awarded bid may serve, whatever the slot (needs filter per slot);
    # only requests of the bid's direction and of its zone or none can (_may_serve)
    candidates: dict[tuple[str, str | None], list[int]] = defaultdict(list)
    for r, req in enumerate(scenario.requests):
        candidates[(req.direction, req.zone)].append(r)
    may_serve = {}
    for bid_id in awarded:
        b = bids[bid_id]
        near = sorted(candidates.get((b.direction, b.zone), []) +
                      candidates.get((b.direction, None), []))
        may_serve[bid_id] = tuple(r for r in near if _may_serve(b, scenario.requests[r]))
    for t in range(m.slots):
        reqs = [r for r in range(len(scenario.requests)) if _need(scenario, r, t) > 0]
        if not reqs:
            continue
        needed = set(reqs)
        # supply grouped by the set of requests it may serve in this slot
        supply: dict[tuple[int, ...], int] = defaultdict(int)
        narrowed: dict[tuple[int, ...], tuple[int, ...]] = {}  # may_serve -> with a need in t
        for bid_id in active[t]:
            may = may_serve[bid_id]
            serves = narrowed.get(may)
            if serves is None:
                serves = narrowed[may] = tuple(r for r in may if r in needed)
            if serves:
                supply[serves] += awarded[bid_id]
        groups = sorted(supply)
        pos = {r: j for j, r in enumerate(reqs)}
        edges = [(i, pos[r]) for i, g in enumerate(groups) for r in g]
        caps = [supply[g] for g in groups]
        full = [_need(scenario, r, t) for r in reqs]
        target = [full[j] - unmet.get((r, t), 0) for j, r in enumerate(reqs)]
        split, served = _served(caps, edges, target, full)
        claimed = sum(target)
        if served != claimed:
            fail(
                "unmet",
                f"slot {t}: the awards serve {served} W of the needs, the result "
                f"claims {claimed} W",
            )
            continue
        if split != claimed:
            fail("unmet", f"slot {t}: the stated unmet split cannot be served by the awards")
    return out


def _served(
    caps: list[int], edges: list[tuple[int, int]], target: list[int], full: list[int]
) -> tuple[int, int]:
    """(the largest flow to demands `target`, the largest flow to demands `full`), supply i
    sending at most caps[i] along `edges` (supply, demand), target <= full.

    One residual graph: the maximum flow to `target` first, then the demands raised to
    `full` and the same flow augmented further (a maximum flow stays reachable from any
    feasible one), instead of two max-flows from zero. Where no supply may serve two
    demands, both are sums of min(supply reaching j, demand j)."""
    if len({i for i, _ in edges}) == len(edges):
        reach = [0] * len(full)
        for i, j in edges:
            reach[j] += caps[i]
        return (sum(max(min(w, d), 0) for w, d in zip(reach, target, strict=True)),
                sum(min(w, d) for w, d in zip(reach, full, strict=True)))
    graph, source, sink = supply_graph(caps, len(full))
    n_s = len(caps)
    sink_edge = []
    for j in range(len(full)):
        sink_edge.append(len(graph[n_s + j]))
        add_edge(graph, n_s + j, sink, target[j])
    for i, j in dict.fromkeys(edges):
        if caps[i] > 0 and full[j] > 0:
            add_edge(graph, i, n_s + j, sum(caps))
    augment(graph, source, sink)
    split = sum(cap for _, cap, _ in graph[sink])  # reverse edges carry the flow
    for j, d in enumerate(full):
        graph[n_s + j][sink_edge[j]][1] += d - target[j]
    augment(graph, source, sink)
    return split, sum(cap for _, cap, _ in graph[sink])
