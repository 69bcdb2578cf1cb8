"""The replica report of a session: the verifier (`verifier.verify.verify_chain`) re-reads
the chain, rebuilds the session from its events (with its published coordination inputs),
clears it itself and judges the committed result, each buyer's shares, the settlements and
the deployed bytecode; its report says what it read of each award (`verifier.report`). The
route only serialises that report: it is the one `flexmarket verify --session ID --json`
prints, integers beyond 2^53 as decimal strings. Any signed-in participant may ask: the
report holds only what the chain already shows."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool

from api.deps import GatewayDep, TokenDep
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import U48
from api.wire import jsonable
from verifier.errors import InputError, VerifierError
from verifier.verify import verify_chain

router = APIRouter(prefix="/sessions/{session_id}/audit", tags=["audit"], responses=SIGNED_IN)


@router.get("", responses=errors(404, 502))
async def audit(session_id: U48, token: TokenDep, gateway: GatewayDep) -> dict[str, Any]:
    """The replica's verdict on this session: `ok`, the session's report (feasibility,
    cost against the replica's own optimum, hashes, shares, settlements, with the awards
    as the replica read them: who pays each, each buyer's settled part) and the bytecode
    check. A session without a complete result is reported as such."""
    await run_in_threadpool(gateway.session, session_id)  # 404 before reading the chain
    url = str(getattr(gateway.w3.provider, "endpoint_uri", ""))
    try:
        report = await run_in_threadpool(
            verify_chain, url, gateway.deployment.to_json(), sessions=[session_id]
        )
    except VerifierError as exc:
        if isinstance(exc, InputError) and exc.argument == "--session":  # opened since
            raise Problem(404, "not-found", f"session {session_id} is not on chain yet") from exc
        raise Problem(502, "audit-failed", f"the replica could not read the chain: {exc}") from exc
    out: dict[str, Any] = jsonable(report.to_json())
    return out
