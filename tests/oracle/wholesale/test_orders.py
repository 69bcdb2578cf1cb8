"""The spot intermediary's order book and zone-limit grid check (oracle.wholesale.orders):
malformed books exit 2 naming the field, bad orders refused naming the order, curtailment
in arrival order per zone, MTU and direction, the book hash, check 5 off chain."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from oracle.wholesale import WholesaleFileError, parse_results
from oracle.wholesale.orders import (
    FlowFailure,
    GridRecord,
    check_forwarded,
    grid_check,
    parse_orders,
    refuse_failing,
)

ROOT = Path(__file__).resolve().parents[3]


def book(**change):
    data = {
        "schema": "flexmarket.wholesale-orders/1", "exchange": "Reference Exchange",
        "auction": "day-ahead", "delivery_start": "2026-05-26T00:00:00+02:00",
        "mtu_minutes": 60, "mtus": 24, "volume_step_w": 1000,
        "zones": [{"id": "F1", "max_sell_w": 50_000, "max_buy_w": [30_000] * 24},
                  {"id": "F2", "max_sell_w": 0, "max_buy_w": 100_000}],
        "orders": [
            {"id": "O1", "participant": "AG1", "zone": "F1", "side": "sell", "mtu": 17,
             "quantity_w": 40_000, "limit_ct_per_mwh": 9_000},
            {"id": "O2", "participant": "AG2", "zone": "F1", "side": "sell", "mtu": 17,
             "quantity_w": 25_000, "limit_ct_per_mwh": 5_000},
            {"id": "O3", "participant": "AG2", "zone": "F1", "side": "sell", "mtu": 17,
             "quantity_w": 1_000, "limit_ct_per_mwh": 5_000},
            {"id": "O4", "participant": "AG1", "zone": "F1", "side": "buy", "mtu": 17,
             "quantity_w": 30_000, "limit_ct_per_mwh": 20_000},
            {"id": "O5", "participant": "AG3", "zone": "F2", "side": "buy", "mtu": 3,
             "quantity_w": 20_000, "limit_ct_per_mwh": 400_000},
        ]}
    data.update(change)
    return data


def problems(data):
    with pytest.raises(WholesaleFileError) as exc:
        parse_orders(data)
    return [where for where, _ in exc.value.problems]


def test_zone_limits_per_direction_curtail_in_arrival_order_then_refuse():
    b = parse_orders(book())
    d = grid_check(b)
    got = {o.id: o.quantity_w for o in d.forwarded}
    # F1 sells in MTU 17 may add up to 50 kW: O1 40 kW, O2 curtailed to 10 kW, O3 refused;
    # the buy O4 has its own 30 kW (sells and buys clear independently)
    assert got == {"O1": 40_000, "O2": 10_000, "O4": 30_000, "O5": 20_000}
    assert d.requested_w == {"O2": 25_000}
    assert [r.order_id for r in d.refused] == ["O3"]
    assert "50000 W, 50000 W already taken" in d.refused[0].reason
    assert d.records == (GridRecord("F1", 17, 50_000, 30_000, 50_000, 30_000),
                         GridRecord("F2", 3, 0, 20_000, 0, 100_000))


def test_curtailment_rounds_down_to_the_volume_step():
    data = book(volume_step_w=7_000)
    data["orders"] = [dict(data["orders"][0], quantity_w=42_000),
                      dict(data["orders"][1], quantity_w=14_000)]
    d = grid_check(parse_orders(data))
    # 8 kW left after O1: 7 kW (one step)
    assert [(o.id, o.quantity_w) for o in d.forwarded] == [("O1", 42_000), ("O2", 7_000)]


@pytest.mark.parametrize(("change", "words"), [
    ({"zone": "F9"}, "zone 'F9' is not a local zone (F1, F2)"),
    ({"mtu": 24}, "MTU 24: the auction has MTUs 0 to 23"),
    ({"limit_ct_per_mwh": 400_001}, "outside the floor -50000 and the cap 400000"),
    ({"limit_ct_per_mwh": -50_001}, "outside the floor -50000 and the cap 400000"),
    ({"quantity_w": 1_500}, "not a positive multiple of the volume step 1000 W"),
    ({"quantity_w": 0}, "not a positive multiple"),
])
def test_a_bad_order_is_refused_naming_it_and_the_others_go_out(change, words):
    data = book()
    data["orders"][4].update(change)
    d = grid_check(parse_orders(data))
    assert [r.order_id for r in d.refused] == ["O3", "O5"]
    assert words in d.refused[1].reason
    assert "O5" not in {o.id for o in d.forwarded} and "O1" in {o.id for o in d.forwarded}


@pytest.mark.parametrize(("mutate", "where"), [
    (lambda d: d["orders"].append(dict(d["orders"][0])), "orders[5].id"),
    (lambda d: d["zones"].append(dict(d["zones"][0])), "zones[2].id"),
    (lambda d: d["zones"][0].update(max_buy_w=[1] * 23), "zones[0].max_buy_w"),
    (lambda d: d.update(price_cap_ct_per_mwh=-60_000), "price_cap_ct_per_mwh"),
    (lambda d: d["orders"][0].update(quantity_w=1.5), "orders[0].quantity_w"),
    (lambda d: d["orders"][0].update(side="hold"), "orders[0].side"),
    (lambda d: d.update(grid={"code": "x", "day": "26.05.2016"}), "grid.day"),
    (lambda d: d.update(volume_step_w=0), "volume_step_w"),
])
def test_a_malformed_book_names_the_field(mutate, where):
    data = book()
    mutate(data)
    assert where in problems(data)


def test_the_book_hash_covers_the_forwarded_orders_not_the_key_order():
    b = parse_orders(book())
    h = grid_check(b).book_hash(b)
    assert parse_orders(json.dumps(book(), sort_keys=True)) == b
    changed = book()
    changed["orders"][0]["limit_ct_per_mwh"] += 1
    b2 = parse_orders(changed)
    assert grid_check(b2).book_hash(b2) != h
    refused_only = book()
    refused_only["orders"][2]["limit_ct_per_mwh"] += 1  # O3 is refused: not in the book
    b3 = parse_orders(refused_only)
    assert grid_check(b3).book_hash(b3) == h


def test_refuse_failing_takes_out_one_mtu_and_direction_and_keeps_the_records_right():
    b = parse_orders(book())
    d = refuse_failing(b, grid_check(b), [FlowFailure(17, "sell", "line 3 at 104.00 %")])
    assert {o.id for o in d.forwarded} == {"O4", "O5"}
    assert [r.order_id for r in d.refused] == ["O3", "O1", "O2"]
    assert "line 3 at 104.00 %" in d.refused[1].reason
    assert d.requested_w == {}
    assert d.records[0] == GridRecord("F1", 17, 0, 30_000, 50_000, 30_000)


def results_for(decision, **change):
    orders = [{**o.model_dump(), "accepted_w": 0, "payment_ueur": 0}
              for o in decision.forwarded]
    doc = {"schema": "flexmarket.wholesale-results/1", "exchange": "Reference Exchange",
           "auction": "day-ahead", "delivery_start": "2026-05-26T00:00:00+02:00",
           "mtu_minutes": 60, "mtus": 24,
           "curves": [{"mtu": t, "supply": [], "demand": []} for t in range(24)],
           "prices_ct_per_mwh": [0] * 24, "orders": orders}
    doc.update(change)
    return doc


def test_check_5_finds_changed_lost_and_foreign_orders_and_records_beyond_limits():
    b = parse_orders(book())
    d = grid_check(b)
    assert check_forwarded(parse_results(results_for(d)), d.forwarded, d.records) == []
    doc = results_for(d)
    doc["orders"][0]["quantity_w"] += 1000
    doc["orders"][1]["limit_ct_per_mwh"] = 1
    del doc["orders"][2]
    doc["orders"].append({**doc["orders"][0], "id": "X9"})
    found = [(v.check, v.where, v.message) for v in
             check_forwarded(parse_results(doc), d.forwarded, d.records)]
    assert found == [
        (5, "orders[O1]", "differs from the forwarded order in quantity_w"),
        (5, "orders[O2]", "differs from the forwarded order in limit_ct_per_mwh"),
        (5, "orders[X9]", "was never forwarded"),
        (5, "orders[O4]", "was forwarded but is not in the results"),
    ]
    records = [GridRecord("F1", 17, 40_000, 30_000, 50_000, 30_000), d.records[1]]
    found = check_forwarded(parse_results(results_for(d)), d.forwarded, records)
    assert [(v.where, v.message) for v in found] == [
        ("mtu 17 zone F1", "50000 W of sells forwarded, the grid check allowed 40000 W")]
    over = [GridRecord("F1", 17, 60_000, 30_000, 50_000, 30_000), d.records[1]]
    assert [v.where for v in check_forwarded(parse_results(results_for(d)), d.forwarded,
                                             over)] == ["mtu 17 zone F1"]


def run(*args):
    return subprocess.run([sys.executable, "-m", "flexmarket.cli", "wholesale", *args],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_check_command_json_and_exit_2_naming_the_field(tmp_path):
    path = tmp_path / "book.json"
    path.write_text(json.dumps(book()))
    ok = run("check", str(path), "--json")
    assert ok.returncode == 0, ok.stderr
    doc = json.loads(ok.stdout)
    b = parse_orders(book())
    assert doc == grid_check(b).to_json(b)
    bad = copy.deepcopy(book())
    bad["orders"][1]["mtu"] = "17"
    path.write_text(json.dumps(bad))
    out = run("check", str(path))
    assert out.returncode == 2
    assert "orders[1].mtu" in out.stderr and "Traceback" not in out.stderr


def test_a_results_file_with_a_payment_beyond_any_auction_is_malformed():
    from oracle.wholesale import parse_results

    data = results_for(grid_check(parse_orders(book())))
    data["orders"][0]["payment_ueur"] = 10**40
    with pytest.raises(WholesaleFileError) as exc:
        parse_results(data)
    assert [w for w, _ in exc.value.problems] == ["orders[0].payment_ueur"]
