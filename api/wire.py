"""Chain values on the wire: decoded events and call results as JSON (bytes as `0x` hex,
integers beyond 2^53 as decimal strings, which any JSON reader keeps exact)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from python_client.records import ChainEvent


def jsonable(value: Any) -> Any:
    """`value` as JSON: bytes as `0x` hex, tuples as lists, web3's AttributeDicts (struct
    arguments) as objects, integers beyond 2^53 as decimal strings."""
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 2**53:
        return str(value)
    return value


def event_json(e: ChainEvent) -> dict[str, Any]:
    """A decoded event as the API answers it (`/events`, a mined transaction's events);
    `CoordinationPublished` also carries the published JSON (`coordination`; None when
    its bytes are not JSON)."""
    out = {
        "name": e.name,
        "args": jsonable(e.args),
        "block_number": e.block_number,
        "tx_hash": e.tx_hash,
        "log_index": e.log_index,
    }
    if e.name == "CoordinationPublished":
        try:
            out["coordination"] = json.loads(bytes(e.args["coordination"]).decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            out["coordination"] = None
    return out
