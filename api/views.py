"""What the chain says, as the API answers it: one function per resource view, each reading
the contracts through the gateway's parts and returning the route's `*Public` model. The
routes call one of these and add nothing but HTTP."""

from __future__ import annotations

from typing import Any

from api.gateway import Gateway
from api.ledger import share_rows, shares_of
from api.problems import Problem
from api.reads import ZERO_ADDRESS, SessionTiming
from api.schemas import (
    AssetPublic,
    AwardPublic,
    DeploymentPublic,
    NeedPublic,
    ParticipantPublic,
    ResultPublic,
    SessionPublic,
)
from python_client.contract_types import (
    AssetView,
    AwardView,
    BalancesOfView,
    NeedView,
    Pricing,
    SessionView,
    StandingOfView,
    ZoneInfoView,
)
from python_client.hashing import label, label_text

ZERO32 = b"\0" * 32  # a system-wide need's zone


def deployment(gateway: Gateway) -> DeploymentPublic:
    """Chain id, contract addresses (the relay's too), the head block and its time, and
    the relay's EIP-712 domain."""
    d = gateway.deployment.to_json()
    relay = gateway.relay.address
    head = gateway.w3.eth.get_block("latest")
    return DeploymentPublic(
        chain_id=d["chain_id"], contracts={**d["contracts"], "FlexRelay": relay},
        block_number=int(head["number"]), block_timestamp=int(head["timestamp"]),
        relay_domain={"name": "FlexRelay", "version": "1", "chainId": gateway.chain_id,
                      "verifyingContract": relay},
    )  # fmt: skip


def participant(gateway: Gateway, address: str) -> ParticipantPublic:
    """An address's roles (the registry's), balances in the escrow and the token, and its
    standing (failures, suspended)."""
    m, t = gateway.contracts.market.functions, gateway.contracts.token.functions
    balances = BalancesOfView.from_abi(gateway.call(m.balancesOf(address)))
    standing = StandingOfView.from_abi(gateway.call(m.standingOf(address)))
    return ParticipantPublic(
        address=address, roles=gateway.roles_of(address), free_ueur=balances.free_ueur,
        locked_ueur=balances.locked_ueur, token_ueur=int(gateway.call(t.balanceOf(address))),
        failures=standing.failures, suspended=standing.suspended,
    )  # fmt: skip


def phase(gateway: Gateway, t: SessionTiming) -> str:
    """Where the session stands on the chain's clock: bidding, reveal, clearing, after."""
    now = gateway.now()
    if now < t.bidding_end:
        return "bidding"
    if now < t.reveal_deadline:
        return "reveal"
    if now < t.clearing_deadline:
        return "clearing"
    return "after_clearing"


def session(gateway: Gateway, session_id: int) -> SessionPublic:
    """A session's timing and rules (cached), its result status and counts (read now)."""
    t = gateway.session(session_id)
    raw = gateway.call(gateway.contracts.market.functions.session(session_id))
    money = SessionView.from_abi(raw).money
    return SessionPublic(
        session_id=session_id, operator=t.operator, bidding_end=t.bidding_end,
        reveal_deadline=t.reveal_deadline, clearing_deadline=t.clearing_deadline,
        delivery_start=t.delivery_start, slot_count=t.slot_count, slot_minutes=t.slot_minutes,
        pricing=Pricing(t.pricing).label,
        attestation_quorum=t.attestation_quorum, result_status=money.result_status.label,
        need_count=money.need_count, award_count=money.award_count,
        settled_count=money.settled_count, phase=phase(gateway, t),
    )  # fmt: skip


def _posted(gateway: Gateway, session_id: int, block: int) -> dict[int, dict[str, Any]]:
    """need index -> its `NeedPosted` arguments (zone and quantities are only there)."""
    return {
        int(e.args["needIndex"]): dict(e.args)
        for e in gateway.session_logs(session_id, ["NeedPosted"], block)
    }


def _need(
    gateway: Gateway, session_id: int, index: int, posted: dict[str, Any], block: int
) -> NeedPublic:
    raw = gateway.call(gateway.contracts.market.functions.need(session_id, index), block)
    core, money = NeedView.from_abi(raw)
    zone = bytes(posted["zone"])
    return NeedPublic(
        session_id=session_id, need_index=index, buyer=core.buyer,
        zone=None if zone == ZERO32 else label_text(zone),
        direction=core.direction.label, buyer_role=core.buyer_role.name,
        quantity_w=[int(w) for w in posted["quantityW"]],
        max_price_eur_per_mw=core.max_price_eur_per_mw, budget_ueur=money.budget_ueur,
        committed_ueur=money.committed_ueur, released=money.released, balancing=money.balancing,
    )  # fmt: skip


