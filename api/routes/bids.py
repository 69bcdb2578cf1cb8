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
from api.deps import GatewayDep, SettingsDep, TokenDep, authenticate, bearer_of, request_json
from api.gateway import Gateway, check_signer
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
from python_client.hashing import bid_id as bid_id_of
from python_client.hashing import commitment as commitment_of
from python_client.hashing import label
from python_client.records import BidFields, Direction
from python_client.relay import join_digest, recover_raw, reveal_digest

router = APIRouter(prefix="/sessions/{session_id}", tags=["bids"], responses=SIGNED_IN)
CHAIN_STATUS = ("none", "committed", "revealed", "forfeited", "released")
ZERO_ADDRESS = "0x" + "0" * 40


def _check_message(
    gateway: GatewayDep, settings: SettingsDep, deadline: int, digest: bytes, sig: str,
    seller: str,
) -> None:  # fmt: skip
    if deadline < gateway.now() + settings.min_deadline_margin_s:
        raise Problem(
            422, "deadline-too-close",
            f"deadline: must be at least {settings.min_deadline_margin_s} s after chain time",
            field="deadline", reason="expired or about to expire",
        )  # fmt: skip
    check_signer(recover_raw(digest, bytes.fromhex(sig[2:])), seller)


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
    session_id: U48, body: JoinCreate, token: TokenDep, gateway: GatewayDep,
    settings: SettingsDep,
) -> TxPublic | JSONResponse:  # fmt: skip
    """Join (lock `added_bids` bonds): relayed at once, answered when mined (202 with a
    status route if not mined within `mined_wait_s`)."""
    fn = await run_in_threadpool(_join_call, session_id, body, token.address, gateway, settings)
    return _answer(await gateway.relay_with_nonce(token.address, body.nonce, fn))


def _join_call(
    session_id: int, body: JoinCreate, seller: str, gateway: Gateway, settings: Settings
) -> Any:
    """The checks of a join (role, session open, deadline, signature); its relay call."""
    gateway.require_role(seller, "AGGREGATOR")
    t = gateway.session(session_id)
    if gateway.now() >= t.bidding_end:
        raise Problem(409, "bidding-closed", f"session {session_id}: bidding closed")
    digest = join_digest(
        gateway.domain, seller, session_id, body.added_bids, body.nonce, body.deadline
    )
    _check_message(gateway, settings, body.deadline, digest, body.signature, seller)
    return gateway.relay.functions.joinSessionFor(
        seller, session_id, body.added_bids, body.nonce, body.deadline,
        bytes.fromhex(body.signature[2:]),
    )  # fmt: skip


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
    seller = token.address
    if gateway.cached_role(seller, "AGGREGATOR") is not True:
        await gateway.once(("role", seller), gateway.require_role, seller, "AGGREGATOR")
    t = gateway.cached_session(session_id)
    if t is None:
        t = await gateway.once(("session", session_id), gateway.session, session_id)
    now = gateway.fresh_now()
    if now is None:
        now = await gateway.once(("now",), gateway.now)
    if now >= t.bidding_end:
        raise Problem(409, "bidding-closed", f"session {session_id}: bidding closed")
    pending = gateway.accept_commit(
        seller, session_id, bytes.fromhex(body.commitment[2:]), body.nonce, body.deadline,
        bytes.fromhex(body.signature[2:]), now,
    )  # fmt: skip
    if wait:
        await gateway.wait_commit(pending.bid_id, settings.mined_wait_s)
        out = await run_in_threadpool(_bid, gateway, seller, session_id, pending.bid_id)
        return Response(out.model_dump_json(), 202, media_type="application/json")
    # just queued: nothing on chain to read yet
    queued = {"bid_id": pending.bid_id, "session_id": session_id, "seller": seller,
              "status": "queued", "relay_tx_hash": None, "relay_error": None,
              "quantity_w": None, "price_eur_per_mw": None, "awarded_w": None}  # fmt: skip
    return Response(json.dumps(queued), 202, media_type="application/json")


def _bid(gateway: GatewayDep, caller: str, session_id: int, bid_id: str) -> BidPublic:
    t = gateway.session(session_id)
    row = gateway.store.bid(bid_id)
    core, terms = gateway.call(gateway.contracts.market.functions.bid(bytes.fromhex(bid_id[2:])))
    seller = row["seller"] if row else core[0]
    on_chain = int(core[2])
    if (row is None and on_chain == 0) or int(row["session_id"] if row else core[1]) != session_id:
        raise Problem(404, "not-found", f"bid {bid_id} not found in session {session_id}")
    public = on_chain >= 2 and gateway.now() >= t.reveal_deadline
    if seller != caller and not public:
        raise Problem(404, "not-found", f"bid {bid_id} not found in session {session_id}")
    state = CHAIN_STATUS[on_chain] if on_chain else (row["status"] if row else "none")
    revealed = on_chain >= 2 and int(terms[0]) > 0
    return BidPublic(
        bid_id=bid_id, session_id=session_id, seller=seller, status=state,
        relay_tx_hash=row["tx_hash"] if row else None, relay_error=row["error"] if row else None,
        quantity_w=int(terms[0]) if revealed else None,
        price_eur_per_mw=int(terms[2]) if revealed else None,
        awarded_w=int(terms[3]) if revealed else None,
    )  # fmt: skip


