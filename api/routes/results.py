"""Clearing results: the market operator (oracle role) commits them; anyone signed in
reads them (public chain data). Awards are the oracle's to set; a row's payment is its
watts times its price unless the row says which part of the award its need pays (a share
row of a TSO-DSO session: 0 W and its share)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.ledger import share_rows, shares_of
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import U48, AwardPublic, PreparedPublic, ResultCreate, ResultPublic
from python_client.contract_types import AwardView, SessionView

router = APIRouter(prefix="/sessions/{session_id}/result", tags=["results"], responses=SIGNED_IN)


@router.post("", response_model=PreparedPublic, responses=errors(403, 404, 409, 413))
def commit_result(
    session_id: U48, body: ResultCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """Oracle only. Rows are sorted by (bid, need) here; the contract checks the rest
    (each award's rows add up to its payment, each need may pay, budgets)."""
    gateway.require_role(token.address, "ORACLE")
    gateway.session(session_id)
    rows = sorted(
        (bytes.fromhex(a.bid_id[2:]), a.need_index, a.quantity_w, a.price_eur_per_mw,
         a.quantity_w * a.price_eur_per_mw if a.payment_ueur is None else a.payment_ueur)
        for a in body.awards
    )  # fmt: skip
    fn = gateway.contracts.market.functions.commitResult(
        session_id, bytes.fromhex(body.input_hash[2:]), bytes.fromhex(body.result_hash[2:]),
        rows, body.last_page,
    )  # fmt: skip
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.get("", response_model=ResultPublic, responses=errors(404, 409))
def get_result(session_id: U48, token: TokenDep, gateway: GatewayDep) -> ResultPublic:
    """The committed awards (read at one block), each with who pays it (`shares`)."""
    gateway.session(session_id)
    m = gateway.contracts.market.functions
    block = gateway.head()
    view = SessionView.from_abi(gateway.call(m.session(session_id), block))
    rows = [AwardView.from_abi(gateway.call(m.award(session_id, i), block))
            for i in range(view.money.award_count)]  # fmt: skip
    shared = share_rows(gateway, session_id, block) if any(r.pay.share_count for r in rows) else {}
    awards = []
    for i, (bid_id, core, pay) in enumerate(rows):
        mine = shared.get(i, [])
        if len(mine) != pay.share_count:
            raise Problem(
                502, "node-inconsistent",
                f"award {i}: {pay.share_count} share rows in storage, {len(mine)} AwardShared logs",
            )  # fmt: skip
        awards.append(
            AwardPublic(
                award_index=i,
                bid_id="0x" + bid_id.hex(),
                seller=core.seller,
                buyer=pay.buyer,
                need_index=pay.need_index,
                quantity_w=core.quantity_w,
                delivered_w=core.delivered_w,
                delivered=core.delivered,
                settled=core.settled,
                payment_ueur=pay.payment_ueur,
                shares=shares_of(pay.need_index, pay.buyer, pay.payment_ueur, mine),
            )  # fmt: skip
        )
    return ResultPublic(
        session_id=session_id, status=view.money.result_status.label,
        input_hash="0x" + view.input_hash.hex(), result_hash="0x" + view.result_hash.hex(),
        awards=awards,
    )  # fmt: skip
