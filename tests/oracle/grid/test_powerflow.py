"""The batched lightsim2grid power flow gives pandapower's answers."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pandapower as pp

from oracle.grid.model import GridModel, build_model
from oracle.grid.powerflow import AcSolver


def _runpp_at(model: GridModel, t: int) -> tuple[np.ndarray, np.ndarray]:
    import simbench

    net = copy.deepcopy(model.net)
    for table in ("load", "sgen", "storage"):
        net[table]["p_mw"] = model.element_p_mw[table][t]
    net.load["q_mvar"] = simbench.get_absolute_values(net, True)[("load", "q_mvar")].to_numpy()[
        model.first_step + t]
    pp.runpp(net)
    loading = np.concatenate([net.res_line.loading_percent.to_numpy(),
                              net.res_trafo.loading_percent.to_numpy()])
    return loading, net.res_bus.vm_pu.loc[model.bus_index].to_numpy()


def test_lightsim_batch_matches_runpp_on_simbench(lv_model: GridModel, lv_solver: AcSolver) -> None:
    ac = lv_solver.solve_model()
    assert ac.converged.all()
    for t in (3, 47):  # night, and the midday peak
        loading, vm = _runpp_at(lv_model, t)
        assert np.abs(ac.loading_percent[t] - loading).max() < 1e-3
        assert np.abs(ac.vm_pu[t] - vm).max() < 1e-5


def test_small_grid_matches_hand_estimate_and_runpp(small_grid_file: Path) -> None:
    model = build_model(str(small_grid_file), n_steps=1)
    ac = AcSolver(model).solve_model()
    net = copy.deepcopy(model.net)
    pp.runpp(net)
    assert np.abs(ac.loading_percent[0][:2] - net.res_line.loading_percent.to_numpy()).max() < 1e-3
    # 220 kW at roughly 0.39 kV through 270 A: about 121 %; nothing through the thin line
    assert 115 < ac.loading_percent[0][0] < 125
    assert ac.loading_percent[0][1] < 1
