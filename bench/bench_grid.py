"""Grid benchmark (`make bench-grid`): prints figures, never fails on a slow machine.

For a 96-slot day on an LV and an MV SimBench grid:
- needs identification (`find_needs`: AC power flow of every slot, sensitivities
  where something is violated);
- constraint building: sensitivities of every branch and bus to every bus with
  a flexible asset, then the screened cuts of one up and one down bid per
  flexible asset active in every slot;
- sensitivity screening of a schedule (predicted loadings/voltages of all slots);
- AC validation of a cleared 96-slot schedule (lightsim2grid, warm-started),
  against plain `pandapower.runpp` per slot (timed on a few slots, scaled to 96);
- for the LV example scenario: the whole network-constrained clearing.
Each figure is the median of several runs; model loading (SimBench CSV
parsing, pandapower import) is shown apart.
"""

from __future__ import annotations

import copy
import json
import logging
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)  # pandapower: "numba cannot be imported" on every runpp

from oracle import parse_scenario  # noqa: E402
from oracle.grid.clearing import (  # noqa: E402
    BidInjection,
    GridCase,
    build_cuts,
    clear_with_grid,
    grid_case,
    injection_mw,
)
from oracle.grid.figures import Limits  # noqa: E402
from oracle.grid.generate import flexible_assets  # noqa: E402
from oracle.grid.model import build_model  # noqa: E402
from oracle.grid.needs import find_needs  # noqa: E402
from oracle.grid.powerflow import AcSolver  # noqa: E402
from oracle.grid.sensitivity import screen, sensitivities  # noqa: E402

GRIDS = [("LV", "1-LV-semiurb4--2-sw"), ("MV", "1-MV-semiurb--2-sw")]
DAY = "2016-05-26"
EXAMPLE = ROOT / "examples" / "simbench_lv_semiurb4_2016-05-26.json"
RUNPP_SLOTS = 8


def timed(fn: Callable[[], object], repeat: int = 5) -> tuple[float, object]:
    """Median wall time in seconds of `repeat` runs, and the last value."""
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.1f} ms"


def runpp_per_slot(model, n: int) -> float:  # type: ignore[no-untyped-def]
    import pandapower as pp

    net = copy.deepcopy(model.net)
    t0 = time.perf_counter()
    for t in range(n):
        for table in ("load", "sgen", "storage"):
            if len(net[table]):
                net[table]["p_mw"] = model.element_p_mw[table][t]
        pp.runpp(net)
    return (time.perf_counter() - t0) / n


def bench_grid(label: str, code: str) -> None:
    t0 = time.perf_counter()
    model = build_model(code, day=DAY)
    t_load = time.perf_counter() - t0
    t_solver, solver = timed(lambda: AcSolver(model), repeat=1)
    assert isinstance(solver, AcSolver)
    print(f"\n{label} {code}, {DAY}: {model.n_bus} buses, {len(model.branch_label)} branches, "
          f"{len(model.zones)} zones, {model.n_steps} slots")
    print(f"  model loading (SimBench, profiles)     {ms(t_load)}")
    print(f"  lightsim2grid model                    {ms(t_solver)}")

    t_needs, needs = timed(lambda: find_needs(model, solver))
    n_req = len(needs.requests)  # type: ignore[attr-defined]
    print(f"  needs identification (96 slots)        {ms(t_needs)}   "
          f"({n_req} requests, forecast max {needs.figures['max_loading_percent']} %)")  # type: ignore[attr-defined]

    assets = flexible_assets(model)
    buses = sorted({model.bus_position(a["bus"]) for a in assets})
    t_sens, sens = timed(lambda: sensitivities(solver, model.p_mw, model.q_mvar, buses), repeat=3)
    print(f"  sensitivities ({len(buses):3d} asset buses x 96)    {ms(t_sens)}")
    slots = tuple(range(model.n_steps))
    injections = [
        BidInjection(bid=f"{a['id']}-{d}", slots=slots, buses=(model.bus_position(a["bus"]),),
                     mw_per_mw=(1.0 if d == "up" else -1.0,), quantity_w=a["p_max_w"])
        for a in assets for d in ("up", "down")
    ]
    case = GridCase(model=model, solver=solver, limits=Limits(), asset_bus={})
    eligible = {i.bid for i in injections}
    t_cuts, cuts = timed(lambda: build_cuts(case, injections, sens, list(slots), {}, eligible),
                         repeat=3)
    print(f"  cut building ({len(injections)} bids, all slots)     {ms(t_cuts)}   "
          f"({len(cuts)} cuts)")  # type: ignore[arg-type]

    rng = np.random.default_rng(0)
    awards = {i.bid: int(rng.integers(0, i.quantity_w + 1)) for i in injections[::2]}
    extra = injection_mw(model, injections, awards)
    cols = [sens.column(b) for b in buses]  # type: ignore[attr-defined]
    t_screen, _ = timed(lambda: screen(sens, extra[:, cols]), repeat=20)  # type: ignore[arg-type]
    print(f"  sensitivity screening of a schedule    {ms(t_screen)}")
    p_after = model.p_mw - extra
    t_ac, ac = timed(lambda: solver.solve(p_after, model.q_mvar), repeat=10)
    print(f"  AC validation, 96 slots (lightsim2grid){ms(t_ac)}   "
          f"(converged {int(ac.converged.sum())}/96)")  # type: ignore[attr-defined]
    t_pp = runpp_per_slot(model, RUNPP_SLOTS)
    print(f"  AC validation, 96 slots (runpp, est.)  {ms(t_pp * 96)}   "
          f"({ms(t_pp).strip()} per slot over {RUNPP_SLOTS} slots)")


def bench_example() -> None:
    scenario = parse_scenario(json.loads(EXAMPLE.read_text()))
    case = grid_case(scenario)
    t, result = timed(lambda: clear_with_grid(scenario, case=case), repeat=3)
    check = result.grid_check  # type: ignore[attr-defined]
    print(f"\nexample {EXAMPLE.name}: {len(scenario.bids)} bids")
    print(f"  network-constrained clearing           {ms(t)}   (rounds {check['rounds']}, "
          f"{check['cuts']} cuts, ok {check['ok']}, max loading "
          f"{check['before']['max_loading_percent']} -> {check['after']['max_loading_percent']} %)")


def main() -> None:
    for label, code in GRIDS:
        bench_grid(label, code)
    bench_example()


if __name__ == "__main__":
    main()
