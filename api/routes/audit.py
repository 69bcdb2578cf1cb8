"""The replica report of a session (verifier/): 501 until the verifier offers one."""

from __future__ import annotations

import importlib
from typing import Any

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.problems import PROBLEMS, Problem
from api.schemas import U48

router = APIRouter(prefix="/sessions/{session_id}/audit", tags=["audit"], responses=PROBLEMS)


@router.get("")
def audit(session_id: U48, token: TokenDep, gateway: GatewayDep) -> dict[str, Any]:
    """Calls `verifier.replica.session_report(w3, deployment, session_id)` when present."""
    gateway.session(session_id)
    try:
        module = importlib.import_module("verifier.replica")
        report = module.session_report
    except (ImportError, AttributeError) as exc:
        raise Problem(
            501, "not-implemented",
            "the replica report is not available: verifier.replica.session_report is missing",
        ) from exc  # fmt: skip
    out: dict[str, Any] = report(gateway.w3, gateway.deployment, session_id)
    return out
