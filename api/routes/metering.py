"""Metering: only the metering data operator records delivered power per award."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.problems import PROBLEMS, Problem
from api.schemas import U48, MeteringCreate, PreparedPublic

router = APIRouter(prefix="/sessions/{session_id}/metering", tags=["metering"], responses=PROBLEMS)


@router.post("", response_model=PreparedPublic)
def record_deliveries(
    session_id: U48, body: MeteringCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    gateway.require_role(token.address, "METERING")
    gateway.session(session_id)
    indices = [d.award_index for d in body.deliveries]
    if len(set(indices)) != len(indices):
        raise Problem(422, "invalid-input", "deliveries: an award index appears twice",
                      field="deliveries", reason="duplicate award_index")  # fmt: skip
    fn = gateway.contracts.market.functions.recordDeliveries(
        session_id, indices, [d.delivered_w for d in body.deliveries],
        bytes.fromhex(body.evidence_hash[2:]),
    )  # fmt: skip
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))
