"""Wholesale integration (`../shared/spec/wholesale.md`): imported exchange results and the
checks every node makes on them."""

from oracle.wholesale.results import (
    WholesaleFileError,
    WholesaleResults,
    load_results,
    parse_results,
)
from oracle.wholesale.verify import Violation, payment_ueur, report, verify_results

__all__ = [
    "Violation",
    "WholesaleFileError",
    "WholesaleResults",
    "load_results",
    "parse_results",
    "payment_ueur",
    "report",
    "verify_results",
]
