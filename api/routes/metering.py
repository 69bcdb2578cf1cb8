"""Metering: only the metering data operator records delivered power per award."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import U32, U48, CorrectionCreate, MeteringCreate, PreparedPublic

router = APIRouter(prefix="/sessions/{session_id}/metering", tags=["metering"], responses=SIGNED_IN)


@router.post("", response_model=PreparedPublic, responses=errors(403, 404, 409, 413))
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


@router.post(
    "/{award_index}/correction", response_model=PreparedPublic, responses=errors(403, 404, 409, 413)
)
def correct_delivery(
    session_id: U48, award_index: U32, body: CorrectionCreate, token: TokenDep,
    gateway: GatewayDep,
) -> PreparedPublic:  # fmt: skip
    """Correct a recorded delivery within the session's `correction_window_s` after it was
    recorded (`DeliveryCorrected`); after the window, or before any record, 409
    `FlexMarketCorrectionWindowClosed`. Settlement waits for the window."""
    gateway.require_role(token.address, "METERING")
    gateway.session(session_id)
    fn = gateway.contracts.market.functions.correctDelivery(
        session_id, award_index, body.delivered_w, bytes.fromhex(body.evidence_hash[2:])
    )
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))
