"""The dashboard (issue 17): the page at `/` (plain files in api/static/, served by the app
itself: no CDN, no build step) and two reads that give it a screen's worth in one request.

- `GET /dashboard/sessions`: the newest sessions with their timing, phase and counts, and
  the chain's time (the page counts down to gate closure from it);
- `GET /dashboard/sessions/{id}`: one session as the caller may see it: timing, needs,
  bids (the API's visibility rule, `api.bids.RelayedBids.bids`: another's bid only once
  revealed and past the reveal deadline; a visible revealed bid adds its slot mask, zone
  and direction from its `BidRevealed` event), the result with who pays each award, and
  the trust record (attestations, disputes and their resolution, from the market's
  events).

Both are signed-in reads of what other routes answer already; nothing here writes.
Money (escrow balances, settlements) comes from `/participants/me` and
`/sessions/{id}/settlements`, live updates from `/events`. See docs/dashboard.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api import views
from api.deps import GatewayDep, TokenDep
from api.gateway import Gateway
from api.problems import SIGNED_IN, errors
from api.schemas import U48
from api.wire import jsonable
from python_client.contract_types import Direction
from python_client.hashing import label_text

STATIC = Path(__file__).resolve().parents[1] / "static"
MAX_LIST = 200  # sessions in one list answer

router = APIRouter(prefix="/dashboard", tags=["dashboard"], responses=SIGNED_IN)
page = APIRouter(include_in_schema=False)


@page.get("/")
def index() -> FileResponse:
    """The dashboard's page (public: it holds no data; everything is read signed in)."""
    return FileResponse(STATIC / "index.html", media_type="text/html",
                        headers={"Cache-Control": "no-cache"})  # fmt: skip


def install(app: FastAPI) -> None:
    """The page at `/`, its scripts and styles at `/dashboard/static/`, the two reads."""
    app.include_router(page)
    app.include_router(router)
    app.mount("/dashboard/static", StaticFiles(directory=STATIC), name="dashboard-static")


def session_list(gateway: Gateway, limit: int) -> dict[str, Any]:
    count = int(gateway.call(gateway.contracts.market.functions.sessionCount()))
    ids = range(count, max(0, count - limit), -1)
    return {
        "now": gateway.now(), "session_count": count,
        "sessions": [views.session(gateway, i).model_dump(mode="json") for i in ids],
    }  # fmt: skip


@router.get("/sessions")
async def sessions(
    token: TokenDep, gateway: GatewayDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIST, description="newest sessions to list")] = 50,
) -> dict[str, Any]:  # fmt: skip
    """The newest `limit` sessions (newest first) with timing, phase and counts, and the
    chain's time `now` (seconds)."""
    return await run_in_threadpool(session_list, gateway, limit)


TRUST_EVENTS = ("ResultAttested", "ResultDisputed", "DisputeResolved")


def overview(gateway: Gateway, caller: str, session_id: int) -> dict[str, Any]:
    session = views.session(gateway, session_id)
    bids = [b.model_dump(mode="json") for b in gateway.bids.bids(caller, session_id)]
    visible = {b["bid_id"]: b for b in bids if b["quantity_w"] is not None}
    if visible:
        for e in gateway.session_logs(session_id, ["BidRevealed"]):
            shown = visible.get("0x" + bytes(e.args["bidId"]).hex())
            if shown is not None:
                shown.update(
                    slot_mask=str(int(e.args["slotMask"])), zone=label_text(bytes(e.args["zone"])),
                    direction=Direction(int(e.args["direction"])).label,
                    divisible=bool(e.args["divisible"]),
                )  # fmt: skip
    trust = [
        {"name": e.name, "args": jsonable(e.args), "block_number": e.block_number,
         "tx_hash": e.tx_hash}
        for e in gateway.session_logs(session_id, TRUST_EVENTS)
    ]  # fmt: skip
    return {
        "now": gateway.now(), "session": session.model_dump(mode="json"),
        "needs": [n.model_dump(mode="json") for n in views.needs(gateway, session_id)],
        "bids": bids, "result": views.result(gateway, session_id).model_dump(mode="json"),
        "trust": trust,
    }  # fmt: skip


@router.get("/sessions/{session_id}", responses=errors(404, 409))
async def session_overview(session_id: U48, token: TokenDep, gateway: GatewayDep) -> dict[str, Any]:
    """One session as the caller may see it: `session`, `needs`, `bids` (the caller's own,
    and others' only once revealed and past the reveal deadline; a visible revealed bid
    with `slot_mask`, `zone`, `direction`, `divisible`), `result` (awards and who pays
    each), `trust` (ResultAttested, ResultDisputed, DisputeResolved events) and the
    chain's time `now`."""
    return await run_in_threadpool(overview, gateway, token.address, session_id)
