"""Broadcast a transaction the participant signed from an unsigned one the API prepared."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.problems import PROBLEMS
from api.schemas import TransactionCreate, TxPublic

router = APIRouter(prefix="/transactions", tags=["transactions"], responses=PROBLEMS)


@router.post("", response_model=TxPublic)
def submit(body: TransactionCreate, token: TokenDep, gateway: GatewayDep) -> TxPublic:
    """Only a transaction signed by the caller that matches an intent issued to the caller
    (same target and calldata, unexpired) is simulated, then broadcast and awaited."""
    out = gateway.submit(body.raw_tx, body.intent, token.address)
    return TxPublic.model_validate(out)
