"""The grid inputs of a grid-constrained session (issue 19): the session operator publishes
them (`publishGrid`: canonical JSON of the scenario's `grid` object with its `inputs`, see
docs/grid.md) before gate closure; the oracle and every validator rebuild the session with
them. Anyone signed in reads them.

The contract takes the bytes in parts (an MV grid's inputs need more gas than a block
holds), in order from 0; this route splits them itself (`oracle.grid.published.grid_parts`,
64 KiB a part) and prepares one transaction per part, to be signed and submitted in order.
The contract stores no rule about the JSON: the route checks it completely first
(`oracle.grid_spec.GridSpec`, 422 naming the field). A body above the API's
`max_body_bytes` (512 KiB) is 413: an MV grid's inputs (~0.9 MB) are published with the SDK
(`OracleClient.publish_grid`), which sends the same parts."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter
from pydantic import ValidationError

from api.deps import GatewayDep, TokenDep
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import U48, GridCreate, GridPartPublic, GridPublic, PreparedPublic
from oracle.canonical import keccak_hex
from oracle.grid.published import grid_json, grid_parts
from oracle.grid_spec import GridSpec

router = APIRouter(prefix="/sessions/{session_id}/grid", tags=["grid"], responses=SIGNED_IN)


def _fields(exc: ValidationError) -> tuple[str, str]:
    first = exc.errors()[0]
    return ".".join(["grid", *(str(p) for p in first["loc"])]), str(first["msg"])


def check_grid(grid: dict[str, Any]) -> GridSpec:
    """The grid object as published, or 422 naming the first field that is wrong."""
    try:
        spec = GridSpec.model_validate_json(json.dumps(grid))
    except ValidationError as exc:
        field, reason = _fields(exc)
        raise Problem(422, "invalid-input", f"{field}: {reason}", field=field,
                      reason=reason) from exc  # fmt: skip
    if spec.inputs is None:
        raise Problem(422, "invalid-input", "grid.inputs: the published inputs are required",
                      field="grid.inputs", reason="required")  # fmt: skip
    return spec


@router.post("", response_model=PreparedPublic, responses=errors(403, 404, 409, 413))
def publish(
    session_id: U48, body: GridCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """The session operator only (403 for anyone else), before gate closure (409); the
    transactions of every part, in order (409 naming the contract's error if the inputs
    are published already, FlexMarketGridExists)."""
    t = gateway.session(session_id)
    if token.address != t.operator:
        raise Problem(
            403, "not-session-operator",
            f"only the operator of session {session_id} ({t.operator}) publishes its "
            "grid inputs", field="session_id", reason="not the session's operator",
        )  # fmt: skip
    if gateway.now() >= t.bidding_end:
        raise Problem(409, "bidding-closed", f"session {session_id}: bidding closed",
                      field="session_id", reason="gate closure passed")  # fmt: skip
    parts = grid_parts(grid_json(check_grid(body.grid)))
    market = gateway.contracts.market.functions
    fns = [market.publishGrid(session_id, i, len(parts), p) for i, p in enumerate(parts)]
    prepared = gateway.prepare(fns, token.address)
    # a part after the first cannot be simulated before it (the contract takes them in
    # order); the first is the largest, so its gas covers each of them
    first_gas = prepared["transactions"][0]["tx"]["gas"]
    for tx in prepared["transactions"][1:]:
        tx["tx"]["gas"] = first_gas
    return PreparedPublic.model_validate(prepared)


@router.get("", response_model=GridPublic, responses=errors(404))
def read(session_id: U48, token: TokenDep, gateway: GatewayDep) -> GridPublic:
    """What was published (404 while no part is); `complete` once every part is."""
    gateway.session(session_id)
    events = gateway.session_logs(session_id, ["GridPublished"])
    if not events:
        raise Problem(404, "not-found", f"session {session_id} has no grid inputs")
    raw = [bytes(e.args["part"]) for e in events]
    count = int(events[0].args["partCount"])
    complete = len(events) == count
    joined = b"".join(raw)
    grid = None
    if complete:
        try:
            value = json.loads(joined.decode("utf-8"))
            grid = value if isinstance(value, dict) else None
        except (UnicodeDecodeError, ValueError):
            grid = None
    return GridPublic(
        session_id=session_id, operator=events[0].args["operator"],
        parts=[GridPartPublic(part_index=int(e.args["partIndex"]), size_bytes=len(r),
                              tx_hash=e.tx_hash, block_number=e.block_number)
               for e, r in zip(events, raw, strict=True)],
        part_count=count, complete=complete, size_bytes=len(joined),
        joined_hash=keccak_hex(joined) if complete else None, grid=grid,
    )  # fmt: skip
