"""Sessions: DSO or market operator opens one; anyone signed in reads them."""

from __future__ import annotations

from fastapi import APIRouter

from api import views
from api.deps import GatewayDep, TokenDep
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import U48, PreparedPublic, SessionCreate, SessionPublic
from python_client.hashing import label
from python_client.records import Pricing, SessionParams

router = APIRouter(prefix="/sessions", tags=["sessions"], responses=SIGNED_IN)


@router.post("", response_model=PreparedPublic, responses=errors(403, 409, 413))
def open_session(body: SessionCreate, token: TokenDep, gateway: GatewayDep) -> PreparedPublic:
    """DSO or market operator (oracle) only."""
    gateway.require_role(token.address, "DSO", "ORACLE")
    if not body.bidding_end < body.reveal_deadline < body.clearing_deadline:
        raise Problem(
            422, "invalid-input", "deadlines: need bidding_end < reveal_deadline < "
            "clearing_deadline", field="reveal_deadline", reason="out of order",
        )  # fmt: skip
    params = SessionParams(
        label(body.market_id), label(body.product),
        Pricing[body.pricing.upper()],
        body.slot_count, body.slot_minutes, body.delivery_start, body.bidding_end,
        body.reveal_deadline, body.clearing_deadline, body.min_bid_w, body.granularity_w,
        body.price_floor_eur_per_mw, body.price_cap_eur_per_mw, body.unmet_penalty_eur_per_mw,
        body.bid_bond_ueur, body.collateral_ueur_per_w, body.shortfall_penalty_eur_per_mw,
        body.tolerance_bps, body.attestation_quorum, body.attestation_deadline,
        body.delivery_deadline, body.correction_window_s,
    )  # fmt: skip
    attestation_deadline, delivery_deadline = params.deadlines()
    for name, value in (("attestation_deadline", attestation_deadline),
                        ("delivery_deadline", delivery_deadline)):  # fmt: skip
        if value > 2**40 - 1:  # derived from the other deadlines: past the contract's uint40
            raise Problem(
                422, "invalid-input", f"{name}: derived as {value}, beyond 2^40 - 1 (set it, "
                "or earlier deadlines)", field=name, reason="beyond 2^40 - 1",
            )  # fmt: skip
    if not body.clearing_deadline < attestation_deadline < delivery_deadline:
        raise Problem(
            422, "invalid-input", "deadlines: need clearing_deadline < attestation_deadline < "
            "delivery_deadline", field="attestation_deadline", reason="out of order",
        )  # fmt: skip
    fn = gateway.contracts.market.functions.openSession(params.as_tuple())
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.get("/{session_id}", response_model=SessionPublic, responses=errors(404, 409))
def get_session(session_id: U48, token: TokenDep, gateway: GatewayDep) -> SessionPublic:
    return views.session(gateway, session_id)
