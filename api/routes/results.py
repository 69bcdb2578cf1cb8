"""Clearing results: the market operator (oracle role) commits them; anyone signed in
reads them (public chain data). Awards are the oracle's to set; a row's payment is its
watts times its price unless the row says which part of the award its need pays (a share
row of a TSO-DSO session: 0 W and its share)."""

from __future__ import annotations

from fastapi import APIRouter

from api import views
from api.deps import GatewayDep, TokenDep
from api.problems import SIGNED_IN, errors
from api.schemas import U48, PreparedPublic, ResultCreate, ResultPublic
from python_client.records import AwardRow

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
        (AwardRow(bytes.fromhex(a.bid_id[2:]), a.need_index, a.quantity_w, a.price_eur_per_mw,
                  a.payment_ueur) for a in body.awards),
        key=AwardRow.sort_key,
    )  # fmt: skip
    fn = gateway.contracts.market.functions.commitResult(
        session_id, bytes.fromhex(body.input_hash[2:]), bytes.fromhex(body.result_hash[2:]),
        [r.as_tuple() for r in rows], body.last_page,
    )  # fmt: skip
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.get("", response_model=ResultPublic, responses=errors(404, 409))
def get_result(session_id: U48, token: TokenDep, gateway: GatewayDep) -> ResultPublic:
    """The committed awards (read at one block), each with who pays it (`shares`)."""
    return views.result(gateway, session_id)
