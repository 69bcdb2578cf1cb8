"""The coordination inputs of a TSO-DSO session (issue 7): the session operator publishes
them (`publishCoordination`: canonical JSON of the scenario's `coupling`, `priority`,
`balance_dso` and zones' `forecast_w`, `limit_w`, `red_slots`) once, before gate closure;
the oracle and every validator rebuild the session with them. Anyone signed in reads them.

The contract stores no rule about the JSON: a malformed document would reach every node
that rebuilds the session. So the API checks it completely before preparing the
transaction: per-slot lists of the session's length, slots that exist, no role or zone
twice, zones registered on chain, at least one field (422 naming the field)."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import GatewayDep, TokenDep
from api.ledger import coordination_of, parse_coordination
from api.problems import SIGNED_IN, Problem, errors
from api.schemas import U48, CoordinationCreate, CoordinationPublic, PreparedPublic
from oracle.canonical import canonical_json
from python_client.contract_types import ZoneInfoView
from python_client.hashing import label

router = APIRouter(
    prefix="/sessions/{session_id}/coordination", tags=["coordination"], responses=SIGNED_IN
)


def _invalid(field: str, reason: str) -> Problem:
    return Problem(422, "invalid-input", f"{field}: {reason}", field=field, reason=reason)


def canonical_coordination(body: CoordinationCreate) -> bytes:
    """The bytes published: canonical JSON (keys sorted, no spaces, UTF-8), the fields the
    operator gave (none at null), zones in the given order; the same bytes as
    `python_client.shares.coordination_json` of a scenario with those fields."""
    return canonical_json(body.model_dump(exclude_none=True), integers_checked=True)


def check_coordination(body: CoordinationCreate, slot_count: int, gateway: GatewayDep) -> None:
    """422 naming the first field that does not fit the session or the registry."""
    if not body.model_dump(exclude_none=True):
        raise _invalid("body", "no coordination field given (nothing to publish)")
    if body.priority is not None and len(set(body.priority)) != len(body.priority):
        raise _invalid("priority", "names a role twice")
    seen: dict[str, int] = {}
    registry = gateway.contracts.registry.functions
    for i, z in enumerate(body.zones or []):
        if z.id in seen:
            raise _invalid(f"zones[{i}].id", f"zone {z.id!r} listed twice (zones[{seen[z.id]}])")
        seen[z.id] = i
        if z.forecast_w is None and z.limit_w is None and z.red_slots is None:
            raise _invalid(f"zones[{i}]", "no field but its id (forecast_w, limit_w, red_slots)")
        for name in ("forecast_w", "limit_w"):
            value = getattr(z, name)
            if isinstance(value, list) and len(value) != slot_count:
                raise _invalid(
                    f"zones[{i}].{name}",
                    f"{len(value)} values, the session has {slot_count} slots (or give one int)",
                )
        if z.red_slots is not None:
            bad = sorted({s for s in z.red_slots if s >= slot_count})
            if bad:
                raise _invalid(f"zones[{i}].red_slots", f"slots {bad} do not exist")
            if len(set(z.red_slots)) != len(z.red_slots):
                raise _invalid(f"zones[{i}].red_slots", "lists a slot twice")
        if ZoneInfoView.from_abi(gateway.call(registry.zoneInfo(label(z.id)))).zone_index == 0:
            raise _invalid(f"zones[{i}].id", f"zone {z.id!r} is not registered on chain")


@router.post("", response_model=PreparedPublic, responses=errors(403, 404, 409, 413))
def publish(
    session_id: U48, body: CoordinationCreate, token: TokenDep, gateway: GatewayDep
) -> PreparedPublic:
    """The session operator only (403 for anyone else), once, before gate closure (409)."""
    t = gateway.session(session_id)
    if token.address != t.operator:
        raise Problem(
            403, "not-session-operator",
            f"only the operator of session {session_id} ({t.operator}) publishes its "
            "coordination inputs",
        )  # fmt: skip
    if gateway.now() >= t.bidding_end:
        raise Problem(409, "bidding-closed", f"session {session_id}: bidding closed")
    check_coordination(body, t.slot_count, gateway)
    fn = gateway.contracts.market.functions.publishCoordination(
        session_id, canonical_coordination(body)
    )
    return PreparedPublic.model_validate(gateway.prepare([fn], token.address))


@router.get("", response_model=CoordinationPublic, responses=errors(404))
def read(session_id: U48, token: TokenDep, gateway: GatewayDep) -> CoordinationPublic:
    """The published inputs (404 while none are)."""
    gateway.session(session_id)
    event = coordination_of(gateway, session_id)
    if event is None:
        raise Problem(404, "not-found", f"session {session_id} has no coordination inputs")
    doc, text = parse_coordination(bytes(event.args["coordination"]))
    return CoordinationPublic(
        session_id=session_id, operator=event.args["operator"], coordination=doc,
        canonical=text, tx_hash=event.tx_hash, block_number=event.block_number,
    )  # fmt: skip
