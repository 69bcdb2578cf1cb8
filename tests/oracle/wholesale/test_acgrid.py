"""The AC part of the spot intermediary's grid check (oracle.wholesale.acgrid) on the
SimBench LV grid 1-LV-semiurb4--2-sw, 26 May 2016: orders the zone limits let through are
refused when the power flow with every order of their MTU and direction fails."""

from __future__ import annotations

import pytest

from oracle.grid.errors import GridError
from oracle.wholesale.acgrid import ac_failures, check_zones, load_grid, steps_of
from oracle.wholesale.orders import grid_check, parse_orders, refuse_failing

GRID = {"code": "1-LV-semiurb4--2-sw", "day": "2016-05-26", "zones": "feeder"}


def book(orders, **change):
    data = {"schema": "flexmarket.wholesale-orders/1", "exchange": "Reference Exchange",
            "auction": "day-ahead", "delivery_start": "2026-05-26T00:00:00+02:00",
            "mtu_minutes": 60, "mtus": 24, "volume_step_w": 1000, "grid": GRID,
            "zones": [{"id": z, "max_sell_w": 10**9, "max_buy_w": 10**9}
                      for z in ("T0-L9", "T0-L24", "T0-L33")],
            "orders": [{"id": f"O{k}", "participant": "AG1", "zone": zone, "side": side,
                        "mtu": mtu, "quantity_w": q, "limit_ct_per_mwh": 9_000}
                       for k, (zone, side, mtu, q) in enumerate(orders)]}
    data.update(change)
    return parse_orders(data)


@pytest.fixture(scope="module")
def grid():
    return load_grid(book([]))


def test_an_order_that_overloads_its_feeder_is_refused_naming_the_element(grid):
    model, solver = grid
    b = book([("T0-L24", "buy", 18, 400_000),  # 400 kW more load on a 187 kW feeder
              ("T0-L24", "buy", 3, 2_000),  # small: passes
              ("T0-L24", "sell", 18, 2_000),  # the other direction of MTU 18: passes
              ("T0-L33", "sell", 12, 3_000),  # noon: PV feed-in already past a limit
              ("T0-L33", "buy", 12, 3_000)])  # noon: more load relieves it, passes
    decision = grid_check(b)
    assert len(decision.forwarded) == 5  # the zone limits (1 GW) let all through
    failures = ac_failures(b, decision, model, solver)
    assert [(f.mtu, f.side) for f in failures] == [(12, "sell"), (18, "buy")]
    assert all(f.reason.startswith(("line", "trafo", "bus")) for f in failures)
    checked = refuse_failing(b, decision, failures)
    assert [o.id for o in checked.forwarded] == ["O1", "O2", "O4"]
    assert [r.order_id for r in checked.refused] == ["O0", "O3"]
    assert "AC power flow with every buy of MTU 18 accepted" in checked.refused[0].reason


def test_the_grid_must_hold_the_books_zones_and_mtus(grid):
    model, _ = grid
    bad = book([], zones=[{"id": "F1", "max_sell_w": 1, "max_buy_w": 1}])
    with pytest.raises(GridError, match=r"zones\[0\].id: 'F1' is not a feeder zone"):
        check_zones(bad, model)
    with pytest.raises(GridError, match="mtu_minutes: 20"):
        steps_of(book([], mtu_minutes=20, mtus=24))
    with pytest.raises(GridError, match="delivery_start"):
        steps_of(book([], delivery_start="2026-05-26T12:00:00+02:00"))
    assert steps_of(book([], mtu_minutes=15, mtus=96)) == (0, 1)


def test_the_intermediarys_check_runs_the_ac_check_before_anything_goes_out(grid):
    from nodes.wholesale.spot import SpotIntermediary

    b = book([("T0-L24", "buy", 18, 400_000), ("T0-L24", "buy", 3, 2_000)])
    decision = SpotIntermediary(b, adapter=None, grid=grid).check()  # type: ignore[arg-type]
    assert [o.id for o in decision.forwarded] == ["O1"]
    assert decision.records[0].mtu == 3 and decision.records[0].buy_w == 2_000


def test_a_grid_that_does_not_exist_names_the_books_field():
    with pytest.raises(GridError, match=r"^grid\.code: 'nope'"):
        load_grid(book([], grid={"code": "nope", "day": "2016-05-26"}))


def test_mfrr_bids_whose_activation_would_overload_are_refused_before_aggregation(grid):
    from oracle.wholesale.acgrid import decide_mfrr
    from oracle.wholesale.mfrr import parse_bids

    bids = [("D1", "T0-L24", "down", 4, 400_000, 1_000, True),  # 18:00, 400 kW more load
            ("U1", "T0-L24", "up", 4, 50_000, 1_000, True),  # 50 kW less load: passes
            ("D2", "T0-L24", "down", 0, 2_000, 1_000, True)]  # 17:00, small
    b = parse_bids({
        "schema": "flexmarket.mfrr-bids/1", "platform": "Reference mFRR",
        "delivery_start": "2026-05-26T17:00:00+02:00", "quarters": 8, "grid": GRID,
        "product_step_w": 50_000,  # an LV feeder's scale (the standard product is 1 MW)
        "zones": [{"id": "T0-L24", "max_up_w": 10**9, "max_down_w": 10**9}],
        "bids": [{"id": i, "participant": "AG1", "zone": z, "direction": d, "quarter": q,
                  "quantity_w": w, "price_ct_per_mwh": p, "divisible": div}
                 for i, z, d, q, w, p, div in bids]})
    d = decide_mfrr(b, grid)
    assert [r.order_id for r in d.refused] == ["D1"]
    assert "AC power flow with every down bid of quarter 4 activated: line" in \
        d.refused[0].reason
    assert {x.id for x in d.admitted} == {"U1", "D2"}
    assert [p.parts for p in d.products] == [(("U1", 50_000),)]
