"""Grid figures as they appear in results: decimal strings, never floats.

Results are hashed canonical JSON with integers only, so a figure is a
fixed-precision decimal string: loading in percent with 2 decimals
("128.73"), voltages in pu with 4 decimals ("1.0698"), rounded half to even.
`element` names the most loaded line or transformer ("line 34", "trafo 0").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from oracle.grid.model import GridModel
from oracle.grid.powerflow import AcResult

LOADING_DECIMALS = 2
VM_DECIMALS = 4


@dataclass(frozen=True)
class Limits:
    """What the grid check enforces (GridSpec's integers, as floats for the power flow)."""

    loading_percent: float = 100.0
    vm_min_pu: float = 0.9
    vm_max_pu: float = 1.1


def decimal(value: float, places: int) -> str:
    """A float as a fixed-precision decimal string (round half to even)."""
    return f"{round(float(value), places):.{places}f}"


def figures(
    model: GridModel, ac: AcResult, slots: NDArray[np.int64] | None = None
) -> dict[str, Any]:
    """FIGS of the given slots (all when None): the worst loading and voltages among them."""
    loading = ac.loading_percent if slots is None else ac.loading_percent[slots]
    vm = ac.vm_pu if slots is None else ac.vm_pu[slots]
    if loading.size == 0 or np.isnan(loading).all():
        return {"max_loading_percent": None, "min_vm_pu": None, "max_vm_pu": None,
                "element": "no convergence"}
    per_branch = np.nanmax(loading, axis=0)
    e = int(np.nanargmax(per_branch))
    return {
        "max_loading_percent": decimal(per_branch[e], LOADING_DECIMALS),
        "min_vm_pu": decimal(np.nanmin(vm), VM_DECIMALS),
        "max_vm_pu": decimal(np.nanmax(vm), VM_DECIMALS),
        "element": model.branch_label[e],
    }


def violations_mask(ac: AcResult, limits: Limits) -> tuple[NDArray[np.bool_], NDArray[np.bool_],
                                                            NDArray[np.bool_]]:
    """(overloaded [T, n_branch], over-voltage [T, n_bus], under-voltage [T, n_bus])."""
    over = np.nan_to_num(ac.loading_percent, nan=np.inf) > limits.loading_percent
    high = np.nan_to_num(ac.vm_pu, nan=np.inf) > limits.vm_max_pu
    low = np.nan_to_num(ac.vm_pu, nan=-np.inf) < limits.vm_min_pu
    return over, high, low


def slot_ok(ac: AcResult, limits: Limits) -> NDArray[np.bool_]:
    over, high, low = violations_mask(ac, limits)
    return ac.converged & ~over.any(axis=1) & ~high.any(axis=1) & ~low.any(axis=1)
