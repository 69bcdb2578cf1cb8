"""The capacity market's independent checker: re-validates a capacity result against its file
without the solver and without the clearing's code (gsy-e's habit: proposing and checking
apart; like `oracle.checker` for flexibility sessions).

What it checks, each violation naming where:
- the hashes: `input_hash` of the file, `result_hash` of the result's body;
- the rules 1-5: exactly the requests that break one are rejected, and get nothing;
- every allocation: a valid request's own participant and zone, one value per slot, each a
  multiple of the granularity, at most what was asked, 0 or at least the minimum
  (divisible), all or nothing (indivisible);
- capacity: in every zone and slot the allocations (and earlier holdings, net of applied
  releases) fit the zone's capacity, and `remaining_w` is what is left;
- money: each payment from its own price (pay-as-bid, IDM) or the zone's clearing prices
  (uniform, whose rule it re-derives), the totals and the welfare;
- what can be proven without a solver: premium and fcfs leave no granularity step unused in
  a slot where a valid divisible request without a minimum above the granularity is short,
  and (premium, pay-as-bid, DAM, all divisible) no request is short where one of a lower
  price got capacity. The welfare's optimality itself is a replica's re-solve.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from oracle.canonical import canonical_json, keccak_hex
from oracle.capacity.files import CapacityFile, Request
from oracle.capacity.result import CapacityResult


@dataclass(frozen=True)
class Violation:
    where: str  # "allocations[R1].allocated_w[3]", "zone F1 slot 4", "result_hash"
    message: str


def _slots(value: int | list[int], n: int) -> list[int]:
    return list(value) if isinstance(value, list) else [value] * n


def _broken_rule(f: CapacityFile, r: Request) -> str | None:
    """Which of the spec's rules 1-5 a request breaks (the checker's own reading)."""
    m = f.market
    roles = {p.id: p.role for p in f.participants}
    if roles.get(r.participant) not in ("aggregator", "prosumer"):
        return "1: participant"
    if r.zone not in {z.id for z in f.zones}:
        return "1: zone"
    q = _slots(r.quantity_w, m.slots)
    if len(q) != m.slots or min(q) < 0 or any(v % m.granularity_w for v in q):
        return "2: quantity_w"
    premium = m.mechanism == "premium"
    if premium and r.price_eur_per_mw_slot < m.reserve_price_eur_per_mw_slot:
        return "3: price"
    if m.phase == "DAM" and m.gate_closure is not None and r.submitted_at > m.gate_closure:
        return "4: gate closure"
    if not premium and m.social_rule == "pro_rata" and not r.divisible:
        return "5: pro_rata"
    return None


def check_capacity(f: CapacityFile, result: CapacityResult) -> list[Violation]:
    out: list[Violation] = []

    def fail(where: str, message: str) -> None:
        out.append(Violation(where, message))

    m = f.market
    n, g = m.slots, m.granularity_w
    if result.input_hash != keccak_hex(canonical_json(f.canonical())):
        fail("input_hash", "is not keccak256 of the canonical file")
    if result.result_hash != result.compute_result_hash():
        fail("result_hash", "does not match the result's body")
    if (result.market, result.phase, result.mechanism) != (m.id, m.phase, m.mechanism):
        fail("market", "market, phase or mechanism differs from the file's")
    requests = {r.id: r for r in f.requests}
    broken = {r.id: _broken_rule(f, r) for r in f.requests}
    rejected = {x.request for x in result.rejected}
    for rid, rule in broken.items():
        if rule is not None and rid not in rejected:
            fail(f"rejected[{rid}]", f"breaks rule {rule} but is not rejected")
        released_only = any(x.request == rid and x.reason.startswith("release")
                            for x in result.rejected)
        if rule is None and rid in rejected and not released_only:
            fail(f"rejected[{rid}]", "is rejected but breaks no rule")
    used: dict[str, list[int]] = {z.id: [0] * n for z in f.zones}
    for held in f.allocated:
        for t, w in enumerate(_slots(held.allocated_w, n)):
            used[held.zone][t] += w
    holder_zone = {held.request: held.zone for held in f.allocated}
    pro_rata = m.mechanism == "social_equity" and m.social_rule == "pro_rata" \
        and m.phase == "DAM"  # minimum quantities are not applied there
    seen: set[str] = set()
    welfare = 0
    got: dict[str, list[int]] = {}
    for a in result.allocations:
        where = f"allocations[{a.request}]"
        r = requests.get(a.request)
        if r is None or broken.get(a.request) is not None:
            fail(where, "is not a valid request of the file")
            continue
        if a.request in seen:
            fail(where, "listed twice")
        seen.add(a.request)
        holder_zone[a.request] = r.zone
        if (a.participant, a.zone) != (r.participant, r.zone):
            fail(where, "participant or zone is not the request's")
        q = _slots(r.quantity_w, n)
        if len(a.allocated_w) != n:
            fail(f"{where}.allocated_w", f"has {len(a.allocated_w)} values, not {n}")
            continue
        got[a.request] = list(a.allocated_w)
        for t, w in enumerate(a.allocated_w):
            at = f"{where}.allocated_w[{t}]"
            if w < 0 or w % g or w > q[t]:
                fail(at, f"{w} W: not a multiple of {g} W from 0 to the {q[t]} W asked")
            elif r.divisible and not pro_rata and 0 < w < (r.min_quantity_w or 0):
                fail(at, f"{w} W is below the minimum {r.min_quantity_w} W")
        if not r.divisible and list(a.allocated_w) != q and any(a.allocated_w):
            fail(f"{where}.allocated_w", "an indivisible request gets all it asked or nothing")
        if a.zone in used:
            for t, w in enumerate(a.allocated_w):
                used[a.zone][t] += w
        welfare += r.price_eur_per_mw_slot * sum(a.allocated_w)
    # IDM releases, replayed in time order against what each request holds then (earlier
    # holdings, and this file's requests from their submission on, as the result gives them)
    released: dict[str, list[int]] = defaultdict(lambda: [0] * n)
    holding = {held.request: _slots(held.allocated_w, n) for held in f.allocated}
    events = sorted([(rel.submitted_at, 0, f"{i:09d}") for i, rel in enumerate(f.releases)]
                    + [(r.submitted_at, 1, r.id) for r in f.requests if r.id in got])
    refusals = 0
    for _, kind, key in events:
        if kind == 1:
            holding[key] = list(got[key])
            continue
        rel = f.releases[int(key)]
        have = holding.get(rel.request, [0] * n)
        q = _slots(rel.quantity_w, n)
        if any(q[t] > have[t] for t in range(n)):
            refusals += 1
            continue
        for t in range(n):
            have[t] -= q[t]
            released[holder_zone[rel.request]][t] += q[t]
    if refusals != sum(1 for x in result.rejected if x.reason.startswith("release")):
        fail("rejected", f"{refusals} release(s) return more than their request holds, the "
             "result refuses another number")
    for z in f.zones:
        cap = _slots(z.capacity_w, n)
        for t in range(n):
            left = cap[t] - used[z.id][t] + released[z.id][t]
            if m.phase == "DAM" and used[z.id][t] > cap[t]:
                fail(f"zone {z.id} slot {t}", f"{used[z.id][t]} W allocated, capacity "
                     f"{cap[t]} W")
            if result.remaining_w.get(z.id, [None] * n)[t] != left:
                fail(f"remaining_w[{z.id}][{t}]", f"should be {left} W")
    premium = m.mechanism == "premium"
    valid = [r for r in f.requests if broken[r.id] is None]
    # money
    uniform = premium and m.pricing == "uniform" and m.phase == "DAM"
    prices: dict[str, list[int]] = {}
    if uniform:
        for z in f.zones:
            zone_prices = []
            for t in range(n):
                here = [r for r in valid if r.zone == z.id]
                is_short = any(got.get(r.id, [0] * n)[t] < _slots(r.quantity_w, n)[t]
                               for r in here)
                allocated = [r.price_eur_per_mw_slot for r in here if got.get(r.id, [0] * n)[t]]
                zone_prices.append(min(allocated) if is_short and allocated else
                                   m.reserve_price_eur_per_mw_slot)
            prices[z.id] = zone_prices
        if result.clearing_prices != prices:
            fail("clearing_prices", "do not follow the uniform pricing rule")
    elif result.clearing_prices is not None:
        fail("clearing_prices", "given without uniform pricing in a DAM")
    for a in result.allocations:
        r = requests.get(a.request)
        if r is None or len(a.allocated_w) != n:
            continue
        if not premium:
            want = 0
        elif uniform:
            want = sum(w * p for w, p in zip(a.allocated_w, prices[r.zone], strict=True))
        else:
            want = r.price_eur_per_mw_slot * sum(a.allocated_w)
        if a.payment_ueur != want:
            fail(f"allocations[{a.request}].payment_ueur", f"{a.payment_ueur}, should be {want}")
    if result.total_payment_ueur != sum(a.payment_ueur for a in result.allocations):
        fail("total_payment_ueur", "is not the sum of the payments")
    if result.welfare_ueur != (welfare if premium else 0):
        fail("welfare_ueur", f"should be {welfare if premium else 0}")
    # what is provable without a solver (DAM; pro rata shares by its own rule)
    if m.phase == "DAM" and not (not premium and m.social_rule == "pro_rata"):
        for z in f.zones:
            cap = _slots(z.capacity_w, n)
            here = [r for r in valid if r.zone == z.id]
            for t in range(n):
                spare = cap[t] - used[z.id][t]
                for r in here:
                    short = _slots(r.quantity_w, n)[t] - got.get(r.id, [0] * n)[t]
                    if (spare >= g and short >= g and r.divisible
                            and (r.min_quantity_w or g) <= g):
                        fail(f"zone {z.id} slot {t}", f"{spare} W unused while {r.id} is "
                             f"{short} W short")
                        break
            if premium and m.pricing == "pay_as_bid" and all(r.divisible for r in here):
                for t in range(n):
                    for r in here:
                        if got.get(r.id, [0] * n)[t] >= _slots(r.quantity_w, n)[t]:
                            continue
                        cheaper = [s for s in here if got.get(s.id, [0] * n)[t] >= g
                                   and s.price_eur_per_mw_slot < r.price_eur_per_mw_slot
                                   and (r.min_quantity_w or g) <= g]
                        if cheaper:
                            fail(f"zone {z.id} slot {t}", f"{r.id} is short while the "
                                 f"cheaper {cheaper[0].id} got capacity")
    return out
