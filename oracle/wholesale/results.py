"""Wholesale results files (`flexmarket.wholesale-results/1`, `../shared/spec/wholesale.md`):
what an exchange published for one auction, as imported, parsed strictly.

Units: power W; energy prices in cents of EUR per MWh (the 0.01 EUR/MWh tick); money µEUR.
A file is malformed (`WholesaleFileError`, exit 2) when its types, field names or sizes are
wrong: a curve missing for an MTU or given twice, a price list of the wrong length, an order
for an MTU the auction does not have, two orders with one id, a limit price twice on one
curve. Whether the numbers are *right* is `oracle.wholesale.verify`'s question.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from oracle.canonical import canonical_json, keccak_hex
from oracle.errors import DocumentError
from oracle.jsonio import parse_model, read_document

RESULTS_SCHEMA = "flexmarket.wholesale-results/1"
PRICE_LIMIT_CT = 10**9
"""|price| in ct/MWh beyond this (10 MEUR/MWh) is refused: no exchange gets near it, and
every product the checks form stays an exact integer far from any limit."""
QUANTITY_LIMIT_W = 10**15
"""1 PW: beyond any auction's total volume."""
PAYMENT_LIMIT_UEUR = 10**30
"""|payment| beyond this is malformed: the largest right one, 10^15 W x 1440 min x 10^9
ct/MWh / 6000, is 2.4 x 10^20; the chain's rows hold int128 (1.7 x 10^38)."""
MAX_MTUS = 10_000

Id = Annotated[str, Field(min_length=1, max_length=200)]
Price = Annotated[int, Field(ge=-PRICE_LIMIT_CT, le=PRICE_LIMIT_CT)]
Watts = Annotated[int, Field(ge=0, le=QUANTITY_LIMIT_W)]


class WholesaleFileError(DocumentError):
    """A wholesale results file is not well formed (every problem with its field path)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Curve(_Strict):
    mtu: Annotated[int, Field(ge=0)]
    supply: list[tuple[Price, Watts]]
    demand: list[tuple[Price, Watts]]


class OrderTerms(_Strict):
    """An order as an aggregator gave it and as it was forwarded (`oracle.wholesale.orders`)."""

    id: Id
    participant: Id
    zone: Id
    side: Literal["sell", "buy"]
    mtu: Annotated[int, Field(ge=0)]
    quantity_w: Watts
    limit_ct_per_mwh: Price


class Order(OrderTerms):
    """One of our forwarded orders with the exchange's answer."""

    accepted_w: Watts
    payment_ueur: Annotated[int, Field(ge=-PAYMENT_LIMIT_UEUR, le=PAYMENT_LIMIT_UEUR)]


class AuctionTerms(_Strict):
    """One auction's parameters as the exchange states them: the head of a results file
    and of an order book (`oracle.wholesale.orders`)."""

    exchange: Id
    auction: Id
    delivery_start: AwareDatetime
    mtu_minutes: Annotated[int, Field(ge=1, le=1440)]
    mtus: Annotated[int, Field(ge=1, le=MAX_MTUS)]
    price_floor_ct_per_mwh: Price = -50_000
    price_cap_ct_per_mwh: Price = 400_000

    def terms_problems(self) -> list[tuple[str, str]]:
        if self.price_cap_ct_per_mwh < self.price_floor_ct_per_mwh:
            return [("price_cap_ct_per_mwh", f"{self.price_cap_ct_per_mwh} is below the floor "
                     f"{self.price_floor_ct_per_mwh}")]
        return []


def repeated_ids(kind: str, ids: Sequence[str]) -> list[tuple[str, str]]:
    """`kind[i].id` for every id given before at `kind[j]`."""
    first: dict[str, int] = {}
    out = []
    for i, x in enumerate(ids):
        if x in first:
            out.append((f"{kind}[{i}].id", f"{x!r} again ({kind}[{first[x]}])"))
        first.setdefault(x, i)
    return out


class WholesaleResults(AuctionTerms):
    schema_: Literal["flexmarket.wholesale-results/1"] = Field(alias="schema")
    curves: list[Curve]
    prices_ct_per_mwh: list[Price]
    orders: list[Order] = Field(default_factory=list)

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    def curves_by_mtu(self) -> dict[int, Curve]:
        """The curve of each MTU (the file has exactly one per MTU, checked at parsing)."""
        return {c.mtu: c for c in self.curves}

    def canonical(self) -> dict[str, Any]:
        """The file with every default filled in: what `results_hash` covers."""
        data: dict[str, Any] = self.model_dump(mode="json", by_alias=True)
        return data

    def results_hash(self, canonical: dict[str, Any] | None = None) -> str:
        """keccak256 of the canonical file (`canonical`: this file's `canonical()` when the
        caller has it already: it is the costly part of a large file)."""
        data = self.canonical() if canonical is None else canonical
        return keccak_hex(canonical_json(data, integers_checked=True))


def _problems(r: WholesaleResults) -> list[tuple[str, str]]:
    problems = r.terms_problems()
    if len(r.prices_ct_per_mwh) != r.mtus:
        problems.append(("prices_ct_per_mwh", f"has {len(r.prices_ct_per_mwh)} prices, the "
                         f"auction has {r.mtus} MTUs"))
    seen: dict[int, int] = {}
    for i, c in enumerate(r.curves):
        if c.mtu >= r.mtus:
            problems.append((f"curves[{i}].mtu", f"{c.mtu}: the auction has MTUs 0 to "
                             f"{r.mtus - 1}"))
        elif c.mtu in seen:
            problems.append((f"curves[{i}].mtu", f"{c.mtu} again (curves[{seen[c.mtu]}])"))
        else:
            seen[c.mtu] = i
        for side in ("supply", "demand"):
            prices: dict[int, int] = {}
            for j, (price, _) in enumerate(getattr(c, side)):
                if price in prices:
                    problems.append((f"curves[{i}].{side}[{j}]", f"limit price {price} again "
                                     f"({side}[{prices[price]}]): a curve has one total per "
                                     "limit price"))
                prices.setdefault(price, j)
    missing = [t for t in range(r.mtus) if t not in seen]
    if missing:
        problems.append(("curves", f"no curve for MTU {missing[0]}"
                         + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")))
    problems += repeated_ids("orders", [o.id for o in r.orders])
    for k, o in enumerate(r.orders):
        if o.mtu >= r.mtus:
            problems.append((f"orders[{k}].mtu", f"{o.mtu}: the auction has MTUs 0 to "
                             f"{r.mtus - 1}"))
    return problems


def parse_results(data: str | bytes | Mapping[str, Any]) -> WholesaleResults:
    """Parse and validate a results file; raise `WholesaleFileError` listing every problem."""
    return parse_model(WholesaleResults, data, WholesaleFileError, _problems)


def load_results(path: str | Path) -> WholesaleResults:
    return parse_results(read_document(path, WholesaleFileError))
