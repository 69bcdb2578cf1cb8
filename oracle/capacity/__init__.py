"""The capacity market (`../shared/spec/capacity.md`): files, validation, clearing, results.

    >>> from oracle.capacity import load_capacity, clear_capacity
"""

from oracle.capacity.checker import Violation, check_capacity
from oracle.capacity.clearing import clear_capacity
from oracle.capacity.files import (
    CapacityFile,
    CapacityFileError,
    load_capacity,
    parse_capacity,
    validate,
)
from oracle.capacity.result import Allocation, CapacityResult, Rejection

__all__ = [
    "Allocation",
    "CapacityFile",
    "CapacityFileError",
    "CapacityResult",
    "Rejection",
    "Violation",
    "check_capacity",
    "clear_capacity",
    "load_capacity",
    "parse_capacity",
    "validate",
]
