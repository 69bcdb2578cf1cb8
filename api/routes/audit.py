"""The replica report of a session: the verifier (verifier.verify) re-reads the chain,
rebuilds the session from its events (with its published coordination inputs), clears it
itself and judges the committed result, each buyer's shares, the settlements and the
deployed bytecode. Any signed-in participant may ask: the report holds only what the chain
already shows."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import GatewayDep, TokenDep
from api.gateway import _jsonable
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import U48

router = APIRouter(prefix="/sessions/{session_id}/audit", tags=["audit"], responses=SIGNED_IN)


def replica_report(url: str, deployment: Any, session_id: int) -> dict[str, Any]:
    """`verifier.verify.verify_chain` for one session, plus what the replica read of its
    awards: who pays each (`parts`: need, buyer, µEUR; the award's own need first, then its
    share rows) and each buyer's part of its settlement (`share_settlements`), and the
    published coordination inputs."""
    from eth_utils.address import to_checksum_address as cs

    from verifier.rpc import JsonRpc
    from verifier.verify import Report, check_bytecode, engine_version, load_state, verify_session

    t0 = time.perf_counter()
    with JsonRpc(url) as rpc:
        state, addresses = load_state(rpc, deployment)
        t1 = time.perf_counter()
        bytecode = check_bytecode(rpc, addresses)
    if session_id not in state.sessions:
        raise Problem(404, "not-found", f"session {session_id} is not on chain yet")
    session, _ = verify_session(state, session_id)
    t2 = time.perf_counter()
    timings = {"fetch": state.chain.fetch_s, "decode": state.chain.decode_s, "read": t1 - t0,
               "verify": t2 - t1, "total": t2 - t0}  # fmt: skip
    report = Report(
        state.chain.chain_id, state.chain.head, engine_version(), bytecode, [session], timings,
        len(state.chain.logs),
    )  # fmt: skip
    out: dict[str, Any] = report.to_json()
    rec = state.sessions[session_id]
    out["sessions"][0]["coordination"] = rec.coordination  # 0x hex of the published JSON
    out["sessions"][0]["awards"] = [
        {
            "award_index": a.index, "bid_id": a.bid, "seller": cs(a.seller),
            "quantity_w": a.quantity_w, "payment_ueur": a.payment_ueur,
            "parts": [{"need_index": n, "buyer": cs(b), "payment_ueur": p}
                      for n, b, p in a.parts()],
            "settlement": None if a.settlement is None else dict(
                zip(("payment_ueur", "refund_ueur", "penalty_ueur"), a.settlement, strict=True)
            ),
            "share_settlements": [
                {"need_index": n, "buyer": cs(b), "payment_ueur": p, "refund_ueur": r,
                 "penalty_ueur": x}
                for n, b, p, r, x in a.share_settlements
            ],
        }
        for a in rec.awards
    ]  # fmt: skip
    return out


@router.get("", responses=errors(404, 502))
async def audit(session_id: U48, token: TokenDep, gateway: GatewayDep) -> dict[str, Any]:
    """The replica's verdict on this session: `ok`, the session's report (feasibility,
    cost against the replica's own optimum, hashes, shares, settlements, with the awards
    as the replica read them: who pays each, each buyer's settled part) and the bytecode
    check. A session without a complete result is reported as such."""
    await run_in_threadpool(gateway.session, session_id)
    from verifier.errors import VerifierError

    url = str(getattr(gateway.w3.provider, "endpoint_uri", ""))
    try:
        report = await run_in_threadpool(
            replica_report, url, gateway.deployment.to_json(), session_id
        )
        out: dict[str, Any] = _jsonable(report)  # integers beyond 2^53 as decimal strings
        return out
    except VerifierError as exc:
        raise Problem(502, "audit-failed", f"the replica could not read the chain: {exc}") from exc
