"""Meter data and baselines (`../shared/spec/metering.md`): the exact integer rules by which
every node turns a metering operator's data into delivered watts.

    >>> from oracle.metering import parse_meter_data, Window, compute_baseline
"""

from oracle.metering.baseline import (
    METHODS,
    Baseline,
    BaselineError,
    LocalGrid,
    Window,
    award_delivered_w,
    compute_baseline,
    delivered_w,
    x_of_y_baselines,
)
from oracle.metering.meterdata import (
    MeterData,
    MeterDataError,
    parse_activations,
    parse_meter_data,
)

__all__ = [
    "METHODS",
    "Baseline",
    "BaselineError",
    "LocalGrid",
    "MeterData",
    "MeterDataError",
    "Window",
    "award_delivered_w",
    "compute_baseline",
    "delivered_w",
    "parse_activations",
    "parse_meter_data",
    "x_of_y_baselines",
]
