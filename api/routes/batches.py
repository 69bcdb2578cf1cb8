"""Batched sealed bids (issue 21): a seller's whole batch of sealed-bid commitments in one
request, signed once, relayed with other sellers' batches in one `commitBatchesFor`; its
leaves revealed in one request per call (`revealBatchFor`). Bid ids: leaf `i` of batch
`batch_id` is `keccak256(abi.encode(batch_id, i))` (`first_bid_id` is leaf 0's).

Visibility as for single bids: a batch is its seller's alone (another's is 404)."""

from __future__ import annotations

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, status
from fastapi.responses import JSONResponse

from api.batches import RevealedBid
from api.deps import GatewayDep, TokenDep
from api.problems import SIGNED_IN, errors
from api.routes.bids import PENDING, _answer
from api.schemas import U48, BatchCommitCreate, BatchPublic, BatchRevealCreate, Hex32, TxPublic
from python_client.hashing import label
from python_client.records import BidFields, Direction

router = APIRouter(prefix="/sessions/{session_id}", tags=["batches"], responses=SIGNED_IN)


@router.post(
    "/batches", response_model=BatchPublic, status_code=status.HTTP_202_ACCEPTED,
    responses=errors(403, 404, 409, 413, 502),
)  # fmt: skip
async def commit_batch(
    session_id: U48, body: BatchCommitCreate, token: TokenDep, gateway: GatewayDep
) -> BatchPublic:
    """Accept a seller's batch of sealed bids: the commitments (leaf order) must hash to
    `root` (422 naming `root`), the signature be the caller's `CommitBatch` of that root and
    count (403/422 naming `signature`), the bonds locked at join cover its bids with those
    queued before (409 `too-many-bids` naming `commitments`). 202 `queued`; the batch is
    relayed with other sellers' in the next `commitBatchesFor` (see GET for its status)."""
    out = await gateway.batches.commit(
        to_checksum_address(token.address), session_id, bytes.fromhex(body.root[2:]),
        [bytes.fromhex(c[2:]) for c in body.commitments], body.nonce, body.deadline,
        bytes.fromhex(body.signature[2:]),
    )  # fmt: skip
    return BatchPublic.model_validate(out)


@router.get("/batches", response_model=list[BatchPublic], responses=errors(404))
def list_batches(session_id: U48, token: TokenDep, gateway: GatewayDep) -> list[BatchPublic]:
    """The caller's batches in the session, in the order accepted."""
    seller = to_checksum_address(token.address)
    return [BatchPublic.model_validate(b) for b in gateway.batches.batches(seller, session_id)]


@router.get("/batches/{batch_id}", response_model=BatchPublic, responses=errors(404))
def get_batch(
    session_id: U48, batch_id: Hex32, token: TokenDep, gateway: GatewayDep
) -> BatchPublic:
    """The caller's batch: `queued`, `committed` (with the relay transaction) or `failed`
    (with the contract's reason; sign it again with a new nonce)."""
    seller = to_checksum_address(token.address)
    return BatchPublic.model_validate(gateway.batches.batch(seller, session_id, batch_id))


@router.post(
    "/batches/{batch_id}/reveal",
    response_model=TxPublic,
    responses={**PENDING, **errors(403, 404, 409, 413, 502)},
)
async def reveal_batch(
    session_id: U48, batch_id: Hex32, body: BatchRevealCreate, token: TokenDep,
    gateway: GatewayDep,
) -> TxPublic | JSONResponse:  # fmt: skip
    """Reveal leaves of the caller's committed batch in one relayed call: strictly ascending
    `index`, each bid's fields hashing to its leaf's commitment (422 naming `bids[i]`), at
    most 256 distinct assets, every asset managed by the caller (403 naming
    `bids[i].asset_ids`), signed as `RevealBatch` over the bids' rows. Answered when mined
    (202 with a status route if not mined within `mined_wait_s`); the contract's refusal is
    a 409 naming its error."""
    bids = [
        RevealedBid(b.index, BidFields(
            label(b.zone), Direction.UP if b.direction == "up" else Direction.DOWN,
            b.divisible, b.quantity_w, b.price_eur_per_mw, b.slot_mask,
            tuple(bytes.fromhex(a[2:]) for a in b.asset_ids), bytes.fromhex(b.salt[2:]),
            b.min_quantity_w,
        ))
        for b in body.bids
    ]  # fmt: skip
    out = await gateway.batches.reveal(
        to_checksum_address(token.address), session_id, batch_id, bids, body.nonce,
        body.deadline, bytes.fromhex(body.signature[2:]),
    )  # fmt: skip
    return _answer(out)
