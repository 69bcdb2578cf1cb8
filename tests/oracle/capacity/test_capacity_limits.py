"""`flexmarket capacity-limits` (issue 15 item 2): capacity per feeder and slot by AC power
flow on SimBench 1-LV-semiurb4--2-sw, 2016-05-26, and the AC check of allocations.

The model loads once per module (`load_day`: in memory, and on disk under build/grid-cache);
a whole day of limits is under a second after that."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest

from flexmarket.cli import main
from oracle.capacity import clear_capacity, load_capacity
from oracle.capacity.limits import (
    capacity_zones,
    check_allocation,
    compute_limits,
    load_day,
)
from oracle.grid.errors import GridError
from oracle.grid.figures import Limits, slot_ok

ROOT = Path(__file__).resolve().parents[3]
GRID, DAY = "1-LV-semiurb4--2-sw", "2016-05-26"
EXAMPLE = ROOT / "examples" / "capacity" / "semiurb4_ev_evening.json"
EVENING, NOON = 75, 48  # 18:45 (EV peak), 12:00 (PV feed-in: the forecast overloads)


@pytest.fixture(scope="module")
def day():
    return load_day(GRID, DAY)


@pytest.fixture(scope="module")
def limits(day):
    model, solver = day
    return compute_limits(model, solver)


def _all_used(limits):
    return {"allocations": [{"zone": z, "allocated_w": list(w)}
                            for z, w in limits.capacity_w.items()]}


def test_zones_are_the_feeders_with_their_load_buses(day):
    model, _ = day
    zones = capacity_zones(model)
    assert [z.id for z in zones] == [z.id for z in model.zones if z.kind == "feeder"]
    assert [len(z.load_buses) for z in zones] == [5, 26, 8]
    assert [z.id for z in capacity_zones(model, "trafo")] == ["T0"]


def test_all_of_the_capacity_used_at_once_passes_the_ac_check(day, limits):
    model, solver = day
    assert len(limits.capacity_w) == 3
    assert all(len(w) == 96 and all(isinstance(x, int) and x >= 0 for x in w)
               for w in limits.capacity_w.values())
    assert min(limits.capacity_w["T0-L24"][68:84]) > 100_000  # evening: room for EVs
    assert check_allocation(model, _all_used(limits), solver) == {}


@pytest.mark.parametrize("slot", [EVENING, NOON, 0])
def test_ten_percent_more_in_one_zone_and_slot_fails(day, limits, slot):
    model, solver = day
    for i, zone in enumerate(limits.capacity_w):
        more = copy.deepcopy(_all_used(limits))
        w = more["allocations"][i]["allocated_w"]
        w[slot] = w[slot] * 11 // 10
        found = check_allocation(model, more, solver)
        assert list(found) == [slot], zone  # that slot only, and it fails


def test_each_zone_alone_is_the_largest_that_passes(day, limits):
    """The lone capacity is tight: 200 W more fails in every slot, that zone alone. (The
    solver margin, 1e-4 points, costs up to ~50 W where the binding element is barely
    sensitive: line 34 in reverse flow at 02:00 against load added in feeder L9.)"""
    model, solver = day
    for zone, lone in limits.lone_w.items():
        alone = {"allocations": [{"zone": zone, "allocated_w": list(lone)}]}
        assert check_allocation(model, alone, solver) == {}
        more = {"allocations": [{"zone": zone, "allocated_w": [w + 200 for w in lone]}]}
        assert sorted(check_allocation(model, more, solver)) == list(range(96)), zone


def test_a_forecast_overload_does_not_block_added_load(day, limits):
    """At noon the forecast overloads lines 33/34 (reverse flow): added load relieves it,
    so there is capacity; the check does not report the forecast's own overload."""
    model, solver = day
    nothing = {"allocations": [{"zone": "T0-L9", "allocated_w": [0] * 96}]}
    assert check_allocation(model, nothing, solver) == {}
    assert not slot_ok(solver.solve_model(), Limits())[NOON]
    assert all(w[NOON] > 0 for w in limits.capacity_w.values())


def test_granularity_rounds_down_and_is_deterministic(day, limits):
    model, solver = day
    coarse = compute_limits(model, solver, granularity_w=100)
    assert all(x % 100 == 0 for w in coarse.capacity_w.values() for x in w)
    assert check_allocation(model, _all_used(coarse), solver) == {}
    assert compute_limits(model, solver).capacity_w == limits.capacity_w


def test_check_names_an_unknown_zone(day):
    model, solver = day
    with pytest.raises(GridError, match=r"allocations\[0\]\.zone: 'F9' is not a feeder zone"):
        check_allocation(model, {"allocations": [{"zone": "F9", "allocated_w": [1]}]}, solver)


def test_example_is_the_commands_capacity_and_clears_within_the_grid(day):
    model, solver = day
    data = json.loads(EXAMPLE.read_text())
    coarse = compute_limits(model, solver, granularity_w=data["market"]["granularity_w"])
    assert data["zones"] == [{"id": z["id"], "capacity_w": z["capacity_w"][68:84]}
                             for z in coarse.zones_json()]
    result = clear_capacity(load_capacity(EXAMPLE))
    assert len(result.allocations) == 7 and not result.rejected
    assert any(min(r) == 0 for r in result.remaining_w.values())  # capacity binds
    assert check_allocation(model, result, solver, first_slot=68) == {}


def test_command_json_is_the_zones_array(day, limits, capsys):
    assert main(["capacity-limits", "--grid", GRID, "--day", DAY, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == limits.zones_json()
    assert main(["capacity-limits", "--grid", GRID, "--day", DAY]) == 0
    table = capsys.readouterr().out
    assert "T0-L24" in table and f"{limits.capacity_w['T0-L24'][EVENING]:,}" in table


@pytest.mark.parametrize(("args", "message"), [
    (["--day", "2016-13-01"], "error: --day: '2016-13-01' is not a date YYYY-MM-DD"),
    (["--grid", "1-LV-nowhere"], "error: --grid: '1-LV-nowhere' is neither a SimBench code"),
    (["--granularity", "0"], "error: --granularity: 0 is not a positive number of watts"),
])
def test_bad_input_exits_2_naming_the_option(args, message, capsys):
    argv = {"--grid": GRID, "--day": DAY}
    for k, v in zip(args[::2], args[1::2], strict=True):
        argv[k] = v
    assert main(["capacity-limits", *[x for kv in argv.items() for x in kv], "--json"]) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == "" and "Traceback" not in captured.err


@pytest.mark.slow
def test_a_day_outside_the_profiles_exits_2_in_a_fresh_process():
    proc = subprocess.run([sys.executable, "-m", "flexmarket", "capacity-limits", "--grid", GRID,
                           "--day", "2017-01-02", "--json"], capture_output=True, text=True,
                          cwd=ROOT, check=False)
    assert proc.returncode == 2 and proc.stdout == ""
    assert "--day: 2017-01-02 is not in the profiles" in proc.stderr


def test_trafo_zones_pass_the_check_too(day):
    model, solver = day
    whole = compute_limits(model, solver, zones="trafo")
    assert list(whole.capacity_w) == ["T0"]
    assert check_allocation(model, _all_used(whole), solver, zones="trafo") == {}
    more = copy.deepcopy(_all_used(whole))
    more["allocations"][0]["allocated_w"][EVENING] += 2_000
    assert list(check_allocation(model, more, solver, zones="trafo")) == [EVENING]
