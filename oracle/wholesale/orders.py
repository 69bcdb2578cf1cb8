"""The spot intermediary's order book and its local grid check (`../shared/spec/wholesale.md`
check 5, and issue 16 item 1): the pure rules, no network and no chain.

An order book file (`flexmarket.wholesale-orders/1`) holds one auction's parameters, the
local zones with the net change each may take per MTU, optionally the grid model the AC
check runs on (`oracle.wholesale.acgrid`), and the aggregators' orders in arrival order:

```
{"schema": "flexmarket.wholesale-orders/1", "exchange": "Reference Exchange",
 "auction": "day-ahead", "delivery_start": "2026-05-26T00:00:00+02:00",
 "mtu_minutes": 60, "mtus": 24, "price_floor_ct_per_mwh": -50000,
 "price_cap_ct_per_mwh": 400000, "volume_step_w": 1000,
 "zones": [{"id": "T0-L34", "max_sell_w": 60000, "max_buy_w": [40000, ...]}],
 "grid": {"code": "1-LV-semiurb4--2-sw", "day": "2016-05-26", "zones": "feeder"},
 "orders": [{"id": "O1", "participant": "AG1", "zone": "T0-L34", "side": "sell",
             "mtu": 17, "quantity_w": 40000, "limit_ct_per_mwh": 9000}]}
```

Malformed (`WholesaleFileError`, exit 2, naming the field): types, unknown fields, two
orders or two zones with one id, a zone limit list that is not one per MTU, a cap below the
floor. An order that is well formed but cannot go out is **refused** with a reason naming it
(the others go on, as invalid bids in the local market): an unknown zone, an MTU the
auction does not have, a limit outside floor and cap, a quantity not a positive multiple of
`volume_step_w`.

**The zone-limit rule.** A sell adds to the zone's export (generation up or load down), a
buy to its import. Sells and buys of one MTU may be accepted independently (a sell below
the price and a buy below it: only the sell), so each direction is held on its own: the
sells of a zone and MTU, all accepted, stay within `max_sell_w`, the buys within
`max_buy_w`. Orders take the headroom in arrival order (the book's order): each gets what
is left, rounded down to `volume_step_w` (**curtailed**, its requested quantity kept in the
decision), and is refused when nothing is left. The decision's **records** (zone, MTU, the
sell and buy watts it allowed, the limits) are what goes on chain; the **book hash** is the
keccak256 of the canonical forwarded book, fixed at gate closure.

After the AC check, `refuse_failing` refuses every forwarded order of an MTU and direction
whose power flow fails, with the element that failed (the same rule, one step coarser: the
zone limits are the DSO's first line, the power flow the proof).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from oracle.canonical import canonical_json, keccak_hex
from oracle.jsonio import parse_model, read_document
from oracle.wholesale.results import (
    AuctionTerms,
    Id,
    OrderTerms,
    Watts,
    WholesaleFileError,
    WholesaleResults,
    repeated_ids,
)
from oracle.wholesale.verify import Violation

ORDERS_SCHEMA = "flexmarket.wholesale-orders/1"
BOOK_SCHEMA = "flexmarket.wholesale-book/1"
Direction = Literal["sell", "buy"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


PerPeriod = Watts | list[Watts]
"""A zone's limit: one value for every period (MTU, quarter), or one per period."""


def at_period(value: PerPeriod, period: int) -> int:
    return value if isinstance(value, int) else value[period]


def per_period_problems(where: str, values: Sequence[tuple[str, PerPeriod]], periods: int,
                        unit: str) -> list[tuple[str, str]]:
    """`where.name` for every list that is not one value per period."""
    return [(f"{where}.{name}", f"has {len(value)} values, the auction has {periods} {unit}s "
             f"(one value, or one per {unit})")
            for name, value in values if isinstance(value, list) and len(value) != periods]


class ZoneLimit(_Strict):
    id: Id
    max_sell_w: PerPeriod
    max_buy_w: PerPeriod

    def limit_w(self, side: Direction, mtu: int) -> int:
        return at_period(self.max_sell_w if side == "sell" else self.max_buy_w, mtu)


class GridRef(_Strict):
    """The DSO's grid model the AC check runs on: a SimBench code and a profile day; the
    book's zones are zones of that model (`oracle.capacity.limits.capacity_zones`)."""

    code: Id
    day: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    zones: Literal["feeder", "trafo"] = "feeder"


