"""The reserve market (`docs/reserve.md`): a DSO's tender for reserve flexibility
(availability bought ahead, activations when needed), its clearing with its independent
checker, and the settlement of activations from meter data and baselines
(`oracle.metering`).

    >>> from oracle.reserve import load_reserve, clear_reserve, check_reserve
"""

from oracle.reserve.checker import Violation, check_reserve
from oracle.reserve.clearing import clear_reserve
from oracle.reserve.files import (
    ActivationsFile,
    ReserveFile,
    ReserveFileError,
    load_activations_file,
    load_reserve,
    parse_activations_file,
    parse_reserve,
    validate,
)
from oracle.reserve.result import ReserveResult, ReserveSettlement
from oracle.reserve.settlement import SettlementError, period_meter_hash, settle_reserve

__all__ = [
    "ActivationsFile",
    "ReserveFile",
    "ReserveFileError",
    "ReserveResult",
    "ReserveSettlement",
    "SettlementError",
    "Violation",
    "check_reserve",
    "clear_reserve",
    "load_activations_file",
    "load_reserve",
    "parse_activations_file",
    "parse_reserve",
    "period_meter_hash",
    "settle_reserve",
    "validate",
]
