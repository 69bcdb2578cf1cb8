"""The one W <-> MW conversion and its rounding rule (nearest watt, ties to even)."""

from __future__ import annotations

import numpy as np
import pytest

from oracle.grid.units import mw_to_w, w_to_mw


@pytest.mark.parametrize("w", [0, 1, 100, 3_700, 128_800, 40_000_000, -118_100, 2**40])
def test_round_trip_of_integer_watts_is_exact(w: int) -> None:
    assert mw_to_w(w_to_mw(w)) == w
    assert isinstance(mw_to_w(w_to_mw(w)), int)


@pytest.mark.parametrize(
    ("mw", "w"),
    [(0.1288, 128_800), (0.0037, 3_700), (1.0000004, 1_000_000), (1.0000006, 1_000_001),
     (-0.0000006, -1), (0.0000005, 0), (0.0000015, 2), (0.0000025, 2), (-0.0000025, -2)],
)
def test_mw_to_w_rounds_to_nearest_watt_ties_to_even(mw: float, w: int) -> None:
    assert mw_to_w(mw) == w


def test_arrays_follow_the_same_rule_as_scalars() -> None:
    mws = np.array([0.1288, 0.0000005, 0.0000015, -0.0000025, 1.0000006])
    assert mw_to_w(mws).tolist() == [mw_to_w(float(x)) for x in mws]
    assert mw_to_w(mws).dtype == np.int64
    ws = np.array([1, 128_800, -5], dtype=np.int64)
    assert w_to_mw(ws).tolist() == [w_to_mw(int(x)) for x in ws]
