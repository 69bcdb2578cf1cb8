"""Independent checker for the coordination rules.

Recomputed from the scenario and the result alone, sharing no code with the
coordinated clearing (only the scenario parser, bid rules' results through
`oracle.check`, and the textbook max-flow of `oracle.flow`):

- the base rules (`oracle.check`): bids, awards, payments, totals, hashes; under
  common coupling its needs check (a watt counts once) is replaced by ours;
- needs per layer: sequential, a watt counts toward one request; common, once
  among zonal requests and once among system-wide ones; the stated unmet is
  exactly what the awards leave;
- no activation in a red zone and slot; zone safety; the congestion guard;
- shares: one row per buyer who received watts, in priority order, adding up to
  the award's payment, proportional to the watts received, the remainder to the
  first; each buyer's watts add up to what its requests received; an award no
  request counted has one payer: under `balance_dso` (a counter-activation) the
  first DSO (buyer order: role priority, then first request) with a zonal need in one of
  its slots, else the first buyer in
  priority order with a need there;
- conflicts well formed (integers and strings only); `imbalance` and `scarcity`
  exactly where the awards and unmet rows say they are;
- the coupling, the priority and the traffic light.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from oracle.checker import Violation, check
from oracle.flow import bipartite_max_flow
from oracle.result import Result
from oracle.scenario import Bid, Scenario

TYPES = {"imbalance", "zone_overload", "scarcity", "shared_use"}
KEYS = {"type", "slot", "zones", "requests", "bids", "detail"}


def _per_slot(value: int | list[int] | None, n: int) -> list[int] | None:
    if value is None:
        return None
    return [value] * n if isinstance(value, int) else list(value)


def _slots(b: Bid, n: int) -> list[int]:
    return list(range(n)) if b.slots is None else sorted(b.slots)


def _cap(max_price: int | None) -> int | float:
    return float("inf") if max_price is None else max_price


def _only_ints_and_strings(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int | str):
        return True
    if isinstance(value, list):
        return all(_only_ints_and_strings(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _only_ints_and_strings(v) for k, v in value.items())
    return False


def _payer(scenario: Scenario, bid: Bid, buyers: list[Any]) -> Any:
    """Who pays an award no request counted: under balance_dso (a counter-activation) the
    first DSO with a zonal need in one of the bid's slots; else, or failing one, the first
    buyer in priority order with a need there; failing that, the first buyer."""
    n = scenario.market.slots
    slots = _slots(bid, n)

    def needing(req: Any) -> bool:
        q = _per_slot(req.quantity_w, n) or []
        return any(q[t] > 0 for t in slots)

    if scenario.market.balance_dso:
        role = {p.id: p.role for p in scenario.participants}
        for b in buyers:
            if role.get(b) == "DSO" and any(r.buyer == b and r.zone is not None and needing(r)
                                            for r in scenario.requests):
                return b
    payers = [b for b in buyers if any(r.buyer == b and needing(r) for r in scenario.requests)]
    return (payers or buyers or [None])[0]


def check_coordinated(scenario: Scenario, result: Result) -> list[Violation]:
    """Every way `result` breaks the base or the coordination rules (empty when it holds)."""
    out: list[Violation] = []

    def fail(where: str, what: str) -> None:
        out.append(Violation(where, what))

    m = scenario.market
    n = m.slots
    coord = result.coordination or {}
    coupling = coord.get("coupling")
    if coupling not in ("sequential", "common"):
        fail("coordination.coupling", f"{coupling!r} is not sequential or common")
    out += [v for v in check(scenario, result) if not (coupling == "common" and v.where == "unmet")]

    role = {p.id: p.role for p in scenario.participants}
    order: list[str] = list(m.priority)
    order += [r for r in ("DSO", "TSO", "BRP") if r not in order]
    if coord.get("priority") != order:
        fail("coordination.priority", f"{coord.get('priority')}, should be {order}")
    bids = {b.id: b for b in scenario.bids}
    awarded = {a.bid: a.quantity_w for a in result.awards if a.bid in bids}
    reqs = scenario.requests
    need = {(r, t): q for r, req in enumerate(reqs)
            for t, q in enumerate(_per_slot(req.quantity_w, n) or []) if q > 0}
    unmet = {(u.request, u.slot): u.quantity_w for u in result.unmet}
    received = {(r, t): q - unmet.get((reqs[r].id, t), 0) for (r, t), q in need.items()}

    # --- traffic light, red zones
    red = {(z.id, t) for z in scenario.zones for t in z.red_slots or []}
    yellow = {(req.zone, t) for (r, t) in need for req in [reqs[r]]
              if req.zone is not None and role[req.buyer] == "DSO"}
    light = {z.id: ["red" if (z.id, t) in red else "yellow" if (z.id, t) in yellow else "green"
                    for t in range(n)] for z in scenario.zones}
    if coord.get("traffic_light") != light:
        fail("coordination.traffic_light", "does not match red_slots and the DSO needs")
    suspended = sorted(b.id for b in scenario.bids if any((b.zone, t) in red for t in _slots(b, n))
                       and b.id not in {r.bid for r in result.rejected})
    if coord.get("suspended_bids") != suspended:
        fail("coordination.suspended_bids", f"{coord.get('suspended_bids')}, should be {suspended}")
    for b_id in awarded:
        b = bids[b_id]
        hit = [t for t in _slots(b, n) if (b.zone, t) in red]
        if hit:
            fail(f"awards.{b_id}", f"activated in red zone {b.zone} in slot {hit[0]}")

    # --- zone safety and congestion guard
    down_minus_up: dict[tuple[str, int], int] = defaultdict(int)
    for b_id, w in awarded.items():
        b = bids[b_id]
        for t in _slots(b, n):
            down_minus_up[(b.zone, t)] += w if b.direction == "down" else -w
    for z in scenario.zones:
        forecast, limit = _per_slot(z.forecast_w, n), _per_slot(z.limit_w, n)
        if forecast is None or limit is None:
            continue
        for t in range(n):
            load = forecast[t] + down_minus_up[(z.id, t)]
            if load > max(limit[t], forecast[t]):
                fail(f"zones.{z.id}", f"slot {t}: load {load} W above limit {limit[t]} W "
                                      f"(forecast {forecast[t]} W)")
    zonal_at: dict[tuple[str | None, int], list[int]] = defaultdict(list)  # zone, slot
    for k, t in sorted(need):
        if reqs[k].zone is not None:
            zonal_at[(reqs[k].zone, t)].append(k)
    for b_id in awarded:
        b = bids[b_id]
        for t in _slots(b, n):
            against = [reqs[k].id for k in zonal_at.get((b.zone, t), ())
                       if reqs[k].direction != b.direction]
            if against:
                fail(f"awards.{b_id}", f"slot {t}: {b.direction} activation in zone {b.zone} "
                                       f"against the need of {against[0]}")

    # --- needs per layer
    layers = [list(range(len(reqs)))]
    if coupling == "common":
        layers = [[r for r in range(len(reqs)) if reqs[r].zone is not None],
                  [r for r in range(len(reqs)) if reqs[r].zone is None]]
    active_at: dict[int, list[str]] = defaultdict(list)  # slot -> awarded bids active in it
    for b_id in awarded:
        for t in _slots(bids[b_id], n):
            active_at[t].append(b_id)
    need_at: dict[int, list[int]] = defaultdict(list)  # slot -> requests with a need in it
    for k, t in sorted(need):
        need_at[t].append(k)
    for t in range(n):
        for layer in layers:
            here = [r for r in layer if (r, t) in need]
            if not here:
                continue
            supply: dict[tuple[int, ...], int] = defaultdict(int)
            for b_id in active_at.get(t, ()):
                b, w = bids[b_id], awarded[b_id]
                serves = tuple(r for r in here if reqs[r].direction == b.direction
                               and reqs[r].zone in (None, b.zone)
                               and b.price_eur_per_mw <= _cap(reqs[r].max_price_eur_per_mw))
                if serves:
                    supply[serves] += w
            groups = sorted(supply)
            pos = {r: j for j, r in enumerate(here)}
            edges = [(i, pos[r]) for i, g in enumerate(groups) for r in g]
            caps = [supply[g] for g in groups]
            full = sum(bipartite_max_flow(caps, [need[(r, t)] for r in here], edges).values())
            target = [received[(r, t)] for r in here]
            fits = sum(bipartite_max_flow(caps, target, edges).values())
            if full != sum(target) or fits != sum(target):
                fail("unmet", f"slot {t}: the awards serve {full} W of {[reqs[r].id for r in here]}"
                              f", the result claims {sum(target)} W")

    # --- shares
    payment = {a.bid: a.payment_ueur for a in result.awards}
    rank: dict[str, int] = {r: i for i, r in enumerate(order)}
    # buyer order: role priority, then each buyer's first request (need index on chain)
    first: dict[str, int] = {}
    for i, req in enumerate(scenario.requests):
        first.setdefault(req.buyer, i)
    buyers: list[Any] = [p.id for p in sorted(
        (p for p in scenario.participants if p.role in rank),
        key=lambda p: (rank[p.role], first.get(p.id, len(scenario.requests))))]
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in result.shares or []:
        rows[str(row.get("bid"))].append(row)
    if set(rows) != set(payment):
        fail("shares", "should have rows for exactly the awarded bids")
    per_buyer: dict[str, int] = defaultdict(int)
    for b_id, rs in rows.items():
        names = [r.get("buyer") for r in rs]
        if (any(x not in buyers for x in names) or len(set(names)) < len(names)
                or names != sorted(names, key=buyers.index)):
            fail(f"shares.{b_id}", f"buyers {names} not distinct buyers in priority order")
            continue
        total = sum(int(r["payment_ueur"]) for r in rs)
        if total != payment.get(b_id):
            fail(f"shares.{b_id}", f"add up to {total}, the payment is {payment.get(b_id)}")
        got = [int(r["received_w_slots"]) for r in rs]
        for r in rs:
            per_buyer[str(r["buyer"])] += int(r["received_w_slots"])
        if sum(got):
            p = payment.get(b_id, 0)
            expect = [p * w // sum(got) for w in got]
            expect[0] += p - sum(expect)
            if [int(r["payment_ueur"]) for r in rs] != expect or 0 in got:
                fail(f"shares.{b_id}", f"payments {[r['payment_ueur'] for r in rs]}, "
                                       f"in proportion to {got} they are {expect}")
        elif len(rs) != 1:
            fail(f"shares.{b_id}", "an award that served no request has one payer")
        elif b_id in bids and rs[0].get("buyer") != (payer := _payer(scenario, bids[b_id], buyers)):
            fail(f"shares.{b_id}", f"an award that served no request is paid by {payer}, "
                                   f"not {rs[0].get('buyer')}")
    for buyer in buyers:
        want = sum(w for (r, _), w in received.items() if reqs[r].buyer == buyer)
        if per_buyer.get(buyer, 0) != want:
            fail("shares", f"{buyer} received {per_buyer.get(buyer, 0)} W x slot by its shares, "
                           f"{want} W x slot by its requests")

    # --- conflicts
    conflicts = result.conflicts
    if conflicts is None:
        fail("conflicts", "missing")
        return out
    for i, c in enumerate(conflicts):
        if set(c) != KEYS or c.get("type") not in TYPES or not _only_ints_and_strings(c):
            fail(f"conflicts[{i}]", "not a well formed conflict (keys, type, ints and strings)")
    stated = {(c.get("type"), c.get("slot")) for c in conflicts}
    for t in range(n):
        zonal = [r for r in range(len(reqs)) if reqs[r].zone is not None and received.get((r, t))]
        net = sum((awarded[b] if bids[b].direction == "up" else -awarded[b])
                  for b in active_at.get(t, ()))
        net -= sum((w if reqs[r].direction == "up" else -w) for (r, tt), w in received.items()
                   if tt == t and reqs[r].zone is None)
        if (("imbalance", t) in stated) != bool(zonal and net):
            fail("conflicts", f"slot {t}: imbalance {net} W after DSO actions, stated "
                              f"{('imbalance', t) in stated}")
        for d in ("up", "down"):
            here = [r for r in need_at.get(t, ()) if reqs[r].direction == d]
            scarce = len({role[reqs[r].buyer] for r in here}) > 1 and any(
                unmet.get((reqs[r].id, t)) for r in here)
            found = any(c.get("type") == "scarcity" and c.get("slot") == t
                        and c.get("detail", {}).get("direction") == d for c in conflicts)
            if scarce != found:
                fail("conflicts", f"slot {t} {d}: scarcity is {scarce}, stated {found}")
    return out
