"""The replica report of a session: the verifier (verifier.verify) re-reads the chain,
rebuilds the session from its events, clears it itself and judges the committed result,
the settlements and the deployed bytecode. Any signed-in participant may ask: the report
holds only what the chain already shows."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import GatewayDep, TokenDep
from api.problems import PROBLEMS, Problem
from api.schemas import U48

router = APIRouter(prefix="/sessions/{session_id}/audit", tags=["audit"], responses=PROBLEMS)


@router.get("")
async def audit(session_id: U48, token: TokenDep, gateway: GatewayDep) -> dict[str, Any]:
    """`verifier.verify.verify_chain` for this session: `ok`, the session's report
    (feasibility, cost against the replica's own optimum, hashes, settlements) and the
    bytecode check. A session without a complete result is reported as such."""
    await run_in_threadpool(gateway.session, session_id)
    from verifier.errors import VerifierError
    from verifier.verify import verify_chain

    url = str(getattr(gateway.w3.provider, "endpoint_uri", ""))
    try:
        report = await run_in_threadpool(
            verify_chain, url, gateway.deployment.to_json(), sessions=[session_id]
        )
    except VerifierError as exc:
        raise Problem(502, "audit-failed", f"the replica could not read the chain: {exc}") from exc
    out: dict[str, Any] = report.to_json()
    return out
