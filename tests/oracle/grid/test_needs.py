"""Needs from forecasts: the SimBench PV feeder, an uncongested day, the small grid, the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flexmarket.cli import main as flexmarket
from oracle.grid.model import GridModel, build_model
from oracle.grid.needs import find_needs
from oracle.grid.powerflow import AcSolver
from tests.oracle.grid.conftest import LV_CODE, LV_DAY


def test_pv_feeder_of_semiurb4_needs_down_flexibility_at_midday(
    lv_model: GridModel, lv_solver: AcSolver
) -> None:
    needs = find_needs(lv_model, lv_solver)
    assert needs.figures["element"] == "line 34"
    assert 128.5 < float(needs.figures["max_loading_percent"]) < 129.5
    assert [(r["zone"], r["direction"]) for r in needs.requests] == [("T0-L33", "down")]
    q = needs.requests[0]["quantity_w"]
    congested = [t for t, w in enumerate(q) if w > 0]
    assert 45 <= len(congested) <= 55  # about half the slots of the day
    assert max(q) == q[47] and 60_000 < q[47] < 75_000  # 11:45, the PV peak
    assert {v.element for v in needs.violations} <= {"line 33", "line 34"}
    zone = next(z for z in needs.zones if z["id"] == "T0-L33")
    assert zone["forecast_w"][47] > zone["limit_w"] and zone["forecast_w"][0] < zone["limit_w"]


def test_needs_of_an_uncongested_day_are_empty() -> None:
    # with SimBench's storage profiles the batteries absorb PV: at most 85 % loading
    model = build_model(LV_CODE, day=LV_DAY, storage="profile")
    needs = find_needs(model)
    assert needs.requests == [] and needs.violations == []
    assert float(needs.figures["max_loading_percent"]) < 90


def test_needs_of_the_small_grid(small_grid_file: Path) -> None:
    needs = find_needs(build_model(str(small_grid_file), n_steps=1))
    [req] = needs.requests
    assert (req["zone"], req["direction"]) == ("T0-L0", "up")
    # to 99.5 % of 270 A at about 0.39 kV the load must drop by roughly 40 kW
    assert 35_000 < req["quantity_w"][0] < 45_000


def test_needs_cli_prints_requests_and_zones_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert flexmarket(["needs", "--grid", LV_CODE, "--day", LV_DAY, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["requests"][0]["direction"] == "down"
    assert {z["id"] for z in out["zones"]} >= {"T0", "T0-L33"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--grid", LV_CODE, "--day", "2016-13-01"], "--day: '2016-13-01' is not a date"),
        (["--grid", LV_CODE, "--day", "2019-05-26"], "--day: 2019-05-26 is not in the profiles"),
        (["--grid", LV_CODE], "--day: 1-LV-semiurb4--2-sw has profiles"),
        (["--grid", "no-such-grid", "--day", LV_DAY], "--grid: 'no-such-grid' is neither"),
        (["--grid", "missing.json", "--day", LV_DAY], "--grid: file 'missing.json' does not exist"),
    ],
)
def test_needs_cli_bad_input_exits_2_naming_the_argument(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert flexmarket(["needs", *argv]) == 2
    assert message in capsys.readouterr().err


def test_needs_cli_missing_grid_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert flexmarket(["needs", "--day", LV_DAY]) == 2
    assert "the following arguments are required: --grid" in capsys.readouterr().err
