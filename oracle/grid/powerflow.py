"""AC power flow of many operating points at once (lightsim2grid, warm-started).

pandapower's `runpp` spends most of its time building its internal case for
every call (about 0.1 s a slot without numba). Here the network is converted
once into a lightsim2grid model whose every bus carries one aggregated load;
a batch of operating points is then a matrix of bus injections, solved by
lightsim2grid's Newton-Raphson (KLU) in C++, each step warm-started from the
previous one. Branch loadings are computed from the branch-end powers and bus
voltages with pandapower's own formulas, so they match `runpp` (checked in
tests/oracle/grid/test_powerflow.py).
"""

from __future__ import annotations

import copy
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracle.grid.errors import GridError
from oracle.grid.model import GridModel

MAX_ITER = 30
TOLERANCE_MVA = 1e-8


@dataclass(frozen=True)
class AcResult:
    """Per step: bus voltage magnitudes, branch loadings, convergence."""

    vm_pu: NDArray[np.float64]  # [T, n_bus]
    loading_percent: NDArray[np.float64]  # [T, n_branch]
    converged: NDArray[np.bool_]  # [T]


class AcSolver:
    """A lightsim2grid model of a GridModel's network, ready for batches of injections."""

    def __init__(self, model: GridModel) -> None:
        import pandapower as pp  # noqa: PLC0415
        from lightsim2grid.network import init_from_pandapower  # noqa: PLC0415

        self.model = model
        calc = copy.deepcopy(model.net)
        for table in ("load", "sgen", "storage", "switch", "measurement"):
            if table in calc and len(calc[table]):
                calc[table] = calc[table].iloc[0:0]
        # one load per bus, in position order, on a continuous bus index
        mapping = {int(b): i for i, b in enumerate(model.bus_index)}
        pp.toolbox.reindex_buses(calc, mapping)
        for i in range(model.n_bus):
            pp.create_load(calc, i, p_mw=0.0, q_mvar=0.0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self._grid = init_from_pandapower(calc, pp_orig_file="pandapower_v3")
        self._n_bus_ls = len(self._grid.get_bus_vn_kv())
        if self._n_bus_ls != model.n_bus:
            raise GridError(f"grid {model.name}: lightsim2grid kept {self._n_bus_ls} of "
                            f"{model.n_bus} buses")
        flat = np.ones(self._n_bus_ls, dtype=complex)
        v_dc = self._grid.dc_pf(flat, MAX_ITER, TOLERANCE_MVA)
        v0 = self._grid.ac_pf(v_dc if len(v_dc) else flat, MAX_ITER, TOLERANCE_MVA)
        if len(v0) == 0:
            raise GridError(f"grid {model.name}: no power flow solution at zero load")
        self.v_init: NDArray[np.complex128] = v0

    def solve(self, p_mw: NDArray[np.float64], q_mvar: NDArray[np.float64]) -> AcResult:
        """AC power flow of every row of bus consumptions p_mw, q_mvar ([T, n_bus])."""
        from lightsim2grid.timeSerie import TimeSeriesCPP  # noqa: PLC0415

        ts: Any = TimeSeriesCPP(self._grid)
        ts.modify_load_p(np.ascontiguousarray(p_mw, dtype=np.float64))
        ts.modify_load_q(np.ascontiguousarray(q_mvar, dtype=np.float64))
        ts.compute(self.v_init, MAX_ITER, TOLERANCE_MVA)
        v = ts.get_voltages()
        br = ts.compute_branch_results()
        vm = np.abs(v)
        converged = vm.min(axis=1) > 0.0
        m = self.model
        rows = m.branch_row
        s_from = np.hypot(br[:, rows, 0], br[:, rows, 1])
        s_to = np.hypot(br[:, rows, 2], br[:, rows, 3])
        with np.errstate(divide="ignore", invalid="ignore"):
            loading = np.maximum(
                s_from / vm[:, m.branch_from] * m.branch_k_from,
                s_to / vm[:, m.branch_to] * m.branch_k_to,
            )
        loading[~converged] = np.nan
        return AcResult(vm_pu=vm, loading_percent=loading, converged=converged)

    def solve_model(self) -> AcResult:
        """The forecast operating points of the model."""
        return self.solve(self.model.p_mw, self.model.q_mvar)
