"""The mFRR intermediary (issue 16 item 4, off chain): local up/down bids checked against
the zone limits (the DSO's traffic light) and, where the book names a grid, by AC power
flow, aggregated into standard products, forwarded to a
balancing platform through its adapter, and the platform's activations checked and
disaggregated back to the local bids (`oracle.wholesale.mfrr` holds every rule).

    node = MfrrIntermediary(book, adapter)
    node.forward()                      # aggregate, then send the products (once)
    ...                                 # gate closure and activation: the platform's
    splits = node.accept(node.activations())   # ResultsRejected unless every check holds
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nodes.wholesale.adapter import MfrrAdapter
from nodes.wholesale.spot import IntermediaryError, ResultsRejected
from oracle.grid.model import GridModel
from oracle.grid.powerflow import AcSolver
from oracle.wholesale import Violation
from oracle.wholesale.acgrid import decide_mfrr
from oracle.wholesale.mfrr import Activation, MfrrBook, MfrrDecision, Split, check_activations


@dataclass(frozen=True)
class MfrrVerdict:
    splits: list[Split]
    violations: list[Violation]

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        return {"schema": "flexmarket.mfrr-verification/1", "ok": self.ok,
                "violations": [v.to_json() for v in self.violations],
                "splits": [s.to_json() for s in self.splits]}


class MfrrIntermediary:
    def __init__(self, book: MfrrBook, adapter: MfrrAdapter,
                 grid: tuple[GridModel, AcSolver] | None = None) -> None:
        """The bids are checked and aggregated at once (`decide_mfrr`: the zone limits, and
        the AC check when the book names a grid; `grid` its model when already loaded)."""
        self.book = book
        self.adapter = adapter
        self.decision: MfrrDecision = decide_mfrr(book, grid)
        self._forwarded = False

    def _platform_problems(self) -> list[str]:
        info, b = self.adapter.platform(), self.book
        out = [f"{name}: the platform says {got!r}, the book {want!r}" for name, got, want in (
            ("platform", info.platform, b.platform), ("quarters", info.quarters, b.quarters),
            ("product_step_w", info.product_step_w, b.product_step_w),
            ("price_floor_ct_per_mwh", info.price_floor_ct_per_mwh, b.price_floor_ct_per_mwh),
            ("price_cap_ct_per_mwh", info.price_cap_ct_per_mwh, b.price_cap_ct_per_mwh))
            if got != want]
        try:
            same = datetime.fromisoformat(info.delivery_start) == b.delivery_start
        except ValueError:
            same = False
        if not same:
            out.append(f"delivery_start: the platform says {info.delivery_start!r}")
        if not info.open:
            out.append("the gate is closed")
        return out

    def forward(self) -> MfrrDecision:
        """Send the products (once); the decision they came from."""
        if self._forwarded:
            raise IntermediaryError("the products were already forwarded")
        problems = self._platform_problems()
        if problems:
            raise IntermediaryError("not the book's platform: " + "; ".join(problems))
        if self.decision.products:
            self.adapter.submit(list(self.decision.products))
        self._forwarded = True
        return self.decision

    def activations(self) -> list[Activation]:
        if not self._forwarded:
            raise IntermediaryError("nothing was forwarded yet")
        return self.adapter.activations()

    def verify(self, activations: list[Activation]) -> MfrrVerdict:
        splits, violations = check_activations(self.book, self.decision, activations)
        return MfrrVerdict(splits, violations)

    def accept(self, activations: list[Activation]) -> MfrrVerdict:
        verdict = self.verify(activations)
        if not verdict.ok:
            raise ResultsRejected(verdict.violations)
        return verdict
