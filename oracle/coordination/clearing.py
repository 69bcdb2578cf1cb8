"""Coordinated clearing of DSO, TSO and BRP needs from one pool of bids (issue 7).

    >>> from oracle import load_scenario
    >>> from oracle.coordination import clear_coordinated
    >>> result = clear_coordinated(load_scenario("examples/tso_dso_three_areas.json"))

Sequential coupling clears the buyer roles one after the other in
`market.priority` order: each stage is a cost-minimal clearing (the engine's
`optimise`, or our model when the DSO stage must stay balanced) of that role's
needs with what earlier stages left: the unused part of a divisible bid stays
available (any multiple of the granularity, its minimum being met already), an
accepted indivisible bid is gone. Common coupling is one joint optimisation in
which a watt counts once among zonal requests and once among system-wide ones.
Both keep zone safety and the congestion guard (`zones`), leave red zones out,
and report what each buyer received, pays, and the conflicts found.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from oracle.coordination.allocation import (
    allocate_layers,
    layer_of,
    role_order,
    share_payments,
)
from oracle.coordination.conflicts import find_conflicts
from oracle.coordination.eligibility import eligibility
from oracle.coordination.model import optimise_layers
from oracle.coordination.zones import (
    against_congestion,
    buyer_roles,
    is_suspended,
    red_cells,
    shift_cuts,
    traffic_light,
    zonal_need_cells,
    zone_cuts,
)
from oracle.engine import (
    EXACT_MAX_BIDS,
    GAP_LIMIT,
    LinearCut,
    Session,
    build_session,
    optimise,
    price_awards,
    sealed_result,
)
from oracle.result import Rejected, Result
from oracle.rules import ValidBid, injection_sign
from oracle.scenario import DEFAULT_PRIORITY, Scenario


def needs_coordination(scenario: Scenario) -> bool:
    """Whether `flexmarket clear` should clear this scenario here rather than in the engine:
    needs from more than one buyer role, a zone with forecast and limit (zone safety), a red
    slot, or a coordination field set in the file."""
    roles = buyer_roles(scenario)
    with_need = {roles[r] for r, req in enumerate(scenario.requests)
                 if (req.quantity_w if isinstance(req.quantity_w, int) else max(req.quantity_w))}
    m = scenario.market
    return (
        len(with_need) > 1
        or any(z.forecast_w is not None and z.limit_w is not None for z in scenario.zones)
        or any(z.red_slots for z in scenario.zones)
        or bool({"coupling", "balance_dso"} & m.model_fields_set)
        or list(m.priority) != list(DEFAULT_PRIORITY)
    )


def remaining_bids(bids: Sequence[ValidBid], awarded_w: Mapping[str, int],
                   granularity_w: int) -> list[ValidBid]:
    """What a later stage may still award: untouched bids whole, the rest of a divisible bid
    already awarded (any multiple of the granularity), nothing of an accepted indivisible one."""
    out = []
    for bid in bids:
        taken = awarded_w.get(bid.id, 0)
        if not taken:
            out.append(bid)
        elif bid.divisible and bid.quantity_w - taken >= granularity_w:
            out.append(dataclasses.replace(bid, quantity_w=bid.quantity_w - taken,
                                           min_quantity_w=granularity_w))
    return out


def _net_w(bids: Sequence[ValidBid], awarded_w: Mapping[str, int]) -> dict[int, int]:
    net: dict[int, int] = defaultdict(int)
    for bid in bids:
        w = awarded_w.get(bid.id, 0)
        for t in bid.slots if w else ():
            net[t] += injection_sign(bid.direction) * w
    return net


def _balance_slots(scenario: Scenario, needs: Mapping[tuple[int, int], int]) -> list[int]:
    """Slots with a DSO zonal need: where DSO actions must leave the system balanced."""
    if not scenario.market.balance_dso:
        return []
    roles = buyer_roles(scenario)
    return sorted({t for r, t in needs
                   if roles[r] == "DSO" and scenario.requests[r].zone is not None})


def clear_sequential(
    scenario: Scenario, bids: Sequence[ValidBid], needs: Mapping[tuple[int, int], int],
    cuts: Sequence[LinearCut], exact_max_bids: int,
) -> tuple[dict[str, int], dict[str, list[tuple[int, int]]]]:
    """Awards, and per bid the watts each stage (its index in the role order) bought."""
    roles = buyer_roles(scenario)
    g = scenario.market.granularity_w
    exact = len(bids) <= exact_max_bids
    awarded: dict[str, int] = {}
    stages: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for stage, role in enumerate(role_order(scenario)):
        stage_needs = {k: q for k, q in needs.items() if roles[k[0]] == role}
        if not stage_needs:
            continue
        left = remaining_bids(bids, awarded, g)
        stage_cuts = shift_cuts(cuts, awarded)
        balance = _balance_slots(scenario, stage_needs) if role == "DSO" else []
        if balance:
            step = optimise_layers(scenario, left, stage_needs, dict.fromkeys(roles, 0),
                                   stage_cuts, exact=exact, balance_slots=balance,
                                   fixed_net_w=_net_w(bids, awarded))
        else:
            session = Session(scenario=scenario, bids=left, needs=dict(stage_needs),
                              eligible=eligibility(scenario, left, stage_needs))
            step = optimise(session, stage_cuts, exact_max_bids=exact_max_bids).awards_w
        for b, w in step.items():
            awarded[b] = awarded.get(b, 0) + w
            stages[b].append((stage, w))
    return awarded, dict(stages)


def clear_common(
    scenario: Scenario, bids: Sequence[ValidBid], needs: Mapping[tuple[int, int], int],
    cuts: Sequence[LinearCut], exact_max_bids: int,
) -> dict[str, int]:
    return optimise_layers(scenario, bids, needs, layer_of(scenario, "common"), cuts,
                           exact=len(bids) <= exact_max_bids,
                           balance_slots=_balance_slots(scenario, needs))


def clear_coordinated(
    scenario: Scenario, cuts: Sequence[LinearCut] = (), *,
    coupling: str | None = None, exact_max_bids: int = EXACT_MAX_BIDS,
) -> Result:
    """Clear a scenario with several buyer roles; `coupling` overrides `market.coupling`.

    `cuts` are further constraints on awards (grid cuts), kept in every stage.
    """
    coupling = coupling or scenario.market.coupling
    market = open_market(scenario)
    bids, needs = market.bids, market.session.needs
    all_cuts = zone_cuts(scenario, bids) + list(cuts)
    stages = None
    if coupling == "common":
        awards_w = clear_common(scenario, bids, needs, all_cuts, exact_max_bids)
    else:
        awards_w, stages = clear_sequential(scenario, bids, needs, all_cuts, exact_max_bids)
    return coordinated_result(scenario, awards_w, coupling=coupling, stages=stages,
                              exact_max_bids=exact_max_bids, market=market)


@dataclass(frozen=True)
class OpenMarket:
    """What a coordinated session offers: its valid bids and needs (`session`), the rules'
    rejections, the red cells, the bids outside red zones (`open_bids`) and, of those, the
    bids that may be activated (`bids`: not against a congestion need), in rank order."""

    session: Session
    rejected: list[Rejected]
    red: set[tuple[str, int]]
    open_bids: list[ValidBid]
    bids: list[ValidBid]


def open_market(scenario: Scenario) -> OpenMarket:
    session, rejected = build_session(scenario)
    red = red_cells(scenario)
    open_bids = [b for b in session.bids if not is_suspended(b, red)]  # rank order
    guarded = zonal_need_cells(scenario)  # once: it reads every request
    bids = [b for b in open_bids if not against_congestion(b, guarded)]
    return OpenMarket(session, rejected, red, open_bids, bids)


def coordinated_result(
    scenario: Scenario, awards_w: Mapping[str, int], *, coupling: str | None = None,
    stages: Mapping[str, Sequence[tuple[int, int]]] | None = None,
    exact_max_bids: int = EXACT_MAX_BIDS, market: OpenMarket | None = None,
) -> Result:
    """The coordinated result of an award set (bid id -> W): prices and payments, who
    received what, unmet, shares, conflicts, traffic light. `stages` (sequential coupling:
    bid -> [(stage, W bought in it)]) says which stage bought which watts; without it the
    watts serve buyers in priority order (common coupling's rule). Verifiers rebuild a
    committed result with it (verifier.verify). `market`: `open_market(scenario)` when the
    caller has it already."""
    coupling = coupling or scenario.market.coupling
    market = market or open_market(scenario)
    session, rejected, red = market.session, market.rejected, market.red
    open_bids, bids, needs = market.open_bids, market.bids, session.needs
    known = {b.id for b in bids}
    outside = sorted(b for b in awards_w if b not in known)
    if outside:
        raise ValueError(f"bids {outside} cannot be activated (invalid, in a red zone or "
                         "against a congestion need)")
    awards = price_awards(session, dict(awards_w))
    allocation = allocate_layers(scenario, bids, awards_w, needs, layer_of(scenario, coupling),
                                 stages)
    return sealed_result(
        scenario, awards, rejected, allocation.unmet,
        mip_gap=None if len(bids) <= exact_max_bids else GAP_LIMIT,
        conflicts=find_conflicts(scenario, open_bids, dict(awards_w), needs, allocation),
        shares=share_payments(scenario, awards, allocation, bids),
        coordination={
            "coupling": coupling,
            "priority": role_order(scenario),
            "traffic_light": traffic_light(scenario),
            "suspended_bids": sorted(b.id for b in session.bids if is_suspended(b, red)),
        },
    )