class OrderBook(AuctionTerms):
    schema_: Literal["flexmarket.wholesale-orders/1"] = Field(alias="schema")
    volume_step_w: Annotated[int, Field(ge=1, le=10**9)] = 1
    zones: list[ZoneLimit]
    grid: GridRef | None = None
    orders: list[OrderTerms] = Field(default_factory=list)

    def zone_map(self) -> dict[str, ZoneLimit]:
        return {z.id: z for z in self.zones}

    @property
    def zone_ids(self) -> list[str]:
        return [z.id for z in self.zones]

    @property
    def periods(self) -> tuple[int, int]:
        """(minutes, count) of the auction's MTUs."""
        return self.mtu_minutes, self.mtus


def _problems(b: OrderBook) -> list[tuple[str, str]]:
    problems = b.terms_problems() + repeated_ids("zones", [z.id for z in b.zones])
    for i, z in enumerate(b.zones):
        problems += per_period_problems(f"zones[{i}]", [("max_sell_w", z.max_sell_w),
                                                        ("max_buy_w", z.max_buy_w)], b.mtus, "MTU")
    return problems + repeated_ids("orders", [o.id for o in b.orders])


def parse_orders(data: str | bytes | Mapping[str, Any]) -> OrderBook:
    """Parse and validate an order book; raise `WholesaleFileError` listing every problem."""
    return parse_model(OrderBook, data, WholesaleFileError, _problems)


def load_orders(path: str | Path) -> OrderBook:
    return parse_orders(read_document(path, WholesaleFileError))


@dataclass(frozen=True)
class Refusal:
    order_id: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"order": self.order_id, "reason": self.reason}


@dataclass(frozen=True)
class GridRecord:
    """What the local grid check allowed in one zone and MTU (check 5's record on chain)."""

    zone: str
    mtu: int
    sell_w: int  # the forwarded sells, all accepted
    buy_w: int  # the forwarded buys, all accepted
    max_sell_w: int
    max_buy_w: int

    def to_json(self) -> dict[str, Any]:
        return {"zone": self.zone, "mtu": self.mtu, "sell_w": self.sell_w, "buy_w": self.buy_w,
                "max_sell_w": self.max_sell_w, "max_buy_w": self.max_buy_w}


@dataclass(frozen=True)
class GridDecision:
    """The grid check of a book: what goes out (curtailed orders with their new quantity),
    what is refused and why, and the records."""

    forwarded: tuple[OrderTerms, ...]
    refused: tuple[Refusal, ...]
    requested_w: Mapping[str, int]  # curtailed order id -> the quantity it asked for
    records: tuple[GridRecord, ...]

    def book_document(self, book: OrderBook) -> dict[str, Any]:
        """The forwarded book as hashed: the auction and the orders that went out."""
        head = book.model_dump(mode="json", include=set(AuctionTerms.model_fields))
        return {**head, "schema": BOOK_SCHEMA,
                "orders": [o.model_dump(mode="json") for o in self.forwarded]}

    def book_hash(self, book: OrderBook) -> str:
        return keccak_hex(canonical_json(self.book_document(book), integers_checked=True))

    def to_json(self, book: OrderBook) -> dict[str, Any]:
        return {"schema": "flexmarket.wholesale-grid-check/1",
                "book_hash": self.book_hash(book),
                "forwarded": [o.model_dump(mode="json") for o in self.forwarded],
                "curtailed": [{"order": k, "requested_w": v}
                              for k, v in sorted(self.requested_w.items())],
                "refused": [r.to_json() for r in self.refused],
                "records": [r.to_json() for r in self.records]}


def refusal_reason(book: OrderBook, o: OrderTerms) -> str | None:
    """Why a well-formed order cannot go out at all, or None."""
    zones = book.zone_map()
    if o.zone not in zones:
        return f"zone {o.zone!r} is not a local zone ({', '.join(sorted(zones)) or 'none'})"
    if o.mtu >= book.mtus:
        return f"MTU {o.mtu}: the auction has MTUs 0 to {book.mtus - 1}"
    floor, cap = book.price_floor_ct_per_mwh, book.price_cap_ct_per_mwh
    if not floor <= o.limit_ct_per_mwh <= cap:
        return (f"limit {o.limit_ct_per_mwh} ct/MWh is outside the floor {floor} and the cap "
                f"{cap}")
    if o.quantity_w <= 0 or o.quantity_w % book.volume_step_w:
        return (f"quantity {o.quantity_w} W is not a positive multiple of the volume step "
                f"{book.volume_step_w} W")
    return None


def _records(book: OrderBook, forwarded: Sequence[OrderTerms]) -> tuple[GridRecord, ...]:
    used: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: {"sell": 0, "buy": 0})
    for o in forwarded:
        used[o.zone, o.mtu][o.side] += o.quantity_w
    zones = book.zone_map()
    return tuple(GridRecord(zone, mtu, u["sell"], u["buy"],
                            zones[zone].limit_w("sell", mtu), zones[zone].limit_w("buy", mtu))
                 for (zone, mtu), u in sorted(used.items()))


