"""Linear sensitivities of branch loadings and bus voltages to bus injections.

Around an operating point (one per slot), the sensitivity of every monitored
quantity to one more MW of net injection at bus k (generation convention:
more injection = less consumption) with the reactive power unchanged:

    loading[t, e, j] = d loading_percent(e) / d P_inj(bus_j)   in % per MW
    vm[t, b, j]      = d vm_pu(b) / d P_inj(bus_j)              in pu per MW

They are computed by perturbing each bus of interest by `DELTA_MW` in one
lightsim2grid batch (T x (1 + n_buses) warm-started power flows), so they use
exactly the AC model that validates the schedule: on a radial LV feeder they
are the PTDF scaled by the branch's rating and power factor, plus losses and
voltage effects. A perturbation of 1 kW is small against the awards (tens of
kW) and large against the solver tolerance (1e-8 MVA).

`screen` applies them to a schedule: the predicted loadings and voltages of
every slot after the awards, without a power flow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from oracle.grid.powerflow import AcResult, AcSolver

DELTA_MW = 0.001


@dataclass(frozen=True)
class Sensitivities:
    """Sensitivities around `base`, for the buses `buses` (positions)."""

    buses: tuple[int, ...]
    base: AcResult
    loading: NDArray[np.float64]  # [T, n_branch, n_buses] % per MW
    vm: NDArray[np.float64]  # [T, n_bus, n_buses] pu per MW

    def column(self, bus: int) -> int:
        return self.buses.index(bus)


def sensitivities(
    solver: AcSolver,
    p_mw: NDArray[np.float64],
    q_mvar: NDArray[np.float64],
    buses: Sequence[int],
) -> Sensitivities:
    """Sensitivities at the operating points (p_mw, q_mvar) [T, n_bus] for `buses`."""
    buses = tuple(sorted(set(int(b) for b in buses)))
    n_t, n_bus = p_mw.shape
    k = len(buses)
    # rows: for each step, the base point then one perturbed point per bus
    p = np.repeat(p_mw[:, None, :], k + 1, axis=1)
    for j, b in enumerate(buses):
        p[:, j + 1, b] -= DELTA_MW  # +injection = -consumption
    q = np.repeat(q_mvar[:, None, :], k + 1, axis=1)
    res = solver.solve(p.reshape(-1, n_bus), q.reshape(-1, n_bus))
    loading = res.loading_percent.reshape(n_t, k + 1, -1)
    vm = res.vm_pu.reshape(n_t, k + 1, -1)
    conv = res.converged.reshape(n_t, k + 1)
    base = AcResult(vm_pu=vm[:, 0, :], loading_percent=loading[:, 0, :],
                    converged=np.asarray(conv.all(axis=1), dtype=bool))
    d_loading = (loading[:, 1:, :] - loading[:, :1, :]) / DELTA_MW  # [T, k, n_branch]
    d_vm = (vm[:, 1:, :] - vm[:, :1, :]) / DELTA_MW
    return Sensitivities(
        buses=buses,
        base=base,
        loading=np.ascontiguousarray(np.nan_to_num(d_loading.transpose(0, 2, 1))),
        vm=np.ascontiguousarray(np.nan_to_num(d_vm.transpose(0, 2, 1))),
    )


def screen(sens: Sensitivities, injection_mw: NDArray[np.float64]) -> AcResult:
    """Predicted loadings and voltages after extra injections [T, n_buses] (MW, per column)."""
    loading = sens.base.loading_percent + np.einsum("tej,tj->te", sens.loading, injection_mw)
    vm = sens.base.vm_pu + np.einsum("tbj,tj->tb", sens.vm, injection_mw)
    return AcResult(vm_pu=vm, loading_percent=loading, converged=sens.base.converged)