@router.get("/bids", response_model=list[BidPublic], responses=errors(404))
def list_bids(session_id: U48, token: TokenDep, gateway: GatewayDep) -> list[BidPublic]:
    """Before the reveal deadline: the caller's own bids only. From it: the caller's bids
    and every revealed bid of the session."""
    t = gateway.session(session_id)
    ids = [r["bid_id"] for r in gateway.store.bids_of(token.address, session_id)]
    if gateway.now() >= t.reveal_deadline:
        logs = gateway.session_logs(session_id, ["BidRevealed"])
        ids += ["0x" + bytes(e.args["bidId"]).hex() for e in logs]
    seen: dict[str, None] = dict.fromkeys(ids)
    return [_bid(gateway, token.address, session_id, b) for b in seen]


@router.get("/bids/{bid_id}", response_model=BidPublic, responses=errors(404))
def get_bid(session_id: U48, bid_id: Hex32, token: TokenDep, gateway: GatewayDep) -> BidPublic:
    """404 for another seller's bid before it is revealed and the reveal deadline passed."""
    return _bid(gateway, token.address, session_id, bid_id.lower())


@router.post(
    "/bids/{bid_id}/reveal",
    response_model=TxPublic,
    responses={**PENDING, **errors(403, 404, 409, 413, 502)},
)
async def reveal_bid(
    session_id: U48, bid_id: Hex32, body: BidRevealCreate, token: TokenDep,
    gateway: GatewayDep, settings: SettingsDep,
) -> TxPublic | JSONResponse:  # fmt: skip
    """Reveal a bid the caller committed: relayed at once, answered when mined (202 with a
    status route if not mined within `mined_wait_s`). The fields must hash to the bid's
    commitment; the contract checks the rest (assets managed by the seller,
    pre-qualified, session rules) and its refusal is a 409 naming its error."""
    seller = to_checksum_address(token.address)
    fn = await run_in_threadpool(_reveal_call, session_id, bid_id, body, seller, gateway, settings)
    return _answer(await gateway.relay_with_nonce(seller, body.nonce, fn))


def _reveal_call(
    session_id: int, bid_id: str, body: BidRevealCreate, seller: str, gateway: Gateway,
    settings: Settings,
) -> Any:  # fmt: skip
    """The checks of a reveal (role, fields, deadline, signature, assets); its relay call."""
    gateway.require_role(seller, "AGGREGATOR")
    fields = BidFields(
        label(body.zone), Direction.UP if body.direction == "up" else Direction.DOWN,
        body.divisible, body.quantity_w, body.price_eur_per_mw, body.slot_mask,
        tuple(bytes.fromhex(a[2:]) for a in body.asset_ids), bytes.fromhex(body.salt[2:]),
        body.min_quantity_w,
    )  # fmt: skip
    commitment = commitment_of(session_id, seller, fields)
    if "0x" + bid_id_of(seller, commitment).hex() != bid_id.lower():
        raise Problem(
            404, "not-found", f"bid {bid_id}: not a bid of yours with these fields "
            "(they must hash to its commitment)",
        )  # fmt: skip
    digest = reveal_digest(gateway.domain, seller, commitment, body.nonce, body.deadline)
    _check_message(gateway, settings, body.deadline, digest, body.signature, seller)
    registry = gateway.contracts.registry.functions
    for i, asset in enumerate(fields.asset_ids):
        manager = gateway.call(registry.asset(asset))[1]
        if manager == ZERO_ADDRESS:
            raise Problem(422, "invalid-input", f"asset_ids[{i}]: not registered",
                          field=f"asset_ids[{i}]", reason="not registered")  # fmt: skip
        if manager != seller:
            raise Problem(
                403, "not-asset-manager", f"asset_ids[{i}]: managed by another aggregator",
                field=f"asset_ids[{i}]", reason="you do not manage this asset",
            )  # fmt: skip
    return gateway.relay.functions.revealBidFor(
        seller, fields.reveal_tuple(session_id), body.nonce, body.deadline,
        bytes.fromhex(body.signature[2:]),
    )  # fmt: skip
