"""mFRR forwarding (issue 16 item 4), the pure rules: local balancing bids checked against
the local grid, aggregated into standard mFRR product bids, the platform's activations
checked and disaggregated back to the local bids.

A bid book (`flexmarket.mfrr-bids/1`) holds the platform's parameters (`quarters` of 15
minutes, each a validity period), the zones with what each may activate per quarter and
direction (`max_up_w`, `max_down_w`: the DSO's traffic light; 0 is red) and the local bids
in arrival order: `direction` up or down, `quarter`, `quantity_w`, `price_ct_per_mwh`,
`divisible` (false: all or nothing). Units as the spot market: W, ct/MWh, µEUR; an
activation's payment is `oracle.wholesale.payment_ueur(activated_w, 15, price)`.

- **Refused** (naming the bid): an unknown zone, a quarter the platform does not have, a
  price outside floor and cap, a quantity of 0.
- **Zone limits**: a zone's bids of one quarter and direction, all activated, stay within
  its limit; bids take the room in arrival order, a divisible one is curtailed to what is
  left, an indivisible one that does not fit whole is refused.
- **Aggregation** per quarter and direction, in merit order (price, then arrival), to
  products of whole `product_step_w` (1 MW: the standard product's minimum and
  granularity): the divisible bids are cut into divisible products of one step each (a
  bid may span two), its price the highest local price in it, so every part is paid at
  least its own price; the indivisible bids, each whole, are linked into indivisible
  products, one each time their running total reaches a whole number of steps (all or
  nothing, every part in full). A remainder short of a step is not forwarded (it stays
  local, listed in `unforwarded`).
- **Disaggregation**: a divisible product's activation goes to its parts in merit order,
  each in full before the next; an indivisible product activates every part.
- **Checks of the platform's answer** (each naming the product or the bid): activation
  within the product, whole steps, indivisible all or nothing, never a product priced above
  the quarter's price, the price within floor and cap, the payment's formula; then the
  splits stay within each zone's limit (a split never activates what the traffic light
  forbids).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, Field

from oracle.jsonio import parse_model, read_document
from oracle.wholesale.orders import GridRef, PerPeriod, Refusal, at_period, per_period_problems
from oracle.wholesale.results import (
    Id,
    Price,
    Watts,
    WholesaleFileError,
    _Strict,
    repeated_ids,
)
from oracle.wholesale.verify import Violation, payment_ueur

BIDS_SCHEMA = "flexmarket.mfrr-bids/1"
QUARTER_MINUTES = 15
Direction = Literal["up", "down"]


class MfrrZone(_Strict):
    id: Id
    max_up_w: PerPeriod
    max_down_w: PerPeriod

    def limit_w(self, direction: Direction, quarter: int) -> int:
        return at_period(self.max_up_w if direction == "up" else self.max_down_w, quarter)


class LocalBid(_Strict):
    id: Id
    participant: Id
    zone: Id
    direction: Direction
    quarter: Annotated[int, Field(ge=0)]
    quantity_w: Watts
    price_ct_per_mwh: Price
    divisible: bool = True


class MfrrBook(_Strict):
    schema_: Literal["flexmarket.mfrr-bids/1"] = Field(alias="schema")
    platform: Id
    delivery_start: AwareDatetime
    quarters: Annotated[int, Field(ge=1, le=96)]
    price_floor_ct_per_mwh: Price = -999_999_900
    price_cap_ct_per_mwh: Price = 999_999_900
    product_step_w: Annotated[int, Field(ge=1, le=10**12)] = 1_000_000
    zones: list[MfrrZone]
    grid: GridRef | None = None
    bids: list[LocalBid] = Field(default_factory=list)

    def zone_map(self) -> dict[str, MfrrZone]:
        return {z.id: z for z in self.zones}

    @property
    def zone_ids(self) -> list[str]:
        return [z.id for z in self.zones]

    @property
    def periods(self) -> tuple[int, int]:
        """(minutes, count) of the platform's quarters."""
        return QUARTER_MINUTES, self.quarters


def _problems(b: MfrrBook) -> list[tuple[str, str]]:
    problems = repeated_ids("zones", [z.id for z in b.zones])
    problems += repeated_ids("bids", [x.id for x in b.bids])
    if b.price_cap_ct_per_mwh < b.price_floor_ct_per_mwh:
        problems.append(("price_cap_ct_per_mwh", f"{b.price_cap_ct_per_mwh} is below the floor "
                         f"{b.price_floor_ct_per_mwh}"))
    for i, z in enumerate(b.zones):
        problems += per_period_problems(f"zones[{i}]", [("max_up_w", z.max_up_w),
                                                        ("max_down_w", z.max_down_w)],
                                        b.quarters, "quarter")
    return problems


