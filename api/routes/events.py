"""Server-sent events: every decoded event of the market, registry and relay, live."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request
from sse_starlette.sse import EventSourceResponse

from api.deps import GatewayDep, TokenDep
from api.gateway import _event_json
from api.problems import PROBLEMS

router = APIRouter(prefix="/events", tags=["events"], responses=PROBLEMS)


@router.get("", response_class=EventSourceResponse)
async def stream(
    request: Request, token: TokenDep, gateway: GatewayDep,
    from_block: int = Query(0, ge=0, le=2**63 - 1), poll_s: float = Query(0.5, ge=0.1, le=10),
) -> EventSourceResponse:  # fmt: skip
    """`text/event-stream`: one SSE event per chain event (`event:` its name, `id:`
    block:log index, `data:` JSON), from `from_block` on, following new blocks."""

    async def events() -> AsyncIterator[dict[str, Any]]:
        nxt = from_block
        addresses = [c.address for c in (gateway.contracts.market, gateway.contracts.registry)]
        while not await request.is_disconnected():
            head = await asyncio.to_thread(lambda: int(gateway.w3.eth.block_number))
            if head >= nxt:
                logs = await asyncio.to_thread(
                    gateway.w3.eth.get_logs,
                    {"fromBlock": nxt, "toBlock": head, "address": addresses},
                )
                receipt: Any = {"logs": logs}
                for e in gateway.contracts.decode_logs(receipt):
                    yield {
                        "event": e.name, "id": f"{e.block_number}:{e.log_index}",
                        "data": json.dumps(_event_json(e)),
                    }  # fmt: skip
                nxt = head + 1
            await asyncio.sleep(poll_s)

    return EventSourceResponse(events())
