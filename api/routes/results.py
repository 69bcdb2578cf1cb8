"""Clearing results: the market operator (oracle role) commits them; anyone signed in
reads them. Awards are the oracle's to set; payments are computed here, not sent."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.problems import PROBLEMS
from api.routes.sessions import STATUSES
from api.schemas import U48, AwardPublic, PreparedPublic, ResultCreate, ResultPublic

router = APIRouter(prefix="/sessions/{session_id}/result", tags=["results"], responses=PROBLEMS)


@router.post("", response_model=PreparedPublic)
def commit_result(
    session_id: U48, body: ResultCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    gateway.require_role(token.address, "ORACLE")
    gateway.session(session_id)
    rows = sorted(
        (bytes.fromhex(a.bid_id[2:]), a.need_index, a.quantity_w, a.price_eur_per_mw,
         a.quantity_w * a.price_eur_per_mw)
        for a in body.awards
    )  # fmt: skip
    fn = gateway.contracts.market.functions.commitResult(
        session_id, bytes.fromhex(body.input_hash[2:]), bytes.fromhex(body.result_hash[2:]),
        rows, body.last_page,
    )  # fmt: skip
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.get("", response_model=ResultPublic)
def get_result(session_id: U48, token: TokenDep, gateway: GatewayDep) -> ResultPublic:
    gateway.session(session_id)
    m = gateway.contracts.market.functions
    _, _, _, money, input_hash, result_hash = gateway.call(m.session(session_id))
    awards = []
    for i in range(int(money[4])):
        bid_id, core, pay = gateway.call(m.award(session_id, i))
        awards.append(
            AwardPublic(
                award_index=i,
                bid_id="0x" + bytes(bid_id).hex(),
                seller=core[0],
                buyer=pay[0],
                need_index=int(pay[2]),
                quantity_w=int(core[1]),
                delivered_w=int(core[2]),
                delivered=bool(core[3]),
                settled=bool(core[4]),
                payment_ueur=int(pay[1]),
            )  # fmt: skip
        )
    return ResultPublic(
        session_id=session_id, status=STATUSES[int(money[0])],
        input_hash="0x" + bytes(input_hash).hex(), result_hash="0x" + bytes(result_hash).hex(),
        awards=awards,
    )  # fmt: skip
