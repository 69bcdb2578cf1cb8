"""The reference exchange's clearing (refmarkets.clearing): its price is the spec's `p*`,
its acceptances pass checks 1-4 of the independent verifier, integers throughout."""

from __future__ import annotations

import json
import random

import pytest

from oracle.wholesale import parse_results, payment_ueur, verify_results
from refmarkets.background import BackgroundError, generate, load, to_document
from refmarkets.clearing import StepOrder, clear_mtu, clearing_price

FLOOR, CAP = -50_000, 400_000


def brute_price(orders, floor, cap):
    for p in range(floor, cap + 1):
        s = sum(o.quantity_w for o in orders if o.side == "sell" and o.limit_ct_per_mwh <= p)
        d = sum(o.quantity_w for o in orders if o.side == "buy" and o.limit_ct_per_mwh >= p)
        if s >= d:
            return p
    return cap


def random_orders(rng, n, floor, cap):
    return [StepOrder(f"X{k}", rng.choice(["sell", "buy"]), rng.randrange(1, 50),
                      rng.randrange(floor, cap + 1)) for k in range(n)]


@pytest.mark.parametrize("seed", range(40))
def test_the_price_is_the_lowest_tick_where_supply_covers_demand(seed):
    rng = random.Random(seed)
    orders = random_orders(rng, rng.randrange(0, 12), -20, 40)
    assert clear_mtu(orders, -20, 40).price_ct_per_mwh == brute_price(orders, -20, 40)


def results_of(orders_by_mtu, mtu_minutes=60):
    """Every order of every MTU as 'ours' in a results file."""
    curves, prices, ours = [], [], []
    for t, orders in enumerate(orders_by_mtu):
        m = clear_mtu(orders, FLOOR, CAP)
        curves.append({"mtu": t, "supply": [list(x) for x in m.supply],
                       "demand": [list(x) for x in m.demand]})
        prices.append(m.price_ct_per_mwh)
        ours += [{"id": f"{t}/{o.id}", "participant": "P", "zone": "Z", "side": o.side,
                  "mtu": t, "quantity_w": o.quantity_w, "limit_ct_per_mwh": o.limit_ct_per_mwh,
                  "accepted_w": m.accepted_w[o.id],
                  "payment_ueur": payment_ueur(m.accepted_w[o.id], mtu_minutes,
                                               m.price_ct_per_mwh)} for o in orders]
    return {"schema": "flexmarket.wholesale-results/1", "exchange": "X", "auction": "day-ahead",
            "delivery_start": "2026-05-26T00:00:00+02:00", "mtu_minutes": mtu_minutes,
            "mtus": len(orders_by_mtu), "price_floor_ct_per_mwh": FLOOR,
            "price_cap_ct_per_mwh": CAP, "curves": curves, "prices_ct_per_mwh": prices,
            "orders": ours}


@pytest.mark.parametrize("seed", range(10))
def test_every_order_treated_as_the_spec_checks_say(seed):
    rng = random.Random(seed)
    by_mtu = []
    for _ in range(6):
        orders = [StepOrder(f"S{k}", "sell", rng.randrange(1, 10**7), rng.randrange(0, 300, 10))
                  for k in range(rng.randrange(1, 15))]
        orders += [StepOrder(f"B{k}", "buy", rng.randrange(1, 10**7), rng.randrange(0, 300, 10))
                   for k in range(rng.randrange(1, 15))]
        by_mtu.append(orders)
    assert verify_results(parse_results(results_of(by_mtu))) == []


def test_the_background_day_clears_and_passes_checks_1_to_4():
    bg = generate(3, 24, 60, FLOOR, CAP)
    by_mtu = [[StepOrder(b.id, b.side, b.quantity_w, b.limit_ct_per_mwh) for b in bg if b.mtu == t]
              for t in range(24)]
    data = results_of(by_mtu)
    assert verify_results(parse_results(data)) == []
    assert len(set(data["prices_ct_per_mwh"])) > 10  # a day, not one price


def test_orders_at_the_price_share_pro_rata_and_the_left_watts_by_remainder_then_arrival():
    orders = [StepOrder("D", "buy", 10, 100), StepOrder("A", "sell", 3, 100),
              StepOrder("B", "sell", 3, 100), StepOrder("C", "sell", 3, 100),
              StepOrder("S0", "sell", 3, 50)]
    m = clear_mtu(orders, FLOOR, CAP)
    # S(100) = 12 >= D(100) = 10, S(99) = 3 < D(99) = 10: p* = 100, V = 10
    assert (m.price_ct_per_mwh, m.volume_w, m.imbalance_w) == (100, 10, 0)
    # 7 W over A, B, C (3 W each): 2 each, the one left to A (equal remainders: first)
    assert [m.accepted_w[k] for k in "ABC"] == [3, 2, 2]
    assert m.accepted_w["S0"] == 3 and m.accepted_w["D"] == 10


def test_the_one_tick_corner_keeps_check_3_and_reports_the_imbalance():
    orders = [StepOrder("S", "sell", 100, 10), StepOrder("B1", "buy", 50, 20),
              StepOrder("B2", "buy", 100, 14)]
    m = clear_mtu(orders, FLOOR, CAP)
    assert m.price_ct_per_mwh == 15  # S(14) = 100 < D(14) = 150; S(15) = 100 >= 50
    assert m.accepted_w == {"S": 100, "B1": 50, "B2": 0}
    assert m.imbalance_w == 50


def test_supply_short_at_the_cap_prices_the_cap():
    orders = [StepOrder("S", "sell", 10, 0), StepOrder("B", "buy", 30, CAP)]
    m = clear_mtu(orders, FLOOR, CAP)
    assert (m.price_ct_per_mwh, m.volume_w, m.accepted_w) == (CAP, 10, {"S": 10, "B": 10})
    assert clearing_price([], [], FLOOR, CAP) == FLOOR


def test_background_is_the_same_for_a_seed_and_round_trips_through_its_file(tmp_path):
    a, b = generate(7, 24, 60, FLOOR, CAP), generate(7, 24, 60, FLOOR, CAP)
    assert a == b and a != generate(8, 24, 60, FLOOR, CAP)
    path = tmp_path / "bg.json"
    path.write_text(json.dumps(to_document(7, a)))
    assert load(path, 24, FLOOR, CAP) == a


@pytest.mark.parametrize(("change", "field"), [
    ({"mtu": 24}, "orders[0].mtu"),
    ({"limit_ct_per_mwh": CAP + 1}, "orders[0].limit_ct_per_mwh"),
    ({"side": "hold"}, "orders[0].side"),
    ({"quantity_w": 0}, "orders[0].quantity_w"),
])
def test_a_bad_background_file_names_the_field(tmp_path, change, field):
    doc = to_document(1, generate(1, 24, 60, FLOOR, CAP))
    doc["orders"][0].update(change)
    path = tmp_path / "bg.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(BackgroundError, match=field.replace("[", r"\[").replace("]", r"\]")):
        load(path, 24, FLOOR, CAP)
