"""Checks 1-4 of `../shared/spec/wholesale.md` on an imported results file: what every node
verifies about an exchange's auction without trusting the platform that imported it.

1. the curves hold our orders (per MTU, side and limit price);
2. the published price clears the curves (step orders, uniform price): `S(p*) >= D(p*)`
   and, unless `p*` is the floor, `S(p* - 1) < D(p* - 1)`; `p*` within floor and cap;
3. our orders are treated by the price (in the money: in full; out: nothing; at `p*`:
   between 0 and the quantity);
4. each payment is `floor(accepted_w * mtu_minutes * p* / 6000)` µEUR.

Check 5 (the local grid check recorded on chain when an order was forwarded) needs the chain
and is the replica's. Each violation names the MTU or the order. Integers throughout.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from oracle.wholesale.results import Curve, Order, WholesaleResults

VERIFICATION_SCHEMA = "flexmarket.wholesale-verification/1"
CT_WH_PER_UEUR = 6000
"""W x minutes x ct/MWh / 6000 = µEUR (W x h = Wh; 1 ct/MWh = 0.01 µEUR/Wh; 60 min/h)."""
SIDE_CURVE = {"sell": "supply", "buy": "demand"}


@dataclass(frozen=True)
class Violation:
    check: int  # 1-4, the spec's numbering
    where: str  # "mtu 17", "mtu 17 supply at 9000 ct/MWh", "orders[O1]"
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "where": self.where, "message": self.message}


def payment_ueur(accepted_w: int, mtu_minutes: int, price_ct_per_mwh: int) -> int:
    """An order's payment (floor toward minus infinity, as the spec's `floor`)."""
    return accepted_w * mtu_minutes * price_ct_per_mwh // CT_WH_PER_UEUR


def supply_at(curve: Curve, price: int) -> int:
    """S(p): supply with a limit at or below p."""
    return sum(q for limit, q in curve.supply if limit <= price)


def demand_at(curve: Curve, price: int) -> int:
    """D(p): demand with a limit at or above p."""
    return sum(q for limit, q in curve.demand if limit >= price)


def _curves_hold_orders(r: WholesaleResults, curves: dict[int, Curve]) -> list[Violation]:
    ours: dict[tuple[int, str, int], int] = defaultdict(int)
    for o in r.orders:
        ours[o.mtu, o.side, o.limit_ct_per_mwh] += o.quantity_w
    at_price: dict[tuple[int, str], dict[int, int]] = {}  # one pass over each curve used
    out = []
    for (mtu, side, limit), total in sorted(ours.items()):
        name = SIDE_CURVE[side]
        if (mtu, name) not in at_price:
            steps: dict[int, int] = defaultdict(int)
            for p, q in getattr(curves[mtu], name):
                steps[p] += q
            at_price[mtu, name] = steps
        held = at_price[mtu, name].get(limit, 0)
        if held < total:
            out.append(Violation(1, f"mtu {mtu} {name} at {limit} ct/MWh",
                                 f"the curve holds {held} W, our {side} orders at that price "
                                 f"add up to {total} W"))
    return out


def _price_clears(r: WholesaleResults, mtu: int, curve: Curve) -> list[Violation]:
    p = r.prices_ct_per_mwh[mtu]
    floor, cap = r.price_floor_ct_per_mwh, r.price_cap_ct_per_mwh
    where = f"mtu {mtu}"
    if not floor <= p <= cap:
        return [Violation(2, where, f"price {p} ct/MWh outside the floor {floor} and the cap "
                          f"{cap}")]
    out = []
    s, d = supply_at(curve, p), demand_at(curve, p)
    if s < d:
        out.append(Violation(2, where, f"at the price {p} ct/MWh supply {s} W is short of "
                             f"demand {d} W: the price is too low"))
    if p > floor:
        s1, d1 = supply_at(curve, p - 1), demand_at(curve, p - 1)
        if s1 >= d1:
            out.append(Violation(2, where, f"at {p - 1} ct/MWh, one tick lower, supply {s1} W "
                                 f"already covers demand {d1} W: the price is too high"))
    return out


def _order_treated(r: WholesaleResults, o: Order) -> list[Violation]:
    p = r.prices_ct_per_mwh[o.mtu]
    where = f"orders[{o.id}]"
    in_money = (o.side == "sell" and o.limit_ct_per_mwh < p) or (
        o.side == "buy" and o.limit_ct_per_mwh > p)
    out_money = (o.side == "sell" and o.limit_ct_per_mwh > p) or (
        o.side == "buy" and o.limit_ct_per_mwh < p)
    out = []
    if o.accepted_w > o.quantity_w:
        out.append(Violation(3, where, f"accepted {o.accepted_w} W of an order of "
                             f"{o.quantity_w} W"))
    elif in_money and o.accepted_w != o.quantity_w:
        out.append(Violation(3, where, f"a {o.side} at {o.limit_ct_per_mwh} ct/MWh is in the "
                             f"money at {p}: accepted {o.accepted_w} W, not its "
                             f"{o.quantity_w} W"))
    elif out_money and o.accepted_w != 0:
        out.append(Violation(3, where, f"a {o.side} at {o.limit_ct_per_mwh} ct/MWh is out of "
                             f"the money at {p}: accepted {o.accepted_w} W, not 0"))
    want = payment_ueur(o.accepted_w, r.mtu_minutes, p)
    if o.payment_ueur != want:
        out.append(Violation(4, where, f"payment {o.payment_ueur} µEUR, but {o.accepted_w} W "
                             f"x {r.mtu_minutes} min x {p} ct/MWh / 6000 = {want} µEUR"))
    return out


def verify_results(r: WholesaleResults) -> list[Violation]:
    """Checks 1-4, in that order; empty when the file is consistent."""
    curves = r.curves_by_mtu()
    out = _curves_hold_orders(r, curves)
    for mtu in range(r.mtus):
        out += _price_clears(r, mtu, curves[mtu])
    for o in r.orders:
        out += _order_treated(r, o)
    return out


def report(r: WholesaleResults, violations: list[Violation]) -> dict[str, Any]:
    """The verification as a JSON object (`flexmarket wholesale verify --json`)."""
    canonical = r.canonical()
    return {
        "schema": VERIFICATION_SCHEMA,
        "exchange": r.exchange,
        "auction": r.auction,
        "delivery_start": canonical["delivery_start"],
        "mtus": r.mtus,
        "orders": len(r.orders),
        "ok": not violations,
        "violations": [v.to_json() for v in violations],
        "totals": {
            "sell_payment_ueur": sum(o.payment_ueur for o in r.orders if o.side == "sell"),
            "buy_payment_ueur": sum(o.payment_ueur for o in r.orders if o.side == "buy"),
        },
        "results_hash": r.results_hash(canonical),
    }
