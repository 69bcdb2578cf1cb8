"""flexmarket's clearing oracle: scenario files, the clearing engine and its checker.

    >>> from oracle import load_scenario, clear, check
    >>> result = clear(load_scenario("examples/flech_powermax.json"))
    >>> result.total_cost_ueur
    27960000000
    >>> check(load_scenario("examples/flech_powermax.json"), result)
    []
"""

from oracle.checker import Violation, check
from oracle.engine import LinearCut, clear
from oracle.errors import OracleError, ScenarioError, SolverError
from oracle.result import Result
from oracle.scenario import Scenario, load_scenario, parse_scenario

__all__ = [
    "LinearCut",
    "OracleError",
    "Result",
    "Scenario",
    "ScenarioError",
    "SolverError",
    "Violation",
    "check",
    "clear",
    "load_scenario",
    "parse_scenario",
]
