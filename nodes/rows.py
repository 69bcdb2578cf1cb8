"""A result as rows on chain: the one rule for award and share rows.

Who pays each award is the payer rule (`oracle.payers.payer_shares`, the same for every
session; a coordinated result carries it as `shares`). Each buyer's share of an award is
charged to that buyer's needs the bid may serve (`python_client.shares.share_rows`: need
order, within what is left of each need's escrowed budget; the award's row carries the
watts, the others are share rows), a counter-activation wholly to its payer's balancing
need (a DSO's need posted with no quantities). Awards are taken in the order of their bid
ids on chain, as they are committed and as the contract wants them.

`result_rows` is the rule over plain values (the demo's scenario file, whose bid ids are
names); `award_rows` reads it from a session rebuilt from the chain (the oracle service,
the benches, the tests). Every committer of results uses one of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nodes.errors import RowsError
from oracle.payers import payer_shares
from oracle.result import Result
from oracle.scenario import Scenario
from python_client.errors import ClientError
from python_client.records import NO_LIMIT, AwardRow
from python_client.shares import NeedInfo, counter_activations, share_rows, shares_by_award
from verifier.rebuild import DIRECTIONS, is_balancing, need_index


@dataclass(frozen=True)
class Row:
    bid: str  # the bid id on chain, 0x-hex
    need: int
    quantity_w: int  # 0: a share row of the award before it
    price_eur_per_mw: int
    charged_ueur: int | None = None  # None: quantity x price

    def key(self) -> tuple[int, int]:
        return (int(self.bid, 16), self.need)

    def award_row(self) -> AwardRow:
        """The row as the SDK commits it."""
        return AwardRow(bytes.fromhex(self.bid[2:]), self.need, self.quantity_w,
                        self.price_eur_per_mw, self.charged_ueur)  # fmt: skip


def result_rows(
    awards: Iterable[tuple[str, int, int]],
    bids: Mapping[str, tuple[str, str]],
    payers: Iterable[Mapping[str, Any]],
    needs: Sequence[NeedInfo],
    budget_left: dict[int, int],
    chain_id: Callable[[str], str] = str,
) -> list[Row]:
    """Rows of `awards` [(bid, W, price)], sorted as the contract wants them.

    `bids`: bid -> (zone, direction); `payers`: the result's `shares` rows (the payer
    rule); `needs`: every need of the session, balancing ones included; `budget_left`
    (need index -> µEUR) is drawn down; `chain_id`: a bid's id on chain (0x-hex), when the
    result names bids otherwise (a scenario file)."""
    payers = list(payers)
    shares = shares_by_award(payers)
    counters = counter_activations(payers)
    rows: list[Row] = []
    for bid, quantity_w, price in sorted(awards, key=lambda a: int(chain_id(a[0]), 16)):
        zone, direction = bids[bid]
        try:
            parts = share_rows(bid, zone, direction, quantity_w, price, shares.get(bid, []),
                               needs, budget_left, counter=bid in counters)  # fmt: skip
        except ClientError as exc:
            raise RowsError(str(exc)) from exc
        rows += [Row(chain_id(bid), n, w, price, c) for n, w, c in parts]
    return sorted(rows, key=Row.key)


def award_rows(scenario: Scenario, needs: Sequence[Mapping[str, Any]], result: Result) -> list[Row]:
    """`result_rows` of a session rebuilt from the chain (`verifier.rebuild`: bid ids are
    the chain's, request ids name need indices) and its needs' events (`needs`: budgets,
    balancing needs)."""
    budget = {int(n["needIndex"]): int(n["budgetUeur"]) for n in needs}
    requests = sorted(scenario.requests, key=lambda r: need_index(r.id))
    infos = [NeedInfo(need_index(r.id), r.buyer, r.zone, r.direction, r.max_price_eur_per_mw)
             for r in requests]  # fmt: skip
    for n in needs:  # balancing needs: not requests of the scenario, they pay counter-activations
        if is_balancing(n):
            cap = int(n["maxPriceEurPerMw"])
            infos.append(NeedInfo(int(n["needIndex"]), n["buyer"], None,
                                  DIRECTIONS[int(n["direction"])],
                                  None if cap == NO_LIMIT else cap, balancing=True))  # fmt: skip
    return result_rows(
        [(a.bid, a.quantity_w, a.price_eur_per_mw) for a in result.awards],
        {b.id: (b.zone, b.direction) for b in scenario.bids},
        payer_shares(scenario, result), infos, budget,
    )
