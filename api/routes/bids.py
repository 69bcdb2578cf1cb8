"""Sealed bids, relayed: the aggregator signs EIP-712 messages (python_client.relay), the
API checks them and its relayer sends them through FlexRelay. The API never holds the
aggregator's key and never sees a bid's fields before the aggregator reveals them.

Visibility: before the reveal deadline a caller sees only its own bids (another's bid is
404, as if it did not exist); from the reveal deadline, revealed bids are public.
"""

from __future__ import annotations

import json
from typing import Any

from eth_utils.address import to_checksum_address
from fastapi import APIRouter, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from starlette.concurrency import run_in_threadpool

from api.config import Settings
from api.deps import GatewayDep, TokenDep, authenticate, bearer_of, request_json
from api.gateway import Gateway
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import (
    U48,
    BidCommitCreate,
    BidPublic,
    BidRevealCreate,
    Hex32,
    JoinCreate,
    TxPublic,
    TxStatusPublic,
)
from python_client.hashing import label
from python_client.records import BidFields, Direction

router = APIRouter(prefix="/sessions/{session_id}", tags=["bids"], responses=SIGNED_IN)


PENDING: dict[int | str, dict[str, Any]] = {
    202: {"model": TxStatusPublic, "description": "sent, not mined yet"}
}


def _answer(out: dict[str, Any]) -> TxPublic | JSONResponse:
    """200 with the mined transaction, or 202 with its status route."""
    if out.get("status") == "pending":
        return JSONResponse(TxStatusPublic(**out).model_dump(mode="json"), 202)
    return TxPublic.model_validate(out)


@router.post(
    "/participation",
    response_model=TxPublic,
    responses={**PENDING, **errors(403, 404, 409, 413, 502)},
)
async def join(
    session_id: U48, body: JoinCreate, token: TokenDep, gateway: GatewayDep
) -> TxPublic | JSONResponse:
    """Join (lock `added_bids` bonds): relayed at once, answered when mined (202 with a
    status route if not mined within `mined_wait_s`)."""
    out = await gateway.bids.join(
        token.address, session_id, body.added_bids, body.nonce, body.deadline,
        bytes.fromhex(body.signature[2:]),
    )  # fmt: skip
    return _answer(out)


COMMIT_BODY = TypeAdapter(BidCommitCreate)
SESSION_ID = TypeAdapter(U48)
WAIT = TypeAdapter(bool)
COMMIT_OPENAPI: dict[str, Any] = {
    # What FastAPI would write for `session_id: U48, wait: bool = Query(False),
    # body: BidCommitCreate, token: TokenDep`: the route reads them itself (see below).
    "security": [{"HTTPBearer": []}],
    "parameters": [
        {"name": "session_id", "in": "path", "required": True,
         "schema": {"type": "integer", "minimum": 1, "maximum": 2**48 - 1, "title": "Session Id"}},
        {"name": "wait", "in": "query", "required": False, "description": "answer once relayed",
         "schema": {"type": "boolean", "default": False, "title": "Wait"}},
    ],
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": BidCommitCreate.model_json_schema()}},
    },
}  # fmt: skip


def _invalid(exc: ValidationError, *prefix: str) -> RequestValidationError:
    """A pydantic error as FastAPI's own (answered 422, problem details naming fields)."""
    return RequestValidationError(
        [{**e, "loc": (*prefix, *e["loc"])} for e in exc.errors(include_url=False)]
    )


