"""Needs: buyers (DSO, TSO, BRP; the role the need names, held in the registry) post them
with a budget; anyone signed in reads them (public chain data)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.gateway import Gateway
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import U16, U48, NeedCreate, NeedPublic, PreparedPublic
from python_client.contract_types import BuyerRole, Direction, NeedView
from python_client.hashing import label, label_text

router = APIRouter(prefix="/sessions/{session_id}/needs", tags=["needs"], responses=SIGNED_IN)
ZERO32 = b"\0" * 32


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
        session_id, ZERO32 if body.zone is None else label(body.zone),
        int(Direction[body.direction.upper()]), int(BuyerRole[body.buyer_role]),
        body.max_price_eur_per_mw, body.budget_ueur, body.quantity_w,
    )  # fmt: skip
    fn = gateway.contracts.market.functions.postNeed(need)
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


def _posted(gateway: Gateway, session_id: int, block: int) -> dict[int, dict[str, Any]]:
    """need index -> its `NeedPosted` arguments (zone and quantities are only there)."""
    return {
        int(e.args["needIndex"]): dict(e.args)
        for e in gateway.session_logs(session_id, ["NeedPosted"], block)
    }


def _need(
    gateway: Gateway, session_id: int, index: int, posted: dict[str, Any], block: int
) -> NeedPublic:
    raw = gateway.call(gateway.contracts.market.functions.need(session_id, index), block)
    core, money = NeedView.from_abi(raw)
    zone = bytes(posted["zone"])
    return NeedPublic(
        session_id=session_id, need_index=index, buyer=core.buyer,
        zone=None if zone == ZERO32 else label_text(zone),
        direction=core.direction.label, buyer_role=core.buyer_role.name,
        quantity_w=[int(w) for w in posted["quantityW"]],
        max_price_eur_per_mw=core.max_price_eur_per_mw, budget_ueur=money.budget_ueur,
        committed_ueur=money.committed_ueur, released=money.released, balancing=money.balancing,
    )  # fmt: skip


@router.get("", response_model=list[NeedPublic], responses=errors(404))
def list_needs(session_id: U48, token: TokenDep, gateway: GatewayDep) -> list[NeedPublic]:
    """Every need of the session, in order (read at one block)."""
    gateway.session(session_id)
    block = gateway.head()
    posted = _posted(gateway, session_id, block)
    return [_need(gateway, session_id, i, posted[i], block) for i in sorted(posted)]


@router.get("/{need_index}", response_model=NeedPublic, responses=errors(404))
def get_need(session_id: U48, need_index: U16, token: TokenDep, gateway: GatewayDep) -> NeedPublic:
    gateway.session(session_id)
    block = gateway.head()
    posted = _posted(gateway, session_id, block).get(need_index)
    if posted is None:
        raise Problem(404, "not-found", f"need {need_index} of session {session_id} not found")
    return _need(gateway, session_id, need_index, posted, block)
