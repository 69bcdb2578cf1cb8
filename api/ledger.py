"""Who pays what in a session, read from the chain at one block.

An award's payment may be shared between buyers (TSO-DSO sessions, issue 7): its own need
pays the payment less its share rows, each share row's need pays its share
(`AwardShared`); settlement pays the seller once and takes each buyer's part from its
escrow (`ShareSettled` per buyer, then `AwardSettled` with the totals; an award that is
not shared has only `AwardSettled`). The market keeps share rows in storage without a
view function, so they are read from its events, like a need's quantities.

Every read here is made at one block (`Gateway.head()`): storage calls and logs agree.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from api.gateway import Gateway
from api.problems import Problem
from api.schemas import (
    AwardSettlementPublic,
    BuyerPaymentPublic,
    SettlementPartPublic,
    SettlementsPublic,
    SharePublic,
)
from python_client.contract_types import SessionView
from python_client.records import ChainEvent
from verifier.rebuild import payment_parts


def share_rows(
    gateway: Gateway, session_id: int, block: int
) -> dict[int, list[tuple[int, str, int]]]:
    """Award index -> its share rows `(need, buyer, µEUR)` in row order (`AwardShared`)."""
    out: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for e in gateway.session_logs(session_id, ["AwardShared"], block):
        a = e.args
        out[int(a["awardIndex"])].append(
            (int(a["needIndex"]), str(a["buyer"]), int(a["paymentUeur"]))
        )
    return out


def shares_of(
    need: int, buyer: str, payment: int, rows: list[tuple[int, str, int]]
) -> list[SharePublic]:
    """Every part of an award's payment (`verifier.rebuild.payment_parts`)."""
    return [SharePublic(need_index=n, buyer=b, payment_ueur=p)
            for n, b, p in payment_parts(need, buyer, payment, rows)]


@dataclass
class _Award:
    index: int
    bid_id: str
    seller: str
    buyer: str
    need: int
    quantity_w: int
    payment: int
    shares: list[tuple[int, str, int]] = field(default_factory=list)
    settled: ChainEvent | None = None
    parts: list[tuple[int, str, int, int, int]] = field(default_factory=list)


def settlements(gateway: Gateway, session_id: int, buyer: str | None = None) -> SettlementsPublic:
    """Every award of the session with who pays it and, once settled, each buyer's part;
    each buyer's totals. With `buyer`: only the awards it pays a part of, its parts and
    its totals."""
    gateway.session(session_id)
    block = gateway.head()
    m = gateway.contracts.market.functions
    money = SessionView.from_abi(gateway.call(m.session(session_id), block)).money
    names = ["AwardCommitted", "AwardShared", "AwardSettled", "ShareSettled"]
    awards: dict[int, _Award] = {}
    for e in gateway.session_logs(session_id, names, block):
        a = e.args
        index = int(a["awardIndex"])
        if e.name == "AwardCommitted":
            awards[index] = _Award(
                index, "0x" + bytes(a["bidId"]).hex(), str(a["seller"]), str(a["buyer"]),
                int(a["needIndex"]), int(a["quantityW"]), int(a["paymentUeur"]),
            )  # fmt: skip
            continue
        award = awards.get(index)
        if award is None:
            raise Problem(502, "node-inconsistent", f"{e.name} of award {index} before its award")
        if e.name == "AwardShared":
            award.shares.append((int(a["needIndex"]), str(a["buyer"]), int(a["paymentUeur"])))
        elif e.name == "ShareSettled":
            award.parts.append(
                (int(a["needIndex"]), str(a["buyer"]), int(a["paymentUeur"]),
                 int(a["refundUeur"]), int(a["penaltyUeur"]))
            )  # fmt: skip
        else:
            award.settled = e
    # a result is committed page by page: the rows of an unfinished one count too
    out_awards: list[AwardSettlementPublic] = []
    totals: dict[str, list[int]] = {}
    for award in (awards[i] for i in sorted(awards)):
        shares = shares_of(award.need, award.buyer, award.payment, award.shares)
        parts = list(award.parts)
        s = award.settled
        if s is not None and not parts:  # not shared: the award's buyer pays it all
            parts = [
                (award.need, award.buyer, int(s.args["paymentUeur"]), int(s.args["refundUeur"]),
                 int(s.args["penaltyUeur"]))
            ]  # fmt: skip
        for share in shares:
            totals.setdefault(share.buyer, [0, 0, 0, 0])[0] += share.payment_ueur
        for _, who, paid, refund, penalty in parts:
            t = totals.setdefault(who, [0, 0, 0, 0])
            t[1] += paid
            t[2] += refund
            t[3] += penalty
        if buyer is not None:
            if all(x.buyer != buyer for x in shares):
                continue
            parts = [p for p in parts if p[1] == buyer]
        out_awards.append(
            AwardSettlementPublic(
                award_index=award.index,
                bid_id=award.bid_id,
                seller=award.seller,
                quantity_w=award.quantity_w,
                payment_ueur=award.payment,
                shares=shares,
                settled=s is not None,
                paid_ueur=int(s.args["paymentUeur"]) if s else 0,
                refund_ueur=int(s.args["refundUeur"]) if s else 0,
                penalty_ueur=int(s.args["penaltyUeur"]) if s else 0,
                settled_tx_hash=s.tx_hash if s else None,
                parts=[
                    SettlementPartPublic(
                        need_index=n,
                        buyer=who,
                        payment_ueur=paid,
                        refund_ueur=refund,
                        penalty_ueur=penalty,
                    )
                    for n, who, paid, refund, penalty in parts
                ],
            )  # fmt: skip
        )
    buyers = [
        BuyerPaymentPublic(
            buyer=who, committed_ueur=t[0], paid_ueur=t[1], refund_ueur=t[2], penalty_ueur=t[3]
        )
        for who, t in sorted(totals.items())
        if buyer is None or who == buyer
    ]
    return SettlementsPublic(
        session_id=session_id, block_number=block, status=money.result_status.label,
        award_count=money.award_count, settled_count=money.settled_count, awards=out_awards,
        buyers=buyers,
    )  # fmt: skip


def coordination_of(gateway: Gateway, session_id: int) -> ChainEvent | None:
    """The session's `CoordinationPublished` (at most one), or None."""
    found = gateway.session_logs(session_id, ["CoordinationPublished"])
    return found[0] if found else None


def parse_coordination(raw: bytes) -> tuple[dict[str, Any] | None, str]:
    """(the JSON object, or None if the bytes are not one; the bytes as text)."""
    text = raw.decode("utf-8", errors="replace")
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, text
    return (value if isinstance(value, dict) else None), text
