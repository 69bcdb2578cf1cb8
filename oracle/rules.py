"""Bid validity, rules 1 to 5 of spec/scenario.md.

A bid that breaks a rule is rejected with a reason and the market clears
without it. Rules 1, 2, 4 and 5 look at one bid at a time; rule 3 (no asset
backs two overlapping bids) is applied last, to the bids that passed the
others, in order of `submitted_at` then id.

Also the eligibility rule, "may this bid serve this request" (`may_serve`, `bid_serves`):
one home for the engine, the coordination, the payer rows on chain, the replicas, the
demo and the benches; the independent checkers (oracle/checker.py,
oracle/coordination/checker.py) keep their own copy on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from oracle.scenario import Asset, Bid, Market, Participant, Scenario


@dataclass(frozen=True)
class ValidBid:
    """A bid that passed every rule, with its defaults resolved."""

    index: int  # position in the scenario's bids
    id: str
    seller: str
    zone: str
    direction: str
    quantity_w: int
    min_quantity_w: int  # smallest non-zero award (== quantity_w when indivisible)
    divisible: bool
    price_eur_per_mw: int
    slots: tuple[int, ...]  # sorted slot indices
    rank: int  # position in (submitted_at, id) order: the tie-break preference


@dataclass(frozen=True)
class Rejection:
    bid: str
    reason: str


def submission_key(bid: Bid) -> tuple[bool, datetime | None, str]:
    """(submitted_at, id) order; bids without a timestamp come last."""
    return (bid.submitted_at is None, bid.submitted_at, bid.id)


@dataclass(frozen=True)
class Registry:
    """What the market knows of participants, assets and zones (looked up once)."""

    participants: dict[str, Participant]
    assets: dict[str, Asset]
    zones: frozenset[str]

    @classmethod
    def of(cls, scenario: Scenario) -> Registry:
        return cls(
            participants={p.id: p for p in scenario.participants},
            assets={a.id: a for a in scenario.assets},
            zones=frozenset(z.id for z in scenario.zones),
        )


def default_min_quantity_w(bid: Bid, granularity_w: int, registry: Registry) -> int:
    """min_quantity_w of a divisible bid: given, else the largest p_min_w, at least granularity."""
    if bid.min_quantity_w is not None:
        return bid.min_quantity_w
    assets = registry.assets
    largest = max((assets[a].p_min_w for a in bid.assets if a in assets), default=0)
    return max(largest, granularity_w)


def bid_slots(bid: Bid, n_slots: int) -> tuple[int, ...]:
    return tuple(range(n_slots)) if bid.slots is None else tuple(sorted(bid.slots))


def _single_bid_reasons(bid: Bid, m: Market, registry: Registry) -> list[str]:
    """Rules 1, 2, 4 and 5 for one bid; every reason found, in rule order."""
    participants, assets, zones = registry.participants, registry.assets, registry.zones
    reasons: list[str] = []

    # Rule 1: an aggregator that manages every asset it names.
    seller = participants.get(bid.seller)
    if seller is None:
        reasons.append(f"seller {bid.seller} is not a registered participant")
    elif seller.role != "aggregator":
        reasons.append(f"seller {bid.seller} has role {seller.role}, not aggregator")
    for asset_id in bid.assets:
        asset = assets.get(asset_id)
        if asset is None:
            reasons.append(f"asset {asset_id} is not registered")
        elif asset.manager != bid.seller:
            reasons.append(f"asset {asset_id} is not managed by {bid.seller}")
    if len(set(bid.assets)) != len(bid.assets):
        reasons.append("assets names an asset twice")

    # Rule 2: assets in the bid's zone, enough p_max_w.
    if bid.zone not in zones:
        reasons.append(f"zone {bid.zone} does not exist")
    known = [assets[a] for a in dict.fromkeys(bid.assets) if a in assets]
    for asset in known:
        if asset.zone != bid.zone:
            reasons.append(f"asset {asset.id} lies in zone {asset.zone}, not {bid.zone}")
    p_max_sum = sum(a.p_max_w for a in known)
    if p_max_sum < bid.quantity_w:
        reasons.append(f"quantity_w {bid.quantity_w} exceeds the assets' p_max_w sum {p_max_sum}")

    # Rule 4: market limits.
    if bid.quantity_w < m.min_bid_w:
        reasons.append(f"quantity_w {bid.quantity_w} is below min_bid_w {m.min_bid_w}")
    if bid.quantity_w % m.granularity_w:
        reasons.append(
            f"quantity_w {bid.quantity_w} is not a multiple of granularity_w {m.granularity_w}"
        )
    if bid.price_eur_per_mw < m.price_floor_eur_per_mw:
        reasons.append(
            f"price_eur_per_mw {bid.price_eur_per_mw} is below the floor {m.price_floor_eur_per_mw}"
        )
    if m.price_cap_eur_per_mw is not None and bid.price_eur_per_mw > m.price_cap_eur_per_mw:
        reasons.append(
            f"price_eur_per_mw {bid.price_eur_per_mw} is above the cap {m.price_cap_eur_per_mw}"
        )
    if bid.slots is not None:
        if not bid.slots:
            reasons.append("slots is empty")
        bad = sorted({s for s in bid.slots if not 0 <= s < m.slots})
        if bad:
            reasons.append(f"slots {bad} do not exist (the market has slots 0 to {m.slots - 1})")
        if len(set(bid.slots)) != len(bid.slots):
            reasons.append("slots names a slot twice")

    # Rule 5: a divisible bid's minimum fits in it.
    if bid.divisible:
        min_q = default_min_quantity_w(bid, m.granularity_w, registry)
        if min_q > bid.quantity_w:
            reasons.append(f"min_quantity_w {min_q} exceeds quantity_w {bid.quantity_w}")
    return reasons


def validate_bids(scenario: Scenario) -> tuple[list[ValidBid], list[Rejection]]:
    """Split the scenario's bids into valid ones (in file order) and rejections (file order)."""
    m = scenario.market
    registry = Registry.of(scenario)
    reasons: dict[int, list[str]] = {
        i: _single_bid_reasons(b, m, registry) for i, b in enumerate(scenario.bids)
    }
    order = sorted(range(len(scenario.bids)), key=lambda i: submission_key(scenario.bids[i]))
    rank = {i: r for r, i in enumerate(order)}

    # Rule 3, last: first come (submitted_at, id) keeps the asset for its slots.
    used: dict[str, dict[int, str]] = {}  # asset -> slot -> bid id
    for i in order:
        if reasons[i]:
            continue
        bid = scenario.bids[i]
        slots = bid_slots(bid, m.slots)
        clashes = []
        for asset_id in bid.assets:
            taken = used.get(asset_id, {})
            hit = sorted(s for s in slots if s in taken)
            if hit:
                clashes.append(
                    f"asset {asset_id} already backs bid {taken[hit[0]]} in slot {hit[0]}"
                )
        if clashes:
            reasons[i] = clashes
            continue
        for asset_id in bid.assets:
            used.setdefault(asset_id, {}).update(dict.fromkeys(slots, bid.id))

    valid: list[ValidBid] = []
    rejected: list[Rejection] = []
    for i, bid in enumerate(scenario.bids):
        if reasons[i]:
            rejected.append(Rejection(bid.id, "; ".join(reasons[i])))
            continue
        min_q = (
            default_min_quantity_w(bid, m.granularity_w, registry)
            if bid.divisible
            else bid.quantity_w
        )
        valid.append(
            ValidBid(
                index=i,
                id=bid.id,
                seller=bid.seller,
                zone=bid.zone,
                direction=bid.direction,
                quantity_w=bid.quantity_w,
                min_quantity_w=min_q,
                divisible=bid.divisible,
                price_eur_per_mw=bid.price_eur_per_mw,
                slots=bid_slots(bid, m.slots),
                rank=rank[i],
            )
        )
    return valid, rejected


