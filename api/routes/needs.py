"""Needs: buyers (DSO, TSO, BRP; the role the need names) post them with a budget."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.problems import PROBLEMS, Problem
from api.schemas import U16, U48, NeedCreate, NeedPublic, PreparedPublic
from python_client.hashing import label

router = APIRouter(prefix="/sessions/{session_id}/needs", tags=["needs"], responses=PROBLEMS)
ROLES = ("DSO", "TSO", "BRP")


@router.post("", response_model=PreparedPublic)
def post_need(
    session_id: U48, body: NeedCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """Only a holder of the buyer role the need names (a DSO for DSO needs)."""
    gateway.require_role(token.address, body.buyer_role)
    t = gateway.session(session_id)
    if len(body.quantity_w) not in (1, t.slot_count):
        raise Problem(
            422, "invalid-input",
            f"quantity_w: {len(body.quantity_w)} values, need 1 or {t.slot_count}",
            field="quantity_w", reason="length is neither 1 nor the session's slot count",
        )  # fmt: skip
    need = (
        session_id, b"\0" * 32 if body.zone is None else label(body.zone),
        0 if body.direction == "up" else 1, ROLES.index(body.buyer_role),
        body.max_price_eur_per_mw, body.budget_ueur, body.quantity_w,
    )  # fmt: skip
    fn = gateway.contracts.market.functions.postNeed(need)
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.get("/{need_index}", response_model=NeedPublic)
def get_need(session_id: U48, need_index: U16, token: TokenDep, gateway: GatewayDep) -> NeedPublic:
    gateway.session(session_id)
    core, money = gateway.call(gateway.contracts.market.functions.need(session_id, need_index))
    if core[0] == "0x" + "0" * 40:
        raise Problem(404, "not-found", f"need {need_index} of session {session_id} not found")
    return NeedPublic(
        session_id=session_id, need_index=need_index, buyer=core[0],
        direction="up" if int(core[2]) == 0 else "down", buyer_role=ROLES[int(core[3])],
        max_price_eur_per_mw=int(core[4]), budget_ueur=int(money[0]),
        committed_ueur=int(money[1]), released=bool(money[2]),
    )  # fmt: skip
