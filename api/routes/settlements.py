"""Settlement and releases: anyone signed in may trigger them (money always goes to its
owner's balance in the escrow); each participant withdraws its own. Anyone signed in reads
a session's settlements: who pays each award and each buyer's part once settled (public
chain data: the market's events)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import GatewayDep, TokenDep
from api.ledger import settlements
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import (
    U48,
    Address,
    PreparedPublic,
    ReleaseCreate,
    SettlementCreate,
    SettlementsPublic,
)
from python_client.contract_types import SessionView

router = APIRouter(prefix="/sessions/{session_id}", tags=["settlements"], responses=SIGNED_IN)


@router.post("/settlements", response_model=PreparedPublic, responses=errors(403, 404, 409, 413))
def settle(
    session_id: U48, body: SettlementCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """Settle `count` awards from `from_index` (a page reaching past the last award stops
    there); awards already settled are skipped."""
    gateway.session(session_id)
    m = gateway.contracts.market.functions
    award_count = SessionView.from_abi(gateway.call(m.session(session_id))).money.award_count
    if body.from_index >= award_count:
        raise Problem(
            422, "invalid-input",
            f"from_index: {body.from_index} is not below the session's {award_count} awards",
            field="from_index", reason=f"the session has {award_count} awards",
        )  # fmt: skip
    count = min(body.count, award_count - body.from_index)  # a page past the end: the rest
    fn = m.settleAwards(session_id, body.from_index, count)
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.get("/settlements", response_model=SettlementsPublic, responses=errors(404, 409))
def list_settlements(
    session_id: U48, token: TokenDep, gateway: GatewayDep,
    buyer: Annotated[
        Address | None, Query(description="only the awards this buyer pays part of")
    ] = None,
) -> SettlementsPublic:  # fmt: skip
    """Every award with who pays it (`shares`: the award's own need, then its share rows)
    and, once settled, what the seller got and each buyer's part (paid, refunded, its part
    of the penalty); each buyer's totals. Read at one block."""
    from eth_utils.address import to_checksum_address

    return settlements(gateway, session_id, None if buyer is None else to_checksum_address(buyer))


@router.post("/releases", response_model=PreparedPublic, responses=errors(403, 404, 409, 413))
def release(
    session_id: U48, body: ReleaseCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """A need's unused budget (`need_index`) or a seller's bond and collateral (`seller`)."""
    from eth_utils.address import to_checksum_address

    gateway.session(session_id)
    m = gateway.contracts.market.functions
    if (body.need_index is None) == (body.seller is None):
        raise Problem(
            422, "invalid-input", "need_index or seller: exactly one", field="need_index",
            reason="give exactly one of need_index, seller",
        )  # fmt: skip
    if body.need_index is not None:
        fn = m.releaseBudget(session_id, body.need_index)
    else:
        fn = m.releaseSellerFunds(session_id, to_checksum_address(str(body.seller)))
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))