def parse_bids(data: str | bytes | Mapping[str, Any]) -> MfrrBook:
    """Parse and validate a bid book; raise `WholesaleFileError` listing every problem."""
    return parse_model(MfrrBook, data, WholesaleFileError, _problems)


def load_bids(path: str | Path) -> MfrrBook:
    return parse_bids(read_document(path, WholesaleFileError))


@dataclass(frozen=True)
class Product:
    """A standard mFRR product bid made of local bids (`parts`: bid id and watts, in merit
    order)."""

    id: str
    direction: Direction
    quarter: int
    quantity_w: int
    price_ct_per_mwh: int
    divisible: bool
    parts: tuple[tuple[str, int], ...]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "direction": self.direction, "quarter": self.quarter,
                "quantity_w": self.quantity_w, "price_ct_per_mwh": self.price_ct_per_mwh,
                "divisible": self.divisible, "parts": [list(p) for p in self.parts]}


@dataclass(frozen=True)
class MfrrDecision:
    admitted: tuple[LocalBid, ...]  # after refusals and curtailment
    refused: tuple[Refusal, ...]
    products: tuple[Product, ...]
    unforwarded: tuple[tuple[str, int], ...]  # (bid id, watts) short of a product step

    def to_json(self) -> dict[str, Any]:
        return {"schema": "flexmarket.mfrr-aggregation/1",
                "products": [p.to_json() for p in self.products],
                "refused": [r.to_json() for r in self.refused],
                "unforwarded": [list(u) for u in self.unforwarded]}


def _refusal(book: MfrrBook, x: LocalBid) -> str | None:
    zones = book.zone_map()
    if x.zone not in zones:
        return f"zone {x.zone!r} is not a local zone ({', '.join(sorted(zones)) or 'none'})"
    if x.quarter >= book.quarters:
        return f"quarter {x.quarter}: the platform has quarters 0 to {book.quarters - 1}"
    if not book.price_floor_ct_per_mwh <= x.price_ct_per_mwh <= book.price_cap_ct_per_mwh:
        return (f"price {x.price_ct_per_mwh} ct/MWh is outside the floor "
                f"{book.price_floor_ct_per_mwh} and the cap {book.price_cap_ct_per_mwh}")
    if x.quantity_w == 0:
        return "quantity 0 W"
    return None


def _merit(bids: Sequence[LocalBid], order: Mapping[str, int]) -> list[LocalBid]:
    return sorted(bids, key=lambda x: (x.price_ct_per_mwh, order[x.id]))


def _pack(bids: list[LocalBid], step: int, divisible: bool, name: str
          ) -> tuple[list[Product], list[tuple[str, int]]]:
    """Cut bids (merit order) into products of whole steps; the remainder short of a step."""
    products: list[Product] = []
    parts: list[tuple[str, int, int]] = []  # id, watts, price
    total = 0
    for x in bids:
        left = x.quantity_w
        while left:
            take = left if not divisible else min(left, step - total % step)
            parts.append((x.id, take, x.price_ct_per_mwh))
            total += take
            left -= take
            if total % step == 0:
                first = bids[0]
                products.append(Product(
                    f"{name}-{len(products)}", first.direction, first.quarter, total,
                    max(p for _, _, p in parts), divisible,
                    tuple((i, w) for i, w, _ in parts)))
                parts, total = [], 0
    return products, [(i, w) for i, w, _ in parts]


def aggregate(book: MfrrBook, failing: Sequence[tuple[int, str, str]] = ()) -> MfrrDecision:
    """Refusals, the zone limits, then the products (see the module doc). `failing`:
    (quarter, direction, reason) the AC check refused (`oracle.wholesale.acgrid`): their
    bids are refused with the reason."""
    flow = {(q, d): reason for q, d, reason in failing}
    zones = book.zone_map()
    order = {x.id: k for k, x in enumerate(book.bids)}
    room: dict[tuple[str, int, str], int] = {}
    admitted: list[LocalBid] = []
    refused: list[Refusal] = []
    for x in book.bids:
        reason = _refusal(book, x)
        if reason is None and (x.quarter, x.direction) in flow:
            reason = (f"AC power flow with every {x.direction} bid of quarter {x.quarter} "
                      f"activated: {flow[x.quarter, x.direction]}")
        if reason is None:
            key = (x.zone, x.quarter, x.direction)
            limit = zones[x.zone].limit_w(x.direction, x.quarter)
            left = room.setdefault(key, limit)
            take = min(x.quantity_w, left) if x.divisible else (
                x.quantity_w if x.quantity_w <= left else 0)
            if take == 0:
                reason = (f"zone {x.zone} quarter {x.quarter}: its {x.direction} bids may "
                          f"activate {limit} W, {limit - left} W already taken"
                          + ("" if x.divisible else f"; this indivisible bid needs "
                             f"{x.quantity_w} W"))
            else:
                room[key] = left - take
                admitted.append(x.model_copy(update={"quantity_w": take}))
        if reason is not None:
            refused.append(Refusal(x.id, reason))
    groups: dict[tuple[int, str, bool], list[LocalBid]] = defaultdict(list)
    for x in admitted:
        groups[x.quarter, x.direction, x.divisible].append(x)
    products: list[Product] = []
    unforwarded: list[tuple[str, int]] = []
    for (quarter, direction, divisible), bids in sorted(groups.items()):
        name = f"P-{quarter}-{direction}-{'d' if divisible else 'i'}"
        made, rest = _pack(_merit(bids, order), book.product_step_w, divisible, name)
        products += made
        unforwarded += rest
    return MfrrDecision(tuple(admitted), tuple(refused), tuple(products), tuple(unforwarded))


