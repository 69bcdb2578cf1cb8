"""The spot intermediary (issue 16 items 1-3, off chain): local aggregators' day-ahead
orders checked against the local grid, forwarded to an exchange through its adapter, and
the exchange's results brought back and verified.

    node = SpotIntermediary(book, adapter)            # book: oracle.wholesale.orders
    decision = node.check()     # zone limits, then the AC power flow if the book names a grid
    node.forward()              # the forwarded book (its hash fixed) goes to the exchange
    ...                         # gate closure and clearing: the exchange's
    results = node.import_results()
    verdict = node.verify(results)   # checks 1-4 of the spec, check 5 against the decision

What the node will not do: forward twice, forward to an auction whose parameters are not
the book's or that is closed, or accept results that fail a check (`accept` raises
`ResultsRejected` with every violation, each naming its MTU or order).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from nodes.errors import NodeError
from nodes.wholesale.adapter import ExchangeAdapter, import_results
from oracle.grid.model import GridModel
from oracle.grid.powerflow import AcSolver
from oracle.wholesale import Violation, WholesaleResults, report, verify_results
from oracle.wholesale.acgrid import decide
from oracle.wholesale.orders import GridDecision, OrderBook, check_forwarded
from oracle.wholesale.results import AuctionTerms


class IntermediaryError(NodeError):
    """The intermediary cannot do what was asked (forward twice, an auction that is not
    the book's, results asked for before forwarding)."""


class ResultsRejected(NodeError):
    """The exchange's results failed a check; nothing of them may be recorded."""

    def __init__(self, violations: list[Violation]) -> None:
        self.violations = violations
        super().__init__("; ".join(f"check {v.check}: {v.where}: {v.message}"
                                   for v in violations))


@dataclass(frozen=True)
class Verdict:
    results: WholesaleResults
    violations: list[Violation]
    book_hash: str

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_json(self) -> dict[str, Any]:
        doc = report(self.results, self.violations)
        doc["book_hash"] = self.book_hash
        doc["checks"] = [1, 2, 3, 4, 5]
        return doc


class SpotIntermediary:
    def __init__(self, book: OrderBook, adapter: ExchangeAdapter,
                 grid: tuple[GridModel, AcSolver] | None = None) -> None:
        """`grid`: the book's grid model and solver when already loaded (else loaded by
        `check` when the book names a grid)."""
        self.book = book
        self.adapter = adapter
        self._grid = grid
        self._decision: GridDecision | None = None
        self._forwarded = False

    def check(self) -> GridDecision:
        """The grid check (once; the same decision after)."""
        if self._decision is None:
            self._decision = decide(self.book, self._grid)
        return self._decision

    def _auction_problems(self) -> list[str]:
        info, b = self.adapter.auction(), self.book
        want = {"exchange": b.exchange, "auction": b.auction, "mtus": b.mtus,
                "mtu_minutes": b.mtu_minutes, "price_floor_ct_per_mwh": b.price_floor_ct_per_mwh,
                "price_cap_ct_per_mwh": b.price_cap_ct_per_mwh}
        out = [f"{k}: the exchange says {getattr(info, k)!r}, the book {v!r}"
               for k, v in want.items() if getattr(info, k) != v]
        try:
            same_start = datetime.fromisoformat(info.delivery_start) == b.delivery_start
        except ValueError:
            same_start = False
        if not same_start:
            out.append(f"delivery_start: the exchange says {info.delivery_start!r}, the book "
                       f"{b.delivery_start.isoformat()!r}")
        if not info.open:
            out.append("the auction is closed")
        return out

    def forward(self) -> str:
        """Send the forwarded orders (once); the forwarded book's hash."""
        if self._forwarded:
            raise IntermediaryError("the book was already forwarded: an order is never sent "
                                    "or changed twice")
        decision = self.check()
        problems = self._auction_problems()
        if problems:
            raise IntermediaryError("not the book's auction: " + "; ".join(problems))
        if decision.forwarded:
            self.adapter.submit(list(decision.forwarded))
        self._forwarded = True
        return decision.book_hash(self.book)

    def resume(self) -> GridDecision:
        """A node restarted after it forwarded the book (gate closure passed): the decision
        is recomputed from the book (deterministic: the same forwarded orders and hash) and
        the book is taken as sent, so it is never sent again."""
        decision = self.check()
        self._forwarded = True
        return decision

    def import_results(self) -> WholesaleResults:
        """The exchange's answer as a results file (WholesaleFileError when malformed)."""
        if not self._forwarded or self._decision is None:
            raise IntermediaryError("nothing was forwarded yet")
        return import_results(self.book, self._decision.forwarded, self.adapter.auction(),
                              self.adapter.results())

    def verify(self, results: WholesaleResults) -> Verdict:
        """Checks 1-4 of the spec on the file, then check 5 against the grid decision
        (the same forwarded orders, within what the grid check allowed), and the results
        are of the book's auction."""
        if self._decision is None:
            raise IntermediaryError("nothing was checked or forwarded yet")
        b = self.book
        violations = verify_results(results)
        violations += [Violation(5, "auction", f"{k} is {getattr(results, k)!r}, the "
                                 f"forwarded book's {getattr(b, k)!r}")
                       for k in AuctionTerms.model_fields if getattr(results, k) != getattr(b, k)]
        violations += check_forwarded(results, self._decision.forwarded,
                                      self._decision.records)
        return Verdict(results, violations, self._decision.book_hash(b))

    def accept(self, results: WholesaleResults) -> Verdict:
        """`verify`, raising ResultsRejected unless every check holds."""
        verdict = self.verify(results)
        if not verdict.ok:
            raise ResultsRejected(verdict.violations)
        return verdict
