"""Shared grid fixtures: SimBench networks are parsed once per test session (a few seconds)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from oracle.grid.model import GridModel, build_model
from oracle.grid.powerflow import AcSolver
from tests.oracle.grid.small_grid import write_small_net

LV_CODE = "1-LV-semiurb4--2-sw"
LV_DAY = "2016-05-26"
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "simbench_lv_semiurb4_2016-05-26.json"


@pytest.fixture(autouse=True)
def _quiet() -> None:
    # pandapower warns about numba on every power flow; irrelevant here
    warnings.filterwarnings("ignore", module="pandapower")


@pytest.fixture(scope="session")
def lv_model() -> GridModel:
    return build_model(LV_CODE, day=LV_DAY)


@pytest.fixture(scope="session")
def lv_solver(lv_model: GridModel) -> AcSolver:
    return AcSolver(lv_model)


@pytest.fixture(scope="session")
def small_grid_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_small_net(tmp_path_factory.mktemp("grid") / "small.json")
