"""Broadcast a transaction the participant signed from an unsigned one the API prepared,
and follow it."""

from __future__ import annotations

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.deps import GatewayDep, SettingsDep, TokenDep
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import Hex32, TransactionCreate, TxPublic, TxStatusPublic

router = APIRouter(prefix="/transactions", tags=["transactions"], responses=SIGNED_IN)


@router.post(
    "", response_model=TxPublic,
    responses={
        202: {"model": TxStatusPublic, "description": "broadcast, not mined yet"},
        **errors(403, 409, 413, 502),
    },
)  # fmt: skip
async def submit(
    body: TransactionCreate, token: TokenDep, gateway: GatewayDep, settings: SettingsDep
) -> TxPublic | JSONResponse:
    """Only a transaction signed by the caller that matches an intent issued to the caller
    (same target and calldata, unexpired, not used before: an intent is single use) and
    whose nonce is the account's next one (409 naming `nonce` and the expected one
    otherwise) is simulated, then broadcast. Answered 200 once mined (within
    `mined_wait_s`, 10 s), else 202 with its hash and `status_url`
    (`GET /transactions/{tx_hash}`). A transaction that reverts when mined is a 409."""
    txs = gateway.transactions
    tx_hash = await run_in_threadpool(txs.broadcast, body.raw_tx, body.intent, token.address)
    mined = await txs.wait_mined(tx_hash, settings.mined_wait_s)
    if mined is None:
        pending = TxStatusPublic(
            tx_hash=tx_hash, status="pending", block_number=None, events=[],
            status_url=f"/transactions/{tx_hash}",
        )  # fmt: skip
        return JSONResponse(pending.model_dump(mode="json"), status.HTTP_202_ACCEPTED)
    if mined["status"] != "mined":
        raise Problem(
            409, "chain-refused", "the transaction reverted when mined",
            extra={"tx_hash": tx_hash, "block_number": mined["block_number"]},
        )  # fmt: skip
    return TxPublic.model_validate(mined)


@router.get("/{tx_hash}", response_model=TxStatusPublic, responses=errors(404))
async def get_transaction(tx_hash: Hex32, token: TokenDep, gateway: GatewayDep) -> TxStatusPublic:
    """A transaction's state: `pending` (known to the node, not mined), `mined` (with its
    decoded events) or `reverted`; 404 if the node does not know it."""
    found = await run_in_threadpool(gateway.transactions.status, tx_hash.lower())
    if found is None:
        raise Problem(404, "not-found", f"transaction {tx_hash} is unknown to the node")
    return TxStatusPublic(**found, status_url=f"/transactions/{tx_hash.lower()}")
