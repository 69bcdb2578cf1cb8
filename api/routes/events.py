"""Server-sent events: every decoded event of the market and the registry, live.

Public chain data (any signed-in participant): a sealed bid's commit shows only its id and
seller, its fields appear with its reveal. TSO-DSO sessions add `AwardShared` (a share row
of an award), `ShareSettled` (a buyer's part of a shared settlement) and
`CoordinationPublished` (the session's coordination inputs; `coordination` carries the
JSON object besides the raw bytes in `args`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Query, Request
from sse_starlette.sse import EventSourceResponse

from api.auth import StreamCaps
from api.deps import GatewayDep, TokenDep
from api.problems import SIGNED_IN, Problem
from api.reads import FOLLOW_RANGE
from api.wire import event_json

router = APIRouter(prefix="/events", tags=["events"], responses=SIGNED_IN)
# OpenAPI: a stream of server-sent events, not a JSON body
STREAM_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "server-sent events, one per chain event, until to_block or forever",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "string",
                    "description": "SSE lines: `event:` the event's name, `id:` block:log "
                    "index, `data:` JSON {name, args, block_number, tx_hash, log_index}",
                },
                "example": 'event: SessionOpened\nid: 12:0\ndata: {"name": "SessionOpened", '
                '"args": {"sessionId": 1}, "block_number": 12, "tx_hash": "0x…", '
                '"log_index": 0}\n\n',
            }
        },
    }
}


@router.get("", response_class=EventSourceResponse, responses=STREAM_RESPONSE)
async def stream(
    request: Request, token: TokenDep, gateway: GatewayDep,
    from_block: int = Query(0, ge=0, le=2**63 - 1), poll_s: float = Query(0.5, ge=0.1, le=10),
    to_block: int | None = Query(
        None, ge=0, le=2**63 - 1,
        description="stop once this block is sent (default: follow new blocks forever)",
    ),
) -> EventSourceResponse:  # fmt: skip
    """`text/event-stream`: one SSE event per chain event (`event:` its name, `id:`
    block:log index, `data:` JSON: `name`, `args` with integers beyond 2^53 as decimal
    strings and bytes as `0x` hex, `block_number`, `tx_hash`, `log_index`), from
    `from_block` on, following new blocks (until `to_block` if given). At most
    `max_streams_per_token` (4) streams open at once per signed-in address and
    `max_streams_per_ip` (16) per client IP: 429 beyond."""
    if to_block is not None and to_block < from_block:
        raise Problem(
            422, "invalid-input", "to_block: below from_block", field="to_block",
            reason="must be at least from_block",
        )  # fmt: skip

    caps: StreamCaps = request.app.state.stream_caps
    ip = request.client.host if request.client else "unknown"
    caps.open(token.address, ip)  # 429 beyond the caps

    async def events() -> AsyncIterator[dict[str, Any]]:
        nxt = from_block
        addresses = [c.address for c in (gateway.contracts.market, gateway.contracts.registry)]
        while not await request.is_disconnected():
            # the chain follower's head (read every follow_interval_s): no RPC per stream
            head = gateway.followed_block
            if to_block is not None:
                head = min(head, to_block)
            while head >= nxt:  # in ranges a node answers
                last = min(head, nxt + FOLLOW_RANGE - 1)
                logs = await asyncio.to_thread(
                    gateway.w3.eth.get_logs,
                    {"fromBlock": nxt, "toBlock": last, "address": addresses},
                )
                receipt: Any = {"logs": logs}
                for e in gateway.contracts.decode_logs(receipt):
                    yield {
                        "event": e.name, "id": f"{e.block_number}:{e.log_index}",
                        "data": json.dumps(event_json(e)),
                    }  # fmt: skip
                nxt = last + 1
            if to_block is not None and nxt > to_block:
                return
            await asyncio.sleep(poll_s)

    return CappedStream(events(), release=lambda: caps.close(token.address, ip))


class CappedStream(EventSourceResponse):
    """An event stream that gives its place back (`StreamCaps`) however it ends."""

    def __init__(self, content: Any, release: Callable[[], None]) -> None:
        super().__init__(content)
        self._release = release

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()
