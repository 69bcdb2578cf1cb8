"""`GET /health`: no sign-in. The chain node answers (its head block), the chain follower
keeps up (its lag in blocks), the store answers: 200, else 503 with a problem body naming
what failed (`checks`)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool

from api.problems import PUBLIC, Problem, errors
from api.schemas import HealthPublic

router = APIRouter(tags=["health"], responses=PUBLIC)
CHECK_TIMEOUT_S = 5.0  # a node or database that does not answer within this is down


async def _check(fn: Any) -> tuple[Any, str | None]:
    """(fn's value, None) or (None, why it failed), within CHECK_TIMEOUT_S."""
    try:
        return await asyncio.wait_for(run_in_threadpool(fn), CHECK_TIMEOUT_S), None
    except TimeoutError:
        return None, f"no answer within {CHECK_TIMEOUT_S:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure is the check's answer
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"


@router.get("/health", response_model=HealthPublic, responses=errors(503))
async def health(request: Request) -> HealthPublic:
    """Whether this API can serve: the chain node answers (`head_block`), the chain
    follower's lag behind it (`follower_lag_blocks`), and the store answers. 503 with
    `checks` naming each failure otherwise."""
    gateway = request.app.state.gateway
    head, chain_error = await _check(gateway.head)
    _, store_error = await _check(gateway.store.ping)
    if chain_error or store_error:
        checks = {"chain": chain_error or "ok", "store": store_error or "ok"}
        failed = ", ".join(f"{k}: {v}" for k, v in checks.items() if v != "ok")
        raise Problem(503, "unhealthy", f"not ready: {failed}", extra={"checks": checks})
    followed = gateway.followed_block
    return HealthPublic(
        status="ok", chain_id=gateway.chain_id, head_block=head, followed_block=followed,
        follower_lag_blocks=max(0, head - followed), store="ok",
    )  # fmt: skip