def grid_check(book: OrderBook) -> GridDecision:
    """The zone-limit rule of the module doc over the whole book."""
    zones = book.zone_map()
    step = book.volume_step_w
    left: dict[tuple[str, int, str], int] = {}
    forwarded: list[OrderTerms] = []
    refused: list[Refusal] = []
    requested: dict[str, int] = {}
    for o in book.orders:
        reason = refusal_reason(book, o)
        if reason is not None:
            refused.append(Refusal(o.id, reason))
            continue
        key = (o.zone, o.mtu, o.side)
        limit = zones[o.zone].limit_w(o.side, o.mtu)
        room = left.setdefault(key, limit)
        take = min(o.quantity_w, room) // step * step
        if take == 0:
            refused.append(Refusal(o.id, f"zone {o.zone} MTU {o.mtu}: its {o.side}s may add "
                                   f"up to {limit} W, {limit - room} W already taken"))
            continue
        left[key] = room - take
        if take < o.quantity_w:
            requested[o.id] = o.quantity_w
        forwarded.append(o.model_copy(update={"quantity_w": take}))
    return GridDecision(tuple(forwarded), tuple(refused), requested,
                        _records(book, forwarded))


@dataclass(frozen=True)
class FlowFailure:
    """An MTU and direction whose AC power flow failed (`oracle.wholesale.acgrid`)."""

    mtu: int
    side: Direction
    reason: str  # "line 34 at 104.2 % in 17:15"


def refuse_failing(book: OrderBook, decision: GridDecision,
                   failures: Sequence[FlowFailure]) -> GridDecision:
    """The decision with every forwarded order of a failing MTU and direction refused."""
    failing = {(f.mtu, f.side): f.reason for f in failures}
    keep = [o for o in decision.forwarded if (o.mtu, o.side) not in failing]
    refused = list(decision.refused) + [
        Refusal(o.id, f"AC power flow with every {o.side} of MTU {o.mtu} accepted: "
                f"{failing[o.mtu, o.side]}")
        for o in decision.forwarded if (o.mtu, o.side) in failing]
    kept = {o.id for o in keep}
    return GridDecision(tuple(keep), tuple(refused),
                        {k: v for k, v in decision.requested_w.items() if k in kept},
                        _records(book, keep))


def check_forwarded(results: WholesaleResults, forwarded: Sequence[OrderTerms],
                    records: Sequence[GridRecord]) -> list[Violation]:
    """Check 5 off chain, and that the book is what went out: each order of the results is
    a forwarded order with the same terms (none added, none lost, none changed after gate
    closure), and the forwarded orders of each zone and MTU stay within what the grid
    record allowed."""
    sent = {o.id: o for o in forwarded}
    out: list[Violation] = []
    seen: set[str] = set()
    for o in results.orders:
        where = f"orders[{o.id}]"
        mine = sent.get(o.id)
        if mine is None:
            out.append(Violation(5, where, "was never forwarded"))
            continue
        seen.add(o.id)
        changed = [k for k in OrderTerms.model_fields if getattr(o, k) != getattr(mine, k)]
        if changed:
            out.append(Violation(5, where, f"differs from the forwarded order in "
                                 f"{', '.join(changed)}"))
    for oid in sorted(set(sent) - seen):
        out.append(Violation(5, f"orders[{oid}]", "was forwarded but is not in the results"))
    for r in records:
        if r.sell_w > r.max_sell_w or r.buy_w > r.max_buy_w:
            out.append(Violation(5, f"mtu {r.mtu} zone {r.zone}", f"the record allows "
                                 f"{r.sell_w} W of sells and {r.buy_w} W of buys, beyond the "
                                 f"zone's {r.max_sell_w} W and {r.max_buy_w} W"))
    allowed = {(r.zone, r.mtu): r for r in records}
    used: dict[tuple[str, int], dict[str, int]] = defaultdict(lambda: {"sell": 0, "buy": 0})
    for f in forwarded:
        used[f.zone, f.mtu][f.side] += f.quantity_w
    for (zone, mtu), u in sorted(used.items()):
        record = allowed.get((zone, mtu))
        for side in ("sell", "buy"):
            cap = 0 if record is None else (record.sell_w if side == "sell" else record.buy_w)
            if u[side] > cap:
                out.append(Violation(5, f"mtu {mtu} zone {zone}", f"{u[side]} W of {side}s "
                                     f"forwarded, the grid check allowed {cap} W"))
    return out