def needs(gateway: Gateway, session_id: int) -> list[NeedPublic]:
    """Every need of the session, in order, read at one block."""
    gateway.session(session_id)
    block = gateway.head()
    posted = _posted(gateway, session_id, block)
    return [_need(gateway, session_id, i, posted[i], block) for i in sorted(posted)]


def need(gateway: Gateway, session_id: int, index: int) -> NeedPublic:
    """One need (404 if the session has none of that index), read at one block."""
    gateway.session(session_id)
    block = gateway.head()
    posted = _posted(gateway, session_id, block).get(index)
    if posted is None:
        raise Problem(404, "not-found", f"need {index} of session {session_id} not found")
    return _need(gateway, session_id, index, posted, block)


def asset(gateway: Gateway, asset_id: str) -> AssetPublic:
    """A registered asset (404 if none); a zone label that is not UTF-8 as 0x hex."""
    raw = gateway.call(gateway.contracts.registry.functions.asset(bytes.fromhex(asset_id[2:])))
    a = AssetView.from_abi(raw)
    if a.manager == ZERO_ADDRESS:
        raise Problem(404, "not-found", f"asset {asset_id} is not registered")
    return AssetPublic(
        asset_id=asset_id.lower(), owner=a.owner, manager=a.manager, asset_type=a.asset_type.label,
        p_max_w=a.p_max_w, p_min_w=a.p_min_w, zone=label_text(a.zone), prequalified=a.prequalified,
    )  # fmt: skip


def zone_dso(gateway: Gateway, zone: str) -> str:
    """The DSO that registered `zone` (the zero address if none did)."""
    return str(ZoneInfoView.from_abi(
        gateway.call(gateway.contracts.registry.functions.zoneInfo(label(zone)))
    ).dso)  # fmt: skip


def asset_seen_by(gateway: Gateway, caller: str, asset_id: str) -> AssetPublic:
    """An asset for its manager, its owner, the DSO of its zone or the admin; 404 for
    anyone else (as if it were not registered)."""
    found = asset(gateway, asset_id)
    if caller in (found.manager, found.owner):
        return found
    if zone_dso(gateway, found.zone) != caller and not gateway.has_role(caller, "ADMIN"):
        raise Problem(404, "not-found", f"asset {asset_id} is not registered")
    return found


def result(gateway: Gateway, session_id: int) -> ResultPublic:
    """The committed awards, read at one block, each with who pays it (`shares`: share
    rows read from `AwardShared`; a count that disagrees with storage is a 502)."""
    gateway.session(session_id)
    m = gateway.contracts.market.functions
    block = gateway.head()
    view = SessionView.from_abi(gateway.call(m.session(session_id), block))
    rows = [AwardView.from_abi(gateway.call(m.award(session_id, i), block))
            for i in range(view.money.award_count)]  # fmt: skip
    shared = share_rows(gateway, session_id, block) if any(r.pay.share_count for r in rows) else {}
    awards = []
    for i, (bid_id, core, pay) in enumerate(rows):
        mine = shared.get(i, [])
        if len(mine) != pay.share_count:
            raise Problem(
                502, "node-inconsistent",
                f"award {i}: {pay.share_count} share rows in storage, {len(mine)} AwardShared logs",
            )  # fmt: skip
        awards.append(
            AwardPublic(
                award_index=i, bid_id="0x" + bid_id.hex(), seller=core.seller, buyer=pay.buyer,
                need_index=pay.need_index, quantity_w=core.quantity_w,
                delivered_w=core.delivered_w, delivered=core.delivered, settled=core.settled,
                payment_ueur=pay.payment_ueur,
                shares=shares_of(pay.need_index, pay.buyer, pay.payment_ueur, mine),
            )  # fmt: skip
        )
    return ResultPublic(
        session_id=session_id, status=view.money.result_status.label,
        input_hash="0x" + view.input_hash.hex(), result_hash="0x" + view.result_hash.hex(),
        awards=awards,
    )  # fmt: skip