class _Offer(Protocol):
    @property
    def zone(self) -> str: ...
    @property
    def direction(self) -> str: ...
    @property
    def price_eur_per_mw(self) -> int: ...


class _Ask(Protocol):
    @property
    def zone(self) -> str | None: ...
    @property
    def direction(self) -> str: ...
    @property
    def max_price_eur_per_mw(self) -> int | None: ...


def injection_sign(direction: str) -> int:
    """+1 for `up`, -1 for `down`: the sign of a bid's or a request's watts in the grid's net
    injection (ENTSO-E: `up` is more injection, less consumption or more generation)."""
    return 1 if direction == "up" else -1


def may_serve(
    zone: str,
    direction: str,
    price_eur_per_mw: int,
    request_zone: str | None,
    request_direction: str,
    max_price_eur_per_mw: int | None,
) -> bool:
    """Whether a bid (its zone, direction, price) may serve a request: the same direction,
    the request's zone or a system-wide request (zone None), and a price within the
    request's maximum (None: no maximum). Slots are the caller's: the engine counts a bid
    when one of the requests it may serve has a need in one of its slots
    (engine.build_session), the coordination per request (coordination.eligibility)."""
    return (
        direction == request_direction
        and request_zone in (None, zone)
        and (max_price_eur_per_mw is None or price_eur_per_mw <= max_price_eur_per_mw)
    )


def bid_serves(bid: _Offer, request: _Ask) -> bool:
    """`may_serve` of a bid and a request given as objects (Bid or ValidBid, Request)."""
    return may_serve(bid.zone, bid.direction, bid.price_eur_per_mw,
                     request.zone, request.direction, request.max_price_eur_per_mw)  # fmt: skip
