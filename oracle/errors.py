"""Exceptions of the oracle package: one root, specific subclasses."""

from __future__ import annotations


class OracleError(Exception):
    """Root of every error the oracle raises on purpose."""


class DocumentError(OracleError):
    """An input document (a scenario, a wholesale results file, ...) is not well formed;
    nothing of it may be used.

    `problems` lists every `(field path, message)` found, e.g.
    `("bids[3].quantity_w", "Input should be a valid integer")`.
    """

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        super().__init__("\n".join(f"{path}: {msg}" if path else msg for path, msg in problems))


class ScenarioError(DocumentError):
    """A scenario file is not well formed; nothing may be cleared."""


class SolverError(OracleError):
    """HiGHS did not reach the optimality it must guarantee."""