@router.post(
    "/bids", response_model=BidPublic, status_code=status.HTTP_202_ACCEPTED,
    openapi_extra=COMMIT_OPENAPI, responses=errors(403, 404, 409, 413, 415, 502),
)  # fmt: skip
async def commit_bid(request: Request) -> Response:
    """Accept a signed commit: checked (aggregator, session open, signature, deadline,
    nonce), queued, and relayed in the next batch. 202 with status `queued`; `wait=true`
    answers once the batch is mined (status `committed` or `failed` with the reason)."""
    # The hot route (bench-api): on the event loop, no chain read per request (roles,
    # session timing and chain time cached, relay nonces known from the chain follower),
    # and its parameters read here with pre-built validators rather than through
    # FastAPI's dependency and body machinery (half the route's CPU); the same checks and
    # the same 422 problem details.
    token = authenticate(request, bearer_of(request))
    gateway: Gateway = request.app.state.gateway
    settings: Settings = request.app.state.settings
    try:
        session_id = SESSION_ID.validate_strings(request.path_params["session_id"])
    except ValidationError as exc:
        raise _invalid(exc, "path", "session_id") from exc
    try:
        wait = WAIT.validate_strings(request.query_params.get("wait", "false"))
    except ValidationError as exc:
        raise _invalid(exc, "query", "wait") from exc
    media = request.headers.get("content-type", "application/json").split(";")[0].strip()
    if media != "application/json" and not media.endswith("+json"):
        raise Problem(415, "unsupported-media-type", f"content-type: {media} is not JSON")
    try:
        body = COMMIT_BODY.validate_python(request_json(request, await request.body()))
    except ValidationError as exc:
        raise _invalid(exc, "body") from exc
    pending = await gateway.bids.commit(
        token.address, session_id, bytes.fromhex(body.commitment[2:]), body.nonce,
        body.deadline, bytes.fromhex(body.signature[2:]),
    )  # fmt: skip
    if wait:
        await gateway.bids.wait_commit(pending.bid_id, settings.mined_wait_s)
        out = await run_in_threadpool(
            gateway.bids.bid, token.address, session_id, pending.bid_id
        )
        return Response(out.model_dump_json(), 202, media_type="application/json")
    # just queued: nothing on chain to read yet
    queued = {"bid_id": pending.bid_id, "session_id": session_id, "seller": token.address,
              "status": "queued", "relay_tx_hash": None, "relay_error": None,
              "quantity_w": None, "price_eur_per_mw": None, "awarded_w": None}  # fmt: skip
    return Response(json.dumps(queued), 202, media_type="application/json")


@router.get("/bids", response_model=list[BidPublic], responses=errors(404))
def list_bids(session_id: U48, token: TokenDep, gateway: GatewayDep) -> list[BidPublic]:
    """Before the reveal deadline: the caller's own bids only. From it: the caller's bids
    and every revealed bid of the session."""
    return gateway.bids.bids(token.address, session_id)


@router.get("/bids/{bid_id}", response_model=BidPublic, responses=errors(404))
def get_bid(session_id: U48, bid_id: Hex32, token: TokenDep, gateway: GatewayDep) -> BidPublic:
    """404 for another seller's bid before it is revealed and the reveal deadline passed."""
    return gateway.bids.bid(token.address, session_id, bid_id.lower())


@router.post(
    "/bids/{bid_id}/reveal",
    response_model=TxPublic,
    responses={**PENDING, **errors(403, 404, 409, 413, 502)},
)
async def reveal_bid(
    session_id: U48, bid_id: Hex32, body: BidRevealCreate, token: TokenDep, gateway: GatewayDep
) -> TxPublic | JSONResponse:
    """Reveal a bid the caller committed: relayed at once, answered when mined (202 with a
    status route if not mined within `mined_wait_s`). The fields must hash to the bid's
    commitment; the contract checks the rest (assets managed by the seller,
    pre-qualified, session rules) and its refusal is a 409 naming its error."""
    fields = BidFields(
        label(body.zone), Direction.UP if body.direction == "up" else Direction.DOWN,
        body.divisible, body.quantity_w, body.price_eur_per_mw, body.slot_mask,
        tuple(bytes.fromhex(a[2:]) for a in body.asset_ids), bytes.fromhex(body.salt[2:]),
        body.min_quantity_w,
    )  # fmt: skip
    out = await gateway.bids.reveal(
        to_checksum_address(token.address), session_id, bid_id, fields, body.nonce,
        body.deadline, bytes.fromhex(body.signature[2:]),
    )  # fmt: skip
    return _answer(out)
