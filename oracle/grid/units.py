"""The one conversion between the engine's integer watts and pandapower's MW floats.

The engine counts power in integer watts (`quantity_w`); pandapower and
lightsim2grid compute in MW floats. Every crossing goes through these two
functions, and there is one rounding rule: **MW to W rounds to the nearest
watt, ties to even** (IEEE 754 `rint`, what Python's `round` and numpy's
`rint` both do). W to MW is a division by 1e6, exact to within one ulp for
any power a grid can carry.
"""

from __future__ import annotations

from typing import overload

import numpy as np
from numpy.typing import NDArray

W_PER_MW = 1_000_000


@overload
def w_to_mw(power_w: int) -> float: ...
@overload
def w_to_mw(power_w: NDArray[np.int64]) -> NDArray[np.float64]: ...
def w_to_mw(power_w: int | NDArray[np.int64]) -> float | NDArray[np.float64]:
    """Integer watts to pandapower MW."""
    if isinstance(power_w, np.ndarray):
        return power_w.astype(np.float64) / W_PER_MW
    return int(power_w) / W_PER_MW


@overload
def mw_to_w(power_mw: float) -> int: ...
@overload
def mw_to_w(power_mw: NDArray[np.float64]) -> NDArray[np.int64]: ...
def mw_to_w(power_mw: float | NDArray[np.float64]) -> int | NDArray[np.int64]:
    """pandapower MW to integer watts: nearest watt, ties to even."""
    if isinstance(power_mw, np.ndarray):
        return np.rint(power_mw * W_PER_MW).astype(np.int64)
    return int(np.rint(float(power_mw) * W_PER_MW))
