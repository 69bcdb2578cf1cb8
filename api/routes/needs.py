"""Needs: buyers (DSO, TSO, BRP; the role the need names, held in the registry) post them
with a budget; anyone signed in reads them (public chain data)."""

from __future__ import annotations

from fastapi import APIRouter

from api import views
from api.deps import GatewayDep, TokenDep
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import U16, U48, NeedCreate, NeedPublic, PreparedPublic
from python_client.contract_types import BuyerRole, Direction
from python_client.hashing import label

router = APIRouter(prefix="/sessions/{session_id}/needs", tags=["needs"], responses=SIGNED_IN)


@router.post("", response_model=PreparedPublic, responses=errors(403, 404, 409, 413))
def post_need(
    session_id: U48, body: NeedCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """Only a holder of the buyer role the need names (a DSO for DSO needs, a TSO for TSO
    needs, a BRP for BRP needs), before gate closure; zonal or system-wide (`zone` null).
    No quantities: a balancing need, a DSO's system-wide budget for counter-activations
    (`balance_dso` sessions; docs/contracts.md)."""
    gateway.require_role(token.address, body.buyer_role)
    t = gateway.session(session_id)
    if len(body.quantity_w) not in (0, 1, t.slot_count):
        raise Problem(
            422, "invalid-input",
            f"quantity_w: {len(body.quantity_w)} values, need 1 or {t.slot_count}",
            field="quantity_w", reason="length is neither 1 nor the session's slot count",
        )  # fmt: skip
    if not body.quantity_w and (body.buyer_role != "DSO" or body.zone is not None):
        raise Problem(
            422, "invalid-input",
            "quantity_w: none given, but a balancing need is a DSO's and system-wide",
            field="quantity_w",
            reason="empty only for a balancing need (buyer_role DSO, zone null)",
        )  # fmt: skip
    need = (
        session_id, views.ZERO32 if body.zone is None else label(body.zone),
        int(Direction[body.direction.upper()]), int(BuyerRole[body.buyer_role]),
        body.max_price_eur_per_mw, body.budget_ueur, body.quantity_w,
    )  # fmt: skip
    fn = gateway.contracts.market.functions.postNeed(need)
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.get("", response_model=list[NeedPublic], responses=errors(404))
def list_needs(session_id: U48, token: TokenDep, gateway: GatewayDep) -> list[NeedPublic]:
    """Every need of the session, in order (read at one block)."""
    return views.needs(gateway, session_id)


@router.get("/{need_index}", response_model=NeedPublic, responses=errors(404))
def get_need(session_id: U48, need_index: U16, token: TokenDep, gateway: GatewayDep) -> NeedPublic:
    return views.need(gateway, session_id, need_index)
