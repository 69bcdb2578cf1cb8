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

from collections import defaultdict
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from api import views
from api.deps import GatewayDep, TokenDep
from api.gateway import Gateway
from api.ledger import coordination_of, parse_coordination
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import U48
from api.wire import jsonable
from oracle.errors import OracleError
from python_client.contract_types import Direction
from python_client.hashing import label_text
from verifier.errors import VerifierError

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
    published = coordination_of(gateway, session_id)
    return {
        "now": gateway.now(), "session": session.model_dump(mode="json"),
        "coordinated": published is not None,
        "needs": [n.model_dump(mode="json") for n in views.needs(gateway, session_id)],
        "bids": bids, "result": views.result(gateway, session_id).model_dump(mode="json"),
        "trust": trust,
    }  # fmt: skip


@router.get("/sessions/{session_id}", responses=errors(404, 409))
async def session_overview(session_id: U48, token: TokenDep, gateway: GatewayDep) -> dict[str, Any]:
    """One session as the caller may see it: `session`, `needs`, `bids` (the caller's own,
    and others' only once revealed and past the reveal deadline; a visible revealed bid
    with `slot_mask`, `zone`, `direction`, `divisible`), `result` (awards and who pays
    each), `trust` (ResultAttested, ResultDisputed, DisputeResolved events), whether
    coordination inputs are published (`coordinated`: see `.../coordination`) and the
    chain's time `now`."""
    return await run_in_threadpool(overview, gateway, token.address, session_id)


def coordination_view(gateway: Gateway, session_id: int) -> dict[str, Any]:
    """The published coordination inputs, and what the replica makes of the session (the
    verifier's rebuild, `verifier.rebuild.SessionRecord.scenario`): the traffic light per
    zone and slot (`oracle.coordination.traffic_light`) and, once awards are committed,
    the conflicts and the unmet need (per need index and slot: a shared activation serves
    several needs) of the committed award set (`oracle.coordination.coordinated_result`,
    as `flexmarket verify` judges it)."""
    from oracle.coordination import coordinated_result, traffic_light
    from oracle.scenario import parse_scenario
    from verifier.rebuild import need_id
    from verifier.rpc import JsonRpc
    from verifier.verify import load_state

    gateway.session(session_id)
    event = coordination_of(gateway, session_id)
    if event is None:
        raise Problem(404, "not-found", f"session {session_id} has no coordination inputs")
    doc, _ = parse_coordination(bytes(event.args["coordination"]))
    url = str(getattr(gateway.w3.provider, "endpoint_uri", ""))
    try:
        state, _ = load_state(JsonRpc(url), gateway.deployment.to_json())
        scenario = parse_scenario(state.scenario(session_id))
    except (VerifierError, OracleError) as exc:
        raise Problem(502, "replica-failed", f"the replica could not rebuild session "
                      f"{session_id}: {exc}") from exc  # fmt: skip
    record = state.sessions[session_id]
    awarded: dict[str, int] = defaultdict(int)
    for row in record.awards:
        awarded[row.bid] += row.quantity_w
    conflicts: list[dict[str, Any]] | None = None
    unmet: list[dict[str, int]] | None = None
    if awarded:
        try:
            result = coordinated_result(scenario, awarded)
        except ValueError as exc:  # an award set that cannot be one result: the audit says
            raise Problem(502, "replica-failed", f"session {session_id}: the committed "
                          f"awards make no coordinated result: {exc}") from exc  # fmt: skip
        conflicts = result.conflicts or []
        index = {need_id(int(n["needIndex"])): int(n["needIndex"]) for n in record.needs}
        unmet = [{"need_index": index[u.request], "slot": u.slot, "unmet_w": u.quantity_w}
                 for u in result.unmet]  # fmt: skip
    return {
        "coordination": doc, "slot_count": scenario.market.slots,
        "traffic_light": traffic_light(scenario), "conflicts": jsonable(conflicts),
        "unmet": unmet,
    }  # fmt: skip



@router.get("/sessions/{session_id}/coordination", responses=errors(404, 502))
async def session_coordination(
    session_id: U48, token: TokenDep, gateway: GatewayDep, request: Request
) -> dict[str, Any]:
    """A TSO-DSO session's screen: the published `coordination` inputs, the
    `traffic_light` per zone and slot (`red`: market suspended there; `yellow`: a DSO need
    of the zone cleared in the market; `green`), the `conflicts` of the committed awards
    and the `unmet` need ({need_index, slot, unmet_w}; both null before any award), as
    the replica rebuilds the session from the chain (at most once per session and block the
    API has followed: the answer is kept). 404 without published coordination inputs."""
    views_kept: dict[tuple[int, int], dict[str, Any]] | None = getattr(
        request.app.state, "dashboard_replica_views", None
    )
    if views_kept is None:
        views_kept = request.app.state.dashboard_replica_views = {}
    key = (session_id, gateway.followed_block)
    found = views_kept.get(key)
    if found is None:  # the chain replayed at most once per session and block followed
        found = await run_in_threadpool(coordination_view, gateway, session_id)
        if len(views_kept) >= REPLICA_VIEWS:
            views_kept.pop(next(iter(views_kept)))
        views_kept[key] = found
    return found


REPLICA_VIEWS = 64  # coordination views an app keeps (per session and followed block)
