"""Shared payments on chain (issue 7): a result's `shares` as award and share rows, and a
scenario's coordination inputs as the bytes a session publishes.

A coordinated result (oracle.coordination) splits each award's payment between buyers:
`shares` has one row per award and buyer, `{"bid", "buyer", "received_w_slots",
"payment_ueur"}`. On chain a payment is charged to needs, not buyers: each buyer's share is
charged to the needs of that buyer the bid may serve (`oracle.rules.may_serve`: direction,
the need's zone or system-wide, price within the need's maximum), in need order, each up
to what is left of its escrowed budget. The award's row is the one with the lowest need
index (it carries the watts); the others are share rows (0 W). The contract checks that
the rows add up to the award's payment and that each need may pay; verifiers check that
each buyer's rows add up to its share in the result.

A *counter-activation* (an award no request counted: its one `shares` row received 0 W, as
`balance_dso` buys them) is paid by its payer's *balancing need* of the bid's direction (a
DSO's need posted with no quantities: a system-wide budget for counter-activations): one row
with the whole payment, as the contract wants. No other award is charged to a balancing need.

Pure functions over plain values; of the engine's package they use the eligibility rule only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from oracle.rules import may_serve
from python_client.errors import ClientError


@dataclass(frozen=True)
class NeedInfo:
    """A need as the rows see it: index on chain, buyer, zone (None: system-wide), direction
    ("up" or "down"), maximum price (None: none), and whether it is a balancing need (no
    quantities: it pays counter-activations only)."""

    index: int
    buyer: str
    zone: str | None
    direction: str
    max_price_eur_per_mw: int | None = None
    balancing: bool = False

    def serves(self, zone: str, direction: str, price: int) -> bool:
        """Whether a bid (zone, direction, price) may serve this need: the eligibility rule."""
        return may_serve(zone, direction, price, self.zone, self.direction,
                         self.max_price_eur_per_mw)  # fmt: skip


def share_rows(
    bid: str,
    zone: str,
    direction: str,
    quantity_w: int,
    price_eur_per_mw: int,
    shares: Sequence[tuple[str, int]],
    needs: Sequence[NeedInfo],
    budget_left: dict[int, int],
    counter: bool = False,
) -> list[tuple[int, int, int]]:
    """Rows `(need index, W, charged µEUR)` of one award, sorted by need: the first carries
    the award's watts, the others are share rows (0 W). `shares` is [(buyer, µEUR)] adding up
    to `quantity_w * price_eur_per_mw`; `budget_left` (need index -> µEUR) is drawn down.
    `counter`: the award is a counter-activation (no request counted it): one row, the whole
    payment charged to the payer's first balancing need that serves it and has the budget."""
    payment = quantity_w * price_eur_per_mw
    if sum(p for _, p in shares) != payment:
        raise ClientError(f"bid {bid}: shares add up to {sum(p for _, p in shares)} µEUR, "
                          f"the payment is {payment} µEUR")  # fmt: skip
    ordered = sorted(needs, key=lambda n: n.index)
    if counter:
        if len(shares) != 1:
            raise ClientError(f"bid {bid}: a counter-activation has one payer, not {len(shares)}")
        buyer = shares[0][0]
        mine = [n for n in ordered if n.balancing and n.buyer == buyer
                and n.serves(zone, direction, price_eur_per_mw)]  # fmt: skip
        if not mine:
            raise ClientError(
                f"bid {bid}: a counter-activation (no request counted its watts) paid by "
                f"{buyer}, which has no balancing need the bid may serve ({direction}, a need "
                "posted with no quantities)"
            )
        for n in mine:
            if budget_left.get(n.index, 0) >= payment:
                budget_left[n.index] -= payment
                return [(n.index, quantity_w, payment)]
        raise ClientError(f"bid {bid}: the balancing needs of {buyer} lack budget for "
                          f"{payment} µEUR")  # fmt: skip
    charged: dict[int, int] = {}
    for buyer, amount in shares:
        mine = [n for n in ordered if n.buyer == buyer and not n.balancing
                and n.serves(zone, direction, price_eur_per_mw)]  # fmt: skip
        if not mine:
            raise ClientError(
                f"bid {bid}: buyer {buyer} pays a share of {amount} µEUR but has no need the "
                "bid may serve"
            )
        left = amount
        for n in mine:
            take = min(left, budget_left.get(n.index, 0))
            if take or (amount == 0 and not charged):
                charged[n.index] = charged.get(n.index, 0) + take
                budget_left[n.index] = budget_left.get(n.index, 0) - take
                left -= take
            if not left:
                break
        if left:
            raise ClientError(f"bid {bid}: the needs of {buyer} lack budget for {left} µEUR")
    if not charged:  # every share is zero: the first buyer's first need carries the award
        buyer = shares[0][0]
        first = next(n for n in ordered if n.buyer == buyer and not n.balancing
                     and n.serves(zone, direction, price_eur_per_mw))  # fmt: skip
        charged[first.index] = 0
    rows = sorted(charged.items())
    return [(n, quantity_w if i == 0 else 0, c) for i, (n, c) in enumerate(rows)]


def shares_by_award(shares: Iterable[Mapping[str, Any]]) -> dict[str, list[tuple[str, int]]]:
    """A result's `shares` rows grouped per bid: bid -> [(buyer, µEUR)], in result order."""
    out: dict[str, list[tuple[str, int]]] = {}
    for row in shares:
        out.setdefault(str(row["bid"]), []).append((str(row["buyer"]), int(row["payment_ueur"])))
    return out


def counter_activations(shares: Iterable[Mapping[str, Any]]) -> set[str]:
    """The bids of a result's `shares` that no request counted (every row received 0 W):
    counter-activations, paid from a balancing need on chain."""
    received: dict[str, int] = {}
    for row in shares:
        bid = str(row["bid"])
        received[bid] = received.get(bid, 0) + int(row["received_w_slots"])
    return {bid for bid, w in received.items() if w == 0}


MARKET_FIELDS = ("coupling", "priority", "balance_dso")
ZONE_FIELDS = ("forecast_w", "limit_w", "red_slots")


def coordination_json(scenario: Mapping[str, Any]) -> bytes | None:
    """The coordination inputs of a scenario (market `coupling`, `priority`, `balance_dso`;
    zones' `forecast_w`, `limit_w`, `red_slots`) as canonical JSON bytes for
    `publishCoordination`, or None when it sets none of them. Zones keep their scenario ids
    (the labels registered on chain)."""
    market = scenario.get("market", {})
    body: dict[str, Any] = {k: market[k] for k in MARKET_FIELDS if market.get(k) is not None}
    zones = []
    for z in scenario.get("zones", []):
        fields = {k: z[k] for k in ZONE_FIELDS if z.get(k) is not None}
        if set(fields) - {"limit_w"}:  # a limit alone is the registry's
            zones.append({"id": z["id"], **fields})
    if zones:
        body["zones"] = zones
    if not body:
        return None
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