def disaggregate(product: Product, activated_w: int) -> list[tuple[str, int]]:
    """Each part's activation (merit order; an indivisible product activates all parts)."""
    out = []
    left = activated_w
    for bid_id, w in product.parts:
        take = min(w, left)
        out.append((bid_id, take))
        left -= take
    return out


@dataclass(frozen=True)
class Activation:
    """The platform's answer for one of our products."""

    product: str
    activated_w: int
    price_ct_per_mwh: int  # the quarter's price in the product's direction
    payment_ueur: int


@dataclass(frozen=True)
class Split:
    bid: str
    participant: str
    zone: str
    direction: Direction
    quarter: int
    activated_w: int
    payment_ueur: int

    def to_json(self) -> dict[str, Any]:
        return {"bid": self.bid, "participant": self.participant, "zone": self.zone,
                "direction": self.direction, "quarter": self.quarter,
                "activated_w": self.activated_w, "payment_ueur": self.payment_ueur}


def check_activations(book: MfrrBook, decision: MfrrDecision,
                      activations: Sequence[Activation]) -> tuple[list[Split], list[Violation]]:
    """The platform's answer checked, then disaggregated; the splits and the violations
    (`check` 1: activations, 2: price, 3: payment, 4: the local grid)."""
    products = {p.id: p for p in decision.products}
    bids = {x.id: x for x in decision.admitted}
    out: list[Violation] = []
    splits: list[Split] = []
    seen: set[str] = set()
    for a in activations:
        where = f"products[{a.product}]"
        p = products.get(a.product)
        if p is None or a.product in seen:
            out.append(Violation(1, where, "not one of our products" if p is None
                                 else "answered twice"))
            continue
        seen.add(a.product)
        step = book.product_step_w
        if not 0 <= a.activated_w <= p.quantity_w:
            out.append(Violation(1, where, f"activated {a.activated_w} W of {p.quantity_w} W"))
            continue
        if a.activated_w % step:
            out.append(Violation(1, where, f"activated {a.activated_w} W, not whole steps of "
                                 f"{step} W"))
        if not p.divisible and a.activated_w not in (0, p.quantity_w):
            out.append(Violation(1, where, f"indivisible: activated {a.activated_w} W of "
                                 f"{p.quantity_w} W"))
        if not book.price_floor_ct_per_mwh <= a.price_ct_per_mwh <= book.price_cap_ct_per_mwh:
            out.append(Violation(2, where, f"price {a.price_ct_per_mwh} ct/MWh outside floor "
                                 "and cap"))
        if a.activated_w and p.price_ct_per_mwh > a.price_ct_per_mwh:
            out.append(Violation(2, where, f"activated at {a.price_ct_per_mwh} ct/MWh, below "
                                 f"its price {p.price_ct_per_mwh}"))
        want = payment_ueur(a.activated_w, QUARTER_MINUTES, a.price_ct_per_mwh)
        if a.payment_ueur != want:
            out.append(Violation(3, where, f"payment {a.payment_ueur} µEUR, the formula gives "
                                 f"{want}"))
        for bid_id, w in disaggregate(p, a.activated_w):
            x = bids[bid_id]
            splits.append(Split(bid_id, x.participant, x.zone, x.direction, x.quarter, w,
                                payment_ueur(w, QUARTER_MINUTES, a.price_ct_per_mwh)))
    for pid in sorted(set(products) - seen):
        out.append(Violation(1, f"products[{pid}]", "forwarded but not answered"))
    used: dict[tuple[str, int, str], int] = defaultdict(int)
    for s in splits:
        used[s.zone, s.quarter, s.direction] += s.activated_w
    zones = book.zone_map()
    for (zone, quarter, direction), w in sorted(used.items()):
        limit = zones[zone].limit_w(direction, quarter)  # type: ignore[arg-type]
        if w > limit:
            out.append(Violation(4, f"quarter {quarter} zone {zone}", f"{w} W {direction} "
                                 f"activated, the zone may take {limit} W"))
    return splits, out
