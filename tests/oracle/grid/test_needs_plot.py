"""`flexmarket needs --grid ... --plot OUT` (issue 17): the SimBench PV feeder's loading over
the day and its need per slot, as text in the SVG; a file it cannot write is exit 2 naming
--plot before any power flow."""

from __future__ import annotations

from pathlib import Path

import pytest

from flexmarket.cli import main as flexmarket
from flexmarket.plot import plot_needs
from oracle.grid.model import GridModel
from oracle.grid.needs import find_needs
from oracle.grid.powerflow import AcSolver
from tests.oracle.grid.conftest import LV_CODE, LV_DAY


def test_the_svg_shows_the_loading_over_the_day_and_the_need(
    lv_model: GridModel, lv_solver: AcSolver, tmp_path: Path
) -> None:
    needs = find_needs(lv_model, lv_solver)
    out = tmp_path / "needs.svg"
    plot_needs(needs, out)
    svg = out.read_text()
    peaks = needs.forecast.loading_percent.max(axis=0)
    line34 = lv_model.branch_label.index("line 34")
    assert f"line 34 (peak {float(peaks[line34]):.1f} %)" in svg  # the most loaded line
    assert "trafo 0 (peak" in svg  # every transformer drawn
    assert f"forecast max {needs.figures['max_loading_percent']} % on line 34" in svg
    assert ">100 %<" in svg
    [request] = needs.requests
    q = request["quantity_w"]
    peak = max(q)
    assert f"T0-L33-down (T0-L33, down): peak {peak:,} W at slot {q.index(peak)}" in svg
    assert ">11:00<" in svg or ">12:00<" in svg  # the time of day on the axis
    again = tmp_path / "again.svg"
    plot_needs(needs, again)
    assert again.read_bytes() == out.read_bytes()


@pytest.mark.parametrize(("name", "reason"), [("x.csv", "must end in one of"),
                                              ("no/x.svg", "does not exist")])  # fmt: skip
def test_a_plot_file_it_cannot_write_is_exit_2_before_the_power_flow(
    tmp_path: Path, name: str, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / name
    argv = ["needs", "--grid", LV_CODE, "--day", LV_DAY, "--plot", str(out)]
    assert flexmarket(argv) == 2
    err = capsys.readouterr()
    assert "--plot" in err.err and reason in err.err and err.out == ""
    assert list(tmp_path.iterdir()) == []
