"""Network-constrained clearing: the small grid picks the safe bid, the SimBench day is safe."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from oracle import clear, parse_scenario
from oracle.grid.clearing import bid_injections, clear_with_grid, grid_case, injection_mw
from oracle.grid.generate import generate
from tests.oracle.grid.conftest import EXAMPLE, LV_CODE, LV_DAY
from tests.oracle.grid.small_grid import small_scenario


def _awards(result) -> dict[str, int]:  # type: ignore[no-untyped-def]
    return {a.bid: a.quantity_w for a in result.awards}


def test_cheapest_bid_would_overload_the_thin_line_so_the_engine_picks_the_other(
    small_grid_file: Path,
) -> None:
    scenario = parse_scenario(small_scenario(small_grid_file))
    # without the grid the battery behind the thin line wins: 80 kW at 100 EUR/MW
    assert _awards(clear(scenario)) == {"B-BAT": 80_000}
    # ... and would overload that line: 80 kW / (sqrt(3) * 0.4 kV) = 115 A of 100 A
    case = grid_case(scenario)
    extra = injection_mw(case.model, bid_injections(scenario, case), {"B-BAT": 80_000})
    ac = case.solver.solve(case.model.p_mw - extra, case.model.q_mvar)
    assert 110 < ac.loading_percent[0][1] < 120
    # with the grid the shop's 50 kW load cut is taken instead
    result = clear_with_grid(scenario, case=case)
    assert _awards(result) == {"B-SHOP": 50_000}
    check = result.grid_check
    assert check is not None and check["ok"] is True
    assert check["before"]["element"] == "line 0"
    assert float(check["before"]["max_loading_percent"]) > 115
    assert float(check["after"]["max_loading_percent"]) <= 100
    assert [s["slot"] for s in check["slots"]] == [0]
    # figures are decimal strings: results hold no floats
    assert check["after"]["max_loading_percent"].count(".") == 1
    assert result.result_hash == result.compute_result_hash()


def test_simbench_example_clears_with_no_element_above_limits() -> None:
    scenario = parse_scenario(json.loads(EXAMPLE.read_text()))
    result = clear_with_grid(scenario)
    check = result.grid_check
    assert check is not None and check["ok"] is True
    assert float(check["before"]["max_loading_percent"]) > 128
    assert float(check["after"]["max_loading_percent"]) <= 100.0
    assert len(check["slots"]) == 96
    for s in check["slots"]:
        assert float(s["after"]["max_loading_percent"]) <= 100.0
        assert float(s["after"]["min_vm_pu"]) >= 0.9 and float(s["after"]["max_vm_pu"]) <= 1.1
    assert result.unmet == []
    # only assets of the congested feeder are awarded
    zones = {b.id: b.zone for b in scenario.bids}
    assert {zones[a.bid] for a in result.awards} == {"T0-L33"}


def test_simbench_example_is_what_the_seeded_generator_makes() -> None:
    assert generate(LV_CODE, LV_DAY) == json.loads(EXAMPLE.read_text())


def test_awards_shift_injection_by_direction_split_by_p_max(small_grid_file: Path) -> None:
    scenario = parse_scenario(small_scenario(small_grid_file))
    case = grid_case(scenario)
    extra = injection_mw(case.model, bid_injections(scenario, case), {"B-SHOP": 50_000})
    assert np.isclose(extra[0, case.model.bus_position(2)], 0.05)  # up = more injection
    assert np.isclose(extra.sum(), 0.05)


def test_a_need_only_an_unsafe_bid_could_meet_is_reported_unmet(small_grid_file: Path) -> None:
    data = small_scenario(small_grid_file)
    data["bids"] = data["bids"][:1]  # only the battery behind the thin line
    result = clear_with_grid(parse_scenario(data))
    assert result.awards == []
    assert [(u.request, u.quantity_w) for u in result.unmet] == [("R1", 40_000)]
