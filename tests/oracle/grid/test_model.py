"""The grid model: SimBench loading, day to profile step, zones and ratings, GridSpec."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from oracle.grid import GridError
from oracle.grid.model import GridModel, build_model
from oracle.grid_spec import GridSpec


def test_day_maps_to_the_profile_step_of_local_midnight(lv_model: GridModel) -> None:
    assert lv_model.step_labels[0] == "26.05.2016 00:00"
    assert lv_model.step_labels[-1] == "26.05.2016 23:45"
    assert lv_model.n_steps == 96


def test_zones_are_the_transformer_and_its_feeders(lv_model: GridModel) -> None:
    trafo = lv_model.zone("T0")
    feeders = [z for z in lv_model.zones if z.kind == "feeder"]
    assert trafo.rating_w == 400_000  # 0.4 MVA
    assert {z.parent for z in feeders} == {"T0"}
    # every LV bus lies in exactly one feeder, or is the busbar itself
    lv_buses = [b for b in range(lv_model.n_bus) if lv_model.vn_kv[b] < 1]
    assert sorted(b for z in feeders for b in z.buses) == sorted(set(lv_buses) - {
        lv_model.bus_position(int(lv_model.net.trafo.lv_bus.iloc[0]))})
    # the PV plant's feeder is fed by line 33, rated sqrt(3) * 0.4 kV * 270 A
    pv_bus = lv_model.bus_position(40)
    assert lv_model.bus_zone[pv_bus] == "T0-L33"
    assert lv_model.zone("T0-L33").rating_w == round(math.sqrt(3) * 0.4 * 0.27 * 1e6)


def test_bus_is_found_by_index_or_name(lv_model: GridModel) -> None:
    assert lv_model.bus_position(40) == lv_model.bus_position("40")
    name = lv_model.bus_name[5]
    assert lv_model.bus_position(name) == 5
    with pytest.raises(GridError, match=r"assets\[2\]\.bus: bus 999"):
        lv_model.bus_position(999, "assets[2].bus")


def test_days_outside_the_profiles_are_refused() -> None:
    with pytest.raises(GridError, match=r"grid\.day: 2017-01-01 is not in the profiles"):
        build_model("1-LV-semiurb4--2-sw", day="2017-01-01")


def test_grid_spec_needs_exactly_one_source() -> None:
    GridSpec(simbench_code="1-LV-semiurb4--2-sw", day="2016-05-26")
    with pytest.raises(ValidationError, match="exactly one of simbench_code or file"):
        GridSpec(simbench_code="x", file="y.json")
    with pytest.raises(ValidationError, match="not a date"):
        GridSpec(file="y.json", day="26.05.2016")
    with pytest.raises(ValidationError, match="unknown|Extra"):
        GridSpec.model_validate({"file": "y.json", "dya": "2016-05-26"})
