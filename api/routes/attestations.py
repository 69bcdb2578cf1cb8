"""Attestations: validators attest (or dispute) a committed result."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.problems import SIGNED_IN, errors
from api.schemas import U48, AttestationCreate, PreparedPublic

router = APIRouter(
    prefix="/sessions/{session_id}/attestations",
    tags=["attestations"],
    responses=SIGNED_IN,
)


@router.post("", response_model=PreparedPublic, responses=errors(403, 404, 409, 413))
def attest(
    session_id: U48, body: AttestationCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """Validator only."""
    gateway.require_role(token.address, "VALIDATOR")
    gateway.session(session_id)
    m = gateway.contracts.market.functions
    h = bytes.fromhex(body.result_hash[2:])
    fn = m.disputeResult(session_id, h) if body.dispute else m.attestResult(session_id, h)
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))
