"""`flexmarket wholesale verify` (spec/wholesale.md): checks 1-4, each violation naming the MTU
or the order; malformed files exit 2 naming the field."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from wholesale_helpers import auction, clearing_price

from oracle.wholesale import (
    WholesaleFileError,
    parse_results,
    payment_ueur,
    verify_results,
)

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "examples" / "wholesale" / "day_ahead_2026-05-26.json"


def checks(data):
    return [(v.check, v.where) for v in verify_results(parse_results(data))]


def order(data, pred):
    return next(o for o in data["orders"] if pred(o))


@pytest.mark.parametrize("seed", range(5))
def test_an_honest_auction_passes_every_check(seed):
    assert checks(auction(seed)) == []


def test_the_example_passes_and_its_hash_is_of_the_canonical_file():
    data = json.loads(EXAMPLE.read_text())
    r = parse_results(data)
    assert verify_results(r) == []
    reordered = json.dumps(data, sort_keys=True, indent=None)
    assert parse_results(reordered).results_hash() == r.results_hash()


def test_payment_formula_floors_toward_minus_infinity():
    assert payment_ueur(40_000, 60, 9_000) == 3_600_000  # the spec's example
    assert payment_ueur(1, 15, 1) == 0  # 15 / 6000
    assert payment_ueur(1, 15, -1) == -1  # floor(-0.0025)


def test_a_curve_missing_our_order_violates_check_1():
    data = auction()
    o = data["orders"][0]
    curve = data["curves"][o["mtu"]]["supply" if o["side"] == "sell" else "demand"]
    for pair in curve:
        if pair[0] == o["limit_ct_per_mwh"]:
            pair[1] -= 1  # the exchange lost a watt of our order
    found = checks(data)
    side = "supply" if o["side"] == "sell" else "demand"
    assert (1, f"mtu {o['mtu']} {side} at {o['limit_ct_per_mwh']} ct/MWh") in found


@pytest.mark.parametrize("delta", [1, -1])
def test_a_price_one_tick_off_violates_check_2(delta):
    data = auction()
    mtu = 3
    data["prices_ct_per_mwh"][mtu] += delta
    for o in data["orders"]:  # keep our orders consistent with the moved price
        if o["mtu"] == mtu:
            o["payment_ueur"] = payment_ueur(o["accepted_w"], 60, data["prices_ct_per_mwh"][mtu])
    assert (2, f"mtu {mtu}") in checks(data)


def test_a_price_outside_floor_and_cap_violates_check_2():
    data = auction()
    data["prices_ct_per_mwh"][0] = data["price_cap_ct_per_mwh"] + 1
    assert (2, "mtu 0") in checks(data)


def test_the_floor_price_needs_no_lower_tick():
    supply, demand = [[-50_000, 1_000]], [[-50_000, 500]]
    assert clearing_price(supply, demand) == -50_000
    data = auction()
    data["curves"][0] = {"mtu": 0, "supply": supply, "demand": demand}
    data["prices_ct_per_mwh"][0] = -50_000
    data["orders"] = [o for o in data["orders"] if o["mtu"] != 0]
    assert checks(data) == []


def test_orders_not_treated_by_the_price_violate_check_3():
    data = auction()
    rejected = order(data, lambda o: o["accepted_w"] == 0)
    rejected["accepted_w"] = rejected["quantity_w"]
    rejected["payment_ueur"] = payment_ueur(rejected["quantity_w"], 60,
                                            data["prices_ct_per_mwh"][rejected["mtu"]])
    accepted = order(data, lambda o: o["accepted_w"] == o["quantity_w"] > 0)
    accepted["accepted_w"] -= 1
    accepted["payment_ueur"] = payment_ueur(accepted["accepted_w"], 60,
                                            data["prices_ct_per_mwh"][accepted["mtu"]])
    found = checks(data)
    assert (3, f"orders[{rejected['id']}]") in found
    assert (3, f"orders[{accepted['id']}]") in found
    assert {c for c, _ in found} == {3}


def test_an_order_at_the_price_may_be_accepted_in_part_but_not_beyond():
    # our sell of 1,000 W at 100 ct sets the price: S(100) = 1,000 >= D(100) = 500 and
    # S(99) = 0 < D(99) = 500; the exchange may accept any part of it
    data = auction(mtus=1, ours=0)
    data["curves"] = [{"mtu": 0, "supply": [[100, 1_000]], "demand": [[200, 500]]}]
    data["prices_ct_per_mwh"] = [clearing_price([[100, 1_000]], [[200, 500]])]
    assert data["prices_ct_per_mwh"] == [100]
    o = {"id": "O1", "participant": "AG1", "zone": "F1", "side": "sell", "mtu": 0,
         "quantity_w": 1_000, "limit_ct_per_mwh": 100}
    for accepted, ok in ((0, True), (500, True), (1_000, True), (1_001, False)):
        data["orders"] = [{**o, "accepted_w": accepted,
                           "payment_ueur": payment_ueur(accepted, 60, 100)}]
        assert (checks(data) == []) is ok, (accepted, checks(data))


def test_a_wrong_payment_violates_check_4():
    data = auction()
    o = order(data, lambda o: o["accepted_w"] > 0)
    o["payment_ueur"] += 1
    assert checks(data) == [(4, f"orders[{o['id']}]")]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda d: d["prices_ct_per_mwh"].pop(), "prices_ct_per_mwh"),
        (lambda d: d["curves"].pop(), "curves"),
        (lambda d: d["curves"].append(copy.deepcopy(d["curves"][0])), "curves[24].mtu"),
        (lambda d: d["orders"][1].update(id=d["orders"][0]["id"]), "orders[1].id"),
        (lambda d: d["orders"][0].update(mtu=24), "orders[0].mtu"),
        (lambda d: d["orders"][0].update(side="hold"), "orders[0].side"),
        (lambda d: d["orders"][0].update(accepted_w=-1), "orders[0].accepted_w"),
        (lambda d: d["orders"][0].update(quantity_w=1.5), "orders[0].quantity_w"),
        (lambda d: d.update(colour="red"), "colour"),
        (lambda d: d["curves"][0]["supply"].append(list(d["curves"][0]["supply"][0])),
         "curves[0].supply[40]"),
        (lambda d: d.update(price_cap_ct_per_mwh=-60_000), "price_cap_ct_per_mwh"),
        (lambda d: d["prices_ct_per_mwh"].__setitem__(0, 10**12), "prices_ct_per_mwh[0]"),
    ],
)
def test_a_malformed_file_names_the_field(mutate, field):
    data = auction()
    mutate(data)
    with pytest.raises(WholesaleFileError) as info:
        parse_results(data)
    assert field in [where for where, _ in info.value.problems], info.value.problems


def flexmarket(*args):
    return subprocess.run([sys.executable, "-m", "flexmarket", *args], capture_output=True,
                          text=True, cwd=ROOT, check=False)


def test_cli_exit_codes_0_1_2(tmp_path):
    proc = flexmarket("wholesale", "verify", str(EXAMPLE), "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] is True and doc["violations"] == [] and doc["mtus"] == 24
    data = json.loads(EXAMPLE.read_text())
    o = order(data, lambda o: o["accepted_w"] > 0)
    o["payment_ueur"] += 7
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    proc = flexmarket("wholesale", "verify", str(bad))
    assert proc.returncode == 1
    assert f"check 4: orders[{o['id']}]: payment" in proc.stdout
    data["mtus"] = "24"
    bad.write_text(json.dumps(data))
    proc = flexmarket("wholesale", "verify", str(bad))
    assert proc.returncode == 2 and "mtus: " in proc.stderr and proc.stdout == ""
    assert "Traceback" not in proc.stderr
